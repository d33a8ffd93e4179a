"""The two commands: one job (or a sweep's jobs) and the comparison run; input errors print as one message."""
from __future__ import annotations

from omegaconf import DictConfig

from attnhuman.app import comparison, job
from attnhuman.app.config import CompactConfigError
from attnhuman.errors import ConfigError


def run_job(cfg: DictConfig) -> dict | None:
    try:
        return job.run(cfg)
    except CompactConfigError:
        raise
    except ConfigError as e:
        raise CompactConfigError(str(e)) from e


def run_comparison(cfg: DictConfig) -> str | None:
    try:
        return comparison.run(cfg)
    except CompactConfigError:
        raise
    except ConfigError as e:
        raise CompactConfigError(str(e)) from e
