"""Sentence-permutation test of each layer's score, with FDR control across layers (docs/method.md, "Score options")."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from attnhuman.analysis.least_squares import (
    FoldStats,
    centred_targets,
    cross,
    exact_sse,
    held_out_pairs,
    layer_scores,
    procedure_sse,
    sorted_by_fold,
    x_stats,
    y_stats,
)
from attnhuman.analysis.options import RidgeOptions
from attnhuman.errors import ConfigError, DataError


def sentence_permutations(cells_per_sentence: np.ndarray, n_perm: int, seed: int = 0) -> np.ndarray:
    """``(n_perm, sentences)`` permutations that only exchange sentences of equal length.

    Row p maps sentence k to ``perm[p, k]``, a sentence with the same number of cells (= words);
    a sentence whose length no other sentence has always maps to itself.
    """
    sizes = np.asarray(cells_per_sentence)
    rng = np.random.default_rng(seed)
    perms = np.tile(np.arange(len(sizes)), (n_perm, 1))
    for size in np.unique(sizes):
        members = np.flatnonzero(sizes == size)
        if len(members) > 1:
            perms[:, members] = members[rng.permuted(np.tile(np.arange(len(members)), (n_perm, 1)), axis=1)]
    return perms


def immobile_sentences(cells_per_sentence: np.ndarray) -> int:
    """Number of sentences that no within-length permutation can move."""
    _, inverse, counts = np.unique(np.asarray(cells_per_sentence), return_inverse=True, return_counts=True)
    return int((counts[inverse] == 1).sum())


@dataclass
class PermutationResult:
    """Sentence-permutation test of each layer's score (mean R2 over subjects).

    ``observed`` ``(layers,)``: the reported score (mean R2 over subjects, by :func:`layer_scores`);
    ``null`` ``(n_perm, layers)``; ``p``, ``q`` (Benjamini-Hochberg), ``significant`` ``(layers,)``.
    """

    observed: np.ndarray
    null: np.ndarray
    p: np.ndarray
    q: np.ndarray
    significant: np.ndarray
    alpha: float
    n_immobile: int
    n_sentences: int
    seconds: float = 0.0

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"layer": np.arange(len(self.p)), "observed": self.observed,
                             "null_mean": self.null.mean(axis=0), "null_max": self.null.max(axis=0),
                             "p": self.p, "q_bh": self.q, "significant": self.significant})


def permutation_test(attention: np.ndarray, targets: np.ndarray, sentence: np.ndarray,
                     fold: np.ndarray | None = None, *, n_perm: int, seed: int = 0, alpha: float = 0.05,
                     score: str = "insample", predictors: str = "heads", n_components: int = 8,
                     alphas=None, max_bytes: float = 128e6) -> PermutationResult:
    """Permutation p-values of every layer's score, with FDR control across layers.

    ``attention`` ``(layers, heads, cells)``; ``targets`` ``(cells, S)``; ``sentence`` ``(cells,)``
    sentence id per cell, contiguous and non-decreasing; ``fold`` ``(cells,)`` as in
    :func:`layer_scores`. Scheme: whole sentences are exchanged among the sentences with the same
    word count (cells align by (row, col)); a sentence with a unique word count cannot move
    (``n_immobile``). Position effects shared by sentences of a length stay in the null, so the
    test asks whether the attention carries sentence-specific information. Implemented by moving
    the subjects' targets (sentence k gets the reading of ``perm[k]``), which for in-sample scores is
    identical to moving the attention the inverse way, and keeps the training Gram matrices fixed;
    in cv mode a cell's fold follows its attention sentence. ``p = (1 + #{null >= observed}) /
    (1 + n_perm)``; ``q`` = Benjamini-Hochberg (``scipy.stats.false_discovery_control``);
    significant when ``q <= alpha``. The observed value is the reported score (:func:`layer_scores`), the null comes
    from the same least-squares engine (ill-conditioned head designs fitted exactly, as for the observed).
    """
    started = time.perf_counter()
    alphas = tuple(RidgeOptions().alphas if alphas is None else alphas)
    if n_perm < 1:
        raise ConfigError(f"analysis.permutation.n={n_perm}: need at least 1 permutation")
    targets = np.asarray(targets, dtype=np.float64)
    n_layers, n_heads, n = attention.shape
    sentence = np.asarray(sentence)
    if sentence.shape != (n,) or (np.diff(sentence) < 0).any():
        raise DataError("sentence must give one non-decreasing sentence id per cell")
    _, sentence = np.unique(sentence, return_inverse=True)
    sizes = np.bincount(sentence)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    local = np.arange(n) - starts[sentence]
    perms = sentence_permutations(sizes, n_perm, seed)
    observed = layer_scores(attention, targets, fold, score=score, predictors=predictors, n_components=n_components,
                            alphas=alphas).mean(axis=1)
    targets, _ = centred_targets(targets)            # a permutation keeps each column's values: still centred
    use_folds = score == "cv" or predictors == "ridge"
    order, bounds, sorted_fold = sorted_by_fold(fold if use_folds else None, n)
    x2 = attention[:, :, order].astype(np.float64)                                # all layers, sorted
    x2 -= x2.mean(axis=2, keepdims=True)
    x2 = x2.reshape(n_layers * n_heads, n)
    xstats = x_stats(x2, n_heads, bounds)
    pairs = held_out_pairs(score, len(bounds) - 1)
    s = targets.shape[1]
    k = len(bounds) - 1
    per_chunk = max(1, int(max_bytes // (8 * s * (k * n_layers * n_heads + 2 * n))))
    layer_chunk = max(1, int(max_bytes // (8 * 10 * n_heads * per_chunk * s)))
    caches = {}                                     # per layer chunk: target-independent eigenbases
    stats = np.empty((len(perms), n_layers))
    for p0 in range(0, len(perms), per_chunk):
        maps = starts[perms[p0:p0 + per_chunk][:, sentence]] + local                # (P, cells)
        y = np.swapaxes(targets[maps[:, order]], 0, 1).reshape(n, -1)            # (cells, P * S)
        sy, syy = y_stats(y, bounds)
        pxy = cross(x2, n_heads, y, bounds)                                       # (K, layers, heads, P * S)
        for l0 in range(0, n_layers, layer_chunk):
            part = slice(l0, l0 + layer_chunk)
            st = FoldStats(np.diff(bounds), xstats[0][:, part], xstats[1][:, part], sy, syy, pxy[:, part])
            sse, ill, _ = procedure_sse(st, score, predictors, n_components, alphas, caches.setdefault(l0, {}))
            if predictors == "heads":                                              # as layer_scores does
                for q, (train, test) in enumerate(pairs):
                    for b in np.flatnonzero(ill[q]):
                        layer = x2[(l0 + b) * n_heads:(l0 + b + 1) * n_heads].T
                        sse[q, b] = exact_sse(layer, y, train[sorted_fold], test[sorted_fold])
            r2 = 1.0 - sse.sum(0) / st.sst                                         # (B, P * S)
            stats[p0:p0 + per_chunk, part] = r2.reshape(r2.shape[0], -1, s).mean(-1).T
    null = stats
    from scipy.stats import false_discovery_control  # scipy.stats takes a second to import: only when tested

    exceed = (null >= observed - 1e-12 - 1e-9 * np.abs(observed)).sum(axis=0)
    p = (1.0 + exceed) / (1.0 + n_perm)
    q = false_discovery_control(p, method="bh")
    return PermutationResult(observed, null, p, q, q <= alpha, alpha, immobile_sentences(sizes), len(sizes),
                             time.perf_counter() - started)
