"""What customers did after a date: the outcomes the lift measures, and the revenue trend.

:func:`period_outcomes` measures, in SQL over ``[start, start + horizon)``, **repeat purchase**
(any order), **retention** (an order in the second half of the window), **revenue** (net) and
**orders** of every customer; :func:`revenue_trend` compares each segment's recent and earlier
net revenue.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pandas as pd

from segmint.io import quote_ident

__all__ = ["BINARY_OUTCOMES", "OUTCOMES", "OUTCOME_LABELS", "period_outcomes", "revenue_trend"]


OUTCOMES = ("repeat_purchase", "retained", "revenue", "orders")
BINARY_OUTCOMES = ("repeat_purchase", "retained")
OUTCOME_LABELS = {
    "repeat_purchase": "repeat purchase",
    "retained": "retention",
    "revenue": "revenue",
    "orders": "orders",
}


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def period_outcomes(
    con: duckdb.DuckDBPyConnection,
    start: date,
    horizon_days: int,
    *,
    has_order_id: bool,
    customers: str,
    table: str = "transactions",
) -> pd.DataFrame:
    """What every customer of the table ``customers`` did in ``[start, start + horizon)``.

    An order is one ``order_id`` (or one customer-day without order ids) with a purchase line
    (amount >= 0), as in the features; revenue is net of returns dated in the window.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, repeat_purchase, retained, revenue, orders``, one row per customer of
        ``customers`` (zeros for customers who did nothing), ordered by ``customer_id``.
    """
    end = start + timedelta(days=horizon_days)
    middle = start + timedelta(days=horizon_days // 2)
    order_key = "order_id" if has_order_id else "CAST(order_date AS DATE)"
    sql = f"""
        WITH window_tx AS (
            SELECT customer_id, amount, order_date, {order_key} AS order_key
            FROM {quote_ident(table)}
            WHERE order_date >= DATE '{start}' AND order_date < DATE '{end}'
        ),
        per_customer AS (
            SELECT customer_id,
                   count(DISTINCT order_key) FILTER (WHERE amount >= 0) AS orders,
                   count(DISTINCT order_key)
                       FILTER (WHERE amount >= 0 AND order_date >= DATE '{middle}') AS late_orders,
                   sum(amount) AS revenue
            FROM window_tx GROUP BY customer_id
        )
        SELECT c.customer_id,
               CAST(coalesce(p.orders, 0) > 0 AS INTEGER) AS repeat_purchase,
               CAST(coalesce(p.late_orders, 0) > 0 AS INTEGER) AS retained,
               CAST(coalesce(p.revenue, 0) AS DOUBLE) AS revenue,
               CAST(coalesce(p.orders, 0) AS BIGINT) AS orders
        FROM (SELECT DISTINCT customer_id FROM {quote_ident(customers)}) c
        LEFT JOIN per_customer p USING (customer_id)
        ORDER BY c.customer_id
    """
    return con.sql(sql).df()


def revenue_trend(
    con: duckdb.DuckDBPyConnection,
    segments: pd.DataFrame,
    snapshot: date | str,
    horizon_days: int = 180,
    *,
    table: str = "transactions",
) -> pd.DataFrame:
    """Recent against earlier net revenue of each segment, in SQL.

    Parameters
    ----------
    segments : pandas.DataFrame
        ``customer_id, segment_id``.
    snapshot : date
        The run's snapshot date: "recent" is ``[snapshot - horizon, snapshot)``, "earlier" the
        ``horizon`` days before that.

    Returns
    -------
    pandas.DataFrame
        ``segment_id, revenue_recent, revenue_earlier, growth`` with ``growth = recent /
        earlier`` (NaN when the earlier revenue is not positive).
    """
    snapshot = _as_date(snapshot)
    recent_start = snapshot - timedelta(days=horizon_days)
    earlier_start = recent_start - timedelta(days=horizon_days)
    frame = segments[["customer_id", "segment_id"]].astype({"customer_id": str})
    con.register("_segmint_trend_segments", frame)
    try:
        result = con.sql(f"""
            SELECT s.segment_id,
                   coalesce(sum(t.amount) FILTER (WHERE t.order_date >= DATE '{recent_start}'),
                            0) AS revenue_recent,
                   coalesce(sum(t.amount) FILTER (WHERE t.order_date < DATE '{recent_start}'),
                            0) AS revenue_earlier
            FROM _segmint_trend_segments s
            LEFT JOIN {quote_ident(table)} t
              ON t.customer_id = s.customer_id
             AND t.order_date >= DATE '{earlier_start}' AND t.order_date < DATE '{snapshot}'
            GROUP BY s.segment_id ORDER BY s.segment_id
        """).df()
    finally:
        con.unregister("_segmint_trend_segments")
    earlier = result["revenue_earlier"].where(result["revenue_earlier"] > 0)
    result["growth"] = result["revenue_recent"] / earlier
    return result
