"""The two commands: one job (or a sweep's jobs) and the comparison run; input errors print as one message."""
from __future__ import annotations

import functools
from collections.abc import Callable

from omegaconf import DictConfig

from attnhuman.app import comparison, job
from attnhuman.app.config import CompactConfigError
from attnhuman.errors import ConfigError


def one_message(command: Callable[[DictConfig], object]) -> Callable[[DictConfig], object]:
    """``command`` with any ConfigError raised as one message that Hydra prints without a traceback."""
    @functools.wraps(command)
    def run(cfg: DictConfig):
        try:
            return command(cfg)
        except ConfigError as e:
            if isinstance(e, CompactConfigError):
                raise
            raise CompactConfigError(str(e)) from e
    return run


run_job = one_message(job.run)
run_comparison = one_message(comparison.run)
