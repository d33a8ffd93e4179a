"""Statistics against scipy.stats and pingouin on seeded arrays: Bonferroni, paired and independent tests, correlations,
the scaling line (the real LLaMA-30B comparisons: tests/data/test_stats.py)."""
from __future__ import annotations

import numpy as np
import pingouin
import pytest
from scipy import stats as st

from attnhuman.analysis.stats import (
    correlation,
    independent_test,
    paired_layer_tests,
    scaling_fit,
)

PARAMS = np.array([774e6, 7e9, 13e9, 30e9, 65e9])
TABLE2_L1 = np.array([34.99, 53.04, 55.56, 63.16, 64.05])


def test_bonferroni_threshold_not_raw_alpha():
    rng = np.random.default_rng(3)
    a = rng.normal(0.1, 0.01, size=(10, 30))
    b = a + rng.normal(0, 0.01, size=a.shape)
    # shift layer 0 until its p lies between alpha / 10 and alpha: significant raw, not after Bonferroni
    shift = 0.0
    while not (0.005 < st.ttest_rel(b[0] + shift, a[0]).pvalue < 0.05):
        shift += 2e-4
    b[0] += shift
    p = st.ttest_rel(b, a, axis=1).pvalue
    tests = paired_layer_tests(a, b, alpha=0.05)
    assert 0.005 < tests.loc[0, "p_val"] < 0.05 and not tests.loc[0, "significant"]
    assert tests.loc[0, "direction"] == ""
    assert (tests["significant"].to_numpy() == (p < 0.005)).all()
    assert (tests["significant"] == (tests["p_bonf"] < 0.05)).all()



def test_independent_test_default_is_student_and_errors():
    assert independent_test([1.0, 2.0, 3.0], [2.0, 4.0, 5.0, 7.0])["test"] == "student"
    with pytest.raises(ValueError, match="correction"):
        independent_test([1.0, 2.0], [3.0, 4.0], correction="welch")
    with pytest.raises(ValueError, match="y has 1 value"):
        independent_test([1.0, 2.0], [3.0])



def test_correlation_small_and_degenerate():
    for n in (0, 1, 2):
        res = correlation(np.arange(n, dtype=float), np.arange(n, dtype=float) ** 2)
        assert res["n"] == n and np.isnan([res["r"], res["p_val"], res["ci95_low"], res["ci95_high"]]).all()
    res = correlation([1.0, 2.0, np.nan, 4.0], [2.0, 1.0, 5.0, 3.0])     # NaN pair dropped: n = 3
    ref = st.pearsonr([1.0, 2.0, 4.0], [2.0, 1.0, 3.0])
    assert res["n"] == 3 and res["r"] == pytest.approx(ref.statistic, rel=1e-12)
    assert res["p_val"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert np.isnan(correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])["r"])
    with pytest.raises(ValueError, match="same length"):
        correlation([1.0, 2.0, 3.0], [1.0, 2.0])



def test_pingouin_rounding_restored():
    before = dict(pingouin.options)
    correlation([1.0, 2.0, 3.0, 5.0], [2.0, 1.0, 4.0, 3.0])
    independent_test([1.0, 2.0, 3.0], [2.0, 4.0, 5.0])
    assert pingouin.options == before



def test_scaling_fit_matches_linregress_and_hand_extrapolation():
    res = scaling_fit(PARAMS, TABLE2_L1)
    ref = st.linregress(np.log10(PARAMS), TABLE2_L1)
    np.testing.assert_allclose([res["slope"], res["intercept"], res["r"], res["p_val"]],
                               [ref.slope, ref.intercept, ref.rvalue, ref.pvalue], rtol=1e-10)
    assert res["n"] == 5 and res["target"] == 1e11
    assert res["predicted"] == pytest.approx(ref.intercept + ref.slope * 11.0, rel=1e-12)
    assert res["r"] == pytest.approx(0.989, abs=3e-3) and res["p_val"] < 0.002     # paper: r = 0.989, p < 0.002
    at_1b = scaling_fit(PARAMS, TABLE2_L1, target=1e9)["predicted"]
    assert at_1b == pytest.approx(ref.intercept + 9 * ref.slope, rel=1e-12)



def test_scaling_fit_small_n():
    for n in (0, 1):
        res = scaling_fit(PARAMS[:n], TABLE2_L1[:n])
        assert res["n"] == n
        assert np.isnan([res["slope"], res["intercept"], res["r"], res["p_val"], res["predicted"]]).all()
    two = scaling_fit([1e9, 1e10], [40.0, 50.0])
    assert two["n"] == 2 and two["slope"] == pytest.approx(10.0) and two["intercept"] == pytest.approx(-50.0)
    assert two["predicted"] == pytest.approx(60.0) and np.isnan([two["r"], two["p_val"]]).all()
    dropped = scaling_fit([1e9, np.nan, 1e10], [40.0, 45.0, 50.0])
    assert dropped["n"] == 2 and dropped["predicted"] == pytest.approx(60.0)
    assert np.isnan(scaling_fit([7e9, 7e9, 7e9], [1.0, 2.0, 3.0])["slope"])
    with pytest.raises(ValueError, match="positive"):
        scaling_fit([0.0, 1e9], [1.0, 2.0])

