"""Many writers, one run per job: claiming a job, a heartbeat while it runs, and stale runs recognised.

Every job run carries where it runs (``host``, ``pid``, ``slurm_job_id``) and a ``heartbeat`` tag
(seconds since the epoch) refreshed while it runs. A RUNNING run whose process is gone (same host, no
such pid), whose SLURM job is no longer queued or running, or whose heartbeat is older than
``mlflow.stale_after_s`` is stale: it is marked KILLED with the reason, and its job runs again.

Two processes that start the same job at once both create a run, then both look at the job's runs:
the earliest RUNNING one (start time, then run id) runs, the others end their own run KILLED, delete it and skip.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time

from mlflow.tracking import MlflowClient

from attnhuman.app.slurm import ALIVE_STATES, slurm_state

log = logging.getLogger(__name__)


def where_tags() -> dict[str, str]:
    """Where this job runs: host, pid, SLURM job id and GPUs (when set), and a first heartbeat."""
    tags = {"host": socket.gethostname(), "pid": str(os.getpid()), "heartbeat": str(int(time.time()))}
    if os.environ.get("SLURM_JOB_ID"):
        tags["slurm_job_id"] = os.environ["SLURM_JOB_ID"]
    if os.environ.get("CUDA_VISIBLE_DEVICES"):
        tags["cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return tags


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_reason(tags: dict, stale_after_s: float) -> str | None:
    """Why a RUNNING run is dead, or None while it may be alive."""
    if tags.get("slurm_job_id"):
        try:
            state = slurm_state(tags["slurm_job_id"])
            if state not in ALIVE_STATES:
                return f"its SLURM job {tags['slurm_job_id']} is {state.lower() if state else 'no longer queued'}"
            return None
        except (OSError, subprocess.SubprocessError):
            pass                                 # not on the cluster: the heartbeat decides
    elif tags.get("host") == socket.gethostname() and tags.get("pid", "").isdigit():
        if not _pid_alive(int(tags["pid"])):
            return f"its process {tags['pid']} on {tags['host']} is gone"
        return None
    silent = time.time() - float(tags.get("heartbeat", 0) or 0)
    if silent > stale_after_s:
        return f"no heartbeat for {silent:.0f} s (more than mlflow.stale_after_s={stale_after_s:g})"
    return None


def recover_stale(client: MlflowClient, experiment_id: str, which: str, stale_after_s: float,
                  what: str = "job") -> list[str]:
    """Mark the stale RUNNING runs that the MLflow filter ``which`` selects KILLED, with ``killed_reason``; returns
    their ids. ``what``: ``job`` (one job's runs: it runs again) or ``sweep`` (sweeps' parent runs)."""
    killed = []
    for run in client.search_runs([experiment_id], f"{which} and attributes.status = 'RUNNING'"):
        reason = stale_reason(run.data.tags, stale_after_s)
        if reason:
            client.set_tag(run.info.run_id, "killed_reason", reason)
            client.set_terminated(run.info.run_id, "KILLED")
            log.warning("Run %s (%s) was left RUNNING but %s: marked KILLED%s.", run.info.run_name, run.info.run_id,
                        reason, ", the job runs again" if what == "job" else f" (a {what} that was killed)")
            killed.append(run.info.run_id)
    return killed


def claim(client: MlflowClient, experiment_id: str, run_id: str, identity: str, rerun: bool):
    """None when run ``run_id`` holds its job; else the run that does (RUNNING earlier, or FINISHED meanwhile
    unless ``rerun``), and ``run_id`` ends KILLED (with its ``killed_reason``) and is deleted."""
    runs = client.search_runs([experiment_id], f"tags.run_identity = '{identity}'")
    finished = [r for r in runs if r.info.status == "FINISHED" and not rerun]
    running = sorted((r for r in runs if r.info.status == "RUNNING"), key=lambda r: (r.info.start_time, r.info.run_id))
    holder = finished[0] if finished else running[0] if running else None
    if holder is None or holder.info.run_id == run_id:
        return None
    client.set_tag(run_id, "killed_reason", f"run {holder.info.run_id} ({holder.info.status}) holds the same job")
    client.set_terminated(run_id, "KILLED")
    client.delete_run(run_id)
    return holder


class Heartbeat:
    """Refreshes the run's ``heartbeat`` tag every ``interval_s`` in a daemon thread while the job runs."""

    def __init__(self, client: MlflowClient, run_id: str, interval_s: float):
        self.client, self.run_id, self.interval_s = client, run_id, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{run_id[:8]}")

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.client.set_tag(self.run_id, "heartbeat", str(int(time.time())))
            except Exception as e:  # noqa: BLE001 - a missed beat must never fail the job
                log.debug("heartbeat of %s failed: %s", self.run_id, e)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
