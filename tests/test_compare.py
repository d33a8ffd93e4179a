"""The comparison run: its tables against independent scipy/numpy computations on the real data, and end to end."""
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from attnhuman import compare
from attnhuman.bias import head_count_bias, random_attention
from attnhuman.attention import load_attention
from attnhuman.resemblance import group_resemblance
from conftest import LLAMA30, READING_BRAIN, ROOT

TAGS = dict(model="llama", size="30b", tuning="base", family="llama", stage="pretrained", source="released")


def _log_run(client, experiment, tmp_path, name, tags, metrics, store=None, results=None, parameters=32_500_000_000,
             layers=60, curves=None):
    run_id = client.create_run(experiment, run_name=name, tags=tags).info.run_id
    client.log_param(run_id, "data.name", "reading_brain")
    client.log_param(run_id, "model_size.parameters", str(parameters))
    client.log_param(run_id, "model_size.layers", str(layers))
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    for key, values in (curves or {}).items():
        for step, value in enumerate(values):
            client.log_metric(run_id, key, value, step=step)
    folder = tmp_path / run_id
    if store is not None:
        client.log_artifact(run_id, str(store.save(folder / "attention.npz")), "attention")
    for group, res in (results or {}).items():
        (folder / "tables").mkdir(parents=True, exist_ok=True)
        table = pd.DataFrame(res.r2.T, index=pd.Index(res.subjects, name="subject"))
        table.to_csv(folder / "tables" / f"r2_{group}.csv")
        client.log_artifact(run_id, str(folder / "tables" / f"r2_{group}.csv"), "tables")
    client.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.fixture(scope="module")
def released_runs(tmp_path_factory, corpus, cohorts, llama30):
    """Released LLaMA-30B, plain and translate, as two MLflow runs with their real R2 tables."""
    tmp = tmp_path_factory.mktemp("compare")
    client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
    experiment = client.create_experiment("attnhuman", artifact_location=(tmp / "artifacts").as_uri())
    translate = load_attention(LLAMA30 / "packed_instr_translate.npz", corpus)
    stores, results = {}, {}
    for prefix, store in (("none", llama30), ("translate", translate)):
        res = {g: group_resemblance(store, c) for g, c in cohorts[0].items()}
        metrics = {k: v for g, r in res.items() for k, v in
                   ((f"resemblance_{g}", r.resemblance), (f"best_layer_{g}", r.best_layer), (f"ceiling_{g}", r.ceiling))}
        _log_run(client, experiment, tmp, f"llama-30b-base-{prefix}", {**TAGS, "prefix": prefix}, metrics, store, res)
        stores[prefix], results[prefix] = store, res
    runs, notes = compare.select_runs(client, experiment, "", "reading_brain", tmp / "work")
    return runs, stores, results


def test_pairs_and_divergence_equal_a_loop_over_rows(released_runs, corpus):
    runs, stores, _ = released_runs
    pairs = compare.find_pairs(runs, ("x", "y"))
    assert [(p.kind, p.a.prefix, p.b.prefix) for p in pairs] == [("instruction", "none", "translate")]
    table = compare.divergence_table(pairs)
    js = table[(table.metric == "js") & (table.unit == "layer")]
    assert len(js) == 60 and (js.n_sentences == 148).all()
    for layer in (0, 30, 59):
        a, b = (stores[p].attention[layer].astype(np.float64).mean(axis=0) for p in ("none", "translate"))
        per_sentence = []
        for k in range(len(corpus)):
            n = int(corpus.n_words[k])
            cells = slice(corpus.offsets[k], corpus.offsets[k + 1])
            rows_a, rows_b = np.zeros((n, n)), np.zeros((n, n))
            rows_a[np.tril_indices(n)], rows_b[np.tril_indices(n)] = a[cells], b[cells]
            per_sentence.append(np.mean([jensenshannon(rows_a[i, :i + 1], rows_b[i, :i + 1]) ** 2
                                         for i in range(n)]))
        row = js[js["index"] == layer].iloc[0]
        assert row["mean"] == pytest.approx(np.mean(per_sentence), rel=1e-6)
        assert row["sem"] == pytest.approx(sps.sem(per_sentence), rel=1e-6)


def test_layer_and_group_tests_equal_scipy(released_runs):
    runs, _, results = released_runs
    pairs = compare.find_pairs(runs, ("x", "y"))
    tests = compare.layer_test_table(pairs, ["L1", "L2"], alpha=0.05)
    assert len(tests) == 120
    for group in ("L1", "L2"):
        a, b = results["none"][group].r2, results["translate"][group].r2
        t, p = sps.ttest_rel(b, a, axis=1)
        rows = tests[tests.group == group].sort_values("layer")
        np.testing.assert_allclose(rows["p_val"], p, rtol=1e-6)
        significant = p < 0.05 / 60
        expected = np.where(significant & (t > 0), "higher", np.where(significant & (t < 0), "lower", ""))
        assert rows["direction"].fillna("").tolist() == expected.tolist()
    groups = compare.group_test_table(runs, ["L1", "L2"])
    for run, row in zip(runs, groups.itertuples()):
        res = results[run.prefix]
        x = 100 * res["L1"].r2[res["L1"].best_layer] / res["L1"].ceiling
        y = 100 * res["L2"].r2[res["L2"].best_layer] / res["L2"].ceiling
        assert row.p_val == pytest.approx(sps.ttest_ind(x, y).pvalue, rel=1e-6)
        assert row.p_bonf == pytest.approx(min(1.0, 2 * row.p_val))


def test_correlations_and_scaling_fit_on_planted_runs(tmp_path):
    """Four pretrained sizes and two tuned runs with chosen metrics: r, p and the 100B value by hand."""
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("attnhuman", artifact_location=(tmp_path / "artifacts").as_uri())
    sizes = {"7b": 6.7e9, "13b": 13e9, "30b": 32.5e9, "65b": 65.2e9}
    resemblance = {"7b": 53.0, "13b": 55.7, "30b": 63.2, "65b": 64.1}
    loss = {"7b": 0.241, "13b": 0.2406, "30b": 0.2372, "65b": 0.2375}
    for size, params in sizes.items():
        _log_run(client, experiment, tmp_path, f"llama-{size}-base-none", {**TAGS, "size": size, "prefix": "none"},
                 {"resemblance_L1": resemblance[size], "ntp_loss_per_len": loss[size]}, parameters=int(params))
    _log_run(client, experiment, tmp_path, "vicuna-13b-v1_1-none",
             {**TAGS, "model": "vicuna", "size": "13b", "tuning": "v1_1", "stage": "instruction-tuned", "prefix": "none"},
             {"resemblance_L1": 54.3, "ntp_loss_per_len": 0.2847}, parameters=int(13e9))
    runs, _ = compare.select_runs(client, experiment, "", "reading_brain", tmp_path / "work")
    kinds = sorted((p.kind, p.a.name, p.b.name) for p in compare.find_pairs(runs, ("llama-7b-base-none", "llama-13b-base-none")))
    assert ("tuning", "llama-13b-base-none", "vicuna-13b-v1_1-none") in kinds
    assert ("reference", "llama-7b-base-none", "llama-13b-base-none") in kinds
    assert sum(k[0] == "scaling" for k in kinds) == 6

    table = compare.correlation_table(runs, ["L1"], target=1e11).set_index(["x", "y"])
    scaling = table.loc[("log10_parameters", "resemblance")]
    x, y = np.log10(list(sizes.values())), np.array(list(resemblance.values()))
    fit = sps.linregress(x, y)
    assert (scaling["n"], scaling["r"], scaling["p_val"]) == (4, pytest.approx(fit.rvalue), pytest.approx(fit.pvalue))
    assert scaling["predicted"] == pytest.approx(fit.intercept + fit.slope * 11)
    loss_row = table.loc[("ntp_loss_per_len", "resemblance")]
    all_loss = [loss[s] for s in sizes] + [0.2847]
    all_res = [resemblance[s] for s in sizes] + [54.3]
    r, p = sps.pearsonr(all_loss, all_res)
    assert (loss_row["n"], loss_row["r"], loss_row["p_val"]) == (5, pytest.approx(r), pytest.approx(p))


def test_sweep_ends_with_a_comparison_run_and_compare_cli(tmp_path):
    """A real sweep (released LLaMA-30B plain and translate) creates the comparison run; src/compare.py too."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    common = [f"data.root={READING_BRAIN}", "data.download=false", f"hydra.run.dir={tmp_path}/out"]
    sweep = subprocess.run([sys.executable, str(ROOT / "src" / "main.py"), "-m", "source=released", "model=llama",
                            "size=30b", "prefix=none,translate", f"source.root={LLAMA30.parent}",
                            f"hydra.sweep.dir={tmp_path}/multirun", *common],
                           capture_output=True, text=True, env=env, cwd=ROOT)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    cli = subprocess.run([sys.executable, str(ROOT / "src" / "compare.py"), "compare.filter=\"tags.source = 'released'\"",
                          *common], capture_output=True, text=True, env=env, cwd=ROOT)
    assert cli.returncode == 0, cli.stderr[-3000:]

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    found = client.search_runs([e.experiment_id for e in client.search_experiments()], "tags.kind = 'comparison'")
    assert len(found) == 2 and {r.data.tags.get("sweep") is None for r in found} == {True, False}
    for run in found:
        folder = client.download_artifacts(run.info.run_id, "", str(tmp_path / run.info.run_id))
        for table in ("divergence", "resemblance", "trivial_humans", "layer_tests", "correlations"):
            assert (tmp_path / run.info.run_id / "tables" / f"{table}.csv").is_file()
        divergence = pd.read_csv(f"{folder}/tables/divergence.csv")
        assert list(divergence.columns) == ["run_a", "run_b", "kind", "metric", "unit", "index", "mean", "sem",
                                            "n_sentences"]
        assert set(divergence.kind) == {"instruction"} and len(divergence) == 120
        report = open(f"{folder}/report.md").read()
        for number in ("2", "3", "4", "5", "6", "7", "8", "9", "11", "13", "15", "16"):
            assert f"Paper Figure {number}" in report
        assert "![Paper Figure 4](figures/fig4_instruction_divergence.png)" in report and "head-count bias" in report
        assert (tmp_path / run.info.run_id / "figures" / "fig4_instruction_divergence.png").is_file()
        assert "| llama-30b-base-none (released) |" in report and "63.16" in report


def test_random_attention_rows_and_the_head_count_bias(corpus, cohorts, llama30):
    """Random attention is causal with rows summing to 1; in-sample R2 grows with heads, cv R2 does not."""
    attention = random_attention(corpus.n_words[:3], 4, seed=1)[0]
    for k in range(3):
        n = corpus.n_words[k]
        dense = np.zeros((4, n, n))
        dense[:, *np.tril_indices(n)] = attention[:, corpus.offsets[k]:corpus.offsets[k + 1]]
        np.testing.assert_allclose(dense.sum(axis=2), 1, rtol=1e-6)
    table = head_count_bias(corpus, {"real": {"L1": cohorts[0]["L1"]}}, {"llama-30b": llama30}, heads=(16, 64))
    r2 = table.set_index(["attention", "heads", "score"]).r2
    assert r2["random", 64, "insample"] > r2["random", 16, "insample"]
    assert r2["random", 64, "cv"] < r2["random", 16, "cv"] < r2["random", 16, "insample"]
    full = r2["llama-30b layer 1", 52, "insample"]
    assert full == pytest.approx(0.09440, abs=1e-5)          # the paper-faithful best layer R2
    assert r2["llama-30b layer 1", 52, "cv"] < full
