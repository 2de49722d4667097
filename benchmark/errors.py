"""Errors that carry a message meant for the user (printed without a traceback)."""


class BenchError(Exception):
    """A problem with the user's input or environment; the message says what to do."""


class RegistryError(BenchError):
    """A plug-in name is unknown, defined twice, or fails to load."""


class DataNotFound(BenchError):
    """A data set is missing on disk."""


class BenchWarning(UserWarning):
    """Something was repaired or is suspicious (a damaged cache entry, weights without a card)."""


def warn(message: str) -> None:
    import warnings

    warnings.warn(message, BenchWarning, stacklevel=2)
