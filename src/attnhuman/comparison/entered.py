"""What entered each compared run's analyses, and what was left out with its reasons: the comparison's
``tables/entered.csv``, from each run's metrics and its ``reports/exclusions.csv``."""
from __future__ import annotations

import pandas as pd

from attnhuman import metrics
from attnhuman.attention.predictors import PREDICTORS
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


def _reasons(rows: pd.DataFrame, strip: str = "") -> str:
    counts = rows.groupby(rows.reason.str.removeprefix(strip), sort=False)["count"].sum().sort_values(ascending=False)
    more = len(counts) - REASONS_SHOWN
    return "; ".join(f"{reason} ({n})" for reason, n in counts.head(REASONS_SHOWN).items()) + \
        (f"; {more} more reasons" if more > 0 else "")


def entered_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run, group and level (subject, sentence, unit ... as the data left them out; ``word``: the words
    of the first predictive-power analysis, every analysis' own in the run's ``pp_n_words_*`` and
    ``pp_n_excluded_*``): ``entered`` (used by the analyses, ``-`` where the run does not say), ``left_out`` and its
    most frequent ``reasons`` with their counts."""
    rows = []
    for run in runs:
        excluded = _exclusions(run)
        predictive = excluded.reason.str.startswith("predictive power of ")
        for group in groups_of(run.metrics):
            part = excluded[(excluded.group == group) & ~predictive]
            levels = [lv for lv in ("subject", "sentence", "unit") if _entered(run, lv, group) is not None]
            levels += [lv for lv in dict.fromkeys(part.level) if lv not in levels]
            for level in levels:
                rows_of = part[part.level == level]
                rows.append(dict(run=run.label, group=group, level=level, entered=_entered(run, level, group),
                                 left_out=int(rows_of["count"].sum()), reasons=_reasons(rows_of)))
            cells = metrics.predictive_cells(run.metrics, PREDICTORS, [group])
            if cells:
                name, measure, _ = cells[0]
                head = f"predictive power of {name} for {measure}: "
                rows_of = excluded[(excluded.group == group) & (excluded.level == "word")
                                   & excluded.reason.str.startswith(head)]
                rows.append(dict(run=run.label, group=group, level=f"word ({name}, {measure})",
                                 entered=int(run.metrics[metrics.pp_n_words(name, measure, group)]),
                                 left_out=int(rows_of["count"].sum()), reasons=_reasons(rows_of, head)))
    return pd.DataFrame(rows, columns=COLUMNS)
