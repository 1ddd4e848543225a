"""A transaction log turned into the BG/BB input: (x, t_x, n) per customer, or its table.

:func:`bgbb_summary` assigns each transaction to a discrete **opportunity** (a calendar period,
or the last of given opportunity dates such as campaign mailings) and computes, with one DuckDB
SQL query, the per-customer frequency x, recency t_x and number of opportunities n of Fader,
Hardie & Shang (2010) [1]_, with holdout columns, or the recency/frequency table with one row
per distinct history and its number of customers (``aggregate=True``), which
:meth:`~segmint.features.clv._bgbb.BetaGeoBetaBinomModel.fit` takes with ``weights``.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in a
   discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.features.clv._sql import _day_sql, _input_table, _quote_ident, _to_date

__all__ = ["bgbb_summary"]

_CALENDAR_PERIODS = ("year", "quarter", "month", "week")


def _period_expr(day: str, period: str) -> str:
    """SQL for the index of the calendar period containing ``day`` (consecutive integers)."""
    if period == "year":
        return f"year({day})"
    if period == "quarter":
        return f"(year({day}) * 4 + quarter({day}) - 1)"
    if period == "month":
        return f"(year({day}) * 12 + month({day}) - 1)"
    # ISO weeks (Monday to Sunday); 1970-01-05 was a Monday
    return f"CAST(floor(date_diff('day', DATE '1970-01-05', {day}) / 7) AS BIGINT)"


def _opportunity_dates(opportunities: Sequence[Any]) -> list[_dt.date]:
    dates = sorted({_to_date(d, "opportunities") for d in opportunities})
    if not dates:
        raise InputError(
            "opportunities is an empty list of dates",
            hint="pass a calendar period ('year', 'quarter', 'month', 'week') or the dates of "
            "the opportunities (e.g. campaign mailings)",
        )
    return dates


def bgbb_summary(
    transactions: Any,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    opportunities: str | Sequence[Any] = "year",
    calibration_end: Any = None,
    observation_end: Any = None,
    aggregate: bool = False,
) -> pd.DataFrame:
    """Turn a transaction log into the BG/BB (x, t_x, n) summary or recency/frequency table.

    Each transaction is assigned to an **opportunity**: with ``opportunities`` a calendar
    period (``"year"``, ``"quarter"``, ``"month"`` or ``"week"``, ISO weeks from Monday) the
    opportunity is the period containing its date; with a list of dates (e.g. the dates of
    fixed campaign mailings) it is the last of those dates on or before the transaction, so a
    gift made after the March appeal and before the June one answers the March appeal. Several
    transactions of a customer in one opportunity count once. Then, as in [1]_:

    * the customer's first opportunity with a transaction is their "birth" (period 0, not a
      repeat transaction);
    * ``n_opportunities`` (n) is the number of opportunities after it, up to and including the
      one containing ``calibration_end``;
    * ``frequency`` (x) is the number of those n opportunities with a transaction;
    * ``recency`` (t_x) is the opportunity of the last transaction counted from the birth
      (0 when x = 0);
    * with ``observation_end``: ``frequency_holdout`` is the number of later opportunities, up
      to and including the one containing ``observation_end``, with a transaction, and
      ``n_opportunities_holdout`` their number.

    Customers born in the last calibration opportunity get n = 0 (no information for the fit,
    but valid for predictions); customers born later are left out. Note that a calendar
    period cut by ``calibration_end`` counts as a whole opportunity.

    The work is done by one DuckDB SQL query on the input.

    Parameters
    ----------
    transactions : pandas.DataFrame or pyarrow.Table
        One row per transaction (gift, order, renewal, ...).
    customer_col, date_col : str
        Names of the customer id and date columns. Dates may be dates, naive timestamps or ISO
        strings (time-zone-aware timestamps are taken as UTC dates).
    opportunities : str or sequence of date-like, default "year"
        A calendar period, or the dates on which the opportunities start.
    calibration_end : date-like, optional
        Last day (inclusive) of the calibration period; default: the last transaction date.
    observation_end : date-like, optional
        Last day (inclusive) of a holdout period after ``calibration_end``.
    aggregate : bool, default False
        Return the recency/frequency table: one row per distinct (``frequency``, ``recency``,
        ``n_opportunities``, and holdout columns if any) with its number of customers in
        ``count``, sorted, instead of one row per customer.

    Returns
    -------
    pandas.DataFrame
        Per customer (indexed by customer id, sorted): ``frequency``, ``recency``,
        ``n_opportunities`` (int) and, with ``observation_end``, ``frequency_holdout`` and
        ``n_opportunities_holdout``; or, with ``aggregate=True``, those columns and ``count``.

    Raises
    ------
    InputError
        If a column is missing or unusable, the period is unknown, a transaction precedes the
        first opportunity date, ``observation_end`` is not after ``calibration_end``, or no
        customer is born by ``calibration_end``.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in a
       discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.

    Examples
    --------
    >>> log = pd.DataFrame({"customer_id": [1, 1, 1, 2],
    ...                     "date": ["1995-03-01", "1996-05-01", "1998-01-09", "1995-07-04"]})
    >>> bgbb_summary(log, calibration_end="2001-12-31")  # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency  n_opportunities
    customer_id
    1                    2        3                6
    2                    0        0                6
    """
    if isinstance(opportunities, str):
        period = opportunities.lower()
        if period not in _CALENDAR_PERIODS:
            raise InputError(
                f"unknown opportunity period {opportunities!r}",
                hint=f"use one of {', '.join(map(repr, _CALENDAR_PERIODS))} or a list of the "
                "opportunities' dates",
            )
        dates: list[_dt.date] | None = None
    else:
        try:
            dates = _opportunity_dates(list(opportunities))
        except TypeError as exc:
            raise InputError(
                f"opportunities must be a period name or a list of dates, got "
                f"{type(opportunities).__name__}",
                hint="e.g. opportunities='year' or opportunities=['2020-03-01', '2020-09-01']",
            ) from exc
        period = "dates"
    cal_end = None if calibration_end is None else _to_date(calibration_end, "calibration_end")
    obs_end = None if observation_end is None else _to_date(observation_end, "observation_end")

    with _input_table(
        transactions,
        table="transactions_input",
        what="transactions",
        columns={"customer_col": customer_col, "date_col": date_col},
        caller="bgbb_summary",
    ) as (con, schema):
        day_expr = _day_sql(date_col, schema[date_col])
        cust, date = _quote_ident(customer_col), _quote_ident(date_col)
        n_rows, null_customer, null_date, bad_date, bad_example, first_day, last_day = con.sql(
            f"""
            SELECT count(*),
                   count(*) FILTER (WHERE {cust} IS NULL),
                   count(*) FILTER (WHERE {date} IS NULL),
                   count(*) FILTER (WHERE {date} IS NOT NULL AND {day_expr} IS NULL),
                   any_value(CAST({date} AS VARCHAR))
                       FILTER (WHERE {date} IS NOT NULL AND {day_expr} IS NULL),
                   min({day_expr}), max({day_expr})
            FROM transactions_input
            """
        ).fetchall()[0]
        if n_rows == 0:
            raise InputError("transactions is empty", hint="pass at least one transaction")
        for count, col, what in (
            (null_customer, customer_col, "missing customer ids"),
            (null_date, date_col, "missing dates"),
        ):
            if count:
                raise InputError(
                    f"column {col!r} has {count} {what}",
                    hint="drop or fill those rows before building the BG/BB summary",
                )
        if bad_date:
            raise InputError(
                f"column {date_col!r} has {bad_date} value(s) that are not dates "
                f"(e.g. {bad_example!r})",
                hint="use ISO dates such as '1997-01-31' or convert with pandas.to_datetime",
            )
        if cal_end is None:
            cal_end = last_day
        if obs_end is not None and obs_end <= cal_end:
            raise InputError(
                f"observation_end ({obs_end}) must be after calibration_end ({cal_end})",
                hint="the holdout runs from the day after calibration_end to observation_end",
            )
        if first_day > cal_end:
            raise InputError(
                f"calibration_end ({cal_end}) is before the first transaction ({first_day})",
                hint="choose a calibration_end after the start of the data",
            )
        horizon_end = obs_end if obs_end is not None else cal_end

        if dates is None:
            daily = f"""
                SELECT DISTINCT {cust} AS customer, {_period_expr(day_expr, period)} AS opp
                FROM transactions_input
                WHERE {day_expr} <= $horizon_end
            """
            cal_opp = con.sql(
                f"SELECT {_period_expr('CAST($d AS DATE)', period)}", params={"d": cal_end}
            ).fetchall()[0][0]
            obs_opp = (
                None
                if obs_end is None
                else con.sql(
                    f"SELECT {_period_expr('CAST($d AS DATE)', period)}", params={"d": obs_end}
                ).fetchall()[0][0]
            )
        else:
            if first_day < dates[0]:
                raise InputError(
                    f"a transaction ({first_day}) precedes the first opportunity ({dates[0]})",
                    hint="add the date of an earlier opportunity or drop earlier transactions",
                )
            con.register(
                "opportunity_frame",
                pd.DataFrame({"opp_start": dates, "opp": np.arange(len(dates), dtype=np.int64)}),
            )
            con.execute(
                "CREATE TEMP TABLE opportunity_dates AS "
                "SELECT CAST(opp_start AS DATE) AS opp_start, opp FROM opportunity_frame"
            )
            daily = f"""
                SELECT DISTINCT t.customer, o.opp
                FROM (
                    SELECT {cust} AS customer, {day_expr} AS day
                    FROM transactions_input
                    WHERE {day_expr} <= $horizon_end
                ) AS t
                ASOF JOIN opportunity_dates AS o ON t.day >= o.opp_start
            """
            cal_opp = bisect.bisect_right(dates, cal_end) - 1
            obs_opp = None if obs_end is None else bisect.bisect_right(dates, obs_end) - 1
        holdout = ""
        if obs_opp is not None:
            holdout = """,
                count(*) FILTER (WHERE d.opp > $cal_opp) AS frequency_holdout,
                $obs_opp - $cal_opp AS n_opportunities_holdout"""
        query = f"""
            WITH daily AS ({daily}),
            births AS (
                SELECT customer, min(opp) AS birth FROM daily
                GROUP BY customer HAVING min(opp) <= $cal_opp
            )
            SELECT
                b.customer AS customer,
                count(*) FILTER (WHERE d.opp > b.birth AND d.opp <= $cal_opp) AS frequency,
                max(d.opp) FILTER (WHERE d.opp <= $cal_opp) - b.birth AS recency,
                $cal_opp - b.birth AS n_opportunities{holdout}
            FROM births AS b JOIN daily AS d USING (customer)
            GROUP BY b.customer, b.birth
            ORDER BY b.customer
        """
        params: dict[str, Any] = {"horizon_end": horizon_end, "cal_opp": int(cal_opp)}
        if obs_opp is not None:
            params["obs_opp"] = int(obs_opp)
        result = con.sql(query, params=params).df()

    if result.empty:
        raise InputError(
            f"no customer made a first transaction by calibration_end ({cal_end})",
            hint="choose a later calibration_end",
        )
    result = result.set_index("customer")
    result.index.name = customer_col
    int_cols = ["frequency", "recency", "n_opportunities"]
    if obs_opp is not None:
        int_cols += ["frequency_holdout", "n_opportunities_holdout"]
    result = result[int_cols].astype("int64")
    logger.debug(
        "bgbb_summary: %d customers, opportunities=%s, calibration_end=%s",
        len(result),
        period,
        cal_end,
    )
    if not aggregate:
        return result
    table = result.groupby(int_cols, as_index=False).size().rename(columns={"size": "count"})
    table["count"] = table["count"].astype("int64")
    return table.sort_values(int_cols).reset_index(drop=True)
