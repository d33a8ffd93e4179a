"""Figures (matplotlib, no display needed)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attnhuman import metrics  # noqa: E402
from attnhuman.analysis.resemblance import GroupResemblance  # noqa: E402
from attnhuman.comparison.paper import FMRI_REGION  # noqa: E402

if TYPE_CHECKING:                                 # a job draws its figures without the comparison's libraries
    from attnhuman.comparison.tables import ComparisonTables

GROUP_COLORS = {"L1": "tab:blue", "L2": "tab:orange"}
STRIP_WORDS = 30          # words shown in a word-importance example strip


def layerwise_resemblance(results: dict[str, GroupResemblance], title: str) -> plt.Figure:
    """Paper Figure 6 style: resemblance (% of ceiling) per layer, one line per group, +-1 SEM band."""
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    for group, res in results.items():
        scale = 100.0 / res.ceiling
        layers = range(len(res.layer_r2))
        color = GROUP_COLORS.get(group)
        ax.plot(layers, res.layer_r2 * scale, color=color,
                label=f"{group}: best layer {res.best_layer}, {res.resemblance:.1f}%")
        ax.fill_between(layers, (res.layer_r2 - res.layer_sem) * scale,
                        (res.layer_r2 + res.layer_sem) * scale, color=color, alpha=0.2, linewidth=0)
        ax.plot(res.best_layer, res.resemblance, "o", color=color)
    ax.set(xlabel="layer", ylabel="human resemblance (% of ceiling)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return fig


def word_importance_curves(results: dict, title: str) -> plt.Figure:
    """Spearman rho per layer for each ``received`` mode (+-1 SD over units as a band), the baselines and the
    leave-one-subject-out ceiling as horizontal lines."""
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    for (mode, res), color in zip(results.items(), ("tab:blue", "tab:purple")):
        layers = np.arange(len(res.layer_rho))
        ax.plot(layers, res.layer_rho, color=color,
                label=f"attention, received={mode}: best layer {res.best_layer}, rho {res.best_rho:.3f}")
        ax.fill_between(layers, res.layer_rho - res.layer_sd, res.layer_rho + res.layer_sd, color=color, alpha=0.1,
                        linewidth=0)
    first = next(iter(results.values()))
    ax.axhline(first.ceiling, color="black", linewidth=1.2, label=f"ceiling (leave one subject out) {first.ceiling:.3f}")
    for (name, value), style in zip(first.baselines.items(), ("--", ":", "-.")):
        ax.axhline(value, color="gray", linestyle=style, label=f"{name} baseline {value:.3f}")
    ax.set(xlabel="layer", ylabel="Spearman rho (mean over units)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    return fig


def predictive_power_figure(name: str, cv, insample, title: str) -> plt.Figure:
    """One predictor's predictive power. A per-layer predictor: held-out and in-sample ``DeltaLL`` per layer with
    their 95% bootstrap bands, the best layer marked. A word-level one: the reading time against the predictor (the
    words analysed, their mean in 20 quantile bins of the predictor, +-1 SEM) with the least-squares line of the
    target on the predictor alone, and the ``DeltaLL`` in the title."""
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    if cv.best_layer is not None:
        layers = np.arange(len(cv.delta_ll))
        for res, label, color in ((cv, "held out", "tab:blue"), (insample, "in-sample", "tab:gray")):
            ax.plot(layers, res.delta_ll, color=color, label=f"{label}: best layer {int(np.argmax(res.delta_ll))}, "
                    f"{res.delta_ll.max():.4f}")
            ax.fill_between(layers, res.low, res.high, color=color, alpha=0.2, linewidth=0)
        ax.plot(cv.best_layer, cv.delta_ll[cv.best_layer], "o", color="tab:blue")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set(xlabel="layer", ylabel="DeltaLL (nats per word)", title=title)
        ax.legend(loc="best", fontsize=8)
    else:
        x, y = cv.word_predictor, cv.word_target
        edges = np.unique(np.quantile(x, np.linspace(0, 1, 21)))
        bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
        count = np.bincount(bins, minlength=len(edges) - 1)
        keep = count > 1
        mean_x = np.bincount(bins, x, len(edges) - 1)[keep] / count[keep]
        mean_y = np.bincount(bins, y, len(edges) - 1)[keep] / count[keep]
        sd = np.sqrt(np.maximum(np.bincount(bins, y * y, len(edges) - 1)[keep] / count[keep] - mean_y ** 2, 0))
        ax.errorbar(mean_x, mean_y, yerr=sd / np.sqrt(count[keep]), fmt="o", color="tab:blue", markersize=4,
                    label=f"{len(x)} words: mean per 20-quantile bin of {name}, +-1 SEM")
        slope, intercept = np.polyfit(x, y, 1)
        line = np.linspace(x.min(), x.max(), 2)
        ax.plot(line, intercept + slope * line, color="tab:red",
                label=f"least squares: {slope:.2f} ms per unit of {name}")
        ax.set(xlabel=name, ylabel="reading time (ms)", title=f"{title}\nDeltaLL held out {cv.delta_ll[0]:.4f} "
               f"[{cv.low[0]:.4f}, {cv.high[0]:.4f}], in-sample {insample.delta_ll[0]:.4f}, r {cv.r[0]:.3f}")
        ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def importance_strip(res, corpus, group: str) -> plt.Figure:
    """One unit's words with the readers' relative fixation time and the model's importance at its best layer
    (each scaled to sum 1): the unit whose rho is nearest the median among those of 8 to 20 words."""
    lengths = np.array([len(h) for h in res.human])
    rhos = np.array([_rank_rho(h, m) for h, m in zip(res.human, res.model)])
    fits = np.flatnonzero((lengths >= 8) & (lengths <= 20) & np.isfinite(rhos))
    pool = fits if len(fits) else np.flatnonzero(np.isfinite(rhos)) if np.isfinite(rhos).any() else np.arange(len(rhos))
    pick = pool[np.argmin(np.abs(rhos[pool] - np.nanmedian(rhos[pool])))] if len(pool) else 0
    k, human, model = int(res.units[pick]), res.human[pick], res.model[pick]
    words, shown = corpus.words[k], min(len(corpus.words[k]), STRIP_WORDS)     # a paragraph: its first words
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * shown), 3.4), constrained_layout=True)
    x = np.arange(shown)
    ax.bar(x - 0.2, (human / human.sum())[:shown], 0.4, label=f"readers ({group}, relative fixation time)")
    ax.bar(x + 0.2, (model / model.sum())[:shown], 0.4, label=f"model, layer {res.best_layer} (received={res.received})")
    ax.set_xticks(x, words[:shown], rotation=45, ha="right", fontsize=8)
    first = f", first {shown} of {len(words)} words" if shown < len(words) else ""
    ax.set(ylabel="share of the unit", title=f"{corpus.label(k)}: Spearman rho {rhos[pick]:.2f}{first}")
    ax.legend(fontsize=7)
    return fig


def _rank_rho(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr  # scipy.stats loads in a second: only for word importance

    return float(spearmanr(a, b).statistic) if np.ptp(a) > 0 and np.ptp(b) > 0 else np.nan


@dataclass(frozen=True)
class FigureNote:
    """A comparison figure: file (None when it could not be drawn), paper figure number, caption."""

    paper: str
    file: str | None
    caption: str


def save(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _save(fig: plt.Figure, folder: Path, name: str) -> str:
    save(fig, folder / name)
    return f"figures/{name}"


def _divergence_panel(table: pd.DataFrame, kinds: tuple[str, ...], metric: str, title: str) -> plt.Figure | None:
    """One panel per run a (the model compared), its pairs as lines (noise control dashed), the reference dotted."""
    rows = table[(table.metric == metric) & table.kind.isin(kinds)]
    if rows.empty:
        return None
    panels = list(dict.fromkeys(rows.run_a))
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels) + 0.8), constrained_layout=True,
                             squeeze=False)
    for ax, run_a in zip(axes[:, 0], panels):
        part_a = rows[rows.run_a == run_a]
        for (b, kind), part in part_a.groupby(["run_b", "kind"], sort=False):
            ax.errorbar(part["index"], part["mean"], yerr=part["sem"], fmt="--" if kind == "noise" else "-",
                        marker=".", capsize=2, label=f"{kind}: vs {b}")
        units = part_a.unit.unique()
        reference = table[(table.metric == metric) & (table.kind == "reference") & table.unit.isin(units)]
        for (a, b), part in reference.groupby(["run_a", "run_b"]):
            ax.plot(part["index"], part["mean"], ":", color="black", label=f"reference: {a} vs {b}")
        ax.set(xlabel=" / ".join(units), ylabel=f"{metric} (mean +-SEM)", title=f"{title}: {run_a}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def _scatter(points: list[tuple[str, float, float, str]], xlabel: str, ylabel: str, title: str,
             logx: bool = False, fit: dict | None = None) -> plt.Figure | None:
    """``points``: (label, x, y, group)."""
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    for label, x, y, group in points:
        ax.plot(x, y, "o", color=GROUP_COLORS.get(group, "gray"))
        ax.annotate(f"{label} {group}", (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    for group, line in (fit or {}).items():
        xs = np.array([min(p[1] for p in points), max(p[1] for p in points)])
        ax.plot(xs, line["intercept"] + line["slope"] * (np.log10(xs) if logx else xs), "-",
                color=GROUP_COLORS.get(group), label=f"{group}: r = {line['r']:.3f}")
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if fit:
        ax.legend(fontsize=8)
    return fig


def _curves(curves: list[tuple[str, np.ndarray]], groups: list[str], ylabel: str, title: str) -> plt.Figure | None:
    """``curves``: (label, (groups, layers) array or (layers,) array shared by all groups)."""
    if not curves:
        return None
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.8), constrained_layout=True,
                             squeeze=False)
    for g, ax in enumerate(axes[0]):
        for label, values in curves:
            line = values[g] if values.ndim == 2 else values
            ax.plot(np.arange(len(line)), line, label=label)
        ax.set(xlabel="layer", ylabel=ylabel, title=f"{title}: {groups[g]}" if len(groups) > 1 else title)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    return fig


def _training(runs, groups: list[str]) -> plt.Figure | None:
    """Resemblance against training step, one line per model and prefix and group (runs of stepN revisions)."""
    series = {}
    for r in runs:
        if r.training_step is not None:
            series.setdefault(f"{r.model}-{r.size}-{r.prefix}", []).append(r)
    if not any(len(points) > 1 for points in series.values()):
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    for name, points in series.items():
        points.sort(key=lambda r: r.training_step)
        for g in groups:
            ax.plot([r.training_step for r in points], [r.metrics[metrics.resemblance(g)] for r in points], "o-",
                    color=GROUP_COLORS.get(g), label=f"{name} {g}")
    ax.set_xscale("symlog", linthresh=1000)
    ax.set(xlabel="training step (checkpoint revision)", ylabel="human resemblance (%)",
           title="Human resemblance over training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def _measures(table: pd.DataFrame, groups: list[str]) -> plt.Figure | None:
    """Best-layer score of every attention measure per model: saccade resemblance (% of ceiling) and word
    importance (Spearman rho, its ceiling as a dash), one panel each where the runs have them."""
    if table.empty or table.measure.nunique() < 2:
        return None
    panels = [(f"resemblance_{g}", f"best_layer_{g}", f"saccade resemblance {g} (%)", None) for g in groups
              if table[f"resemblance_{g}"].notna().any()]
    panels += [(f"wi_best_rho_{g}", f"wi_best_layer_{g}", f"word importance {g} (rho)", f"wi_ceiling_{g}")
               for g in groups if table[f"wi_best_rho_{g}"].notna().any()]
    if not panels:
        return None
    models, measures = list(dict.fromkeys(table.model)), list(dict.fromkeys(table.measure))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels) + 1.5, 4), constrained_layout=True,
                             squeeze=False)
    width = 0.8 / len(measures)
    for ax, (column, layer, label, ceiling) in zip(axes[0], panels):
        for i, measure in enumerate(measures):
            part = table[table.measure == measure].set_index("model").reindex(models)
            bars = ax.bar(np.arange(len(models)) + i * width, part[column], width, label=measure)
            ax.bar_label(bars, [f"L{v:.0f}" if np.isfinite(v) else "" for v in part[layer].astype(float)],
                         fontsize=6)
        if ceiling:
            part = table.groupby("model", sort=False)[ceiling].first().reindex(models)
            ax.plot(np.arange(len(models)) + 0.4 - width / 2, part, "k_", markersize=30, label="ceiling")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2, models, rotation=20, ha="right", fontsize=7)
        ax.set(ylabel=label, title=f"{label}, best layer (L) on each bar")
        ax.grid(alpha=0.3, axis="y")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def _quarter_bars(table: pd.DataFrame, kind: str, title: str) -> plt.Figure | None:
    rows = table[table.kind == kind]
    if rows.empty:
        return None
    pairs = list(rows.groupby(["run_a", "run_b"], sort=False))
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    width = 0.8 / len(pairs)
    for i, ((a, b), part) in enumerate(pairs):
        ax.bar(part["quarter"] + i * width, part["relative_change_pct"], width, label=f"{b} vs {a}")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(xlabel="layer quarter", ylabel="trivial-pattern reliance change (%)", title=title,
           xticks=np.arange(4) + 0.4 - width / 2, xticklabels=["Q1", "Q2", "Q3", "Q4"])
    ax.legend(fontsize=7)
    return fig


def comparison_figures(runs, pairs, tables: ComparisonTables, groups: list[str], metric: str,
                       folder: Path) -> list[FigureNote]:
    """The paper's Figures 2-9, 11, 13, 15, 16 for the runs present; a note for each one not drawable."""
    notes = []
    divergence = tables.divergence
    plain = [r for r in runs if r.prefix == "none"]
    pretrained = [r for r in plain if r.stage == "pretrained"]
    correlations = tables.correlations

    def fit_of(x: str, y: str) -> dict:
        rows = correlations[(correlations.x == x) & (correlations.y == y) & correlations.slope.notna()]
        return {row.group: dict(slope=row.slope, intercept=row.intercept, r=row.r) for row in rows.itertuples()}

    def add(paper_no: str, name: str, fig, caption: str, missing: str) -> None:
        notes.append(FigureNote(paper_no, _save(fig, folder, name) if fig is not None else None,
                                caption if fig is not None else missing))

    add("2", "fig2_scaling_divergence.png",
        _divergence_panel(divergence, ("scaling",), metric, f"Scaling: {metric} divergence"),
        f"{metric} divergence between sizes of one model (layer quarters when depths differ).",
        "needs two sizes of one model with the same tuning and prefix")
    add("3", "fig3_tuning_divergence.png",
        _divergence_panel(divergence, ("tuning",), metric, f"Instruction tuning: {metric} divergence"),
        f"{metric} divergence between a pretrained model and its instruction-tuned versions, layer by layer.",
        "needs a pretrained run and an instruction-tuned run of the same family and size")
    add("4", "fig4_instruction_divergence.png",
        _divergence_panel(divergence, ("instruction", "noise"), metric, f"Instruction sensitivity: {metric}"),
        f"{metric} divergence between plain and instruction-prefixed input of one model (solid), "
        "and the noise-prefix control (dashed).", "needs a plain run and a prefixed run of one model")
    add("5", "fig5_loss_vs_resemblance.png",
        _scatter([(r.label, r.metrics[metrics.NTP_LOSS_PER_LEN], r.metrics[metrics.resemblance(g)], g)
                  for r in plain if metrics.NTP_LOSS_PER_LEN in r.metrics for g in groups],
                 "NTP loss per token / length", "human resemblance (%)", "Loss vs human resemblance"),
        "Per-token NTP loss (paper scale) against the maximum layerwise resemblance, each plain run and group.",
        "needs plain runs of models run by attnhuman (released attention has no loss)")
    add("6", "fig6_layerwise_resemblance.png",
        _curves([(r.label, np.stack([100 * r.r2(g).to_numpy().mean(axis=0) / r.metrics[metrics.ceiling(g)]
                                     for g in groups])) for r in pretrained], groups,
                "human resemblance (% of ceiling)", "Layerwise resemblance"),
        "Layerwise resemblance (% of the ceiling) of the pretrained models on plain input.",
        "needs a plain run of a pretrained model")
    add("7", "fig7_scaling_resemblance.png",
        _scatter([(r.label, r.parameters, r.metrics[metrics.resemblance(g)], g) for r in pretrained for g in groups],
                 "parameters (log scale)", "human resemblance (%)", "Scaling and human resemblance", logx=True,
                 fit=fit_of("log10_parameters", "resemblance")),
        "Maximum layerwise resemblance against model size, with the least-squares line in log10(parameters).",
        "needs plain runs of pretrained models")
    trivial_diff = tables.trivial_differences
    add("8", "fig8_trivial_scaling.png", _quarter_bars(trivial_diff, "scaling", "Trivial-pattern reliance: scaling"),
        "Relative change of trivial-pattern reliance per layer quarter from the smaller to the larger model.",
        "needs two sizes of one model")
    add("9", "fig9_trivial_tuning.png", _quarter_bars(trivial_diff, "tuning", "Trivial-pattern reliance: tuning"),
        "Relative change of trivial-pattern reliance per layer quarter from the pretrained to the tuned model.",
        "needs a pretrained and an instruction-tuned run of one family and size")
    trivial = [(r.label, c) for r in plain if (c := r.curve(metrics.TRIVIAL_R2)) is not None]
    add("11", "fig11_trivial_layerwise.png", _curves(trivial, ["all"], "trivial-pattern R2 (mean over heads)",
                                                     "Layerwise trivial-pattern reliance"),
        "Mean R2 over heads of each layer's attention regressed on the start/previous/self patterns.",
        "needs runs that logged trivial_r2")
    def fmri_key(g: str) -> str:
        return metrics.fmri_resemblance(FMRI_REGION, g)

    add("13", "fig13_loss_vs_fmri.png",
        _scatter([(r.label, r.metrics[metrics.NTP_LOSS_PER_LEN], r.metrics[fmri_key(g)], g) for r in plain
                  for g in groups if metrics.NTP_LOSS_PER_LEN in r.metrics and fmri_key(g) in r.metrics],
                 "NTP loss per token / length", f"fMRI resemblance, {FMRI_REGION} (%)", "Loss vs fMRI resemblance"),
        f"Per-token NTP loss against the maximum layerwise fMRI resemblance ({FMRI_REGION} region).",
        "needs plain runs with a loss and fMRI metrics")
    fmri_curves = []
    for r in pretrained:
        curves = [r.curve(metrics.fmri_r2(FMRI_REGION, g)) for g in groups]
        if all(c is not None for c in curves):
            fmri_curves.append((r.label, np.stack([100 * c / r.metrics[metrics.fmri_ceiling(FMRI_REGION, g)]
                                                   for c, g in zip(curves, groups)])))
    add("15", "fig15_fmri_layerwise.png", _curves(fmri_curves, groups, "fMRI resemblance (% of ceiling)",
                                                  f"Layerwise fMRI resemblance ({FMRI_REGION})"),
        f"Layerwise fMRI resemblance ({FMRI_REGION} region) of the pretrained models on plain input.",
        "needs plain runs of pretrained models with fMRI metrics")
    add("16", "fig16_fmri_scaling.png",
        _scatter([(r.label, r.parameters, r.metrics[fmri_key(g)], g) for r in pretrained for g in groups
                  if fmri_key(g) in r.metrics], "parameters (log scale)", "fMRI resemblance (%)",
                 "Scaling and fMRI resemblance", logx=True, fit=fit_of("log10_parameters", "fmri_resemblance")),
        "Maximum layerwise fMRI resemblance against model size, with the least-squares line.",
        "needs plain runs of pretrained models with fMRI metrics")
    add("measures", "measures.png", _measures(tables.measures, groups),
        "Best-layer score of each attention measure (docs/method.md, 'Attention measures') per model: saccade resemblance "
        "and word importance (black dash: the word-importance ceiling).",
        "needs runs of two or more attention measures (-m measure=weights,norm,...)")
    add("steps", "training_steps.png", _training(runs, groups),
        "Maximum layerwise resemblance against the training step of each checkpoint revision (model=hub "
        "model.revision=stepN), one line per model, prefix and group.",
        "needs two or more runs of one model at different training steps (stepN revisions)")
    bias = tables.head_count_bias
    add("bias", "head_count_bias.png", head_count_bias(bias) if not bias.empty else None,
        "Mean R2 against the number of heads used as predictors: random attention and random subsets of a real "
        "layer's heads, in-sample (solid) and cross-validated by sentence (dashed).", "needs human cohorts")
    return notes


def measures_figures(table: pd.DataFrame, groups: list[str], folder: Path) -> list[FigureNote]:
    """The measures figure alone (comparisons of data without saccades)."""
    fig = _measures(table, groups)
    return [FigureNote("measures", _save(fig, folder, "measures.png") if fig is not None else None,
                       "Best-layer score of each attention measure per model." if fig is not None
                       else "needs runs of two or more attention measures")]


FIT_SIZES = 3             # distinct model sizes a panel needs for its least-squares line
ATTENTION_METRICS = ((metrics.resemblance, "saccade resemblance (% of ceiling)"),
                     (metrics.wi_normalised, "word importance (% of ceiling)"),
                     (metrics.wi_best_rho, "word importance (best-layer rho)"))


def predictive_figures(runs, table: pd.DataFrame | None, folder: Path) -> list[FigureNote]:
    """Predictive power against model size, and attention resemblance against predictive power (``table``: the
    comparison's ``predictive_power``; None, no run has a pp_* metric: no figure, no note)."""
    if table is None:
        return []
    return [_scaling_note(table, folder), _attention_note(runs, table, folder)]


def _scaling_note(table: pd.DataFrame, folder: Path) -> FigureNote:
    """``predictive_power_scaling.png``: the panels of 2 runs or more; the caption names the panels with a line."""
    panels = [(cell, part) for cell, part in table[table.dll_cv.notna()].groupby(
        ["predictor", "measure", "group"], sort=False) if len(part) >= 2]
    if not panels:
        return FigureNote("power_scaling", None, "needs at least 2 runs with a held-out DeltaLL (pp_dll_cv_*) of one "
                          f"predictor, reading measure and group; {table.run.nunique()} run(s) have one")
    fitted = [f"{', '.join(cell)}: context {context}" for cell, part in panels for context, runs in _contexts(part)
              if runs.parameters.nunique() >= FIT_SIZES]
    line = (f" A least-squares line of DeltaLL on log10(parameters) over the runs of one context with at least "
            f"{FIT_SIZES} distinct sizes ({'; '.join(fitted)})." if fitted else
            f" No line or fit: no context has runs of {FIT_SIZES} distinct sizes in a panel.")
    return FigureNote(
        "power_scaling", _save(_power_scaling(panels), folder, "predictive_power_scaling.png"),
        "Held-out DeltaLL (nats per word; error bars: its 95% bootstrap interval over units) against parameters "
        "(log scale), one point per run, one panel per predictor, reading measure and group with at least 2 runs; "
        f"filled markers: pretrained (base) models, open: instruction-tuned; colour: the run's source; shape: what the "
        f"predictions read (circle: each unit alone, square: after its text, diamond: an imported table's own).{line}")


def _attention_note(runs, table: pd.DataFrame, folder: Path) -> FigureNote:
    """``attention_vs_prediction.png``; the caption names each panel's two metrics."""
    panels = _attention_panels(runs, table)
    if not panels:
        return FigureNote(
            "attention_prediction", None, "needs at least 2 runs with both a held-out surprisal DeltaLL "
            "(pp_dll_cv_surprisal_<measure>_<group>) and an attention resemblance of that group (resemblance_<group>, "
            "wi_normalised_<group> or wi_best_rho_<group>)")
    return FigureNote(
        "attention_prediction", _save(_attention_prediction(panels), folder, "attention_vs_prediction.png"),
        "Per run (labelled), attention resemblance against predictive power: "
        + "; ".join(f"{y} against {x}" for _, x, y, _, _ in panels) + ". No line or fit.")


def _power_scaling(panels: list) -> plt.Figure:
    """One panel per (predictor, measure, group): each run's held-out DeltaLL and interval against parameters."""
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.5 * columns + 2, 4 * rows), constrained_layout=True,
                             squeeze=False)
    sources = sorted({s for _, part in panels for s in part.source})
    colors = {s: f"C{i}" for i, s in enumerate(sources)}
    for ax, ((predictor, measure, group), part) in zip(axes.flat, panels):
        for row in part.itertuples():
            color = colors[row.source]
            spread = np.clip(np.nan_to_num([[row.dll_cv - row.dll_cv_low], [row.dll_cv_high - row.dll_cv]]), 0, None)
            ax.errorbar(row.parameters, row.dll_cv, yerr=spread, fmt=CONTEXT_MARKERS.get(_context(row.context), "D"),
                        color=color, capsize=3, markerfacecolor=color if row.stage == "pretrained" else "white")
            ax.annotate(row.run, (row.parameters, row.dll_cv), fontsize=6, xytext=(3, 3), textcoords="offset points")
        for context, runs in _contexts(part):
            if runs.parameters.nunique() >= FIT_SIZES:
                slope, intercept = np.polyfit(np.log10(runs.parameters), runs.dll_cv, 1)
                xs = np.array([runs.parameters.min(), runs.parameters.max()], dtype=float)
                ax.plot(xs, intercept + slope * np.log10(xs), "-", color="black", linewidth=1,
                        label=f"least squares, context {context}: {slope:.4f} per decade")
                ax.legend(fontsize=7, loc="lower right")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(part.parameters)), [_size(p) for p in sorted(set(part.parameters))], rotation=60,
                      fontsize=7)
        ax.minorticks_off()
        ax.set_xlim(min(part.parameters) / 2, max(part.parameters) * 2)
        ax.set(xlabel="parameters (log scale)", ylabel="held-out DeltaLL (nats per word)",
               title=f"{predictor}, {measure}, {group}")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], marker="o", linestyle="", color="black", markerfacecolor=fill, label=label)
               for fill, label in (("black", "pretrained (base)"), ("white", "instruction-tuned"))]
    handles += [plt.Line2D([], [], marker="o", linestyle="", color=c, label=f"source={s}") for s, c in colors.items()]
    handles += [plt.Line2D([], [], marker=m, linestyle="", color="gray", label=label) for m, label in
                (("o", "context=unit"), ("s", "context=text"), ("D", "an imported table's own"))]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7)
    return fig


CONTEXT_MARKERS = {"unit": "o", "text": "s"}


def _context(tag: str) -> str:
    """``unit``, ``text`` or ``""`` (an imported table's own) from a run's ``context`` tag."""
    return str(tag).split(" ")[0] if isinstance(tag, str) else ""


def _contexts(part: pd.DataFrame):
    """The panel's runs by what their predictions read."""
    return [(context or "of the table", runs) for context, runs in part.groupby(part.context.map(_context))]


def _size(parameters: float) -> str:
    """135M, 7B, 175B."""
    return f"{parameters / 1e9:.3g}B" if parameters >= 1e9 else f"{parameters / 1e6:.3g}M"


def _attention_panels(runs, table: pd.DataFrame) -> list[tuple[str, str, str, str, list]]:
    """``[(title, x metric, y metric, y label, [(run, x, y)])]``: per reading measure and group, the held-out surprisal
    DeltaLL and the first attention metric of :data:`ATTENTION_METRICS` that at least 2 runs have with it."""
    panels = []
    for measure, group in table.loc[table.predictor == "surprisal", ["measure", "group"]].drop_duplicates().values:
        x = metrics.pp_dll_cv("surprisal", measure, group)
        for name, label in ATTENTION_METRICS:
            points = [(r.label, r.metrics[x], r.metrics[name(group)]) for r in runs
                      if x in r.metrics and name(group) in r.metrics]
            if len(points) >= 2:
                panels.append((f"{measure}, {group}", x, name(group), label, points))
                break
    return panels


def _attention_prediction(panels: list) -> plt.Figure:
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), constrained_layout=True, squeeze=False)
    for ax, (title, x, y, label, points) in zip(axes[0], panels):
        for run, px, py in points:
            ax.plot(px, py, "o", color="tab:blue")
            ax.annotate(run, (px, py), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set(xlabel=f"held-out surprisal DeltaLL (nats per word)\n{x}", ylabel=f"{label}\n{y}", title=title)
        ax.grid(alpha=0.3)
    return fig


def head_count_bias(table: pd.DataFrame) -> plt.Figure:
    """In-sample (solid) vs cross-validated (dashed) mean R2 against predictor heads, one panel per cohort source."""
    sources = list(dict.fromkeys(table.cohorts))
    fig, axes = plt.subplots(1, len(sources), figsize=(6 * len(sources), 4), constrained_layout=True, squeeze=False)
    colors = {}
    for ax, source in zip(axes[0], sources):
        for (attention, group), part in table[table.cohorts == source].groupby(["attention", "group"], sort=False):
            color = colors.setdefault((attention, group), f"C{len(colors)}")
            for score, style in (("insample", "-"), ("cv", "--")):
                line = part[part.score == score].sort_values("heads")
                ax.plot(line.heads, line.r2, style, marker="o", color=color,
                        label=f"{attention}, {group}, {score}")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set(xlabel="heads used as predictors", ylabel="mean R2 over subjects", title=f"{source} cohorts")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig
