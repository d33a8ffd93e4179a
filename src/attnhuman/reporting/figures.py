"""Figures (matplotlib, no display needed)."""
from __future__ import annotations

import textwrap
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
from attnhuman.attention.extraction.measures import MEASURES  # noqa: E402
from attnhuman.comparison import paper, verdict  # noqa: E402
from attnhuman.comparison.paper import FMRI_REGION  # noqa: E402

if TYPE_CHECKING:                                 # a job draws its figures without the comparison's libraries
    from attnhuman.comparison.tables import ComparisonTables

GROUP_COLORS = {"L1": "tab:blue", "L2": "tab:orange"}
STRIP_WORDS = 30          # words shown in a word-importance example strip


def layerwise_resemblance(results: dict[str, GroupResemblance], title: str) -> plt.Figure:
    """Paper Figure 6 style: resemblance (% of ceiling) per layer, one line per group, +-1 SEM band, the best layer
    marked; a store of one layer (a measure without layers, saliency) as one marker with its SEM and no layer."""
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    for group, res in results.items():
        scale = 100.0 / res.ceiling
        color = GROUP_COLORS.get(group)
        if len(res.layer_r2) == 1:
            ax.errorbar([0], [res.resemblance], yerr=[res.layer_sem[0] * scale], fmt="D", color=color, capsize=3,
                        label=f"{group}: {res.resemblance:.1f}% (one value: the measure has no layers)")
            continue
        layers = range(len(res.layer_r2))
        ax.plot(layers, res.layer_r2 * scale, color=color,
                label=f"{group}: best layer {res.best_layer}, {res.resemblance:.1f}%")
        ax.fill_between(layers, (res.layer_r2 - res.layer_sem) * scale,
                        (res.layer_r2 + res.layer_sem) * scale, color=color, alpha=0.2, linewidth=0)
        ax.plot(res.best_layer, res.resemblance, "o", color=color)
    one = all(len(res.layer_r2) == 1 for res in results.values())
    ax.set(xlabel="no layers (one value)" if one else "layer (0-based)", ylabel="human resemblance (% of ceiling)",
           title=title)
    if one:
        ax.set_xticks([])
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


@dataclass
class Plot:
    """A comparison figure before it is saved: ``figure`` (None when it is not drawn), its file name, and its caption
    built from what was drawn (or, not drawn, why: a phrase that follows "it")."""

    paper: str
    name: str
    figure: plt.Figure | None
    caption: str


MIN_X = 3                 # distinct x values a scatter or a scaling fit needs
RUN_PALETTE = tuple(matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors)
# one fixed colour per attention measure, in the documented order of MEASURES
MEASURE_COLORS = dict(zip(MEASURES, (matplotlib.colors.to_hex(c) for c in plt.get_cmap("Set1").colors)))
GROUP_MARKERS = {"L1": "o", "L2": "s"}
ONE_VALUE_DEPTH = 1.0     # where a run without layers (saliency) is drawn on a relative-depth axis


def colors_of(labels) -> dict[str, str]:
    """One colour per run label, deterministic: the sorted distinct labels take the palette in turn. Every comparison
    figure takes its run colours from one call over all the compared runs, so a run has one colour in all of them."""
    return {label: RUN_PALETTE[i % len(RUN_PALETTE)] for i, label in enumerate(sorted(set(labels)))}


def measure_color(measure: str) -> str:
    """The fixed colour of an attention measure (gray for one not in MEASURES)."""
    return MEASURE_COLORS.get(measure, "#808080")


def _marker(group: str) -> str:
    return GROUP_MARKERS.get(group, "^")


def _names(labels) -> str:
    return ", ".join(dict.fromkeys(labels))


def relative_depth(n_layers: int) -> np.ndarray:
    """``layer / (layers - 1)``; one layer (a measure without layers): :data:`ONE_VALUE_DEPTH`."""
    return np.arange(n_layers) / (n_layers - 1) if n_layers > 1 else np.array([ONE_VALUE_DEPTH])


def pct_curve(run, group: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A run's per-layer resemblance (% of ceiling) and its 95% band over subjects: the logged ``pct_<group>`` curves,
    else the mean of its per-subject R2 over its ceiling and no band (runs logged before bands)."""
    values = run.curve(metrics.pct(group))
    if values is None:
        values = 100 * run.r2(group).to_numpy().mean(axis=0) / run.metrics[metrics.ceiling(group)]
    low, high = run.curve(metrics.pct_low(group)), run.curve(metrics.pct_high(group))
    if low is None or high is None or len(low) != len(values) or len(high) != len(values):
        return values, None, None
    return values, low, high


def _best(run, group: str, values: np.ndarray) -> int:
    logged = run.metrics.get(metrics.best_layer(group))
    return int(logged) if logged is not None and 0 <= logged < len(values) else int(np.nanargmax(values))


def _one_value(ax, x: float, y: float, low, high, color: str, label: str | None = None, marker: str = "D") -> None:
    """A curve of one layer: a marker (with its interval), never an invisible one-point line."""
    yerr = None if low is None else np.clip([[y - low], [high - y]], 0, None)
    ax.errorbar([x], [y], yerr=yerr, fmt=marker, color=color, markersize=7, capsize=3, label=label)


def _divergence_panel(table: pd.DataFrame, kinds: tuple[str, ...], metric: str, title: str,
                      colors: dict[str, str]) -> tuple[plt.Figure | None, set[str], list[str]]:
    """One panel per run a (the model compared), its pairs as lines in run b's colour (noise control dashed), the
    reference dotted; also the kinds drawn and the reference pairs drawn."""
    rows = table[(table.metric == metric) & table.kind.isin(kinds)]
    if rows.empty:
        return None, set(), []
    panels = list(dict.fromkeys(rows.run_a))
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels) + 0.8), constrained_layout=True,
                             squeeze=False)
    drawn, references = set(), []
    for ax, run_a in zip(axes[:, 0], panels):
        part_a = rows[rows.run_a == run_a]
        for (b, kind), part in part_a.groupby(["run_b", "kind"], sort=False):
            ax.errorbar(part["index"], part["mean"], yerr=part["sem"], fmt="--" if kind == "noise" else "-",
                        marker=".", capsize=2, color=colors.get(b), label=f"{kind}: vs {b}")
            drawn.add(kind)
        units = part_a.unit.unique()
        reference = table[(table.metric == metric) & (table.kind == "reference") & table.unit.isin(units)]
        for (a, b), part in reference.groupby(["run_a", "run_b"]):
            ax.plot(part["index"], part["mean"], ":", color="black", label=f"reference: {a} vs {b}")
            references.append(f"{a} vs {b}")
        ax.set(xlabel=" / ".join(units), ylabel=f"{metric} (mean +-SEM)", title=f"{title}: {run_a}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig, drawn, list(dict.fromkeys(references))


def divergence_plot(paper_no: str, name: str, table: pd.DataFrame, kinds: dict[str, str], metric: str, title: str,
                    missing: str, colors: dict[str, str]) -> Plot:
    """``kinds``: pair kind -> how the caption describes its lines; the caption names only the kinds and the
    reference drawn."""
    fig, drawn, references = _divergence_panel(table, tuple(kinds), metric, title, colors)
    if fig is None:
        return Plot(paper_no, name, None, missing)
    parts = [kinds[k] for k in kinds if k in drawn]
    caption = (f"{metric} divergence (mean +-SEM over sentences, per layer, or per layer quarter when depths differ): "
               + "; ".join(parts) + "; one panel per run a, one colour per run b.")
    if "noise" in kinds and "noise" not in drawn:
        caption += " No noise-prefix control among the runs (prefix=noise): nothing to judge the change against."
    caption += (f" Dotted black: the reference pair ({'; '.join(references)}), a small change." if references else
                " No reference pair among the runs (compare.reference).")
    return Plot(paper_no, name, fig, caption)


def scatter_plot(paper_no: str, name: str, points: list[tuple[str, float, float, str]], xlabel: str, ylabel: str,
                 title: str, what: str, needs: str, colors: dict[str, str], logx: bool = False,
                 fit: dict | None = None, x_name: str = "x values") -> Plot:
    """``points``: (run label, x, y, group), drawn only with at least :data:`MIN_X` distinct x (else the reason);
    colour: the run, marker: the group; ``fit``: group -> least-squares line (slope, intercept, r) in x or log10(x):
    a line is drawn, and captioned, only for a group with a finite slope."""
    distinct = sorted({x for _, x, _, _ in points})
    if len(distinct) < MIN_X:
        present = f" ({_names(p[0] for p in points)})" if points else ""
        return Plot(paper_no, name, None, f"needs {needs} with at least {MIN_X} distinct {x_name} to show a relation; "
                                          f"{len(distinct)} present{present}")
    fig, ax = plt.subplots(figsize=(8, 4.2), constrained_layout=True)
    for label, x, y, group in points:
        ax.plot(x, y, _marker(group), color=colors.get(label), markersize=7, linestyle="")
    lines = []
    for group, line in (fit or {}).items():
        if not np.isfinite(line["slope"]):
            continue
        xs = np.array([min(p[1] for p in points if p[3] == group), max(p[1] for p in points if p[3] == group)])
        style = "solid" if not lines else "dashed"
        ax.plot(xs, line["intercept"] + line["slope"] * (np.log10(xs) if logx else xs),
                "-" if style == "solid" else "--", color="black", linewidth=1)
        r = f", r = {line['r']:.3f}" if np.isfinite(line["r"]) else ""
        lines.append(f"{group} ({style}{r})")
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=colors.get(r), label=r)
               for r in dict.fromkeys(p[0] for p in points)]
    handles += [plt.Line2D([], [], marker=_marker(g), linestyle="", color="black", label=g)
                for g in dict.fromkeys(p[3] for p in points)]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    caption = f"{what} Colour: the run; marker: the reader group (circle L1, square L2)."
    caption += (f" Black lines: least squares in log10(parameters), per group: {', '.join(lines)}." if lines
                else " No line or fit.")
    return Plot(paper_no, name, fig, caption)


def _layer_axes(groups: list[str], rows: int = 1, width: float = 5.5):
    fig, axes = plt.subplots(rows, len(groups), figsize=(width * len(groups) + 1, 3.9 * rows), constrained_layout=True,
                             squeeze=False, sharey=True)
    return fig, axes


def layerwise_pct_plot(runs, groups: list[str], colors: dict[str, str]) -> Plot:
    """Paper Figure 6 for every run: per-layer % of ceiling against relative depth, one panel per group on one y
    scale, bands where the runs logged them, the 100 % line, each run's best layer and the paper's value."""
    if not runs:
        return Plot("6", "layerwise_pct.png", None, "needs runs")
    fig, axes = _layer_axes(groups)
    banded, unbanded, single, reported = [], [], [], []
    for ax, g in zip(axes[0], groups):
        for run in runs:
            values, low, high = pct_curve(run, g)
            color = colors.get(run.label)
            (banded if low is not None else unbanded).append(run.label)
            if len(values) == 1:
                single.append(run.label)
                _one_value(ax, ONE_VALUE_DEPTH, values[0], None if low is None else low[0],
                           None if high is None else high[0], color, f"{run.label}: {values[0]:.1f}% (no layers)")
            else:
                x, best = relative_depth(len(values)), _best(run, g, values)
                ax.plot(x, values, "-", color=color, label=f"{run.label}: {values[best]:.1f}% at layer {best}")
                if low is not None:
                    ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)
                ax.plot(x[best], values[best], "o", color=color, markeredgecolor="black", markersize=7)
            value = paper_resemblance(run, g)
            if value is not None:
                ax.plot(1.05, value, "*", color=color, markeredgecolor="black", markersize=12)
                reported.append(run.label)
        ax.axhline(100, color="gray", linestyle="--", linewidth=1)
        ax.set_xlim(-0.03, 1.1)
        ax.set(xlabel="relative depth: layer / (layers - 1)", ylabel="human resemblance (% of ceiling)", title=g)
        ax.grid(alpha=0.3)
        handles = ax.get_legend_handles_labels()[0]
        if reported:
            handles.append(plt.Line2D([], [], marker="*", linestyle="", color="white", markeredgecolor="black",
                                      markersize=10, label="the paper's value (Table 1)"))
        ax.legend(handles=handles, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    caption = ("Per-layer human resemblance (% of the group's ceiling) of every run against relative depth "
               f"(layer / (layers - 1)), {' and '.join(groups)} on one y scale; colour: the run; dashed: 100 % (the "
               "ceiling); circles: each run's best layer.")
    if banded and not unbanded:
        caption += " Bands: 95% bootstrap intervals over subjects."
    elif banded:
        caption += (" Bands: 95% bootstrap intervals over subjects; no band for "
                    f"{_names(unbanded)} (logged before per-layer bands, pct_low/pct_high).")
    else:
        caption += " No bands: the runs were logged before per-layer bands (pct_low/pct_high)."
    if single:
        caption += f" Diamonds at depth {ONE_VALUE_DEPTH:g}: {_names(single)}, a measure without layers (one value)."
    if reported:
        caption += (f" Stars at the right edge: the paper's maximum layerwise % (Table 1, true counts, attention weights on "
                    "plain input) for "
                    f"{_names(reported)}.")
    return Plot("6", "layerwise_pct.png", fig, caption)


def paper_resemblance(run, group: str) -> float | None:
    """The paper's maximum layerwise % (Table 1) for a plain run of the attention weights of a model it reports, else
    None."""
    plain = run.prefix == "none" and run.measure == "weights"
    reported = paper.RESEMBLANCE.get((run.model, run.size, run.tuning)) if plain else None
    return reported[1 + ("L1", "L2").index(group)] if reported and group in ("L1", "L2") else None


def l1_vs_l2_plot(runs, group_tests: pd.DataFrame | None, colors: dict[str, str]) -> Plot:
    """Each run's L1 and L2 resemblance with their intervals side by side, the t-test's Bonferroni p above them,
    the verdict against the paper as the title."""
    if group_tests is None or group_tests.empty:
        return Plot("l1_vs_l2", "l1_vs_l2.png", None, "needs L1 and L2 readers")
    by_label = {r.label: r for r in runs}
    tests = group_tests[group_tests.run.isin(by_label)]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(tests) + 3), 4.4), constrained_layout=True)
    without = []
    for i, row in enumerate(tests.itertuples()):
        run, top = by_label[row.run], []
        for g, dx in (("L1", -0.15), ("L2", 0.15)):
            value = run.metrics[metrics.resemblance(g)]
            low, high = run.metrics.get(metrics.resemblance_low(g)), run.metrics.get(metrics.resemblance_high(g))
            if low is None or high is None:
                without.append(run.label)
                low = high = None
            _one_value(ax, i + dx, value, low, high, colors.get(run.label), marker=_marker(g))
            top.append(high if high is not None else value)
        ax.annotate(f"p = {row.p_bonf:.2g}{' *' if row.significant else ''}", (i, max(top)), xytext=(0, 6),
                    textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(np.arange(len(tests)), list(tests.run), rotation=20, ha="right", fontsize=7)
    ax.set_xlim(-0.6, len(tests) - 0.4)
    ax.margins(y=0.12)
    width = fig.get_size_inches()[0]
    ax.set(ylabel="human resemblance (% of ceiling), best layer")
    ax.set_title(textwrap.fill(verdict.group_verdict(tests), int(width * 13)), fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(handles=[plt.Line2D([], [], marker=_marker(g), linestyle="", color="black", label=g)
                       for g in ("L1", "L2")], fontsize=7)
    caption = ("Each run's L1 (circle) and L2 (square) resemblance (% of the group's ceiling at the group's best layer), "
               "side by side in the run's colour")
    caption += (", error bars: 95% bootstrap intervals over subjects" if not without else
                f", error bars: 95% bootstrap intervals over subjects (none for {_names(without)}: logged before "
                "intervals)" if len(set(without)) < len(tests) else ", no intervals (the runs were logged before them)")
    caption += (f"; above each run: the Bonferroni p of the independent t-test, * significant (tables/group_tests.csv)."
                f" {verdict.PAPER_CLAIM} Here: {verdict.group_verdict(tests)}")
    return Plot("l1_vs_l2", "l1_vs_l2.png", fig, caption)


def _models_with_measures(runs) -> list[list]:
    """The runs of each model (model, size, tuning, prefix, source, revision) with two measures or more, in the
    documented order of the measures."""
    models = {}
    for run in runs:
        models.setdefault((run.model, run.size, run.tuning, run.prefix, run.source, run.training_step), []).append(run)
    rank = {m: k for k, m in enumerate(MEASURES)}
    return [sorted(found, key=lambda r: rank.get(r.measure, len(rank))) for found in models.values()
            if len({r.measure for r in found}) >= 2]


def measure_layers_plot(runs, layer_tests: pd.DataFrame | None, groups: list[str]) -> Plot:
    """Per model with two measures or more: each measure's per-layer % of ceiling (the measure's colour), the layers
    where it differs significantly from the weights (paired tests of the ``measure`` pairs) marked; a measure without
    layers as one marker after the last layer."""
    models = _models_with_measures(runs)
    if not models:
        return Plot("measure_tests", "measure_layers.png", None,
                    "needs runs of two or more attention measures of one model (-m measure=weights,norm,...)")
    tests = layer_tests if layer_tests is not None and "direction" in layer_tests else pd.DataFrame(
        columns=["kind", "run_a", "run_b", "group", "layer", "direction"])
    tests = tests[tests.kind == "measure"]
    fig, axes = _layer_axes(groups, rows=len(models))
    counts, single, untested = [], [], []
    for row, found in zip(axes, models):
        depth = max(r.depth for r in found)
        for ax, g in zip(row, groups):
            for run in found:
                values, low, high = pct_curve(run, g)
                color = measure_color(run.measure)
                if len(values) == 1:
                    single.append(run.label)
                    _one_value(ax, depth, values[0], None if low is None else low[0],
                               None if high is None else high[0], color, f"{run.measure}: one value, no layers")
                    continue
                x = np.arange(len(values))
                ax.plot(x, values, "-", color=color, label=run.measure)
                if low is not None:
                    ax.fill_between(x, low, high, color=color, alpha=0.15, linewidth=0)
                if run.measure == "weights":
                    continue
                part = tests[(tests.run_b == run.label) & (tests.group == g)]
                if part.empty:
                    untested.append(run.label)
                    continue
                for direction, marker in (("higher", "^"), ("lower", "v")):
                    layers = part.loc[part.direction == direction, "layer"].astype(int).to_numpy()
                    ax.plot(layers, values[layers], marker, color=color, markeredgecolor="black", markersize=7,
                            linestyle="")
                counts.append(f"{run.measure} {g}: {(part.direction == 'higher').sum()} higher, "
                              f"{(part.direction == 'lower').sum()} lower of {len(part)}")
            ticks = list(range(0, depth, max(1, depth // 8)))
            labels = [str(t) for t in ticks]
            if any(r.depth == 1 for r in found):
                ticks, labels = ticks + [depth], labels + ["one value"]
            ax.set_xticks(ticks, labels, fontsize=7)
            ax.set(xlabel="layer (0-based)", ylabel="resemblance (% of ceiling)", title=f"{found[0].label}: {g}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    caption = ("Per-layer human resemblance (% of ceiling) of each attention measure of one model (colour: the "
               "measure, the same in every figure), layer by layer")
    caption += ("; triangles: layers where the measure's R2 is significantly higher (up) or lower (down) than the "
                "weights' (paired t-test over subjects, Bonferroni over layers, tables/layer_tests.csv): "
                + "; ".join(counts) + "." if counts else
                "; no paired per-layer test: no other measure of equal depth beside the weights.")
    if untested:
        caption += f" Not tested against the weights: {_names(untested)} (no weights run of equal depth)."
    if single:
        caption += f" One marker after the last layer: {_names(single)}, a measure without layers (one value)."
    return Plot("measure_tests", "measure_layers.png", fig, caption)


def depth_curves_plot(paper_no: str, name: str, curves: list[tuple[str, np.ndarray]], groups: list[str],
                      ylabel: str, title: str, what: str, missing: str, colors: dict[str, str]) -> Plot:
    """``curves``: (run label, (groups, layers) array or (layers,) array shared by all groups) against relative
    depth, colour: the run; a one-layer curve as a marker."""
    if not curves:
        return Plot(paper_no, name, None, missing)
    fig, axes = _layer_axes(groups, width=5)
    single = []
    for g, ax in enumerate(axes[0]):
        for label, values in curves:
            line = values[g] if values.ndim == 2 else values
            if len(line) == 1:
                single.append(label)
                _one_value(ax, ONE_VALUE_DEPTH, line[0], None, None, colors.get(label), label)
            else:
                ax.plot(relative_depth(len(line)), line, "-", color=colors.get(label), label=label)
        ax.set(xlabel="relative depth: layer / (layers - 1)", ylabel=ylabel,
               title=f"{title}: {groups[g]}" if len(groups) > 1 else title)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    caption = f"{what} Against relative depth (layer / (layers - 1)); colour: the run."
    if single:
        caption += f" Diamonds at depth {ONE_VALUE_DEPTH:g}: {_names(single)}, a measure without layers (one value)."
    return Plot(paper_no, name, fig, caption)


def _training(runs, groups: list[str]) -> plt.Figure | None:
    """Resemblance against training step, one line per model and prefix (its colour) and group (its marker)."""
    series = {}
    for r in runs:
        if r.training_step is not None:
            series.setdefault(f"{r.model}-{r.size}-{r.prefix}", []).append(r)
    if not any(len(points) > 1 for points in series.values()):
        return None
    colors = colors_of(series)
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    for name, points in series.items():
        points.sort(key=lambda r: r.training_step)
        for g in groups:
            ax.plot([r.training_step for r in points], [r.metrics[metrics.resemblance(g)] for r in points],
                    linestyle="-" if g == groups[0] else "--", marker=_marker(g), color=colors[name],
                    label=f"{name} {g}")
    ax.set_xscale("symlog", linthresh=1000)
    ax.set(xlabel="training step (checkpoint revision)", ylabel="human resemblance (%)",
           title="Human resemblance over training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def _measure_panels(table: pd.DataFrame, groups: list[str]) -> list[tuple[str, str, str, str | None]]:
    """``[(column, layer column, label, ceiling column)]`` of the measures figure: saccade resemblance and word
    importance per group where the runs have them (none with fewer than 2 measures)."""
    if table.empty or table.measure.nunique() < 2:
        return []
    panels = [(f"resemblance_{g}", f"best_layer_{g}", f"saccade resemblance {g} (%)", None) for g in groups
              if table[f"resemblance_{g}"].notna().any()]
    return panels + [(f"wi_best_rho_{g}", f"wi_best_layer_{g}", f"word importance {g} (rho)", f"wi_ceiling_{g}")
                     for g in groups if table[f"wi_best_rho_{g}"].notna().any()]


def measures_caption(table: pd.DataFrame, groups: list[str]) -> str:
    """The measures figure's caption: the panels drawn, the ceiling dash only where word importance is."""
    panels = _measure_panels(table, groups)
    word = any(ceiling for _, _, _, ceiling in panels)
    return ("Best-layer score of each attention measure (docs/method.md, 'Attention measures') per model, each measure "
            "in its colour, its best layer (L) on each bar: " + ", ".join(label for _, _, label, _ in panels)
            + (" (black dash: the word-importance ceiling)." if word else "."))


def _measures(table: pd.DataFrame, groups: list[str]) -> plt.Figure | None:
    """Best-layer score of every attention measure per model (each measure in its fixed colour): saccade resemblance
    (% of ceiling) and word importance (Spearman rho, its ceiling as a dash), one panel each where the runs have
    them."""
    panels = _measure_panels(table, groups)
    if not panels:
        return None
    models, measures = list(dict.fromkeys(table.model)), list(dict.fromkeys(table.measure))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels) + 1.5, 4), constrained_layout=True,
                             squeeze=False)
    width = 0.8 / len(measures)
    for ax, (column, layer, label, ceiling) in zip(axes[0], panels):
        for i, measure in enumerate(measures):
            part = table[table.measure == measure].set_index("model").reindex(models)
            bars = ax.bar(np.arange(len(models)) + i * width, part[column], width, label=measure,
                          color=measure_color(measure))
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


def _quarter_bars(table: pd.DataFrame, kind: str, title: str, colors: dict[str, str]) -> plt.Figure | None:
    rows = table[table.kind == kind]
    if rows.empty:
        return None
    pairs = list(rows.groupby(["run_a", "run_b"], sort=False))
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    width = 0.8 / len(pairs)
    for i, ((a, b), part) in enumerate(pairs):
        ax.bar(part["quarter"] + i * width, part["relative_change_pct"], width, label=f"{b} vs {a}",
               color=colors.get(b))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set(xlabel="layer quarter", ylabel="trivial-pattern reliance change (%)", title=title,
           xticks=np.arange(4) + 0.4 - width / 2, xticklabels=["Q1", "Q2", "Q3", "Q4"])
    ax.legend(fontsize=7)
    return fig


def comparison_plots(runs, pairs, tables: ComparisonTables, groups: list[str], metric: str) -> list[Plot]:
    """The paper's Figures 2-9, 11, 13, 15, 16 and the figures beside them for the runs present, unsaved; each
    caption names what was drawn, each figure not drawn says why. One colour per run (:func:`colors_of` over all the
    runs) and per measure (:func:`measure_color`) in every one."""
    divergence = tables.divergence
    plain = [r for r in runs if r.prefix == "none"]
    pretrained = [r for r in plain if r.stage == "pretrained"]
    correlations = tables.correlations
    colors = colors_of(r.label for r in runs)

    def fit_of(x: str, y: str) -> dict:
        rows = correlations[(correlations.x == x) & (correlations.y == y)]
        return {row.group: dict(slope=row.slope, intercept=row.intercept, r=row.r) for row in rows.itertuples()}

    def plot(paper_no: str, name: str, fig, caption: str, missing: str) -> Plot:
        return Plot(paper_no, name, fig, caption if fig is not None else missing)

    plots = [
        divergence_plot("2", "fig2_scaling_divergence.png", divergence, {"scaling": "between sizes of one model"},
                        metric, f"Scaling: {metric} divergence", "needs two sizes of one model with the same tuning "
                        "and prefix", colors),
        divergence_plot("3", "fig3_tuning_divergence.png", divergence,
                        {"tuning": "between a pretrained model and its instruction-tuned versions"}, metric,
                        f"Instruction tuning: {metric} divergence", "needs a pretrained run and an instruction-tuned "
                        "run of the same family and size", colors),
        divergence_plot("4", "fig4_instruction_divergence.png", divergence,
                        {"instruction": "between plain and instruction-prefixed input of one model (solid)",
                         "noise": "between plain and noise-prefixed input, the control (dashed)"}, metric,
                        f"Instruction sensitivity: {metric}", "needs a plain run and a prefixed run of one model",
                        colors),
        scatter_plot("5", "fig5_loss_vs_resemblance.png",
                     [(r.label, r.metrics[metrics.NTP_LOSS_PER_LEN], r.metrics[metrics.resemblance(g)], g)
                      for r in plain if metrics.NTP_LOSS_PER_LEN in r.metrics for g in groups],
                     "NTP loss per token / length", "human resemblance (%)", "Loss vs human resemblance",
                     "Per-token NTP loss (paper scale) against the maximum layerwise resemblance, each plain run and "
                     "group (Pearson r in tables/correlations.csv).",
                     "plain runs of models run by attnhuman (released attention has no loss)", colors,
                     x_name="losses"),
        layerwise_pct_plot(runs, groups, colors),
        scatter_plot("7", "fig7_scaling_resemblance.png",
                     [(r.label, r.parameters, r.metrics[metrics.resemblance(g)], g) for r in pretrained
                      for g in groups if metrics.resemblance(g) in r.metrics],
                     "parameters (log scale)", "human resemblance (%)", "Scaling and human resemblance",
                     "Maximum layerwise resemblance of the plain pretrained runs against model size.",
                     "plain runs of pretrained models", colors, logx=True,
                     fit=fit_of("log10_parameters", "resemblance"), x_name="sizes"),
        l1_vs_l2_plot(runs, tables.group_tests, colors),
    ]
    trivial_diff = tables.trivial_differences
    plots += [
        plot("8", "fig8_trivial_scaling.png",
             _quarter_bars(trivial_diff, "scaling", "Trivial-pattern reliance: scaling", colors),
             "Relative change of trivial-pattern reliance per layer quarter from the smaller to the larger model "
             "(colour: the larger run).", "needs two sizes of one model"),
        plot("9", "fig9_trivial_tuning.png",
             _quarter_bars(trivial_diff, "tuning", "Trivial-pattern reliance: tuning", colors),
             "Relative change of trivial-pattern reliance per layer quarter from the pretrained to the tuned model "
             "(colour: the tuned run).", "needs a pretrained and an instruction-tuned run of one family and size"),
        depth_curves_plot("11", "fig11_trivial_layerwise.png",
                          [(r.label, c) for r in plain if (c := r.curve(metrics.TRIVIAL_R2)) is not None], ["all"],
                          "trivial-pattern R2 (mean over heads)", "Layerwise trivial-pattern reliance",
                          "Mean R2 over heads of each layer's attention regressed on the start/previous/self "
                          "patterns, each plain run.", "needs runs that logged trivial_r2", colors),
    ]

    def fmri_key(g: str) -> str:
        return metrics.fmri_resemblance(FMRI_REGION, g)

    fmri_curves = []
    for r in pretrained:
        curves = [r.curve(metrics.fmri_r2(FMRI_REGION, g)) for g in groups]
        if all(c is not None for c in curves):
            fmri_curves.append((r.label, np.stack([100 * c / r.metrics[metrics.fmri_ceiling(FMRI_REGION, g)]
                                                   for c, g in zip(curves, groups)])))
    plots += [
        scatter_plot("13", "fig13_loss_vs_fmri.png",
                     [(r.label, r.metrics[metrics.NTP_LOSS_PER_LEN], r.metrics[fmri_key(g)], g) for r in plain
                      for g in groups if metrics.NTP_LOSS_PER_LEN in r.metrics and fmri_key(g) in r.metrics],
                     "NTP loss per token / length", f"fMRI resemblance, {FMRI_REGION} (%)", "Loss vs fMRI resemblance",
                     f"Per-token NTP loss against the maximum layerwise fMRI resemblance ({FMRI_REGION} region).",
                     "plain runs with a loss and fMRI metrics", colors, x_name="losses"),
        depth_curves_plot("15", "fig15_fmri_layerwise.png", fmri_curves, groups, "fMRI resemblance (% of ceiling)",
                          f"Layerwise fMRI resemblance ({FMRI_REGION})",
                          f"Layerwise fMRI resemblance ({FMRI_REGION} region) of the pretrained models on plain input.",
                          "needs plain runs of pretrained models with fMRI metrics", colors),
        scatter_plot("16", "fig16_fmri_scaling.png",
                     [(r.label, r.parameters, r.metrics[fmri_key(g)], g) for r in pretrained for g in groups
                      if fmri_key(g) in r.metrics], "parameters (log scale)", "fMRI resemblance (%)",
                     "Scaling and fMRI resemblance",
                     f"Maximum layerwise fMRI resemblance ({FMRI_REGION} region) against model size.",
                     "plain runs of pretrained models with fMRI metrics", colors, logx=True,
                     fit=fit_of("log10_parameters", "fmri_resemblance"), x_name="sizes"),
        plot("measures", "measures.png", _measures(tables.measures, groups), measures_caption(tables.measures, groups),
             "needs runs of two or more attention measures (-m measure=weights,norm,...)"),
        measure_layers_plot(runs, tables.layer_tests, groups),
        plot("steps", "training_steps.png", _training(runs, groups),
             "Maximum layerwise resemblance against the training step of each checkpoint revision (model=hub "
             "model.revision=stepN), one colour per model and prefix, one marker per group.",
             "needs two or more runs of one model at different training steps (stepN revisions)"),
    ]
    bias = tables.head_count_bias
    plots.append(plot("bias", "head_count_bias.png", head_count_bias(bias) if bias is not None and not bias.empty
                      else None,
                      "Mean R2 against the number of heads used as predictors: random attention and random subsets of "
                      "a real layer's heads, in-sample (solid) and cross-validated by sentence (dashed).",
                      "needs human cohorts"))
    return plots


def save_plots(plots: list[Plot], folder: Path) -> list[FigureNote]:
    """Each drawn plot as ``folder/<name>`` (closed), its note with the file; a plot not drawn: its reason."""
    return [FigureNote(p.paper, _save(p.figure, folder, p.name) if p.figure is not None else None, p.caption)
            for p in plots]


def comparison_figures(runs, pairs, tables: ComparisonTables, groups: list[str], metric: str,
                       folder: Path) -> list[FigureNote]:
    """:func:`comparison_plots` saved in ``folder``."""
    return save_plots(comparison_plots(runs, pairs, tables, groups, metric), folder)


def measures_figures(table: pd.DataFrame, groups: list[str], folder: Path) -> list[FigureNote]:
    """The measures figure alone (comparisons of data without saccades)."""
    fig = _measures(table, groups)
    return [FigureNote("measures", _save(fig, folder, "measures.png") if fig is not None else None,
                       measures_caption(table, groups) if fig is not None
                       else "needs runs of two or more attention measures")]


FIT_SIZES = 3             # distinct x values a scatter needs to be drawn, and a panel its least-squares line
ATTENTION_METRICS = ((metrics.resemblance, "saccade resemblance (% of ceiling)"),
                     (metrics.wi_normalised, "word importance (% of ceiling)"),
                     (metrics.wi_best_rho, "word importance (best-layer rho)"))


def predictive_figures(runs, table: pd.DataFrame | None, folder: Path) -> list[FigureNote]:
    """Predictive power against model size, and attention resemblance against predictive power (``table``: the
    comparison's ``predictive_power``; None, no run has a pp_* metric: no figure, no note)."""
    if table is None:
        return []
    colors = colors_of(r.label for r in runs)
    return [_scaling_note(table, folder, colors), _attention_note(runs, table, folder, colors)]


def _scaling_note(table: pd.DataFrame, folder: Path, colors: dict[str, str]) -> FigureNote:
    """``predictive_power_scaling.png``: the panels with runs of 3 distinct sizes or more; the caption names the
    panels with a line."""
    cells = table[table.dll_cv.notna()].groupby(["predictor", "measure", "group"], sort=False)
    panels = [(cell, part) for cell, part in cells if part.parameters.nunique() >= FIT_SIZES]
    if not panels:
        most = max((part.parameters.nunique() for _, part in cells), default=0)
        return FigureNote("power_scaling", None, f"needs runs of at least {FIT_SIZES} distinct sizes with a held-out "
                          "DeltaLL (pp_dll_cv_*) of one predictor, reading measure and group; the most present is "
                          f"{most}")
    fitted = [f"{', '.join(cell)}: context {context}" for cell, part in panels for context, runs in _contexts(part)
              if runs.parameters.nunique() >= FIT_SIZES]
    line = (f" A least-squares line of DeltaLL on log10(parameters) over the runs of one context with at least "
            f"{FIT_SIZES} distinct sizes ({'; '.join(fitted)})." if fitted else
            f" No line or fit: no context has runs of {FIT_SIZES} distinct sizes in a panel.")
    return FigureNote(
        "power_scaling", _save(_power_scaling(panels, colors), folder, "predictive_power_scaling.png"),
        "Held-out DeltaLL (nats per word; error bars: its 95% bootstrap interval over units) against parameters "
        f"(log scale), one point per run, one panel per predictor, reading measure and group with runs of at least "
        f"{FIT_SIZES} distinct sizes; filled markers: pretrained (base) models, open: instruction-tuned; colour: the "
        "run (as in every figure of the comparison); shape: what the "
        f"predictions read (circle: each unit alone, square: after its text, diamond: an imported table's own).{line}")


def _attention_note(runs, table: pd.DataFrame, folder: Path, colors: dict[str, str]) -> FigureNote:
    """``attention_vs_prediction.png``; the caption names each panel's two metrics."""
    panels = _attention_panels(runs, table)
    if not panels:
        return FigureNote(
            "attention_prediction", None, f"needs runs with {FIT_SIZES} distinct values of a held-out surprisal DeltaLL "
            "(pp_dll_cv_surprisal_<measure>_<group>) and an attention resemblance of that group (resemblance_<group>, "
            "wi_normalised_<group> or wi_best_rho_<group>)")
    return FigureNote(
        "attention_prediction", _save(_attention_prediction(panels, colors), folder, "attention_vs_prediction.png"),
        "Per run (labelled, in its colour), attention resemblance against predictive power: "
        + "; ".join(f"{y} against {x}" for _, x, y, _, _ in panels) + ". No line or fit.")


def _power_scaling(panels: list, colors: dict[str, str]) -> plt.Figure:
    """One panel per (predictor, measure, group): each run's held-out DeltaLL and interval against parameters, in the
    run's colour."""
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.5 * columns + 2, 4 * rows), constrained_layout=True,
                             squeeze=False)
    for ax, ((predictor, measure, group), part) in zip(axes.flat, panels):
        for row in part.itertuples():
            color = colors.get(row.run, "gray")
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
    DeltaLL and the first attention metric of :data:`ATTENTION_METRICS` that runs with :data:`FIT_SIZES` distinct
    DeltaLL values have with it."""
    panels = []
    for measure, group in table.loc[table.predictor == "surprisal", ["measure", "group"]].drop_duplicates().values:
        x = metrics.pp_dll_cv("surprisal", measure, group)
        for name, label in ATTENTION_METRICS:
            points = [(r.label, r.metrics[x], r.metrics[name(group)]) for r in runs
                      if x in r.metrics and name(group) in r.metrics]
            if len({px for _, px, _ in points}) >= FIT_SIZES:
                panels.append((f"{measure}, {group}", x, name(group), label, points))
                break
    return panels


def _attention_prediction(panels: list, colors: dict[str, str]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), constrained_layout=True, squeeze=False)
    for ax, (title, x, y, label, points) in zip(axes[0], panels):
        for run, px, py in points:
            ax.plot(px, py, "o", color=colors.get(run, "tab:blue"))
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
