"""Input errors as Hydra prints them: one message, without a traceback (``HYDRA_FULL_ERROR=1`` shows it)."""
from hydra.errors import CompactHydraException

from attnhuman.errors import ConfigError, DataError


class CompactConfigError(CompactHydraException, ConfigError):
    """A ConfigError that Hydra prints as one message."""


class CompactDataError(CompactHydraException, DataError):
    """A DataError that Hydra prints as one message."""
