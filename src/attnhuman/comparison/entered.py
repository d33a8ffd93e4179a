"""What entered each compared run's analyses, and what was left out with its reasons: the comparison's
``tables/entered.csv``, from each run's metrics and its ``reports/exclusions.csv``."""
from __future__ import annotations

import pandas as pd

from attnhuman import metrics
from attnhuman.comparison.runs import Run
from attnhuman.comparison.scores import groups_of

REASONS_SHOWN = 3          # the most frequent reasons per row; the run's exclusions.csv has every entry
COLUMNS = ["run", "group", "level", "entered", "left_out", "reasons"]


def _entered(run: Run, level: str, group: str) -> int | None:
    """How many of ``level`` the run's analyses used for ``group`` (None: the run does not say)."""
    values = run.metrics
    if level == "subject":
        found = values.get(metrics.n_subjects(group), values.get(metrics.wi_n_subjects(group)))
    elif level == "sentence":
        found = values.get(metrics.n_sentences(group))
    elif level == "unit":
        found = values.get(metrics.wi_n_units(group))
    elif level == "word":
        words = [v for k, v in values.items() if k.startswith("pp_n_words_") and k.endswith(f"_{group}")]
        found = max(words) if words else None
    else:
        found = None
    return None if found is None else int(found)


def _exclusions(run: Run) -> pd.DataFrame:
    try:
        table = pd.read_csv(run.fetch(metrics.EXCLUSIONS))
    except Exception:                       # a run made before exclusions were logged
        return pd.DataFrame(columns=["group", "level", "item", "action", "reason", "count"])
    if "count" not in table.columns:
        table["count"] = 1
    return table[table.action == "excluded"]


def entered_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run, group and level (subject, sentence, unit, word ...): ``entered`` (used by the analyses, ``-``
    where the run does not say), ``left_out`` and its most frequent ``reasons`` with their counts."""
    rows = []
    for run in runs:
        excluded = _exclusions(run)
        for group in groups_of(run.metrics):
            part = excluded[excluded.group == group]
            levels = [lv for lv in ("subject", "sentence", "unit", "word") if _entered(run, lv, group) is not None]
            levels += [lv for lv in dict.fromkeys(part.level) if lv not in levels]
            for level in levels:
                rows_of = part[part.level == level]
                counts = rows_of.groupby("reason", sort=False)["count"].sum().sort_values(ascending=False)
                reasons = "; ".join(f"{reason} ({n})" for reason, n in counts.head(REASONS_SHOWN).items())
                more = len(counts) - REASONS_SHOWN
                rows.append(dict(run=run.label, group=group, level=level, entered=_entered(run, level, group),
                                 left_out=int(rows_of["count"].sum()),
                                 reasons=reasons + (f"; {more} more reasons" if more > 0 else "")))
    return pd.DataFrame(rows, columns=COLUMNS)
