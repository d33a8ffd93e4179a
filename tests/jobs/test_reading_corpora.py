"""data=geco and data=eyelink end to end (a tiny random model; SmolLM2 and Gemma-3 on all of GECO: bench/), each
number against an independent computation from the raw files and the run's stored attention."""
import csv
import gzip
from collections import defaultdict

import numpy as np
import pytest
from scipy.stats import spearmanr
from wordfreq import zipf_frequency

from helpers.commands import command, runs
from helpers.paths import DATA
from helpers.references import lstsq_r2

READERS, UNITS = ("pp21", "pp23", "pp25", "pp30"), 300


def _stored(client, run, tmp_path):
    with np.load(client.download_artifacts(run.info.run_id, "attention/attention.npz", str(tmp_path))) as z:
        return z["attention"].astype(np.float64), z["n_words"]


@pytest.fixture(scope="module")
def geco_subset(tmp_path_factory):
    """The first 300 GECO sentences of 4 readers, gzip CSV as published; and the raw rows for the reference."""
    folder = tmp_path_factory.mktemp("geco")
    raw = {}
    for reader in READERS:
        with gzip.open(DATA / "geco_en" / f"{reader}-relfix-feats.csv.gz", "rt", newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["sentence_id"]) < UNITS]
        with gzip.open(folder / f"{reader}-relfix-feats.csv.gz", "wt", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        raw[reader] = rows
    return folder, raw


def _reference_importance(raw):
    """``{sentence id: (words, h)}``: h = mean over readers (with a nonzero sum) of TRT / sentence sum."""
    words, times = {}, defaultdict(list)
    for reader, rows in raw.items():
        by_unit = defaultdict(list)
        for r in rows:
            by_unit[int(r["sentence_id"])].append(r)
        for unit, unit_rows in by_unit.items():
            unit_rows.sort(key=lambda r: int(r["word_id"]))
            words[unit] = [r["word"] for r in unit_rows]
            trt = np.array([float(r["TRT"]) for r in unit_rows])
            if trt.sum() > 0:
                times[unit].append(trt / trt.sum())
    return {u: (words[u], np.mean(times[u], axis=0)) for u in sorted(words) if times[u]}


def test_geco_word_importance_equals_an_independent_computation(tmp_path, geco_subset):
    folder, raw = geco_subset
    command(tmp_path, "data=geco", f"data.path={folder}/pp*-relfix-feats.csv.gz", "model=gpt2", "size=tiny")
    client, [run] = runs(tmp_path)
    assert run.info.run_name == "gpt2-tiny-base-none+geco" and run.info.status == "FINISHED"
    attention, n_words = _stored(client, run, tmp_path)
    reference = {u: v for u, v in _reference_importance(raw).items() if len(v[0]) >= 2}
    assert list(n_words) == [len(w) for w, _ in reference.values()]
    offsets = np.concatenate([[0], np.cumsum(n_words * (n_words + 1) // 2)])
    curve = []
    for layer in range(attention.shape[0]):
        rhos = []
        for k, (words, h) in enumerate(reference.values()):
            n, cells = len(words), attention[layer, :, offsets[k]:offsets[k + 1]].mean(axis=0)
            matrix = np.zeros((n, n))
            matrix[np.tril_indices(n)] = cells
            received = np.array([matrix[j:, j].mean() for j in range(n)])     # mean over the rows i >= j
            if np.ptp(h) > 0 and np.ptp(received) > 0:
                rhos.append(spearmanr(h, received).statistic)
        curve.append(np.mean(rhos))
    logged = [m.value for m in client.get_metric_history(run.info.run_id, "layer/wi_rho_L1")]
    np.testing.assert_allclose(logged, curve, atol=1e-9)
    metrics = run.data.metrics
    assert metrics["wi_best_layer_L1"] == int(np.argmax(curve))
    assert metrics["wi_best_rho_L1"] == pytest.approx(max(curve), abs=1e-9)
    for name, feature in (("length", lambda w: [len(x) for x in w]),
                          ("frequency", lambda w: [zipf_frequency(x.lower().strip(".,;:!?\"'()-"), "en") for x in w]),
                          ("position", lambda w: list(range(len(w))))):
        rhos = [spearmanr(h, feature(w)).statistic for w, h in reference.values()
                if np.ptp(h) > 0 and np.ptp(feature(w)) > 0]
        assert metrics[f"wi_baseline_{name}_L1"] == pytest.approx(np.mean(rhos), abs=1e-9), name
    assert metrics["wi_n_units_L1"] == len(reference)
    assert "resemblance_L1" not in metrics and "wi_best_rho_sum_L1" in metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert {"figures/word_importance_L1.png", "figures/word_importance_example_L1.png"} <= artifacts
    exclusions = client.download_artifacts(run.info.run_id, "reports/exclusions.csv", str(tmp_path))
    text = open(exclusions).read()
    assert "1 word(s)" in text and "TRT sums to 0" in text and "no subject in group L2" in text


def test_eyelink_reports_give_saccade_resemblance_and_word_importance(tmp_path):
    command(tmp_path, "data=eyelink", f"data.path={DATA / 'onestop_sample'}", "model=gpt2", "size=tiny")
    client, [run] = runs(tmp_path)
    attention, n_words = _stored(client, run, tmp_path)
    assert len(n_words) == 12 and n_words.min() >= 50            # whole paragraphs, read whole by the model
    with open(DATA / "onestop_sample" / "fixations.csv") as f:
        fixations = list(csv.DictReader(f))
    with open(DATA / "onestop_sample" / "ia.csv") as f:
        paragraphs = sorted({r["unique_paragraph_id"] for r in csv.DictReader(f)},
                            key=lambda u: [int(t) if t.isdigit() else t for t in u.replace("_", " ").split()])
    columns = []
    for subject in ("l7_1090", "l37_1129"):
        cells = []
        for k, unit in enumerate(paragraphs):
            seq = [r["CURRENT_FIX_INTEREST_AREA_ID"] for r in sorted(
                (r for r in fixations if r["participant_id"] == subject and r["unique_paragraph_id"] == unit),
                key=lambda r: int(r["CURRENT_FIX_INDEX"]))]
            matrix = np.zeros((n_words[k], n_words[k]))
            for a, b in zip(seq, seq[1:]):
                if "." not in (a, b):
                    matrix[int(a) - 1, int(b) - 1] += 1
            cells.append(matrix[np.tril_indices(n_words[k])])
        columns.append(np.concatenate(cells))
    targets = np.column_stack(columns)
    r2 = np.stack([lstsq_r2(attention[layer].T, targets) for layer in range(attention.shape[0])]).mean(axis=1)
    ceiling = lstsq_r2(targets.mean(axis=1)[:, None], targets).mean()
    metrics = run.data.metrics
    assert metrics["ceiling_L1"] == pytest.approx(ceiling, abs=1e-9)
    assert metrics["resemblance_L1"] == pytest.approx(100 * r2.max() / ceiling, abs=1e-6)
    assert metrics["n_subjects_L1"] == 2 and "wi_best_rho_L1" in metrics
