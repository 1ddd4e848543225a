"""The inputs of the sBG model: a contracts table or a cohort's survivor counts.

* :func:`contract_durations` -- a contracts table (customer, start, end or none) turned, with
  one DuckDB SQL query, into the per-customer (duration, churned) input of
  :meth:`~segmint.features.clv._sbg.ShiftedBetaGeometricModel.fit` for a period length
  (month, quarter, year, week, day);
* :func:`_survivor_rows` -- a cohort's survivor counts (Fader & Hardie, 2007 [1]_) turned into
  weighted (duration, churned) rows, for
  :meth:`~segmint.features.clv._sbg.ShiftedBetaGeometricModel.fit_survivors`.

References
----------
.. [1] Fader, P. S. and Hardie, B. G. S. (2007). How to project customer retention. *Journal
   of Interactive Marketing*, 21(1), 76-90.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.features.clv._inputs import _as_array
from segmint.features.clv._sql import _day_sql, _input_table, _quote_ident, _to_date

__all__ = ["contract_durations"]

_PERIODS = ("month", "quarter", "year", "week", "day")


def _survivor_rows(survivors: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted (duration, churned) rows of one cohort's survivor counts.

    Parameters
    ----------
    survivors : array-like
        ``survivors[0]`` is the cohort size and ``survivors[t]`` the number still active after
        renewal t; non-increasing and non-negative.

    Returns
    -------
    duration, churned, weights : numpy.ndarray
        ``survivors[t-1] - survivors[t]`` customers churned at renewal t, and
        ``survivors[-1]`` are still active after the last renewal.

    Raises
    ------
    InputError
        If fewer than two counts are given, a count is negative or non-finite, the counts
        increase, or the cohort is empty.
    """
    s = _as_array("survivors", survivors)
    if s.ndim != 1 or s.size < 2:
        raise InputError(
            "survivors needs at least two counts (the cohort size and the survivors after "
            "the first renewal)",
            hint="e.g. [1000, 869, 743] for a cohort of 1,000 observed for two periods",
        )
    if s[0] <= 0:
        raise InputError(
            "the cohort is empty (survivors[0] is 0)", hint="survivors[0] is the cohort size"
        )
    if np.any(np.diff(s) > 0):
        t_bad = int(np.argmax(np.diff(s) > 0)) + 1
        raise InputError(
            f"survivors increase at period {t_bad} ({s[t_bad - 1]:g} -> {s[t_bad]:g})",
            hint="survivors[t] counts the cohort's customers still active after renewal t; "
            "it cannot grow (new customers form a new cohort)",
        )
    periods = np.arange(1, s.size, dtype=np.float64)
    duration = np.concatenate([periods, [periods[-1]]])
    churned = np.concatenate([np.ones(periods.size), [0.0]])
    return duration, churned, np.concatenate([-np.diff(s), [s[-1]]])


def _elapsed_sql(start: str, end: str, period: str) -> str:
    """SQL for the number of whole periods from ``start`` to ``end`` (both dates, end >= start).

    A month is complete on the same day of a later month, or on that month's last day when it
    is shorter (2024-01-31 + 1 month = 2024-02-29, as pandas' DateOffset); quarters and years
    are 3 and 12 such months; weeks and days are 7 and 1 days.
    """
    if period in ("week", "day"):
        days = f"date_diff('day', {start}, {end})"
        return days if period == "day" else f"CAST(floor({days} / 7) AS BIGINT)"
    months = (
        f"((year({end}) - year({start})) * 12 + month({end}) - month({start}) "
        f"- CASE WHEN day({end}) < day({start}) AND {end} <> last_day({end}) THEN 1 ELSE 0 END)"
    )
    size = {"month": 1, "quarter": 3, "year": 12}[period]
    return months if size == 1 else f"CAST(floor({months} / {size}) AS BIGINT)"


def contract_durations(
    contracts: Any,
    *,
    customer_col: str = "customer_id",
    start_col: str = "start_date",
    end_col: str = "end_date",
    observation_end: Any,
    period: str = "month",
) -> pd.DataFrame:
    """Turn a contracts table into the per-customer sBG input (duration, churned).

    Periods run from each customer's own start date: with ``period="month"`` a customer who
    started on 15 January renews on 15 February, 15 March, ... A contract **renews at the end
    of period k** when it is still running on the first day of period k + 1. The end date is
    the *last day the contract was active* (inclusive); it is missing (null) for contracts that
    are still running. Then

    * a contract that ended on or before ``observation_end`` is ``churned`` with
      ``duration`` = the period containing its end date (1 = ended in the first period,
      without renewing);
    * any other contract is active (``churned`` False) with ``duration`` = the number of
      renewals made by ``observation_end`` (0 if the first period has not ended yet);
    * contracts starting after ``observation_end`` are left out.

    The work is done by one DuckDB SQL query on the input.

    Parameters
    ----------
    contracts : pandas.DataFrame or pyarrow.Table
        One row per customer.
    customer_col, start_col, end_col : str
        Names of the customer id, start date and end date columns (dates, naive timestamps or
        ISO strings; the end may be null).
    observation_end : date-like
        The day the data describe (inclusive): later end dates count as still active.
    period : {"month", "quarter", "year", "week", "day"}, default "month"
        Length of a contract period (the renewal cycle).

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), with columns ``start`` (date), ``duration`` (int)
        and ``churned`` (bool), ready for :meth:`ShiftedBetaGeometricModel.fit`.

    Raises
    ------
    InputError
        If a column is missing or unusable, a start date is missing, an end date precedes its
        start, a customer has more than one row, the period is unknown, or no contract starts
        by ``observation_end``.

    Examples
    --------
    >>> contracts = pd.DataFrame({
    ...     "customer_id": ["a", "b", "c"],
    ...     "start_date": ["2024-01-15", "2024-01-15", "2024-03-01"],
    ...     "end_date": ["2024-03-20", None, None],
    ... })
    >>> contract_durations(contracts, observation_end="2024-04-30")
    ... # doctest: +NORMALIZE_WHITESPACE
                      start  duration  churned
    customer_id
    a            2024-01-15         3     True
    b            2024-01-15         3    False
    c            2024-03-01         1    False
    """
    if not isinstance(period, str) or period.lower() not in _PERIODS:
        raise InputError(
            f"unknown period {period!r}", hint=f"use one of {', '.join(map(repr, _PERIODS))}"
        )
    period = period.lower()
    obs_end = _to_date(observation_end, "observation_end")
    columns = {"customer_col": customer_col, "start_col": start_col, "end_col": end_col}
    with _input_table(
        contracts,
        table="contracts_input",
        what="contracts",
        columns=columns,
        caller="contract_durations",
    ) as (con, schema):
        day: dict[str, str] = {}
        for col in (start_col, end_col):
            q = _quote_ident(col)
            all_null = con.sql(f"SELECT count({q}) = 0 FROM contracts_input").fetchall()[0][0]
            if col == end_col and all_null:  # e.g. an all-NaN float column: nobody ended
                day[col] = "CAST(NULL AS DATE)"
            else:
                day[col] = _day_sql(col, schema[col])
        cust = _quote_ident(customer_col)
        start_raw, end_raw = _quote_ident(start_col), _quote_ident(end_col)
        start, end = day[start_col], day[end_col]
        checks = con.sql(
            f"""
            SELECT count(*),
                   count(*) FILTER (WHERE {cust} IS NULL),
                   count(*) FILTER (WHERE {start_raw} IS NULL),
                   count(*) FILTER (WHERE {start_raw} IS NOT NULL AND {start} IS NULL),
                   count(*) FILTER (WHERE {end_raw} IS NOT NULL AND {end} IS NULL),
                   count(*) FILTER (WHERE {end} < {start}),
                   any_value(CAST({cust} AS VARCHAR)) FILTER (WHERE {end} < {start}),
                   count(*) - count(DISTINCT {cust})
            FROM contracts_input
            """
        ).fetchall()[0]
        n_rows, null_cust, null_start, bad_start, bad_end, reversed_, rev_example, dupes = checks
        if n_rows == 0:
            raise InputError("contracts is empty", hint="pass at least one contract")
        problems = (
            (null_cust, f"column {customer_col!r} has {null_cust} missing customer ids"),
            (null_start, f"column {start_col!r} has {null_start} missing start dates"),
            (bad_start, f"column {start_col!r} has {bad_start} value(s) that are not dates"),
            (bad_end, f"column {end_col!r} has {bad_end} value(s) that are not dates"),
        )
        for count, message in problems:
            if count:
                raise InputError(
                    message, hint="fix or drop those rows (a missing end means still active)"
                )
        if reversed_:
            raise InputError(
                f"{reversed_} contract(s) end before they start (e.g. customer {rev_example})",
                hint="check the order of the start and end columns",
            )
        if dupes:
            raise InputError(
                f"{dupes} customer(s) have more than one contract row",
                hint="keep one contract per customer (e.g. the first), or give each contract "
                "its own id",
            )
        churned = f"({end} IS NOT NULL AND {end} <= $obs_end)"
        query = f"""
            SELECT {cust} AS customer, {start} AS start,
                   CASE WHEN {churned} THEN {_elapsed_sql(start, end, period)} + 1
                        ELSE {_elapsed_sql(start, "CAST($obs_end AS DATE)", period)}
                   END AS duration,
                   {churned} AS churned
            FROM contracts_input
            WHERE {start} <= $obs_end
            ORDER BY customer
        """
        result = con.sql(query, params={"obs_end": obs_end}).df()
    if result.empty:
        raise InputError(
            f"no contract starts on or before observation_end ({obs_end})",
            hint="choose a later observation_end",
        )
    result = result.set_index("customer")
    result.index.name = customer_col
    result["start"] = pd.to_datetime(result["start"]).dt.date
    result["duration"] = result["duration"].astype("int64")
    result["churned"] = result["churned"].astype(bool)
    logger.debug(
        "contract_durations: %d contracts, %d churned by %s (period=%s)",
        len(result),
        int(result["churned"].sum()),
        obs_end,
        period,
    )
    return result
