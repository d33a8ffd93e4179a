"""Word importance (docs/method.md, "Word importance from reading times") against a naive reference: loops over units, rows and
subjects with scipy.stats.spearmanr per unit, on a seeded random problem and planted cases."""
from __future__ import annotations

import string

import numpy as np
import pytest
from scipy.stats import spearmanr
from wordfreq import zipf_frequency

from attnhuman.analysis.word_importance import WordImportance, received, relative, word_importance
from attnhuman.corpus import cell_offsets
from attnhuman.errors import ConfigError

VOCAB = ("The", "cat,", "sat.", "on", "a", "mat", "and", "looked", "at", "dog!", "(quietly)", "it")


def problem(seed=0, n_units=40, n_subjects=5, n_layers=3, n_heads=2):
    """Random raw TRT (ties and zeros), NaN rows for missing units, one zero-sum row, random attention."""
    rng = np.random.default_rng(seed)
    n_words = rng.integers(2, 13, n_units)
    n_words[3] = 1                                                   # too short: skipped
    raw = [rng.integers(0, 6, (n_subjects, n)).astype(float) * 100 for n in n_words]
    for k in range(n_units):
        raw[k][raw[k].sum(1) == 0, 0] = 100.0                        # no zero-sum row by chance
        raw[k][rng.random(n_subjects) < 0.15] = np.nan               # subjects lacking the unit
    raw[5][:] = np.nan                                               # nobody read unit 5
    raw[7][2] = 0.0                                                  # a zero-sum row
    raw[7][1] = np.nan
    words = [tuple(rng.choice(VOCAB, n)) for n in n_words]
    attention = rng.random((n_layers, n_heads, int(cell_offsets(n_words)[-1])))
    return attention, n_words, raw, words


def naive_relative(raw):
    rel = []
    for values in raw:
        out = np.full(values.shape, np.nan)
        for s, row in enumerate(values):
            if not np.isnan(row).any() and row.sum() != 0:
                out[s] = row / row.sum()
        rel.append(out)
    return rel


def naive_received(attention, n_words, mode):
    offsets, out = cell_offsets(n_words), []
    for k, n in enumerate(n_words):
        m = np.empty((attention.shape[0], n))
        for layer in range(attention.shape[0]):
            a, c = np.zeros((n, n)), int(offsets[k])
            for i in range(n):
                for j in range(i + 1):
                    a[i, j] = np.mean([float(attention[layer, h, c]) for h in range(attention.shape[1])])
                    c += 1
            for j in range(n):
                col = [a[i, j] for i in range(j, n)]
                m[layer, j] = np.mean(col) if mode == "mean" else np.sum(col)
        out.append(m)
    return out


def constant(x):
    return bool(np.all(np.asarray(x) == np.asarray(x)[0]))


def naive_rho(x, y):
    return np.nan if constant(x) or constant(y) else spearmanr(x, y).statistic


def naive(attention, n_words, rel, words, keep=None, mode="mean"):
    m = naive_received(attention, n_words, mode)
    units, human = [], []
    for k, n in enumerate(n_words):
        rows = [r for r in rel[k] if not np.isnan(r).any()]
        if (keep is None or keep[k]) and n >= 2 and rows:
            units.append(k)
            human.append(np.mean(rows, axis=0))
    rho = np.array([[naive_rho(m[k][layer], h) for k, h in zip(units, human)] for layer in range(attention.shape[0])])
    feats = {"length": lambda w, j: len(w),
             "frequency": lambda w, j: zipf_frequency(w.lower().strip(string.punctuation), "en"),
             "position": lambda w, j: j}
    baselines = {}
    for name, f in feats.items():
        r = [naive_rho([f(w, j) for j, w in enumerate(words[k])], h) for k, h in zip(units, human)]
        baselines[name] = np.nanmean(r)
    per_subject = []
    for s in range(rel[0].shape[0]):
        r = []
        for k in units:
            if np.isnan(rel[k][s]).any():
                continue
            others = [rel[k][t] for t in range(rel[k].shape[0]) if t != s and not np.isnan(rel[k][t]).any()]
            if others:
                value = naive_rho(rel[k][s], np.mean(others, axis=0))
                if not np.isnan(value):
                    r.append(value)
        if r:
            per_subject.append(np.mean(r))
    means = np.nanmean(rho, 1)
    best = int(np.nanargmax(means))
    return dict(units=units, human=human, model=[m[k][best] for k in units], layer_rho=means,
                layer_sd=np.nanstd(rho, 1), layer_n=np.isfinite(rho).sum(1), n_constant=np.isnan(rho).sum(1),
                best_layer=best, ceiling=np.mean(per_subject), baselines=baselines)


def assert_same(result: WordImportance, ref: dict):
    np.testing.assert_array_equal(result.units, ref["units"])
    for name in ("layer_rho", "layer_sd"):
        np.testing.assert_allclose(getattr(result, name), ref[name], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(result.layer_n, ref["layer_n"])
    np.testing.assert_array_equal(result.n_constant, ref["n_constant"])
    assert result.best_layer == ref["best_layer"]
    assert result.best_rho == pytest.approx(ref["layer_rho"][ref["best_layer"]], abs=1e-10)
    assert result.ceiling == pytest.approx(ref["ceiling"], abs=1e-10)
    assert result.normalised == pytest.approx(100 * result.best_rho / ref["ceiling"], abs=1e-8)
    assert result.baselines.keys() == ref["baselines"].keys()
    for name, value in ref["baselines"].items():
        assert result.baselines[name] == pytest.approx(value, abs=1e-10), name
    for got, want in zip(result.human, ref["human"], strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    for got, want in zip(result.model, ref["model"], strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_relative_lists_zero_sum_pairs_only():
    _, _, raw, _ = problem()
    rel, dropped = relative(raw)
    assert dropped == [(2, 7)]                                      # not the NaN-missing rows, not unit 5
    for got, want in zip(rel, naive_relative(raw), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    assert np.isnan(rel[7][2]).all() and np.isnan(rel[5]).all()
    ok = ~np.isnan(rel[0]).any(1)
    np.testing.assert_allclose(rel[0][ok].sum(1), 1)


@pytest.mark.parametrize("mode", ["mean", "sum"])
def test_received_against_loops(mode):
    attention, n_words, _, _ = problem(n_units=12)
    got = received(attention.astype(np.float32), n_words, mode)
    want = naive_received(attention.astype(np.float32), n_words, mode)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-12)


def test_received_sum_is_mean_times_rows():
    attention, n_words, _, _ = problem(n_units=8)
    for k, (s, m) in enumerate(zip(received(attention, n_words, "sum"), received(attention, n_words), strict=True)):
        np.testing.assert_allclose(s, m * (n_words[k] - np.arange(n_words[k])), rtol=1e-13)
        assert not np.allclose(s, m) or n_words[k] == 1


@pytest.mark.parametrize("mode", ["mean", "sum"])
def test_word_importance_against_naive(mode):
    attention, n_words, raw, words = problem()
    rel, _ = relative(raw)
    keep = np.ones(n_words.size, bool)
    keep[10] = False
    result = word_importance(attention, n_words, rel, words, keep=keep, received=mode)
    ref = naive(attention, n_words, naive_relative(raw), words, keep=keep, mode=mode)
    assert_same(result, ref)
    assert result.received == mode
    assert not {3, 5, 10} & set(result.units.tolist())
    frame = result.to_frame()
    assert list(frame.columns) == ["layer", "rho", "sd", "n", "n_constant"] and len(frame) == attention.shape[0]


def test_word_importance_float16_against_naive():
    attention, n_words, raw, words = problem(seed=4, n_layers=4, n_heads=3)
    attention = attention.astype(np.float16)
    rel, _ = relative(raw)
    assert_same(word_importance(attention, n_words, rel, words), naive(attention, n_words, rel, words))


def plant(attention, n_words, layer, m_units, diagonal=False):
    """Set ``A[i, j] = m[j]`` for all rows ``i >= j`` at ``layer`` (all heads): the received mean is then ``m``
    (up to rounding); ``diagonal``: ``A[j, j] = m[j]``, 0 elsewhere: the received sum is then exactly ``m``."""
    attention = attention.copy()
    offsets = cell_offsets(n_words)
    for k, m in m_units.items():
        i, j = np.tril_indices(n_words[k])
        attention[layer, :, offsets[k]:offsets[k + 1]] = np.where(i == j, m[j], 0) if diagonal else m[j]
    return attention


def test_planted_model_equal_to_human_scores_one_and_is_best():
    attention, n_words, raw, words = problem(seed=1)
    rel, _ = relative(raw)
    base = word_importance(attention, n_words, rel, words)
    human = dict(zip(base.units.tolist(), base.human))
    # exact under received=sum (a mean over rows of equal values may round, breaking ties of h)
    result = word_importance(plant(attention, n_words, 1, human, diagonal=True), n_words, rel, words, received="sum")
    assert result.best_layer == 1
    assert result.best_rho == pytest.approx(1.0, abs=1e-12)
    assert result.layer_sd[1] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(np.concatenate(result.model), np.concatenate(result.human), atol=1e-15)


def test_constant_units_counted_and_left_out():
    attention, n_words, raw, words = problem(seed=2)
    raw[0][:] = 100.0                                                # every subject: equal TRT -> h constant
    rel, _ = relative(raw)
    attention = plant(attention, n_words, 2, {1: np.full(n_words[1], 0.25)})  # model constant at layer 2
    result = word_importance(attention, n_words, rel, words)
    assert list(result.n_constant) == [1, 1, 2]
    assert result.layer_n.tolist() == [result.units.size - c for c in (1, 1, 2)]
    assert_same(result, naive(attention, n_words, rel, words))
    # under received=sum the same attention is not constant: m(j) = 0.25 (n - j)
    assert list(word_importance(attention, n_words, rel, words, received="sum").n_constant) == [1, 1, 1]


def test_ties_use_average_ranks():
    n_words = np.array([5])
    raw = [np.array([[100.0, 200, 200, 0, 500], [100, 200, 200, 0, 500]])]
    rel, _ = relative(raw)
    m = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    attention = plant(np.zeros((1, 1, 15)), n_words, 0, {0: m})
    result = word_importance(attention, n_words, rel, [("a",) * 5])
    want = spearmanr(rel[0][0], m).statistic
    assert result.best_rho == pytest.approx(want, abs=1e-12)
    assert want == pytest.approx(np.corrcoef([2, 3.5, 3.5, 1, 5], [1, 2, 3, 4, 5])[0, 1])
    assert result.ceiling == pytest.approx(1.0)


def test_frequency_baseline_strips_punctuation():
    n_words = np.array([3, 3])
    words = [("The", "cat,", "sat."), ("sat.", "(the)", "CAT")]
    raw = [np.array([[300.0, 100, 200], [250, 150, 200]]), np.array([[100.0, 300, 200], [120, 280, 200]])]
    rel, _ = relative(raw)
    result = word_importance(np.random.default_rng(0).random((2, 2, 12)), n_words, rel, words)
    ref = naive(np.random.default_rng(0).random((2, 2, 12)), n_words, rel, words)
    assert result.baselines == pytest.approx(ref["baselines"], abs=1e-12)
    freq = [zipf_frequency(w, "en") for w in ("the", "cat", "sat")]
    h0 = np.mean(rel[0], axis=0)
    h1 = np.mean(rel[1], axis=0)
    want = np.mean([spearmanr(freq, h0).statistic, spearmanr([freq[2], freq[0], freq[1]], h1).statistic])
    assert result.baselines["frequency"] == pytest.approx(want, abs=1e-12)
    assert result.baselines["length"] == pytest.approx(np.mean([spearmanr([3, 4, 4], h0).statistic,
                                                               spearmanr([4, 5, 3], h1).statistic]), abs=1e-12)


def test_invalid_received_is_a_config_error():
    attention, n_words, raw, words = problem(n_units=8)
    with pytest.raises(ConfigError, match=r"received=.max.: use one of mean, sum"):
        received(attention, n_words, "max")
    with pytest.raises(ConfigError, match=r"received=.max.: use one of mean, sum"):
        word_importance(attention, n_words, relative(raw)[0], words, received="max")
