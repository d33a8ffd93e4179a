"""This process' rank among the processes of one job, as the launcher (deepspeed, torchrun, srun) set it.

Torch-free, so that jobs that never touch a model (``source=released``) never import torch.
"""
from __future__ import annotations

import os


def rank() -> int:
    """This process' rank as the launcher set it (0 when not launched by one)."""
    return int(os.environ.get("RANK", 0))


def is_main() -> bool:
    return rank() == 0


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", 1))
