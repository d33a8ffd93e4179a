"""The least-squares engine (attnhuman.analysis.least_squares) against per-subject numpy.linalg.lstsq on seeded designs."""
import numpy as np
import pytest

from attnhuman.analysis.least_squares import ceiling_r2, design_r2, layer_r2
from helpers.references import lstsq_r2


@pytest.mark.parametrize("kind", ["random", "collinear", "ill_conditioned", "constant_column"])
def test_design_r2_equals_per_subject_lstsq(kind):
    rng = np.random.default_rng(1)
    x = rng.random((400, 8))
    if kind == "collinear":
        x[:, 3] = 2 * x[:, 1] - x[:, 0]
    elif kind == "ill_conditioned":
        x[:, 3] = x[:, 1] + 1e-7 * rng.standard_normal(400)
    elif kind == "constant_column":
        x[:, 5] = 0.25
    y = rng.random((400, 6)) + x[:, :2] @ rng.random((2, 6))
    expected = np.array([lstsq_r2(x, y[:, [s]])[0] for s in range(6)])   # one fit per subject
    np.testing.assert_allclose(design_r2(x, y), expected, rtol=0, atol=1e-10)



def test_layer_r2_over_layers_and_chunks():
    rng = np.random.default_rng(2)
    attention = rng.random((5, 4, 300)).astype(np.float16)
    y = rng.random((300, 3))
    expected = np.stack([lstsq_r2(attention[l].T.astype(float), y) for l in range(5)])
    for chunk in (1, 2, 8):
        np.testing.assert_allclose(layer_r2(attention, y, chunk=chunk), expected, atol=1e-12)



def test_ceiling_is_squared_correlation():
    rng = np.random.default_rng(3)
    mean, y = rng.random(200), rng.random((200, 4))
    expected = [np.corrcoef(mean, y[:, s])[0, 1] ** 2 for s in range(4)]
    np.testing.assert_allclose(ceiling_r2(mean, y), expected, atol=1e-12)

