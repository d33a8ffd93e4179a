"""Sentences that judge the comparison's tables against the paper's claims (light: the figures of a job import it)."""
from __future__ import annotations

import pandas as pd

PAPER_CLAIM = "The paper finds every model closer to L2 readers."


def group_verdict(table: pd.DataFrame) -> str:
    """One sentence on :func:`attnhuman.comparison.tables.group_test_table` against the paper's claim
    (:data:`PAPER_CLAIM`): in how many runs L2 is above L1, in how many significantly (Bonferroni), and whether that is
    consistent with the paper."""
    if table is None or table.empty:
        return ""
    n = len(table)
    higher = table.mean_y > table.mean_x
    above, below = int((higher & table.significant).sum()), int((~higher & table.significant).sum())
    if higher.all() and above == n:
        verdict = "consistent with the paper"
    elif higher.all():
        verdict = "the paper's direction, but not significant in every run"
    else:
        verdict = "not consistent with the paper"
    against = f", L1 > L2 significant in {below}" if below else ""
    return (f"L2 > L1 in {int(higher.sum())} of {n} run{'s' if n != 1 else ''}, significant (Bonferroni) in "
            f"{above}{against}: {verdict}.")
