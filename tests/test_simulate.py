"""Simulated readers (attnhuman.simulate): seeding, rates, plant-and-recover, config, end to end."""
import dataclasses

import numpy as np
import pytest
from omegaconf import OmegaConf

from attnhuman.attention import AttentionStore
from attnhuman.corpus import tril_cells
from attnhuman.errors import DataError
from attnhuman.resemblance import ceiling_r2, group_resemblance
from attnhuman.simulate import (DEFAULT_GROUPS, GroupParams, calibration_table, cell_counts, demo_corpus,
                                load_synthetic, reference_rows, simulate_cohort, simulate_cohorts,
                                simulate_transitions, target_probabilities, word_difficulty)
from attnhuman.trivial import human_reliance
from conftest import LLAMA30, READING_BRAIN, ROOT

CONF = ROOT / "conf" / "data" / "synthetic.yaml"
FLAT = dict(refixation_difficulty=0.0, regression_difficulty=0.0, skipping_difficulty=0.0, subject_sd=0.0)


def random_store(corpus, seed, layers=1, heads=4, concentration=0.3):
    """Seeded random attention: every row of every head a Dirichlet draw over j <= i (sums to 1)."""
    rng = np.random.default_rng(seed)
    sent, rows, _ = tril_cells(corpus.n_words)
    row_id = np.concatenate([[0], np.cumsum(corpus.n_words)])[:-1][sent] + rows
    raw = rng.gamma(concentration, size=(layers, heads, corpus.n_cells))
    sums = np.stack([[np.bincount(row_id, weights=raw[l, h]) for h in range(heads)] for l in range(layers)])
    return AttentionStore((raw / sums[..., row_id]).astype(np.float32), corpus.n_words.copy(),
                          corpus.sentences_per_article.copy())


@pytest.fixture(scope="module")
def demo():
    return demo_corpus()


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


def data_cfg(**overrides):
    cfg = OmegaConf.load(CONF)
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


def test_load_synthetic_corpus_resolution(tmp_path):
    corpus, cohorts, report = load_synthetic(data_cfg(root=str(tmp_path)), ("L1", "L2"))   # no text there
    assert len(corpus) == 20 and set(cohorts) == {"L1", "L2"}
    assert len(cohorts["L1"].subjects) <= 46 and len(cohorts["L2"].subjects) <= 54
    corpus, cohorts, _ = load_synthetic(data_cfg(root=str(READING_BRAIN)), ("L2",))
    assert len(corpus) == 148 and set(cohorts) == {"L2"} and cohorts["L2"].targets.shape[0] == corpus.n_cells
    assert len(load_synthetic(data_cfg(root=str(READING_BRAIN), corpus="demo"), ("L1",))[0]) == 20


def test_load_synthetic_with_reference_file(tmp_path, demo):
    planted = random_store(demo, 4, concentration=0.1)
    path = planted.save(tmp_path / "attention.npz")
    cfg = data_cfg(corpus="demo", **{"synthetic.reference.path": str(path), "synthetic.reference_weight": 1.0,
                                     "synthetic.groups.L1.regression": 0.5, "synthetic.groups.L1.refixation": 0.02})
    _, cohorts, _ = load_synthetic(cfg, ("L1",))
    cohort = cohorts["L1"]
    assert group_resemblance(planted, cohort).r2_model > 2 * \
        group_resemblance(random_store(demo, 5, concentration=0.1), cohort).r2_model


def test_bad_input_gives_clear_errors(tmp_path, demo, corpus):
    with pytest.raises(DataError, match=r"data.synthetic.groups.L1.regression=1.5: a probability"):
        load_synthetic(data_cfg(corpus="demo", **{"synthetic.groups.L1.regression": 1.5}), ("L1",))
    with pytest.raises(DataError, match=r"data.synthetic.groups.L2.skipping=-0.1"):
        load_synthetic(data_cfg(corpus="demo", **{"synthetic.groups.L2.skipping": -0.1}), ("L2",))
    with pytest.raises(DataError, match=r"unknown parameter\(s\) \['regresion'\]"):
        load_synthetic(data_cfg(corpus="demo", **{"synthetic.groups.L1.regresion": 0.1}), ("L1",))
    with pytest.raises(DataError, match=r"targets.*unknown component\(s\) \['first'\]"):
        load_synthetic(data_cfg(corpus="demo", **{"synthetic.groups.L1.targets.first": 0.1}), ("L1",))
    with pytest.raises(DataError, match=r"no parameters for group\(s\) \['L3'\]"):
        load_synthetic(data_cfg(corpus="demo"), ("L3",))
    with pytest.raises(DataError, match="reference_weight=0.5 needs data.synthetic.reference.path"):
        load_synthetic(data_cfg(corpus="demo", **{"synthetic.reference_weight": 0.5}), ("L1",))
    with pytest.raises(DataError, match="data.corpus='brain'"):
        load_synthetic(data_cfg(corpus="brain"), ("L1",))
    wrong = random_store(corpus, 1).save(tmp_path / "rb.npz")          # Reading Brain attention, demo corpus
    with pytest.raises(DataError, match=rf"data.synthetic.reference.path={wrong}: .*sentences per article"):
        load_synthetic(data_cfg(corpus="demo", **{"synthetic.reference.path": str(wrong),
                                                  "synthetic.reference_weight": 0.5}), ("L1",))
    right = random_store(demo, 1, layers=2).save(tmp_path / "demo.npz")
    with pytest.raises(DataError, match=r"reference.layer=5: .* has 2 layers"):
        load_synthetic(data_cfg(corpus="demo", **{"synthetic.reference.path": str(right),
                                                  "synthetic.reference.layer": 5}), ("L1",))


def test_end_to_end_released_attention_on_simulated_readers(tmp_path):
    from test_main import main, runs
    proc = main(tmp_path, "data=synthetic", "source=released", "model=llama", "size=30b",
                f"source.path={LLAMA30 / 'packed_plain.npz'}", f"data.root={READING_BRAIN}")
    client, found = runs(tmp_path)
    assert [r.info.status for r in found] == ["FINISHED"]
    metrics = found[0].data.metrics
    assert metrics["n_sentences_L1"] == 148 and metrics["n_sentences_L2"] == 148
    assert 40 <= metrics["n_subjects_L1"] <= 46 and 48 <= metrics["n_subjects_L2"] <= 54
    assert 0.05 < metrics["ceiling_L1"] < 0.4 and np.isfinite(metrics["resemblance_L2"])
    assert found[0].data.params["data.name"] == "synthetic"
    assert "Simulated" in proc.stdout + proc.stderr


def test_config_defaults_equal_the_python_defaults():
    groups = OmegaConf.to_container(OmegaConf.load(CONF).synthetic.groups)
    for g, values in groups.items():
        assert GroupParams.from_mapping(g, values) == DEFAULT_GROUPS[g]
