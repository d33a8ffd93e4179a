"""Simulated readers held against real ones: the statistics the analyses depend on, side by side."""
from __future__ import annotations

import numpy as np
import pandas as pd

from attnhuman.analysis.least_squares import ceiling_r2
from attnhuman.analysis.trivial import human_reliance
from attnhuman.humans.cohort import Cohort


def cohort_summary(cohort: Cohort, n_words: np.ndarray) -> dict[str, float]:
    """Ceiling (mean R2 of each subject on the group mean), mean trivial-pattern R2, cell density."""
    return {"n_subjects": len(cohort.subjects), "ceiling": float(ceiling_r2(cohort.mean, cohort.targets).mean()),
            "trivial_r2": float(np.nanmean(human_reliance(cohort, n_words))),
            "density": float((cohort.targets > 0).mean())}


def calibration_table(real: dict[str, Cohort], real_n_words: np.ndarray, simulated: dict[str, Cohort],
                      sim_n_words: np.ndarray) -> pd.DataFrame:
    """Real vs simulated, side by side: rows ``(group, statistic)``, columns real / simulated."""
    rows = []
    for group in [g for g in real if g in simulated]:
        a, b = cohort_summary(real[group], real_n_words), cohort_summary(simulated[group], sim_n_words)
        rows += [{"group": group, "statistic": k, "real": a[k], "simulated": b[k]} for k in a]
    return pd.DataFrame(rows).set_index(["group", "statistic"])
