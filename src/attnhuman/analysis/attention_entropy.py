"""Normalised attention entropy per layer and word (Oh & Schuler 2022; docs/method.md,
"Reading times from model predictions"): for word ``i >= 1`` of a unit and head ``h``, ``a_j = A[i, j] / sum_j A[i, j]``
over ``j <= i`` of the word-level matrix of any measure, ``NAE = -sum_j a_j log a_j / log(i + 1)``, the mean over heads;
NaN for a unit's first word and for a row of zeros."""
from __future__ import annotations

import numpy as np

from attnhuman.corpus import Corpus


def attention_entropy(attention: np.ndarray, corpus: Corpus) -> np.ndarray:
    """``(layers, n_words)`` from ``attention`` ``(layers, heads, cells)`` on the corpus's cell index.

    A row ``i`` of a unit holds cells ``i (i + 1) / 2 .. + i`` (``numpy.tril_indices`` order), so the rows of the corpus
    are consecutive segments of ``position + 1`` cells, reduced with ``numpy.add.reduceat``; one layer at a time."""
    position = np.concatenate([np.arange(n) for n in corpus.n_words])          # (n_words,)
    starts = np.concatenate([[0], np.cumsum(position + 1)[:-1]])
    out = np.full((attention.shape[0], len(position)), np.nan)
    for layer, heads in enumerate(attention):
        a = heads.astype(np.float64)
        total = np.add.reduceat(a, starts, axis=-1)                             # (heads, n_words)
        share = a / np.repeat(np.where(total > 0, total, np.nan), position + 1, axis=-1)
        plogp = np.where(share > 0, share * np.log(np.where(share > 0, share, 1.0)), 0.0)
        entropy = -np.add.reduceat(np.where(np.isnan(share), np.nan, plogp), starts, axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            nae = entropy / np.log(position + 1.0)
        out[layer] = np.where(position >= 1, nae.mean(axis=0), np.nan)
    return out
