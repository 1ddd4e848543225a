"""DuckDB and date helpers of the three summaries (``_summary``, ``_opportunities``,
``_contracts``).

* :func:`_input_table` -- a DuckDB connection (time zone UTC) with the user's table registered
  and its required columns checked, closed afterwards;
* :func:`_day_sql` -- the SQL for the calendar day of a date, timestamp or ISO-string column;
* :func:`_quote_ident` -- a quoted SQL identifier;
* :func:`_to_date` -- a user-given date-like value as a :class:`datetime.date`.
"""

from __future__ import annotations

import datetime as _dt
import numbers
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd

from segmint._logging import logger
from segmint.exceptions import InputError

_DATE_HINT = "convert it to dates first, e.g. pandas.to_datetime(df[col])"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _to_date(value: Any, name: str) -> _dt.date:
    """Convert a user-given date-like value to a calendar date (time of day is dropped)."""
    if isinstance(value, numbers.Number):
        # pandas would read a number such as 19970930 as nanoseconds since 1970
        raise InputError(
            f"{name}={value!r} is a number, not a date",
            hint="pass an ISO date such as '1997-09-30', a datetime.date or a pandas Timestamp",
        )
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{name}={value!r} is not a date",
            hint="pass an ISO date such as '1997-09-30', a datetime.date or a pandas Timestamp",
        ) from exc
    if pd.isna(ts):
        raise InputError(f"{name} is missing (NaT)", hint=f"pass a date for {name}")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.date()


@contextmanager
def _input_table(
    data: Any, *, table: str, what: str, columns: dict[str, str], caller: str
) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, str]]]:
    """A DuckDB connection with ``data`` registered as ``table``, and the table's schema.

    Parameters
    ----------
    data : pandas.DataFrame or pyarrow.Table
        The user's input.
    table : str
        Name under which ``data`` is registered.
    what : str
        Name of the input in messages (e.g. ``"transactions"``).
    columns : dict
        The required columns, keyed by the argument that names each (e.g.
        ``{"customer_col": "customer_id"}``), for the message when one is missing.
    caller : str
        Name of the calling function, for the log.

    Yields
    ------
    duckdb.DuckDBPyConnection, dict
        The connection (time zone UTC, closed on exit) and the column types by name.

    Raises
    ------
    InputError
        If ``data`` cannot be read or lacks a required column.
    """
    con = duckdb.connect()
    try:
        try:
            con.execute("SET TimeZone = 'UTC'")
        except duckdb.Error:  # pragma: no cover - ICU extension unavailable
            logger.debug("%s: could not set the DuckDB time zone to UTC", caller)
        try:
            con.register(table, data)
        except (duckdb.Error, TypeError, ValueError) as exc:
            raise InputError(
                f"{what} of type {type(data).__name__} cannot be read",
                hint="pass a pandas DataFrame or a pyarrow Table",
            ) from exc
        schema = {row[0]: row[1] for row in con.sql(f"DESCRIBE {table}").fetchall()}
        missing = [c for c in columns.values() if c not in schema]
        if missing:
            args = list(columns)
            names = args[0] if len(args) == 1 else f"{', '.join(args[:-1])} and {args[-1]}"
            raise InputError(
                f"{what} has no column(s) {', '.join(map(repr, missing))}",
                hint=f"available columns: {', '.join(map(repr, schema))}; set {names} to the "
                "right names",
            )
        yield con, schema
    finally:
        con.close()


def _day_sql(column: str, col_type: str, *, hint: str = _DATE_HINT) -> str:
    """SQL for the calendar day of ``column`` (DuckDB type ``col_type``).

    Dates and timestamps are cast to dates; strings are parsed as timestamps (``NULL`` where
    they are not dates, for the caller to count).

    Raises
    ------
    InputError
        If the column has another type (``hint`` says how to convert it).
    """
    quoted = _quote_ident(column)
    if col_type == "VARCHAR":
        return f"CAST(TRY_CAST({quoted} AS TIMESTAMP) AS DATE)"
    if col_type == "DATE" or col_type.startswith("TIMESTAMP"):
        return f"CAST({quoted} AS DATE)"
    raise InputError(f"date column {column!r} has type {col_type}, not a date", hint=hint)
