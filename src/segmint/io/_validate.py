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

from dataclasses import dataclass, field
from typing import Literal

import duckdb

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.io._formats import _drop_relation
from segmint.io._mapping import ColumnMatch
from segmint.io._sources import RawSource, _sql_str, quote_ident

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
    ``invalid_email``); ``warnings`` are decisions a user should check (an ambiguous date
    format, a number format that could be read two ways).
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
        }


def ensure_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``quarantine`` and ``flagged`` tables if they do not exist yet."""
    con.execute(f"CREATE TABLE IF NOT EXISTS quarantine ({QUARANTINE_COLUMNS})")
    con.execute(f"CREATE TABLE IF NOT EXISTS flagged ({QUARANTINE_COLUMNS})")


# --- dates -----------------------------------------------------------------------------------


@dataclass
class DateGuess:
    """The date format chosen for a column and how sure the choice is."""

    format: str
    formats: list[str]  # the chosen format and its variants with/without a time of day
    ambiguous_with: str | None = None


def _date_part(fmt: str) -> str:
    return fmt.split(" ")[0].split("T")[0]


def _family(fmt: str) -> list[str]:
    """``fmt`` first, then the formats that write the same date with or without a time."""
    part = _date_part(fmt)
    return [fmt] + [f for f in DATE_FORMATS if f != fmt and _date_part(f) == part]


def detect_date_format(con: duckdb.DuckDBPyConnection, table: str, column: str) -> str | None:
    """Pick the format that parses the most non-empty values of ``column`` (a sample of 20k)."""
    guess = guess_date_format(con, table, column)
    return guess.format if guess else None


def guess_date_format(con: duckdb.DuckDBPyConnection, table: str, column: str) -> DateGuess | None:
    """Choose a date format for ``column`` from the data; report day/month ambiguity.

    The format parsing the most values of a 20k sample wins (ties: the order of
    :data:`DATE_FORMATS`). When a day-first format and its month-first twin parse the same
    number, the whole column is counted; if they still tie (every day is 12 or less), the
    day-first reading is kept and ``ambiguous_with`` names the other one.
    """
    col = quote_ident(column)
    sample = (
        f"(SELECT trim({col}) AS v FROM {quote_ident(table)} "
        f"WHERE {col} IS NOT NULL AND trim({col}) <> '' LIMIT 20000)"
    )
    counts = ", ".join(
        f"count(try_strptime(v, {_sql_str(fmt)})) AS f{i}" for i, fmt in enumerate(DATE_FORMATS)
    )
    row = con.execute(f"SELECT count(*), {counts} FROM {sample}").fetchall()[0]
    total, hits = row[0], row[1:]
    if not total or max(hits) == 0:
        return None
    best = max(range(len(DATE_FORMATS)), key=lambda i: (hits[i], -i))
    fmt = DATE_FORMATS[best]
    twin = _DAY_MONTH_TWINS.get(fmt)
    if twin is None or hits[DATE_FORMATS.index(twin)] < hits[best]:
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
    formats = guess.formats
    if len(formats) == 1:
        return f"try_strptime(trim({expr}), {_sql_str(formats[0])})"
    return f"try_strptime(trim({expr}), [{', '.join(_sql_str(f) for f in formats)}])"


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


def load_transactions(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    known_customers: str | None = None,
    date_format: str | None = None,
    outliers: OutlierMode = "flag",
    outlier_factor: float = 1000.0,
) -> SourceAccount:
    """Type, validate and load a raw transaction source into the table ``transactions``.

    Reasons a row is quarantined, first that applies: ``malformed_line``,
    ``missing_customer_id``, ``missing_date``, ``unparseable_date``, ``future_date`` (after
    today), ``missing_amount``, ``unparseable_amount``, ``unknown_customer`` (when a customer
    table is given and lacks the id), ``duplicate_row`` (an exact copy of an earlier row, when
    an order id tells duplicates from repeat purchases), ``outlier_amount`` (only with
    ``outliers="quarantine"``). Negative amounts are kept: they are returns or credits.

    Parameters
    ----------
    date_format : str, optional
        strptime format of the order date; detected from the data when ``None``.
    outliers : {"flag", "quarantine"}
        What to do with amounts beyond ``outlier_factor`` × the median absolute amount: keep
        and flag them (default) or quarantine them.
    """
    ensure_quarantine(con)
    _clear_previous(con, raw, "transactions")
    table = quote_ident(raw.table)
    col = {f: quote_ident(m.column) for f, m in matches.items()}
    warnings: list[str] = []
    date_col, amount_col = matches["order_date"].column, matches["amount"].column
    if _is_temporal(raw, date_col):
        guess = DateGuess(str(date_label(raw, date_col)), [])
        date_expr = f"CAST(r.{col['order_date']} AS TIMESTAMP)"
    else:
        guess = _resolve_date(con, raw, date_col, date_format, warnings)
        assert guess is not None
        date_expr = _date_sql("r." + col["order_date"], guess)
    if amount_col in raw.types:
        amount_expr = f"CAST(r.{col['amount']} AS DOUBLE)"
    else:
        amount_expr = _number(con, raw.table, amount_col, warnings, f"r.{col['amount']}")
    optional: dict[str, str] = {}
    for f in ("order_id", "quantity", "category", "channel", "discount"):
        if f not in matches:
            continue
        source = matches[f].column
        if f in ("quantity", "discount"):
            optional[f] = (
                f"CAST(r.{col[f]} AS DOUBLE)"
                if source in raw.types
                else _number(con, raw.table, source, None, f"r.{col[f]}")
            )
        else:
            optional[f] = _text_sql(raw, source, f"r.{col[f]}")
    # a typed source is read in place: its row hash for the duplicate check is taken in this
    # pass, so that the file is not read again (a text source's raw table is hashed directly)
    row_hash = (
        f"hash({', '.join('r.' + quote_ident(c) for c in raw.columns)}) AS _h," if raw.types else ""
    )
    # the checked table becomes the transaction table: typed columns first, in their final
    # order, then the bookkeeping columns that are dropped once the quarantine is written
    con.execute("DROP TABLE IF EXISTS _checked")
    con.execute(f"""
        CREATE TABLE _checked AS
        SELECT *, CASE
            WHEN customer_id IS NULL THEN 'missing_customer_id'
            WHEN {_blank_sql(raw, date_col, "raw_date")} THEN 'missing_date'
            WHEN order_date IS NULL THEN 'unparseable_date'
            WHEN order_date > current_date + INTERVAL 1 DAY THEN 'future_date'
            WHEN {_blank_sql(raw, amount_col, "raw_amount")} THEN 'missing_amount'
            WHEN amount IS NULL OR isnan(amount) OR isinf(amount) THEN 'unparseable_amount'
        END AS reason FROM (
            SELECT {_text_sql(raw, matches["customer_id"].column, "r." + col["customer_id"])}
                       AS customer_id,
                   {date_expr} AS order_date,
                   {amount_expr} AS amount
                   {"".join(f", {expr} AS {f}" for f, expr in optional.items())},
                   r._row,
                   {row_hash}
                   r.{col["order_date"]} AS raw_date,
                   r.{col["amount"]} AS raw_amount
            FROM {table} r
        )
    """)
    # Without an order id, identical rows are plausibly separate purchases (two CDs at the same
    # price on one day): they are kept and only counted. With an order id they are duplicates.
    # checks against other tables and other rows update the few rows they hit, so that the
    # typed rows stay a plain projection of the raw table, in file order
    _mark_unknown(con, "_checked", known_customers, id_col="customer_id")
    _copies(con, raw, hashes="_checked" if raw.types else None)
    possible = _mark_copies(con, "_checked", as_duplicates="order_id" in matches)
    threshold = _outlier_threshold(con, outlier_factor)
    if threshold is not None and outliers == "quarantine":
        con.execute(
            "UPDATE _checked SET reason = 'outlier_amount' "
            f"WHERE reason IS NULL AND abs(amount) > {threshold!r}"
        )
    c_id, c_date, c_amount = (
        _sql_str(matches[f].column) for f in ("customer_id", "order_date", "amount")
    )
    column_case = _case(
        {
            "missing_customer_id": c_id,
            "missing_date": c_date,
            "unparseable_date": c_date,
            "future_date": c_date,
            "missing_amount": c_amount,
            "unparseable_amount": c_amount,
            "outlier_amount": c_amount,
            "unknown_customer": c_id,
        }
    )
    value_case = (
        "CASE WHEN c.reason IN ('missing_date', 'unparseable_date', 'future_date') "
        "THEN CAST(c.raw_date AS VARCHAR) "
        "WHEN c.reason IN ('missing_amount', 'unparseable_amount', 'outlier_amount') "
        "THEN CAST(c.raw_amount AS VARCHAR) WHEN c.reason = 'unknown_customer' THEN c.customer_id "
        "END"
    )
    _quarantine_from(con, raw, "transactions", "_checked", column_case, value_case)
    _insert_rejects(con, raw, "transactions")
    flagged: dict[str, int] = {}
    if threshold is not None and outliers == "flag":
        _quarantine_from(
            con,
            raw,
            "transactions",
            "_checked",
            c_amount,
            "CAST(c.raw_amount AS VARCHAR)",
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
    for bookkeeping in ("_h", "raw_date", "raw_amount", "reason")[0 if raw.types else 1 :]:
        con.execute(f"ALTER TABLE _checked DROP COLUMN {bookkeeping}")
    _drop_relation(con, "transactions")
    con.execute("ALTER TABLE _checked RENAME TO transactions")
    con.execute("DROP TABLE _copies")
    account = _account(
        con, raw, "transactions", "transactions", matches, date_label(raw, date_col, guess.format)
    )
    account.possible_duplicates = possible
    account.flagged = flagged
    account.warnings = warnings
    return account


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
