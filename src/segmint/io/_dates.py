"""Reading dates: the format of a date column, chosen from the data, and its SQL.

:func:`guess_date_format` picks the strptime format that parses the most values of a column
(:data:`DATE_FORMATS`, then on DuckDB the ISO 8601 formats with a UTC offset,
:data:`OFFSET_FORMATS`), reports day/month ambiguity and recognises Excel serial day numbers;
:func:`_resolve_date` turns a given or guessed format into the loaders' :class:`DateGuess` (with
its warnings), :func:`_date_sql` into the SQL that reads the column as a TIMESTAMP.
:func:`date_label` says, for the row accounting, how a column's dates were read.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.io._sources import RawSource, _sql_str, quote_ident

__all__ = [
    "DATE_FORMATS",
    "EXCEL_EPOCH",
    "EXCEL_SERIAL",
    "EXCEL_SERIAL_RANGE",
    "OFFSET_FORMATS",
    "DateGuess",
    "date_label",
    "detect_date_format",
    "guess_date_format",
]


# candidate formats, in order of preference when several parse the same number of values
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%d %H:%M",
    "%Y%m%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d.%m.%y",
)

# ISO 8601 with a UTC offset (+02:00, +0200, +02): parsed as instants, stored in UTC. Tried on
# DuckDB only (after DATE_FORMATS, each of which has a Spark pattern; ``%z`` has none there).
OFFSET_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M%z",
)

#: Excel serial day numbers accepted as dates: 20,000-80,000 is 1954-10-03 to 2119-01-11.
EXCEL_SERIAL_RANGE = (20_000, 80_000)
EXCEL_EPOCH = "1899-12-30"  # serial 1 is 1900-01-01 in Excel's (1900 leap-year) count

# day-first formats and their month-first twins: equal hits mean the data cannot tell them apart
_DAY_MONTH_TWINS = {
    "%d/%m/%Y": "%m/%d/%Y",
    "%d-%m-%Y": "%m-%d-%Y",
    "%d/%m/%Y %H:%M": "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S": "%m/%d/%Y %H:%M:%S",
    "%d/%m/%y": "%m/%d/%y",
}


@dataclass
class DateGuess:
    """The date format chosen for a column and how sure the choice is.

    ``format`` is a strptime format, or ``"excel serial"`` for Excel's day numbers.
    """

    format: str
    formats: list[str]  # the chosen format and its variants with/without a time of day
    ambiguous_with: str | None = None

    @property
    def serial(self) -> bool:
        """Whether the column holds Excel serial day numbers."""
        return self.format == EXCEL_SERIAL

    @property
    def offsets(self) -> bool:
        """Whether the timestamps carry UTC offsets (normalised to UTC)."""
        return "%z" in self.format


EXCEL_SERIAL = "excel serial"


def _date_part(fmt: str) -> str:
    return fmt.split(" ")[0].split("T")[0]


def _family(fmt: str) -> list[str]:
    """``fmt`` first, then the formats that write the same date with or without a time.

    The formats with a UTC offset join the family only of a format that has one: a column
    without offsets is read exactly as before they were known.
    """
    part = _date_part(fmt)
    offsets = "%z" in fmt
    return [fmt] + [
        f
        for f in (*DATE_FORMATS, *OFFSET_FORMATS)
        if f != fmt and _date_part(f) == part and (offsets or "%z" not in f)
    ]


def _excel_serial(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """Whether ``column`` holds Excel serial day numbers: at least 98 % of its non-empty
    values are numbers and every number lies in :data:`EXCEL_SERIAL_RANGE` (whole column)."""
    v = f"nullif(trim(CAST({quote_ident(column)} AS VARCHAR)), '')"
    lo, hi = EXCEL_SERIAL_RANGE
    n, numbers, inside = con.execute(
        f"SELECT count(v), count(TRY_CAST(v AS DOUBLE)), "
        f"count(*) FILTER (TRY_CAST(v AS DOUBLE) BETWEEN {lo} AND {hi}) "
        f"FROM (SELECT {v} AS v FROM {quote_ident(table)})"
    ).fetchall()[0]
    return bool(n) and numbers >= 0.98 * n and inside == numbers


def detect_date_format(con: duckdb.DuckDBPyConnection, table: str, column: str) -> str | None:
    """Pick the format that parses the most non-empty values of ``column`` (a sample of 20k)."""
    guess = guess_date_format(con, table, column)
    return guess.format if guess else None


def guess_date_format(con: duckdb.DuckDBPyConnection, table: str, column: str) -> DateGuess | None:
    """Choose a date format for ``column`` from the data; report day/month ambiguity.

    The format parsing the most values of a 20k sample wins (ties: the order of
    :data:`DATE_FORMATS`, then :data:`OFFSET_FORMATS`). When a day-first format and its
    month-first twin parse the same number, the whole column is counted; if they still tie
    (every day is 12 or less), the day-first reading is kept and ``ambiguous_with`` names the
    other one. With no format
    parsing a value, a column of Excel serial day numbers is recognised (:func:`_excel_serial`).

    Timestamps with UTC offsets and Excel serial numbers are recognised on DuckDB only: on
    another engine's connection (Spark's has no ``%z`` pattern) such a column has no format.
    """
    native = isinstance(con, duckdb.DuckDBPyConnection)
    formats = [*DATE_FORMATS, *(OFFSET_FORMATS if native else ())]
    col = f"CAST({quote_ident(column)} AS VARCHAR)"
    sample = (
        f"(SELECT trim({col}) AS v FROM {quote_ident(table)} "
        f"WHERE {col} IS NOT NULL AND trim({col}) <> '' LIMIT 20000)"
    )
    counts = ", ".join(
        f"count(try_strptime(v, {_sql_str(fmt)})) AS f{i}" for i, fmt in enumerate(formats)
    )
    row = con.execute(f"SELECT count(*), {counts} FROM {sample}").fetchall()[0]
    total, hits = row[0], row[1:]
    if not total:
        return None
    if max(hits) == 0:
        if native and _excel_serial(con, table, column):
            return DateGuess(EXCEL_SERIAL, [EXCEL_SERIAL])
        return None
    best = max(range(len(formats)), key=lambda i: (hits[i], -i))
    fmt = formats[best]
    twin = _DAY_MONTH_TWINS.get(fmt)
    if twin is None or hits[formats.index(twin)] < hits[best]:
        return DateGuess(fmt, _family(fmt))
    full = con.execute(
        f"SELECT count(try_strptime(trim({col}), {_sql_str(fmt)})), "
        f"count(try_strptime(trim({col}), {_sql_str(twin)})) FROM {quote_ident(table)}"
    ).fetchall()[0]
    if full[1] > full[0]:
        return DateGuess(twin, _family(twin))
    if full[0] > full[1]:
        return DateGuess(fmt, _family(fmt))
    return DateGuess(fmt, _family(fmt), ambiguous_with=twin)


def _resolve_date(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    column: str,
    given: str | None,
    warnings: list[str],
    *,
    required: bool = True,
) -> DateGuess | None:
    if given:
        return DateGuess(given, [given])
    guess = guess_date_format(con, raw.table, column)
    if guess is not None and guess.serial:
        lo, hi = EXCEL_SERIAL_RANGE
        note = (
            f"column '{column}': every value is a number from {lo:,} to {hi:,}; read as Excel "
            f"serial day numbers (days since {EXCEL_EPOCH}; the fraction is the time of day)."
        )
        logger.info("%s: %s", raw.path.name, note)
        warnings.append(note)
    elif guess is not None and guess.offsets:
        logger.info(
            "%s: column '%s' has UTC offsets; timestamps normalised to UTC", raw.path.name, column
        )
    if guess is None:
        if not required:
            return None
        raise InputError(
            f"{raw.path}: column '{column}' holds no recognisable dates.",
            hint="Map the date to another column, or give its format in segmint.yaml "
            "(io: {date_formats: {<role>: '%d.%m.%Y'}}).",
        )
    if guess.ambiguous_with:
        warnings.append(
            f"column '{column}': every date fits both {guess.format} and "
            f"{guess.ambiguous_with} (no day above 12); read as {guess.format} (day first). "
            f"Set io.date_formats in segmint.yaml if that is wrong."
        )
    return guess


def _date_sql(expr: str, guess: DateGuess) -> str:
    """SQL reading ``expr`` as a TIMESTAMP by ``guess``; NULL where a value does not parse.

    Offsets are applied (the instant is kept, written in UTC); Excel serial numbers outside
    :data:`EXCEL_SERIAL_RANGE` are NULL.
    """
    text = f"trim(CAST({expr} AS VARCHAR))"
    if guess.serial:
        lo, hi = EXCEL_SERIAL_RANGE
        days = f"TRY_CAST({text} AS DOUBLE)"
        return (
            f"CASE WHEN {days} BETWEEN {lo} AND {hi} THEN CAST(DATE '{EXCEL_EPOCH}' AS TIMESTAMP)"
            f" + to_microseconds(CAST(round({days} * 86400000000) AS BIGINT)) END"
        )
    tz = [f for f in guess.formats if "%z" in f]
    naive = [f for f in guess.formats if "%z" not in f]
    parts = []
    if tz:
        parts.append(f"timezone('UTC', {_strptime(text, tz)})")
    if naive:
        parts.append(_strptime(text, naive))
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _strptime(text: str, formats: list[str]) -> str:
    if len(formats) == 1:
        return f"try_strptime({text}, {_sql_str(formats[0])})"
    return f"try_strptime({text}, [{', '.join(_sql_str(f) for f in formats)}])"


def _is_temporal(raw: RawSource, column: str) -> bool:
    return raw.types.get(column, "").startswith(("DATE", "TIMESTAMP"))


def date_label(raw: RawSource, column: str, fallback: str | None = None) -> str | None:
    """How the dates of ``column`` were read, for the row accounting: the type the file gives
    them (``"DATE (typed in the file)"``), else ``fallback`` (the strptime format chosen)."""
    kind = raw.source_types.get(column, "")
    if kind == "DATE":
        return "DATE (typed in the file)"
    if kind.startswith("TIMESTAMP") and "TIME ZONE" not in kind:
        return "TIMESTAMP (typed in the file)"
    return fallback
