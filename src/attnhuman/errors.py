"""The one exception type for bad input: its message names the file, sentence or subject and what to do."""


class DataError(ValueError):
    """Input data that cannot be used as given."""
