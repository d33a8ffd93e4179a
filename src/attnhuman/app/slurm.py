"""What a SLURM cluster offers and what its queue says, through its own commands (``sinfo``, ``squeue``, ``scancel``):
a job's state, the largest node of a partition, a request checked against it before submitting, and a pending job
stopped when its reason says it can never run."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from attnhuman.app.errors import CompactDataError

ALIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}
# pending reasons that no wait resolves: the request exceeds what the partition or its nodes have
NEVER_RUNS = {"PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints", "InvalidQOS",
              "InvalidAccount", "QOSMaxCpuPerJobLimit", "QOSMaxMemoryPerJob", "QOSMaxGRESPerJob"}


def _run(*command: str) -> subprocess.CompletedProcess:
    if not shutil.which(command[0]):
        raise OSError(f"{command[0]} not found")
    return subprocess.run(list(command), capture_output=True, text=True, timeout=30)


def job_state(job_id: str) -> tuple[str | None, str]:
    """``(state, reason)`` of a job in ``squeue`` (state None: not queued any more); OSError without ``squeue``."""
    out = _run("squeue", "-h", "-j", job_id, "-o", "%T|%r")
    rows = [line.split("|", 1) for line in out.stdout.splitlines() if "|" in line]
    return (rows[0][0], rows[0][1]) if out.returncode == 0 and rows else (None, "")


def slurm_state(job_id: str) -> str | None:
    """The job's state in ``squeue`` (None: not queued any more); OSError without ``squeue``."""
    return job_state(job_id)[0]


@dataclass(frozen=True)
class Node:
    """The most a job can get on one node of a partition."""

    partition: str
    cpus: int
    memory_gb: float
    gpus: int


def largest_node(partition: str | None) -> Node:
    """The largest CPUs, memory and GPUs of the nodes of ``partition`` (None: the default partition), from ``sinfo``."""
    out = _run("sinfo", "-h", "-o", "%P|%c|%m|%G")
    rows = [line.split("|") for line in out.stdout.splitlines() if line.count("|") == 3]
    if partition is None:
        defaults = [r for r in rows if r[0].endswith("*")]
        rows = defaults or rows
    else:
        rows = [r for r in rows if r[0].rstrip("*") == partition]
    if out.returncode != 0 or not rows:
        raise CompactDataError(f"hydra/launcher=slurm: sinfo lists no partition {partition or '(default)'} "
                               f"({out.stderr.strip()[:200] or 'no such partition'}); set hydra.launcher.partition.")
    gpus = [int(m.group(1)) for r in rows for m in [re.search(r"gpu(?::[^:(,]+)?:(\d+)", r[3])] if m]
    return Node(rows[0][0].rstrip("*"), max(int(r[1].rstrip("+")) for r in rows),
                max(float(r[2].rstrip("+")) for r in rows) / 1024, max(gpus, default=0))


def request_problem(node: Node, cpus_per_task: int, tasks: int, mem_gb: float | None, gpus: int) -> str | None:
    """Why no node like ``node`` (the largest of its partition) can ever run the request, naming the request, the node
    and the settings to lower (the GPU setting only when GPUs are too many), or None."""
    cpus = cpus_per_task * tasks
    too_big = {f"{cpus} CPUs": "hydra.launcher.cpus_per_task (ATTNHUMAN_SLURM_CPUS)"} if cpus > node.cpus else {}
    if mem_gb and mem_gb > node.memory_gb:
        too_big[f"{mem_gb:g} GB"] = "hydra.launcher.mem_gb (ATTNHUMAN_SLURM_MEM_GB)"
    if gpus > node.gpus:
        too_big[f"{gpus} GPUs"] = "cluster.gpus" + (" (0 on nodes without GPUs)" if not node.gpus else "")
    if not too_big:
        return None
    return (f"hydra/launcher=slurm asks {cpus} CPUs ({tasks} task(s) x hydra.launcher.cpus_per_task={cpus_per_task}), "
            f"{f'{mem_gb:g} GB' if mem_gb else 'the default memory'} and {gpus} GPU(s) per job; the largest node of "
            f"partition {node.partition} has {node.cpus} CPUs, {node.memory_gb:.0f} GB and {node.gpus} GPU(s), so "
            f"{', '.join(too_big)} can never be given and the job would wait for ever: lower "
            f"{' and '.join(too_big.values())}, or choose another hydra.launcher.partition.")


def check_request(partition: str | None, cpus_per_task: int, tasks: int, mem_gb: float | None, gpus: int) -> None:
    """Stop, in one line naming the request and the largest node, a job that no node of the partition can hold."""
    problem = request_problem(largest_node(partition), cpus_per_task, tasks, mem_gb, gpus)
    if problem:
        raise CompactDataError(problem)


def refused(jobs: int, gpus: int, tasks: int, error: str) -> str:
    """The scheduler's refusal of a job array, in one line; the hint about GPUs only for jobs that ask for some."""
    hint = "On nodes without GPUs set cluster.gpus=0" if gpus else "Check the hydra.launcher settings"
    return (f"The scheduler refused {jobs} job(s) with {gpus} GPU(s) and {tasks} task(s) each: {error.strip()[:500]}. "
            f"{hint}; see docs/clusters.md, SLURM.")


def stop_if_never_runs(job_id: str, request: str, gpus: int) -> None:
    """Cancel a pending job whose reason says it can never run, and stop naming it, the request (``gpus`` of them
    GPUs) and the largest node of its partition; a job that can run is left alone."""
    state, reason = job_state(job_id)
    if state != "PENDING" or reason not in NEVER_RUNS:
        return
    partition = _run("squeue", "-h", "-j", job_id, "-o", "%P").stdout.strip() or None
    _run("scancel", job_id.split("_")[0])
    try:
        node = largest_node(partition)
        largest = f"the largest node of partition {node.partition} has {node.cpus} CPUs, {node.memory_gb:.0f} GB"
    except CompactDataError:
        largest = "its partition is not listed by sinfo"
    raise CompactDataError(f"SLURM job {job_id} ({request}) was pending with reason {reason}: it can never run, so "
                           f"it was cancelled; {largest}. Ask for less (hydra.launcher.cpus_per_task, mem_gb"
                           f"{', cluster.gpus' if gpus else ''}) or choose another hydra.launcher.partition.")
