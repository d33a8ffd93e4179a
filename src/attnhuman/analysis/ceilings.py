"""Ceilings of human resemblance: how well a subject can be predicted at all (docs/method.md, "Score options").

``group_mean`` (paper): the group mean as single predictor of each subject. ``loo``: the mean of the
OTHER subjects (no part of the subject's own noise; biased low by the reliability of the others' mean).
``split_half``: single-subject reliability from random split halves (:func:`split_half_ceiling`). With
folds, ``group_mean`` and ``loo`` are out-of-fold R2 on the same folds; ``split_half`` estimates the R2 of
a noise-free predictor, which has nothing to overfit, and is the same in both modes.
"""
from __future__ import annotations

import numpy as np

from attnhuman.analysis.least_squares import ceiling_r2, layer_scores
from attnhuman.analysis.options import CEILINGS
from attnhuman.errors import ConfigError, DataError


def single_predictor_r2(predictor: np.ndarray, targets: np.ndarray, fold: np.ndarray | None = None) -> np.ndarray:
    """``(S,)`` R2 of each target on its own single predictor (OLS with intercept), by the one least-squares engine.

    ``predictor``: ``(cells,)`` shared or ``(cells, S)`` one per target; ``targets``: ``(cells, S)``.
    ``fold`` None: in-sample (squared correlation); else out-of-fold R2 as defined in the module doc.
    """
    x = np.asarray(predictor, dtype=np.float64)
    score = "insample" if fold is None else "cv"
    if x.ndim == 1:
        return layer_scores(x[None, None, :], targets, fold, score=score)[0]
    return np.diagonal(layer_scores(x.T[:, None, :], targets, fold, score=score)).copy()   # target s on its own


def loo_means(targets: np.ndarray) -> np.ndarray:
    """``(cells, S)``: column s is the mean of the other subjects' targets."""
    targets = np.asarray(targets, dtype=np.float64)
    s = targets.shape[1]
    if s < 2:
        raise DataError("the loo ceiling needs at least 2 subjects")
    return (targets.sum(axis=1, keepdims=True) - targets) / (s - 1)


def split_half_ceiling(targets: np.ndarray, n_splits: int = 100, seed: int = 0) -> float:
    """Single-subject reliability from random split halves (Spearman-Brown stepped down to one subject).

    ``targets``: ``(cells, S)``. For each of ``n_splits`` seeded splits, the S subjects are shuffled
    and the first ``h = S // 2`` and next ``h`` form two halves (one subject sits out when S is odd);
    ``r`` = Pearson correlation over cells of the two halves' mean targets, and
    ``r1 = r / (h - (h - 1) r)`` (Spearman-Brown for a mean of 1 instead of h subjects). Returns the
    mean of ``r1`` over splits. Under subjects = shared signal + independent noise, ``r1`` estimates
    the correlation between two subjects = the R2 of one subject regressed on the noise-free shared
    signal, i.e. the best per-subject R2 any predictor can reach: the same scale as ``R2[l, s]``.
    (The usual step-up to S subjects would be the reliability of the group mean, a different scale.)
    """
    targets = np.asarray(targets, dtype=np.float64)
    s = targets.shape[1]
    if s < 2:
        raise DataError("the split_half ceiling needs at least 2 subjects")
    h = s // 2
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(s) for _ in range(n_splits)])          # (splits, S)
    weights = np.zeros((2, n_splits, s))
    rows = np.arange(n_splits)[:, None]
    weights[0, rows, perms[:, :h]] = 1.0 / h
    weights[1, rows, perms[:, h:2 * h]] = 1.0 / h
    halves = targets @ weights.reshape(-1, s).T                               # (cells, 2 * splits)
    halves -= halves.mean(axis=0)
    a, b = halves[:, :n_splits], halves[:, n_splits:]
    r = np.einsum("cs,cs->s", a, b) / np.sqrt(np.einsum("cs,cs->s", a, a) * np.einsum("cs,cs->s", b, b))
    return float(np.mean(r / (h - (h - 1) * r)))


def ceiling_scores(kind: str, mean: np.ndarray, targets: np.ndarray, fold: np.ndarray | None = None, *,
                   n_splits: int = 100, seed: int = 0) -> np.ndarray:
    """``(S,)`` ceiling R2 per subject; ``fold`` None = in-sample, else out-of-fold (split_half: either).

    ``group_mean`` in-sample is :func:`attnhuman.analysis.least_squares.ceiling_r2` (the paper); ``split_half``
    gives the same scalar for every subject.
    """
    if kind == "group_mean":
        return ceiling_r2(mean, targets) if fold is None else single_predictor_r2(mean, targets, fold)
    if kind == "loo":
        return single_predictor_r2(loo_means(targets), targets, fold)
    if kind == "split_half":
        return np.full(np.shape(targets)[1], split_half_ceiling(targets, n_splits, seed))
    raise ConfigError(f"analysis.ceiling={kind!r}: choose one of {list(CEILINGS)}")
