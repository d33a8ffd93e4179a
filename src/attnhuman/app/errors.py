"""Input errors as Hydra prints them: one message, without a traceback (``HYDRA_FULL_ERROR=1`` shows it)."""
from __future__ import annotations

import functools
from collections.abc import Callable

from hydra.errors import CompactHydraException
from omegaconf import DictConfig

from attnhuman.errors import ConfigError, DataError


class CompactConfigError(CompactHydraException, ConfigError):
    """A ConfigError that Hydra prints as one message."""


class CompactDataError(CompactHydraException, DataError):
    """A DataError that Hydra prints as one message."""


def one_message(command: Callable[[DictConfig], object]) -> Callable[[DictConfig], object]:
    """``command`` with any ConfigError or DataError raised as one message that Hydra prints without a traceback."""
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
