"""Cohorts: one group's subjects on the corpus' cell index, and the report of everything left out."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from attnhuman.shapes import Cells, CellsSubjects


def subject_id(group: str, index: int) -> str:
    """``L1_S01`` for subject index 0 of group L1."""
    return f"{group}_S{index + 1:02d}"


@dataclass(frozen=True)
class Exclusion:
    group: str
    level: str    # subject | sentence | region
    item: str
    action: str   # excluded (left out of the analysis) | ignored (other data of the subject used) | kept
    reason: str
    count: int = 1    # how many of ``level`` the entry stands for (``12 words``)


@dataclass
class ExclusionReport:
    """Everything the data layer left out, with the reason."""

    entries: list[Exclusion] = field(default_factory=list)

    def add(self, group: str, level: str, item: str, reason: str, action: str = "excluded", count: int = 1) -> None:
        self.entries.append(Exclusion(group, level, item, action, reason, count))

    def select(self, group: str | None = None, level: str | None = None) -> list[Exclusion]:
        return [e for e in self.entries
                if (group is None or e.group == group) and (level is None or e.level == level)]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([e.__dict__ for e in self.entries],
                            columns=["group", "level", "item", "action", "reason", "count"])

    def counts(self) -> dict[tuple[str, str], int]:
        """``{(level, group): how many}`` the data and the analyses left out (action ``excluded``)."""
        out: dict[tuple[str, str], int] = {}
        for e in self.entries:
            if e.action == "excluded":
                out[(e.level, e.group)] = out.get((e.level, e.group), 0) + e.count
        return out

    def summary(self) -> str:
        """One line: how many of each level each group left out, e.g. ``L1: 1 subject, 1 sentence; L2: 2 sentences``."""
        if not self.entries:
            return "nothing excluded"
        parts = []
        for group in dict.fromkeys(e.group for e in self.entries):
            levels = {}
            for e in self.select(group):
                levels[e.level] = levels.get(e.level, 0) + 1
            parts.append(f"{group}: " + ", ".join(f"{n} {level.replace('_', ' ')}{'s' if n > 1 else ''}"
                                                   for level, n in levels.items()))
        return "; ".join(parts)

    def format(self) -> str:
        if not self.entries:
            return "Exclusion report: nothing excluded."
        lines = ["Exclusion report:"]
        lines += [f"  [{e.group}] {e.level} {e.item}: {e.action}: {e.reason}" for e in self.entries]
        return "\n".join(lines)


@dataclass
class Cohort:
    """One group's subjects on the kept cells.

    ``targets``: ``(n_kept_cells, n_subjects)`` per-subject saccade values;
    ``mean``: ``(n_kept_cells,)`` the released group mean (the ceiling's predictor).
    """

    group: str
    subjects: list[str]
    keep: np.ndarray        # (n_sentences,) bool
    cell_mask: Cells        # bool
    targets: CellsSubjects  # kept cells only
    mean: Cells             # kept cells only
    subject_data: str       # proxy | counts

    @property
    def n_sentences(self) -> int:
        return int(self.keep.sum())
