"""Typing and validating raw sources, with every row accounted for.

Each raw row ends in exactly one place: the typed table of its role (*used*) or the
``quarantine`` table with the first reason that applies, the column and the offending value, and
the whole raw record as JSON, so nothing is lost. ``read == used + quarantined`` holds per source
by construction and is checked before the pipeline goes on.

Some rows are kept but *flagged* for review in the ``flagged`` table (same columns as the
quarantine): amounts far out of line with the rest (``outlier_amount``) and malformed e-mail
addresses (``invalid_email``). Flags never change the row counts.

Outliers: an amount whose absolute value is more than ``outlier_factor`` (default 1000) times the
median absolute non-zero amount is flagged, not dropped: a demanding user would not want a big
genuine order removed silently, and a robust z-score on skewed money data flags far too many
ordinary large orders. ``outliers="quarantine"`` moves such rows to the quarantine instead
(reason ``outlier_amount``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb

from segmint._logging import logger
from segmint.exceptions import ConfigError, InputError
from segmint.io._formats import _drop_relation
from segmint.io._lines import (
    DuplicatePolicy,
    ExcludeRule,
    ReturnRules,
    duplicate_policy,
    exclude_rules,
)
from segmint.io._mapping import ColumnMatch, derives_amount, mapping_warnings
from segmint.io._sources import RawSource, _first_line, _sql_str, quote_ident

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

QUARANTINE_COLUMNS = (
    "source VARCHAR, role VARCHAR, row BIGINT, reason VARCHAR, "
    "column_name VARCHAR, value VARCHAR, record VARCHAR"
)

OutlierMode = Literal["flag", "quarantine"]


@dataclass
class SourceAccount:
    """What happened to the rows of one source: ``n_read == n_used + sum(quarantined)``.

    ``flagged`` counts rows that were kept but deserve a look (``outlier_amount``,
    ``invalid_email``, ``possible_duplicate``); ``warnings`` are decisions a user should check
    (an ambiguous date format, a number format that could be read two ways, a column mapped on
    a weak name match); ``notes`` are decisions worth knowing (the line value derived from
    quantity and unit price, offsets normalised to UTC).

    For transactions, ``value`` holds the lines used split into purchases and returns with
    their value (``purchase_lines, purchases, return_lines, returns, net``);
    ``missing_customer_id`` the lines quarantined for want of a customer id with their value
    and its share of all the value read (``lines, value, value_share``); ``duplicates`` the
    exact repeats among otherwise usable lines, their value and, when there are any, whether
    the log proves them repeats (``proven, proof``), the ``policy`` and the ``action`` taken;
    ``excluded`` the lines and value each ``io.exclude`` rule removed. Values are net: returns
    count negative.
    """

    source: str
    role: str
    format: str
    n_read: int
    n_used: int
    quarantined: dict[str, int] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    possible_duplicates: int = 0
    flagged: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    value: dict[str, Any] = field(default_factory=dict)
    missing_customer_id: dict[str, Any] = field(
        default_factory=lambda: {"lines": 0, "value": 0.0, "value_share": 0.0}
    )
    duplicates: dict[str, Any] = field(default_factory=lambda: {"rows": 0, "value": 0.0})
    excluded: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def n_quarantined(self) -> int:
        return sum(self.quarantined.values())

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "role": self.role,
            "format": self.format,
            "read": self.n_read,
            "used": self.n_used,
            "quarantined": self.n_quarantined,
            "quarantined_by_reason": dict(sorted(self.quarantined.items())),
            "mapping": self.mapping,
            "date_format": self.date_format,
            "possible_duplicates": self.possible_duplicates,
            "flagged": dict(sorted(self.flagged.items())),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "value": dict(self.value),
            "missing_customer_id": dict(self.missing_customer_id),
            "duplicates": dict(self.duplicates),
            "excluded": {k: dict(v) for k, v in self.excluded.items()},
        }


def ensure_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``quarantine`` and ``flagged`` tables if they do not exist yet."""
    con.execute(f"CREATE TABLE IF NOT EXISTS quarantine ({QUARANTINE_COLUMNS})")
    con.execute(f"CREATE TABLE IF NOT EXISTS flagged ({QUARANTINE_COLUMNS})")


# --- dates -----------------------------------------------------------------------------------


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


# --- numbers ---------------------------------------------------------------------------------

_CURRENCY = r"^[€$£¥]\s*|\s*[€$£¥]$|^(EUR|USD|GBP|CHF)\s*|\s*(EUR|USD|GBP|CHF)$"


def _decimal_comma(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    col = quote_ident(column)
    comma, dot = con.execute(
        f"SELECT count(*) FILTER (regexp_full_match(trim({col}), '-?[0-9.]*,[0-9]+')), "
        f"count(*) FILTER (regexp_full_match(trim({col}), '-?[0-9,]*\\.[0-9]+')) "
        f"FROM (SELECT {col} FROM {quote_ident(table)} LIMIT 20000)"
    ).fetchall()[0]
    return comma > dot


def _thousands_dots(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """Every dotted value looks like ``1.234`` (three digits after the dot): thousands?"""
    col = quote_ident(column)
    dotted, grouped = con.execute(
        f"SELECT count(*) FILTER (contains(trim({col}), '.')), "
        f"count(*) FILTER (regexp_full_match(trim({col}), '-?[0-9]{{1,3}}(\\.[0-9]{{3}})+')) "
        f"FROM (SELECT {col} FROM {quote_ident(table)} LIMIT 20000)"
    ).fetchall()[0]
    return dotted >= 3 and grouped == dotted


def _number_sql(expr: str, decimal_comma: bool) -> str:
    """SQL turning text into DOUBLE; NULL where the text is not a number in that convention.

    Thousands separators are accepted only in their places (``1,234.50`` / ``1.234,50``), so
    ``1,5`` in a dot-decimal column is not silently read as 15; a currency sign or code at
    either end and spaces between digit groups are ignored. Plain numbers take the first
    branch; the cleaning only runs on the rows that need it (CASE evaluates lazily).
    """
    v = f"trim({expr})"
    c = f"replace(replace(regexp_replace({v}, '{_CURRENCY}', '', 'g'), ' ', ''), '\u00a0', '')"
    plain_comma = "'[-+]?[0-9]+(,[0-9]+)?'"
    grouped_comma = "'[-+]?[0-9]{1,3}(\\.[0-9]{3})+(,[0-9]+)?'"
    grouped_dot = "'[-+]?[0-9]{1,3}(,[0-9]{3})+(\\.[0-9]+)?'"
    plain_dot = "'[-+]?[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?'"
    if decimal_comma:
        return (
            f"CASE WHEN regexp_full_match({v}, {plain_comma}) "
            f"THEN TRY_CAST(replace({v}, ',', '.') AS DOUBLE) "
            f"WHEN regexp_full_match({c}, {plain_comma}) "
            f"THEN TRY_CAST(replace({c}, ',', '.') AS DOUBLE) "
            f"WHEN regexp_full_match({c}, {grouped_comma}) "
            f"THEN TRY_CAST(replace(replace({c}, '.', ''), ',', '.') AS DOUBLE) END"
        )
    return (
        f"CASE WHEN TRY_CAST({v} AS DOUBLE) IS NOT NULL THEN TRY_CAST({v} AS DOUBLE) "
        f"WHEN regexp_full_match({c}, {plain_dot}) THEN TRY_CAST({c} AS DOUBLE) "
        f"WHEN regexp_full_match({c}, {grouped_dot}) "
        f"THEN TRY_CAST(replace({c}, ',', '') AS DOUBLE) END"
    )


def _number(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    warnings: list[str] | None = None,
    expr: str | None = None,
) -> str:
    comma = _decimal_comma(con, table, column)
    if not comma and warnings is not None and _thousands_dots(con, table, column):
        warnings.append(
            f"column '{column}': every value with a dot looks like 1.234; read with a decimal "
            f"point (1.234 = one point two three four). If the dot groups thousands, "
            f"re-export with a decimal comma or no grouping."
        )
    return _number_sql(expr or quote_ident(column), comma)


# --- quarantine helpers ----------------------------------------------------------------------


def _quarantine_from(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    role: str,
    checked: str,
    column_case: str,
    value_case: str,
    *,
    target: str = "quarantine",
    where: str = "c.reason IS NOT NULL",
    reason: str = "c.reason",
) -> None:
    """Copy rows of ``checked`` into ``target``, with the raw record joined back by ``_row``."""
    if not _scalar(con, f"SELECT count(*) FROM {checked} c WHERE {where}"):
        return  # nothing to copy: spare the join with the raw source (a scan of the file)
    con.execute(f"""
        INSERT INTO {target}
        SELECT {_sql_str(raw.path)}, {_sql_str(role)}, c._row, {reason},
               {column_case}, {value_case}, to_json(r)::VARCHAR
        FROM {checked} c JOIN {quote_ident(raw.table)} r ON r._row = c._row
        WHERE {where}
    """)


def _insert_rejects(con: duckdb.DuckDBPyConnection, raw: RawSource, role: str) -> None:
    if not raw.rejects:
        return
    rows = [
        (str(raw.path), role, r["row"], r["reason"], None, r["detail"], r.get("record"))
        for r in raw.rejects
    ]
    con.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def _case(mapping: dict[str, str], subject: str = "c.reason") -> str:
    if not mapping:
        return "NULL"
    whens = " ".join(f"WHEN {_sql_str(k)} THEN {v}" for k, v in mapping.items())
    return f"CASE {subject} {whens} END"


def _clear_previous(con: duckdb.DuckDBPyConnection, raw: RawSource, role: str) -> None:
    """Loading the same source again replaces its earlier quarantine and flags."""
    for target in ("quarantine", "flagged"):
        con.execute(f"DELETE FROM {target} WHERE source = ? AND role = ?", [str(raw.path), role])


def _copies(con: duckdb.DuckDBPyConnection, raw: RawSource, hashes: str | None = None) -> None:
    """Create ``_copies(_row)``: rows that are exact copies of an earlier row of the source.

    Rows are first grouped by a 64-bit hash of all their columns (one small key per row, cheap
    to aggregate out of core); only rows whose hash repeats are then compared column by column,
    so a hash collision can never make two different rows duplicates. ``hashes`` names a table
    that already holds ``_row`` and that hash as ``_h`` (computed in the pass that typed the
    rows), so the source is not scanned again unless some hash repeats.
    """
    cols = [quote_ident(c) for c in raw.columns]
    table = quote_ident(raw.table)
    row_hash = f"hash({', '.join(cols)})"
    on = " AND ".join(f"r.{c} IS NOT DISTINCT FROM k.{c}" for c in cols)
    if hashes is None:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _copy_hashes AS SELECT h FROM "
            f"(SELECT {row_hash} AS h FROM {table}) GROUP BY h HAVING count(*) > 1"
        )
        candidates = f"SELECT * FROM {table} WHERE {row_hash} IN (SELECT h FROM _copy_hashes)"
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _copy_hashes AS "
            f"SELECT _h AS h FROM {quote_ident(hashes)} GROUP BY _h HAVING count(*) > 1"
        )
        candidates = (
            f"SELECT r.* FROM {table} r WHERE r._row IN (SELECT _row FROM {quote_ident(hashes)} "
            f"WHERE _h IN (SELECT h FROM _copy_hashes))"
        )
    if _scalar(con, "SELECT count(*) FROM _copy_hashes") == 0:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _copies AS SELECT CAST(NULL AS BIGINT) AS _row "
            "WHERE false"
        )
    else:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _copies AS
            WITH candidates AS ({candidates}),
            keys AS (
                SELECT {", ".join(cols)}, min(_row) AS first_row
                FROM candidates GROUP BY {", ".join(cols)} HAVING count(*) > 1
            )
            SELECT r._row FROM candidates r JOIN keys k ON {on} WHERE r._row > k.first_row
        """)
    con.execute("DROP TABLE _copy_hashes")


def _mark_unknown(
    con: duckdb.DuckDBPyConnection, checked: str, known: str | None, id_col: str = "cid"
) -> None:
    """Rows whose customer id is not in the ``known`` table: ``unknown_customer``."""
    if known:
        con.execute(
            f"UPDATE {checked} SET reason = 'unknown_customer' WHERE reason IS NULL "
            f"AND {id_col} NOT IN (SELECT customer_id FROM {quote_ident(known)} "
            f"WHERE customer_id IS NOT NULL)"
        )


def _mark_copies(con: duckdb.DuckDBPyConnection, checked: str, as_duplicates: bool) -> int:
    """Quarantine copies as ``duplicate_row`` (or only count them); returns the kept copies."""
    if as_duplicates:
        con.execute(
            f"UPDATE {checked} SET reason = 'duplicate_row' "
            f"WHERE reason IS NULL AND _row IN (SELECT _row FROM _copies)"
        )
        return 0
    return _scalar(
        con,
        f"SELECT count(*) FROM {checked} WHERE reason IS NULL "
        f"AND _row IN (SELECT _row FROM _copies)",
    )


# --- transactions ----------------------------------------------------------------------------


# the typed columns a transaction table keeps, in this order, and those that are numbers
TYPED_FIELDS = ("order_id", "quantity", "category", "channel", "discount", "product", "unit_price")
NUMERIC_FIELDS = ("quantity", "discount", "unit_price")


def line_value_sql(
    raw: RawSource, matches: dict[str, ColumnMatch], number: Callable[[str, bool], str]
) -> tuple[dict[str, str], dict[str, str], list[tuple[str, str, str]]]:
    """The DuckDB SQL that types a transaction line and checks its value, for every engine.

    Parameters
    ----------
    raw : RawSource
        The raw transaction source (its rows are ``r`` in the expressions).
    matches : dict
        From :func:`segmint.io.map_columns`.
    number : callable
        ``number(field, report)``: the expression that parses ``field`` as a number (the
        engine's reader decides, e.g. a typed column is cast); ``report`` asks it to record
        what it found about the column's number format.

    Returns
    -------
    typed : dict
        Output column -> expression, for the :data:`TYPED_FIELDS` that are mapped.
    bookkeeping : dict
        Helper column -> expression: the raw date, the line value ``_value`` (the amount, or
        quantity × unit price when the amount is derived), the raw value columns and the
        status.
    value_checks : list of (reason, column, condition)
        The quarantine reasons of a line's value, in the order they are tried.
    """
    col = {f: quote_ident(m.column) for f, m in matches.items()}
    derived = derives_amount(matches)
    typed: dict[str, str] = {}
    for f in TYPED_FIELDS:
        if f in matches:
            typed[f] = (
                number(f, f == "unit_price")
                if f in NUMERIC_FIELDS
                else _text_sql(raw, matches[f].column, f"r.{col[f]}")
            )
    if derived:
        value = f"({typed['quantity']}) * ({typed['unit_price']})"
    else:
        value = number("amount", True)
    bookkeeping: dict[str, str] = {"raw_date": f"r.{col['order_date']}", "_value": value}
    # (reason, column, check) for the value of a line: its amount, or quantity and unit price
    value_checks: list[tuple[str, str, str]] = []
    if derived:
        for f in ("quantity", "unit_price"):
            column = matches[f].column
            bookkeeping[f"raw_{f}"] = f"r.{col[f]}"
            value_checks += [
                (f"missing_{f}", column, _blank_sql(raw, column, f"raw_{f}")),
                (f"unparseable_{f}", column, f"{f} IS NULL OR isnan({f}) OR isinf({f})"),
            ]
        value_checks.append(
            ("unparseable_amount", matches["unit_price"].column, "isnan(_value) OR isinf(_value)")
        )
    else:
        amount_col = matches["amount"].column
        bookkeeping["raw_amount"] = f"r.{col['amount']}"
        value_checks += [
            ("missing_amount", amount_col, _blank_sql(raw, amount_col, "raw_amount")),
            ("unparseable_amount", amount_col, "_value IS NULL OR isnan(_value) OR isinf(_value)"),
        ]
    if "status" in matches:
        bookkeeping["_status"] = _text_sql(raw, matches["status"].column, f"r.{col['status']}")
    return typed, bookkeeping, value_checks


def load_transactions(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    known_customers: str | None = None,
    date_format: str | None = None,
    outliers: OutlierMode = "flag",
    outlier_factor: float = 1000.0,
    returns: ReturnRules | Mapping[str, Any] | None = None,
    exclude: Sequence[ExcludeRule | Mapping[str, Any]] | None = None,
    duplicates: DuplicatePolicy = "drop",
) -> SourceAccount:
    """Type, validate and load a raw transaction source into the table ``transactions``.

    A log may hold orders (one row per order, its value in ``amount``) or invoice lines
    (order id, product, quantity, unit price): a line's value is ``quantity × unit_price``
    unless the log has a line total (an ``amount`` column). Returns and cancellations are
    recognised by ``returns`` (:class:`~segmint.io._lines.ReturnRules`: an order-id prefix such
    as Online Retail's ``C``, a status column, a negative quantity or value) and stored with a
    negative value, so they are netted out of revenue and never count as purchases; a line log
    (or one with a status column) gets a BOOLEAN ``is_return`` column as well.

    Reasons a row is quarantined, first that applies: ``malformed_line``,
    ``missing_customer_id``, ``missing_date``, ``unparseable_date``, ``future_date`` (after
    today), ``missing_amount``, ``unparseable_amount`` (for a line log without a line total:
    ``missing_quantity``, ``unparseable_quantity``, ``missing_unit_price``,
    ``unparseable_unit_price``), ``unknown_customer`` (when a customer table is given and lacks
    the id), ``excluded_line`` (a non-product line removed by an ``exclude`` rule),
    ``duplicate_row`` (an exact copy of an earlier row, in a log that can tell lines apart: see
    :mod:`segmint.io._lines`), ``outlier_amount`` (only with ``outliers="quarantine"``).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    raw : RawSource
        From :func:`segmint.io.read_source` (``typed=True`` reads Parquet in place).
    matches : dict
        From :func:`segmint.io.map_columns`.
    known_customers : str, optional
        Table whose ``customer_id`` the rows must reference.
    date_format : str, optional
        strptime format of the order date; detected from the data when ``None`` (ISO 8601
        with UTC offsets and Excel serial day numbers included).
    outliers : {"flag", "quarantine"}
        What to do with values beyond ``outlier_factor`` × the median absolute value: keep
        and flag them (default) or quarantine them.
    outlier_factor : float
        See ``outliers``.
    returns : ReturnRules or dict, optional
        How returns are recognised (``io.returns``); the defaults of :class:`ReturnRules`.
    exclude : list of ExcludeRule or dict, optional
        Non-product lines to remove (``io.exclude``).
    duplicates : {"drop", "flag", "keep"}
        What to do with exact repeats (``io.duplicates``); see :mod:`segmint.io._lines`.

    Returns
    -------
    SourceAccount
        With ``value`` (purchases, returns and net value of the lines used),
        ``missing_customer_id`` (lines without a customer id, their value and its share of
        the value read), ``duplicates`` (repeats, their value, the proof and what was done) and
        ``excluded`` (lines and value per rule).

    Raises
    ------
    ConfigError
        An ``exclude`` rule names a column the source lacks or has an invalid pattern.
    InputError
        No usable row, or the order date holds no recognisable dates.
    """
    ensure_quarantine(con)
    _clear_previous(con, raw, "transactions")
    rules = ReturnRules.from_mapping(returns)
    excluding = exclude_rules(exclude)
    policy = duplicate_policy(duplicates)
    table = quote_ident(raw.table)
    col = {f: quote_ident(m.column) for f, m in matches.items()}
    warnings = mapping_warnings(matches, "transactions")
    for warning in warnings:
        logger.warning("%s: %s", raw.path.name, warning)
    notes: list[str] = []
    derived = derives_amount(matches)
    line_log = derived or bool({"product", "unit_price", "line_number"} & set(matches))
    date_col = matches["order_date"].column
    if _is_temporal(raw, date_col):
        guess = DateGuess(str(date_label(raw, date_col)), [])
        date_expr = f"CAST(r.{col['order_date']} AS TIMESTAMP)"
    else:
        guess = _resolve_date(con, raw, date_col, date_format, warnings)
        assert guess is not None
        date_expr = _date_sql("r." + col["order_date"], guess)
        if guess.offsets:
            notes.append(f"column '{date_col}': timestamps with UTC offsets, stored in UTC")

    def number(f: str, report: bool) -> str:
        source = matches[f].column
        if source in raw.types:
            return f"CAST(r.{col[f]} AS DOUBLE)"
        return _number(con, raw.table, source, warnings if report else None, f"r.{col[f]}")

    typed, bookkeeping, value_checks = line_value_sql(raw, matches, number)
    excluded_case = _exclusion_case(con, raw, excluding)
    if excluded_case:
        bookkeeping["_excl"] = excluded_case[0]
        bookkeeping["_excl_value"] = excluded_case[1]
    # the row hash for the duplicate check is taken in this pass, so that the source is not
    # read again (a typed source is read in place: a second scan would read the file again)
    bookkeeping["_h"] = f"hash({', '.join('r.' + quote_ident(c) for c in raw.columns)})"
    is_return = _return_sql(con, raw, matches, rules, notes)
    # a line log, or one with a status column, keeps the verdict in a column of its own (a
    # returned free line stays a return); other logs go by the sign of the amount, as before
    keep_flag = line_log or "status" in matches or not rules.negative_amount
    customer = _text_sql(raw, matches["customer_id"].column, "r." + col["customer_id"])
    first = ", ".join(
        [
            f"{customer} AS customer_id",
            f"{date_expr} AS order_date",
            *(f"{expr} AS {name}" for name, expr in typed.items()),
            "r._row",
            *(f"{expr} AS {name}" for name, expr in bookkeeping.items()),
        ]
    )
    checks = "\n            ".join(
        f"WHEN {check} THEN '{reason}'" for reason, _, check in value_checks
    )
    # the checked table becomes the transaction table: typed columns first, in their final
    # order, then the bookkeeping columns that are dropped once the quarantine is written
    con.execute("DROP TABLE IF EXISTS _checked")
    con.execute(f"""
        CREATE TABLE _checked AS
        SELECT customer_id, order_date,
               CASE WHEN _ret THEN -abs(_value) ELSE _value END AS amount,
               {"".join(f"{name}, " for name in typed)}
               {"_ret AS is_return," if keep_flag else ""}
               _row, {", ".join(bookkeeping)},
               CASE
            WHEN customer_id IS NULL THEN 'missing_customer_id'
            WHEN {_blank_sql(raw, date_col, "raw_date")} THEN 'missing_date'
            WHEN order_date IS NULL THEN 'unparseable_date'
            WHEN order_date > current_date + INTERVAL 1 DAY THEN 'future_date'
            {checks}
        END AS reason FROM (
            SELECT *, coalesce({is_return}, false) AS _ret
            FROM (SELECT {first} FROM {table} r)
        )
    """)
    # checks against other tables and other rows update the few rows they hit, so that the
    # typed rows stay a plain projection of the raw table, in file order
    _mark_unknown(con, "_checked", known_customers, id_col="customer_id")
    excluded = _mark_excluded(con, excluding) if excluding else {}
    account_dups, possible = _handle_copies(con, raw, matches, policy)
    threshold = _outlier_threshold(con, outlier_factor)
    if threshold is not None and outliers == "quarantine":
        con.execute(
            "UPDATE _checked SET reason = 'outlier_amount' "
            f"WHERE reason IS NULL AND abs(amount) > {threshold!r}"
        )
    missing = _missing_customers(con)
    c_id, c_date = (_sql_str(matches[f].column) for f in ("customer_id", "order_date"))
    value_column = _sql_str(
        matches["amount"].column if not derived else matches["unit_price"].column
    )
    reason_column = {
        "missing_customer_id": c_id,
        "missing_date": c_date,
        "unparseable_date": c_date,
        "future_date": c_date,
        "outlier_amount": value_column,
        "unknown_customer": c_id,
        **{reason: _sql_str(column) for reason, column, _ in value_checks},
    }
    if excluded_case:
        reason_column["excluded_line"] = excluded_case[2]
    raw_value = "raw_quantity" if derived else "raw_amount"
    value_case = (
        "CASE WHEN c.reason IN ('missing_date', 'unparseable_date', 'future_date') "
        "THEN CAST(c.raw_date AS VARCHAR) "
        + (
            "WHEN c.reason IN ('missing_quantity', 'unparseable_quantity') "
            "THEN CAST(c.raw_quantity AS VARCHAR) "
            "WHEN c.reason IN ('missing_unit_price', 'unparseable_unit_price', "
            "'unparseable_amount', 'outlier_amount') THEN CAST(c.raw_unit_price AS VARCHAR) "
            if derived
            else "WHEN c.reason IN ('missing_amount', 'unparseable_amount', 'outlier_amount') "
            f"THEN CAST(c.{raw_value} AS VARCHAR) "
        )
        + ("WHEN c.reason = 'excluded_line' THEN c._excl_value " if excluded_case else "")
        + "WHEN c.reason = 'unknown_customer' THEN c.customer_id END"
    )
    _quarantine_from(con, raw, "transactions", "_checked", _case(reason_column), value_case)
    _insert_rejects(con, raw, "transactions")
    flagged: dict[str, int] = {}
    if account_dups.get("flagged"):
        flagged[account_dups["flag_reason"]] = account_dups["flagged"]
    if threshold is not None and outliers == "flag":
        _quarantine_from(
            con,
            raw,
            "transactions",
            "_checked",
            value_column,
            f"CAST(c.{'raw_unit_price' if derived else 'raw_amount'} AS VARCHAR)",
            target="flagged",
            where=f"c.reason IS NULL AND abs(c.amount) > {threshold!r}",
            reason="'outlier_amount'",
        )
        n_out = _scalar(
            con,
            "SELECT count(*) FROM flagged WHERE source = ? AND role = 'transactions' "
            "AND reason = 'outlier_amount'",
            [str(raw.path)],
        )
        if n_out:
            flagged["outlier_amount"] = n_out
            warnings.append(
                f"{n_out} amount(s) above {threshold:,.2f} ({outlier_factor:g} × the median "
                f"absolute amount) kept and flagged for review (table 'flagged')."
            )
    # the usable rows stay where they are: quarantined rows are deleted (usually none) and the
    # bookkeeping columns dropped, both without copying the table
    con.execute("DELETE FROM _checked WHERE reason IS NOT NULL")
    for name in [*bookkeeping, "reason"]:
        con.execute(f"ALTER TABLE _checked DROP COLUMN {name}")
    _drop_relation(con, "transactions")
    con.execute("ALTER TABLE _checked RENAME TO transactions")
    con.execute("DROP TABLE IF EXISTS _copies")
    mapping = {f: m.column for f, m in matches.items()}
    if derived:
        mapping["amount"] = f"{matches['quantity'].column} × {matches['unit_price'].column}"
        notes.append(
            f"line value = {matches['quantity'].column} × {matches['unit_price'].column} "
            "(no line-total column)"
        )
        logger.info("%s: %s", raw.path.name, notes[-1])
    account = _account(
        con,
        raw,
        "transactions",
        "transactions",
        matches,
        date_label(raw, date_col, guess.format),
        mapping=mapping,
    )
    account.possible_duplicates = possible
    account.flagged = flagged
    account.warnings = warnings
    account.notes = notes
    account.missing_customer_id = missing
    account.duplicates = {
        k: v for k, v in account_dups.items() if k not in ("flagged", "flag_reason")
    }
    account.excluded = excluded
    describe_values(con, account)
    return account


def describe_values(
    con: duckdb.DuckDBPyConnection, account: SourceAccount, table: str = "transactions"
) -> SourceAccount:
    """Fill ``account.value`` from the loaded transactions: purchase and return lines, their
    value and the net value (exact decimal sums, so the figures do not depend on threads).

    Any engine's transaction table will do (a return is ``is_return`` where the table has it,
    else a negative amount); returns ``account``.
    """
    cols = {r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()}
    ret = "is_return" if "is_return" in cols else "amount < 0"
    money = f"CAST(amount AS {_EXACT})"
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE NOT ({ret})), "
        f"coalesce(sum({money}) FILTER (WHERE NOT ({ret})), 0), "
        f"count(*) FILTER (WHERE {ret}), coalesce(sum({money}) FILTER (WHERE {ret}), 0) "
        f"FROM {quote_ident(table)}"
    ).fetchall()[0]
    purchases, returns = float(row[1]), float(row[3])
    account.value = {
        "purchase_lines": int(row[0]),
        "purchases": round(purchases, 2),
        "return_lines": int(row[2]),
        "returns": round(returns, 2),
        "net": round(float(row[1] + row[3]), 2),
    }
    return account


# money summed exactly (as the features do): the same data give the same figures
_EXACT = "DECIMAL(38, 10)"


def _money(condition: str = "true") -> str:
    """Exact sum of the finite line values of ``_checked`` where ``condition`` holds."""
    return (
        f"coalesce(sum(CAST(amount AS {_EXACT})) FILTER (WHERE isfinite(amount) "
        f"AND abs(amount) < 1e27 AND ({condition})), 0)"
    )


def _missing_customers(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Lines without a customer id: how many, their value and its share of all value read."""
    missing = "reason = 'missing_customer_id'"
    n, value, total = con.execute(
        f"SELECT count(*) FILTER (WHERE reason = 'missing_customer_id'), "
        f"{_money(missing)}, {_money()} FROM _checked"
    ).fetchall()[0]
    share = float(value) / float(total) if total else 0.0
    return {"lines": int(n), "value": round(float(value), 2), "value_share": round(share, 6)}


def _return_sql(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    rules: ReturnRules,
    notes: list[str],
) -> str:
    """SQL (over the typed line) true for a return or cancellation line, by ``rules``."""
    parts: list[str] = []
    if rules.order_prefix and "order_id" in matches:
        column = matches["order_id"].column
        text = _text_sql(raw, column, quote_ident(column))
        prefix = _sql_str(rules.order_prefix)
        hits, total = con.execute(
            f"SELECT count(*) FILTER (starts_with({text}, {prefix})), count({text}) "
            f"FROM {quote_ident(raw.table)}"
        ).fetchall()[0]
        if hits and hits < 0.5 * total:
            parts.append(f"starts_with(order_id, {prefix})")
            notes.append(
                f"{hits:,} line(s) whose {column} starts with '{rules.order_prefix}' read as "
                "cancellations (io.returns.order_prefix)"
            )
        elif hits:
            notes.append(
                f"'{rules.order_prefix}' starts {hits:,} of {total:,} values of {column}: too "
                "many to mark cancellations, prefix rule not applied (io.returns.order_prefix)"
            )
    if rules.status_values and "status" in matches:
        values = ", ".join(_sql_str(v.strip().lower()) for v in rules.status_values)
        parts.append(f"lower(_status) IN ({values})")
    if rules.negative_quantity and "quantity" in matches:
        parts.append("quantity < 0")
    if rules.negative_amount:
        parts.append("_value < 0")
    return " OR ".join(f"({p})" for p in parts) if parts else "false"


def _exclusion_case(
    con: duckdb.DuckDBPyConnection, raw: RawSource, rules: list[ExcludeRule]
) -> tuple[str, str, str] | None:
    """SQL for the first exclusion rule a line meets (its 1-based index, else NULL), the value
    it met it with and the column named in the quarantine; None without rules.

    Raises
    ------
    ConfigError
        A rule names a column the source lacks, or its pattern is not a valid expression.
    """
    if not rules:
        return None
    whens, values, columns = [], [], []
    for i, rule in enumerate(rules, start=1):
        if rule.column not in raw.columns:
            raise ConfigError(
                f"io.exclude rule {i} names column '{rule.column}', which {raw.path} lacks.",
                hint=f"Columns in the file: {', '.join(raw.columns)}.",
            )
        text = f"trim(CAST(r.{quote_ident(rule.column)} AS VARCHAR))"
        conditions = []
        if rule.values:
            conditions.append(f"{text} IN ({', '.join(_sql_str(v) for v in rule.values)})")
        if rule.pattern:
            try:
                con.execute(f"SELECT regexp_full_match('', {_sql_str(rule.pattern)})")
            except duckdb.Error as exc:
                raise ConfigError(
                    f"io.exclude rule {i}: '{rule.pattern}' is not a valid pattern "
                    f"({_first_line(exc)}).",
                    hint="Write a regular expression (RE2), e.g. '(?i)postage|manual'.",
                ) from exc
            pattern = _sql_str(rule.pattern)
            conditions.append(f"coalesce(regexp_full_match({text}, {pattern}), false)")
        whens.append(f"WHEN {' OR '.join(conditions)} THEN {i}")
        values.append(f"WHEN {i} THEN {text}")
        columns.append(f"WHEN {i} THEN {_sql_str(rule.column)}")
    index = f"CASE {' '.join(whens)} END"
    # the value is taken in the same pass (the rule's index is known there as _excl)
    value = f"CASE {index} {' '.join(values)} END"
    column = f"CASE c._excl {' '.join(columns)} END"
    return index, value, column


def _mark_excluded(
    con: duckdb.DuckDBPyConnection, rules: list[ExcludeRule]
) -> dict[str, dict[str, Any]]:
    """Quarantine usable lines an exclusion rule hits (``excluded_line``); lines and value per
    rule (every rule listed, also those that removed nothing)."""
    con.execute(
        "UPDATE _checked SET reason = 'excluded_line' WHERE reason IS NULL AND _excl IS NOT NULL"
    )
    found = {
        int(i): (int(n), float(v))
        for i, n, v in con.execute(
            f"SELECT _excl, count(*), {_money()} FROM _checked "
            "WHERE reason = 'excluded_line' GROUP BY _excl"
        ).fetchall()
    }
    out: dict[str, dict[str, Any]] = {}
    for i, rule in enumerate(rules, start=1):
        n, value = found.get(i, (0, 0.0))
        out[rule.label] = {"lines": n, "value": round(value, 2)}
    return out


def _handle_copies(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    policy: DuplicatePolicy,
) -> tuple[dict[str, Any], int]:
    """Find exact repeats among the usable lines and apply ``policy``.

    Returns the account's ``duplicates`` entry (``rows``, ``value``, and when there are any:
    ``proven``, ``proof``, ``policy``, ``action``, plus the flag count) and the number of
    repeats kept (``possible_duplicates``).
    """
    _copies(con, raw, hashes="_checked")
    usable = "reason IS NULL AND _row IN (SELECT _row FROM _copies)"
    n, value = con.execute(
        f"SELECT count(*) FILTER (WHERE {usable}), {_money(usable)} FROM _checked"
    ).fetchall()[0]
    if not n:
        return {"rows": 0, "value": 0.0}, 0
    proof = _line_proof(con, raw, matches)
    proven = proof is not None
    if policy == "drop" and proven:
        con.execute(f"UPDATE _checked SET reason = 'duplicate_row' WHERE {usable}")
        action = "quarantined"
    elif policy == "keep":
        action = "kept"
    else:
        action = "kept and flagged"
    entry: dict[str, Any] = {
        "rows": int(n),
        "value": round(float(value), 2),
        "proven": proven,
        "proof": proof
        or (
            "none: no product or line-number column, and orders have several different lines "
            "(two identical lines of one order may be two purchases)"
            if "order_id" in matches
            else "none: no order id, product or line-number column to tell identical lines apart"
        ),
        "policy": policy,
        "action": action,
    }
    if action == "kept and flagged":
        reason = "duplicate_row" if proven else "possible_duplicate"
        con.execute(f"""
            INSERT INTO flagged
            SELECT {_sql_str(raw.path)}, 'transactions', _row, {_sql_str(reason)}, NULL, NULL,
                   NULL
            FROM _checked WHERE {usable}
        """)
        entry["flagged"], entry["flag_reason"] = int(n), reason
    return entry, 0 if action == "quarantined" else int(n)


def _line_proof(
    con: duckdb.DuckDBPyConnection, raw: RawSource, matches: dict[str, ColumnMatch]
) -> str | None:
    """What tells two identical lines apart as repeats rather than two purchases, or None.

    A product or line-number column does (two lines of an order that agree on the product and
    everything else are the same line twice); so does an order id in a log of one row per order
    (no order id with two different usable rows). Without either, identical lines may be two
    units of the same price bought on one invoice of an extract that left out the product column.
    """
    for f, what in (("product", "product"), ("line_number", "line-number")):
        if f in matches:
            return f"{what} column '{matches[f].column}'"
    if "order_id" not in matches:
        return None
    mixed = con.execute(
        "SELECT count(*) FROM (SELECT order_id FROM _checked "
        "WHERE reason IS NULL AND order_id IS NOT NULL "
        "GROUP BY order_id HAVING min(_h) <> max(_h) LIMIT 1)"
    ).fetchall()[0][0]
    if mixed:
        return None
    return f"one row per order: no value of '{matches['order_id'].column}' has two different rows"


#: Methods that assign segments by rules, not by fitting a number of segments to the data.
RULE_METHODS = frozenset({"rules", "rfm"})


def check_enough_customers(
    n_customers: int,
    *,
    k: int | None = None,
    k_min: int = 2,
    method: str = "auto",
    snapshot: object | None = None,
) -> None:
    """Refuse, in one line, a base too small for the segmentation asked for.

    Fitting ``k`` segments (or trying ``k_min`` and more) needs at least one customer more
    than segments: the segmenters compare solutions by criteria (silhouette, stability) that
    need a segment with two members. Rule-based methods (``rules``, ``rfm``) need one customer.

    Raises
    ------
    InputError
        Fewer customers than needed; the message says how many are needed.
    """
    fewest = k if k is not None else k_min
    needed = 1 if method in RULE_METHODS or fewest <= 1 else fewest + 1
    if n_customers >= needed:
        return
    when = f" with a purchase before {snapshot}" if snapshot is not None else ""
    segments = f"{fewest} segments" if k is not None else f"at least {fewest} segments (k_min)"
    raise InputError(
        f"only {n_customers:,} customer(s){when} to segment; {segments} need at least "
        f"{needed:,} customers.",
        hint="Give a longer transaction log or one with more customers (check the row "
        "accounting with 'segmint inspect'); or use method: rules, which needs no minimum.",
    )


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


def _text_sql(raw: RawSource, column: str, expr: str) -> str:
    """A text value with blanks as NULL: trimmed text, or a typed value written as text."""
    if column in raw.types:
        return f"CAST({expr} AS VARCHAR)"
    return f"nullif(trim({expr}), '')"


def _blank_sql(raw: RawSource, column: str, expr: str) -> str:
    """SQL true where the raw value is missing (NULL, or blank text)."""
    if column in raw.types:
        return f"{expr} IS NULL"
    return f"{expr} IS NULL OR trim({expr}) = ''"


def _outlier_threshold(con: duckdb.DuckDBPyConnection, factor: float) -> float | None:
    """``factor`` × the median absolute non-zero amount of the usable rows, or None.

    The median is taken over a systematic sample of at most about a million rows (every k-th
    data row): deterministic, and bounded in memory where an exact median of 20 million values
    is not; the threshold is three orders of magnitude above it, so the sample is plenty.
    """
    if not factor or factor <= 0:
        return None
    n = _scalar(con, "SELECT count(*) FROM _checked WHERE reason IS NULL AND amount <> 0")
    if n == 0:
        return None
    step = max(1, -(-n // 1_000_000))
    median = con.execute(
        f"SELECT quantile_cont(abs(amount), 0.5) FROM _checked "
        f"WHERE reason IS NULL AND amount <> 0 AND _row % {step} = 0"
    ).fetchall()[0][0]
    if median is None:
        median = con.execute(
            "SELECT quantile_cont(abs(amount), 0.5) FROM "
            "(SELECT amount FROM _checked WHERE reason IS NULL AND amount <> 0 LIMIT 1000000)"
        ).fetchall()[0][0]
    if median is None or median <= 0:
        return None
    return float(median) * float(factor)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int:
    return int(con.execute(sql, params or []).fetchall()[0][0] or 0)


# --- events ----------------------------------------------------------------------------------


def load_events(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    known_customers: str | None = None,
    date_format: str | None = None,
) -> SourceAccount:
    """Load web/app events into the table ``events``.

    Output columns: ``customer_id, event_time`` (TIMESTAMP), ``event_type`` and whichever of
    ``event_id, session_id, device, platform, os`` are mapped, then ``_row``. Reasons:
    ``malformed_line``, ``missing_customer_id``, ``missing_date``, ``unparseable_date``,
    ``future_date``, ``missing_event_type``, ``unknown_customer``, ``duplicate_row`` (an exact
    copy of an earlier row, when an event id is mapped; otherwise copies are kept and counted as
    possible duplicates: trackers do fire the same event twice in a second).
    """
    ensure_quarantine(con)
    _clear_previous(con, raw, "events")
    col = {f: quote_ident(m.column) for f, m in matches.items()}
    warnings: list[str] = []
    guess = _resolve_date(con, raw, matches["event_time"].column, date_format, warnings)
    assert guess is not None
    optional = [f for f in ("event_id", "session_id", "device", "platform", "os") if f in col]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ev2 AS SELECT *, CASE
            WHEN cid IS NULL THEN 'missing_customer_id'
            WHEN raw_time IS NULL OR trim(raw_time) = '' THEN 'missing_date'
            WHEN event_time IS NULL THEN 'unparseable_date'
            WHEN event_time > current_date + INTERVAL 1 DAY THEN 'future_date'
            WHEN event_type IS NULL THEN 'missing_event_type'
        END AS reason FROM (
            SELECT r._row,
                   nullif(trim(r.{col["customer_id"]}), '') AS cid,
                   CAST({_date_sql("r." + col["event_time"], guess)} AS TIMESTAMP) AS event_time,
                   nullif(trim(r.{col["event_type"]}), '') AS event_type,
                   r.{col["event_time"]} AS raw_time
                   {"".join(f", nullif(trim(r.{col[f]}), '') AS {f}" for f in optional)}
            FROM {quote_ident(raw.table)} r
        )
    """)
    _mark_unknown(con, "_ev2", known_customers)
    _copies(con, raw)
    possible = _mark_copies(con, "_ev2", as_duplicates="event_id" in matches)
    c_id, c_time, c_type = (
        _sql_str(matches[f].column) for f in ("customer_id", "event_time", "event_type")
    )
    _quarantine_from(
        con,
        raw,
        "events",
        "_ev2",
        _case(
            {
                "missing_customer_id": c_id,
                "missing_date": c_time,
                "unparseable_date": c_time,
                "future_date": c_time,
                "missing_event_type": c_type,
                "unknown_customer": c_id,
            }
        ),
        "CASE WHEN c.reason IN ('missing_date', 'unparseable_date', 'future_date') "
        "THEN c.raw_time WHEN c.reason = 'unknown_customer' THEN c.cid END",
    )
    _insert_rejects(con, raw, "events")
    con.execute(f"""
        CREATE OR REPLACE TABLE events AS
        SELECT cid AS customer_id, event_time, event_type
               {"".join(", " + f for f in optional)}, _row
        FROM _ev2 WHERE reason IS NULL
    """)
    con.execute("DROP TABLE _ev2; DROP TABLE _copies")
    account = _account(con, raw, "events", "events", matches, guess.format)
    account.possible_duplicates = possible
    account.warnings = warnings
    return account


# --- entity tables: customers, survey, accounts, contacts ------------------------------------


@dataclass
class _Entity:
    """How one entity role is typed and checked."""

    role: str
    table: str
    id_field: str
    numeric: dict[str, tuple[float | None, str]] = field(default_factory=dict)  # min, reason
    dates: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    required: dict[str, str] = field(default_factory=dict)  # field -> reason when missing
    references: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    emails: tuple[str, ...] = ()


def _entity_load(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    spec: _Entity,
    *,
    categories: dict[str, dict[str, str]] | None = None,
    date_formats: dict[str, str] | None = None,
) -> SourceAccount:
    """Load an entity table: one row per id, other columns typed, first failing check quarantines.

    Columns mapped to a field of the role get the field's name and type; every other column
    keeps its name and becomes BOOLEAN, DOUBLE or DATE when at least 98 % of its non-empty values
    parse as such (the rows that do not parse are quarantined as ``unparseable_value``).
    Columns with value labels (SPSS) become ENUM categories, levels in code order.
    """
    ensure_quarantine(con)
    _clear_previous(con, raw, spec.role)
    table = quote_ident(raw.table)
    warnings: list[str] = []
    id_col = matches[spec.id_field].column
    by_column = {m.column: f for f, m in matches.items()}
    categories = categories or {}
    taken = {spec.id_field}
    # (output name, typed expression, raw column, check-reason or None)
    typed: list[tuple[str, str, str, str | None]] = []
    for column in raw.columns:
        if column == id_col:
            continue
        fld = by_column.get(column)
        name = fld if fld and fld not in taken else column
        if name in taken:
            name = column
        taken.add(name)
        ref = f"r.{quote_ident(column)}"
        text = f"nullif(trim({ref}), '')"
        if fld in spec.numeric:
            typed.append((name, _number(con, raw.table, column, warnings, ref), column, fld))
        elif fld in spec.dates:
            guess = _resolve_date(
                con, raw, column, (date_formats or {}).get(fld), warnings, required=False
            )
            expr = f"CAST({_date_sql(ref, guess)} AS DATE)" if guess else "CAST(NULL AS DATE)"
            typed.append((name, expr, column, fld))
        elif fld in spec.text or fld in spec.references or fld in spec.required:
            typed.append((name, text, column, None))
        elif column in categories:
            typed.append(
                (name, _enum_sql(con, raw.table, column, categories[column]), column, None)
            )
        else:
            typed.append((name, _infer_type(con, raw.table, column, warnings), column, None))
    checks: list[str] = [
        f"WHEN nullif(trim(r.{quote_ident(id_col)}), '') IS NULL THEN 'missing_{spec.id_field}'"
    ]
    reason_column: dict[str, str] = {f"missing_{spec.id_field}": id_col}
    for fld, reason in spec.required.items():
        if fld in matches:
            column = matches[fld].column
            checks.append(f"WHEN nullif(trim(r.{quote_ident(column)}), '') IS NULL THEN '{reason}'")
            reason_column[reason] = column
    for _name, expr, column, fld in typed:
        raw_ref = f"r.{quote_ident(column)}"
        present = f"nullif(trim({raw_ref}), '') IS NOT NULL"
        if fld in spec.numeric:
            minimum, reason = spec.numeric[fld]
            bound = f" OR ({expr}) < {minimum!r}" if minimum is not None else ""
            missing = f"NOT {present} OR " if reason == "invalid_weight" else ""
            checks.append(
                f"WHEN {missing}({present} AND (({expr}) IS NULL OR isnan({expr}) "
                f"OR isinf({expr}){bound})) THEN '{reason}'"
            )
            reason_column[reason] = column
        elif fld in spec.dates:
            checks.append(f"WHEN {present} AND ({expr}) IS NULL THEN 'unparseable_value:{column}'")
            checks.append(f"WHEN ({expr}) > current_date + INTERVAL 1 DAY THEN 'future_date'")
            reason_column["future_date"] = column
        elif expr not in (f"nullif(trim({raw_ref}), '')",) and column not in categories:
            checks.append(f"WHEN {present} AND ({expr}) IS NULL THEN 'unparseable_value:{column}'")
    age = next((t for t in typed if t[0].lower() == "age" and "DOUBLE" in t[1]), None)
    if age is not None:
        checks.append(f"WHEN ({age[1]}) NOT BETWEEN 0 AND 120 THEN 'impossible_age'")
        reason_column["impossible_age"] = age[2]
    for fld, (ref_table, ref_col, reason) in spec.references.items():
        if fld in matches and ref_table:
            column = quote_ident(matches[fld].column)
            checks.append(
                f"WHEN trim(r.{column}) NOT IN (SELECT {quote_ident(ref_col)} "
                f"FROM {quote_ident(ref_table)} WHERE {quote_ident(ref_col)} IS NOT NULL) "
                f"THEN '{reason}'"
            )
            reason_column[reason] = matches[fld].column
    selects = "".join(f", {expr} AS {quote_ident(name)}" for name, expr, _, _ in typed)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ent AS
        SELECT r._row, nullif(trim(r.{quote_ident(id_col)}), '') AS _id,
               CASE {" ".join(checks)} END AS reason0
               {selects}
        FROM {table} r
    """)
    dup = f"duplicate_{spec.id_field}"
    reason_column[dup] = id_col
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ent2 AS
        SELECT *, coalesce(reason0, CASE WHEN row_number() OVER (
                    PARTITION BY _id, reason0 IS NULL ORDER BY _row) > 1
                    THEN '{dup}' END) AS reason
        FROM _ent
    """)
    column_case = (
        "CASE WHEN c.reason LIKE 'unparseable_value:%' THEN substr(c.reason, 19) "
        + " ".join(
            f"WHEN c.reason = {_sql_str(k)} THEN {_sql_str(v)}" for k, v in reason_column.items()
        )
        + " END"
    )
    value_case = (
        "CASE "
        + " ".join(
            f"WHEN c.reason = {_sql_str(k)} THEN r.{quote_ident(v)}"
            for k, v in reason_column.items()
            if not k.startswith("missing_")
        )
        + (
            " WHEN c.reason LIKE 'unparseable_value:%' "
            "THEN json_extract_string(to_json(r), '$.\"' || substr(c.reason, 19) || '\"') END"
        )
    )
    con.execute(f"""
        INSERT INTO quarantine
        SELECT {_sql_str(raw.path)}, {_sql_str(spec.role)}, c._row,
               split_part(c.reason, ':', 1), {column_case}, {value_case}, to_json(r)::VARCHAR
        FROM _ent2 c JOIN {table} r ON r._row = c._row
        WHERE c.reason IS NOT NULL
    """)
    _insert_rejects(con, raw, spec.role)
    flagged: dict[str, int] = {}
    for fld in spec.emails:
        if fld in matches:
            col_name = matches[fld].column
            out = next(n for n, _, c, _ in typed if c == col_name)
            con.execute(f"""
                INSERT INTO flagged
                SELECT {_sql_str(raw.path)}, {_sql_str(spec.role)}, c._row, 'invalid_email',
                       {_sql_str(col_name)}, NULL, NULL
                FROM _ent2 c WHERE c.reason IS NULL AND c.{quote_ident(out)} IS NOT NULL
                  AND NOT regexp_full_match(c.{quote_ident(out)},
                                            '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')
            """)
            n = _scalar(
                con,
                "SELECT count(*) FROM flagged WHERE source = ? AND role = ? "
                "AND reason = 'invalid_email'",
                [str(raw.path), spec.role],
            )
            if n:
                flagged["invalid_email"] = n
    names = "".join(", " + quote_ident(n) for n, _, _, _ in typed)
    con.execute(f"""
        CREATE OR REPLACE TABLE {quote_ident(spec.table)} AS
        SELECT _id AS {quote_ident(spec.id_field)}{names}, _row
        FROM _ent2 WHERE reason IS NULL ORDER BY _row
    """)
    con.execute("DROP TABLE _ent; DROP TABLE _ent2")
    account = _account(con, raw, spec.role, spec.table, matches, None)
    account.flagged = flagged
    account.warnings = warnings
    return account


def _enum_sql(
    con: duckdb.DuckDBPyConnection, table: str, column: str, labels: dict[str, str]
) -> str:
    """ENUM of the labels in code order, plus any other value found (never loses a value)."""

    def order(code: str) -> tuple[int, float | str]:
        try:
            return (0, float(code))
        except ValueError:
            return (1, code)

    levels: list[str] = []
    for code in sorted(labels, key=order):
        if labels[code] not in levels:
            levels.append(labels[code])
    col = quote_ident(column)
    found = con.execute(
        f"SELECT DISTINCT trim({col}) FROM {quote_ident(table)} "
        f"WHERE {col} IS NOT NULL AND trim({col}) <> '' ORDER BY 1"
    ).fetchall()
    levels += [v for (v,) in found if v not in levels]
    if not levels:
        return f"nullif(trim(r.{col}), '')"
    return f"CAST(nullif(trim(r.{col}), '') AS ENUM({', '.join(_sql_str(v) for v in levels)}))"


_CUSTOMERS = _Entity(
    "customers",
    "customers",
    "customer_id",
    numeric={"weight": (0.0, "invalid_weight")},
    text=("email",),
    emails=("email",),
)


def load_customers(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    date_formats: dict[str, str] | None = None,
) -> SourceAccount:
    """Load a customer table: ids validated, other columns typed by what their values hold.

    A column becomes BOOLEAN, DOUBLE or DATE when at least 98 % of its non-empty values parse
    as such; the rows whose value does not parse are quarantined as ``unparseable_value``.
    Other reasons: ``malformed_line``, ``missing_customer_id``, ``duplicate_customer_id`` (the
    first usable row of an id is kept), ``impossible_age`` (an ``age`` outside 0-120),
    ``invalid_weight`` (a mapped ``weight`` that is missing, not a number or negative: weights
    are DOUBLE and at least 0). A mapped ``email`` is kept as text; malformed addresses are
    flagged (``invalid_email``), not dropped.
    """
    return _entity_load(con, raw, matches, _CUSTOMERS, date_formats=date_formats)


def load_survey(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    known_customers: str | None = None,
    role: str = "survey",
) -> SourceAccount:
    """Load survey responses into the table ``role`` (one row per respondent).

    ``role`` names the table and the accounting: ``survey`` (needs) or ``psychographic``
    (attitudes/lifestyle), which are the same kind of file.

    ``customer_id`` is the respondent (or customer) id; a mapped ``weight`` is a DOUBLE of at
    least 0 (``invalid_weight`` otherwise, including a missing weight: blank means unknown, not
    1). Answers with SPSS value labels become ENUM categories with the labels in code order
    (``RawSource.value_labels``); other items are typed like customer attributes (Likert codes
    become DOUBLE). Reasons: ``malformed_line``, ``missing_customer_id``,
    ``duplicate_customer_id``, ``invalid_weight``, ``unparseable_value``, ``unknown_customer``
    (when ``known_customers`` is given).
    """
    spec = _Entity(
        role,
        role,
        "customer_id",
        numeric={"weight": (0.0, "invalid_weight")},
        references={"customer_id": (known_customers, "customer_id", "unknown_customer")}
        if known_customers
        else {},
    )
    return _entity_load(con, raw, matches, spec, categories=raw.value_labels)


def load_accounts(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    date_formats: dict[str, str] | None = None,
) -> SourceAccount:
    """Load B2B accounts into the table ``accounts`` (one row per account).

    Mapped fields get their canonical names and types: ``account_id``, ``name``, ``industry``,
    ``country`` (text), ``employees`` and ``annual_revenue`` (DOUBLE, at least 0, else
    ``invalid_value``), ``created_date`` (DATE; after today: ``future_date``). Other reasons:
    ``malformed_line``, ``missing_account_id``, ``duplicate_account_id``,
    ``unparseable_value``.
    """
    spec = _Entity(
        "accounts",
        "accounts",
        "account_id",
        numeric={"employees": (0.0, "invalid_value"), "annual_revenue": (0.0, "invalid_value")},
        dates=("created_date",),
        text=("name", "industry", "country"),
    )
    return _entity_load(con, raw, matches, spec, date_formats=date_formats)


def load_contacts(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    known_accounts: str | None = None,
    date_formats: dict[str, str] | None = None,
) -> SourceAccount:
    """Load B2B contacts (the decision-making unit) into the table ``contacts``.

    Fields: ``contact_id``, ``account_id`` (required: ``missing_account_id``; with
    ``known_accounts`` an id not in that table is ``unknown_account``), ``role`` (job title or
    buying role), ``email`` (malformed addresses flagged ``invalid_email``), ``created_date``.
    Other reasons: ``malformed_line``, ``missing_contact_id``, ``duplicate_contact_id``,
    ``unparseable_value``.
    """
    spec = _Entity(
        "contacts",
        "contacts",
        "contact_id",
        dates=("created_date",),
        text=("role", "email", "name"),
        required={"account_id": "missing_account_id"},
        references={"account_id": (known_accounts or "", "account_id", "unknown_account")},
        emails=("email",),
    )
    return _entity_load(con, raw, matches, spec, date_formats=date_formats)


def _infer_type(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    warnings: list[str] | None = None,
) -> str:
    ref = f"r.{quote_ident(column)}"
    text = f"nullif(trim({ref}), '')"
    col = quote_ident(column)
    stats = con.execute(f"""
        SELECT count(v),
               count(*) FILTER (lower(v) IN ('true','false','yes','no','y','n','t','f')),
               count(TRY_CAST(v AS DOUBLE)),
               count(*) FILTER (regexp_full_match(v, '-?[0-9.]*,[0-9]+'))
        FROM (SELECT nullif(trim({col}), '') AS v FROM {quote_ident(table)})
    """).fetchall()[0]
    n, n_bool, n_num, n_comma = stats
    if n == 0:
        return text
    if n_bool >= 0.98 * n:
        return f"TRY_CAST({text} AS BOOLEAN)"
    if n_num >= 0.98 * n:
        return f"TRY_CAST({text} AS DOUBLE)"
    if n_comma and n_num + n_comma >= 0.98 * n:
        return _number(con, table, column, warnings, ref)
    guess = guess_date_format(con, table, column)
    if guess is not None:
        hits = con.execute(
            f"SELECT count({_date_sql(col, guess)}) FROM {quote_ident(table)}"
        ).fetchall()[0][0]
        if hits >= 0.98 * n:
            if guess.ambiguous_with and warnings is not None:
                warnings.append(
                    f"column '{column}': every date fits both {guess.format} and "
                    f"{guess.ambiguous_with}; read as {guess.format} (day first)."
                )
            return f"CAST({_date_sql(ref, guess)} AS DATE)"
    return text


def _account(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    role: str,
    table: str,
    matches: dict[str, ColumnMatch],
    date_format: str | None,
    *,
    mapping: dict[str, str] | None = None,
) -> SourceAccount:
    n_used = _scalar(con, f"SELECT count(*) FROM {quote_ident(table)}")
    reasons = dict(
        con.execute(
            "SELECT reason, count(*) FROM quarantine WHERE source = ? AND role = ? GROUP BY reason",
            [str(raw.path), role],
        ).fetchall()
    )
    account = SourceAccount(
        source=str(raw.path),
        role=role,
        format=raw.format,
        n_read=raw.n_read,
        n_used=n_used,
        quarantined={k: int(v) for k, v in reasons.items()},
        mapping=mapping if mapping is not None else {f: m.column for f, m in matches.items()},
        date_format=date_format,
    )
    return checked_account(account, raw)


def checked_account(account: SourceAccount, raw: RawSource, engine: str = "") -> SourceAccount:
    """Check ``read == used + quarantined``, log the counts and refuse a source with no usable
    row; returns ``account``. Every loader, on every engine, ends with it."""
    if account.n_used + account.n_quarantined != account.n_read:  # pragma: no cover - invariant
        raise RuntimeError(
            f"row accounting broken for {raw.path}: read {account.n_read}, "
            f"used {account.n_used}, quarantined {account.n_quarantined}"
        )
    logger.info(
        "%s%s (%s): read %d rows, used %d, quarantined %d",
        f"{engine}: " if engine else "",
        raw.path.name,
        account.role,
        account.n_read,
        account.n_used,
        account.n_quarantined,
    )
    if account.n_used == 0:
        raise InputError(
            f"{raw.path}: none of the {account.n_read} rows could be used "
            f"(quarantined: {account.quarantined}).",
            hint="Check the column mapping and the date and number formats with 'segmint inspect'.",
        )
    return account
