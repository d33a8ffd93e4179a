"""General attention divergence (docs/method.md, "General attention divergence", paper section 3.1), vectorized.

Two runs' head-averaged attention is compared sentence by sentence, row by row. Row ``i`` of a
sentence (the ``i + 1`` cells ``j <= i`` of the shared cell index, contiguous in
``numpy.tril_indices`` order) is turned into a probability distribution:

    p_ij = (a_ij + eps) / sum_j' (a_ij' + eps)

i.e. ``eps`` is added to EVERY cell of the row before it is renormalized to sum 1. This keeps all
logarithms finite, turns an all-zero row into the uniform distribution, and changes nothing
measurable for ordinary attention (eps = 1e-10 against float16 weights). With ``eps=0`` the
rows are only renormalized: zeros follow the ``scipy.special.rel_entr`` conventions
(0 log 0 = 0, KL to a zero is inf) and an all-zero row is an error.

Metrics, per sentence (natural log):
- ``js`` (released code, default): mean over the sentence's rows of the Jensen-Shannon divergence
  JS(P_i, Q_i) = 1/2 KL(P_i || M_i) + 1/2 KL(Q_i || M_i), M_i = (P_i + Q_i) / 2.
- ``sym_kl`` (paper formula): 1/2 * SUM over rows of [KL(P_i || Q_i) + KL(Q_i || P_i)].
"""
from __future__ import annotations

import numpy as np
from scipy.special import rel_entr

from attnhuman.attention.store import AttentionStore
from attnhuman.corpus import n_cells
from attnhuman.errors import DataError

METRICS = ("js", "sym_kl")
N_QUARTERS = 4


def head_mean(store: AttentionStore) -> np.ndarray:
    """``(layers, cells)`` float64 mean over the heads of ``store.attention`` ``(layers, heads, cells)``."""
    return store.attention.mean(axis=1, dtype=np.float64)


def quarters(x: np.ndarray) -> np.ndarray:
    """``(4, cells)``: the rows of ``x`` ``(layers, cells)`` averaged within 4 consecutive quarters.

    Quarters follow ``numpy.array_split(range(layers), 4)`` (the first ``layers % 4`` quarters hold
    one layer more). Raises ValueError with fewer than 4 layers.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"quarters expects a (layers, cells) array, got shape {x.shape}.")
    if x.shape[0] < N_QUARTERS:
        raise ValueError(f"cannot split {x.shape[0]} layers (array shape {x.shape}) into "
                         f"{N_QUARTERS} quarters: at least {N_QUARTERS} layers are needed.")
    groups = np.array_split(np.arange(x.shape[0]), N_QUARTERS)
    starts = np.array([g[0] for g in groups])
    sizes = np.array([g.size for g in groups], dtype=np.float64)
    return np.add.reduceat(x, starts, axis=0) / sizes[:, None]


def _row_layout(n_words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell index of every row start ``(rows,)``, row lengths ``(rows,)``, row index of every
    sentence's first row ``(sentences,)``; rows are the sentences' word rows in corpus order."""
    n_words = np.asarray(n_words, dtype=np.int64)
    sentence_first_row = np.concatenate([[0], np.cumsum(n_words)[:-1]])
    row_in_sentence = np.arange(int(n_words.sum())) - np.repeat(sentence_first_row, n_words)
    lengths = row_in_sentence + 1
    row_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return row_starts, lengths, sentence_first_row


def _check_inputs(a: np.ndarray, b: np.ndarray, n_words: np.ndarray, metric: str, eps: float) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not one of {METRICS} ('js' = released code, "
                         "'sym_kl' = paper formula).")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}.")
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"a and b must be (units, cells) arrays of the same shape, got {a.shape} and {b.shape}.")
    if n_words.ndim != 1 or n_words.size == 0 or (n_words < 1).any():
        raise ValueError(f"n_words must be a non-empty 1-d array of positive word counts, got shape "
                         f"{n_words.shape} with minimum {n_words.min() if n_words.size else None}.")
    expected = int(n_cells(n_words).sum())
    if a.shape[1] != expected:
        raise DataError(f"a and b have {a.shape[1]} cells but n_words ({n_words.size} sentences) "
                        f"imply {expected} (lower triangles including the diagonal).")
    for name, x in (("a", a), ("b", b)):
        if not np.isfinite(x).all():
            raise DataError(f"{name} has non-finite (NaN or inf) values, first at (unit, cell) "
                            f"{tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])}.")
        if (x < 0).any():
            raise DataError(f"{name} has negative weights, first at (unit, cell) "
                            f"{tuple(int(i) for i in np.argwhere(x < 0)[0])}: not attention weights.")


def _normalize_rows(x: np.ndarray, row_starts: np.ndarray, lengths: np.ndarray, eps: float,
                    name: str, n_words: np.ndarray) -> np.ndarray:
    """``(units, cells)`` rows made distributions: ``(x + eps) / row sum of (x + eps)``."""
    x = x + eps
    sums = np.add.reduceat(x, row_starts, axis=1)                     # (units, rows)
    if (sums <= 0).any():
        unit, row = (int(i) for i in np.argwhere(sums <= 0)[0])
        sentence = int(np.searchsorted(np.cumsum(n_words), row, side="right"))
        word_row = row - int(np.concatenate([[0], np.cumsum(n_words)])[sentence])
        raise DataError(f"{name}: unit {unit}, sentence {sentence}, row {word_row} sums to 0 and "
                        "cannot be renormalized with eps=0; use eps > 0 (an all-zero row then "
                        "becomes uniform).")
    return x / np.repeat(sums, lengths, axis=1)


def sentence_divergence(a: np.ndarray, b: np.ndarray, n_words: np.ndarray, metric: str = "js",
                        eps: float = 1e-10) -> np.ndarray:
    """``(units, sentences)`` divergence of ``a`` and ``b``, both ``(units, cells)`` on the cell index
    of ``n_words`` ``(sentences,)``. A unit is a layer or a quarter. See the module docstring for
    the row normalization (eps) and the two metrics."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n_words = np.asarray(n_words, dtype=np.int64)
    _check_inputs(a, b, n_words, metric, eps)
    row_starts, lengths, sentence_first_row = _row_layout(n_words)
    p = _normalize_rows(a, row_starts, lengths, eps, "a", n_words)
    q = _normalize_rows(b, row_starts, lengths, eps, "b", n_words)
    if metric == "js":
        m = 0.5 * (p + q)
        per_cell = 0.5 * (rel_entr(p, m) + rel_entr(q, m))
        per_row = np.add.reduceat(per_cell, row_starts, axis=1)             # (units, rows)
        return np.add.reduceat(per_row, sentence_first_row, axis=1) / n_words
    per_cell = 0.5 * (rel_entr(p, q) + rel_entr(q, p))
    sentence_starts = np.concatenate([[0], np.cumsum(n_cells(n_words))[:-1]])
    return np.add.reduceat(per_cell, sentence_starts, axis=1)


def run_divergence(store_a: AttentionStore, store_b: AttentionStore,
                   metric: str = "js") -> tuple[str, np.ndarray]:
    """Divergence of two runs on the same sentences, heads averaged first.

    Same depth: ``('layer', (layers, sentences))``. Different depth: ``('quarter', (4, sentences))``,
    each run's head mean averaged over the layers of each quarter (:func:`quarters`) first.
    Raises DataError when the runs' ``n_words`` differ.
    """
    nw_a, nw_b = np.asarray(store_a.n_words), np.asarray(store_b.n_words)
    if nw_a.shape != nw_b.shape or not np.array_equal(nw_a, nw_b):
        detail = ""
        if nw_a.shape == nw_b.shape:
            k = int(np.flatnonzero(nw_a != nw_b)[0])
            detail = f"; first difference at sentence {k}: {nw_a[k]} vs {nw_b[k]} words"
        raise DataError(f"the two runs do not cover the same sentences: store_a has n_words of shape "
                        f"{nw_a.shape} (attention {store_a.attention.shape}), store_b has n_words of "
                        f"shape {nw_b.shape} (attention {store_b.attention.shape}){detail}.")
    a, b = head_mean(store_a), head_mean(store_b)
    if store_a.n_layers == store_b.n_layers:
        return "layer", sentence_divergence(a, b, nw_a, metric)
    return "quarter", sentence_divergence(quarters(a), quarters(b), nw_a, metric)
