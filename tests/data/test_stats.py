"""Statistics against scipy.stats on real per-subject R2 of LLaMA-30B (plain vs translate prefix)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from attnhuman.analysis.resemblance import group_resemblance
from attnhuman.analysis.stats import (
    correlation,
    independent_test,
    layer_lists,
    paired_layer_tests,
)
from attnhuman.attention.store import load_attention
from helpers.paths import LLAMA30

PARAMS = np.array([774e6, 7e9, 13e9, 30e9, 65e9])
TABLE2_L1 = np.array([34.99, 53.04, 55.56, 63.16, 64.05])


@pytest.fixture(scope="module")
def r2(llama30, corpus, cohorts):
    """{'L1': plain, 'L1_translate': translate, 'L2': plain} per-subject R2 (layers, subjects)."""
    translate = load_attention(LLAMA30 / "packed_instr_translate.npz", corpus)
    return {"L1": group_resemblance(llama30, cohorts[0]["L1"]).r2,
            "L1_translate": group_resemblance(translate, cohorts[0]["L1"]).r2,
            "L2": group_resemblance(llama30, cohorts[0]["L2"]).r2}



def test_paired_layer_tests_match_scipy(r2):
    a, b = r2["L1"], r2["L1_translate"]
    assert a.shape == (60, 46)
    tests = paired_layer_tests(a, b)
    assert list(tests.columns) == ["layer", "mean_a", "mean_b", "T", "dof", "p_val", "p_bonf",
                                   "significant", "direction", "cohen_d"]
    ref = st.ttest_rel(b, a, axis=1)
    np.testing.assert_allclose(tests["T"], ref.statistic, rtol=1e-10)
    np.testing.assert_allclose(tests["p_val"], ref.pvalue, rtol=1e-10)
    assert (tests["dof"] == 45).all()
    np.testing.assert_allclose(tests["mean_a"], a.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(tests["mean_b"], b.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(tests["p_bonf"], np.minimum(ref.pvalue * 60, 1), rtol=1e-10)
    d_avg = (b.mean(axis=1) - a.mean(axis=1)) / np.sqrt((a.var(axis=1, ddof=1) + b.var(axis=1, ddof=1)) / 2)
    np.testing.assert_allclose(tests["cohen_d"], np.abs(d_avg), rtol=1e-10)
    significant = ref.pvalue < 0.05 / 60
    assert (tests["significant"].to_numpy() == significant).all()
    lists = layer_lists(tests)
    assert lists["higher"] == np.flatnonzero(significant & (ref.statistic > 0)).tolist()
    assert lists["lower"] == np.flatnonzero(significant & (ref.statistic < 0)).tolist()
    assert set(tests["direction"]) <= {"higher", "lower", ""}



def test_planted_shift_is_found_on_exactly_those_layers(r2):
    a = r2["L1"]
    b = a.copy()
    b[[3, 17, 42]] += 0.05                  # large constant: b > a for every subject
    b[[8, 50]] -= 0.05
    noise = np.random.default_rng(0).normal(0, 1e-4, size=a.shape)
    tests = paired_layer_tests(a, b + noise)
    assert layer_lists(tests) == {"higher": [3, 17, 42], "lower": [8, 50]}
    spread = np.linspace(0, 0.01, a.shape[1])                   # shifts that vary over subjects
    b = a.copy()
    b[[3, 17, 42]] += 0.05 + spread
    b[[8, 50]] -= 0.05 + spread
    exact = paired_layer_tests(a, b)        # no noise: untouched layers identical, T and p NaN
    assert exact.loc[0, ["T", "p_val"]].isna().all() and not exact.loc[0, "significant"]
    assert layer_lists(exact) == {"higher": [3, 17, 42], "lower": [8, 50]}



def test_paired_shape_errors(r2):
    with pytest.raises(ValueError, match=r"\(60, 46\) and \(60, 54\)"):
        paired_layer_tests(r2["L1"], r2["L2"])
    bad = r2["L1"].copy()
    bad[5, 2] = np.nan
    with pytest.raises(ValueError, match="r2_b has non-finite values, first at layer 5, subject 2"):
        paired_layer_tests(r2["L1"], bad)
    with pytest.raises(ValueError, match="lacks column"):
        layer_lists(paired_layer_tests(r2["L1"], r2["L1_translate"]).drop(columns="direction"))



@pytest.mark.parametrize("correction,equal_var,name", [(False, True, "student"), (True, False, "welch"),
                                                       ("auto", False, "welch")])
def test_independent_test_matches_scipy(r2, correction, equal_var, name):
    best = int(np.argmax(r2["L1"].mean(axis=1)))
    x, y = r2["L1"][best], r2["L2"][best]          # 46 vs 54 subjects: 'auto' picks Welch
    res = independent_test(x, y, correction=correction)
    ref = st.ttest_ind(x, y, equal_var=equal_var)
    assert res["test"] == name and (res["n_x"], res["n_y"]) == (46, 54)
    np.testing.assert_allclose([res["T"], res["p_val"], res["dof"]], [ref.statistic, ref.pvalue, ref.df], rtol=1e-10)
    ci = ref.confidence_interval(0.95)
    np.testing.assert_allclose([res["ci95_low"], res["ci95_high"]], [ci.low, ci.high], rtol=1e-10)
    assert res["mean_x"] == pytest.approx(x.mean()) and res["mean_y"] == pytest.approx(y.mean())
    pooled = np.sqrt(((45 * x.var(ddof=1)) + 53 * y.var(ddof=1)) / 98)
    assert res["cohen_d"] == pytest.approx(abs(x.mean() - y.mean()) / pooled, rel=1e-10)



def test_correlation_matches_scipy(r2):
    x, y = r2["L1"].mean(axis=1), r2["L2"].mean(axis=1)       # layer profiles L1 vs L2, n = 60
    res = correlation(x, y)
    ref = st.pearsonr(x, y)
    assert res["n"] == 60
    np.testing.assert_allclose([res["r"], res["p_val"]], [ref.statistic, ref.pvalue], rtol=1e-10)
    ci = ref.confidence_interval(0.95)
    np.testing.assert_allclose([res["ci95_low"], res["ci95_high"]], [ci.low, ci.high], atol=1e-6)

