"""General attention divergence against an independent slow implementation on the real LLaMA-30B data."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import entropy

from attnhuman.analysis.divergence import (
    head_mean,
    quarters,
    run_divergence,
    sentence_divergence,
)
from attnhuman.attention.store import AttentionStore, load_attention
from attnhuman.errors import DataError
from helpers.paths import LLAMA30

LAYERS = [0, 30, 59]
EPS = 1e-10
N_WORDS = np.array([2, 3])


@pytest.fixture(scope="module")
def translate(corpus):
    return load_attention(LLAMA30 / "packed_instr_translate.npz", corpus)



def _row(x: np.ndarray, eps: float) -> np.ndarray:
    p = x.astype(np.float64) + eps
    return p / p.sum()



def slow_divergence(store_a, store_b, layers, metric, eps=EPS):
    """(len(layers), sentences): dense sentence matrices, loops over sentences and rows, scipy per row."""
    out = np.zeros((len(layers), len(store_a.n_words)))
    for k in range(len(store_a.n_words)):
        dense_a = store_a.sentence(k)[layers].mean(axis=1, dtype=np.float64)      # (units, n, n)
        dense_b = store_b.sentence(k)[layers].mean(axis=1, dtype=np.float64)
        n = dense_a.shape[-1]
        for u in range(len(layers)):
            total = 0.0
            for i in range(n):
                p, q = _row(dense_a[u, i, :i + 1], eps), _row(dense_b[u, i, :i + 1], eps)
                if metric == "js":
                    total += jensenshannon(p, q) ** 2        # scipy returns the square root, base e
                else:
                    total += 0.5 * (rel_entr(p, q).sum() + entropy(q, p))
            out[u, k] = total / n if metric == "js" else total
    return out



@pytest.mark.parametrize("metric", ["js", "sym_kl"])
def test_matches_slow_reference_on_real_data(llama30, translate, metric):
    fast = sentence_divergence(head_mean(llama30)[LAYERS], head_mean(translate)[LAYERS],
                               llama30.n_words, metric)
    assert fast.shape == (len(LAYERS), 148)
    np.testing.assert_allclose(fast, slow_divergence(llama30, translate, LAYERS, metric), rtol=1e-9, atol=0)
    kind, full = run_divergence(llama30, translate, metric)
    assert kind == "layer" and full.shape == (60, 148)
    np.testing.assert_allclose(full[LAYERS], fast, rtol=1e-12)
    assert (full > 0).all()



def test_head_mean_is_float64_mean_over_heads(llama30):
    hm = head_mean(llama30)
    assert hm.shape == (60, llama30.attention.shape[2]) and hm.dtype == np.float64
    np.testing.assert_allclose(hm[7], llama30.attention[7].astype(np.float64).mean(axis=0), rtol=1e-12)



@pytest.mark.parametrize("metric", ["js", "sym_kl"])
def test_identical_stores_give_zero(llama30, metric):
    kind, d = run_divergence(llama30, llama30, metric)
    assert kind == "layer" and d.shape == (60, 148)
    assert (d == 0).all()



@pytest.mark.parametrize("metric", ["js", "sym_kl"])
def test_symmetric(llama30, translate, metric):
    a, b = head_mean(llama30)[:5], head_mean(translate)[:5]
    np.testing.assert_allclose(sentence_divergence(a, b, llama30.n_words, metric),
                               sentence_divergence(b, a, llama30.n_words, metric), rtol=1e-14)



def test_quarters_of_60_layers_are_hand_averages(llama30):
    hm = head_mean(llama30)
    hand = np.stack([hm[s:s + 15].mean(axis=0) for s in (0, 15, 30, 45)])
    np.testing.assert_allclose(quarters(hm), hand, rtol=1e-12)



def test_different_depth_compares_quarters(llama30, translate):
    shallow = AttentionStore(translate.attention[:40], translate.n_words, translate.sentences_per_article)
    kind, d = run_divergence(llama30, shallow, "js")
    assert kind == "quarter" and d.shape == (4, 148)
    hm_a, hm_b = head_mean(llama30), head_mean(shallow)
    qa = np.stack([hm_a[s:s + 15].mean(axis=0) for s in (0, 15, 30, 45)])
    qb = np.stack([hm_b[s:s + 10].mean(axis=0) for s in (0, 10, 20, 30)])
    np.testing.assert_allclose(d, sentence_divergence(qa, qb, llama30.n_words, "js"), rtol=1e-12)



def test_n_words_mismatch_names_both_shapes(llama30):
    other = AttentionStore(llama30.attention[:, :, :-3], llama30.n_words[:-1].copy(),
                           np.array([1] * 147))
    with pytest.raises(DataError, match=r"\(148,\).*\(147,\)"):
        run_divergence(llama30, other)

