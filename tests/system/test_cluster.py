"""A real one-node SLURM cluster (scripts/slurm-local): a sweep through hydra/launcher=slurm, a job killed by the
scheduler and recovered, requests that can never run stopped in one line, and source=deepspeed with two tasks beside
source=hf through submitit's local executor (one job array per shape)."""
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from filelock import FileLock
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from attnhuman.attention.extraction.extract import extract
from attnhuman.attention.models.checkpoints import open_checkpoint
from helpers.commands import runs
from helpers.config import compose_job
from helpers.paths import LLAMA30, READING_BRAIN, ROOT

COMMON = [f"data.root={READING_BRAIN}", "data.download=false", "analysis.fmri=false", "cluster.gpus=0",
          "hydra.launcher.cpus_per_task=1"]
RELEASED = ["source=released", "model=llama", "size=30b", f"source.root={LLAMA30.parent}"]    # no torch: quick jobs
TINY = ["model=llama", "size=tiny"]
SLURM = ["hydra/launcher=slurm", "hydra.launcher.mem_gb=1"]


@pytest.fixture(scope="module")
def slurm():
    """The local cluster, started by the script README documents (never skipped: CI installs slurm-wlm)."""
    proc = subprocess.run([str(ROOT / "scripts" / "slurm-local"), "up"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return True


def _sweep(tmp_path, *args, name="sweep", popen=False):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    command = [sys.executable, str(ROOT / "src" / "main.py"), "-m", *COMMON, *args, f"hydra.sweep.dir={tmp_path}/{name}"]
    if popen:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def slurm_sweep(slurm, tmp_path_factory, tiny_released):
    tmp = tmp_path_factory.mktemp("slurm")
    proc = _sweep(tmp, *SLURM, *tiny_released, "prefix=none,translate")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return tmp


def test_a_sweep_on_slurm_is_one_parent_holding_its_jobs(slurm_sweep):
    found = runs(slurm_sweep)[1]
    [parent] = [r for r in found if r.data.tags.get("kind") == "sweep"]
    jobs = [r for r in found if "kind" not in r.data.tags]
    assert parent.info.status == "FINISHED" and parent.data.tags["n_jobs"] == "2"
    assert sorted((r.data.tags["prefix"], r.info.status) for r in jobs) == [("none", "FINISHED"), ("translate", "FINISHED")]
    slurm_ids = {r.data.tags["slurm_job_id"] for r in jobs}
    assert len(slurm_ids) == 2 and all(i.isdigit() for i in slurm_ids)
    assert {r.data.tags["mlflow.parentRunId"] for r in found if r is not parent} == {parent.info.run_id}


def test_deepspeed_with_two_tasks_through_submitit_gathers_every_head(tmp_path, demo):
    """Ranks from submitit's environment (gloo on CPU), one job array of 2 tasks: the gathered heads equal those of the
    same tiny model extracted here in one process."""
    proc = _sweep(tmp_path, "hydra/launcher=submitit", *TINY, "data=synthetic", "data.corpus=demo", "source=deepspeed",
                  "source.tp_size=2", f"source.cache_dir={tmp_path}/cache", "compare.after_sweep=false", name="deepspeed")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "1 job(s) with 0 GPU(s) and 2 task(s) each" in proc.stdout + proc.stderr
    client, found = runs(tmp_path)
    [sharded] = [r for r in found if r.info.run_name == "llama-tiny-base-none+deepspeed+synthetic"]
    assert sharded.info.status == "FINISHED" and sharded.data.tags["tp_size"] == "2"
    with np.load(client.download_artifacts(sharded.info.run_id, "attention/attention.npz", str(tmp_path))) as z:
        attention = z["attention"]
    entry = compose_job("model=llama", "size=tiny").model.sizes.tiny
    tiny = open_checkpoint("random", "llama-tiny", architecture=OmegaConf.to_container(entry.architecture),
                           tokenizer=entry.tokenizer)
    whole = extract(tiny.load(), tiny.tokenizer, demo, batch_size=16, progress=False).store.attention
    assert attention.shape == (2, 5, demo.n_cells)
    np.testing.assert_allclose(attention, whole, atol=1e-6)


def test_a_job_killed_by_the_scheduler_is_recovered(slurm, tmp_path):
    """scancel --signal=KILL leaves the run RUNNING; the same command marks it KILLED (its SLURM job is gone)
    and runs the job again."""
    slow = [*RELEASED, "analysis.permutation.n=10", "compare.after_sweep=false"]   # long enough to be killed
    proc = _sweep(tmp_path, *SLURM, *slow, name="first", popen=True)
    db = tmp_path / "mlruns" / "mlflow.db"
    deadline, running = time.time() + 300, []
    while not running:
        assert proc.poll() is None and time.time() < deadline, "the job never started"
        time.sleep(0.5)
        if db.is_file():
            with FileLock(f"{db}.lock"):
                running = [r for r in runs(tmp_path)[1] if r.info.status == "RUNNING" and "slurm_job_id" in r.data.tags]
    job_id = running[0].data.tags["slurm_job_id"]
    subprocess.run(["scancel", "--signal=KILL", job_id], check=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and f"SLURM job {job_id} ended" in out + err, (out + err)[-3000:]
    assert MlflowClient(f"sqlite:///{db}").get_run(running[0].info.run_id).info.status == "RUNNING"
    again = _sweep(tmp_path, *SLURM, *slow, name="again")
    assert again.returncode == 0, again.stderr[-4000:]
    jobs = {r.info.run_id: r for r in runs(tmp_path)[1] if "kind" not in r.data.tags}
    killed = jobs.pop(running[0].info.run_id)          # its job's log (in the sweep folder) says the same
    assert killed.info.status == "KILLED" and killed.data.tags["killed_reason"] in (
        f"its SLURM job {job_id} is no longer queued", f"its SLURM job {job_id} is cancelled")
    assert [r.info.status for r in jobs.values()] == ["FINISHED"]


def test_a_request_no_node_can_hold_stops_before_submitting(slurm, tmp_path):
    """The launcher's defaults (4 CPUs, 32 GB) on the 2-CPU local node: one line, in seconds, nothing submitted."""
    start = time.perf_counter()
    proc = _sweep(tmp_path, "hydra/launcher=slurm", *RELEASED, "hydra.launcher.cpus_per_task=4", "hydra.launcher.mem_gb=32")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    node = subprocess.run(["sinfo", "-h", "-o", "%c|%m"], capture_output=True, text=True).stdout.split()[0].split("|")
    assert (f"hydra/launcher=slurm asks 4 CPUs (1 task(s) x hydra.launcher.cpus_per_task=4), 32 GB and 0 GPU(s) per "
            f"job; the largest node of partition local has {node[0]} CPUs, {int(node[1]) / 1024:.0f} GB and 0 GPU(s), "
            "so 4 CPUs, 32 GB can never be given") in proc.stderr
    assert time.perf_counter() - start < 60 and not list((tmp_path / "sweep").glob(".submitit/*"))
    assert [r for r in runs(tmp_path)[1] if "kind" not in r.data.tags] == []


def test_a_job_pending_for_ever_is_cancelled_in_one_line(slurm, tmp_path):
    """A job the scheduler accepts but can never start (here: longer than the partition's time limit, so pending with
    reason PartitionTimeLimit or PartitionConfig) is cancelled, and the sweep stops saying why."""
    subprocess.run(["scontrol", "update", "partitionname=local", "maxtime=10"], check=True)
    try:
        proc = _sweep(tmp_path, *SLURM, *RELEASED, "hydra.launcher.timeout_min=60", "compare.after_sweep=false")
    finally:
        subprocess.run(["scontrol", "update", "partitionname=local", "maxtime=infinite"], check=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert re.search(r"SLURM job \d+(_0)? \(1 CPUs per task, 1 task\(s\), 1 GB, 0 GPU\(s\)\) was pending with reason "
                     r"Partition(TimeLimit|Config): it can never run, so it was cancelled; the largest node of partition local "
                     r"has \d+ CPUs", proc.stderr), proc.stderr[-2000:]
    assert subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout.strip() == ""
