"""A run's headline scores, one per benchmark of the data at hand, read from its metrics: saccade resemblance, fMRI
resemblance (the paper's region) and word importance as % of their ceilings, predictive power as held-out DeltaLL;
each with its 95% interval, best layer, ceiling and the sanity flags a reader should see beside it.

The scoreboard, the report, a run's description and its ``flags`` tag all read scores from here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from attnhuman import metrics
from attnhuman.attention.predictors import PREDICTORS
from attnhuman.comparison.paper import FMRI_REGION

MIN_SUBJECTS = 10                 # fewer readers than this: the ceiling and the score are noisy
PERCENT = "% of ceiling"
NATS = "nats per word"
# flag -> what it means, as the scoreboard's legend says it
FLAGS = {
    "above_ceiling": "the score is above 100 % of its ceiling: the ceiling is too weak to normalise by",
    "few_subjects": f"fewer than {MIN_SUBJECTS} readers",
    "baseline_above_ceiling": "a trivial baseline (word length, frequency or position) scores above the ceiling",
    "ceiling_includes_zero": "the ceiling's 95 % interval includes 0: the readers do not agree with each other",
}


@dataclass(frozen=True)
class Score:
    """One benchmark of one run. ``benchmark``: saccade | fmri | word_importance | predictive; ``value``, ``low``,
    ``high``: % of ceiling (``unit`` PERCENT) or held-out DeltaLL (``unit`` NATS)."""

    benchmark: str
    group: str
    column: str               # the scoreboard's column: ``saccade L1``, ``predictive RT surprisal L1``
    key: str                  # the short MLflow metric the runs table shows: ``L1 saccade``
    value: float
    low: float | None
    high: float | None
    unit: str
    layer: int | None = None
    ceiling: float | None = None
    ceiling_low: float | None = None
    ceiling_high: float | None = None
    n_subjects: int | None = None
    n_units: int | None = None
    baseline: float | None = None
    flags: tuple[str, ...] = field(default=())


def _get(values: dict, name: str):
    value = values.get(name)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _integer(value) -> int | None:
    return None if value is None else int(value)


def _flags(percent, ceiling, ceiling_low, n_subjects, baseline) -> tuple[str, ...]:
    """The sanity flags of a % of ceiling score (:data:`FLAGS`)."""
    flags = []
    if percent > 100:
        flags.append("above_ceiling")
    if n_subjects is not None and n_subjects < MIN_SUBJECTS:
        flags.append("few_subjects")
    if baseline is not None and ceiling is not None and baseline > ceiling:
        flags.append("baseline_above_ceiling")
    if ceiling_low is not None and ceiling_low <= 0:
        flags.append("ceiling_includes_zero")
    return tuple(flags)


def _percent_score(values: dict, benchmark: str, group: str, column: str, key: str, value: str, low: str, high: str,
                   layer: str, ceiling: str, ceiling_low: str, ceiling_high: str, subjects: str,
                   units: str | None = None, baseline: float | None = None) -> Score | None:
    if _get(values, value) is None:
        return None
    got = {name: _get(values, metric) for name, metric in (("ceiling", ceiling), ("ceiling_low", ceiling_low),
                                                            ("ceiling_high", ceiling_high))}
    n_subjects = _integer(_get(values, subjects))
    return Score(benchmark, group, column, key, values[value], _get(values, low), _get(values, high), PERCENT,
                 _integer(_get(values, layer)), **got, n_subjects=n_subjects,
                 n_units=_integer(_get(values, units)) if units else None, baseline=baseline,
                 flags=_flags(values[value], got["ceiling"], got["ceiling_low"], n_subjects, baseline))


def groups_of(values: dict) -> list[str]:
    """The reader groups a run's metrics name (L1, L2 ...), in first-seen order."""
    found = []
    for name in values:
        for prefix in ("resemblance_", "wi_normalised_", "fmri_resemblance_" + FMRI_REGION + "_"):
            rest = name[len(prefix):] if name.startswith(prefix) else ""
            if rest and "_" not in rest and rest not in found:
                found.append(rest)
    for _, _, group in metrics.predictive_cells(values, PREDICTORS, _pp_groups(values)):
        if group not in found:
            found.append(group)
    return found


def _pp_groups(values: dict) -> list[str]:
    """Groups of the pp_dll_cv_* metrics: their last underscore-separated part."""
    return list(dict.fromkeys(name.rsplit("_", 1)[1] for name in values if name.startswith("pp_dll_cv_")
                              and not name.startswith(("pp_dll_cv_low_", "pp_dll_cv_high_"))))


def scores(values: dict) -> list[Score]:
    """Every headline score in a run's metrics ``values`` (paper-default score options; other options' metrics carry a
    suffix and are not headlines), benchmark by benchmark, group by group."""
    out = []
    groups = groups_of(values)
    for g in groups:
        out.append(_percent_score(values, "saccade", g, f"saccade {g}", f"{g} saccade", metrics.resemblance(g),
                                  metrics.resemblance_low(g), metrics.resemblance_high(g), metrics.best_layer(g),
                                  metrics.ceiling(g), metrics.ceiling_low(g), metrics.ceiling_high(g),
                                  metrics.n_subjects(g)))
    for g in groups:
        r = FMRI_REGION
        out.append(_percent_score(values, "fmri", g, f"fMRI {g}", f"{g} fMRI", metrics.fmri_resemblance(r, g),
                                  metrics.fmri_resemblance_low(r, g), metrics.fmri_resemblance_high(r, g),
                                  metrics.fmri_best_layer(r, g), metrics.fmri_ceiling(r, g),
                                  metrics.fmri_ceiling_low(r, g), metrics.fmri_ceiling_high(r, g),
                                  metrics.fmri_n_subjects(r, g)))
    for g in groups:
        baselines = [v for name in ("length", "frequency", "position")
                     if (v := _get(values, metrics.wi_baseline(name, g))) is not None]
        out.append(_percent_score(values, "word_importance", g, f"word importance {g}", f"{g} words",
                                  metrics.wi_normalised(g), metrics.wi_normalised_low(g), metrics.wi_normalised_high(g),
                                  metrics.wi_best_layer(g), metrics.wi_ceiling(g), metrics.wi_ceiling_low(g),
                                  metrics.wi_ceiling_high(g), metrics.wi_n_subjects(g), metrics.wi_n_units(g),
                                  max(baselines) if baselines else None))
    for predictor, measure, g in metrics.predictive_cells(values, PREDICTORS, groups):
        value = _get(values, metrics.pp_dll_cv(predictor, measure, g))
        if value is None:
            continue
        out.append(Score("predictive", g, f"predictive {measure} {predictor} {g}", f"{g} {measure} {predictor}",
                         value, _get(values, metrics.pp_dll_cv_low(predictor, measure, g)),
                         _get(values, metrics.pp_dll_cv_high(predictor, measure, g)), NATS,
                         _integer(_get(values, metrics.pp_best_layer(predictor, measure, g))),
                         n_units=_integer(_get(values, metrics.pp_n_words(predictor, measure, g)))))
    return [s for s in out if s is not None]


def flag_text(found: list[Score]) -> str:
    """The ``flags`` tag: ``none``, or each flagged score with its flags (``fMRI L1: above_ceiling, few_subjects``)."""
    flagged = [f"{s.column}: {', '.join(s.flags)}" for s in found if s.flags]
    return "; ".join(flagged) or "none"
