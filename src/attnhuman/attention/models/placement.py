"""Where a model's weights go, decided before they are read: one GPU, every visible GPU, or the CPU (torch-free)."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from attnhuman.errors import DataError

BYTES_PER_PARAMETER = {"float32": 4, "bfloat16": 2, "float16": 2}
HEADROOM = 1.2          # activations, attention and the CUDA context on top of the weights


@dataclass(frozen=True)
class Placement:
    device_map: str | None      # None: the CPU; "cuda:0": one GPU; "auto": spread over the visible GPUs
    reason: str


def weight_gb(parameters: int, dtype: str) -> float:
    """The weights in ``dtype``, in GB (1e9 bytes)."""
    return parameters * BYTES_PER_PARAMETER[dtype] / 1e9


def visible_gpus() -> list[str]:
    """The GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else the indices ``nvidia-smi`` lists."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return [g.strip() for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    return [str(i) for i in range(len(_nvidia_memory_gb()))]


def _nvidia_memory_gb() -> list[float]:
    """Every GPU's memory as ``nvidia-smi`` reports it (none without it)."""
    if not shutil.which("nvidia-smi"):
        return []
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, timeout=30)
    return [float(line) / 1024 for line in out.stdout.split() if line.strip()] if out.returncode == 0 else []


def gpu_memory_gb() -> list[float]:
    """The memory of each GPU this process may use (:func:`visible_gpus` of those ``nvidia-smi`` reports)."""
    sizes = _nvidia_memory_gb()
    return [sizes[int(g)] for g in visible_gpus() if g.isdigit() and int(g) < len(sizes)]


def ram_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9


def place(label: str, parameters: int, dtype: str, gpus: list[float], ram: float) -> Placement:
    """One GPU when the weights (plus HEADROOM) fit on the first, every visible GPU (``auto``) when they fit on all,
    the CPU when no GPU is visible and they fit in RAM; else DataError saying what the model needs."""
    weights = weight_gb(parameters, dtype)
    need = weights * HEADROOM
    if gpus:
        if need <= gpus[0]:
            return Placement("cuda:0", f"{weights:.1f} GB of weights on one GPU of {gpus[0]:.0f} GB")
        if need <= sum(gpus):
            return Placement("auto", f"{weights:.1f} GB of weights over {len(gpus)} GPUs ({sum(gpus):.0f} GB)")
        raise DataError(f"{label} in {dtype} needs about {weights:.0f} GB for its weights; {len(gpus)} GPU(s) with "
                        f"{sum(gpus):.0f} GB visible: use source.device_map=auto on more GPUs, source=deepspeed, "
                        "or a smaller source.dtype (hydra/launcher=slurm sizes jobs from the registry).")
    if need > ram:
        raise DataError(f"{label} in {dtype} needs about {weights:.0f} GB for its weights; no GPU is visible and "
                        f"this machine has {ram:.0f} GB of RAM: run it where GPUs are (hydra/launcher=slurm).")
    return Placement(None, f"{weights:.1f} GB of weights on the CPU (no GPU visible)")
