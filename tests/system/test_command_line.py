"""The command line as a process: a released job imports no model library, missing inputs are listed in seconds
before any job, the default store is beside the command's conf/, a data error is one line without a traceback."""
import os
import resource
import shutil
import subprocess
import sys
import time

from mlflow.tracking import MlflowClient

from helpers.commands import process, runs
from helpers.paths import LLAMA30, READING_BRAIN, ROOT

BASE = ["source=released", "model=llama", "size=30b", f"data.root={READING_BRAIN}", "data.download=false"]


def test_released_attention_never_imports_torch(tmp_path):
    """A job that reads released attention pays for no model library: torch, transformers, deepspeed."""
    proc = process(tmp_path, *BASE, f"source.path={LLAMA30 / 'packed_plain.npz'}", "analysis.fmri=false",
                   python=("-X", "importtime"))
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "mlflow" in imported and not imported & {"torch", "transformers", "deepspeed", "accelerate", "pingouin"}
    assert [r.info.status for r in runs(tmp_path)[1]] == ["FINISHED"]


def test_every_missing_input_is_listed_in_seconds_before_any_job(tmp_path, monkeypatch):
    """The headline sweep without checkpoints, offline: one list of all six (no local folder, not in the Hugging Face
    cache), before any job or run exists."""
    (tmp_path / "checkpoints").mkdir()         # no model's folder in it
    monkeypatch.setenv("ATTNHUMAN_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    for name in [k for k in os.environ if k.startswith(("ATTNHUMAN_LLAMA", "ATTNHUMAN_ALPACA", "ATTNHUMAN_VICUNA"))]:
        monkeypatch.delenv(name)
    start, cpu_before = time.perf_counter(), _children_cpu()
    proc = process(tmp_path, "-m", "model=llama,alpaca,vicuna", "size=7b,13b", f"data.root={tmp_path}/nothing",
                "data.download=false", check=False)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu_before
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
    assert runs(tmp_path)[1] == []
    # "in seconds" is about the work done: checks only, no weights hashed or loaded, no data parsed. The command's own
    # CPU time says that whatever else runs on the machine (it is 5-9 s; loading or hashing one 7B checkpoint alone
    # would take minutes). Its wall time only has to show that nothing waits (on the network, a lock, a retry): a
    # loaded 2-core machine running the rest of the suite beside it stretched it from ~6 s to 24 s, so 60 s.
    assert cpu < 20 and seconds < 60, (cpu, seconds)


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


def test_data_errors_print_one_message_before_any_run(tmp_path):
    """A missing released file stops in seconds with one line, no traceback and no MLflow run."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    proc = subprocess.run([sys.executable, str(ROOT / "src" / "main.py"), "source=released", "model=llama",
                           "size=30b", f"data.root={READING_BRAIN}", f"source.path={LLAMA30 / 'absent.npz'}",
                           f"hydra.run.dir={tmp_path}/out"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 1
    assert f"attention input {LLAMA30 / 'absent.npz'} does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr and runs(tmp_path)[1] == []
