"""Normalised attention entropy against an explicit loop over units, rows, heads and columns."""
import math

import numpy as np

from attnhuman.analysis.attention_entropy import attention_entropy
from attnhuman.corpus import Corpus


def _reference(attention, corpus):
    out = np.full((attention.shape[0], int(corpus.n_words.sum())), np.nan)
    for layer in range(attention.shape[0]):
        flat = 0
        for k, n in enumerate(corpus.n_words):
            cells = attention[layer, :, corpus.offsets[k]:corpus.offsets[k + 1]]
            rows, cols = np.tril_indices(n)
            for i in range(n):
                if i >= 1:
                    values = []
                    for h in range(attention.shape[1]):
                        row = [float(cells[h, c]) for c in range(len(rows)) if rows[c] == i]
                        total = sum(row)
                        values.append(-sum(x / total * math.log(x / total) for x in row if x > 0) / math.log(i + 1)
                                      if total > 0 else math.nan)
                    out[layer, flat] = sum(values) / len(values)
                flat += 1
    return out


def test_attention_entropy_equals_an_explicit_loop():
    corpus = Corpus((("a b c d", "e f"), ("g h i j k",)))
    rng = np.random.default_rng(0)
    attention = rng.random((3, 2, corpus.n_cells)).astype(np.float32)
    attention[1, 0, 3:6] = 0.0                       # a row with zeros in one head: NaN for that word
    attention[2, 1, corpus.offsets[2] + 1] = 0.0     # a zero weight in a row: 0 log 0 = 0
    np.testing.assert_allclose(attention_entropy(attention, corpus), _reference(attention, corpus), rtol=1e-12)


def test_uniform_attention_has_entropy_1_and_one_hot_0():
    corpus = Corpus((("a b c d e",),))
    rows, cols = np.tril_indices(5)
    uniform = (1.0 / (rows + 1))[None, None, :]
    one_hot = (cols == 0).astype(float)[None, None, :]
    np.testing.assert_allclose(attention_entropy(uniform, corpus)[0, 1:], 1.0)
    np.testing.assert_allclose(attention_entropy(one_hot, corpus)[0, 1:], 0.0)
    assert np.isnan(attention_entropy(uniform, corpus)[0, 0])
