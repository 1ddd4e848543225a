"""The holdout check of the continuous purchase models: how well each forecasts.

BG/NBD and Pareto/NBD are fitted before a holdout at the end of the calibration period
(:func:`holdout_split`: the last :data:`HOLDOUT_SHARE` of it, in whole weeks, at least
:data:`MIN_HOLDOUT_WEEKS`) and each forecasts the cumulative weekly repeat transactions of the
holdout (:func:`_compare_on_holdout`), against the actual counts (:func:`_weekly_actual`);
:func:`_holdout_curve` is the table of one model's forecast, shared with the discrete and
contractual holdouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint.features._catalogue import date_literal, quote_ident
from segmint.features._value_fit import (
    DEFAULT_PURCHASE_MODEL,
    PURCHASE_MODELS,
    TIME_UNIT_DAYS,
    _unique_histories,
    _usable_purchase_model,
)
from segmint.features._value_shape import _purchase_filter
from segmint.features.clv import rfm_summary

#: Share of the calibration period held out to choose the purchase model.
HOLDOUT_SHARE = 0.25
#: Fewest whole weeks of holdout for the comparison to be made.
MIN_HOLDOUT_WEEKS = 2


def holdout_split(first_day: date, calibration_end: date) -> tuple[date, int] | None:
    """Where the holdout of the model choice starts: ``(last day fitted, weeks held out)``.

    The holdout is the last :data:`HOLDOUT_SHARE` of the days from ``first_day`` to
    ``calibration_end`` (inclusive), rounded to whole weeks; ``None`` when that is fewer than
    :data:`MIN_HOLDOUT_WEEKS` weeks.
    """
    days = (calibration_end - first_day).days + 1
    weeks = round(HOLDOUT_SHARE * days / TIME_UNIT_DAYS)
    if weeks < MIN_HOLDOUT_WEEKS:
        return None
    return calibration_end - timedelta(days=int(weeks * TIME_UNIT_DAYS)), weeks


def _weekly_actual(
    con: duckdb.DuckDBPyConnection,
    table: str,
    fit_end: date,
    calibration_end: date,
    weeks: int,
) -> np.ndarray:
    """Repeat purchase days per holdout week of the customers who bought by ``fit_end``.

    One purchase day per customer and date (as :func:`~segmint.features.clv.rfm_summary`
    counts); week k covers days ``fit_end + 7(k-1) + 1`` to ``fit_end + 7k``.
    """
    rows = con.execute(
        f"""
        WITH days AS (
            SELECT DISTINCT customer_id, CAST(order_date AS DATE) AS day
            FROM {quote_ident(table)}
            WHERE CAST(order_date AS DATE) <= {date_literal(calibration_end)}
                AND {_purchase_filter(con, table)}
        ),
        cohort AS (
            SELECT customer_id FROM days GROUP BY customer_id
            HAVING min(day) <= {date_literal(fit_end)}
        )
        SELECT CAST(ceil(date_diff('day', {date_literal(fit_end)}, day) / 7.0) AS INTEGER) AS wk,
               count(*) AS n
        FROM days JOIN cohort USING (customer_id)
        WHERE day > {date_literal(fit_end)}
        GROUP BY wk
        """
    ).fetchall()
    counts = np.zeros(weeks, dtype=np.int64)
    for week, n in rows:
        counts[int(week) - 1] = int(n)
    return counts


def _predicted_cumulative(model: Any, summary: pd.DataFrame, weeks: int) -> np.ndarray:
    """Expected cumulative repeat purchases of the cohort after 1, ..., ``weeks`` weeks."""
    (x, tx, T), counts = _unique_histories(
        *(summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    )
    with np.errstate(all="ignore"):
        return np.array(
            [
                float(counts @ np.asarray(model.expected_purchases(float(k), x, tx, T), float))
                for k in range(1, weeks + 1)
            ]
        )


def _holdout_curve(
    actual: np.ndarray,
    predicted_cumulative: np.ndarray,
    bounds: Sequence[tuple[date, date]],
    label: str,
) -> dict:
    """The holdout table of one model: per period and cumulative, actual and predicted.

    ``bounds`` gives the first and last day of each holdout period (a week, or one purchase
    occasion of a discrete log).
    """
    actual_cum = np.cumsum(actual)
    predicted = np.diff(predicted_cumulative, prepend=0.0)
    periods = [
        {
            "period": k + 1,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "actual": int(actual[k]),
            "predicted": float(predicted[k]),
            "actual_cumulative": int(actual_cum[k]),
            "predicted_cumulative": float(predicted_cumulative[k]),
        }
        for k, (start, end) in enumerate(bounds)
    ]
    return {
        "model": label,
        "periods": periods,
        "actual_total": int(actual_cum[-1]),
        "predicted_total": float(predicted_cumulative[-1]),
        "mae_cumulative": float(np.mean(np.abs(predicted_cumulative - actual_cum))),
    }


def _week_bounds(fit_end: date, weeks: int) -> list[tuple[date, date]]:
    return [
        (fit_end + timedelta(days=7 * k + 1), fit_end + timedelta(days=7 * (k + 1)))
        for k in range(weeks)
    ]


def _compare_on_holdout(
    con: duckdb.DuckDBPyConnection,
    table: str,
    purchases: Any,
    first_day: date,
    calibration_end: date,
    keys: Sequence[str],
) -> dict | None:
    """Fit the purchase models ``keys`` before the holdout and score their holdout curves.

    Returns ``None`` when the calibration period is too short for a holdout; otherwise the
    holdout's ``calibration_start``, ``fit_end``, ``end``, ``unit`` ("week"), ``n_periods``,
    ``n_customers`` and ``noise``, and ``candidates``: per model key the verdict of its fit and,
    when it is usable, its holdout ``curve``.
    """
    split = holdout_split(first_day, calibration_end)
    if split is None:
        return None
    fit_end, weeks = split
    summary = rfm_summary(purchases, calibration_end=fit_end, time_unit_days=TIME_UNIT_DAYS)
    actual = _weekly_actual(con, table, fit_end, calibration_end, weeks)
    noise = float(np.mean(np.sqrt(np.cumsum(actual))))
    candidates: dict[str, dict] = {}
    for key in keys:
        model_cls, label = PURCHASE_MODELS[key]
        default = candidates.get(DEFAULT_PURCHASE_MODEL, {}).get("curve")
        if default is not None and default["mae_cumulative"] <= noise:
            # another model can only be chosen if it beats the default by more than the noise
            candidates[key] = {
                "model": label,
                "converged": None,
                "reason": f"{label}: not fitted, since the holdout error of BG/NBD "
                f"({default['mae_cumulative']:.1f}) is already within the counting noise "
                f"({noise:.1f}) and no model could be chosen over it",
            }
            continue
        if int((summary["frequency"] > 0).sum()) == 0:
            candidates[key] = {
                "model": label,
                "converged": False,
                "reason": f"{label}: nobody bought twice before {fit_end + timedelta(days=1)}",
            }
            continue
        model, verdict = _usable_purchase_model(model_cls, summary, float(weeks))
        if model is not None:
            verdict["curve"] = _holdout_curve(
                actual,
                _predicted_cumulative(model, summary, weeks),
                _week_bounds(fit_end, weeks),
                label,
            )
        candidates[key] = verdict
    return {
        "calibration_start": first_day.isoformat(),
        "fit_end": fit_end.isoformat(),
        "end": calibration_end.isoformat(),
        "unit": "week",
        "n_periods": weeks,
        "n_customers": len(summary),
        "noise": noise,
        "candidates": candidates,
    }
