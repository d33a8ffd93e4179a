"""GPU slots of parallel jobs on one machine (``hydra/launcher=local``): each worker process holds one slot.

In an importable module so that a worker's slot outlives its jobs: the lock stays here until the process ends.
"""
from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout

_SLOT: list[FileLock] = []          # this process' slot lock, held until the process ends


class InSlot:
    """The task function, run in this worker's GPU slot (taken on the worker's first job)."""

    def __init__(self, task_function, folder: Path, slots: list[str]):
        self.task_function, self.folder, self.slots = task_function, folder, slots

    def __call__(self, cfg):
        if not _SLOT:
            for i, gpus in enumerate(self.slots):
                lock = FileLock(str(self.folder / f"gpu-slot-{i}.lock"))
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    continue
                _SLOT.append(lock)
                os.environ["CUDA_VISIBLE_DEVICES"] = gpus
                break
            else:
                raise RuntimeError(f"no free GPU slot among {self.slots} in {self.folder}")
        return self.task_function(cfg)
