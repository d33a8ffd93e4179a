"""The comparison run: the paper's cross-run analyses (METHOD.md sections 6-9) over MLflow runs.

Selects FINISHED job runs (a filter, or one sweep), pairs them (scaling, tuning, instruction,
noise, reference), and logs one MLflow run holding the tables, the paper's figures for whatever
models are present, and ``report.md`` with the paper's values beside ours.
"""
from __future__ import annotations

import functools
import logging
import os
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from attnhuman import paper, plots, stats
from attnhuman.attention import AttentionStore, load_packed
from attnhuman.bias import head_count_bias
from attnhuman.divergence import head_mean, quarters, run_divergence, sentence_divergence
from attnhuman.errors import DataError
from attnhuman.pipeline import load_humans
from attnhuman.report import write_report
from attnhuman.simulate import DEFAULT_GROUPS, simulate_cohorts
from attnhuman.tracking import flatten, log_params, prepare_store, tracking_uri
from attnhuman.trivial import human_table

log = logging.getLogger(__name__)
INSTRUCTIONS = ("translate", "paraphrase")
DIVERGENCE_METRICS = ("js", "sym_kl")
COMPARISON_TAG = "comparison"


@dataclass(eq=False)
class Run:
    """One job run as the comparison sees it."""

    client: MlflowClient
    run_id: str
    name: str
    tags: dict
    params: dict
    metrics: dict
    folder: Path

    model = property(lambda self: self.tags["model"])
    size = property(lambda self: self.tags["size"])
    tuning = property(lambda self: self.tags["tuning"])
    prefix = property(lambda self: self.tags["prefix"])
    family = property(lambda self: self.tags["family"])
    stage = property(lambda self: self.tags["stage"])
    source = property(lambda self: self.tags["source"])

    @property
    def parameters(self) -> int:
        return int(self.params["model_size.parameters"])

    @property
    def layers(self) -> int:
        return int(self.params["model_size.layers"])

    @property
    def label(self) -> str:
        return self.name if self.source != "released" else f"{self.name} (released)"

    def _download(self, path: str) -> Path:
        return Path(self.client.download_artifacts(self.run_id, path, str(self.folder)))

    @cached_property
    def store(self) -> AttentionStore:
        return load_packed(self._download("attention/attention.npz"))

    def r2(self, group: str) -> pd.DataFrame:
        """``(subjects, layers)`` per-subject R2 of the paper-faithful score."""
        path = self.folder / "tables" / f"r2_{group}.csv"
        if not path.is_file():
            try:
                path = self._download(f"tables/r2_{group}.csv")
            except Exception as e:
                raise DataError(f"run {self.label} ({self.run_id}) has no tables/r2_{group}.csv: the comparison needs "
                                "runs scored with the paper-faithful default (analysis.score=insample, "
                                "predictors=heads); select such runs with compare.filter.") from e
        return pd.read_csv(path, index_col="subject")

    @functools.cache
    def curve(self, key: str) -> np.ndarray | None:
        """A per-layer metric (step = layer), or None when the run did not log it (fetched once)."""
        history = self.client.get_metric_history(self.run_id, key)
        if not history:
            return None
        values = np.full(max(m.step for m in history) + 1, np.nan)
        for m in history:
            values[m.step] = m.value
        return values


@dataclass(frozen=True)
class Pair:
    kind: str      # scaling | tuning | instruction | noise | reference
    a: Run
    b: Run


def select_runs(client: MlflowClient, experiment_id: str, filter_string: str, data_name: str,
                workdir: Path) -> tuple[list[Run], list[str]]:
    """FINISHED job runs on ``data_name`` matching ``filter_string``; the latest run per (name, source)."""
    query = f"attributes.status = 'FINISHED' and params.\"data.name\" = '{data_name}'"
    if filter_string:
        query += f" and {filter_string}"
    found = client.search_runs([experiment_id], query, order_by=["attributes.start_time DESC"], max_results=5000)
    runs, seen, notes = [], set(), []
    for r in found:
        if r.data.tags.get("kind") == COMPARISON_TAG:
            continue
        key = (r.info.run_name, r.data.tags.get("source"))
        if key in seen:
            notes.append(f"{r.info.run_name} ({r.info.run_id}): an older run of the same job, left out")
            continue
        seen.add(key)
        runs.append(Run(client, r.info.run_id, r.info.run_name, r.data.tags, r.data.params, r.data.metrics,
                        workdir / r.info.run_id))
    return sorted(runs, key=lambda r: (r.family, r.model, r.parameters, r.tuning, r.prefix)), notes


def find_pairs(runs: list[Run], reference: tuple[str, str]) -> list[Pair]:
    """Every pair the paper compares, among the runs present."""
    pairs = []
    for a in runs:
        for b in runs:
            same_model = (a.model, a.size, a.tuning) == (b.model, b.size, b.tuning)
            if same_model and a.prefix == "none" and b.prefix in INSTRUCTIONS:
                pairs.append(Pair("instruction", a, b))
            if same_model and a.prefix == "none" and b.prefix == "noise":
                pairs.append(Pair("noise", a, b))
            if (a.model, a.tuning, a.prefix) == (b.model, b.tuning, b.prefix) and a.parameters < b.parameters:
                pairs.append(Pair("scaling", a, b))
            if ((a.family, a.size, a.prefix) == (b.family, b.size, b.prefix) and a.stage == "pretrained"
                    and b.stage != "pretrained"):
                pairs.append(Pair("tuning", a, b))
            if (a.name, b.name) == tuple(reference):
                pairs.append(Pair("reference", a, b))
    return pairs


def divergence_table(pairs: list[Pair]) -> pd.DataFrame:
    """Mean and SEM over sentences of each pair's divergence, per layer or quarter, for js and sym_kl."""
    rows = []
    for pair in pairs:
        for metric in DIVERGENCE_METRICS:
            results = [run_divergence(pair.a.store, pair.b.store, metric)]
            if pair.kind == "reference" and results[0][0] == "layer":     # also a baseline for quarter plots
                a, b = (quarters(head_mean(run.store)) for run in (pair.a, pair.b))
                results.append(("quarter", sentence_divergence(a, b, pair.a.store.n_words, metric)))
            for unit, values in results:
                for index, per_sentence in enumerate(values):
                    rows.append(dict(run_a=pair.a.label, run_b=pair.b.label, kind=pair.kind, metric=metric,
                                     unit=unit, index=index, mean=per_sentence.mean(),
                                     sem=per_sentence.std(ddof=1) / np.sqrt(per_sentence.size),
                                     n_sentences=per_sentence.size))
    return pd.DataFrame(rows, columns=["run_a", "run_b", "kind", "metric", "unit", "index", "mean", "sem",
                                       "n_sentences"])


def resemblance_table(runs: list[Run], groups: list[str]) -> pd.DataFrame:
    """One row per run: loss, resemblance, ceiling, trivial reliance, fMRI; the paper's values beside."""
    rows = []
    for run in runs:
        reported = paper.RESEMBLANCE.get((run.model, run.size, run.tuning)) if run.prefix == "none" else None
        fmri_reported = paper.FMRI.get((run.model, run.size, run.tuning)) if run.prefix == "none" else None
        row = dict(run=run.label, model=run.model, size=run.size, tuning=run.tuning, prefix=run.prefix,
                   source=run.source, stage=run.stage, parameters=run.parameters, layers=run.layers,
                   ntp_loss=run.metrics.get("ntp_loss"), ntp_loss_per_len=run.metrics.get("ntp_loss_per_len"),
                   paper_ntp_loss_per_len=reported[0] if reported else None)
        trivial = run.curve("trivial_r2")
        row["trivial_r2_mean"] = float(np.nanmean(trivial)) if trivial is not None else None
        for i, g in enumerate(groups):
            row.update({f"resemblance_{g}": run.metrics.get(f"resemblance_{g}"),
                        f"paper_resemblance_{g}": reported[1 + i] if reported and g in ("L1", "L2") else None,
                        f"best_layer_{g}": run.metrics.get(f"best_layer_{g}"),
                        f"ceiling_{g}": run.metrics.get(f"ceiling_{g}"),
                        f"fmri_resemblance_{g}": run.metrics.get(f"fmri_resemblance_{paper.FMRI_REGION}_{g}"),
                        f"paper_fmri_resemblance_{g}": fmri_reported[i] if fmri_reported and i < 2 else None})
        rows.append(row)
    return pd.DataFrame(rows)


def _aligned_r2(pair: Pair, group: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = pair.a.r2(group), pair.b.r2(group)
    if list(a.index) != list(b.index):
        raise DataError(f"{pair.a.label} and {pair.b.label} were scored on different {group} subjects; "
                        "compare runs made with the same data settings (data.*).")
    return a.to_numpy().T, b.to_numpy().T


def layer_test_table(pairs: list[Pair], groups: list[str], alpha: float) -> pd.DataFrame:
    """Paired per-layer t-tests over subjects (Bonferroni) for pairs of equal depth (paper Tables 4, 6, 7)."""
    frames = []
    for pair in pairs:
        if pair.kind == "scaling" or pair.a.layers != pair.b.layers:
            continue
        for g in groups:
            tests = stats.paired_layer_tests(*_aligned_r2(pair, g), alpha=alpha)
            frames.append(tests.assign(run_a=pair.a.label, run_b=pair.b.label, kind=pair.kind, group=g))
    if not frames:
        return pd.DataFrame(columns=["run_a", "run_b", "kind", "group", "layer"])
    table = pd.concat(frames, ignore_index=True)
    return table[["run_a", "run_b", "kind", "group"] + [c for c in table.columns
                                                         if c not in ("run_a", "run_b", "kind", "group")]]


def group_test_table(runs: list[Run], groups: list[str]) -> pd.DataFrame:
    """L1 vs L2 per run: independent t-test of per-subject resemblance (% of the group's ceiling) at each
    group's best layer; Bonferroni over runs."""
    if not {"L1", "L2"} <= set(groups):
        return pd.DataFrame()
    rows = []
    for run in runs:
        values = {}
        for g in ("L1", "L2"):
            r2 = run.r2(g).to_numpy()
            values[g] = 100 * r2[:, int(run.metrics[f"best_layer_{g}"])] / run.metrics[f"ceiling_{g}"]
        rows.append(dict(run=run.label, **stats.independent_test(values["L1"], values["L2"])))
    table = pd.DataFrame(rows)
    table["p_bonf"] = np.minimum(table["p_val"] * len(table), 1.0)
    table["significant"] = table["p_bonf"] < 0.05
    return table


def correlation_table(runs: list[Run], groups: list[str], target: float) -> pd.DataFrame:
    """Loss vs resemblance (plain runs with a loss) and resemblance vs log10(parameters) (pretrained, plain)."""
    plain = [r for r in runs if r.prefix == "none"]
    rows = []
    for y_name, metric in (("resemblance", "resemblance_{g}"),
                           ("fmri_resemblance", f"fmri_resemblance_{paper.FMRI_REGION}_{{g}}")):
        for g in groups:
            key = metric.format(g=g)
            with_loss = [r for r in plain if key in r.metrics and "ntp_loss_per_len" in r.metrics]
            x = [r.metrics["ntp_loss_per_len"] for r in with_loss]
            y = [r.metrics[key] for r in with_loss]
            rows.append(dict(x="ntp_loss_per_len", y=y_name, group=g, runs=", ".join(r.label for r in with_loss),
                             **stats.correlation(x, y),
                             paper_r=paper.CORRELATIONS.get(("ntp_loss_per_len", y_name, g))))
            pretrained = [r for r in plain if r.stage == "pretrained" and key in r.metrics]
            fit = stats.scaling_fit([r.parameters for r in pretrained], [r.metrics[key] for r in pretrained],
                                    target=target)
            rows.append(dict(x="log10_parameters", y=y_name, group=g, runs=", ".join(r.label for r in pretrained),
                             **fit, paper_r=paper.CORRELATIONS.get(("log10_parameters", y_name, g)),
                             paper_predicted=paper.EXTRAPOLATION_100B.get(g) if y_name == "resemblance" else None))
    return pd.DataFrame(rows)


def trivial_difference_table(pairs: list[Pair]) -> pd.DataFrame:
    """Relative change (%) of trivial-pattern reliance per layer quarter, scaling and tuning pairs (Figs 8, 9)."""
    rows = []
    for pair in pairs:
        if pair.kind not in ("scaling", "tuning"):
            continue
        a, b = pair.a.curve("trivial_r2"), pair.b.curve("trivial_r2")
        if a is None or b is None:
            continue
        for q, (qa, qb) in enumerate(zip(np.array_split(a, 4), np.array_split(b, 4))):
            rows.append(dict(run_a=pair.a.label, run_b=pair.b.label, kind=pair.kind, quarter=q,
                             trivial_a=np.nanmean(qa), trivial_b=np.nanmean(qb),
                             relative_change_pct=100 * (np.nanmean(qb) - np.nanmean(qa)) / np.nanmean(qa)))
    return pd.DataFrame(rows, columns=["run_a", "run_b", "kind", "quarter", "trivial_a", "trivial_b",
                                       "relative_change_pct"])


def run(cfg: DictConfig, sweep: str | None = None) -> str | None:
    """Create the comparison run over the selected runs (``sweep``: only that sweep's); returns its id."""
    options = cfg.compare
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = MlflowClient(tracking_uri(cfg))
    experiment_id = prepare_store(cfg)
    filter_string = f"tags.sweep = '{sweep}'" if sweep else options.filter
    workdir = Path(tempfile.mkdtemp(prefix="attnhuman-compare-"))
    runs, notes = select_runs(client, experiment_id, filter_string, cfg.data.name, workdir)
    if not runs:
        log.warning("No FINISHED runs match %r on data=%s: nothing to compare.", filter_string, cfg.data.name)
        return None
    log.info("Comparing %d runs: %s", len(runs), ", ".join(r.label for r in runs))
    groups = list(cfg.analysis.groups)
    pairs = find_pairs(runs, (options.reference.a, options.reference.b))
    corpus, cohorts, _ = load_humans(cfg)       # the humans of the compared runs' data settings
    sources = {cfg.data.name: cohorts}
    if cfg.data.name != "synthetic":           # the same analysis on simulated readers of the same corpus
        sources["simulated"] = simulate_cohorts(corpus, {g: DEFAULT_GROUPS[g] for g in cohorts
                                                         if g in DEFAULT_GROUPS})[0]
    widest = max(runs, key=lambda r: (r.prefix == "none", int(r.params.get("model_size.heads", 0))))
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
    figures = plots.comparison_figures(runs, pairs, tables, groups, options.divergence_metric, out / "figures")
    write_report(out / "report.md", runs, pairs, tables, figures, notes, options)

    name = f"comparison-{Path(sweep).parent.name}-{Path(sweep).name}" if sweep else "comparison"
    comparison = client.create_run(experiment_id, run_name=name,
                                   tags={"kind": COMPARISON_TAG, "n_runs": str(len(runs)),
                                         **({"sweep": sweep} if sweep else {})})
    run_id = comparison.info.run_id
    log_params(client, run_id, {"filter": filter_string or "(all)", "runs": ", ".join(r.label for r in runs)[:6000],
                                **flatten({"compare": OmegaConf.to_container(options, resolve=True)}), "data.name": cfg.data.name})
    client.log_artifacts(run_id, str(out))
    client.set_terminated(run_id, "FINISHED")
    log.info("Comparison run %s (%s): %d tables, %d figures, report.md", name, run_id, len(tables), len(figures))
    plt.close("all")
    return run_id
