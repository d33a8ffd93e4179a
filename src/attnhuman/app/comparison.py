"""The comparison run: the paper's cross-run analyses over FINISHED MLflow runs, logged as one more run.

Selects job runs (an MLflow filter, or one sweep), pairs them (scaling, tuning, instruction, noise,
reference), and logs the tables, the paper's figures for whatever models are present, and ``report.md``
with the paper's values beside ours.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from attnhuman.analysis.bias import head_count_bias
from attnhuman.analysis.trivial import human_table
from attnhuman.app.config import flatten
from attnhuman.app.job import human_data
from attnhuman.app.tracking import RunLog, prepare_store, tracking_uri
from attnhuman.comparison.runs import Run, find_pairs, latest_per_job
from attnhuman.comparison.tables import (
    correlation_table,
    divergence_table,
    group_test_table,
    layer_test_table,
    resemblance_table,
    trivial_difference_table,
)
from attnhuman.humans.simulate import DEFAULT_GROUPS, simulate_cohorts
from attnhuman.reporting.figures import comparison_figures
from attnhuman.reporting.report import write_report

log = logging.getLogger(__name__)
COMPARISON_TAG = "comparison"


def select_runs(client: MlflowClient, experiment_id: str, filter_string: str, data_name: str,
                workdir: Path) -> tuple[list[Run], list[str]]:
    """FINISHED job runs on ``data_name`` matching ``filter_string``; the latest run per (name, source)."""
    query = f"attributes.status = 'FINISHED' and params.\"data.name\" = '{data_name}'"
    if filter_string:
        query += f" and {filter_string}"
    found = client.search_runs([experiment_id], query, order_by=["attributes.start_time DESC"], max_results=5000)
    return latest_per_job([_run(client, r, workdir / r.info.run_id) for r in found
                           if r.data.tags.get("kind") != COMPARISON_TAG])


def _run(client: MlflowClient, found, folder: Path) -> Run:
    run_id = found.info.run_id

    def fetch(path: str) -> Path:
        local = folder / path
        return local if local.is_file() else Path(client.download_artifacts(run_id, path, str(folder)))

    def history(key: str) -> list:
        return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]

    return Run(run_id, found.info.run_name, found.data.tags, found.data.params, found.data.metrics, fetch, history)


def run(cfg: DictConfig, sweep: str | None = None) -> str | None:
    """Create the comparison run over the selected runs (``sweep``: only that sweep's); returns its id."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="attnhuman-compare-") as workdir:
        return _compare(cfg, sweep, Path(workdir))


def _compare(cfg: DictConfig, sweep: str | None, workdir: Path) -> str | None:
    options = cfg.compare
    client = MlflowClient(tracking_uri(cfg))
    experiment_id = prepare_store(cfg)
    filter_string = f"tags.sweep = '{sweep}'" if sweep else options.filter
    runs, notes = select_runs(client, experiment_id, filter_string, cfg.data.name, workdir)
    if not runs:
        log.warning("No FINISHED runs match %r on data=%s: nothing to compare.", filter_string, cfg.data.name)
        return None
    log.info("Comparing %d runs: %s", len(runs), ", ".join(r.label for r in runs))
    groups = list(cfg.analysis.groups)
    pairs = find_pairs(runs, (options.reference.a, options.reference.b))
    data = human_data(cfg)                      # the humans of the compared runs' data settings
    corpus = data.corpus()
    cohorts, _ = data.cohorts(corpus, groups)
    sources = {cfg.data.name: cohorts}
    if cfg.data.name != "synthetic":           # the same analysis on simulated readers of the same corpus
        sources["simulated"] = simulate_cohorts(corpus, {g: DEFAULT_GROUPS[g] for g in cohorts
                                                         if g in DEFAULT_GROUPS})[0]
    widest = max(runs, key=lambda r: (r.prefix == "none", r.heads))
    tables = {
        "divergence": divergence_table(pairs),
        "resemblance": resemblance_table(runs, groups),
        "trivial_humans": human_table(cohorts, corpus.n_words),
        "trivial_differences": trivial_difference_table(pairs),
        "layer_tests": layer_test_table(pairs, groups, options.alpha),
        "group_tests": group_test_table(runs, groups),
        "correlations": correlation_table(runs, groups, float(options.extrapolate_to)),
        "head_count_bias": head_count_bias(corpus, sources, {widest.label: widest.store}),
    }
    out = workdir / "comparison"
    (out / "tables").mkdir(parents=True)
    for name, table in tables.items():
        table.to_csv(out / "tables" / f"{name}.csv", index=name == "trivial_humans")
    figures = comparison_figures(runs, pairs, tables, groups, options.divergence_metric, out / "figures")
    write_report(out / "report.md", runs, pairs, tables, figures, notes, options)

    name = f"comparison-{Path(sweep).parent.name}-{Path(sweep).name}" if sweep else "comparison"
    comparison = client.create_run(experiment_id, run_name=name,
                                   tags={"kind": COMPARISON_TAG, "n_runs": str(len(runs)),
                                         **({"sweep": sweep} if sweep else {})})
    sink = RunLog(client, comparison.info.run_id, out)
    sink.params({"filter": filter_string or "(all)", "runs": ", ".join(r.label for r in runs)[:6000],
                 **flatten({"compare": OmegaConf.to_container(options, resolve=True)}), "data.name": cfg.data.name})
    sink.folder(out)
    client.set_terminated(sink.run_id, "FINISHED")
    log.info("Comparison run %s (%s): %d tables, %d figures, report.md", name, sink.run_id, len(tables), len(figures))
    plt.close("all")
    return sink.run_id
