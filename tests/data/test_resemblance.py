"""Human resemblance of the released LLaMA-30B on the real cohorts, against per-subject numpy.linalg.lstsq."""
import numpy as np
import pytest

from attnhuman.analysis.resemblance import group_resemblance
from helpers.references import lstsq_r2


def test_llama30_resemblance_on_real_data(cohorts, llama30):
    """Every layer and subject against lstsq on a few layers; the summary is consistent."""
    for group, cohort in cohorts[0].items():
        res = group_resemblance(llama30, cohort)
        assert res.r2.shape == (60, len(cohort.subjects))
        design = llama30.attention[:, :, cohort.cell_mask]
        for layer in (0, 1, 59):
            np.testing.assert_allclose(res.r2[layer], lstsq_r2(design[layer].T.astype(float), cohort.targets),
                                       atol=1e-9)
        np.testing.assert_allclose(res.ceiling_r2, lstsq_r2(cohort.mean[:, None], cohort.targets), atol=1e-12)
        assert res.best_layer == int(np.argmax(res.r2.mean(axis=1)))
        assert res.resemblance == pytest.approx(100 * res.r2.mean(axis=1).max() / res.ceiling_r2.mean())
    # the paper's finding holds on the proxy cohort: LLaMA-30B is closer to L2 than to L1
    l1, l2 = (group_resemblance(llama30, cohorts[0][g]).resemblance for g in ("L1", "L2"))
    assert 55 < l1 < l2 < 85

