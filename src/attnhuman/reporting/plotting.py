"""What every figure shares: matplotlib without a display, saving, and one colour per run, measure and group."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attnhuman.attention.extraction.measures import MEASURES  # noqa: E402

GROUP_COLORS = {"L1": "tab:blue", "L2": "tab:orange"}
MIN_X = 3                 # distinct x values a scatter or a scaling fit needs to be drawn
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


def save_as(fig: plt.Figure, folder: Path, name: str) -> str:
    """Save ``fig`` as ``folder/name``; returns its path in a report, ``figures/<name>``."""
    save(fig, folder / name)
    return f"figures/{name}"
