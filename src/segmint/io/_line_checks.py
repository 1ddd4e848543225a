"""The checks of a transaction line, as SQL over the typed lines: for every engine.

:func:`line_value_sql` types a line and checks its value (the amount, or quantity × unit
price); :func:`_return_sql` recognises returns and cancellations, :func:`_exclusion_case`
non-product lines (``io.exclude``), :func:`_line_proof` whether identical lines are repeats;
:func:`_missing_customers` and :func:`_money` give the value of lines (exact decimal sums).
These are shared with the Spark engine. The steps that update the DuckDB loader's ``_checked``
table in place (:func:`_mark_excluded`, :func:`_handle_copies`, :func:`_outlier_threshold`)
live here too.

Outliers: an amount whose absolute value is more than ``outlier_factor`` (default 1000) times the
median absolute non-zero amount is flagged, not dropped: a demanding user would not want a big
genuine order removed silently, and a robust z-score on skewed money data flags far too many
ordinary large orders. ``outliers="quarantine"`` moves such rows to the quarantine instead
(reason ``outlier_amount``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import duckdb

from segmint.exceptions import ConfigError
from segmint.io._accounting import _copies, _scalar
from segmint.io._lines import DuplicatePolicy, ExcludeRule, ReturnRules
from segmint.io._mapping import ColumnMatch, derives_amount
from segmint.io._sources import RawSource, _first_line, _sql_str, quote_ident
from segmint.io._values import _blank_sql, _text_sql

__all__ = ["NUMERIC_FIELDS", "TYPED_FIELDS", "OutlierMode", "line_value_sql"]

OutlierMode = Literal["flag", "quarantine"]


# the typed columns a transaction table keeps, in this order, and those that are numbers
TYPED_FIELDS = ("order_id", "quantity", "category", "channel", "discount", "product", "unit_price")
NUMERIC_FIELDS = ("quantity", "discount", "unit_price")


#: A line value this large (a quadrillion) is no transaction: a unit or export error. Beyond it
#: exact money (DECIMAL(38, 10), at most 1e28) would overflow.
IMPLAUSIBLE_AMOUNT = 1e15
_IMPLAUSIBLE = f"abs(_value) >= {IMPLAUSIBLE_AMOUNT:.0e}"


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
        value_checks.append(("implausible_amount", matches["unit_price"].column, _IMPLAUSIBLE))
    else:
        amount_col = matches["amount"].column
        bookkeeping["raw_amount"] = f"r.{col['amount']}"
        value_checks += [
            ("missing_amount", amount_col, _blank_sql(raw, amount_col, "raw_amount")),
            ("unparseable_amount", amount_col, "_value IS NULL OR isnan(_value) OR isinf(_value)"),
            ("implausible_amount", amount_col, _IMPLAUSIBLE),
        ]
    if "status" in matches:
        bookkeeping["_status"] = _text_sql(raw, matches["status"].column, f"r.{col['status']}")
    return typed, bookkeeping, value_checks


# money summed exactly (as the features do): the same data give the same figures
_EXACT = "DECIMAL(38, 10)"


def _money(condition: str = "true") -> str:
    """Exact sum of the finite line values of ``_checked`` where ``condition`` holds."""
    return (
        f"coalesce(sum(CAST(CASE WHEN isfinite(amount) AND abs(amount) < 1e27 THEN amount END "
        f"AS {_EXACT})) FILTER (WHERE ({condition})), 0)"
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
    return excluded_per_rule(con, rules)


def excluded_per_rule(conn: Any, rules: list[ExcludeRule]) -> dict[str, dict[str, Any]]:
    """Lines and value each ``io.exclude`` rule removed from ``_checked`` (every rule listed).

    ``conn`` is anything with DuckDB's ``execute(sql).fetchall()``: a DuckDB connection, or the
    Spark engine's connection (the same SQL, transpiled).
    """
    found = {
        int(i): (int(n), float(v))
        for i, n, v in conn.execute(
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
