"""Contractual customers in the value basis: the shifted-beta-geometric (sBG) model.

When the customer table carries a contract start and a contract end column (the end empty for
contracts still running), customers leave at an observed date: the setting of the sBG model
(Fader & Hardie, 2007 [1]_), not of the purchase models of non-contractual logs. This module

* finds the contract columns (:func:`contract_columns`: the first of
  :data:`CONTRACT_START_COLUMNS` and of :data:`CONTRACT_END_COLUMNS`, start typed as a date);
* fits sBG on every contract started by the end of the calibration period
  (:func:`fit_contract_model`), with
  :func:`~segmint.features.clv.contract_durations` turning the dates into renewals made and
  churned-or-not, periods running from each customer's own start (``features.contract_period``,
  a month by default);
* checks the model on a holdout (:func:`_compare_contracts`): fitted on the contracts as they
  stood :data:`~segmint.features._value_holdout.HOLDOUT_SHARE` of the calibration span before
  its end, it forecasts how many of the contracts active then make each later renewal, against
  the actual renewals (a contract that ended in the holdout made the renewals before its end;
  one still running at the end of the calibration period made them all);
* scores each customer (:func:`contract_scores`). With k the renewals made, S the sBG survival
  function and H the horizon in periods (``round(horizon_weeks / period length)``, at least 1):

  - ``expected_purchases`` -- expected periods paid in the horizon, sum over j = 1..H of
    S(k + j) / S(k) (0 for an ended contract);
  - ``p_alive`` -- probability of making the next renewal, S(k + 1) / S(k) (0 for an ended
    contract);
  - ``expected_spend`` -- the customer's value per contract period: net value of their lines
    before the snapshot divided by the periods they paid (renewals made plus the first);
  - ``clv`` -- ``expected_spend`` times the renewals of the horizon discounted at the yearly
    rate, renewal j by j periods.

  Customers without a contract row get no score (missing: the scorer's fill applies, and the
  state counts them).

References
----------
.. [1] Fader, P. S. and Hardie, B. G. S. (2007). How to project customer retention. *Journal
   of Interactive Marketing*, 21(1), 76-90.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.features._catalogue import date_literal, find_column, quote_ident, table_columns
from segmint.features._value_fit import _fit
from segmint.features._value_holdout import HOLDOUT_SHARE, _holdout_curve
from segmint.features.clv import ShiftedBetaGeometricModel, contract_durations

__all__ = [
    "CONTRACT_END_COLUMNS",
    "CONTRACT_MODEL",
    "CONTRACT_PERIODS",
    "CONTRACT_START_COLUMNS",
    "contract_columns",
    "contract_scores",
    "fit_contract_model",
]

#: State key of the sBG model.
CONTRACT_MODEL = "sbg"
#: Customer-table columns taken as a contract's start (first found; case and ``_ -`` ignored).
CONTRACT_START_COLUMNS = (
    "contract_start",
    "contract_start_date",
    "subscription_start",
    "subscription_start_date",
    "subscribed_at",
    "start_date",
)
#: Customer-table columns taken as a contract's end: the last active day, empty while running.
CONTRACT_END_COLUMNS = (
    "contract_end",
    "contract_end_date",
    "subscription_end",
    "subscription_end_date",
    "cancelled_at",
    "canceled_at",
    "cancellation_date",
    "churn_date",
    "end_date",
)
#: ``features.contract_period`` values and their length in weeks.
CONTRACT_PERIODS = {"week": 1.0, "month": 52.0 / 12.0, "quarter": 13.0, "year": 52.0}
_OFFSETS = {"week": ("weeks", 1), "month": ("months", 1), "quarter": ("months", 3)}


def contract_columns(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str, str] | None:
    """The (start, end) contract columns of a customer table, or ``None`` if it has none.

    The start must be typed as a date or timestamp; the end as a date or timestamp, or be
    empty in every row (nobody has left yet).
    """
    cols = table_columns(con, table)
    start = find_column(cols, *CONTRACT_START_COLUMNS)
    end = find_column(cols, *CONTRACT_END_COLUMNS)
    if start is None or end is None or start == end:
        return None
    dated = ("DATE", "TIMESTAMP")
    if not cols[start].upper().startswith(dated):
        return None
    if not cols[end].upper().startswith(dated):
        filled = con.sql(f"SELECT count({quote_ident(end)}) FROM {quote_ident(table)}")
        if filled.fetchall()[0][0]:
            return None
    return start, end


def _shift(day: date, period: str, n: int) -> date:
    """``day`` moved by ``n`` contract periods (calendar months for month, quarter, year)."""
    if period == "year":
        return (pd.Timestamp(day) + pd.DateOffset(years=n)).date()
    unit, size = _OFFSETS[period]
    return (pd.Timestamp(day) + pd.DateOffset(**{unit: size * n})).date()


def _contracts(con: duckdb.DuckDBPyConnection, contracts: dict) -> Any:
    """The contract rows (customer_id, start_date, end_date) of the customer table."""
    start, end = quote_ident(contracts["start_column"]), quote_ident(contracts["end_column"])
    end_sql = end if contracts.get("end_is_date", True) else "CAST(NULL AS DATE)"
    return con.sql(
        f"SELECT customer_id, CAST({start} AS DATE) AS start_date, "
        f"CAST({end_sql} AS DATE) AS end_date FROM {quote_ident(contracts['table'])} "
        f"WHERE {start} IS NOT NULL"
    ).to_arrow_table()


def _durations(rows: Any, observation_end: date, period: str) -> pd.DataFrame | None:
    """:func:`contract_durations` as of ``observation_end``; ``None`` if no contract started."""
    if rows.num_rows == 0:
        return None
    try:
        return contract_durations(rows, observation_end=observation_end, period=period)
    except InputError as exc:
        if "no contract starts" in str(exc).lower():
            return None
        raise


def _renewals_made(d: pd.DataFrame) -> np.ndarray:
    """Renewals made: the duration of a running contract, one less for an ended one."""
    return d["duration"].to_numpy(dtype=np.int64) - d["churned"].to_numpy(dtype=np.int64)


def _ratios(model: Any, k: np.ndarray, horizon: int) -> np.ndarray:
    """S(k + j) / S(k) for j = 1..horizon, shape (len(k), horizon), on unique k."""
    uniq, inverse = np.unique(k, return_inverse=True)
    steps = np.arange(1, horizon + 1)
    base = np.asarray(model.survival_function(uniq), dtype=float)
    ahead = np.asarray(model.survival_function((uniq[:, None] + steps).ravel()), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        table = ahead.reshape(len(uniq), horizon) / base[:, None]
    return table[inverse]


def _compare_contracts(rows: Any, first_day: date, cal_end: date, period: str) -> dict | None:
    """sBG fitted on the contracts as of the holdout start, scored on the renewals after it."""
    span = 0
    while _shift(first_day, period, span + 1) <= cal_end:
        span += 1
    n_hold = max(1, round(HOLDOUT_SHARE * span))
    if span - n_hold < 2:
        return None
    fit_end = _shift(cal_end, period, -n_hold)
    before = _durations(rows, fit_end, period)
    if before is None:
        return None
    model, verdict = _fit(
        ShiftedBetaGeometricModel, before["duration"].to_numpy(), before["churned"].to_numpy()
    )
    active = before[~before["churned"]]
    final = _durations(rows, cal_end, period).reindex(active.index)
    k = active["duration"].to_numpy(dtype=np.int64)
    made = np.where(final["churned"], _renewals_made(final), np.iinfo(np.int64).max)
    steps = np.arange(1, n_hold + 1)
    actual = (made[:, None] >= k[:, None] + steps).sum(axis=0).astype(np.int64)
    noise = float(np.mean(np.sqrt(np.cumsum(actual))))
    if model is not None and verdict["converged"]:
        predicted = np.nan_to_num(_ratios(model, k, n_hold)).sum(axis=0)
        bounds = [
            (_shift(fit_end, period, j - 1) + timedelta(days=1), _shift(fit_end, period, j))
            for j in steps
        ]
        verdict["curve"] = _holdout_curve(actual, np.cumsum(predicted), bounds, "sBG")
    return {
        "calibration_start": first_day.isoformat(),
        "fit_end": fit_end.isoformat(),
        "end": cal_end.isoformat(),
        "unit": period,
        "quantity": "renewals",
        "n_periods": n_hold,
        "n_customers": len(active),
        "noise": noise,
        "candidates": {CONTRACT_MODEL: verdict},
    }


def fit_contract_model(
    con: duckdb.DuckDBPyConnection, contracts: dict, state: dict, horizon_weeks: float
) -> tuple[dict | None, str, str]:
    """Fit sBG on the contracts started by the end of the calibration period, into ``state``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the customer table.
    contracts : dict
        ``table``, ``start_column``, ``end_column``, ``end_is_date`` and ``period`` (a key of
        :data:`CONTRACT_PERIODS`); recorded as ``state["contracts"]`` with the counts.
    state : dict
        The value state of :func:`segmint.features._value.fit_value_models`
        (``calibration_end`` set); ``purchase_model``, ``sbg``, ``contracts`` and
        ``fits["purchase"]`` are filled in.
    horizon_weeks : float
        Horizon of ``expected_purchases`` and ``clv``, turned into whole periods.

    Returns
    -------
    comparison, chosen, why : dict or None, str, str
        The holdout comparison (``None`` when the span is too short), ``"sbg"`` and the reason
        in words.
    """
    period = contracts["period"]
    cal_end = date.fromisoformat(state["calibration_end"])
    rows = _contracts(con, contracts)
    durations = _durations(rows, cal_end, period)
    n_future = max(1, round(horizon_weeks / CONTRACT_PERIODS[period]))
    record = dict(contracts, n_future=n_future, n_contracts=0, n_ended=0)
    state["contracts"] = record
    what = (
        f"The customer table has contract dates ({contracts['start_column']}, "
        f"{contracts['end_column']}): sBG, the model of contractual retention, is used, with "
        f"{period}ly renewals (the {horizon_weeks:g}-week horizon is {n_future} "
        f"period{'s' if n_future != 1 else ''})."
    )
    if durations is None:
        purchase = {
            "model": "sBG",
            "converged": False,
            "reason": f"sBG: no contract starts before {cal_end + timedelta(days=1)}",
        }
        comparison = None
    else:
        record.update(n_contracts=len(durations), n_ended=int(durations["churned"].sum()))
        first_day = min(durations["start"])
        comparison = _compare_contracts(rows, first_day, cal_end, period)
        model, purchase = _fit(
            ShiftedBetaGeometricModel,
            durations["duration"].to_numpy(),
            durations["churned"].to_numpy(),
        )
        if model is not None and purchase["converged"]:
            state["purchase_model"] = CONTRACT_MODEL
            state[CONTRACT_MODEL] = model.to_dict()
            what += (
                f" {record['n_ended']:,} of {record['n_contracts']:,} contracts had ended by "
                f"{cal_end}."
            )
    purchase["fallback"] = None
    if state["purchase_model"] is None:
        what += " sBG is not usable on these contracts."
        purchase["fallback"] = (
            "expected_purchases, p_alive, expected_spend and clv left out; recency, frequency, "
            "monetary and avg_order_value describe the history"
        )
        logger.warning("value basis: %s; %s", purchase["reason"], purchase["fallback"])
    state.setdefault("fits", {})["purchase"] = purchase
    return comparison, CONTRACT_MODEL, what


def _value_per_period(
    con: duckdb.DuckDBPyConnection, table: str, snapshot: date, paid: pd.Series
) -> np.ndarray:
    """Net value of each customer's lines before ``snapshot`` per period paid (0 if none)."""
    net = con.sql(
        f"SELECT customer_id, CAST(sum(CAST(amount AS DECIMAL(38, 10))) AS DOUBLE) AS net "
        f"FROM {quote_ident(table)} WHERE order_date < {date_literal(snapshot)} "
        "GROUP BY customer_id"
    ).df()
    value = net.set_index("customer_id")["net"].reindex(paid.index).fillna(0.0)
    return value.to_numpy(dtype=float) / paid.to_numpy(dtype=float)


def contract_scores(
    con: duckdb.DuckDBPyConnection, table: str, snapshot: date, state: dict, index: pd.Index
) -> pd.DataFrame:
    """The sBG scores of the customers ``index`` (see the module docstring), as of ``snapshot``.

    Returns a frame indexed like ``index`` with ``expected_purchases``, ``p_alive``,
    ``expected_spend`` and ``clv``; customers without a contract row are missing.
    """
    contracts = state["contracts"]
    period = contracts["period"]
    cal_end = snapshot - timedelta(days=1)
    model = ShiftedBetaGeometricModel.from_dict(state[CONTRACT_MODEL])
    columns = ["expected_purchases", "p_alive", "expected_spend", "clv"]
    durations = _durations(_contracts(con, contracts), cal_end, period)
    if durations is None:
        return pd.DataFrame(np.nan, index=index, columns=columns)
    ended = durations["churned"].to_numpy(dtype=bool)
    k = _renewals_made(durations)
    horizon = int(contracts["n_future"])
    ratios = np.where(ended[:, None], 0.0, np.nan_to_num(_ratios(model, k, horizon)))
    years = CONTRACT_PERIODS[period] / 52.0
    per_period = (1.0 + state["annual_discount_rate"]) ** years - 1.0
    discount = (1.0 + per_period) ** -np.arange(1, horizon + 1, dtype=float)
    paid = pd.Series(np.where(ended, durations["duration"], k + 1), index=durations.index)
    spend = _value_per_period(con, table, snapshot, paid)
    scores = pd.DataFrame(
        {
            "expected_purchases": ratios.sum(axis=1),
            "p_alive": ratios[:, 0],
            "expected_spend": spend,
            "clv": spend * (ratios @ discount),
        },
        index=durations.index,
    )
    missing = int((~index.isin(scores.index)).sum())
    if missing:
        logger.warning(
            "value basis: %d customer(s) have no contract row: their sBG scores are missing",
            missing,
        )
    return scores.reindex(index)
