"""The comparison run: the paper's cross-run analyses over FINISHED MLflow runs, logged as one more run.

Selects job runs (an MLflow filter, or one sweep), pairs them (scaling, tuning, instruction, noise,
reference, measure), and logs the tables, the paper's figures for whatever models are present, the predictive-power table
and figures, and ``report.md`` with the paper's values beside ours.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from attnhuman import metrics
from attnhuman.app.job import code_tags, load_humans
from attnhuman.app.spec import ComparisonSpec, comparison_spec
from attnhuman.app.tracking import COMPARISON_TAG, SWEEP_TAG, RunLog, prepare_store, quoted, run_link, sweep_tags
from attnhuman.comparison.entered import entered_table
from attnhuman.comparison.runs import Pair, Run, find_pairs, latest_per_job
from attnhuman.comparison.scores import Score, scores
from attnhuman.comparison.tables import ComparisonTables, comparison_tables, measures_table, predictive_power_table
from attnhuman.errors import DataError
from attnhuman.humans.simulate import DEFAULT_GROUPS, simulate_cohorts
from attnhuman.reporting.figures import comparison_figures, measures_figures
from attnhuman.reporting.formats import score_text
from attnhuman.reporting.plotting import FigureNote
from attnhuman.reporting.predictive_figures import predictive_figures
from attnhuman.reporting.report import write_html, write_report, write_word_report
from attnhuman.reporting.scoreboard import BoardRow, board_row, ranked, write_scores
from attnhuman.reporting.scoreboard import html as scoreboard_html

log = logging.getLogger(__name__)


def select_runs(client: MlflowClient, experiment_id: str, filter_string: str, data_name: str, workdir: Path,
                humans: str | None = None, data_modified: str | None = None, data_fingerprint: str | None = None,
                jobs: list[tuple[str, str]] | None = None) -> tuple[list[Run], list[str]]:
    """FINISHED job runs on ``data_name`` matching ``filter_string`` and notes on every run or job left out.

    ``humans`` / ``data_modified`` / ``data_fingerprint``: runs scored on other data settings, analysis options or
    data contents are left out. ``jobs``: ``[(run name, config hash)]`` of a sweep: the newest FINISHED run of each (a resumed
    sweep's skipped jobs included); a job without one is noted. Then the newest run per (name, source).
    """
    query = f"attributes.status = 'FINISHED' and params.\"data.name\" = {quoted(data_name)}"
    if filter_string:
        query += f" and {filter_string}"
    found = [r for r in client.search_runs([experiment_id], query, order_by=["attributes.start_time DESC"],
                                           max_results=5000) if r.data.tags.get("kind") not in (COMPARISON_TAG, SWEEP_TAG)]
    notes = []
    if jobs is not None:
        wanted = {digest for _, digest in jobs}
        newest = {}
        for r in found:
            if r.data.tags.get("config_hash") in wanted:
                newest.setdefault(r.data.tags["config_hash"], r)
        notes += [f"job {name}: no FINISHED run (it failed or did not run)" for name, digest in jobs
                  if digest not in newest]
        found = list(newest.values())
    kept = []
    for r in found:
        label = f"{r.info.run_name} ({r.info.run_id})"
        if humans is not None and r.data.tags.get("humans_hash") != humans:
            notes.append(f"{label}: scored on other data settings or analysis options than this comparison"
                         if "humans_hash" in r.data.tags else
                         f"{label}: made before runs recorded what they were scored on; run it again to compare it")
        elif data_modified is not None and r.data.tags.get("data_modified", "none") != data_modified:
            notes.append(f"{label}: its data files differ from this comparison's (data_modified: "
                         f"{r.data.tags.get('data_modified', 'none')} vs {data_modified})")
        elif data_fingerprint is not None and r.data.tags.get("data_fingerprint", data_fingerprint) != data_fingerprint:
            notes.append(f"{label}: scored on other data files than this comparison's (data_fingerprint)")
        else:
            kept.append(r)
    runs, older = latest_per_job([_run(client, r, workdir / r.info.run_id) for r in kept])
    return runs, notes + older


def headline_metrics(runs: list[Run]) -> tuple[dict[str, float], dict[str, tuple[str, Score]]]:
    """The comparison run's metrics keyed as its runs' headlines (:mod:`attnhuman.comparison.scores`), so the runs
    table shows the comparison in the same columns: each headline's best run (``L1 saccade``) and every run's value
    (``L1 saccade/llama-30b-base-none+released``; characters MLflow refuses become spaces); and ``{headline: (best
    run, its score)}``."""
    values, best = {}, {}
    for run in runs:
        label = " ".join(re.sub(r"[^\w.\- /]", " ", run.label).split())
        for score in scores(run.metrics):
            values[f"{score.key}/{label}"] = score.value
            if score.key not in best or score.value > best[score.key][1].value:
                best[score.key] = (run.label, score)
    return {**values, **{key: score.value for key, (_, score) in best.items()}}, best


def _run(client: MlflowClient, found, folder: Path) -> Run:
    run_id = found.info.run_id

    def fetch(path: str) -> Path:
        local = folder / path
        return local if local.is_file() else Path(client.download_artifacts(run_id, path, str(folder)))

    def history(key: str) -> list:
        return [(m.step, m.value) for m in client.get_metric_history(run_id, metrics.layer(key))]

    return Run(run_id, found.info.run_name, found.data.tags, found.data.params, found.data.metrics, fetch, history)


SCOREBOARD_INTRO = ("Each compared run's headline scores (every score, with its ceiling and counts, is in "
                    "<code>tables/scores.csv</code> and <code>tables/scores.json</code>); its name opens it in the "
                    "MLflow UI. Best first on the first column; click a header to sort by it.")


def scoreboard_rows(client: MlflowClient, experiment_id: str, runs: list[Run]) -> list[BoardRow]:
    """The scoreboard's rows of the compared runs, each linking to its run in the MLflow UI."""
    return ranked([board_row(r.name, r.run_id, r.tags, r.params, scores(r.metrics),
                             run_link(client.tracking_uri, experiment_id, r.run_id)) for r in runs])


def _scoreboard(client: MlflowClient, experiment_id: str, runs: list[Run], out: Path) -> str:
    """``tables/scores.csv`` and ``tables/scores.json`` written; the scoreboard's HTML section returned."""
    rows = scoreboard_rows(client, experiment_id, runs)
    write_scores(rows, out / "tables")
    return scoreboard_html(rows, intro=SCOREBOARD_INTRO)


@dataclass
class Comparison:
    """What a comparison run logs: the runs and pairs it compared, its tables, figures and notes, in ``out``."""

    name: str
    filter: str
    runs: list[Run]
    pairs: list[Pair]
    tables: ComparisonTables
    figures: list[FigureNote]
    notes: list[str]
    out: Path


def command(cfg: DictConfig) -> str | None:
    """``src/compare.py``: the comparison run ``cfg`` composes."""
    return run(comparison_spec(cfg))


def run(spec: ComparisonSpec, sweep: str | None = None, jobs: list[tuple[str, str]] | None = None) -> str | None:
    """Create the comparison run over the selected runs; returns its id (None when there is nothing to compare).

    ``sweep`` and ``jobs`` (``[(run name, config hash)]``): the comparison of a sweep, over its jobs' runs.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="attnhuman-compare-") as workdir:
        return _compare(spec, sweep, jobs, Path(workdir))


def _compare(spec: ComparisonSpec, sweep: str | None, jobs, workdir: Path) -> str | None:
    options, data_name, groups = spec.options, spec.humans.data_name, list(spec.humans.groups)
    missing = spec.humans.data.missing(groups)
    if missing:
        raise DataError("The comparison cannot run:\n" + "\n".join(f"  {m}" for m in missing))
    experiment_id = prepare_store(spec.tracking)
    client = MlflowClient(spec.tracking.uri)
    fingerprint = spec.humans.data.fingerprint()
    humans = load_humans(spec.humans, fingerprint)      # the humans of the compared runs' data settings (cached)
    filter_string = "" if jobs is not None else options.filter
    runs, notes = select_runs(client, experiment_id, filter_string, data_name, workdir, spec.humans.humans_hash,
                              humans.tags["data_modified"], fingerprint, jobs)
    for note in notes:
        log.info("Left out: %s", note)
    if not runs:
        log.warning("No FINISHED runs to compare on data=%s (%s).", data_name,
                    f"sweep {sweep}" if sweep else f"filter {filter_string!r}")
        return None
    log.info("Comparing %d runs: %s", len(runs), ", ".join(r.label for r in runs))
    out = workdir / "comparison"
    name = f"comparison-{Path(sweep).parent.name}-{Path(sweep).name}" if sweep else "comparison"
    if not humans.cohorts:  # word measures only (data=geco): the measures table; the paper's tables need saccades
        log.info("data=%s has no saccade cohorts: the comparison holds the measures and predictive-power tables and "
                 "figures; each run holds its word-importance curves.", data_name)
        tables = ComparisonTables(measures=measures_table(runs, groups),
                                  predictive_power=predictive_power_table(runs, groups), entered=entered_table(runs))
        tables.write(out / "tables")
        figures = (measures_figures(tables.measures, groups, out / "figures")
                   + predictive_figures(runs, tables.predictive_power, out / "figures"))
        write_word_report(out / "report.md", runs, tables, figures, notes,
                          _scoreboard(client, experiment_id, runs, out))
        write_html(out / "report.md", out / "report.html")
        return _log(spec, client, experiment_id, sweep,
                    Comparison(name, filter_string, runs, [], tables, figures, notes, out))
    pairs = find_pairs(runs, options.reference)
    cohorts = {data_name: humans.cohorts}
    if data_name != "synthetic":           # the same analysis on simulated readers of the same corpus
        cohorts["simulated"] = simulate_cohorts(humans.corpus, {g: DEFAULT_GROUPS[g] for g in humans.cohorts
                                                               if g in DEFAULT_GROUPS})[0]
    log.info("Computing the comparison's tables over %d pairs (divergence loads each run's attention)", len(pairs))
    tables = comparison_tables(runs, pairs, groups, humans.corpus, cohorts, options.alpha, options.extrapolate_to)
    tables.write(out / "tables")
    log.info("Tables written; drawing the paper's figures")
    figures = (comparison_figures(runs, pairs, tables, groups, options.divergence_metric, out / "figures")
               + predictive_figures(runs, tables.predictive_power, out / "figures"))
    write_report(out / "report.md", runs, pairs, tables, figures, notes, options.divergence_metric,
                 _scoreboard(client, experiment_id, runs, out))
    write_html(out / "report.md", out / "report.html")
    return _log(spec, client, experiment_id, sweep,
                Comparison(name, filter_string, runs, pairs, tables, figures, notes, out))


def _log(spec: ComparisonSpec, client: MlflowClient, experiment_id: str, sweep: str | None,
         comparison: Comparison) -> str:
    """The comparison run: its tables, figures and report as artifacts, its headline metrics."""
    c = comparison
    pd.DataFrame([n.split(": ", 1) for n in c.notes], columns=["run", "reason"]).to_csv(
        c.out / "tables" / "left_out.csv", index=False)
    run = client.create_run(experiment_id, run_name=c.name,
                            tags={"kind": COMPARISON_TAG, "n_runs": str(len(c.runs)),
                                  "compared_runs": ", ".join(r.run_id for r in c.runs)[:5000],
                                  "compared_code": ", ".join(sorted({r.code_digest for r in c.runs}))[:5000],
                                  **code_tags(), **sweep_tags(client, experiment_id, sweep)})
    sink = RunLog(client, run.info.run_id, c.out)
    sink.params({"filter": c.filter or "(all)", "runs": ", ".join(r.label for r in c.runs)[:6000],
                 **spec.params, "data.name": spec.humans.data_name})
    values, best = headline_metrics(c.runs)
    sink.metrics({"n_runs": len(c.runs), "n_pairs": len(c.pairs), "n_left_out": len(c.notes), **values})
    sink.tags({**{f"best {key}": run for key, (run, _) in best.items()},
               metrics.DESCRIPTION: f"{len(c.runs)} runs compared; best: "
               + (" · ".join(f"{key} {score_text(score)} ({run})" for key, (run, score) in best.items()) or "none")})
    sink.folder(c.out)
    client.set_terminated(sink.run_id, "FINISHED")
    log.info("Comparison run %s (%s): %d tables, %d figures%s; in the MLflow UI: %s", c.name, sink.run_id,
             len(list((c.out / "tables").glob("*.csv"))), len(c.figures),
             ", report.md and report.html" if (c.out / "report.md").is_file() else "", sink.link())
    plt.close("all")
    return sink.run_id
