"""Hydra ``_target_`` factory of the sources that run a model (``source=hf``, ``source=deepspeed``).

Apart from :mod:`attnhuman.app.factories` so that only jobs that run a model import torch and transformers.
"""
from __future__ import annotations

from pathlib import Path

from attnhuman.attention.extraction.model_source import DeepSpeedSource, ModelSource
from attnhuman.attention.models.registry import ModelSpec


def model_source(*, spec: ModelSpec, prefix: dict, paths: dict, dtype: str, batch_size: int, chunk_size: int, device_map,
                 gpu_memory_gb, trust_remote_code: bool, seed: int, progress: bool, cache: bool, cache_dir,
                 measure: str = "weights", context: dict | None = None, one_process_per_shard: bool = False,
                 tp_size: int | None = None) -> ModelSource:
    """``source=hf``: the registry model run with transformers (eager attention); ``source=deepspeed``
    (``one_process_per_shard``): the same, tensor-parallel over ``tp_size`` processes (None: all launched)."""
    memory = None if gpu_memory_gb is None else tuple(float(g) for g in gpu_memory_gb)
    settings = dict(prefix=prefix["text"], dtype=dtype, batch_size=batch_size, chunk_size=chunk_size,
                    device_map=device_map, gpu_memory_gb=memory, trust_remote_code=bool(trust_remote_code),
                    seed=int(seed), progress=bool(progress), cache=bool(cache), cache_dir=Path(cache_dir).expanduser(),
                    checkpoint_cache_dir=Path(paths["cache"]).expanduser(), measure=measure,
                    **(context or {}))
    if one_process_per_shard:
        return DeepSpeedSource(spec, **settings, tp_size=None if tp_size is None else int(tp_size))
    return ModelSource(spec, **settings)
