"""The two commands: one job (or a sweep's jobs) and the comparison run; input errors print as one message."""
from __future__ import annotations

import functools
from collections.abc import Callable

from omegaconf import DictConfig

from attnhuman.app import comparison, job
from attnhuman.app.errors import CompactConfigError, CompactDataError
from attnhuman.app.spec import comparison_spec
from attnhuman.errors import ConfigError, DataError


def one_message(command: Callable[[DictConfig], object]) -> Callable[[DictConfig], object]:
    """``command`` with any ConfigError or DataError raised as one message that Hydra prints without a traceback
    (``HYDRA_FULL_ERROR=1`` shows the trace)."""
    @functools.wraps(command)
    def run(cfg: DictConfig):
        try:
            return command(cfg)
        except (CompactConfigError, CompactDataError):
            raise
        except ConfigError as e:
            raise CompactConfigError(str(e)) from e
        except DataError as e:
            raise CompactDataError(str(e)) from e
    return run


run_job = one_message(job.run)
run_comparison = one_message(lambda cfg: comparison.run(comparison_spec(cfg)))
