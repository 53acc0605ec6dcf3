"""Exceptions with messages a user understands.

Only the CLI and the app's pages turn these into output; everything in the
library raises them instead of printing.
"""


class HTRError(Exception):
    """Base class of every error this library raises on purpose."""


class ImageError(HTRError):
    """An image could not be read or is not usable (names the file and why)."""


class IAMError(HTRError):
    """The IAM folder is missing, malformed, or an id is invalid."""


class EngineUnavailable(HTRError):
    """A recognizer cannot run here (missing binary, weights, or package)."""


class EngineFailed(HTRError):
    """A recognizer was available but failed or timed out on one input."""


class ReadingStopped(EngineFailed):
    """A reading was stopped on request (its ``cancel`` event set) before it finished."""
