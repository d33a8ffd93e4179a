"""Bootstrap intervals (docs/method.md, "Uncertainty") against a resample-by-resample reference and a planted truth."""
import numpy as np
import pytest

from attnhuman.analysis import bootstrap


def _draws(n_items: int, resamples: int, seed: int) -> np.ndarray:
    """The same draws as the bootstrap: ``(resamples, n_items)`` item indices."""
    return np.random.default_rng(seed).integers(0, n_items, size=(resamples, n_items))


def test_subject_interval_equals_a_resample_by_resample_reference():
    rng = np.random.default_rng(3)
    r2 = rng.uniform(0.0, 0.2, size=(6, 25))                 # (layers, subjects)
    ceiling = rng.uniform(0.1, 0.3, size=25)
    got = bootstrap.over_subjects(r2, ceiling, resamples=300, seed=7)
    percent, best, ceil, layers = [], [], [], []
    for idx in _draws(25, 300, 7):
        means = r2[:, idx].mean(axis=1)
        c = ceiling[idx].mean()
        percent.append(100 * means.max() / c)
        best.append(means.max())
        ceil.append(c)
        layers.append(100 * means / c)
    assert got.percent == pytest.approx(tuple(np.percentile(percent, [2.5, 97.5])), rel=1e-12)
    assert got.score == pytest.approx(tuple(np.percentile(best, [2.5, 97.5])), rel=1e-12)
    assert got.ceiling == pytest.approx(tuple(np.percentile(ceil, [2.5, 97.5])), rel=1e-12)
    np.testing.assert_allclose(got.layer_low, np.percentile(layers, 2.5, axis=0), rtol=1e-12)
    np.testing.assert_allclose(got.layer_high, np.percentile(layers, 97.5, axis=0), rtol=1e-12)


def test_unit_interval_equals_a_resample_by_resample_reference():
    rng = np.random.default_rng(4)
    rho = rng.uniform(-0.2, 0.8, size=(4, 40))                # (layers, units)
    rho[1, 3] = np.nan                                        # a constant unit in one layer
    ceiling = rng.uniform(0.2, 0.9, size=(5, 40))             # (subjects, units)
    ceiling[0, :10] = np.nan                                  # a subject who read only some units
    got = bootstrap.over_units(rho, ceiling, resamples=200, seed=1)
    percent, ceil = [], []
    for idx in _draws(40, 200, 1):
        layer = np.nanmean(rho[:, idx], axis=1)
        c = np.nanmean(np.nanmean(ceiling[:, idx], axis=1))
        percent.append(100 * layer.max() / c)
        ceil.append(c)
    assert got.percent == pytest.approx(tuple(np.percentile(percent, [2.5, 97.5])), rel=1e-10)
    assert got.ceiling == pytest.approx(tuple(np.percentile(ceil, [2.5, 97.5])), rel=1e-10)


def test_interval_width_matches_the_planted_spread():
    """Subjects whose single-layer R2 is normal with SD 0.02 around 0.1: the interval of the mean is about
    +-1.96 * 0.02 / sqrt(n) wide, and covers the planted mean."""
    rng = np.random.default_rng(0)
    r2 = rng.normal(0.1, 0.02, size=(1, 400))
    got = bootstrap.over_subjects(r2, np.ones(400), resamples=2000, seed=0)
    half = (got.score[1] - got.score[0]) / 2
    assert half == pytest.approx(1.96 * 0.02 / np.sqrt(400), rel=0.15)
    assert got.score[0] < 0.1 < got.score[1]


def test_the_same_seed_gives_the_same_interval_and_counts_sum_to_the_items():
    counts = bootstrap.counts(30, resamples=50, seed=2)
    assert counts.shape == (50, 30) and (counts.sum(axis=1) == 30).all()
    r2, ceiling = np.random.default_rng(1).uniform(size=(3, 30)), np.ones(30)
    a, b = bootstrap.over_subjects(r2, ceiling, seed=5), bootstrap.over_subjects(r2, ceiling, seed=5)
    assert a.percent == b.percent and np.array_equal(a.layer_low, b.layer_low)
    assert bootstrap.over_subjects(r2, ceiling, seed=6).percent != a.percent
