"""How sure a best-layer score is (docs/method.md, "Uncertainty"): seeded percentile bootstrap intervals of the score,
of its ceiling and of their ratio (% of ceiling), resampling subjects (saccades, fMRI) or units (word importance).

Every resample recomputes the statistic as defined, the best layer included (the maximum over layers of the resampled
layer means), and the ceiling from the same resample. All resamples are one matrix product: a ``(resamples, items)``
count matrix times the ``(items, layers)`` scores.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000          # bootstrap resamples
SEED = 0
LEVEL = 0.95              # two-sided percentile interval


@dataclass(frozen=True)
class BestLayerInterval:
    """Percentile intervals of a best-layer score: ``percent`` (100 * best / ceiling), ``score`` (best layer's raw
    score), ``ceiling``; ``layer_low``/``layer_high``: ``(layers,)`` band of each layer's % of ceiling."""

    percent: tuple[float, float]
    score: tuple[float, float]
    ceiling: tuple[float, float]
    layer_low: np.ndarray
    layer_high: np.ndarray
    resamples: int


def counts(n_items: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """``(resamples, n_items)``: how often each item is drawn in each resample with replacement."""
    draws = np.random.default_rng(seed).integers(0, n_items, size=(resamples, n_items))
    offsets = (np.arange(resamples) * n_items)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=resamples * n_items).reshape(resamples, n_items) \
        .astype(np.float64)


def _percentile(values: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    tail = 50 * (1 - level)
    find = np.percentile if not np.isnan(values).any() else np.nanpercentile    # nanpercentile is 10x slower
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)                       # a layer NaN in every resample
        low, high = find(values, [tail, 100 - tail], axis=0)
    return low, high


def _interval(values: np.ndarray) -> tuple[float, float]:
    low, high = _percentile(values)
    return float(low), float(high)


def _summarise(layer_scores: np.ndarray, ceilings: np.ndarray, resamples: int) -> BestLayerInterval:
    """``layer_scores``: ``(resamples, layers)``; ``ceilings``: ``(resamples,)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = 100 * layer_scores / ceilings[:, None]
        best = np.nanmax(layer_scores, axis=1)
        low, high = _percentile(percent)
        return BestLayerInterval(_interval(100 * best / ceilings), _interval(best), _interval(ceilings),
                                 low, high, resamples)


def over_subjects(scores: np.ndarray, ceilings: np.ndarray, resamples: int = RESAMPLES,
                  seed: int = SEED) -> BestLayerInterval:
    """Resampling subjects: ``scores`` ``(layers, subjects)`` (each subject's R2 per layer), ``ceilings``
    ``(subjects,)``; the statistic is ``100 * max_l mean_s scores / mean_s ceilings``
    (docs/method.md, "Human resemblance")."""
    scores = np.asarray(scores, dtype=np.float64)
    weights = counts(scores.shape[1], resamples, seed) / scores.shape[1]
    return _summarise(weights @ scores.T, weights @ np.asarray(ceilings, dtype=np.float64), resamples)


def over_units(scores: np.ndarray, ceilings: np.ndarray, resamples: int = RESAMPLES,
               seed: int = SEED) -> BestLayerInterval:
    """Resampling units: ``scores`` ``(layers, units)`` (each unit's rho per layer, NaN where undefined),
    ``ceilings`` ``(subjects, units)`` (each subject's rho against the others per unit, NaN where undefined); the
    statistic is the best layer's mean over units against the mean over subjects of each subject's mean over units
    (docs/method.md, "Word importance from reading times")."""
    scores, ceilings = np.asarray(scores, dtype=np.float64), np.asarray(ceilings, dtype=np.float64)
    weights = counts(scores.shape[1], resamples, seed)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)                       # a subject with no drawn unit
        layer = (weights @ np.nan_to_num(scores).T) / (weights @ np.isfinite(scores).T)
        subject = (weights @ np.nan_to_num(ceilings).T) / (weights @ np.isfinite(ceilings).T)   # (resamples, S)
        ceiling = np.nanmean(subject, axis=1)
    return _summarise(layer, ceiling, resamples)
