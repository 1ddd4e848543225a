"""The RFM summary of a transaction log: frequency, recency, T and monetary value per customer.

:func:`rfm_summary` computes, with one DuckDB SQL query, the per-customer summary that the
probability models of :mod:`segmint.features.clv` are fitted on, following the conventions of
Fader, Hardie & Lee (2005) and of ``lifetimes``; the DuckDB and date helpers it shares with the
other summaries are in ``_sql``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.features.clv._inputs import _is_real
from segmint.features.clv._sql import _day_sql, _input_table, _quote_ident, _to_date

__all__ = ["rfm_summary"]

_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "DECIMAL",
)


def rfm_summary(
    transactions: Any,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
    calibration_end: Any,
    observation_end: Any = None,
    time_unit_days: float = 7.0,
) -> pd.DataFrame:
    """Summarise a transaction log into per-customer frequency, recency, T and monetary value.

    The summary follows the conventions of Fader, Hardie & Lee [1]_ [2]_ (and of the
    ``lifetimes`` package's ``summary_data_from_transaction_data`` /
    ``calibration_and_holdout_data``):

    * all transactions of one customer on the same calendar day form **one** transaction whose
      value is the sum of the day's amounts;
    * the first transaction day is the customer's "birth" and is not a repeat transaction;
    * ``frequency`` (x) is the number of repeat transaction days in the calibration period
      (up to and including ``calibration_end``);
    * ``recency`` (t_x) is the time from the first to the last transaction day in the
      calibration period (0 when ``frequency`` is 0);
    * ``T`` is the time from the first transaction day to ``calibration_end``;
    * ``monetary_value`` is the mean value of the repeat transaction days in the calibration
      period (the first purchase is excluded), 0 when ``frequency`` is 0;
    * with ``observation_end``: ``frequency_holdout`` is the number of transaction days after
      ``calibration_end`` up to and including ``observation_end``, ``monetary_value_holdout``
      their mean value (0 if none) and ``duration_holdout`` the length of the holdout period.

    Times are measured in whole days and divided by ``time_unit_days`` (7 gives weeks). Only
    customers whose first purchase is on or before ``calibration_end`` are returned.
    Transactions after ``observation_end`` (or after ``calibration_end`` when no
    ``observation_end`` is given) are ignored.

    The work is done by one DuckDB SQL query on the input registered on a fresh in-memory
    connection.

    Parameters
    ----------
    transactions : pandas.DataFrame or pyarrow.Table
        One row per transaction (order line, receipt, ...).
    customer_col, date_col, amount_col : str
        Names of the customer id, transaction date and transaction value columns. Dates may be
        dates, naive timestamps (time of day is dropped) or ISO strings; time-zone-aware
        timestamps are converted to UTC calendar dates, so convert them to local naive
        timestamps first if local days matter.
    calibration_end : date-like
        Last day (inclusive) of the calibration period.
    observation_end : date-like, optional
        Last day (inclusive) of the holdout period; must be after ``calibration_end``.
    time_unit_days : float, default 7.0
        Length of one time unit in days.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), with columns ``frequency`` (int), ``recency``, ``T``,
        ``monetary_value`` and, when ``observation_end`` is given, ``frequency_holdout`` (int),
        ``monetary_value_holdout`` and ``duration_holdout``.

    Raises
    ------
    InputError
        If a column is missing or has an unusable type or missing values, if
        ``observation_end`` is not after ``calibration_end``, or if no customer made a first
        purchase on or before ``calibration_end``.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. *Marketing Science*, 24(2), 275-284.
    .. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
    """
    if not (_is_real(time_unit_days) and time_unit_days > 0):
        raise InputError(
            f"time_unit_days must be a positive number, got {time_unit_days!r}",
            hint="use 1 for days, 7 for weeks, 365.25/12 for months",
        )
    cal_end = _to_date(calibration_end, "calibration_end")
    obs_end = None if observation_end is None else _to_date(observation_end, "observation_end")
    if obs_end is not None and obs_end <= cal_end:
        raise InputError(
            f"observation_end ({obs_end}) must be after calibration_end ({cal_end})",
            hint="the holdout period runs from the day after calibration_end to observation_end",
        )

    columns = {"customer_col": customer_col, "date_col": date_col, "amount_col": amount_col}
    with _input_table(
        transactions,
        table="transactions_input",
        what="transactions",
        columns=columns,
        caller="rfm_summary",
    ) as (con, schema):
        amount_type = schema[amount_col].split("(")[0]
        if amount_type not in _NUMERIC_TYPES:
            raise InputError(
                f"amount column {amount_col!r} has type {schema[amount_col]}, not a number",
                hint="convert it to a numeric type (e.g. pandas.to_numeric)",
            )
        day_expr = _day_sql(
            date_col,
            schema[date_col],
            hint="convert it to dates first, e.g. pandas.to_datetime(df[col], "
            "format='%Y%m%d') for YYYYMMDD integers",
        )
        cust, date, amount = (_quote_ident(c) for c in (customer_col, date_col, amount_col))
        checks = con.sql(
            f"""
            SELECT
                count(*) AS n_rows,
                count(*) FILTER (WHERE {cust} IS NULL) AS null_customer,
                count(*) FILTER (WHERE {date} IS NULL) AS null_date,
                count(*) FILTER (WHERE {date} IS NOT NULL AND {day_expr} IS NULL) AS bad_date,
                any_value(CAST({date} AS VARCHAR))
                    FILTER (WHERE {date} IS NOT NULL AND {day_expr} IS NULL) AS bad_example,
                count(*) FILTER (WHERE {amount} IS NULL OR NOT isfinite(CAST({amount} AS DOUBLE)))
                    AS bad_amount,
                min({day_expr}) AS first_day
            FROM transactions_input
            """
        ).fetchall()[0]
        n_rows, null_customer, null_date, bad_date, bad_example, bad_amount, first_day = checks
        if n_rows == 0:
            raise InputError("transactions is empty", hint="pass at least one transaction")
        for count, col, what in (
            (null_customer, customer_col, "missing customer ids"),
            (null_date, date_col, "missing dates"),
            (bad_amount, amount_col, "missing or non-finite amounts"),
        ):
            if count:
                raise InputError(
                    f"column {col!r} has {count} {what}",
                    hint="drop or fill those rows before computing the RFM summary",
                )
        if bad_date:
            raise InputError(
                f"column {date_col!r} has {bad_date} value(s) that are not dates "
                f"(e.g. {bad_example!r})",
                hint="use ISO dates such as '1997-01-31' or convert with pandas.to_datetime",
            )
        if first_day > cal_end:
            raise InputError(
                f"calibration_end ({cal_end}) is before the first transaction ({first_day}); "
                "no customer has a purchase in the calibration period",
                hint="choose a calibration_end after the start of the data",
            )

        horizon_end = obs_end if obs_end is not None else cal_end
        holdout_cols = ""
        if obs_end is not None:
            holdout_cols = """,
                count(*) FILTER (WHERE d.day > $cal_end) AS frequency_holdout,
                coalesce(avg(d.amount) FILTER (WHERE d.day > $cal_end), 0.0)
                    AS monetary_value_holdout,
                date_diff('day', $cal_end, $horizon_end) / $unit AS duration_holdout"""
        query = f"""
            WITH daily AS (
                SELECT {cust} AS customer, {day_expr} AS day,
                       -- exact sums: a parallel float sum differs in its last bits from
                       -- run to run, and the fits downstream would follow it
                       sum(CAST({amount} AS DECIMAL(38, 10))) AS amount
                FROM transactions_input
                WHERE {day_expr} <= $horizon_end
                GROUP BY ALL
            ),
            births AS (
                SELECT customer, min(day) AS first_day
                FROM daily
                GROUP BY customer
                HAVING min(day) <= $cal_end
            )
            SELECT
                b.customer AS customer,
                count(*) FILTER (WHERE d.day > b.first_day AND d.day <= $cal_end) AS frequency,
                date_diff('day', b.first_day, max(d.day) FILTER (WHERE d.day <= $cal_end))
                    / $unit AS recency,
                date_diff('day', b.first_day, $cal_end) / $unit AS "T",
                coalesce(
                    avg(d.amount) FILTER (WHERE d.day > b.first_day AND d.day <= $cal_end), 0.0
                ) AS monetary_value{holdout_cols}
            FROM births AS b
            JOIN daily AS d USING (customer)
            GROUP BY b.customer, b.first_day
            ORDER BY b.customer
        """
        result = con.sql(
            query,
            params={
                "cal_end": cal_end,
                "horizon_end": horizon_end,
                "unit": float(time_unit_days),
            },
        ).df()

    result = result.set_index("customer")
    result.index.name = customer_col
    result["frequency"] = result["frequency"].astype("int64")
    for col in ("recency", "T", "monetary_value"):
        result[col] = result[col].astype("float64")
    if obs_end is not None:
        result["frequency_holdout"] = result["frequency_holdout"].astype("int64")
        result["monetary_value_holdout"] = result["monetary_value_holdout"].astype("float64")
        result["duration_holdout"] = result["duration_holdout"].astype("float64")
    logger.debug(
        "rfm_summary: %d customers, %d repeat buyers (calibration_end=%s, observation_end=%s)",
        len(result),
        int((result["frequency"] > 0).sum()),
        cal_end,
        obs_end,
    )
    return result
