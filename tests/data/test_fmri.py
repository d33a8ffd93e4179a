"""fMRI resemblance (docs/method.md, "fMRI") on the real ROI files, against plain loops and numpy.linalg.lstsq."""
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from attnhuman.analysis.fmri import fmri_resemblance, fmri_summary, legacy_pearson
from attnhuman.app.job import _log_fmri, load_humans
from attnhuman.app.spec import fmri_score, humans_spec
from attnhuman.app.tracking import RunLog
from attnhuman.attention.store import AttentionStore
from attnhuman.errors import ConfigError, DataError
from attnhuman.humans.cohort import ExclusionReport
from attnhuman.humans.reading_brain.fmri import load_fmri_cohort, load_fmri_cohorts
from attnhuman.humans.reading_brain.layout import REGIONS
from attnhuman.humans.reading_brain.release import Release
from helpers.config import compose_job
from helpers.paths import READING_BRAIN
from helpers.references import lstsq_r2, read_pickle, write_pickle

N_SUBJECTS = {"L1": 52, "L2": 55}
EMPTY_L1 = ("L1_S21", "L1_S48", "L1_S50", "L1_S51", "L1_S52")


@pytest.fixture(scope="module")
def fmri(release, corpus):
    report = ExclusionReport()
    cohorts = {g: load_fmri_cohorts(release, corpus, g, exclude=["L1_S01"] if g == "L1" else [], report=report)
               for g in ("L1", "L2")}
    return cohorts, report



@pytest.fixture(scope="module")
def scored(fmri, llama30):
    return {g: fmri_resemblance(llama30, regions) for g, regions in fmri[0].items()}



def reference_region(group, region, exclude, kept):
    """Independent targets: plain loops over the raw pickle; a subject is usable when it has data and every
    kept sentence converts to a float array."""
    sfx = {"L1": "p1", "L2": "p2"}[group]
    raw = read_pickle(READING_BRAIN / "roi_activations" / group / f"activations_{region}_{sfx}.pkl")
    columns = []
    for s, subject in enumerate(raw):
        if s in exclude or not subject:
            continue
        sentences = [m for article in subject for m in article]
        try:
            matrices = [np.array(sentences[k], dtype=float) for k in kept]
        except ValueError:
            continue
        columns.append(np.concatenate([m[np.tril_indices(len(m))] for m in matrices]))
    targets = np.column_stack(columns)
    return targets, targets.mean(axis=1)



def test_counts_and_every_exclusion_on_the_real_files(fmri):
    cohorts, report = fmri
    counts = {(g, r): (len(c.subjects), c.n_sentences) for g, regions in cohorts.items() for r, c in regions.items()}
    assert counts == {("L1", "angular"): (45, 148), ("L1", "anterior"): (44, 148), ("L1", "inferior"): (46, 148),
                      ("L1", "middle"): (46, 148), ("L1", "superior"): (46, 148),
                      **{("L2", r): (54, 147) for r in REGIONS}}
    expected = {}
    for region in REGIONS:
        expected[("L1", "fmri_subject", f"L1_S01 {region}")] = "excluded by configuration (data.exclude_subjects)"
        for sid in EMPTY_L1 + (("L1_S07",) if region in ("angular", "anterior") else ()):
            expected[("L1", "fmri_subject", f"{sid} {region}")] = "no data in this region (empty list)"
        if region != "middle":
            expected[("L2", "fmri_subject", f"L2_S42 {region}")] = "no data in this region (empty list)"
        expected[("L2", "fmri_sentence", f"#20 (article 0, sentence 20) {region}")] = \
            "the text has 10 words, 54 subjects (first L2_S01) have 12x12 matrices"
    expected[("L1", "fmri_subject", "L1_S32 anterior")] = (
        "148 of 148 kept sentence matrices are not square numeric arrays (first: #0 (article 0, sentence 0), "
        "e.g. ragged nested lists)")
    expected[("L2", "fmri_subject", "L2_S42 middle")] = (
        "147 of 147 kept sentence matrices are not square numeric arrays (first: #0 (article 0, sentence 0), "
        "e.g. ragged nested lists)")
    assert {(e.group, e.level, e.item): e.reason for e in report.entries} == expected
    assert all(e.action == "excluded" for e in report.entries)
    for (group, region), _ in counts.items():       # every subject is either scored or reported, never dropped
        reported = {e.item.split()[0] for e in report.select(group, "fmri_subject") if e.item.endswith(region)}
        assert sorted(reported | set(cohorts[group][region].subjects)) == \
            [f"{group}_S{i:02d}" for i in range(1, N_SUBJECTS[group] + 1)]
        assert not reported & set(cohorts[group][region].subjects)



@pytest.mark.parametrize("group,region,exclude,dropped", [("L1", "anterior", {0}, []), ("L2", "middle", set(), [20])])
def test_r2_and_ceiling_match_independent_computation(fmri, scored, llama30, corpus, group, region, exclude, dropped):
    cohort, res = fmri[0][group][region], scored[group][region]
    kept = [k for k in range(len(corpus)) if k not in dropped]
    targets, mean = reference_region(group, region, exclude, kept)
    np.testing.assert_array_equal(cohort.targets, targets)
    np.testing.assert_allclose(cohort.mean, mean, rtol=0, atol=1e-12)
    assert np.flatnonzero(~cohort.keep).tolist() == dropped
    assert cohort.targets.shape == (cohort.cell_mask.sum(), len(res.subjects))
    layers = sorted({0, 30, llama30.n_layers - 1, res.best_layer})           # lstsq: ~0.4 s per layer
    r2 = np.stack([lstsq_r2(llama30.attention[layer][:, cohort.cell_mask].T.astype(float), targets)
                   for layer in layers])
    np.testing.assert_allclose(res.r2[layers], r2, rtol=0, atol=1e-6)
    ceiling = lstsq_r2(mean[:, None], targets).mean()
    assert res.ceiling == pytest.approx(ceiling, abs=1e-6)
    assert res.best_layer == np.argmax(res.r2.mean(axis=1)) and res.r2.shape == (llama30.n_layers, targets.shape[1])
    assert res.resemblance == pytest.approx(100 * r2[layers.index(res.best_layer)].mean() / ceiling, abs=1e-4)



def test_planted_defects_are_reported(release_copy, corpus):
    path = release_copy / "roi_activations" / "L1" / "activations_angular_p1.pkl"
    raw = read_pickle(path)
    n = lambda a, s: len(raw[0][a][s])                                           # noqa: E731
    raw[1][0][5] = np.full((n(0, 5), n(0, 5)), np.nan).tolist()                  # L1_S02: NaN sentence
    upper = np.array(raw[2][1][0], dtype=float)
    upper[0, 1] = np.nan
    raw[2][1][0] = upper.tolist()                                                # L1_S03: NaN above the diagonal only
    raw[3][2][3] = [[0.0] * n(2, 3)] * (n(2, 3) - 1) + [[0.0]]                   # L1_S04: one ragged sentence
    raw[4] = [[np.zeros((n(a, s), n(a, s))).tolist() for s in range(len(raw[0][a]))] for a in range(5)]  # L1_S05
    raw[5] = raw[5][:4]                                                          # L1_S06: four articles
    raw[7][4][0] = np.zeros((n(4, 0) + 1, n(4, 0) + 1)).tolist()                 # L1_S08: wrong size
    write_pickle(path, raw)
    report = ExclusionReport()
    cohort = load_fmri_cohort(Release(release_copy, download=False), corpus, "L1", "angular",
                              exclude=["L1_S01"], report=report)
    reasons = {e.item: e.reason for e in report.entries}
    k5, k_ragged, k_wrong = 5, 31 + 31 + 3, 31 + 31 + 28 + 28
    assert reasons["L1_S02 angular"] == (f"NaN in {n(0, 5) * (n(0, 5) + 1) // 2} kept cells of 1 sentences "
                                         f"(first: {corpus.label(k5)})")
    assert reasons["L1_S04 angular"] == (f"1 of 147 kept sentence matrices are not square numeric arrays "
                                         f"(first: {corpus.label(k_ragged)}, e.g. ragged nested lists)")
    assert reasons["L1_S05 angular"] == "the same value in every kept cell: R2 is undefined"
    assert reasons["L1_S06 angular"].startswith("L1_S06 angular: expected 5 articles with [31, 31, 28, 28, 30] "
                                                "sentences, found [31, 31, 28, 28]")
    assert reasons[f"{corpus.label(k_wrong)} angular"] == \
        f"the text has {n(4, 0)} words, 1 subjects (first L1_S08) have {n(4, 0) + 1}x{n(4, 0) + 1} matrices"
    assert {"L1_S03", "L1_S08"} <= set(cohort.subjects)
    assert not {"L1_S02", "L1_S04", "L1_S05", "L1_S06"} & set(cohort.subjects)
    assert np.flatnonzero(~cohort.keep).tolist() == [k_wrong] and not np.isnan(cohort.targets).any()
    kept = [k for k in range(len(corpus)) if k != k_wrong]
    sentences = [m for a in raw[2] for m in a]
    expected = np.concatenate([np.asarray(sentences[k], dtype=float)[np.tril_indices(corpus.n_words[k])] for k in kept])
    np.testing.assert_array_equal(cohort.targets[:, cohort.subjects.index("L1_S03")], expected)
    np.testing.assert_allclose(cohort.mean, cohort.targets.mean(axis=1))

    write_pickle(release_copy / "roi_activations" / "L2" / "activations_superior_p2.pkl", [[] for _ in range(55)])
    report = ExclusionReport()
    cohorts = load_fmri_cohorts(Release(release_copy, download=False), corpus, "L2", report=report,
                                regions=("angular", "superior"))
    assert list(cohorts) == ["angular"]
    assert [(e.item, e.reason) for e in report.select("L2", "fmri_region")] == \
        [("superior", "no usable subject: the region is not scored")]
    with pytest.raises(DataError, match=r"L1_S99.*do not exist; L1 subjects are L1_S01..L1_S52"):
        load_fmri_cohort(Release(release_copy, download=False), corpus, "L1", "angular", exclude=["L1_S99"],
                         report=ExclusionReport())
    with pytest.raises(DataError, match=r"unknown fMRI region 'frontal'"):
        load_fmri_cohort(Release(release_copy, download=False), corpus, "L1", "frontal", report=ExclusionReport())



def test_legacy_pearson_matches_loops(fmri, corpus):
    cohort = fmri[0]["L2"]["anterior"]
    got = legacy_pearson(cohort, corpus)
    sizes = np.diff(corpus.offsets)[cohort.keep]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for column in (0, 17, 53):
        rs = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            y, m = cohort.targets[start:stop, column], cohort.mean[start:stop]
            if np.ptp(y) > 0 and np.ptp(m) > 0:
                rs.append(np.corrcoef(y, m)[0, 1])
        assert got[column] == pytest.approx(np.mean(rs), abs=1e-9)



def test_logged_fmri_metrics_and_table(fmri, llama30, corpus, tmp_path):
    """Through a real MLflow store: the per-layer curves, the summary metrics and the table."""
    store = AttentionStore(llama30.attention[:3], llama30.n_words, llama30.sentences_per_article)
    cohorts = {g: {r: fmri[0][g][r] for r in ("anterior", "middle")} for g in ("L1", "L2")}
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run_id = client.create_run(client.create_experiment("fmri", artifact_location=(tmp_path / "a").as_uri())).info.run_id
    summary = _log_fmri(RunLog(client, run_id, tmp_path / "out"), store, cohorts, "legacy_pearson", corpus)
    for g in ("L1", "L2"):
        for r in ("anterior", "middle"):
            assert [m.step for m in client.get_metric_history(run_id, f"layer/fmri_r2_{r}_{g}")] == [0, 1, 2]
    assert set(summary) == {f"fmri_{m}_{r}_{g}" for m in ("resemblance", "ceiling", "best_layer", "n_subjects",
                                                         "n_sentences", "legacy_pearson", "resemblance_low",
                                                         "resemblance_high", "ceiling_low", "ceiling_high")
                            for r in ("anterior", "middle") for g in ("L1", "L2")}
    for r, g in (("anterior", "L1"), ("middle", "L2")):      # the intervals hold the score and the ceiling
        assert summary[f"fmri_resemblance_low_{r}_{g}"] < summary[f"fmri_resemblance_{r}_{g}"] \
            < summary[f"fmri_resemblance_high_{r}_{g}"]
        assert summary[f"fmri_ceiling_low_{r}_{g}"] < summary[f"fmri_ceiling_{r}_{g}"] < summary[f"fmri_ceiling_high_{r}_{g}"]
    assert summary["fmri_n_subjects_anterior_L1"] == 44 and summary["fmri_n_sentences_middle_L2"] == 147
    table = pd.read_csv(client.download_artifacts(run_id, "tables/fmri_resemblance.csv", str(tmp_path)))
    assert list(table.columns) == ["region", "group", "layer", "r2", "resemblance"] and len(table) == 12
    row = table[(table.region == "middle") & (table.group == "L2")]
    res = fmri_resemblance(store, {"middle": cohorts["L2"]["middle"]})["middle"]
    np.testing.assert_allclose(row.r2, res.layer_r2, atol=1e-12)
    np.testing.assert_allclose(row.resemblance, 100 * res.layer_r2 / res.ceiling, atol=1e-9)
    assert summary["fmri_resemblance_middle_L2"] == pytest.approx(row.resemblance.max())
    assert "fmri_legacy_pearson_middle_L2" not in fmri_summary(store, cohorts)[1]


def _compose(*overrides):
    return compose_job(f"data.root={READING_BRAIN}", "data.download=false", *overrides)


def test_config_switch_and_synthetic_data():
    assert [fmri_score(_compose(f"analysis.fmri={v}")) for v in ("true", "false", "null", "legacy_pearson")] == \
        ["r2", None, None, "legacy_pearson"]
    with pytest.raises(ConfigError, match=r"analysis.fmri='pearson': choose true"):
        fmri_score(_compose("analysis.fmri=pearson"))
    cfg = _compose("analysis.groups=[L2]", "data.exclude_subjects.L2=[L2_S05]")
    humans = load_humans(humans_spec(cfg))
    report, cohorts = humans.report, humans.fmri
    assert list(cohorts) == ["L2"] and list(cohorts["L2"]) == list(REGIONS)
    assert "L2_S05 anterior" in {e.item for e in report.select("L2", "fmri_subject")}
    assert "L2_S05" not in cohorts["L2"]["anterior"].subjects
    assert load_humans(humans_spec(_compose("data=synthetic", "analysis.groups=[L2]"))).fmri == {}
    assert load_humans(humans_spec(_compose("analysis.fmri=false", "analysis.groups=[L2]"))).fmri == {}
