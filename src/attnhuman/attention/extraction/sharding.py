"""Tensor-parallel extraction with DeepSpeed inference (AutoTP), one process per rank.

Every rank runs the same job (launched by ``deepspeed --no_local_rank`` or ``torchrun``), holds
a slice of each layer's heads after ``deepspeed.init_inference(..., replace_with_kernel_inject=False)``
(kernel injection returns no attention) and extracts word attention for its own heads. Rank 0
gathers the slices, in rank order, into the full head order; only rank 0 touches MLflow.
Head splits may be uneven (52 heads over 8 ranks: 7, 7, 7, 7, 6, 6, 6, 6).
"""
from __future__ import annotations

import logging
import os

import numpy as np
import torch

from attnhuman.attention.extraction.ranks import is_main, world_size
from attnhuman.errors import DataError

log = logging.getLogger(__name__)


def init(tp_size: int | None) -> int:
    """Join the launcher's process group (or a one-process group) and return the tensor-parallel size."""
    import deepspeed
    from deepspeed.accelerator import get_accelerator

    size = world_size()
    tp_size = size if tp_size is None else int(tp_size)
    if tp_size != size:
        raise DataError(f"source.tp_size={tp_size} but {size} process(es) were launched; every process holds one "
                        f"shard. Launch with `deepspeed --num_gpus {tp_size} --no_local_rank src/main.py ...` or "
                        f"`torchrun --nproc_per_node {tp_size} src/main.py ...`, or set source.tp_size=null.")
    for key, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"),
                       ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")):
        os.environ.setdefault(key, value)
    accelerator = get_accelerator()
    if accelerator.device_name() == "cpu":
        # DeepSpeed's shared-memory CPU all-reduce is a C++ op built at first use; it crashed here (SIGSEGV)
        # without LOCAL_SIZE and intermittently under load. gloo's all-reduce is exact: use it instead.
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    else:
        accelerator.set_device(int(os.environ["LOCAL_RANK"]))
    if not torch.distributed.is_initialized():
        deepspeed.init_distributed(dist_backend=accelerator.communication_backend_name())
    return tp_size


def shard(model: torch.nn.Module, tp_size: int, dtype: torch.dtype) -> torch.nn.Module:
    """This rank's AutoTP shard of ``model`` (attention heads split across ranks), on its device."""
    import deepspeed

    engine = deepspeed.init_inference(model, tensor_parallel={"tp_size": tp_size}, dtype=dtype,
                                      replace_with_kernel_inject=False)
    return engine.module


def broadcast(value):
    """Rank 0's ``value`` on every rank (identity without a process group)."""
    if not torch.distributed.is_initialized() or torch.distributed.get_world_size() == 1:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def gather_heads(local: np.ndarray) -> np.ndarray | None:
    """Rank 0: ``(layers, heads, cells)`` from every rank's ``(layers, local_heads, cells)``; others: None."""
    if not torch.distributed.is_initialized() or torch.distributed.get_world_size() == 1:
        return local
    parts = [None] * torch.distributed.get_world_size() if is_main() else None
    torch.distributed.gather_object(local, parts, dst=0)
    if not is_main():
        return None
    log.info("Gathered heads per rank: %s", [p.shape[1] for p in parts])
    return np.concatenate(parts, axis=1)
