"""The library logs through ``logging.getLogger("segmint")`` and never configures handlers.

:func:`library_warnings_to_log` sends the warnings the libraries raise during a run
(scikit-learn's ``ConvergenceWarning``, ...) to that log instead of stderr.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger("segmint")


@contextmanager
def library_warnings_to_log() -> Iterator[dict[str, int]]:
    """Within the block, each warning is logged once (INFO, with its category) instead of
    printed to stderr; the dict yielded counts the warnings per ``category: message``, and a
    summary line is logged at the end. The warning filters are restored afterwards."""
    seen: dict[str, int] = {}

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = f"{category.__name__}: {message}"
        seen[text] = seen.get(text, 0) + 1
        if seen[text] == 1:
            logger.info("library warning (%s:%d): %s", filename, lineno, text)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield seen
    if seen:
        logger.info("%d library warning(s) logged, %d distinct", sum(seen.values()), len(seen))
