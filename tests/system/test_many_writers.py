"""Many writers on the SQLite default: parallel jobs on a new store, the same job twice at once, a killed sweep."""
import os
import signal
import subprocess
import sys
import time

from filelock import FileLock

from helpers.commands import runs
from helpers.paths import LLAMA30, READING_BRAIN, ROOT

BASE = ["source=released", "model=llama", "size=30b", f"data.root={READING_BRAIN}", "data.download=false",
        f"source.path={LLAMA30 / 'packed_plain.npz'}", "analysis.fmri=false"]


def _start(tmp_path, *args, out="out", base=BASE):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    return subprocess.Popen([sys.executable, str(ROOT / "src" / "main.py"), *args, *base,
                             f"hydra.run.dir={tmp_path}/{out}", f"hydra.sweep.dir={tmp_path}/multirun-{out}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _finish(procs):
    outputs = [p.communicate(timeout=600) for p in procs]
    return [(p.returncode, out + err) for p, (out, err) in zip(procs, outputs)]


def test_four_parallel_jobs_on_a_new_store(tmp_path, tiny_released):
    """Four processes started together on a store that does not exist yet: four FINISHED runs, no error."""
    procs = [_start(tmp_path, f"prefix={p}", out=p, base=tiny_released) for p in ("none", "translate", "noise", "paraphrase")]
    for code, log in _finish(procs):
        assert code == 0 and "Traceback" not in log and "rror" not in log, log[-3000:]
    found = runs(tmp_path)[1]
    assert sorted((r.data.tags["prefix"], r.info.status) for r in found) == [
        ("noise", "FINISHED"), ("none", "FINISHED"), ("paraphrase", "FINISHED"), ("translate", "FINISHED")]


def test_the_same_job_started_twice_at_once_runs_once(tmp_path, tiny_released):
    procs = [_start(tmp_path, out=f"out{i}", base=tiny_released) for i in range(2)]
    results = _finish(procs)
    assert [code for code, _ in results] == [0, 0]
    assert sum("Skipping llama-tiny-base-none+released" in log for _, log in results) == 1
    assert [r.info.status for r in runs(tmp_path)[1]] == ["FINISHED"]


def test_a_killed_sweep_run_again_finishes_every_job_once(tmp_path):
    """SIGKILL in the middle of the first job leaves its run and the sweep's parent RUNNING; the same command marks
    both KILLED (their process is gone) and runs every job: each FINISHED exactly once, nothing RUNNING."""
    sweep = ["-m", "prefix=none,translate", "compare.after_sweep=false"]
    proc = _start(tmp_path, *sweep, out="first")
    deadline = time.time() + 300
    while not any(r.info.status == "RUNNING" and "kind" not in r.data.tags for r in _runs(tmp_path)):
        assert proc.poll() is None and time.time() < deadline, "the first job never started"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    [killed] = [r for r in runs(tmp_path)[1] if "kind" not in r.data.tags]
    assert killed.info.status == "RUNNING"
    [(code, log)] = _finish([_start(tmp_path, *sweep, out="again")])
    assert code == 0, log[-3000:]
    assert f"was left RUNNING but its process {proc.pid} on" in log
    jobs = [r for r in runs(tmp_path)[1] if "kind" not in r.data.tags]
    after = {r.info.run_id: r for r in jobs}[killed.info.run_id]
    assert after.info.status == "KILLED" and after.data.tags["killed_reason"].startswith(f"its process {proc.pid}")
    assert sorted((r.data.tags["prefix"], r.info.status) for r in jobs if r.info.run_id != killed.info.run_id) == [
        ("none", "FINISHED"), ("translate", "FINISHED")]
    parents = {r.data.tags["sweep"].rsplit("-", 1)[-1]: r for r in runs(tmp_path)[1] if r.data.tags.get("kind") == "sweep"}
    assert parents["first"].info.status == "KILLED" and parents["again"].info.status == "FINISHED"
    assert parents["first"].data.tags["killed_reason"] == f"its process {proc.pid} on {killed.data.tags['host']} is gone"
    assert f"Run {parents['first'].info.run_name} ({parents['first'].info.run_id}) was left RUNNING but its process" in log


def _runs(tmp_path):
    """The runs so far; the store's lock keeps this reader out while a job creates the store."""
    db = tmp_path / "mlruns" / "mlflow.db"
    if not db.is_file():
        return []
    with FileLock(f"{db}.lock"):
        return runs(tmp_path)[1]


def test_local_launcher_gives_each_parallel_job_its_own_gpus(tmp_path, tiny_released):
    """hydra/launcher=local with 4 visible GPUs (named; released jobs never touch them), 2 per job: two workers,
    each job run records the slot its worker holds, and both slots are used."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    proc = subprocess.run([sys.executable, str(ROOT / "src" / "main.py"), "-m", "hydra/launcher=local",
                           "hydra.launcher.n_jobs=3", "hydra.launcher.gpus_per_job=2",
                           "prefix=none,translate,noise,paraphrase", "compare.after_sweep=false", *tiny_released,
                           f"hydra.sweep.dir={tmp_path}/multirun"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 GPU slot(s) of 2 GPU(s): running 2 jobs at a time" in proc.stdout + proc.stderr
    jobs = [r for r in runs(tmp_path)[1] if "kind" not in r.data.tags]
    assert len(jobs) == 4 and {r.info.status for r in jobs} == {"FINISHED"}
    assert {r.data.tags["cuda_visible_devices"] for r in jobs} == {"0,1", "2,3"}
    by_pid = {}
    for r in jobs:
        by_pid.setdefault(r.data.tags["pid"], set()).add(r.data.tags["cuda_visible_devices"])
    assert all(len(slots) == 1 for slots in by_pid.values())          # a worker keeps its slot
