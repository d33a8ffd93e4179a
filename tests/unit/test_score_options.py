"""Score options (attnhuman.analysis: options, least_squares, ceilings, permutation), each against an independent
computation: per-subject sklearn / numpy loops over folds, sklearn PCA and Ridge, a slow permutation loop, planted-truth
ceilings."""
import numpy as np
import pytest
from sklearn.linear_model import Ridge

from attnhuman.analysis.ceilings import ceiling_scores, split_half_ceiling
from attnhuman.analysis.least_squares import layer_scores
from attnhuman.analysis.options import ScoreOptions
from attnhuman.analysis.permutation import (
    immobile_sentences,
    permutation_test,
    sentence_permutations,
)
from attnhuman.app.spec import score_options
from attnhuman.errors import ConfigError
from helpers.config import compose_job
from helpers.references import lstsq_r2, oof_r2, sklearn_folds

LAYERS = [0, 1, 30]








def small_problem(seed=0, sentences=24, heads=6, subjects=3, layers=2):
    """Few noisy, partly collinear heads so that the ridge penalty matters."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(8, 30, sentences)
    sentence = np.repeat(np.arange(sentences), sizes)
    base = rng.standard_normal((len(sentence), 2))
    x = np.stack([base @ rng.standard_normal((2, heads)) + 0.3 * rng.standard_normal((len(sentence), heads))
                  for _ in range(layers)]).transpose(0, 2, 1)          # (layers, heads, cells)
    y = base[:, :1] @ rng.random((1, subjects)) * 0.3 + rng.standard_normal((len(sentence), subjects))
    return x, y, sentence



def test_ridge_equals_sklearn_nested_loop():
    x, y, sentence = small_problem()
    alphas = (0.1, 3.0, 100.0, 3000.0)
    fold = sklearn_folds(sentence, 4, seed=1)

    def choose(xtr, ytr, ftr):
        errors = np.zeros((len(alphas), ytr.shape[1]))
        for g in np.unique(ftr):
            inner = ftr == g
            for a, alpha in enumerate(alphas):
                pred = Ridge(alpha=alpha).fit(xtr[~inner], ytr[~inner]).predict(xtr[inner])
                errors[a] += ((ytr[inner] - pred) ** 2).sum(0)
        return np.argmin(errors, axis=0)

    def ridge_predict(xtr, ytr, xte, ftr):
        best = choose(xtr, ytr, ftr)
        return np.column_stack([Ridge(alpha=alphas[b]).fit(xtr, ytr[:, s]).predict(xte) for s, b in enumerate(best)])

    cv, chosen = layer_scores(x, y, fold, score="cv", predictors="ridge", alphas=alphas, return_alphas=True)
    insample, chosen_in = layer_scores(x, y, fold, predictors="ridge", alphas=alphas, return_alphas=True)
    assert chosen.shape == (4, 2, 3) and chosen_in.shape == (1, 2, 3)
    for layer in range(2):
        xl = x[layer].T
        yhat = np.empty_like(y)
        for k in range(4):
            test = fold == k
            yhat[test] = ridge_predict(xl[~test], y[~test], xl[test], fold[~test])
            np.testing.assert_array_equal(chosen[k, layer], np.asarray(alphas)[choose(xl[~test], y[~test], fold[~test])])
        expected = 1 - ((y - yhat) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
        np.testing.assert_allclose(cv[layer], expected, atol=1e-10)
        best = choose(xl, y, fold)
        full = np.column_stack([Ridge(alpha=alphas[b]).fit(xl, y[:, s]).predict(xl) for s, b in enumerate(best)])
        np.testing.assert_allclose(insample[layer], 1 - ((y - full) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0),
                                   atol=1e-10)
    assert len(np.unique(chosen)) > 1       # the grid is actually used
    with pytest.raises(ConfigError, match="at least 3 folds"):
        layer_scores(x, y, sklearn_folds(sentence, 2, seed=0), score="cv", predictors="ridge")



def test_cv_with_collinear_heads_equals_lstsq_loop():
    """Rank-deficient designs leave the Gram route for numpy.linalg.lstsq (minimum-norm fit)."""
    x, y, sentence = small_problem(seed=3)
    x[0, 3] = 2 * x[0, 1] - x[0, 0]
    x[1, 2] = 0.25
    fold = sklearn_folds(sentence, 4, seed=0)

    def lstsq_predict(xtr, ytr, xte):
        coef = np.linalg.lstsq(np.column_stack([np.ones(len(xtr)), xtr]), ytr, rcond=None)[0]
        return np.column_stack([np.ones(len(xte)), xte]) @ coef

    fast = layer_scores(x, y, fold, score="cv")
    for layer in range(2):
        np.testing.assert_allclose(fast[layer], oof_r2(lstsq_predict, x[layer].T, y, fold), atol=1e-10)



def bh(p):
    """Reference Benjamini-Hochberg adjusted p-values."""
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1)
    return out



@pytest.mark.parametrize("score", ["insample", "cv"])
def test_permutation_test_equals_slow_loop(score):
    rng = np.random.default_rng(4)
    n_words = np.array([3, 4, 3, 5, 4, 3, 4, 6, 5, 3, 4, 5])            # 6 words: a single sentence, cannot move
    sizes = n_words * (n_words + 1) // 2
    sentence = np.repeat(np.arange(len(sizes)), sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    x = rng.random((2, 3, len(sentence)))
    y = rng.random((len(sentence), 3)) + 0.5 * x[0, :1].T               # layer 0 carries signal
    x[1, 2] = x[1, 0] + x[1, 1]                                         # layer 1 is rank-deficient: the exact path
    fold = sklearn_folds(sentence, 3, seed=0) if score == "cv" else None
    n_perm = 30
    res = permutation_test(x, y, sentence, fold, n_perm=n_perm, seed=7, alpha=0.5, score=score)
    np.testing.assert_array_equal(res.observed, layer_scores(x, y, fold, score=score).mean(axis=1))   # the reported
    perms = sentence_permutations(sizes, n_perm, seed=7)
    assert (sizes[perms] == sizes).all() and (perms[:, 7] == 7).all() and res.n_immobile == 1
    assert immobile_sentences(sizes) == 1 and res.n_sentences == 12
    assert not (perms == np.arange(12)).all(axis=1).all()

    def layer_score(design, target):
        if score == "insample":
            return lstsq_r2(design, target).mean()
        return oof_r2(lambda a, b, c: np.column_stack([np.ones(len(c)), c]) @ np.linalg.lstsq(
            np.column_stack([np.ones(len(a)), a]), b, rcond=None)[0], design, target, fold).mean()

    null = np.empty((n_perm, 2))
    for p, perm in enumerate(perms):
        if score == "insample":      # move the attention: sentence j gets the attention of perm^-1(j)
            inverse = np.argsort(perm)
            cells = np.concatenate([np.arange(starts[inverse[j]], starts[inverse[j]] + sizes[j]) for j in range(12)])
            null[p] = [layer_score(x[layer][:, cells].T, y) for layer in range(2)]
        else:                        # move the readings: sentence k gets the reading of perm(k)
            cells = np.concatenate([np.arange(starts[perm[k]], starts[perm[k]] + sizes[k]) for k in range(12)])
            null[p] = [layer_score(x[layer].T, y[cells]) for layer in range(2)]
    observed = [layer_score(x[layer].T, y) for layer in range(2)]
    np.testing.assert_allclose(res.observed, observed, atol=1e-10)
    np.testing.assert_allclose(res.null, null, atol=1e-10)
    p = (1 + (null >= np.asarray(observed) - 1e-12).sum(0)) / (1 + n_perm)
    np.testing.assert_allclose(res.p, p)
    np.testing.assert_allclose(res.q, bh(p))
    assert res.p[0] == 1 / 31 and res.p[1] > res.p[0]      # only layer 0 carries signal
    np.testing.assert_array_equal(res.significant, res.q <= 0.5)
    assert list(res.to_frame().columns) == ["layer", "observed", "null_mean", "null_max", "p", "q_bh", "significant"]



def test_ceilings_against_planted_truth():
    """Subjects = shared signal + independent noise: the true ceiling is the R2 of a subject on the signal."""
    rng = np.random.default_rng(11)
    cells, subjects, signal_var, noise_var = 20000, 46, 0.15, 0.85
    r1 = signal_var / (signal_var + noise_var)                           # analytic true ceiling
    signal = np.sqrt(signal_var) * rng.standard_normal(cells)
    y = signal[:, None] + np.sqrt(noise_var) * rng.standard_normal((cells, subjects))
    truth = lstsq_r2(signal[:, None], y).mean()                          # realized: R2 of each subject on the signal
    assert truth == pytest.approx(r1, abs=0.004)
    mean = y.mean(axis=1)                                                # "released" group mean: all subjects
    group_mean = ceiling_scores("group_mean", mean, y).mean()
    loo = ceiling_scores("loo", mean, y).mean()
    split_half = ceiling_scores("split_half", mean, y, n_splits=200, seed=0).mean()
    reliability_others = (subjects - 1) * r1 / (1 + (subjects - 2) * r1)    # of the mean of S-1 subjects
    # group mean contains the subject: E[R2] = r1 + (1 - r1) / S, an overestimate
    assert group_mean == pytest.approx(r1 + (1 - r1) / subjects, abs=0.003) and group_mean > truth + 0.012
    # loo: no own noise, but the others' mean is noisy: E[R2] = r1 * reliability(S-1), slightly low
    assert loo == pytest.approx(r1 * reliability_others, abs=0.003) and truth - 0.03 < loo < truth
    # split half stepped down to one subject: unbiased for r1
    assert split_half == pytest.approx(truth, abs=0.004)
    assert abs(split_half - truth) < abs(loo - truth) and abs(split_half - truth) < abs(group_mean - truth)
    # cv ceilings: one predictor overfits nothing, out-of-fold equals in-sample closely
    fold = np.repeat(np.arange(5), cells // 5)
    assert ceiling_scores("group_mean", mean, y, fold).mean() == pytest.approx(group_mean, abs=0.001)
    assert ceiling_scores("loo", mean, y, fold).mean() == pytest.approx(loo, abs=0.001)
    assert split_half_ceiling(y, 200, 0) == pytest.approx(split_half, abs=1e-15)



def test_config_composes_with_score_options():
    default = compose_job()
    cv = compose_job("analysis.score=cv", "analysis.cv.unit=article", "analysis.predictors=pcs", "analysis.n_components=4")
    assert score_options(default).suffix == "" and score_options(default) == ScoreOptions()
    opts = score_options(cv)
    assert (opts.score, opts.cv.unit, opts.cv.folds, opts.predictors, opts.n_components) == ("cv", "article", 5, "pcs", 4)
    assert opts.suffix == "cv_article_pcs4"

