"""The comparison's predictive-power figures: held-out DeltaLL against model size, and attention resemblance against
predictive power; each drawn only from :data:`MIN_X` distinct x values, else a note says why."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from attnhuman import metrics
from attnhuman.reporting.formats import parameters
from attnhuman.reporting.plotting import MIN_X, FigureNote, colors_of, plt, save_as

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
    panels = [(cell, part) for cell, part in cells if part.parameters.nunique() >= MIN_X]
    if not panels:
        most = max((part.parameters.nunique() for _, part in cells), default=0)
        return FigureNote("power_scaling", None, f"needs runs of at least {MIN_X} distinct sizes with a held-out "
                          "DeltaLL (pp_dll_cv_*) of one predictor, reading measure and group; the most present is "
                          f"{most}")
    fitted = [f"{', '.join(cell)}: context {context}" for cell, part in panels for context, runs in _contexts(part)
              if runs.parameters.nunique() >= MIN_X]
    line = (f" A least-squares line of DeltaLL on log10(parameters) over the runs of one context with at least "
            f"{MIN_X} distinct sizes ({'; '.join(fitted)})." if fitted else
            f" No line or fit: no context has runs of {MIN_X} distinct sizes in a panel.")
    return FigureNote(
        "power_scaling", save_as(_power_scaling(panels, colors), folder, "predictive_power_scaling.png"),
        "Held-out DeltaLL (nats per word; error bars: its 95% bootstrap interval over units) against parameters "
        f"(log scale), one point per run, one panel per predictor, reading measure and group with runs of at least "
        f"{MIN_X} distinct sizes; filled markers: pretrained (base) models, open: instruction-tuned; colour: the "
        "run (as in every figure of the comparison); shape: what the "
        f"predictions read (circle: each unit alone, square: after its text, diamond: an imported table's own).{line}")


def _attention_note(runs, table: pd.DataFrame, folder: Path, colors: dict[str, str]) -> FigureNote:
    """``attention_vs_prediction.png``; the caption names each panel's two metrics."""
    panels = _attention_panels(runs, table)
    if not panels:
        return FigureNote(
            "attention_prediction", None, f"needs runs with {MIN_X} distinct values of a held-out surprisal DeltaLL "
            "(pp_dll_cv_surprisal_<measure>_<group>) and an attention resemblance of that group (resemblance_<group>, "
            "wi_normalised_<group> or wi_best_rho_<group>)")
    return FigureNote(
        "attention_prediction", save_as(_attention_prediction(panels, colors), folder, "attention_vs_prediction.png"),
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
            if runs.parameters.nunique() >= MIN_X:
                slope, intercept = np.polyfit(np.log10(runs.parameters), runs.dll_cv, 1)
                xs = np.array([runs.parameters.min(), runs.parameters.max()], dtype=float)
                ax.plot(xs, intercept + slope * np.log10(xs), "-", color="black", linewidth=1,
                        label=f"least squares, context {context}: {slope:.4f} per decade")
                ax.legend(fontsize=7, loc="lower right")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(part.parameters)), [parameters(p) for p in sorted(set(part.parameters))], rotation=60,
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


def _attention_panels(runs, table: pd.DataFrame) -> list[tuple[str, str, str, str, list]]:
    """``[(title, x metric, y metric, y label, [(run, x, y)])]``: per reading measure and group, the held-out surprisal
    DeltaLL and the first attention metric of :data:`ATTENTION_METRICS` that runs with :data:`MIN_X` distinct
    DeltaLL values have with it."""
    panels = []
    for measure, group in table.loc[table.predictor == "surprisal", ["measure", "group"]].drop_duplicates().values:
        x = metrics.pp_dll_cv("surprisal", measure, group)
        for name, label in ATTENTION_METRICS:
            points = [(r.label, r.metrics[x], r.metrics[name(group)]) for r in runs
                      if x in r.metrics and name(group) in r.metrics]
            if len({px for _, px, _ in points}) >= MIN_X:
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
