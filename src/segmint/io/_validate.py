"""Typing and validating raw sources, with every row accounted for.

Each raw row ends in exactly one place: the typed table of its role (*used*) or the
``quarantine`` table with the first reason that applies, the column and the offending value, and
the whole raw record as JSON, so nothing is lost. ``read == used + quarantined`` holds per source
by construction and is checked before the pipeline goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.io._mapping import ColumnMatch
from segmint.io._sources import RawSource, _sql_str, quote_ident

# candidate formats, in order of preference when several parse the same number of values
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y%m%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%Y/%m/%d",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d.%m.%Y %H:%M",
)

QUARANTINE_COLUMNS = (
    "source VARCHAR, role VARCHAR, row BIGINT, reason VARCHAR, "
    "column_name VARCHAR, value VARCHAR, record VARCHAR"
)


@dataclass
class SourceAccount:
    """What happened to the rows of one source: ``n_read == n_used + sum(quarantined)``."""

    source: str
    role: str
    format: str
    n_read: int
    n_used: int
    quarantined: dict[str, int] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    possible_duplicates: int = 0

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
        }


def ensure_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``quarantine`` table if it does not exist yet."""
    con.execute(f"CREATE TABLE IF NOT EXISTS quarantine ({QUARANTINE_COLUMNS})")


def detect_date_format(con: duckdb.DuckDBPyConnection, table: str, column: str) -> str | None:
    """Pick the format that parses the most non-empty values of ``column`` (a sample of 20k)."""
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
    return DATE_FORMATS[best]


def _decimal_comma(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    col = quote_ident(column)
    comma, dot = con.execute(
        f"SELECT count(*) FILTER (regexp_full_match(trim({col}), '-?[0-9.]*,[0-9]+')), "
        f"count(*) FILTER (regexp_full_match(trim({col}), '-?[0-9,]*\\.[0-9]+')) "
        f"FROM (SELECT {col} FROM {quote_ident(table)} LIMIT 20000)"
    ).fetchall()[0]
    return comma > dot


def _number(con: duckdb.DuckDBPyConnection, table: str, column: str) -> str:
    col = f"trim({quote_ident(column)})"
    if _decimal_comma(con, table, column):
        return f"TRY_CAST(replace(replace({col}, '.', ''), ',', '.') AS DOUBLE)"
    return f"TRY_CAST(replace({col}, ',', '') AS DOUBLE)"


def load_transactions(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    known_customers: str | None = None,
) -> SourceAccount:
    """Type, validate and load a raw transaction source into the table ``transactions``.

    Reasons a row is quarantined, first that applies: ``malformed_line``,
    ``missing_customer_id``, ``missing_date``, ``unparseable_date``, ``future_date`` (after
    today), ``missing_amount``, ``unparseable_amount``, ``unknown_customer`` (when a customer
    table is given and lacks the id), ``duplicate_row`` (an exact copy of an earlier row).
    Negative amounts are kept: they are returns or credits.
    """
    ensure_quarantine(con)
    src, table = raw.table, quote_ident(raw.table)
    col = {f: quote_ident(m.column) for f, m in matches.items()}
    date_format = detect_date_format(con, src, matches["order_date"].column)
    if date_format is None:
        raise InputError(
            f"{raw.path}: column '{matches['order_date'].column}' holds no recognisable dates.",
            hint="Map the order date to another column, or give its format in segmint.yaml.",
        )
    date_expr = f"try_strptime(trim({col['order_date']}), {_sql_str(date_format)})"
    amount_expr = _number(con, src, matches["amount"].column)
    optional_num = {
        f: _number(con, src, matches[f].column) for f in ("quantity", "discount") if f in matches
    }
    raw_cols = [quote_ident(c) for c in raw.columns]
    unknown = (
        f"WHEN cid NOT IN (SELECT customer_id FROM {known_customers}) THEN 'unknown_customer'"
        if known_customers
        else ""
    )
    optional_text = "".join(
        f", nullif(trim(r.{col[f]}), '') AS {f}"
        for f in ("order_id", "category", "channel")
        if f in col
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _typed AS
        SELECT r._row,
               nullif(trim(r.{col["customer_id"]}), '') AS cid,
               {date_expr} AS order_date,
               {amount_expr} AS amount,
               r.{col["order_date"]} AS raw_date,
               r.{col["amount"]} AS raw_amount,
               row_number() OVER (PARTITION BY {", ".join("r." + c for c in raw_cols)}
                                  ORDER BY r._row) AS copy_no,
               to_json(r) AS record
               {"".join(f", {expr} AS {f}" for f, expr in optional_num.items())}
               {optional_text}
        FROM {table} r
    """)
    # Without an order id, identical rows are plausibly separate purchases (two CDs at the same
    # price on one day): they are kept and only counted. With an order id they are duplicates.
    dup = "WHEN copy_no > 1 THEN 'duplicate_row'" if "order_id" in matches else ""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _checked AS
        SELECT *, CASE
            WHEN cid IS NULL THEN 'missing_customer_id'
            WHEN raw_date IS NULL OR trim(raw_date) = '' THEN 'missing_date'
            WHEN order_date IS NULL THEN 'unparseable_date'
            WHEN order_date > current_date + INTERVAL 1 DAY THEN 'future_date'
            WHEN raw_amount IS NULL OR trim(raw_amount) = '' THEN 'missing_amount'
            WHEN amount IS NULL OR isnan(amount) OR isinf(amount) THEN 'unparseable_amount'
            {unknown}
            {dup}
        END AS reason FROM _typed
    """)
    reason_column = {
        "missing_customer_id": matches["customer_id"].column,
        "missing_date": matches["order_date"].column,
        "unparseable_date": matches["order_date"].column,
        "future_date": matches["order_date"].column,
        "missing_amount": matches["amount"].column,
        "unparseable_amount": matches["amount"].column,
        "unknown_customer": matches["customer_id"].column,
    }
    column_case = " ".join(
        f"WHEN {_sql_str(k)} THEN {_sql_str(v)}" for k, v in reason_column.items()
    )
    value_case = (
        "CASE WHEN reason IN ('missing_date', 'unparseable_date', 'future_date') THEN raw_date "
        "WHEN reason IN ('missing_amount', 'unparseable_amount') THEN raw_amount "
        "WHEN reason = 'unknown_customer' THEN cid END"
    )
    con.execute(f"""
        INSERT INTO quarantine
        SELECT {_sql_str(raw.path)}, 'transactions', _row, reason,
               CASE reason {column_case} END, {value_case}, record
        FROM _checked WHERE reason IS NOT NULL
    """)
    _insert_rejects(con, raw, "transactions")
    possible = con.execute(
        "SELECT count(*) FROM _checked WHERE reason IS NULL AND copy_no > 1"
    ).fetchall()[0][0]
    extra = [f for f in ("order_id", "quantity", "category", "channel", "discount") if f in matches]
    con.execute(f"""
        CREATE OR REPLACE TABLE transactions AS
        SELECT cid AS customer_id, order_date, amount
               {"".join(", " + f for f in extra)}, _row
        FROM _checked WHERE reason IS NULL ORDER BY _row
    """)
    con.execute("DROP TABLE _typed; DROP TABLE _checked")
    account = _account(con, raw, "transactions", "transactions", matches, date_format)
    account.possible_duplicates = int(possible)
    return account


def load_customers(
    con: duckdb.DuckDBPyConnection, raw: RawSource, matches: dict[str, ColumnMatch]
) -> SourceAccount:
    """Load a customer table: ids validated, other columns typed by what their values hold.

    A column becomes BOOLEAN, DOUBLE or DATE when at least 98 % of its non-empty values parse
    as such; the rows whose value does not parse are quarantined as ``unparseable_value``.
    Other reasons: ``malformed_line``, ``missing_customer_id``, ``duplicate_customer_id`` (the
    first row of an id is kept), ``impossible_age`` (an ``age`` outside 0-120).
    """
    ensure_quarantine(con)
    table = quote_ident(raw.table)
    id_col = matches["customer_id"].column
    typed: list[tuple[str, str, str]] = []  # (output name, typed expr, raw column)
    for column in raw.columns:
        if column == id_col:
            continue
        typed.append((column, _infer_type(con, raw.table, column), column))
    parse_fail = " ".join(
        f"WHEN r.{quote_ident(c)} IS NOT NULL AND trim(r.{quote_ident(c)}) <> '' "
        f"AND ({expr}) IS NULL THEN 'unparseable_value:{c}'"
        for name, expr, c in typed
        if expr != f"nullif(trim(r.{quote_ident(c)}), '')"
    )
    age = next((name for name, _, _ in typed if name.lower() == "age"), None)
    age_check = (
        f"WHEN ({dict((n, e) for n, e, _ in typed)[age]}) NOT BETWEEN 0 AND 120 "
        f"THEN 'impossible_age'"
        if age
        else ""
    )
    selects = ", ".join(f"{expr} AS {quote_ident(name)}" for name, expr, _ in typed)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _cust AS
        SELECT r._row, nullif(trim(r.{quote_ident(id_col)}), '') AS customer_id,
               to_json(r) AS record,
               row_number() OVER (PARTITION BY trim(r.{quote_ident(id_col)}) ORDER BY r._row) AS n,
               CASE
                 WHEN nullif(trim(r.{quote_ident(id_col)}), '') IS NULL THEN 'missing_customer_id'
                 {parse_fail}
                 {age_check}
               END AS reason0
               {", " + selects if selects else ""}
        FROM {table} r
    """)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _cust2 AS SELECT *, "
        "coalesce(reason0, CASE WHEN n > 1 THEN 'duplicate_customer_id' END) AS reason FROM _cust"
    )
    con.execute(f"""
        INSERT INTO quarantine
        SELECT {_sql_str(raw.path)}, 'customers', _row, split_part(reason, ':', 1),
               CASE WHEN reason LIKE 'unparseable_value:%' THEN split_part(reason, ':', 2)
                    WHEN reason = 'impossible_age' THEN {_sql_str(age or "")}
                    ELSE {_sql_str(id_col)} END,
               NULL, record
        FROM _cust2 WHERE reason IS NOT NULL
    """)
    _insert_rejects(con, raw, "customers")
    names = ", ".join(quote_ident(n) for n, _, _ in typed)
    con.execute(f"""
        CREATE OR REPLACE TABLE customers AS
        SELECT customer_id{", " + names if names else ""}, _row
        FROM _cust2 WHERE reason IS NULL ORDER BY _row
    """)
    con.execute("DROP TABLE _cust; DROP TABLE _cust2")
    return _account(con, raw, "customers", "customers", matches, None)


def _infer_type(con: duckdb.DuckDBPyConnection, table: str, column: str) -> str:
    ref = f"r.{quote_ident(column)}"
    text = f"nullif(trim({ref}), '')"
    col = quote_ident(column)
    stats = con.execute(f"""
        SELECT count(v),
               count(*) FILTER (lower(v) IN ('true','false','yes','no','y','n','t','f')),
               count(TRY_CAST(v AS DOUBLE))
        FROM (SELECT nullif(trim({col}), '') AS v FROM {quote_ident(table)})
    """).fetchall()[0]
    n, n_bool, n_num = stats
    if n == 0:
        return text
    if n_bool >= 0.98 * n:
        return f"TRY_CAST({text} AS BOOLEAN)"
    if n_num >= 0.98 * n:
        return f"TRY_CAST({text} AS DOUBLE)"
    fmt = detect_date_format(con, table, column)
    if fmt is not None:
        hits = con.execute(
            f"SELECT count(try_strptime(trim({col}), {_sql_str(fmt)})) FROM {quote_ident(table)}"
        ).fetchall()[0][0]
        if hits >= 0.98 * n:
            return f"CAST(try_strptime(trim({ref}), {_sql_str(fmt)}) AS DATE)"
    return text


def _insert_rejects(con: duckdb.DuckDBPyConnection, raw: RawSource, role: str) -> None:
    if not raw.rejects:
        return
    rows = [
        (str(raw.path), role, r["row"], r["reason"], None, r["detail"], None) for r in raw.rejects
    ]
    con.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def _account(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    role: str,
    table: str,
    matches: dict[str, ColumnMatch],
    date_format: str | None,
) -> SourceAccount:
    n_used = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
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
        n_used=int(n_used),
        quarantined={k: int(v) for k, v in reasons.items()},
        mapping={f: m.column for f, m in matches.items()},
        date_format=date_format,
    )
    if account.n_used + account.n_quarantined != account.n_read:  # pragma: no cover - invariant
        raise RuntimeError(
            f"row accounting broken for {raw.path}: read {account.n_read}, "
            f"used {account.n_used}, quarantined {account.n_quarantined}"
        )
    logger.info(
        "%s: read %d rows, used %d, quarantined %d",
        raw.path.name,
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
