"""Score options (attnhuman.scores), each against an independent computation: per-subject sklearn /
numpy loops over folds, sklearn PCA and Ridge, a slow permutation loop, planted-truth ceilings."""
import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression

from attnhuman import metrics
from attnhuman.analysis.ceilings import ceiling_scores
from attnhuman.analysis.least_squares import cell_folds, layer_scores
from attnhuman.analysis.options import ScoreOptions
from attnhuman.analysis.permutation import (
    immobile_sentences,
)
from attnhuman.analysis.resemblance import group_resemblance, score_group
from attnhuman.attention.store import AttentionStore
from attnhuman.corpus import tril_cells
from attnhuman.errors import ConfigError
from helpers.references import lstsq_r2, ols_predict, oof_r2, sklearn_folds

LAYERS = [0, 1, 30]








def kept_groups(corpus, cohort, unit):
    sentence = tril_cells(corpus.n_words)[0][cohort.cell_mask]
    article = np.repeat(np.arange(len(corpus.articles)), [len(a) for a in corpus.articles])
    return sentence if unit == "sentence" else article[sentence]






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
    res = score_group(llama30, cohort, corpus, ScoreOptions.from_mapping({"score": "cv", "cv": {"unit": unit, "folds": 5, "seed": 3}}))
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
        score_group(llama30, cohort, corpus, ScoreOptions.from_mapping({"predictors": "pcs", "n_components": 60}))



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
        assert ScoreOptions.from_mapping(cfg).suffix == suffix
    assert metrics.r2("L1") == "r2_L1" and metrics.r2("L1", "cv_pcs8") == "r2_cv_pcs8_L1"



def test_bad_options_fail_clearly(corpus, cohorts, llama30):
    cohort = cohorts[0]["L1"]
    with pytest.raises(ConfigError, match=r"analysis.score='oos': choose one of \['insample', 'cv'\]"):
        ScoreOptions.from_mapping({"score": "oos"})
    with pytest.raises(ConfigError, match="analysis.cv.folds=6: choose 2 to 5, the number of kept articles"):
        score_group(llama30, cohort, corpus, ScoreOptions.from_mapping({"score": "cv", "cv": {"unit": "article", "folds": 6}}))
    with pytest.raises(ConfigError, match="choose 2 to 3, the number of kept sentences"):
        cell_folds(np.repeat([0, 1, 2], 4), 5, 0)
    with pytest.raises(ConfigError, match="ridge needs analysis.cv.folds >= 3"):
        ScoreOptions.from_mapping({"score": "cv", "predictors": "ridge", "cv": {"folds": 2}})
    with pytest.raises(ConfigError, match="permutation.alpha"):
        ScoreOptions.from_mapping({"permutation": {"alpha": 5}})



def test_permutations_through_score_group(corpus, cohorts):
    """A small real-data run: layers that carry signal beat sentence-permuted attention."""
    cohort = cohorts[0]["L2"]
    rng = np.random.default_rng(2)
    signal = np.zeros((2, 3, corpus.n_cells), dtype=np.float32)
    signal[:, :, cohort.cell_mask] = rng.random((2, 3, cohort.targets.shape[0]))
    signal[0, 0, cohort.cell_mask] += cohort.targets.mean(axis=1)          # layer 0 reads like the group
    store = AttentionStore(signal, corpus.n_words, corpus.sentences_per_article)
    res = score_group(store, cohort, corpus, ScoreOptions.from_mapping({"score": "cv", "permutation": {"n": 19, "seed": 1, "alpha": 0.1}}))
    perm = res.permutation
    assert perm.p[0] == 0.05 and perm.p[1] > 0.05 and perm.significant.tolist() == [True, False]
    np.testing.assert_allclose(perm.observed, res.layer_r2, atol=1e-12)
    assert perm.n_immobile == immobile_sentences(np.bincount(kept_groups(corpus, cohort, "sentence"))[cohort.keep])

