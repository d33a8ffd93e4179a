"""Simulated readers (attnhuman.simulate): seeding, rates, plant-and-recover, config, end to end."""
import dataclasses

import numpy as np
import pytest

from attnhuman.analysis.calibration import calibration_table
from attnhuman.analysis.resemblance import group_resemblance
from attnhuman.analysis.trivial import human_reliance
from attnhuman.attention.store import AttentionStore, reference_rows
from attnhuman.errors import DataError
from attnhuman.humans.simulate import (
    DEFAULT_GROUPS,
    GroupParams,
    simulate_cohort,
    simulate_cohorts,
)
from helpers.config import load_synthetic
from helpers.paths import READING_BRAIN
from helpers.references import random_store

FLAT = dict(refixation_difficulty=0.0, regression_difficulty=0.0, skipping_difficulty=0.0, subject_sd=0.0)





def test_planted_reference_is_recovered(corpus):
    """Readers whose look-backs follow a planted attention: that model resembles them, an unrelated one does not."""
    planted, unrelated = random_store(corpus, 1, concentration=0.1), random_store(corpus, 2, concentration=0.1)
    reference = reference_rows(planted, 0, corpus)
    params = {"L1": GroupParams(n_subjects=60, refixation=0.02, regression=0.5, skipping=0.1, resume=0.5, **FLAT)}
    scores = []
    for weight in (0.0, 0.25, 0.5, 0.75, 1.0):
        cohort = simulate_cohorts(corpus, params, seed=5, reference=reference, reference_weight=weight)[0]["L1"]
        scores.append((group_resemblance(planted, cohort).r2_model, group_resemblance(planted, cohort).resemblance,
                       group_resemblance(unrelated, cohort).resemblance))
    planted_r2, planted_pct, unrelated_pct = map(np.array, zip(*scores))
    assert (np.diff(planted_r2) > 0).all(), planted_r2                       # rises with the planted weight
    assert planted_pct[-1] > 45 and unrelated_pct.max() < 15, (planted_pct, unrelated_pct)
    assert abs(planted_pct[0] - unrelated_pct[0]) < 2                        # nothing planted: no difference



def test_planted_llama_layer_is_recovered(corpus, llama30):
    """Planting LLaMA-30B layer 40 raises that layer's R2 more than any other layer's (all layers share structure)."""
    reference = reference_rows(llama30, 40, corpus)
    params = {"L2": GroupParams(n_subjects=60, refixation=0.02, regression=0.5, skipping=0.1, resume=0.5, **FLAT)}
    layers = AttentionStore(llama30.attention[[2, 20, 40, 58]], llama30.n_words, llama30.sentences_per_article)
    gain = np.subtract(*[group_resemblance(layers, simulate_cohorts(corpus, params, seed=1, reference=reference,
                                                                    reference_weight=w)[0]["L2"]).layer_r2
                         for w in (1.0, 0.0)])
    assert np.argmax(gain) == 2 and gain[2] > 0, gain



def test_more_trivial_weight_more_trivial_reliance(corpus):
    base = dataclasses.replace(DEFAULT_GROUPS["L1"], n_subjects=60)
    means = []
    for trivial in (0.1, 0.5, 0.9):
        params = dataclasses.replace(base, targets={"start": trivial / 2, "previous": trivial / 2, "self": 0.0,
                                                    "difficulty": (1 - trivial) / 2, "uniform": (1 - trivial) / 2})
        cohort = simulate_cohort(corpus, "L1", params, seed=2)
        means.append(np.nanmean(human_reliance(cohort, corpus.n_words)))
    assert means[0] < means[1] < means[2], means



def test_calibrated_defaults_near_the_real_proxy_cohorts(corpus, cohorts):
    real, _ = cohorts
    simulated, _ = simulate_cohorts(corpus, DEFAULT_GROUPS, seed=0)
    table = calibration_table(real, corpus.n_words, simulated, corpus.n_words)
    assert table.loc[("L1", "ceiling"), "real"] == pytest.approx(0.1468, abs=1e-4)
    assert table.loc[("L2", "ceiling"), "real"] == pytest.approx(0.2165, abs=1e-4)
    for group in ("L1", "L2"):
        for stat in ("ceiling", "trivial_r2"):
            real_value, sim_value = table.loc[(group, stat), ["real", "simulated"]]
            assert sim_value == pytest.approx(real_value, rel=0.3), (group, stat)
    assert table.loc[("L2", "ceiling"), "simulated"] > table.loc[("L1", "ceiling"), "simulated"]
    assert table.loc[("L2", "trivial_r2"), "simulated"] > table.loc[("L1", "trivial_r2"), "simulated"]




def test_load_synthetic_corpus_resolution(tmp_path):
    corpus, cohorts, report = load_synthetic(("L1", "L2"), root=str(tmp_path))   # no text there
    assert len(corpus) == 20 and set(cohorts) == {"L1", "L2"}
    assert len(cohorts["L1"].subjects) <= 46 and len(cohorts["L2"].subjects) <= 54
    corpus, cohorts, _ = load_synthetic(("L2",), root=str(READING_BRAIN))
    assert len(corpus) == 148 and set(cohorts) == {"L2"} and cohorts["L2"].targets.shape[0] == corpus.n_cells
    assert len(load_synthetic(("L1",), root=str(READING_BRAIN), corpus="demo")[0]) == 20



def test_bad_input_gives_clear_errors(tmp_path, demo, corpus):
    with pytest.raises(DataError, match=r"data.synthetic.groups.L1.regression=1.5: a probability"):
        load_synthetic(("L1",), corpus="demo", **{"synthetic.groups.L1.regression": 1.5})
    with pytest.raises(DataError, match=r"data.synthetic.groups.L2.skipping=-0.1"):
        load_synthetic(("L2",), corpus="demo", **{"synthetic.groups.L2.skipping": -0.1})
    with pytest.raises(DataError, match=r"unknown parameter\(s\) \['regresion'\]"):
        load_synthetic(("L1",), corpus="demo", **{"synthetic.groups.L1.regresion": 0.1})
    with pytest.raises(DataError, match=r"targets.*unknown component\(s\) \['first'\]"):
        load_synthetic(("L1",), corpus="demo", **{"synthetic.groups.L1.targets.first": 0.1})
    with pytest.raises(DataError, match=r"no parameters for group\(s\) \['L3'\]"):
        load_synthetic(("L3",), corpus="demo")
    with pytest.raises(DataError, match="reference_weight=0.5 needs data.synthetic.reference.path"):
        load_synthetic(("L1",), corpus="demo", **{"synthetic.reference_weight": 0.5})
    with pytest.raises(DataError, match="data.corpus='brain'"):
        load_synthetic(("L1",), corpus="brain")
    wrong = random_store(corpus, 1).save(tmp_path / "rb.npz")          # Reading Brain attention, demo corpus
    with pytest.raises(DataError, match=rf"data.synthetic.reference.path={wrong}: .*sentences per article"):
        load_synthetic(("L1",), corpus="demo", **{"synthetic.reference.path": str(wrong),
                                                  "synthetic.reference_weight": 0.5})
    right = random_store(demo, 1, layers=2).save(tmp_path / "demo.npz")
    with pytest.raises(DataError, match=r"reference.layer=5: .* has 2 layers"):
        load_synthetic(("L1",), corpus="demo", **{"synthetic.reference.path": str(right),
                                                  "synthetic.reference.layer": 5})

