"""The comparison's figures (the paper's and those answering one question each), drawn from the runs present: each
caption names only what is drawn, a figure that cannot be drawn says why."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from attnhuman import metrics
from attnhuman.attention.extraction.measures import MEASURES
from attnhuman.comparison import paper, verdict
from attnhuman.comparison.paper import FMRI_REGION
from attnhuman.reporting.plotting import (
    GROUP_MARKERS,
    MIN_X,
    ONE_VALUE_DEPTH,
    FigureNote,
    colors_of,
    measure_color,
    plt,
    save_as,
)

if TYPE_CHECKING:
    from attnhuman.comparison.tables import ComparisonTables


@dataclass
class Plot:
    """A comparison figure before it is saved: ``figure`` (None when it is not drawn), its file name, and its caption
    built from what was drawn (or, not drawn, why: a phrase that follows "it")."""

    paper: str
    name: str
    figure: plt.Figure | None
    caption: str



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
    return [FigureNote(p.paper, save_as(p.figure, folder, p.name) if p.figure is not None else None, p.caption)
            for p in plots]


def comparison_figures(runs, pairs, tables: ComparisonTables, groups: list[str], metric: str,
                       folder: Path) -> list[FigureNote]:
    """:func:`comparison_plots` saved in ``folder``."""
    return save_plots(comparison_plots(runs, pairs, tables, groups, metric), folder)


def measures_figures(table: pd.DataFrame, groups: list[str], folder: Path) -> list[FigureNote]:
    """The measures figure alone (comparisons of data without saccades)."""
    fig = _measures(table, groups)
    return [FigureNote("measures", save_as(fig, folder, "measures.png") if fig is not None else None,
                       measures_caption(table, groups) if fig is not None
                       else "needs runs of two or more attention measures")]


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
