"""Exceptions raised by segmint.

Every error a user can cause by what they pass in (a file, a config, a parameter) derives from
:class:`SegmintError` and carries a one-line message plus a hint. The CLI prints those as one red
line and exits with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class SegmintError(Exception):
    """Root of every error segmint raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong, naming the file, row and column where known.
    hint : str, optional
        What the user can do about it.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nHint: {self.hint}"
        return self.message


class InputError(SegmintError, ValueError):
    """The data given to segmint cannot be used as it is (bad file, missing column, ...)."""


class ConfigError(SegmintError, ValueError):
    """``segmint.yaml`` or a command-line option is invalid."""


class ModelError(SegmintError, ValueError):
    """A saved model or run cannot be loaded (tampered, incompatible or missing)."""
