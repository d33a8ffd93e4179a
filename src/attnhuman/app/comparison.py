"""The comparison run: the paper's cross-run analyses over FINISHED MLflow runs, logged as one more run.

Selects job runs (an MLflow filter, or one sweep), pairs them (scaling, tuning, instruction, noise,
reference), and logs the tables, the paper's figures for whatever models are present, and ``report.md``
with the paper's values beside ours.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from attnhuman.analysis.bias import head_count_bias
from attnhuman.analysis.trivial import human_table
from attnhuman.app.config import flatten, humans_hash
from attnhuman.app.job import load_humans
from attnhuman.app.tracking import RunLog, layer_key, prepare_store, sweep_tags, tracking_uri
from attnhuman.comparison.runs import Run, find_pairs, latest_per_job
from attnhuman.comparison.tables import (
    correlation_table,
    divergence_table,
    group_test_table,
    layer_test_table,
    measures_table,
    resemblance_table,
    trivial_difference_table,
)
from attnhuman.errors import DataError
from attnhuman.humans.simulate import DEFAULT_GROUPS, simulate_cohorts
from attnhuman.reporting.figures import comparison_figures, measures_figures
from attnhuman.reporting.report import write_html, write_report

log = logging.getLogger(__name__)
COMPARISON_TAG = "comparison"
SWEEP_TAG = "sweep"          # a sweep's parent run


def select_runs(client: MlflowClient, experiment_id: str, filter_string: str, data_name: str, workdir: Path,
                humans: str | None = None, data_modified: str | None = None,
                jobs: list[tuple[str, str]] | None = None) -> tuple[list[Run], list[str]]:
    """FINISHED job runs on ``data_name`` matching ``filter_string`` and notes on every run or job left out.

    ``humans`` / ``data_modified``: runs scored on other data settings, analysis options or data contents are
    left out. ``jobs``: ``[(run name, config hash)]`` of a sweep: the newest FINISHED run of each (a resumed
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
        else:
            kept.append(r)
    runs, older = latest_per_job([_run(client, r, workdir / r.info.run_id) for r in kept])
    return runs, notes + older


def headline_metrics(resemblance, groups: list[str]) -> dict[str, float]:
    """Each compared run's resemblance per group, as ``resemblance_<group>/<run label>`` (other characters than MLflow's become spaces: ``llama-30b-base-none released``)."""
    out = {}
    for row in resemblance.to_dict("records"):
        label = " ".join(re.sub(r"[^\w.\- /]", " ", row["run"]).split())
        out.update({f"resemblance_{g}/{label}": row[f"resemblance_{g}"] for g in groups
                    if row.get(f"resemblance_{g}") is not None and pd.notna(row[f"resemblance_{g}"])})
    return out


def quoted(value: str) -> str:
    """``value`` as an MLflow filter string literal."""
    if "'" in value:
        raise DataError(f"{value!r} cannot be used in an MLflow filter (it holds a single quote).")
    return f"'{value}'"


def _run(client: MlflowClient, found, folder: Path) -> Run:
    run_id = found.info.run_id

    def fetch(path: str) -> Path:
        local = folder / path
        return local if local.is_file() else Path(client.download_artifacts(run_id, path, str(folder)))

    def history(key: str) -> list:
        return [(m.step, m.value) for m in client.get_metric_history(run_id, layer_key(key))]

    return Run(run_id, found.info.run_name, found.data.tags, found.data.params, found.data.metrics, fetch, history)


def run(cfg: DictConfig, sweep: str | None = None, jobs: list[tuple[str, str]] | None = None) -> str | None:
    """Create the comparison run over the selected runs; returns its id (None when there is nothing to compare).

    ``sweep`` and ``jobs`` (``[(run name, config hash)]``): the comparison of a sweep, over its jobs' runs.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="attnhuman-compare-") as workdir:
        return _compare(cfg, sweep, jobs, Path(workdir))


def _compare(cfg: DictConfig, sweep: str | None, jobs, workdir: Path) -> str | None:
    options = cfg.compare
    client = MlflowClient(tracking_uri(cfg))
    experiment_id = prepare_store(cfg)
    groups = list(cfg.analysis.groups)
    humans = load_humans(cfg)                   # the humans of the compared runs' data settings (cached)
    corpus, cohorts = humans.corpus, humans.cohorts
    filter_string = "" if jobs is not None else options.filter
    runs, notes = select_runs(client, experiment_id, filter_string, cfg.data.name, workdir, humans_hash(cfg),
                              humans.tags["data_modified"], jobs)
    for note in notes:
        log.info("Left out: %s", note)
    if not runs:
        log.warning("No FINISHED runs to compare on data=%s (%s).", cfg.data.name,
                    f"sweep {sweep}" if sweep else f"filter {filter_string!r}")
        return None
    log.info("Comparing %d runs: %s", len(runs), ", ".join(r.label for r in runs))
    if not cohorts:        # word measures only (data=geco): the measures table; the paper's tables need saccades
        log.info("data=%s has no saccade cohorts: the comparison holds the measures table and figure; each run "
                 "holds its word-importance curves.", cfg.data.name)
        tables, pairs = {"measures": measures_table(runs, groups)}, []
        out = workdir / "comparison"
        (out / "tables").mkdir(parents=True)
        tables["measures"].to_csv(out / "tables" / "measures.csv", index=False)
        figures = measures_figures(tables["measures"], groups, out / "figures")
        return _log_comparison(cfg, client, experiment_id, sweep, filter_string, runs, pairs, tables, notes, out,
                               figures)
    pairs = find_pairs(runs, (options.reference.a, options.reference.b))
    sources = {cfg.data.name: cohorts}
    if cfg.data.name != "synthetic":           # the same analysis on simulated readers of the same corpus
        sources["simulated"] = simulate_cohorts(corpus, {g: DEFAULT_GROUPS[g] for g in cohorts
                                                         if g in DEFAULT_GROUPS})[0]
    widest = max(runs, key=lambda r: (r.measure == "weights", r.prefix == "none", r.heads))
    log.info("Computing the comparison's tables over %d pairs (divergence loads each run's attention)", len(pairs))
    tables = {
        "divergence": divergence_table(pairs),
        "resemblance": resemblance_table(runs, groups),
        "trivial_humans": human_table(cohorts, corpus.n_words),
        "trivial_differences": trivial_difference_table(pairs),
        "layer_tests": layer_test_table(pairs, groups, options.alpha),
        "group_tests": group_test_table(runs, groups),
        "correlations": correlation_table(runs, groups, float(options.extrapolate_to)),
        "head_count_bias": head_count_bias(corpus, sources, {widest.label: widest.store}),
        "measures": measures_table(runs, groups),
    }
    out = workdir / "comparison"
    (out / "tables").mkdir(parents=True)
    for name, table in tables.items():
        table.to_csv(out / "tables" / f"{name}.csv", index=name == "trivial_humans")
    log.info("Tables written; drawing the paper's figures")
    figures = comparison_figures(runs, pairs, tables, groups, options.divergence_metric, out / "figures")
    write_report(out / "report.md", runs, pairs, tables, figures, notes, options)
    write_html(out / "report.md", out / "report.html")
    return _log_comparison(cfg, client, experiment_id, sweep, filter_string, runs, pairs, tables, notes, out, figures)


def _log_comparison(cfg, client, experiment_id, sweep, filter_string, runs, pairs, tables, notes, out, figures) -> str:
    """The comparison run: its tables, figures and report as artifacts, its headline metrics."""
    options, groups = cfg.compare, list(cfg.analysis.groups)
    name = f"comparison-{Path(sweep).parent.name}-{Path(sweep).name}" if sweep else "comparison"
    pd.DataFrame([n.split(": ", 1) for n in notes], columns=["run", "reason"]).to_csv(
        out / "tables" / "left_out.csv", index=False)
    comparison = client.create_run(experiment_id, run_name=name,
                                   tags={"kind": COMPARISON_TAG, "n_runs": str(len(runs)),
                                         "compared_runs": ", ".join(r.run_id for r in runs)[:5000],
                                         **sweep_tags(client, experiment_id, sweep)})
    sink = RunLog(client, comparison.info.run_id, out)
    sink.params({"filter": filter_string or "(all)", "runs": ", ".join(r.label for r in runs)[:6000],
                 **flatten({"compare": OmegaConf.to_container(options, resolve=True)}), "data.name": cfg.data.name})
    sink.metrics({"n_runs": len(runs), "n_pairs": len(pairs), "n_left_out": len(notes),
                  **(headline_metrics(tables["resemblance"], groups) if "resemblance" in tables else {})})
    sink.folder(out)
    client.set_terminated(sink.run_id, "FINISHED")
    log.info("Comparison run %s (%s): %d tables, %d figures%s; in the MLflow UI: %s", name, sink.run_id, len(tables),
             len(figures), ", report.md and report.html" if (out / "report.md").is_file() else "", sink.link())
    plt.close("all")
    return sink.run_id
