"""Code shared by the demo generators: planted segments, per-segment draws and CSV output.

A generator declares its planted segments as a table of frozen dataclasses (one per segment,
with a ``name``, a ``share`` and behaviour fields). :class:`Planted` draws the segment of every
customer (or account) from the shares and looks the behaviour fields up per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class Planted:
    """The planted segment of each of ``n`` customers, drawn with ``rng`` from the shares.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator's random stream (one ``choice`` draw is taken from it).
    segments : sequence of dataclass
        The planted segments; each has ``name`` and ``share`` (normalised to sum to one).
    n : int
        Number of customers.

    Attributes
    ----------
    segments : sequence of dataclass
        As given.
    of : numpy.ndarray
        Segment index (into ``segments``) of every customer.
    """

    def __init__(self, rng: np.random.Generator, segments: Sequence[Any], n: int) -> None:
        shares = np.array([s.share for s in segments], dtype=float)
        self.segments = segments
        self.of = rng.choice(len(segments), size=n, p=shares / shares.sum())

    def values(
        self,
        field: str,
        rows: np.ndarray | None = None,
        *,
        dtype: Any = float,
        default: Any = None,
    ) -> np.ndarray:
        """The segment's ``field`` for every customer, or for the customers ``rows`` indexes.

        Tuple fields give one column per element. When ``default`` is given, it replaces
        false values (``None``, empty, 0).
        """
        table = [getattr(s, field) for s in self.segments]
        if default is not None:
            table = [value or default for value in table]
        of = self.of if rows is None else self.of[rows]
        return np.array(table, dtype=dtype)[of]

    def truth(self, id_col: str, ids: np.ndarray) -> pd.DataFrame:
        """The ground-truth table: ``id_col`` and the name of each customer's segment."""
        return pd.DataFrame({id_col: ids, "segment": [self.segments[i].name for i in self.of]})


def draw_category(rng: np.random.Generator, cumulative: np.ndarray, n_options: int) -> np.ndarray:
    """One category per row of the row-wise cumulative probabilities ``cumulative``."""
    draw = rng.uniform(0, 1, len(cumulative))[:, None]
    return np.minimum((draw > cumulative).sum(axis=1), n_options - 1)


def write_tables(directory: str | Path, tables: dict[str, pd.DataFrame | None]) -> dict[str, Path]:
    """Write each table that is not ``None`` as ``<name>.csv`` and return the paths by name.

    Every file is written to a temporary name first and renamed, so a reader never sees half a
    table.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in tables.items():
        if frame is None:
            continue
        path = directory / f"{name}.csv"
        tmp = path.with_suffix(".csv.partial")
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%d")
        tmp.replace(path)
        paths[name] = path
    return paths
