"""General attention divergence against an independent slow implementation on small hand-made matrices (on the real
LLaMA-30B attention: tests/data/test_divergence.py)."""
from __future__ import annotations

import numpy as np
import pytest

from attnhuman.analysis.divergence import (
    quarters,
    sentence_divergence,
)
from attnhuman.errors import DataError

LAYERS = [0, 30, 59]
EPS = 1e-10
N_WORDS = np.array([2, 3])


def test_quarters_follow_array_split_order():
    x = np.arange(10, dtype=float)[:, None] * np.ones((1, 3))          # 10 layers: 3, 3, 2, 2
    np.testing.assert_allclose(quarters(x)[:, 0], [1.0, 4.0, 6.5, 8.5])
    with pytest.raises(ValueError, match="3 layers"):
        quarters(np.ones((3, 5)))



def test_hand_example_opposite_one_hot_rows():
    a = np.array([[1, 1, 0, 1, 1, 0, 1, 0, 0]], dtype=float)
    b = np.array([[1, 0, 1, 1, 1, 0, 1, 0, 0]], dtype=float)     # only row 1 of sentence 0 differs
    js = sentence_divergence(a, b, N_WORDS, "js", eps=0)
    np.testing.assert_allclose(js, [[np.log(2) / 2, 0.0]], rtol=1e-15)
    assert np.isinf(sentence_divergence(a, b, N_WORDS, "sym_kl", eps=0)[0, 0])
    sym = sentence_divergence(a, b, N_WORDS, "sym_kl")                      # eps = 1e-10
    p = np.array([1 + EPS, EPS]) / (1 + 2 * EPS)
    np.testing.assert_allclose(sym[0, 0], 0.5 * 2 * (p * np.log(p / p[::-1])).sum(), rtol=1e-12)
    assert sym[0, 1] == 0



def test_rows_are_renormalized():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 9)), rng.random((2, 9))
    scale = np.array([2, 5, 5, 0.1, 0.3, 0.3, 7, 7, 7])                   # a constant per row
    for metric in ("js", "sym_kl"):
        np.testing.assert_allclose(sentence_divergence(a * scale, b, N_WORDS, metric, eps=0),
                                   sentence_divergence(a, b, N_WORDS, metric, eps=0), rtol=1e-12)



def test_zero_rows():
    rng = np.random.default_rng(1)
    a, b = rng.random((1, 9)) + 0.1, rng.random((1, 9)) + 0.1
    a[0, 6:9] = 0                                          # last row of sentence 1 all zero
    for metric in ("js", "sym_kl"):
        d = sentence_divergence(a, b, N_WORDS, metric)
        assert np.isfinite(d).all()
        uniform = a.copy()
        uniform[0, 6:9] = 1 / 3                            # eps makes a zero row uniform
        np.testing.assert_allclose(d, sentence_divergence(uniform, b, N_WORDS, metric), rtol=1e-8)
    with pytest.raises(DataError, match="sentence 1, row 2 sums to 0"):
        sentence_divergence(a, b, N_WORDS, "js", eps=0)



def test_bad_input_is_named():
    a = np.ones((2, 9))
    with pytest.raises(ValueError, match="metric 'kl'"):
        sentence_divergence(a, a, N_WORDS, "kl")
    with pytest.raises(ValueError, match=r"\(2, 9\) and \(1, 9\)"):
        sentence_divergence(a, a[:1], N_WORDS)
    with pytest.raises(DataError, match="9 cells but n_words"):
        sentence_divergence(a, a, np.array([2, 2]))
    neg = a.copy()
    neg[1, 4] = -0.5
    with pytest.raises(DataError, match=r"negative weights, first at \(unit, cell\) \(1, 4\)"):
        sentence_divergence(a, neg, N_WORDS)

