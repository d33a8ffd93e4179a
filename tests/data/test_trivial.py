"""Trivial-pattern reliance (docs/method.md, "Trivial pattern reliance") against an independent numpy lstsq loop."""
import numpy as np
import pandas as pd
import pytest

from attnhuman.analysis.trivial import (
    human_reliance,
    human_table,
    model_reliance,
    pattern_design,
    residual_attention,
    residual_store,
)
from attnhuman.attention.store import AttentionStore
from attnhuman.corpus import tril_cells
from helpers.references import lstsq_r2


def loop_patterns(n_words):
    """Reference design: dense 0/1 matrices per sentence, read out in tril order."""
    columns = []
    for n in n_words:
        rows, cols = np.tril_indices(n)
        start, prev, self_ = np.zeros((n, n)), np.eye(n, k=-1), np.eye(n)
        start[:, 0] = 1
        columns.append(np.column_stack([m[rows, cols] for m in (start, prev, self_)]))
    return np.concatenate(columns)



def test_pattern_design_matches_dense_matrices(corpus):
    design = pattern_design(corpus.n_words)
    np.testing.assert_array_equal(design, loop_patterns(corpus.n_words))
    assert design.shape == (corpus.n_cells, 3)
    mask = corpus.cell_mask(np.arange(len(corpus)) % 2 == 0)
    np.testing.assert_array_equal(pattern_design(corpus.n_words, mask), design[mask])
    # release's label_*.pkl hold the same patterns
    _, rows, cols = tril_cells(corpus.n_words)
    assert design[:, 0].sum() == corpus.n_words.sum() and design[:, 2].sum() == corpus.n_words.sum()
    assert design[:, 1].sum() == (corpus.n_words - 1).sum()



def test_model_reliance_equals_lstsq_on_llama30(llama30):
    layers = [0, 1, 30, 59]
    store = AttentionStore(llama30.attention[layers], llama30.n_words, llama30.sentences_per_article)
    got = model_reliance(store, chunk=3)
    design = loop_patterns(llama30.n_words)
    for k, layer in enumerate(layers):
        expected = lstsq_r2(design, llama30.attention[layer].T.astype(np.float64))
        np.testing.assert_allclose(got.r2[k], expected, rtol=0, atol=1e-10)
        assert got.layer_r2[k] == pytest.approx(expected.mean(), abs=1e-12)
    assert got.constant == []



def test_human_reliance_equals_lstsq_on_real_cohorts(corpus, cohorts):
    cohorts, _ = cohorts
    design = loop_patterns(corpus.n_words)
    for cohort in cohorts.values():
        expected = lstsq_r2(design[cohort.cell_mask], cohort.targets)
        np.testing.assert_allclose(human_reliance(cohort, corpus.n_words), expected, rtol=0, atol=1e-10)



def test_human_table(corpus, cohorts):
    cohorts, _ = cohorts
    table = human_table(cohorts, corpus.n_words)
    l1, l2 = (lstsq_r2(loop_patterns(corpus.n_words)[c.cell_mask], c.targets) for c in cohorts.values())
    for group, r2 in (("L1", l1), ("L2", l2)):
        row = table.loc[group]
        assert row["n_subjects"] == len(r2)
        assert row["mean"] == pytest.approx(r2.mean(), abs=1e-12)
        assert row["se"] == pytest.approx(r2.std(ddof=1) / np.sqrt(len(r2)), abs=1e-12)
        assert (row["min"], row["max"]) == pytest.approx((r2.min(), r2.max()), abs=1e-12)
    # independent check of the t-test: Welch (pingouin's 'auto' with unequal sizes), scipy
    from scipy import stats
    welch = stats.ttest_ind(l1, l2, equal_var=False)
    assert table.loc["L1 vs L2", "T"] == pytest.approx(welch.statistic, rel=1e-9)
    assert table.loc["L1 vs L2", "p_val"] == pytest.approx(welch.pvalue, rel=1e-6)
    student = human_table(cohorts, corpus.n_words, correction=False)
    assert student.loc["L1 vs L2", "p_val"] == pytest.approx(stats.ttest_ind(l1, l2).pvalue, rel=1e-6)
    assert table.loc["L2", "mean"] > table.loc["L1", "mean"]     # L2 readers rely more on trivial patterns
    assert {"p_val", "CI95", "cohen_d"} <= set(table.columns)
    roundtrip = pd.read_csv(pd.io.common.StringIO(table.to_csv()), index_col=0)
    assert list(roundtrip.index) == ["L1", "L2", "L1 vs L2"]



def test_planted_mix_of_patterns(corpus):
    rng = np.random.default_rng(7)
    design = pattern_design(corpus.n_words)
    coef = rng.random((2, 4, 4))                              # (layers, heads, intercept + 3 patterns)
    attention = coef[..., :1] + np.einsum("lhp,cp->lhc", coef[..., 1:], design)
    attention[1, 3] = 0.25                                    # a constant head
    store = AttentionStore(attention.astype(np.float64), corpus.n_words, corpus.sentences_per_article)
    got = model_reliance(store)
    assert np.isnan(got.r2[1, 3]) and got.constant == [(1, 3)] and "L1H3" in got.describe_constant()
    np.testing.assert_allclose(np.delete(got.r2.ravel(), 7), 1.0, atol=1e-12)
    np.testing.assert_allclose(got.layer_r2, 1.0, atol=1e-12)   # NaN head skipped in the mean
    residual = residual_attention(store, dtype=np.float64)
    assert residual.shape == attention.shape
    np.testing.assert_allclose(residual, 0.0, atol=1e-12)
    # noise on top: the residual is the noise's OLS residual (mean zero per head, orthogonal to the patterns)
    noise = rng.normal(size=attention.shape)
    noisy = AttentionStore(attention + noise, corpus.n_words, corpus.sentences_per_article)
    residual = residual_store(noisy).attention.astype(np.float64)
    x = np.column_stack([np.ones(len(design)), design])
    for l, h in ((0, 0), (1, 2)):
        expected = noise[l, h] - x @ np.linalg.lstsq(x, noise[l, h], rcond=None)[0]
        np.testing.assert_allclose(residual[l, h], expected, atol=1e-5)



def test_constant_subject_is_nan_not_a_crash(corpus, cohorts):
    import dataclasses
    cohort = cohorts[0]["L1"]
    targets = cohort.targets.copy()
    targets[:, 0] = 0
    r2 = human_reliance(dataclasses.replace(cohort, targets=targets), corpus.n_words)
    assert np.isnan(r2[0]) and np.isfinite(r2[1:]).all()

