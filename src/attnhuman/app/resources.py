"""What one job needs from a cluster: GPUs from the registry's parameter count and the dtype, tasks per job."""
from __future__ import annotations

import math
from dataclasses import dataclass

from omegaconf import DictConfig

from attnhuman.app.spec import resolve_model
from attnhuman.attention.models.placement import weight_gb as weight_bytes_gb


@dataclass(frozen=True, order=True)
class Shape:
    """One job's resources on one node: GPUs and tasks (one per GPU for ``source=deepspeed``)."""

    gpus: int
    tasks: int


def weight_gb(cfg: DictConfig) -> float:
    """The job's model weights in the chosen dtype, in GB (1e9 bytes)."""
    return weight_bytes_gb(resolve_model(cfg).parameters, cfg.source.dtype)


def job_shape(cfg: DictConfig) -> Shape:
    """GPUs: ``cluster.gpus``, or with ``auto`` the weights plus ``cluster.headroom`` over ``cluster.gpu_memory_gb``
    (0 for sources that run no model, and where no GPU memory is given); tasks: one per GPU (at least
    ``source.tp_size``) for a source with one process per shard, else one."""
    cluster, source = cfg.cluster, cfg.source
    if not source.get("runs_model", False):
        gpus = 0
    elif str(cluster.gpus) != "auto":
        gpus = int(cluster.gpus)
    elif not cluster.gpu_memory_gb:
        gpus = 0
    else:
        gpus = max(1, math.ceil(weight_gb(cfg) * float(cluster.headroom) / float(cluster.gpu_memory_gb)))
    tasks = 1
    if source.get("one_process_per_shard", False):
        tasks = int(source.tp_size) if source.get("tp_size") else max(gpus, 1)
    return Shape(gpus, tasks)
