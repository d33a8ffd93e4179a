"""Numbers as a reader expects them: percentages to one decimal, parameters as 7B / 135M, DeltaLL to 4 decimals, and a
run's one-line headline."""
from __future__ import annotations

import math

import pandas as pd

from attnhuman.comparison.scores import PERCENT, Score


def missing(value) -> bool:
    """None, NaN or pandas' NA: printed as ``-``, written as null."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def percent(value) -> str:
    """A percentage as a reader expects it: one decimal (``64.3``)."""
    return number(value, PERCENT)


def parameters(n) -> str:
    """135M, 1.5B, 7B, 175B."""
    if missing(n):
        return "-"
    n = float(n)
    return f"{n / 1e9:.3g}B" if n >= 1e9 else f"{n / 1e6:.3g}M"


def number(value, unit: str) -> str:
    """A score in its unit: ``38.5`` (% of ceiling) or ``0.0161`` (nats per word)."""
    if missing(value):
        return "-"
    return f"{value:.1f}" if unit == PERCENT else f"{value:.4f}"


def interval(low, high, unit: str) -> str:
    """``[30.1, 45.2]``, or ``''`` without an interval."""
    if missing(low) or missing(high):
        return ""
    return f"[{number(low, unit)}, {number(high, unit)}]"


def score_text(score: Score) -> str:
    """``38.5 % (layer 11)``, ``0.0161 nats (layer 3)``."""
    unit = " %" if score.unit == PERCENT else " nats"
    layer = f" (layer {score.layer})" if score.layer is not None else ""
    return f"{number(score.value, score.unit)}{unit}{layer}"


def headline(scores: list[Score]) -> str:
    """A run's one-line description: each score with its best layer, then its flags
    (``L1 saccade 38.5 % (layer 11) · L2 saccade 46.1 % (layer 12)``)."""
    text = " · ".join(f"{s.key} {score_text(s)}" for s in scores) or "no score"
    flagged = [f"{s.key}: {', '.join(s.flags)}" for s in scores if s.flags]
    return text + (f" — flags: {'; '.join(flagged)}" if flagged else "")
