"""End to end through the real command line: Hydra, the released LLaMA-30B attention, MLflow."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from helpers import LLAMA30, READING_BRAIN, ROOT, lstsq_r2, main, reference_cohort, runs

BASE = ["source=released", "model=llama", "size=30b", f"data.root={READING_BRAIN}", "data.download=false"]


@pytest.fixture(scope="module")
def llama_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    proc = main(tmp, *BASE, f"source.path={LLAMA30 / 'packed_plain.npz'}", python=("-X", "importtime"))
    return tmp, proc


def test_released_attention_never_imports_torch(llama_run):
    """A job that reads released attention pays for no model library: torch, transformers, deepspeed."""
    _, proc = llama_run
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "mlflow" in imported and not imported & {"torch", "transformers", "deepspeed", "accelerate"}



def test_logged_metrics_equal_an_independent_computation(llama_run):
    tmp, proc = llama_run
    client, found = runs(tmp)
    assert len(found) == 1
    run = found[0]
    assert run.info.run_name == "llama-30b-base-none+released" and run.info.status == "FINISHED"
    attention = np.load(LLAMA30 / "packed_plain.npz")["attention"]
    for group, sfx, exclude, dropped in (("L1", "p1", {0}, {77}), ("L2", "p2", set(), {20, 77})):
        kept = [k for k in range(148) if k not in dropped]
        targets, mean = reference_cohort(group, sfx, exclude, kept)
        cells = np.repeat(np.isin(np.arange(148), kept), [n * (n + 1) // 2 for n in np.load(
            LLAMA30 / "packed_plain.npz")["n_words"]])
        r2 = np.stack([lstsq_r2(attention[l][:, cells].T.astype(float), targets) for l in range(60)])
        history = client.get_metric_history(run.info.run_id, f"layer/r2_{group}")
        assert [m.step for m in history] == list(range(60))
        depth = client.get_metric_history(run.info.run_id, f"depth/r2_{group}")
        assert [m.step for m in depth] == [round(100 * layer / 59) for layer in range(60)]
        np.testing.assert_array_equal([m.value for m in depth], [m.value for m in history])
        np.testing.assert_allclose([m.value for m in history], r2.mean(axis=1), rtol=0, atol=1e-6)
        ceiling = lstsq_r2(mean[:, None], targets).mean()
        metrics = run.data.metrics
        assert metrics[f"ceiling_{group}"] == pytest.approx(ceiling, abs=1e-6)
        assert metrics[f"resemblance_{group}"] == pytest.approx(100 * r2.mean(axis=1).max() / ceiling, abs=1e-4)
        assert metrics[f"best_layer_{group}"] == np.argmax(r2.mean(axis=1))
        assert metrics[f"n_subjects_{group}"] == targets.shape[1]
        table = pd.read_csv(client.download_artifacts(run.info.run_id, f"tables/r2_{group}.csv", str(tmp)), index_col=0)
        assert table.shape == (targets.shape[1], 60)
        np.testing.assert_allclose(table.to_numpy(), r2.T, atol=1e-9)
    assert f"L2: resemblance {run.data.metrics['resemblance_L2']:.2f}%" in proc.stdout + proc.stderr
    assert run.data.params["model_size.layers"] == "60" and run.data.params["prefix.name"] == "none"



def test_artifacts(llama_run):
    tmp, _ = llama_run
    client, (run,) = runs(tmp)
    listed = {a.path for top in ("", "tables", "reports", "figures", "attention", ".hydra")
              for a in client.list_artifacts(run.info.run_id, top or None)}
    assert {"tables/r2_L1.csv", "tables/r2_L2.csv", "reports/exclusions.csv", "figures/layerwise_resemblance.png",
            "attention/attention.npz", ".hydra/config.yaml", ".hydra/overrides.yaml"} <= listed
    stored = np.load(client.download_artifacts(run.info.run_id, "attention/attention.npz", str(tmp)))
    np.testing.assert_array_equal(stored["attention"], np.load(LLAMA30 / "packed_plain.npz")["attention"])
    report = pd.read_csv(client.download_artifacts(run.info.run_id, "reports/exclusions.csv", str(tmp)))
    assert set(report.loc[report.action == "excluded", "item"]) >= {"L1_S01", "L2_S42", "#77 (article 2, sentence 15)"}



def test_finished_config_is_skipped_unless_rerun(llama_run):
    tmp, _ = llama_run
    again = main(tmp, *BASE, f"source.path={LLAMA30 / 'packed_plain.npz'}")
    assert "Skipping llama-30b-base-none+released" in again.stdout + again.stderr
    assert len(runs(tmp)[1]) == 1
    main(tmp, *BASE, f"source.path={LLAMA30 / 'packed_plain.npz'}", "rerun=true")
    assert [r.info.status for r in runs(tmp)[1]] == ["FINISHED", "FINISHED"]



def test_sweep_marks_a_failed_job_and_goes_on(tmp_path):
    """A job that fails on its data is FAILED, the others run and are compared, the sweep exits non-zero."""
    proc = main(tmp_path, "-m", "source=released", "model=llama", "size=7b,30b", f"data.root={READING_BRAIN}",
                f"source.path={LLAMA30 / 'packed_plain.npz'}", "analysis.fmri=false", check=False)
    assert proc.returncode != 0
    client, found = runs(tmp_path)
    [parent] = [r for r in found if r.data.tags.get("kind") == "sweep"]     # FAILED: one of its jobs did
    assert parent.info.status == "FAILED" and parent.data.tags["n_jobs"] == "2"
    assert {r.data.tags.get("mlflow.parentRunId") for r in found if r is not parent} == {parent.info.run_id}
    jobs = {r.info.run_name: r.info.status for r in found if "kind" not in r.data.tags}
    assert jobs == {"llama-7b-base-none+released": "FAILED", "llama-30b-base-none+released": "FINISHED"}
    [comparison] = [r for r in found if r.data.tags.get("kind") == "comparison"]     # for the jobs that finished
    assert comparison.data.metrics["n_runs"] == 1 and comparison.data.metrics["n_left_out"] == 1
    left_out = pd.read_csv(client.download_artifacts(comparison.info.run_id, "tables/left_out.csv", str(tmp_path)))
    assert left_out.to_dict("records") == [{"run": "job llama-7b-base-none+released",
                                            "reason": "no FINISHED run (it failed or did not run)"}]
    assert "60 layers x 52 heads, but the registry says llama 7b has 32 x 32" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_invalid_combination_fails_before_any_job(tmp_path):
    proc = main(tmp_path, "-m", "model=alpaca", "size=7b,30b", "source=released", check=False)
    assert proc.returncode != 0
    assert "Invalid sweep, no job was started" in proc.stderr
    assert "model=alpaca size=30b source=released: alpaca has no size '30b'; choose one of ['13b', '7b']" in proc.stderr
    assert "Valid model/size combinations: alpaca 13b, alpaca 7b, gemma3 270m" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert runs(tmp_path)[1] == []


def test_every_missing_input_is_listed_in_seconds_before_any_job(tmp_path, monkeypatch):
    """The headline sweep without checkpoints, offline: one list of all six (no local folder, not in the Hugging Face
    cache), before any job or run exists."""
    monkeypatch.setenv("ATTNHUMAN_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    for name in [k for k in os.environ if k.startswith(("ATTNHUMAN_LLAMA", "ATTNHUMAN_ALPACA", "ATTNHUMAN_VICUNA"))]:
        monkeypatch.delenv(name)
    start = time.perf_counter()
    proc = main(tmp_path, "-m", "model=llama,alpaca,vicuna", "size=7b,13b", f"data.root={tmp_path}/nothing",
                "data.download=false", check=False)
    seconds = time.perf_counter() - start
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    placements = proc.stderr.count("for its weights; no GPU is visible")     # 27-52 GB models on a small machine
    assert f"Missing inputs ({7 + placements}), no job was started:" in proc.stderr
    for label, repo in (("llama-7b-base", "huggyllama/llama-7b"), ("llama-13b-base", "huggyllama/llama-13b"),
                        ("alpaca-7b-base", "tatsu-lab/alpaca-7b-wdiff"), ("alpaca-13b-base", "chavinlo/alpaca-13b"),
                        ("vicuna-7b-v1_1", "lmsys/vicuna-7b-delta-v1.1"), ("vicuna-13b-v1_1", "lmsys/vicuna-13b-delta-v1.1")):
        assert f"{label}: no local folder at {tmp_path}/checkpoints/" in proc.stderr
        assert f"{repo} (revision" in proc.stderr and f"hf download {repo}" in proc.stderr
    assert ("llama-7b-base-none, llama-13b-base-none, alpaca-7b-base-none, alpaca-13b-base-none, vicuna-7b-v1_1-none, "
            "vicuna-13b-v1_1-none: Reading Brain file(s) ['sentences_p1.txt', 'mean_saccade_num_p1.pkl', "
            "'mean_saccade_num_p2.pkl'] missing from") in proc.stderr
    assert runs(tmp_path)[1] == [] and seconds < 20, seconds


def test_real_model_end_to_end_with_cache(tmp_path):
    """SmolLM2-135M from its PyPI package: extraction, loss and resemblance logged; the second run reuses the cache."""
    args = ["model=smollm2", "size=135m", f"data.root={READING_BRAIN}", "data.download=false",
            f"source.cache_dir={tmp_path}/cache", "source.progress=false"]
    main(tmp_path, *args)
    main(tmp_path, *args, "rerun=true")
    client, (first, second) = runs(tmp_path)
    for key in ("ntp_loss", "ntp_loss_per_len", "extract_s", "tokens_per_s", "peak_rss_mb",
                "align_tokens_per_word", "resemblance_L1", "resemblance_L2"):
        assert np.isfinite(first.data.metrics[key]), key
    assert 1 < first.data.metrics["ntp_loss"] < 10 and first.data.metrics["align_tokens_per_word"] > 1
    assert (first.data.tags["cache_hit"], second.data.tags["cache_hit"]) == ("false", "true")
    assert second.data.metrics["resemblance_L1"] == first.data.metrics["resemblance_L1"]
    stored = np.load(client.download_artifacts(first.info.run_id, "attention/attention.npz", str(tmp_path)))
    assert stored["attention"].dtype == np.float32 and stored["attention"].shape == (30, 9, 8953)



def test_default_store_is_beside_the_commands_conf(tmp_path):
    """The default store is <project>/mlruns, <project> being the folder holding the command's conf/, whatever
    the working directory and wherever the package is installed."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "conf", project / "conf")
    (project / "src").mkdir()
    shutil.copy(ROOT / "src" / "main.py", project / "src" / "main.py")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.run([sys.executable, str(project / "src" / "main.py"), *BASE, "analysis.fmri=false",
                           f"source.path={LLAMA30 / 'packed_plain.npz'}", f"hydra.run.dir={tmp_path}/out"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{project}/mlruns/mlflow.db")
    [run] = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED" and run.info.artifact_uri.startswith((project / "mlruns").as_uri())


def test_a_comparison_that_fails_fails_the_sweep(tmp_path):
    """The jobs finish; the comparison stops on its own bad setting (alpha) and the command exits non-zero."""
    proc = main(tmp_path, "-m", *BASE, "prefix=none,translate", f"source.root={LLAMA30.parent}", "analysis.fmri=false",
                "compare.alpha=2", check=False)
    assert proc.returncode != 0 and "alpha must be in (0, 1), got 2" in proc.stderr
    found = runs(tmp_path)[1]
    assert sorted(r.info.status for r in found if "kind" not in r.data.tags) == ["FINISHED", "FINISHED"]
    assert [r.info.status for r in found if r.data.tags.get("kind") == "sweep"] == ["FAILED"]
