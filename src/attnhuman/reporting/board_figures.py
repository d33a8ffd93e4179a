"""The scoreboard's figures: per benchmark column, each run's score as a horizontal bar with its 95 % interval, one
colour per run (:func:`attnhuman.reporting.plotting.colors_of`, as in every figure)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from attnhuman.comparison.scores import PERCENT
from attnhuman.reporting.formats import number
from attnhuman.reporting.plotting import colors_of, plt, save
from attnhuman.reporting.scoreboard import BoardRow, column_of, columns, shown


def file_name(column: str) -> str:
    """``saccade L1`` -> ``saccade_L1.png``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", column).strip("_") + ".png"


def column_bars(rows: list[BoardRow], column: str, colours: list) -> plt.Figure | None:
    """The runs' scores in ``column`` as horizontal bars with interval error bars; None when no run has one."""
    found = [(row, colour, s) for row, colour in zip(rows, colours) for s in row.scores
             if column_of(row, s, rows) == column and shown(s)]
    if not found:
        return None
    unit = found[0][2].unit
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.38 * len(found)), constrained_layout=True)
    y = np.arange(len(found))[::-1]
    values = np.array([s.value for _, _, s in found], dtype=float)
    low = np.array([s.value if s.low is None else s.low for _, _, s in found], dtype=float)
    high = np.array([s.value if s.high is None else s.high for _, _, s in found], dtype=float)
    ax.barh(y, values, color=[c for _, c, _ in found], height=0.7)
    ax.errorbar(values, y, xerr=[np.clip(values - low, 0, None), np.clip(high - values, 0, None)], fmt="none",
                ecolor="black", capsize=3, linewidth=1)
    for yi, (_, _, s) in zip(y, found):
        layer = f" · L{s.layer}" if s.layer is not None else ""
        flags = " ⚑" if s.flags else ""
        ax.annotate(f"{number(s.value, s.unit)}{layer}{flags}", (max(s.value if s.high is None else s.high, 0), yi),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=8,
                    color="firebrick" if s.flags else "black")
    ax.set_yticks(y, [f"{row.name} ({row.corpus})" for row, _, _ in found], fontsize=8)
    if unit == PERCENT:
        ax.axvline(100, color="gray", linestyle="--", linewidth=1)
        ax.annotate("ceiling", (100, 1), xycoords=("data", "axes fraction"), xytext=(2, -2),
                    textcoords="offset points", va="top", fontsize=8, color="gray")
        ax.set_xlabel("% of ceiling, best layer (bars: 95 % interval; ⚑ flagged)")
    else:
        ax.set_xlabel("held-out DeltaLL, nats per word (bars: 95 % interval; ⚑ flagged)")
    ax.axvline(0, color="black", linewidth=0.8)
    right = max(float(np.nanmax(high)), 100.0 if unit == PERCENT else 0.0)      # the ceiling always in view
    ax.set_xlim(min(float(np.nanmin(low)), 0.0), right * 1.3 if right > 0 else 1.0)
    ax.set_title(column)
    ax.grid(axis="x", alpha=0.3)
    return fig


def board_figures(rows: list[BoardRow], folder: Path) -> list[tuple[str, Path]]:
    """``[(column, PNG path)]``: one figure per benchmark column of the scoreboard, written under ``folder``."""
    by_name = colors_of(row.name for row in rows)          # the palette of every comparison figure
    colours = [by_name[row.name] for row in rows]
    out = []
    for column in columns(rows):
        fig = column_bars(rows, column, colours)
        if fig is not None:
            out.append((column, save(fig, Path(folder) / file_name(column))))
    return out
