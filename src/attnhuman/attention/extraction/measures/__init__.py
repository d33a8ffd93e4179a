"""Attention measures (docs/method.md, "Attention measures"): token-level ``(batch, heads, T, T)`` scores per layer
that the extraction merges into words like the attention weights. This module is torch-free: names and store shapes;
the computations are in :mod:`attnhuman.attention.extraction.measures.dispatch`."""
from __future__ import annotations

from attnhuman.attention.models.registry import ModelSpec
from attnhuman.attention.store import AttentionStore
from attnhuman.errors import ConfigError, DataError

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


def check_shape(store: AttentionStore, spec: ModelSpec, where: str, measure: str = "weights") -> None:
    """Raise DataError when ``store`` has another layer or head count than the registry gives ``measure``."""
    expected = store_shape(measure, spec.layers, spec.heads)
    if (store.n_layers, store.n_heads) != expected:
        raise DataError(f"{where}: {store.n_layers} layers x {store.n_heads} heads, but the registry says "
                        f"{spec.model} {spec.size} has {spec.layers} x {spec.heads}"
                        f"{f' (measure={measure}: {expected[0]} x {expected[1]})' if measure != 'weights' else ''}."
                        " Is this from another model? Pick the matching model=/size=.")
