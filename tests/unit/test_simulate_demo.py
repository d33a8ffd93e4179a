"""Simulated readers (attnhuman.simulate): seeding, rates, plant-and-recover, config, end to end."""
import numpy as np
import pytest

from attnhuman.analysis.resemblance import group_resemblance
from attnhuman.humans.simulate import (
    DEFAULT_GROUPS,
    GroupParams,
    simulate_cohort,
    simulate_cohorts,
    simulate_transitions,
    target_probabilities,
    word_difficulty,
)
from helpers.config import load_synthetic
from helpers.references import random_store

FLAT = dict(refixation_difficulty=0.0, regression_difficulty=0.0, skipping_difficulty=0.0, subject_sd=0.0)





def test_demo_corpus_is_shipped_and_has_hard_tokens(demo):
    assert len(demo) == 20 and demo.sentences_per_article.tolist() == [7, 7, 6]
    words = {w for ws in demo.words for w in ws}
    assert {"U.S.", "12,000", "car-sized"} <= words



def test_same_seed_same_cohorts_different_seed_differs(demo):
    a, _ = simulate_cohorts(demo, DEFAULT_GROUPS, seed=3)
    b, _ = simulate_cohorts(demo, DEFAULT_GROUPS, seed=3)
    c, _ = simulate_cohorts(demo, DEFAULT_GROUPS, seed=4)
    for g in ("L1", "L2"):
        np.testing.assert_array_equal(a[g].targets, b[g].targets)
        assert a[g].subjects == b[g].subjects
        assert not np.array_equal(a[g].targets, c[g].targets)
    # a group's stream depends on the seed and its name only, not on the other groups simulated
    alone, _ = simulate_cohorts(demo, {"L2": DEFAULT_GROUPS["L2"]}, seed=3)
    np.testing.assert_array_equal(alone["L2"].targets, a["L2"].targets)
    assert not np.array_equal(a["L1"].targets[:, :10], a["L2"].targets[:, :10])



def test_cohort_layout(demo):
    cohorts, report = simulate_cohorts(demo, DEFAULT_GROUPS, seed=0)
    for g, cohort in cohorts.items():
        assert cohort.subject_data == "synthetic" and cohort.keep.all() and cohort.cell_mask.all()
        assert cohort.targets.shape == (demo.n_cells, len(cohort.subjects))
        assert set(np.unique(cohort.targets)) <= {0.0, 1.0}                 # binarized like the proxy
        dropped = {e.item for e in report.select(g, "subject")}
        assert len(cohort.subjects) + len(dropped) == DEFAULT_GROUPS[g].n_subjects
        if not dropped:
            np.testing.assert_allclose(cohort.mean, cohort.targets.mean(axis=1))
    counts = simulate_cohort(demo, "L2", DEFAULT_GROUPS["L2"], seed=0, binarize=False)
    assert counts.targets.max() > 1 and np.array_equal(counts.targets > 0, cohorts["L2"].targets > 0)



def dense_counts(moves, corpus):
    """Independent count matrices: (sentences, n_max, n_max) summed over subjects, from the transitions."""
    n_max = corpus.n_words.max()
    dense = np.zeros((len(corpus), n_max, n_max))
    np.add.at(dense, (moves.sentence, moves.origin, moves.target), 1)
    return dense



@pytest.mark.parametrize("self_weight", [0.0, 0.3])
def test_rates_match_parameters(demo, self_weight):
    params = GroupParams(n_subjects=600, refixation=0.15, regression=0.12, skipping=0.25, resume=0.0,
                         targets={"start": 0.2, "previous": 0.3, "self": self_weight, "difficulty": 0.0,
                                  "uniform": 0.5 - self_weight}, **FLAT)
    d = word_difficulty(demo)
    moves = simulate_transitions(demo, params, np.random.default_rng(11), d, target_probabilities(demo, params, d))
    assert not moves.truncated.any()
    counts = dense_counts(moves, demo)
    readings = params.n_subjects * len(demo)
    decisions = counts.sum() + readings                        # every reading ends with one exit
    refix = np.trace(counts, axis1=1, axis2=2).sum()
    if self_weight == 0:
        assert refix / decisions == pytest.approx(params.refixation, abs=0.004)
    # decisions at words i >= 1 (all their outgoing transitions, plus the exit, which always leaves from i >= 1)
    later = counts[:, 1:, :].sum() + readings
    diag_later = refix - counts[:, 0, 0].sum()
    back = np.tril(counts, k=-1).sum()                        # regressions j < i
    expected_diag = params.refixation + (1 - params.refixation) * params.regression * self_weight
    assert diag_later / later == pytest.approx(expected_diag, abs=0.005)
    look_backs = back + diag_later - params.refixation * later   # regressions plus look-backs onto the word itself
    assert look_backs / ((1 - params.refixation) * later) == pytest.approx(params.regression, abs=0.006)
    if self_weight == 0:
        assert back / (later - diag_later) == pytest.approx(params.regression, abs=0.004)
    # skipping: from word i with i + 2 inside the sentence, forward saccades land on i + 1 or i + 2
    hop1 = sum(np.trace(counts[k], offset=1) - counts[k, n - 2, n - 1] for k, n in enumerate(demo.n_words))
    hop2 = sum(np.trace(counts[k], offset=2) for k in range(len(demo)))
    assert hop2 / (hop1 + hop2) == pytest.approx(params.skipping, abs=0.006)
    assert np.triu(counts, k=3).sum() == 0                    # no frontier jumps with resume = 0, one skip at most




def test_load_synthetic_with_reference_file(tmp_path, demo):
    planted = random_store(demo, 4, concentration=0.1)
    path = planted.save(tmp_path / "attention.npz")
    cfg = dict(corpus="demo", **{"synthetic.reference.path": str(path), "synthetic.reference_weight": 1.0,
                                     "synthetic.groups.L1.regression": 0.5, "synthetic.groups.L1.refixation": 0.02})
    _, cohorts, _ = load_synthetic(("L1",), **cfg)
    cohort = cohorts["L1"]
    assert group_resemblance(planted, cohort).r2_model > 2 * \
        group_resemblance(random_store(demo, 5, concentration=0.1), cohort).r2_model
