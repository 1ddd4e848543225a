"""DuckDB, the default engine: how much memory a run may take before it spills to disk."""

from __future__ import annotations

import os

#: Share of the physical memory DuckDB may use by default (its own default is 80 %): the
#: per-customer feature table, the segmenter and the report live in Python next to it, and
#: twice the feature table at most (the out-of-time lift builds a second one). At 0.15, 50M
#: transactions (2.5M customers) run within 8 GiB peak on a 24 GiB machine (benchmarks/).
DEFAULT_MEMORY_SHARE = 0.15
_MIN_LIMIT_MB = 512


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def default_memory_limit(share: float = DEFAULT_MEMORY_SHARE) -> str | None:
    """DuckDB ``memory_limit`` for a run: ``share`` of the physical memory (at least 512 MB).

    Returns None when the physical memory is unknown (DuckDB then keeps its own default).

    >>> default_memory_limit().endswith("MB")
    True
    """
    total = physical_memory()
    if not total:
        return None
    return f"{max(_MIN_LIMIT_MB, int(total * share / 2**20))}MB"
