"""Attention measures (docs/method.md section 13): token-level ``(batch, heads, T, T)`` scores per layer that the
extraction merges into words like the attention weights. This module is torch-free: names and store shapes; the
computations are in :mod:`attnhuman.attention.measures.dispatch`."""
from __future__ import annotations

from attnhuman.errors import ConfigError

MEASURES = ("weights", "norm", "rollout", "value_zeroing", "saliency")
ONE_HEAD = ("rollout", "value_zeroing", "saliency")      # measures without heads: one column per layer
PROBABILITIES = ("weights", "rollout", "value_zeroing", "saliency")   # rows of at most 1 (norm: sizes, unbounded)


def check(measure: str) -> str:
    if measure not in MEASURES:
        raise ConfigError(f"measure={measure!r}: choose one of {', '.join(MEASURES)}.")
    return measure


def store_shape(measure: str, layers: int, heads: int) -> tuple[int, int]:
    """The ``(layers, heads)`` of a measure's store for a model of ``layers`` x ``heads``."""
    check(measure)
    return (1 if measure == "saliency" else layers), (1 if measure in ONE_HEAD else heads)
