"""Predictive power (docs/method.md, "Reading times from model predictions") against independent references: designs
built word by word with explicit loops, statsmodels OLS log-likelihoods, a fold loop with numpy.linalg.lstsq and
scipy.stats.norm.logpdf, a resampling loop; on small planted corpora."""
from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.stats import norm, pearsonr
from wordfreq import zipf_frequency

from attnhuman.analysis.predictive_power import predictive_power, select_words
from attnhuman.corpus import Corpus
from attnhuman.errors import ConfigError, DataError
from attnhuman.humans.reading_times import ReadingTimes

VOCAB = ("the", "house", "blick", "dax", "wugs", "river", "of", "a", "zorp", "children", "ran", "quickly", "tove",
         "gimble", "and", "glorp", "market", "sat", "fep", "(brill", "mome,", "raths.", "it's", "slithy")


def planted(seed=0, n_articles=3, units=12, n_subjects=4, n_layers=3, drive=1):
    """A corpus of ``n_articles`` x ``units`` units of 4-9 words; surprisal-like predictors per layer (NaN at each
    unit's first word); reading times of a planted linear model in layer ``drive`` plus noise, with skips (0), values
    out of range and missing observations."""
    rng = np.random.default_rng(seed)
    articles = tuple(tuple(" ".join(rng.choice(VOCAB, rng.integers(4, 10))) for _ in range(units))
                     for _ in range(n_articles))
    corpus = Corpus(articles)
    n = int(corpus.word_offsets[-1])
    predictor = rng.gamma(2.0, 2.0, (n_layers, n))
    predictor[:, corpus.word_offsets[:-1]] = np.nan
    flat = [w for unit in corpus.words for w in unit]
    length = np.array([len(w.strip("(,.")) for w in flat], float)
    drive_values = np.nan_to_num(predictor[drive])
    mean = 180 + 12 * length + 25 * drive_values + 10 * np.roll(drive_values, 1)
    raw = mean + rng.normal(0, 40, (n_subjects, n))
    raw[rng.random(raw.shape) < 0.1] = 0.0
    raw[rng.random(raw.shape) < 0.05] = 20.0
    raw[rng.random(raw.shape) < 0.05] = np.nan
    raw[0, 7] = 5000.0
    values = np.split(raw, corpus.word_offsets[1:-1], axis=1)
    return corpus, ReadingTimes("L1", "trt", "eye_tracking", [f"s{i}" for i in range(n_subjects)], values), predictor


def strip(word):
    while word and unicodedata.category(word[0])[0] == "P":
        word = word[1:]
    while word and unicodedata.category(word[-1])[0] == "P":
        word = word[:-1]
    return word


def reference(corpus, times, predictor, k=1, lo=50.0, hi=3000.0, target="mean"):
    """Rows regressed, word by word: baseline ``(rows, 5 + 2k)``, full designs ``(layers, rows, 6 + 3k)``, target,
    unit and subject per row (target='subject': subject-centred, intercept kept)."""
    predictor = np.atleast_2d(predictor)
    text = []                                              # (unit, position in unit, word, flat index) per article
    g = 0
    for a, article in enumerate(corpus.articles):
        text.append([])
        for sentence in article:
            u = len([s for art in corpus.articles[:a] for s in art]) + article.index(sentence)
            words = sentence.split()
            for i, w in enumerate(words):
                text[a].append((u, i, len(words), w, g))
                g += 1
    base, extra, y, units, subjects = [], [], [], [], []
    for article in text:
        for t, (u, i, n, w, g) in enumerate(article):
            if i == 0 or i == n - 1 or strip(w) != w or t < k:
                continue
            lag = [article[t - j] for j in range(0, k + 1)]
            if any(np.isnan(predictor[:, e[4]]).any() for e in lag):
                continue
            obs = [(s, v) for s, v in enumerate(times.values[u][:, i])
                   if np.isfinite(v) and v != 0 and lo <= v <= hi]
            if not obs:
                continue
            feats = [1.0, len(strip(w)), zipf_frequency(strip(w).lower(), "en")]
            row = feats + [feats[1] * feats[2], i]
            row += [len(strip(e[3])) for e in lag[1:]] + [zipf_frequency(strip(e[3]).lower(), "en") for e in lag[1:]]
            preds = [[predictor[layer, e[4]] for e in lag] for layer in range(predictor.shape[0])]
            pairs = obs if target == "subject" else [(None, np.mean([v for _, v in obs]))]
            for s, v in pairs:
                base.append(row)
                extra.append(preds)
                y.append(v)
                units.append(u)
                subjects.append(s)
    base, extra, y = np.array(base, float), np.array(extra, float), np.array(y)
    full = np.concatenate([np.broadcast_to(base, (extra.shape[1],) + base.shape), extra.transpose(1, 0, 2)], axis=2)
    if target == "subject":
        subjects = np.array(subjects)
        for s in np.unique(subjects):
            at = subjects == s
            y[at] -= y[at].mean()
            base[np.ix_(at, range(1, base.shape[1]))] -= base[at, 1:].mean(0)
            for layer in range(full.shape[0]):
                full[layer][np.ix_(at, range(1, full.shape[2]))] -= full[layer][at, 1:].mean(0)
    return base, full, y, np.array(units)


def held_out_gains(base, full, y, fold):
    """Per-row held-out log-likelihood gain ``(layers, rows)``: per fold, lstsq on the other folds, Gaussian density
    with the training RSS / N variance."""
    gains = np.empty((full.shape[0], y.size))
    for f in np.unique(fold):
        train, test = fold != f, fold == f
        if (fold == 0).all():
            train = test
        ll = []
        for x in [base] + list(full):
            coef = np.linalg.lstsq(x[train], y[train], rcond=None)[0]
            sd = np.sqrt(np.mean((y[train] - x[train] @ coef) ** 2))
            ll.append(norm.logpdf(y[test], x[test] @ coef, sd))
        gains[:, test] = np.array(ll[1:]) - ll[0]
    return gains


def test_insample_equals_statsmodels_llf():
    corpus, times, predictor = planted()
    result = predictive_power(corpus, times, predictor[1], score="insample", n_boot=0)
    base, full, y, _ = reference(corpus, times, predictor[1])
    expected = (sm.OLS(y, full[0]).fit().llf - sm.OLS(y, base).fit().llf) / y.size
    assert result.n_words == y.size and result.best_layer is None
    np.testing.assert_allclose(result.delta_ll, [expected], rtol=1e-9)
    np.testing.assert_allclose(result.word_target, y)
    np.testing.assert_allclose(result.r, [pearsonr(full[0][:, -2], y).statistic], rtol=1e-9)
    assert np.isnan(result.low).all()


@pytest.mark.parametrize("k", [1, 2])
def test_cv_and_bootstrap_equal_fold_and_resampling_loops(k):
    corpus, times, predictor = planted(seed=1)
    result = predictive_power(corpus, times, predictor, spillover=k)
    base, full, y, unit = reference(corpus, times, predictor, k=k)
    gains = held_out_gains(base, full, y, unit % 10)
    np.testing.assert_allclose(result.delta_ll, gains.mean(1), rtol=1e-8)
    np.testing.assert_array_equal(result.word_fold, unit % 10)
    units = np.unique(unit)
    draws = np.random.default_rng(0).integers(0, units.size, (1000, units.size))
    boot = np.array([np.concatenate([gains[:, unit == units[d]] for d in row], axis=1).mean(1) for row in draws])
    np.testing.assert_allclose([result.low, result.high], np.percentile(boot, [2.5, 97.5], axis=0), rtol=1e-8)
    assert result.n_units == units.size and result.best_layer == int(np.argmax(gains.mean(1)))


def test_subject_target_equals_centred_reference():
    corpus, times, predictor = planted(seed=2)
    for score in ("insample", "cv"):
        result = predictive_power(corpus, times, predictor, target="subject", score=score, n_boot=0)
        base, full, y, unit = reference(corpus, times, predictor, target="subject")
        gains = held_out_gains(base, full, y, unit % 10 if score == "cv" else np.zeros(y.size, int))
        assert result.n_observations == y.size
        np.testing.assert_allclose(result.delta_ll, gains.mean(1), rtol=1e-8)
    insample = (np.array([sm.OLS(y, x).fit().llf for x in full]) - sm.OLS(y, base).fit().llf) / y.size
    result = predictive_power(corpus, times, predictor, target="subject", score="insample", n_boot=0)
    np.testing.assert_allclose(result.delta_ll, insample, rtol=1e-8)


def test_planted_layer_wins_and_noise_does_not():
    corpus, times, predictor = planted(seed=3, units=25, drive=2)
    result = predictive_power(corpus, times, predictor)
    assert result.best_layer == 2 and result.delta_ll[2] > 0.05 and result.low[2] > 0
    assert (result.low[:2] < 0).all() and (result.delta_ll[:2] < 0.05).all() and result.r[2] > 0.5
    noise = np.random.default_rng(9).normal(size=predictor.shape[1])
    assert predictive_power(corpus, times, noise).delta_ll[0] < 0.01


def test_word_selection_counts():
    corpus = Corpus((("one two three four", "five six, seven eight nine"),
                     ("ten eleven twelve thirteen", "alpha beta gamma")))
    predictor = np.arange(16.0)
    predictor[[6, 10]] = np.nan                # seven, eleven
    values = [np.full((2, n), 300.0) for n in corpus.n_words]
    values[0][:, 2] = [0.0, 4000.0]            # three: no valid observation
    values[2][:, 2] = [20.0, 0.0]              # twelve: excluded before its observations count
    values[3][:, 1] = [20.0, 300.0]            # beta: one dropped, one kept
    times = ReadingTimes("L1", "trt", "eye_tracking", ["a", "b"], values)
    analysed, valid, excluded, dropped, *_ = select_words(corpus, times, predictor[None], 2, 50.0, 3000.0)
    assert excluded == {
        "first or last word of its unit": 8,               # one four five nine ten thirteen alpha gamma
        "attached to punctuation": 1,                      # six,
        "fewer than 2 previous words in its text": 2,      # two, eleven (nine is in the other article)
        "predictor undefined": 1,                          # seven
        "predictor of one of its 2 previous words undefined": 2,   # eight (seven), twelve (eleven)
        "no valid reading time": 1}                        # three
    assert dropped == {"observations of 0 ms (skipped words)": 1, "observations outside [50, 3000] ms": 2}
    np.testing.assert_array_equal(np.flatnonzero(analysed), [14])   # beta: thirteen and alpha precede it
    np.testing.assert_array_equal(valid[:, 14], [False, True])


def test_bad_settings():
    corpus, times, predictor = planted()
    for kwargs, error, text in (({"score": "loo"}, ConfigError, "score='loo'"),
                                ({"target": "median"}, ConfigError, "target='median'"),
                                ({"folds": 1}, ConfigError, "folds=1: choose 2 to 36"),
                                ({"folds": 37}, ConfigError, "folds=37"),
                                ({"spillover": -1}, ConfigError, "spillover=-1"),
                                ({"min_ms": 500, "max_ms": 100}, ConfigError, "min_ms=500")):
        with pytest.raises(error, match=text):
            predictive_power(corpus, times, predictor, **kwargs)
    with pytest.raises(DataError, match="too few to fit"):
        predictive_power(corpus, times, predictor, score="insample", spillover=50)
    with pytest.raises(DataError, match="predictor of shape"):
        predictive_power(corpus, times, predictor[:, :-1])
    means = ReadingTimes("L1", "rt", "self_paced", ["mean"], [v[:1] for v in times.values], means=True)
    with pytest.raises(ConfigError, match="target='subject'"):
        predictive_power(corpus, means, predictor, target="subject")
