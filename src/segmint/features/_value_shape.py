"""What kind of purchase log the value basis has: the routing hook of the model choice.

* :func:`_purchase_filter` / :func:`_purchases` -- which lines of the transaction table are
  purchases, and the purchases before the snapshot;
* :func:`detect_data_shape` -- continuous-time, discrete-occasion or contractual log, by the
  rules stated in :mod:`segmint.features._value` (:data:`DISCRETE_MAX_DATE_SHARE`,
  :data:`DISCRETE_MIN_BUYERS_PER_DATE`, :data:`CONTRACT_END_COLUMNS`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb

from segmint.features._catalogue import date_literal, quote_ident, table_columns

#: Discrete-occasion rule: purchase dates on at most this share of the days (one a week) ...
DISCRETE_MAX_DATE_SHARE = 1.0 / 7.0
#: ... and on average at least this many buyers on each purchase date.
DISCRETE_MIN_BUYERS_PER_DATE = 5.0
#: Columns of the transaction table that mark contractual data (a contract's end date).
CONTRACT_END_COLUMNS = ("contract_end", "contract_end_date", "cancelled_at", "churn_date")


def _purchase_filter(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SQL true for a purchase line: not ``is_return`` where the loader marked returns (an
    invoice-line log), else a non-negative amount (returns are stored negative)."""
    return "NOT is_return" if "is_return" in table_columns(con, table) else "amount >= 0"


def _purchase_days(
    con: duckdb.DuckDBPyConnection, table: str, snapshot: date, cols: dict[str, str]
) -> tuple[int, int, int]:
    """Before ``snapshot``: the distinct purchase dates, the customer-dates with a purchase and
    the most orders of one customer on one date (``cols``: the columns of ``table``)."""
    per_order = "count(DISTINCT order_id)" if "order_id" in cols else "1"
    return con.execute(
        f"""
        WITH days AS (
            SELECT customer_id, CAST(order_date AS DATE) AS day, {per_order} AS orders
            FROM {quote_ident(table)}
            WHERE order_date < {date_literal(snapshot)} AND {_purchase_filter(con, table)}
            GROUP BY ALL
        )
        SELECT count(DISTINCT day), count(*), coalesce(max(orders), 0) FROM days
        """
    ).fetchall()[0]


def detect_data_shape(
    con: duckdb.DuckDBPyConnection, table: str, snapshot: date, first_day: date
) -> dict:
    """Say whether the log is continuous-time, discrete-opportunity or contractual.

    The rules are those of the module docstring (:data:`CONTRACT_END_COLUMNS`,
    :data:`DISCRETE_MAX_DATE_SHARE`, :data:`DISCRETE_MIN_BUYERS_PER_DATE`). This is the routing
    hook for the transaction table: a discrete log goes to BG/BB
    (:func:`_fit_discrete_purchase_model`); a contract-end column in the transactions alone
    gets the continuous-time models and ``note`` says so (sBG needs the contract dates in the
    customer table, where :func:`segmint.features._value.fit_value_models` finds them).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding ``table``.
    table : str
        Transaction table (``customer_id``, ``order_date``, ``amount``, optionally ``order_id``).
    snapshot : date
        Only purchases before this day are looked at.
    first_day : date
        First purchase day of the calibration period.

    Returns
    -------
    dict
        ``shape`` (``"continuous"``, ``"discrete"`` or ``"contractual"``), ``rule`` (the rule in
        words), ``evidence`` (the counts the rule used), ``model_family`` (``"discrete"`` or
        ``"continuous"``: the models the shape routes to) and ``note`` (``None`` unless a
        detected shape has no model yet).
    """
    cols = table_columns(con, table)
    contract = next((c for c in CONTRACT_END_COLUMNS if c in cols), None)
    n_dates, n_buyer_days, max_orders = _purchase_days(con, table, snapshot, cols)
    span_days = (snapshot - first_day).days
    buyers = n_buyer_days / n_dates if n_dates else 0.0
    evidence = {
        "distinct_purchase_dates": int(n_dates),
        "calibration_days": int(span_days),
        "buyers_per_purchase_date": float(buyers),
        "max_orders_per_customer_date": int(max_orders),
        "contract_end_column": contract,
    }
    discrete = (
        n_dates >= 2
        and n_dates <= DISCRETE_MAX_DATE_SHARE * span_days
        and buyers >= DISCRETE_MIN_BUYERS_PER_DATE
        and max_orders <= 1
    )
    if contract is not None:
        shape, rule = "contractual", f"the transactions have a contract-end column ({contract})"
    elif discrete:
        shape = "discrete"
        rule = (
            f"purchases on only {n_dates} dates in {span_days} days (at most one a week), "
            f"{buyers:,.1f} buyers per date on average (at least "
            f"{DISCRETE_MIN_BUYERS_PER_DATE:g}), at most one order per customer and date"
        )
    else:
        shape = "continuous"
        rule = (
            f"purchases on {n_dates:,} distinct dates of {span_days:,} days: purchases can "
            "happen at any time"
        )
    note = None
    if shape == "contractual":
        note = (
            "sBG, the model of contractual churn, needs contract start and end dates in the "
            "customer table (e.g. contract_start and contract_end): the continuous-time models "
            "were used"
        )
    return {
        "shape": shape,
        "rule": rule,
        "evidence": evidence,
        "model_family": "discrete" if shape == "discrete" else "continuous",
        "note": note,
    }


def _purchases(con: duckdb.DuckDBPyConnection, table: str, snapshot: date) -> Any:
    return con.sql(
        f"SELECT customer_id, CAST(order_date AS DATE) AS date, CAST(amount AS DOUBLE) AS amount "
        f"FROM {quote_ident(table)} "
        f"WHERE order_date < {date_literal(snapshot)} AND {_purchase_filter(con, table)}"
    ).to_arrow_table()
