"""The error types of bad input. Each message names the file, unit, subject or key and what to do."""


class DataError(ValueError):
    """Input data that cannot be used as given."""


class ConfigError(ValueError):
    """A configuration value or combination that cannot be run (checked before any data is read)."""
