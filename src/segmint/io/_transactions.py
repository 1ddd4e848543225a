"""The transaction loader: type, validate and load a raw log into ``transactions``.

:func:`load_transactions` reads orders or invoice lines, nets returns out, removes non-product
lines, handles repeated lines by the ``io.duplicates`` policy and accounts for every row (the
checks it runs are in :mod:`segmint.io._line_checks`); :func:`describe_values` sums the value of
the lines used, for any engine's transaction table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from segmint._logging import logger
from segmint.io._accounting import (
    SourceAccount,
    _account,
    _case,
    _clear_previous,
    _insert_rejects,
    _mark_unknown,
    _quarantine_from,
    _scalar,
    ensure_quarantine,
)
from segmint.io._dates import DateGuess, _date_sql, _is_temporal, _resolve_date, date_label
from segmint.io._formats import _drop_relation
from segmint.io._line_checks import (
    _EXACT,
    OutlierMode,
    _exclusion_case,
    _handle_copies,
    _mark_excluded,
    _missing_customers,
    _outlier_threshold,
    _return_sql,
    line_value_sql,
)
from segmint.io._lines import (
    DuplicatePolicy,
    ExcludeRule,
    ReturnRules,
    duplicate_policy,
    exclude_rules,
)
from segmint.io._mapping import ColumnMatch, derives_amount, mapping_warnings
from segmint.io._sources import RawSource, _sql_str, quote_ident
from segmint.io._values import _blank_sql, _number, _text_sql

__all__ = ["describe_values", "load_transactions"]


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
    today), ``missing_amount``, ``unparseable_amount``, ``implausible_amount`` (a line value of
    at least :data:`~segmint.io._line_checks.IMPLAUSIBLE_AMOUNT`; for a line log without a line
    total: ``missing_quantity``, ``unparseable_quantity``, ``missing_unit_price``,
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
            "'unparseable_amount', 'implausible_amount', 'outlier_amount') "
            "THEN CAST(c.raw_unit_price AS VARCHAR) "
            if derived
            else "WHEN c.reason IN ('missing_amount', 'unparseable_amount', "
            "'implausible_amount', 'outlier_amount') "
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
