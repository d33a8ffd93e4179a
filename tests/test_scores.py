"""Score options (attnhuman.scores), each against an independent computation: per-subject sklearn /
numpy loops over folds, sklearn PCA and Ridge, a slow permutation loop, planted-truth ceilings."""
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GroupKFold

from attnhuman.attention import AttentionStore
from attnhuman.corpus import tril_cells
from attnhuman.registry import CONF_DIR, ConfigError
from attnhuman.resemblance import group_resemblance
from attnhuman.scores import (ScoreOptions, ceiling_scores, cell_folds, immobile_sentences, layer_scores,
                              metric_key, metric_suffix, permutation_test, score_group, sentence_permutations,
                              split_half_ceiling)
from conftest import lstsq_r2

LAYERS = [0, 1, 30]


def oof_r2(predict, x, y, fold):
    """Reference out-of-fold R2: concatenated per-fold predictions, SST around the overall mean."""
    yhat = np.empty_like(y)
    for k in np.unique(fold):
        test = fold == k
        yhat[test] = predict(x[~test], y[~test], x[test])
    return 1 - ((y - yhat) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


def ols_predict(xtr, ytr, xte):
    return LinearRegression().fit(xtr, ytr).predict(xte)


def kept_groups(corpus, cohort, unit):
    sentence = tril_cells(corpus.n_words)[0][cohort.cell_mask]
    article = np.repeat(np.arange(len(corpus.articles)), [len(a) for a in corpus.articles])
    return sentence if unit == "sentence" else article[sentence]


def sklearn_folds(groups, k, seed):
    fold = np.empty(len(groups), dtype=int)
    for i, (_, test) in enumerate(GroupKFold(k, shuffle=True, random_state=seed).split(groups, groups=groups)):
        fold[test] = i
    return fold


@pytest.mark.parametrize("unit", ["sentence", "article"])
def test_cv_r2_equals_per_subject_sklearn_loop(corpus, cohorts, llama30, unit):
    cohort = cohorts[0]["L1"]
    groups = kept_groups(corpus, cohort, unit)
    fold = sklearn_folds(groups, 5, seed=3)
    np.testing.assert_array_equal(cell_folds(groups, 5, 3, unit), fold)
    for k in range(5):   # folds keep units whole
        assert not set(groups[fold == k]) & set(groups[fold != k])
    attention = llama30.attention[LAYERS][:, :, cohort.cell_mask]
    fast = layer_scores(attention, cohort.targets, fold, score="cv")
    subjects = [0, 7, 20]
    for i in range(len(LAYERS)):
        x = attention[i].T.astype(float)
        expected = oof_r2(ols_predict, x, cohort.targets[:, subjects], fold)
        np.testing.assert_allclose(fast[i, subjects], expected, rtol=0, atol=1e-10)
    # the entry point builds the same folds from the config
    res = score_group(llama30, cohort, corpus, {"score": "cv", "cv": {"unit": unit, "folds": 5, "seed": 3}})
    np.testing.assert_allclose(res.r2[LAYERS], fast, atol=1e-12)
    assert res.suffix == ("cv" if unit == "sentence" else "cv_article")
    assert (fast < layer_scores(attention, cohort.targets)).all()     # out-of-fold < in-sample


def test_loo_and_group_mean_ceilings_equal_loops(corpus, cohorts):
    cohort = cohorts[0]["L2"]
    y = cohort.targets
    fold = sklearn_folds(kept_groups(corpus, cohort, "sentence"), 5, seed=0)
    others = [np.delete(y, s, axis=1).mean(axis=1) for s in range(y.shape[1])]
    loo_in = [lstsq_r2(others[s][:, None], y[:, [s]])[0] for s in range(y.shape[1])]
    loo_cv = [oof_r2(ols_predict, others[s][:, None], y[:, [s]], fold)[0] for s in range(y.shape[1])]
    np.testing.assert_allclose(ceiling_scores("loo", cohort.mean, y), loo_in, atol=1e-12)
    np.testing.assert_allclose(ceiling_scores("loo", cohort.mean, y, fold), loo_cv, atol=1e-12)
    mean_cv = oof_r2(ols_predict, cohort.mean[:, None], y, fold)
    np.testing.assert_allclose(ceiling_scores("group_mean", cohort.mean, y, fold), mean_cv, atol=1e-12)
    np.testing.assert_allclose(ceiling_scores("group_mean", cohort.mean, y),
                               lstsq_r2(cohort.mean[:, None], y), atol=1e-12)


def test_pcs_equal_sklearn_pca_and_linear_regression(corpus, cohorts, llama30):
    cohort = cohorts[0]["L1"]
    fold = sklearn_folds(kept_groups(corpus, cohort, "sentence"), 5, seed=0)
    attention = llama30.attention[[1, 30]][:, :, cohort.cell_mask]
    y = cohort.targets[:, [0, 5]]
    insample = layer_scores(attention, y, predictors="pcs", n_components=8)
    cv = layer_scores(attention, y, fold, score="cv", predictors="pcs", n_components=8)

    def pcr(xtr, ytr, xte):
        pca = PCA(n_components=8, svd_solver="full").fit(xtr)
        return LinearRegression().fit(pca.transform(xtr), ytr).predict(pca.transform(xte))

    for i in range(2):
        x = attention[i].T.astype(float)
        np.testing.assert_allclose(insample[i], lstsq_r2(PCA(8, svd_solver="full").fit_transform(x), y), atol=1e-10)
        np.testing.assert_allclose(cv[i], oof_r2(pcr, x, y, fold), atol=1e-10)
    assert (insample <= layer_scores(attention, y) + 1e-12).all()    # 8 PCs span less than 52 heads
    with pytest.raises(ConfigError, match="n_components=53"):
        layer_scores(attention, y, predictors="pcs", n_components=53)
    with pytest.raises(ConfigError, match="n_components=60: choose 1 to the number of heads \\(52\\)"):
        score_group(llama30, cohort, corpus, {"predictors": "pcs", "n_components": 60})


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
    fold = sklearn_folds(sentence, 3, seed=0) if score == "cv" else None
    n_perm = 30
    res = permutation_test(x, y, sentence, fold, n_perm=n_perm, seed=7, alpha=0.5, score=score)
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


def test_more_heads_inflate_insample_r2_but_not_cv(corpus, cohorts):
    cohort = cohorts[0]["L1"]
    fold = cell_folds(kept_groups(corpus, cohort, "sentence"), 5, 0)
    rng = np.random.default_rng(5)
    scores = {}
    for heads in (32, 64):
        attention = rng.random((1, heads, cohort.targets.shape[0])).astype(np.float32)   # no relation to reading
        scores[heads] = (layer_scores(attention, cohort.targets).mean(),
                         layer_scores(attention, cohort.targets, fold, score="cv").mean())
    (in32, cv32), (in64, cv64) = scores[32], scores[64]
    n = cohort.targets.shape[0]
    assert in32 == pytest.approx(32 / n, rel=0.25) and in64 == pytest.approx(64 / n, rel=0.25)
    assert in64 > 1.7 * in32
    assert cv64 < cv32 < 0 and cv64 > -3 * 64 / n


def test_default_equals_paper_and_option_names(corpus, cohorts, llama30):
    cohort = cohorts[0]["L2"]
    store = AttentionStore(llama30.attention[:4], llama30.n_words, llama30.sentences_per_article)
    paper = group_resemblance(store, cohort)
    res = score_group(store, cohort, corpus, None)
    np.testing.assert_array_equal(res.r2, paper.r2)
    np.testing.assert_array_equal(res.ceiling_r2, paper.ceiling_r2)
    assert res.resemblance == paper.resemblance and res.suffix == "" and res.permutation is None
    cases = {"": {}, "cv": {"score": "cv"}, "cv10_article": {"score": "cv", "cv": {"unit": "article", "folds": 10}},
             "cv_pcs8": {"score": "cv", "predictors": "pcs"}, "loo": {"ceiling": "loo"},
             "ridge_splithalf": {"predictors": "ridge", "ceiling": "split_half"}}
    for suffix, cfg in cases.items():
        assert metric_suffix(cfg) == suffix
    assert metric_key("r2", "", "L1") == "r2_L1" and metric_key("r2", "cv_pcs8", "L1") == "r2_cv_pcs8_L1"


def test_bad_options_fail_clearly(corpus, cohorts, llama30):
    cohort = cohorts[0]["L1"]
    with pytest.raises(ConfigError, match=r"analysis.score='oos': choose one of \['insample', 'cv'\]"):
        ScoreOptions.from_config({"score": "oos"})
    with pytest.raises(ConfigError, match="analysis.cv.folds=6: choose 2 to 5, the number of kept articles"):
        score_group(llama30, cohort, corpus, {"score": "cv", "cv": {"unit": "article", "folds": 6}})
    with pytest.raises(ConfigError, match="choose 2 to 3, the number of kept sentences"):
        cell_folds(np.repeat([0, 1, 2], 4), 5, 0)
    with pytest.raises(ConfigError, match="ridge needs analysis.cv.folds >= 3"):
        ScoreOptions.from_config({"score": "cv", "predictors": "ridge", "cv": {"folds": 2}})
    with pytest.raises(ConfigError, match="permutation.alpha"):
        ScoreOptions.from_config({"permutation": {"alpha": 5}})


def test_permutations_through_score_group(corpus, cohorts):
    """A small real-data run: layers that carry signal beat sentence-permuted attention."""
    cohort = cohorts[0]["L2"]
    rng = np.random.default_rng(2)
    signal = np.zeros((2, 3, corpus.n_cells), dtype=np.float32)
    signal[:, :, cohort.cell_mask] = rng.random((2, 3, cohort.targets.shape[0]))
    signal[0, 0, cohort.cell_mask] += cohort.targets.mean(axis=1)          # layer 0 reads like the group
    store = AttentionStore(signal, corpus.n_words, corpus.sentences_per_article)
    res = score_group(store, cohort, corpus, {"score": "cv", "permutation": {"n": 19, "seed": 1, "alpha": 0.1}})
    perm = res.permutation
    assert perm.p[0] == 0.05 and perm.p[1] > 0.05 and perm.significant.tolist() == [True, False]
    np.testing.assert_allclose(perm.observed, res.layer_r2, atol=1e-12)
    assert perm.n_immobile == immobile_sentences(np.bincount(kept_groups(corpus, cohort, "sentence"))[cohort.keep])


def test_config_composes_with_score_options():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        default = compose("config")
        cv = compose("config", overrides=["analysis.score=cv", "analysis.cv.unit=article",
                                          "analysis.predictors=pcs", "analysis.n_components=4"])
    assert metric_suffix(default.analysis) == "" and ScoreOptions.from_config(default.analysis) == ScoreOptions()
    opts = ScoreOptions.from_config(cv.analysis)
    assert (opts.score, opts.cv_unit, opts.cv_folds, opts.predictors, opts.n_components) == ("cv", "article", 5, "pcs", 4)
    assert metric_suffix(cv.analysis) == "cv_article_pcs4"
