"""The raw-source record shared by every reader, and small SQL helpers.

Every reader loads its input into DuckDB as a table of text columns plus ``_row``, the 1-based
data row of the record in the source, and returns a :class:`RawSource` describing what it did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from segmint import _json
from segmint.exceptions import InputError


@dataclass
class RawSource:
    """A source loaded into DuckDB as text.

    Attributes
    ----------
    path : Path
        The file read (for a database, the URL with the password hidden).
    table : str
        Name of the raw table in the DuckDB connection (columns as in the source, plus ``_row``).
    columns : list of str
        Column names as found in the source (or ``column_1 ...`` when it has no header).
    format : str
        ``"csv"``, ``"whitespace"``, ``"parquet"``, ``"xlsx"``, ``"json"``, ``"ndjson"``,
        ``"sav"`` or ``"sql"``.
    n_read : int
        Records read, including rejected lines.
    rejects : list of dict
        Records that could not be split into the source's columns: ``row``, ``reason``,
        ``detail``.
    encoding : str, optional
        Text encoding detected or given (text formats only).
    delimiter : str, optional
        Field delimiter (delimited text only).
    header : bool, optional
        Whether the first record held the column names.
    sheet : str, optional
        The worksheet read (Excel only).
    variable_labels : dict
        ``column -> label`` (SPSS variable labels), for the report.
    value_labels : dict
        ``column -> {code: label}`` for columns whose values were replaced by their labels
        (SPSS); the raw table holds the labels.
    notes : list of str
        What the reader decided that a user may want to know (e.g. the other sheets of a
        workbook); never personal data.
    types : dict
        ``column -> DuckDB type`` of the columns kept in their native type (numbers, dates and
        timestamps of a Parquet file read with ``typed=True``); every other column is text.
    source_types : dict
        ``column -> type`` as the source declares it (Parquet and Spark tables; DuckDB's
        spelling, e.g. ``DATE``, ``TIMESTAMP``), whether or not the column was kept typed.

    Notes
    -----
    ``_row`` is the 1-based data row: for delimited and whitespace text the n-th record after the
    header (blank lines are skipped and not counted; a quoted value spanning several lines is one
    record), for Excel the sheet row minus the header row (so row 5 is sheet row 6 under a
    one-line header), for the other formats the n-th record.
    """

    path: Path
    table: str
    columns: list[str]
    format: str
    n_read: int
    rejects: list[dict] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    header: bool | None = None
    sheet: str | None = None
    variable_labels: dict[str, str] = field(default_factory=dict)
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    source_types: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """What was read, as plain data (no values from the rows)."""
        return {
            "source": str(self.path),
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "header": self.header,
            "sheet": self.sheet,
            "rows": self.n_read,
            "malformed": len(self.rejects),
            "columns": list(self.columns),
            "variable_labels": dict(self.variable_labels),
            "notes": list(self.notes),
        }


def _sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB and PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()]


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0])


def unique_names(names: list[Any], where: str) -> list[str]:
    """Column names made usable: empty names become ``column_<i>``, repeats get ``_2``, ``_3``.

    ``_row`` is reserved for the data row; a source column of that name raises ``InputError``.
    """
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        text = "" if name is None else str(name).strip()
        if not text:
            text = f"column_{i + 1}"
        if text == "_row":
            raise InputError(
                f"{where}: has a column named '_row', which segmint reserves for the row number.",
                hint="Rename that column in the source.",
            )
        base, n = text, 1
        while text.lower() in seen:
            n += 1
            text = f"{base}_{n}"
        seen.add(text.lower())
        out.append(text)
    return out


class TextTableWriter:
    """Append rows of text into a new DuckDB table, in chunks, with ``_row`` first.

    Used by readers that produce rows in Python (Excel, SPSS, SQL); memory stays bounded by the
    chunk size.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
        self.con = con
        self.table = table
        self.columns = columns
        self.rows = 0
        self._schema = pa.schema(
            [pa.field("_row", pa.int64())] + [pa.field(c, pa.string()) for c in columns]
        )
        cols = ", ".join(f"{quote_ident(c)} VARCHAR" for c in columns)
        con.execute(f"CREATE OR REPLACE TABLE {quote_ident(table)} (_row BIGINT, {cols})")

    def append(self, rows: list[int], values: list[list[str | None]]) -> None:
        """Append one chunk: ``rows`` are the ``_row`` numbers, ``values`` one list per column."""
        if not rows:
            return
        arrays = [pa.array(rows, pa.int64())] + [pa.array(v, pa.string()) for v in values]
        chunk = pa.Table.from_arrays(arrays, schema=self._schema)
        self.con.register("_segmint_chunk", chunk)
        try:
            self.con.execute(f"INSERT INTO {quote_ident(self.table)} SELECT * FROM _segmint_chunk")
        finally:
            self.con.unregister("_segmint_chunk")
        self.rows += len(rows)


def reject_record(row: int, line: Any) -> str:
    """The raw record of a rejected line, as JSON: ``{"_row": n, "line": "<the text>"}``."""
    return _json.dumps({"_row": row, "line": line}, ensure_ascii=False, default=str)


def to_text(value: Any) -> str | None:
    """A Python value as the text a CSV export of it would hold (``None`` for missing).

    Numbers keep their digits (whole floats lose the ``.0``), dates are ISO 8601, date-times
    ``YYYY-MM-DD HH:MM:SS`` (with fractions of a second only when present), booleans
    ``true``/``false``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        spec = "microseconds" if value.microsecond else "seconds"
        return value.isoformat(sep=" ", timespec=spec)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, str):
        return value
    try:  # pandas/numpy scalars
        import pandas as pd

        if pd.isna(value):
            return None
        if isinstance(value, pd.Timestamp):
            return to_text(value.to_pydatetime())
        if hasattr(value, "item"):
            return to_text(value.item())
    except (TypeError, ValueError):
        pass
    return str(value)
