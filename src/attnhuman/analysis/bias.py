"""The head-count bias of the paper's in-sample score (docs/method.md, "Score options").

In-sample R2 with one predictor per head rises with the number of heads even when the attention is
random; the cross-validated R2 (``scores.layer_scores(score="cv")``, folds by sentence) does not.
Shown for random attention of 16 to 64 heads against real and simulated cohorts, and for growing
random subsets of a real model layer's heads.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from attnhuman.analysis.least_squares import cell_folds, layer_scores
from attnhuman.attention.store import AttentionStore
from attnhuman.corpus import Corpus, tril_cells
from attnhuman.humans.cohort import Cohort

HEADS = (16, 32, 64)


def random_attention(n_words: np.ndarray, n_heads: int, seed: int = 0) -> np.ndarray:
    """``(1, heads, cells)`` float32 causal attention whose rows are flat-Dirichlet random weights."""
    sentence, row, _ = tril_cells(n_words)
    weights = np.random.default_rng(seed).exponential(size=(n_heads, sentence.size))
    row_id = np.cumsum(np.r_[True, (np.diff(row) != 0) | (np.diff(sentence) != 0)]) - 1
    sums = np.zeros((n_heads, row_id[-1] + 1))
    np.add.at(sums.T, row_id, weights.T)
    return (weights / sums[:, row_id])[None].astype(np.float32)


def _scores(attention: np.ndarray, cohort: Cohort, corpus: Corpus, seed: int) -> dict[str, float]:
    sentence = tril_cells(corpus.n_words)[0][cohort.cell_mask]
    fold = cell_folds(sentence, 5, seed)
    design = attention[:, :, cohort.cell_mask]
    return {score: float(layer_scores(design, cohort.targets, fold, score=score)[0].mean())
            for score in ("insample", "cv")}


def head_count_bias(corpus: Corpus, cohorts: dict[str, dict[str, Cohort]], stores: dict[str, AttentionStore],
                    heads=HEADS, seed: int = 0) -> pd.DataFrame:
    """Mean R2 over subjects, in-sample and cross-validated, against the number of predictor heads.

    ``cohorts``: ``{"real": {group: Cohort}, "simulated": {...}}``; ``stores``: real runs whose best
    layer (by in-sample R2 on the first real group) is subsampled to growing random head subsets.
    Rows: cohorts, group, attention, heads, score, r2.
    """
    rows = []
    for source, groups in cohorts.items():
        for group, cohort in groups.items():
            for n in heads:
                for score, r2 in _scores(random_attention(corpus.n_words, n, seed + n), cohort, corpus, seed).items():
                    rows.append(dict(cohorts=source, group=group, attention="random", heads=n, score=score, r2=r2))
            for label, store in stores.items():
                layer = int(np.argmax(layer_scores(store.attention[:, :, cohort.cell_mask], cohort.targets).mean(1)))
                order = np.random.default_rng(seed).permutation(store.n_heads)
                for n in sorted({max(1, store.n_heads // 4), max(1, store.n_heads // 2), store.n_heads}):
                    subset = store.attention[layer:layer + 1, np.sort(order[:n])]
                    for score, r2 in _scores(subset, cohort, corpus, seed).items():
                        rows.append(dict(cohorts=source, group=group, attention=f"{label} layer {layer}", heads=n,
                                         score=score, r2=r2))
    return pd.DataFrame(rows, columns=["cohorts", "group", "attention", "heads", "score", "r2"])
