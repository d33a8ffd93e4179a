"""The comparison's tables: the paper's cross-run analyses (docs/method.md, "General attention divergence",
"Trivial pattern reliance", "Statistics", "fMRI") over paired runs, as one typed value."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from attnhuman import metrics
from attnhuman.analysis import stats
from attnhuman.analysis.bias import head_count_bias
from attnhuman.analysis.divergence import head_mean, quarters, run_divergence, sentence_divergence
from attnhuman.analysis.trivial import human_table
from attnhuman.attention.extraction.measures import MEASURES
from attnhuman.attention.predictors import PREDICTORS
from attnhuman.comparison import paper
from attnhuman.comparison.entered import entered_table
from attnhuman.comparison.runs import ONE_MEASURE, Pair, Run
from attnhuman.corpus import Corpus
from attnhuman.errors import DataError
from attnhuman.humans.cohort import Cohort

DIVERGENCE_METRICS = ("js", "sym_kl")


@dataclass
class ComparisonTables:
    """Every table of a comparison run, each written as ``tables/<field>.csv``. ``measures`` and
    ``predictive_power`` need runs only (``predictive_power`` is None when no run has a pp_* metric); the paper's
    tables need saccade cohorts (None for data without them, such as GECO)."""

    measures: pd.DataFrame
    resemblance: pd.DataFrame | None = None
    divergence: pd.DataFrame | None = None
    trivial_humans: pd.DataFrame | None = None
    trivial_differences: pd.DataFrame | None = None
    layer_tests: pd.DataFrame | None = None
    group_tests: pd.DataFrame | None = None
    correlations: pd.DataFrame | None = None
    head_count_bias: pd.DataFrame | None = None
    predictive_power: pd.DataFrame | None = None
    entered: pd.DataFrame | None = None          # what entered each run's analyses, what was left out and why

    def write(self, folder: Path) -> list[Path]:
        """Every table present as ``folder/<name>.csv`` (``trivial_humans`` keeps its group index)."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for f in dataclasses.fields(self):
            table = getattr(self, f.name)
            if table is not None:
                table.to_csv(folder / f"{f.name}.csv", index=f.name == "trivial_humans")
                written.append(folder / f"{f.name}.csv")
        return written


def comparison_tables(runs: list[Run], pairs: list[Pair], groups: list[str], corpus: Corpus,
                      cohorts: dict[str, dict[str, Cohort]], alpha: float, extrapolate_to: float) -> ComparisonTables:
    """The paper's tables over ``runs`` and their ``pairs``; ``cohorts``: ``{source: {group: Cohort}}``, the real
    readers first (the head-count bias uses every source)."""
    real = next(iter(cohorts.values()))
    widest = max(runs, key=lambda r: (r.measure == "weights", r.prefix == "none", r.heads))
    return ComparisonTables(
        measures=measures_table(runs, groups), resemblance=resemblance_table(runs, groups),
        divergence=divergence_table(pairs), trivial_humans=human_table(real, corpus.n_words),
        trivial_differences=trivial_difference_table(pairs), layer_tests=layer_test_table(pairs, groups, alpha),
        group_tests=group_test_table(runs, groups), correlations=correlation_table(runs, groups, extrapolate_to),
        head_count_bias=head_count_bias(corpus, cohorts, {widest.label: widest.store}),
        predictive_power=predictive_power_table(runs, groups), entered=entered_table(runs))


def divergence_table(pairs: list[Pair]) -> pd.DataFrame:
    """Mean and SEM over sentences of each pair's divergence, per layer or quarter, for js and sym_kl (pairs of one
    attention measure: two measures' stores are not distributions of one kind)."""
    rows = []
    for pair in pairs:
        if pair.kind not in ONE_MEASURE:
            continue
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
                   training_step=run.training_step, code_digest=run.code_digest,
                   ntp_loss=run.metrics.get(metrics.NTP_LOSS), ntp_loss_per_len=run.metrics.get(metrics.NTP_LOSS_PER_LEN),
                   paper_ntp_loss_per_len=reported[0] if reported else None)
        trivial = run.curve(metrics.TRIVIAL_R2)
        row["trivial_r2_mean"] = float(np.nanmean(trivial)) if trivial is not None else None
        for i, g in enumerate(groups):
            row.update({f"resemblance_{g}": run.metrics.get(metrics.resemblance(g)),
                        f"paper_resemblance_{g}": reported[1 + i] if reported and g in ("L1", "L2") else None,
                        f"best_layer_{g}": run.metrics.get(metrics.best_layer(g)),
                        f"ceiling_{g}": run.metrics.get(metrics.ceiling(g)),
                        f"fmri_resemblance_{g}": run.metrics.get(metrics.fmri_resemblance(paper.FMRI_REGION, g)),
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
    """Paired per-layer t-tests over subjects (Bonferroni) for pairs of equal depth (paper Tables 4, 6, 7; ``measure``
    pairs: does another attention measure of one model beat its weights, layer by layer)."""
    frames = []
    for pair in pairs:
        if pair.kind == "scaling" or pair.a.depth != pair.b.depth:
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
            values[g] = 100 * r2[:, int(run.metrics[metrics.best_layer(g)])] / run.metrics[metrics.ceiling(g)]
        rows.append(dict(run=run.label, **stats.independent_test(values["L1"], values["L2"])))
    table = pd.DataFrame(rows)
    table["p_bonf"] = np.minimum(table["p_val"] * len(table), 1.0)
    table["significant"] = table["p_bonf"] < 0.05
    return table


def correlation_table(runs: list[Run], groups: list[str], target: float) -> pd.DataFrame:
    """Loss vs resemblance (plain runs with a loss) and resemblance vs log10(parameters) (pretrained, plain)."""
    plain = [r for r in runs if r.prefix == "none"]
    rows = []
    for y_name, metric in (("resemblance", metrics.resemblance),
                           ("fmri_resemblance", lambda g: metrics.fmri_resemblance(paper.FMRI_REGION, g))):
        for g in groups:
            key = metric(g)
            with_loss = [r for r in plain if key in r.metrics and metrics.NTP_LOSS_PER_LEN in r.metrics]
            x = [r.metrics[metrics.NTP_LOSS_PER_LEN] for r in with_loss]
            y = [r.metrics[key] for r in with_loss]
            rows.append(dict(x=metrics.NTP_LOSS_PER_LEN, y=y_name, group=g, runs=", ".join(r.label for r in with_loss),
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
        a, b = pair.a.curve(metrics.TRIVIAL_R2), pair.b.curve(metrics.TRIVIAL_R2)
        if a is None or b is None:
            continue
        for q, (qa, qb) in enumerate(zip(np.array_split(a, 4), np.array_split(b, 4))):
            rows.append(dict(run_a=pair.a.label, run_b=pair.b.label, kind=pair.kind, quarter=q,
                             trivial_a=np.nanmean(qa), trivial_b=np.nanmean(qb),
                             relative_change_pct=100 * (np.nanmean(qb) - np.nanmean(qa)) / np.nanmean(qa)))
    return pd.DataFrame(rows, columns=["run_a", "run_b", "kind", "quarter", "trivial_a", "trivial_b",
                                       "relative_change_pct"])


def measures_table(runs: list[Run], groups: list[str]) -> pd.DataFrame:
    """One row per run: its model and prefix, its attention measure, the best-layer score and layer on saccade
    resemblance and on word importance, with each ceiling (docs/method.md, "Human resemblance", "Word importance from reading times", "Attention measures")."""
    rows = []
    for run in runs:
        row = dict(model=f"{run.model}-{run.size}-{run.tuning}-{run.prefix}", measure=run.measure, run=run.label)
        for g in groups:
            row.update({f"resemblance_{g}": run.metrics.get(metrics.resemblance(g)),
                        f"best_layer_{g}": run.metrics.get(metrics.best_layer(g)),
                        f"ceiling_{g}": run.metrics.get(metrics.ceiling(g)),
                        f"wi_best_rho_{g}": run.metrics.get(metrics.wi_best_rho(g)),
                        f"wi_best_layer_{g}": run.metrics.get(metrics.wi_best_layer(g)),
                        f"wi_ceiling_{g}": run.metrics.get(metrics.wi_ceiling(g))})
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    rank = {m: k for k, m in enumerate(MEASURES)}              # the measures in their documented order
    return table.sort_values(["model", "measure"], kind="stable", ignore_index=True,
                             key=lambda c: c.map(rank) if c.name == "measure" else c)


PREDICTIVE_COLUMNS = {"dll_cv": metrics.pp_dll_cv, "dll_cv_low": metrics.pp_dll_cv_low,
                      "dll_cv_high": metrics.pp_dll_cv_high, "dll_insample": metrics.pp_dll_insample,
                      "dll_insample_low": metrics.pp_dll_insample_low, "dll_insample_high": metrics.pp_dll_insample_high,
                      "r": metrics.pp_r, "n_words": metrics.pp_n_words, "best_layer": metrics.pp_best_layer}


def _context(run: Run) -> str:
    """What a run's predictions read: its ``context`` tag (a model run here), else an imported table's own ("")."""
    return run.tags.get("context") or ("" if run.source == "imported" else "unit")


def predictive_power_table(runs: list[Run], groups: list[str]) -> pd.DataFrame | None:
    """One row per run, predictor, reading measure and group with a held-out DeltaLL
    (docs/method.md, "Reading times from model predictions"): the run's model, stage and parameters, its pp_* metrics
    (a missing one: NaN; ``best_layer``: per-layer predictors only). None when no run has one."""
    rows = []
    for run in runs:
        cells = metrics.predictive_cells(run.metrics, PREDICTORS, groups)
        for predictor, measure, group in sorted(cells, key=lambda c: (PREDICTORS.index(c[0]), groups.index(c[2]), c[1])):
            rows.append(dict(run=run.label, model=run.model, size=run.size, tuning=run.tuning, stage=run.stage,
                             prefix=run.prefix, source=run.source, context=_context(run),
                             parameters=run.parameters, predictor=predictor,
                             measure=measure, group=group,
                             **{column: run.metrics.get(name(predictor, measure, group), np.nan)
                                for column, name in PREDICTIVE_COLUMNS.items()}))
    return pd.DataFrame(rows) if rows else None
