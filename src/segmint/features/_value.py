"""Value-based features: what customers are worth, now and over a horizon.

Revenue (``monetary``), average order value and, when the log has a cost or margin column, margin
and margin rate come from the transaction block (:mod:`segmint.features._behavioural`). The
forward-looking values come from the probability models of :mod:`segmint.features.clv`, fitted
on the purchases before the snapshot (calibration period ending the day before it, in weeks):

* ``expected_purchases`` -- conditional expected orders over the horizon (purchase model);
* ``p_alive`` -- probability that the customer is still active (purchase model);
* ``expected_spend`` -- Gamma-Gamma conditional expected value of an order;
* ``clv`` -- expected discounted value over the horizon
  (:func:`~segmint.features.clv.customer_lifetime_value`, monthly discounting steps).

Returns (negative lines) are left out of the purchase process: a credit note is not a purchase.
The fitted parameters, horizon and discount rate are stored in the feature spec; scoring with a
saved spec reuses them (no refit). The scores are written to a DuckDB table that the catalogue's
SQL reads, so the rest of the feature query stays SQL.

Which purchase model
--------------------
:func:`detect_data_shape` first says what kind of log this is (the routing hook):

* **contractual** -- the transaction table has a contract-end column (one of
  :data:`CONTRACT_END_COLUMNS`): customers leave at an observed date, the setting of the
  shifted-beta-geometric (sBG) model;
* **discrete** -- purchases happen on a few shared occasions (a yearly appeal, a monthly
  mailing): at least two purchase dates, on at most :data:`DISCRETE_MAX_DATE_SHARE` of the days
  of the calibration period (one a week), with on average at least
  :data:`DISCRETE_MIN_BUYERS_PER_DATE` buyers per date, and no customer with two orders on one
  date -- the setting of the BG/BB model (Fader, Hardie & Shang, 2010);
* **continuous** -- anything else: purchases at any time, BG/NBD or Pareto/NBD.

A discrete log (with ``clv_model: auto``) is fitted with BG/BB: the occasions are its distinct
purchase dates, ``expected_purchases`` counts the next ``round(horizon / median spacing)``
occasions (at least one), ``p_alive`` is P(alive at the last occasion), ``clv`` discounts each
occasion's expected purchases at its distance in weeks, and the holdout check holds out the last
:data:`HOLDOUT_SHARE` of the occasions (at least one, two left to fit). A contractual log would
go to sBG (:class:`~segmint.features.clv._sbg.ShiftedBetaGeometricModel`), which needs contract
start and end dates; the loaded transaction table does not carry them, so such logs get the
continuous-time models and the state says so (``data_shape.note``).

For continuous-time logs ``clv_model`` (``features.clv_model`` in ``segmint.yaml``) is ``"bgnbd"``,
``"pareto"`` or ``"auto"`` (default). With ``"auto"`` the model is chosen by a holdout check:

1. the last :data:`HOLDOUT_SHARE` of the calibration period (from the first purchase to the day
   before the snapshot), in whole weeks and at least :data:`MIN_HOLDOUT_WEEKS`, is held out;
2. BG/NBD and Pareto/NBD are fitted on the customers who bought before the holdout, on their
   purchases before it;
3. each forecasts the cumulative repeat transactions of those customers in every holdout week
   (sum of the conditional expectations, as in Figure 2 of Fader, Hardie & Lee, 2005) and is
   scored by the mean absolute error (MAE) of that curve against the actual counts;
4. Pareto/NBD is chosen only if it converged and its MAE is lower than BG/NBD's by more than the
   counting noise of the holdout -- the mean over the weeks of sqrt(actual cumulative count),
   the Poisson standard error of the counts (a lower bound: purchase counts are over-dispersed).
   Otherwise BG/NBD, the simpler model with a closed-form likelihood, is kept (it is also the
   model when the period is too short for a holdout);
5. the chosen model is refitted on the whole calibration period.

The criterion values, the choice and its reason, and the chosen model's weekly holdout curve
(predicted and actual, with totals) are recorded in the state (``selection`` and ``holdout``).
With ``"bgnbd"`` or ``"pareto"`` the named model is used and its holdout curve is recorded too.

When a model is unusable
------------------------
A fit is *usable* when it did not raise, converged (``converged_``; the models explain a failure in
``convergence_reason_``) and gives finite predictions for every customer. Otherwise:

* purchase model -- with ``"auto"`` the other continuous model is tried on the whole calibration
  period; if none is usable, ``expected_purchases``, ``p_alive`` and ``clv`` are **left out**
  (no historical stand-in: recency, frequency, ``monetary`` and ``avg_order_value`` already carry
  the history);
* Gamma-Gamma -- ``expected_spend`` becomes the customer's **historical mean value per purchase
  day** (all purchase days before the snapshot, the first included) and ``clv`` values the
  expected purchases at it. This is the limit Gamma-Gamma itself reaches when spend does not
  vary within customers (p -> infinity), its most common way of failing. A *converged* fit with
  ``q <= 1`` (spend too heterogeneous for the population mean to exist) leaves ``expected_spend``
  and ``clv`` out, as before.

Each model's outcome is in ``state["fits"]`` as ``{"model", "converged", "reason", "fallback"}``,
a warning is logged, and the run goes on; no NaN or infinite value enters the features.
:func:`score_value` applies a saved state exactly as the fit decided.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.features._catalogue import (
    Block,
    Feature,
    PlanContext,
    date_literal,
    quote_ident,
    table_columns,
)
from segmint.features.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    clv_report,
    customer_lifetime_value,
    rfm_summary,
)

SCORES_TABLE = "_segmint_clv_scores"
TIME_UNIT_DAYS = 7.0
CLV_COLUMNS = ("expected_purchases", "p_alive", "expected_spend", "clv")

#: Purchase models: state key -> (class, label). The state key names the fitted model's state.
PURCHASE_MODELS: dict[str, tuple[type, str]] = {
    "bgnbd": (BetaGeoModel, "BG/NBD"),
    "pareto_nbd": (ParetoNBDModel, "Pareto/NBD"),
}
#: ``features.clv_model`` values and the purchase model each names (``auto``: chosen from data).
CLV_MODEL_SETTINGS = {"auto": None, "bgnbd": "bgnbd", "pareto": "pareto_nbd"}
DEFAULT_PURCHASE_MODEL = "bgnbd"
#: Share of the calibration period held out to choose the purchase model.
HOLDOUT_SHARE = 0.25
#: Fewest whole weeks of holdout for the comparison to be made.
MIN_HOLDOUT_WEEKS = 2
#: Discrete-occasion rule: purchase dates on at most this share of the calendar days (one a week)
DISCRETE_MAX_DATE_SHARE = 1.0 / 7.0
#: ... and on average at least this many buyers on each purchase date.
DISCRETE_MIN_BUYERS_PER_DATE = 5.0
#: State key of the BG/BB model (discrete purchase occasions).
DISCRETE_MODEL = "bgbb"
#: Columns of the transaction table that mark contractual data (a contract's end date).
CONTRACT_END_COLUMNS = ("contract_end", "contract_end_date", "cancelled_at", "churn_date")
CRITERION = "mean absolute error of the cumulative weekly repeat transactions over the holdout"
#: ``spend_fallback`` of a state whose Gamma-Gamma fit is unusable: the historical mean spend.
HISTORICAL_SPEND = "historical_mean"


def _purchase_filter(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SQL true for a purchase line: not ``is_return`` where the loader marked returns (an
    invoice-line log), else a non-negative amount (returns are stored negative)."""
    return "NOT is_return" if "is_return" in table_columns(con, table) else "amount >= 0"


def _purchases(con: duckdb.DuckDBPyConnection, table: str, snapshot: date) -> Any:
    return con.sql(
        f"SELECT customer_id, CAST(order_date AS DATE) AS date, CAST(amount AS DOUBLE) AS amount "
        f"FROM {quote_ident(table)} "
        f"WHERE order_date < {date_literal(snapshot)} AND {_purchase_filter(con, table)}"
    ).to_arrow_table()


def _historical_spend(con: duckdb.DuckDBPyConnection, table: str, snapshot: date) -> pd.Series:
    """Each customer's mean value per purchase day before ``snapshot`` (exact decimal sums)."""
    frame = con.sql(
        f"""
        WITH days AS (
            SELECT customer_id, CAST(order_date AS DATE) AS day,
                   sum(CAST(amount AS DECIMAL(38, 10))) AS value
            FROM {quote_ident(table)}
            WHERE order_date < {date_literal(snapshot)} AND {_purchase_filter(con, table)}
            GROUP BY ALL
        )
        SELECT customer_id, CAST(avg(value) AS DOUBLE) AS spend FROM days GROUP BY customer_id
        """
    ).df()
    return frame.set_index("customer_id")["spend"]


class _HistoricalSpend:
    """Stands in for a Gamma-Gamma model in :func:`customer_lifetime_value`: the spend given."""

    @staticmethod
    def conditional_expected_spend(frequency: Any, monetary_value: Any) -> np.ndarray:
        return np.asarray(monetary_value, dtype=np.float64)


def _safe(value: Any) -> Any:
    """JSON-safe copy: numpy scalars as Python values, NaN and infinity as ``None``."""
    if isinstance(value, Mapping):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_safe(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


# --------------------------------------------------------------------------------------------
# Fitting with a verdict
# --------------------------------------------------------------------------------------------


def _label(model_cls: type) -> str:
    return next((lab for cls, lab in PURCHASE_MODELS.values() if cls is model_cls), "Gamma-Gamma")


def _fit(model_cls: type, *columns: Any) -> tuple[Any | None, dict]:
    """Fit ``model_cls`` on ``columns``; returns the model (``None`` if it raised) and a verdict.

    The verdict is ``{"model", "converged", "reason", "std_errors", "log_likelihood",
    "n_customers", "params"}``: ``converged`` is the model's own flag (``converged_``) and
    ``reason`` its explanation (``convergence_reason_``), or the error the fit raised.
    """
    label = _label(model_cls)
    try:
        with np.errstate(all="ignore"):
            model = model_cls().fit(*columns)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        reason = f"{label}: the fit failed ({str(exc).splitlines()[0]})"
        return None, {"model": label, "converged": False, "reason": reason}
    converged = bool(getattr(model, "converged_", True))
    reason = getattr(model, "convergence_reason_", None)
    if not converged and not reason:
        reason = f"{label}: the optimiser did not converge"
    std = getattr(model, "std_errors_", None) or {}
    verdict = {
        "model": label,
        "converged": converged,
        "reason": None if converged else str(reason),
        "params": dict(model.params_),
        "std_errors": {k: std.get(k) for k in model.params_} if std else None,
        "log_likelihood": float(model.log_likelihood_),
        "n_customers": int(model.n_customers_),
    }
    return model, _safe(verdict)


def _unique_histories(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct customer histories and how many customers share each."""
    rows, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return [rows[:, i] for i in range(rows.shape[1])], counts.astype(np.float64)


def _usable_purchase_model(
    model_cls: type, summary: pd.DataFrame, horizon: float
) -> tuple[Any | None, dict]:
    """Fit a purchase model on a calibration summary and check it can be used for scoring."""
    x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    model, verdict = _fit(model_cls, x, tx, T)
    if model is None or not verdict["converged"]:
        return None, verdict
    (ux, utx, uT), counts = _unique_histories(x, tx, T)
    with np.errstate(all="ignore"):
        checks = np.concatenate(
            [
                np.asarray(model.probability_alive(ux, utx, uT), dtype=float),
                np.asarray(model.expected_purchases(horizon, ux, utx, uT), dtype=float),
            ]
        )
    bad = ~np.isfinite(checks)
    if bad.any():
        n_bad = int(np.tile(counts, 2)[bad].sum())
        verdict["converged"] = False
        verdict["reason"] = (
            f"{verdict['model']}: the fit converged but gives non-finite predictions for "
            f"{n_bad:,} customer histories"
        )
        return None, verdict
    return model, verdict


# --------------------------------------------------------------------------------------------
# Data shape (routing hook) and holdout comparison
# --------------------------------------------------------------------------------------------


def detect_data_shape(
    con: duckdb.DuckDBPyConnection, table: str, snapshot: date, first_day: date
) -> dict:
    """Say whether the log is continuous-time, discrete-opportunity or contractual.

    The rules are those of the module docstring (:data:`CONTRACT_END_COLUMNS`,
    :data:`DISCRETE_MAX_DATE_SHARE`, :data:`DISCRETE_MIN_BUYERS_PER_DATE`). This is the routing
    hook: a discrete log goes to BG/BB (:func:`_fit_discrete_purchase_model`); a contractual one
    would go to sBG, which needs contract dates the transaction table does not carry, so it gets
    the continuous-time models and ``note`` says so.

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
    per_order = "count(DISTINCT order_id)" if "order_id" in cols else "1"
    n_dates, n_buyer_days, max_orders = con.execute(
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
            "sBG, the model of contractual churn, needs contract start and end dates, which the "
            "transaction table does not carry: the continuous-time models were used"
        )
    return {
        "shape": shape,
        "rule": rule,
        "evidence": evidence,
        "model_family": "discrete" if shape == "discrete" else "continuous",
        "note": note,
    }


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


def _choose(comparison: dict | None, requested: str, calibration_days: int) -> tuple[str, str]:
    """The purchase model to fit on the whole calibration period, and why (``auto`` mode)."""
    default_label = PURCHASE_MODELS[DEFAULT_PURCHASE_MODEL][1]
    fixed = CLV_MODEL_SETTINGS[requested]
    if fixed is not None:
        return fixed, f"{PURCHASE_MODELS[fixed][1]}, as set in features.clv_model."
    if comparison is None:
        return DEFAULT_PURCHASE_MODEL, (
            f"The calibration period ({calibration_days} days) is too short to hold out "
            f"{MIN_HOLDOUT_WEEKS} weeks: {default_label}, the default, is used without a "
            "holdout comparison."
        )
    weeks = comparison["n_periods"]
    cand = comparison["candidates"]
    fitted = {k: c for k, c in cand.items() if "curve" in c}
    if not fitted:
        return DEFAULT_PURCHASE_MODEL, (
            f"No model could be fitted on the calibration period before the {weeks}-week "
            f"holdout: {default_label}, the default, is fitted on the whole calibration period."
        )
    if len(fitted) == 1:
        (key,) = fitted
        other = next(c for k, c in cand.items() if k != key)
        return key, f"{other['reason']}; {PURCHASE_MODELS[key][1]} is used."
    bg, pnbd = (
        fitted["bgnbd"]["curve"]["mae_cumulative"],
        fitted["pareto_nbd"]["curve"]["mae_cumulative"],
    )
    noise = comparison["noise"]
    values = (
        f"mean absolute error of the cumulative weekly repeat transactions {bg:.1f} for BG/NBD, "
        f"{pnbd:.1f} for Pareto/NBD"
    )
    if bg - pnbd > noise:
        return "pareto_nbd", (
            f"Pareto/NBD forecasts the {weeks}-week holdout better than BG/NBD ({values}); the "
            f"difference, {bg - pnbd:.1f}, exceeds the counting noise of the holdout ({noise:.1f})."
        )
    if pnbd - bg > noise:
        verdict = f"BG/NBD forecasts the {weeks}-week holdout better than Pareto/NBD ({values})."
    else:
        verdict = (
            f"BG/NBD and Pareto/NBD forecast the {weeks}-week holdout about equally well "
            f"({values}): the difference, {abs(bg - pnbd):.1f}, is within the counting noise of "
            f"the holdout ({noise:.1f}), so BG/NBD, the simpler model, is kept."
        )
    return "bgnbd", verdict


# --------------------------------------------------------------------------------------------
# Discrete purchase occasions: BG/BB
# --------------------------------------------------------------------------------------------


def _bgbb() -> tuple[type, Any]:
    """The BG/BB model class and its summary function (imported when a log is discrete)."""
    from segmint.features.clv._bgbb import BetaGeoBetaBinomModel, bgbb_summary

    return BetaGeoBetaBinomModel, bgbb_summary


def _occasions(purchases: Any) -> list[date]:
    """The purchase occasions of a discrete log: its distinct purchase dates, in order."""
    days = pd.to_datetime(pd.Series(purchases.column("date").to_pandas())).dt.date
    return sorted(set(days))


def _occasion_spacing_weeks(occasions: Sequence[date]) -> float:
    """Median number of weeks between consecutive occasions."""
    gaps = np.diff(np.array([d.toordinal() for d in occasions], dtype=float))
    return float(np.median(gaps)) / TIME_UNIT_DAYS


def _bgbb_histories(purchases: Any, occasions: Sequence[date], end: date) -> pd.DataFrame:
    """(x, t_x, n) per customer born by ``end``, over the occasions up to ``end``."""
    _, summary = _bgbb()
    return summary(purchases, opportunities=list(occasions), calibration_end=end)


def _bgbb_expected(model: Any, hist: pd.DataFrame, k: float) -> np.ndarray:
    cols = (hist[c].to_numpy(dtype=float) for c in ("frequency", "recency", "n_opportunities"))
    return np.asarray(model.expected_purchases(k, *cols), dtype=float)


def _usable_bgbb(hist: pd.DataFrame, n_future: int) -> tuple[Any | None, dict]:
    """Fit BG/BB on (x, t_x, n) histories and check its predictions are finite."""
    model_cls, _ = _bgbb()
    cols = [hist[c].to_numpy(dtype=float) for c in ("frequency", "recency", "n_opportunities")]
    model, verdict = _fit(model_cls, *cols)
    verdict["model"] = "BG/BB"
    if model is None or not verdict["converged"]:
        if verdict["reason"] and not verdict["reason"].startswith("BG/BB"):
            verdict["reason"] = "BG/BB: " + verdict["reason"].split(": ", 1)[-1]
        return None, verdict
    with np.errstate(all="ignore"):
        checks = np.concatenate(
            [
                np.asarray(model.probability_alive(*cols, 0), dtype=float),
                _bgbb_expected(model, hist, n_future),
            ]
        )
    if not np.isfinite(checks).all():
        verdict["converged"] = False
        verdict["reason"] = "BG/BB: the fit converged but gives non-finite predictions"
        return None, verdict
    return model, verdict


def _compare_discrete(purchases: Any, occasions: Sequence[date], end: date) -> dict | None:
    """BG/BB fitted before the last :data:`HOLDOUT_SHARE` of the occasions, scored on them."""
    n_hold = max(1, round(HOLDOUT_SHARE * len(occasions)))
    if len(occasions) - n_hold < 2:
        return None
    held = list(occasions[-n_hold:])
    fit_end = held[0] - timedelta(days=1)
    hist = _bgbb_histories(purchases, occasions[:-n_hold], fit_end)
    frame = purchases.select(["customer_id", "date"]).to_pandas()
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    born = frame.groupby("customer_id")["date"].transform("min") <= fit_end
    later = frame[born].drop_duplicates(["customer_id", "date"])
    actual = later["date"].value_counts().reindex(held, fill_value=0).to_numpy(dtype=np.int64)
    noise = float(np.mean(np.sqrt(np.cumsum(actual))))
    model, verdict = _usable_bgbb(hist, n_hold)
    if model is not None:
        (x, tx, n), counts = _unique_histories(
            *(hist[c].to_numpy(dtype=float) for c in ("frequency", "recency", "n_opportunities"))
        )
        cumulative = np.array(
            [
                float(counts @ np.asarray(model.expected_purchases(k, x, tx, n), float))
                for k in range(1, n_hold + 1)
            ]
        )
        verdict["curve"] = _holdout_curve(actual, cumulative, [(d, d) for d in held], "BG/BB")
    return {
        "calibration_start": occasions[0].isoformat(),
        "fit_end": fit_end.isoformat(),
        "end": end.isoformat(),
        "unit": "occasion",
        "n_periods": n_hold,
        "n_customers": len(hist),
        "noise": noise,
        "candidates": {DISCRETE_MODEL: verdict},
    }


def _fit_discrete_purchase_model(
    purchases: Any, state: dict, horizon: float
) -> tuple[dict | None, str, str]:
    """BG/BB for a discrete log, into ``state`` (as :func:`_fit_purchase_model` does).

    The occasions are the distinct purchase dates before the snapshot (recomputed the same way
    when scoring); the horizon becomes ``round(horizon / median spacing)`` future occasions (at
    least one).
    """
    cal_end = date.fromisoformat(state["calibration_end"])
    occasions = _occasions(purchases)
    spacing = _occasion_spacing_weeks(occasions)
    n_future = max(1, round(horizon / spacing))
    state["occasions"] = {
        "n": len(occasions),
        "first": occasions[0].isoformat(),
        "last": occasions[-1].isoformat(),
        "spacing_weeks": spacing,
        "n_future": n_future,
    }
    why = (
        f"The log has discrete purchase occasions ({state['data_shape']['rule']}): BG/BB, the "
        f"model of discrete purchase opportunities, is used ({len(occasions)} occasions, about "
        f"every {spacing:.1f} weeks; the {horizon:g}-week horizon is {n_future} "
        f"occasion{'s' if n_future != 1 else ''})."
    )
    comparison = _compare_discrete(purchases, occasions, cal_end)
    model, purchase = _usable_bgbb(_bgbb_histories(purchases, occasions, cal_end), n_future)
    if model is not None:
        state["purchase_model"] = DISCRETE_MODEL
        state[DISCRETE_MODEL] = model.to_dict()
        purchase["fallback"] = None
    else:
        why += " BG/BB is not usable on the whole calibration period."
        purchase["fallback"] = (
            "expected_purchases, p_alive and clv left out; recency, frequency, monetary and "
            "avg_order_value describe the history"
        )
        logger.warning("value basis: %s; %s", purchase["reason"], purchase["fallback"])
    state.setdefault("fits", {})["purchase"] = purchase
    return comparison, DISCRETE_MODEL, why


def _bgbb_scores(
    model: Any, purchases: Any, snapshot: date, state: dict, index: pd.Index
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/BB expected purchases, P(alive) and discounted purchases per unit spend, on ``index``."""
    occasions = _occasions(purchases)
    hist = _bgbb_histories(purchases, occasions, snapshot - timedelta(days=1)).reindex(index)
    cols = [hist[c].to_numpy(dtype=float) for c in ("frequency", "recency", "n_opportunities")]
    n_future = int(state["occasions"]["n_future"])
    spacing = float(state["occasions"]["spacing_weeks"])
    weekly = (1.0 + state["annual_discount_rate"]) ** (state["time_unit_days"] / 365.25) - 1.0
    cumulative = [np.zeros(len(hist))] + [
        _bgbb_expected(model, hist, k) for k in range(1, n_future + 1)
    ]
    discounted = sum(
        (cumulative[k] - cumulative[k - 1]) / (1.0 + weekly) ** (k * spacing)
        for k in range(1, n_future + 1)
    )
    p_alive = np.asarray(model.probability_alive(*cols, 0), dtype=float)
    return cumulative[-1], p_alive, np.asarray(discounted, dtype=float)


# --------------------------------------------------------------------------------------------
# The value state
# --------------------------------------------------------------------------------------------


def _fit_purchase_model(
    con: duckdb.DuckDBPyConnection,
    table: str,
    purchases: Any,
    summary: pd.DataFrame,
    state: dict,
    clv_model: str,
    first_day: date,
    horizon: float,
) -> tuple[dict | None, str, str]:
    """Choose the purchase model and fit it on the whole calibration period, into ``state``.

    Sets ``state["purchase_model"]``, the model's state under its key and
    ``state["fits"]["purchase"]``; returns the holdout comparison (or ``None``), the chosen key
    and the reason for the choice (with what happened when the chosen model was unusable).
    """
    cal_end = date.fromisoformat(state["calibration_end"])
    fixed = CLV_MODEL_SETTINGS[clv_model]
    keys = list(PURCHASE_MODELS) if fixed is None else [fixed]
    comparison = None
    chosen = fixed or DEFAULT_PURCHASE_MODEL
    label = PURCHASE_MODELS[chosen][1]
    if not state["n_repeat_buyers"]:
        nobody = f"nobody bought twice before {cal_end + timedelta(days=1)}"
        why = f"No purchase model can be fitted: {nobody}."
        purchase = {"model": label, "converged": False, "reason": f"{label}: {nobody}"}
    else:
        comparison = _compare_on_holdout(con, table, purchases, first_day, cal_end, keys)
        chosen, why = _choose(comparison, clv_model, (cal_end - first_day).days + 1)
        tried = []
        for key in [chosen] + [k for k in keys if k != chosen]:
            model, verdict = _usable_purchase_model(PURCHASE_MODELS[key][0], summary, horizon)
            tried.append(verdict)
            if model is not None:
                state["purchase_model"] = key
                state[key] = model.to_dict()
                if key != chosen:
                    why += f" {tried[0]['reason']}; {verdict['model']} is used instead."
                break
        if state["purchase_model"] is not None:
            purchase = dict(tried[-1])
        else:
            also = "".join(f"; tried instead: {t['reason']}" for t in tried[1:])
            purchase = dict(tried[0], reason=tried[0]["reason"] + also)
            names = " and ".join(t["model"] for t in tried)
            why += f" No purchase model is usable on the whole calibration period ({names} tried)."
    purchase["fallback"] = None
    if state["purchase_model"] is None:
        purchase["fallback"] = (
            "expected_purchases, p_alive and clv left out; recency, frequency, monetary and "
            "avg_order_value describe the history"
        )
        logger.warning("value basis: %s; %s", purchase["reason"], purchase["fallback"])
    state.setdefault("fits", {})["purchase"] = purchase
    return comparison, chosen, why


def _fit_spend_model(summary: pd.DataFrame, state: dict) -> None:
    """Fit Gamma-Gamma on the repeat buyers with a positive mean spend, into ``state``.

    Sets ``state["gamma_gamma"]`` (``None`` if unusable), ``state["spend_fallback"]``,
    ``state["note"]`` (for ``q <= 1``) and ``state["fits"]["spend"]``.
    """
    x, m_x = summary["frequency"], summary["monetary_value"]
    spend_ok = (x > 0) & (m_x > 0)
    gg = None
    if spend_ok.any():
        gg, spend = _fit(GammaGammaModel, x[spend_ok], m_x[spend_ok])
    else:
        spend = {
            "model": "Gamma-Gamma",
            "converged": False,
            "reason": "Gamma-Gamma: nobody bought twice before "
            f"{date.fromisoformat(state['calibration_end']) + timedelta(days=1)} with a "
            "positive amount",
        }
    spend["fallback"] = None
    if gg is not None and spend["converged"] and gg.params_["q"] <= 1.0:
        # the population mean spend is infinite: spend is too heterogeneous for Gamma-Gamma
        # (e.g. B2B accounts of very different size); keep the purchase-model features only
        state["note"] = (
            f"Gamma-Gamma q = {gg.params_['q']:.3g} <= 1 (spend too heterogeneous): "
            "expected_spend and clv left out"
        )
        logger.warning("value basis: %s", state["note"])
        spend["reason"] = state["note"]
        spend["fallback"] = (
            "expected_spend and clv left out; avg_order_value is the spend per order"
        )
    elif gg is not None and spend["converged"]:
        p, q, v = (gg.params_[k] for k in ("p", "q", "v"))
        with np.errstate(all="ignore"):
            fill = np.where(spend_ok, m_x, p * v / (q - 1.0))
            check = np.asarray(gg.conditional_expected_spend(x.to_numpy(float), fill), float)
        if np.isfinite(check).all():
            state["gamma_gamma"] = gg.to_dict()
        else:
            spend["converged"] = False
            spend["reason"] = (
                "Gamma-Gamma: the fit converged but gives non-finite expected spend for "
                f"{int((~np.isfinite(check)).sum()):,} customers"
            )
    if state["gamma_gamma"] is None and spend["fallback"] is None:
        state["spend_fallback"] = HISTORICAL_SPEND
        spend["fallback"] = (
            "expected_spend is each customer's historical mean value per purchase day (all "
            "purchase days before the snapshot), and clv values the expected purchases at it"
        )
        logger.warning("value basis: %s; %s", spend["reason"], spend["fallback"])
    state.setdefault("fits", {})["spend"] = spend


def fit_value_models(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    *,
    horizon_weeks: float = 52.0,
    annual_discount_rate: float = 0.10,
    clv_model: str = "auto",
) -> dict:
    """Choose and fit the purchase model and Gamma-Gamma on the purchases before ``snapshot``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding ``table``.
    table : str
        Transaction table (``customer_id``, ``order_date``, ``amount``).
    snapshot : date
        The models see the purchases before this day.
    horizon_weeks : float, default 52.0
        Horizon of ``expected_purchases`` and ``clv``.
    annual_discount_rate : float, default 0.10
        Yearly discount rate of ``clv``.
    clv_model : {"auto", "bgnbd", "pareto"}, default "auto"
        Purchase model, or ``"auto"`` to choose it by the holdout check of the module docstring.

    Returns
    -------
    dict
        JSON-safe state: the settings, ``purchase_model`` (state key of the purchase model used,
        ``None`` if none is usable) and that model's state under its key (``bgnbd`` or
        ``pareto_nbd``), ``gamma_gamma`` (``None`` if unusable), ``fits`` (per role
        ``purchase`` / ``spend``: ``model``, ``converged``, ``reason``, ``fallback``,
        ``params``, ``std_errors``, ...), ``selection`` (requested, chosen, criterion, per-model
        values, reason), ``holdout`` (the used model's weekly holdout curve, or ``None``),
        ``data_shape`` (:func:`detect_data_shape`), ``features`` (the CLV features produced),
        ``note``, ``n_customers`` and ``n_repeat_buyers``.

    Raises
    ------
    ValueError
        If ``clv_model`` is not one of the accepted values.
    """
    if clv_model not in CLV_MODEL_SETTINGS:
        raise ValueError(
            f"clv_model must be one of {sorted(CLV_MODEL_SETTINGS)}, got {clv_model!r}"
        )
    cal_end = snapshot - timedelta(days=1)
    horizon = float(horizon_weeks)
    purchases = _purchases(con, table, snapshot)
    summary = rfm_summary(purchases, calibration_end=cal_end, time_unit_days=TIME_UNIT_DAYS)
    x = summary["frequency"]
    first_day = cal_end - timedelta(days=round(float(summary["T"].max()) * TIME_UNIT_DAYS))
    shape = detect_data_shape(con, table, snapshot, first_day)
    state: dict[str, Any] = {
        "calibration_end": cal_end.isoformat(),
        "time_unit_days": TIME_UNIT_DAYS,
        "horizon_weeks": horizon,
        "annual_discount_rate": float(annual_discount_rate),
        "discounting_steps_weeks": 52.0 / 12.0,
        "purchase_model": None,
        "bgnbd": None,
        "gamma_gamma": None,
        "spend_fallback": None,
        "note": None,
        "n_customers": len(summary),
        "n_repeat_buyers": int((x > 0).sum()),
        "data_shape": shape,
    }
    if shape["shape"] == "discrete" and clv_model == "auto" and state["n_repeat_buyers"]:
        comparison, chosen, why = _fit_discrete_purchase_model(purchases, state, horizon)
    else:
        comparison, chosen, why = _fit_purchase_model(
            con, table, purchases, summary, state, clv_model, first_day, horizon
        )
        if shape["shape"] == "discrete":
            why += " The log has discrete purchase occasions, but features.clv_model asks for it."
    _fit_spend_model(summary, state)
    used = state["purchase_model"]
    curve = (comparison or {}).get("candidates", {}).get(used, {}).get("curve")
    state["holdout"] = None
    if curve is not None:
        head = ("calibration_start", "fit_end", "end", "unit", "n_periods", "n_customers", "noise")
        state["holdout"] = {k: comparison[k] for k in head} | curve
    state["selection"] = {
        "requested": clv_model,
        "chosen": chosen,
        "used": used,
        "label": _model_class(used)[1] if used else None,
        "criterion": CRITERION if comparison is not None else None,
        "noise": comparison["noise"] if comparison is not None else None,
        "candidates": [
            {
                "key": key,
                "model": c["model"],
                "converged": c["converged"],
                "reason": c["reason"],
                "mae_cumulative": c["curve"]["mae_cumulative"] if "curve" in c else None,
                "predicted_total": c["curve"]["predicted_total"] if "curve" in c else None,
                "params": c.get("params"),
            }
            for key, c in (comparison or {"candidates": {}})["candidates"].items()
        ],
        "reason": why,
    }
    state["features"] = value_features(state)
    if shape["note"]:
        logger.warning(
            "value basis: the log looks %s (%s); %s", shape["shape"], shape["rule"], shape["note"]
        )
    logger.info("value basis: %s", why)
    return _safe(state)


def _model_class(key: str) -> tuple[type, str]:
    """The purchase model class and label of a state key."""
    if key == DISCRETE_MODEL:
        return _bgbb()[0], "BG/BB"
    return PURCHASE_MODELS[key]


def _purchase_state(state: dict) -> tuple[type, dict] | None:
    """The purchase model class and state of a value state (older states: BG/NBD, ``bgnbd``)."""
    key = state.get("purchase_model", "bgnbd" if state.get("bgnbd") else None)
    if key is None or state.get(key) is None:
        return None
    return _model_class(key)[0], state[key]


def value_features(state: dict) -> list[str]:
    """The CLV features a value state produces, in :data:`CLV_COLUMNS` order."""
    purchase = _purchase_state(state) is not None
    spend = state.get("gamma_gamma") is not None or state.get("spend_fallback") is not None
    have = {
        "expected_purchases": purchase,
        "p_alive": purchase,
        "expected_spend": spend,
        "clv": purchase and spend,
    }
    return [c for c in CLV_COLUMNS if have[c]]


def score_value(
    con: duckdb.DuckDBPyConnection, table: str, snapshot: date, state: dict
) -> pd.DataFrame:
    """Expected purchases, P(alive), expected spend and CLV per customer from fitted models.

    Only the columns of :func:`value_features` are returned (what the fit decided to keep),
    ``customer_id`` always. With ``spend_fallback`` the expected spend is the customer's
    historical mean value per purchase day (:func:`_historical_spend`). Non-finite values (not
    expected from a usable fit) become missing, with a warning, so that the scorer's
    missing-value fill applies.
    """
    purchases = _purchases(con, table, snapshot)
    summary = rfm_summary(
        purchases,
        calibration_end=snapshot - timedelta(days=1),
        time_unit_days=state["time_unit_days"],
    )
    x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    horizon = float(state["horizon_weeks"])
    scores = pd.DataFrame({"customer_id": summary.index.to_numpy()})
    found = _purchase_state(state)
    purchase = discounted = None
    if found is not None and state.get("purchase_model") == DISCRETE_MODEL:
        purchase = found[0].from_dict(found[1])
        expected, p_alive, discounted = _bgbb_scores(
            purchase, purchases, snapshot, state, summary.index
        )
        scores["expected_purchases"], scores["p_alive"] = expected, p_alive
    elif found is not None:
        model_cls, model_state = found
        purchase = model_cls.from_dict(model_state)
        scores["expected_purchases"] = np.asarray(purchase.expected_purchases(horizon, x, tx, T))
        scores["p_alive"] = np.asarray(purchase.probability_alive(x, tx, T))
    spend_model: Any = None
    if state.get("gamma_gamma") is not None:
        spend_model = GammaGammaModel.from_dict(state["gamma_gamma"])
        m = summary["monetary_value"].to_numpy(dtype=float)
        p, q, v = (spend_model.params_[k] for k in ("p", "q", "v"))
        # a repeat buyer whose repeat orders were free gets the population mean spend
        m = np.where((x > 0) & (m > 0), m, p * v / (q - 1.0))
        scores["expected_spend"] = np.asarray(spend_model.conditional_expected_spend(x, m))
    elif state.get("spend_fallback") == HISTORICAL_SPEND:
        spend_model = _HistoricalSpend()
        m = _historical_spend(con, table, snapshot).reindex(summary.index).to_numpy(dtype=float)
        scores["expected_spend"] = m
    if discounted is not None and spend_model is not None:
        scores["clv"] = discounted * np.asarray(spend_model.conditional_expected_spend(x, m))
    elif purchase is not None and spend_model is not None:
        weekly = (1.0 + state["annual_discount_rate"]) ** (state["time_unit_days"] / 365.25) - 1.0
        scores["clv"] = np.asarray(
            customer_lifetime_value(
                purchase,
                spend_model,
                x,
                tx,
                T,
                m,
                horizon_periods=horizon,
                discount_rate_per_period=weekly,
                periods_per_step=state["discounting_steps_weeks"],
            )
        )
    values = scores.drop(columns="customer_id")
    bad = ~np.isfinite(values.to_numpy(dtype=float))
    if bad.any():
        logger.warning(
            "value basis: %d non-finite score(s) (%s) set to missing",
            int(bad.sum()),
            ", ".join(values.columns[bad.any(axis=0)]),
        )
        scores[values.columns] = values.mask(bad)
    return scores


def materialise_scores(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    state: dict,
    *,
    into: str = SCORES_TABLE,
) -> str:
    """Write the value scores into the DuckDB table the catalogue SQL reads; returns its name."""
    scores = score_value(con, table, snapshot, state)
    con.register("_segmint_clv_frame", scores)
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {quote_ident(into)} AS SELECT * FROM _segmint_clv_frame"
        )
    finally:
        con.unregister("_segmint_clv_frame")
    return into


def plan(ctx: PlanContext) -> tuple[list[Feature], list[Block]]:
    """Fit the value models and declare the CLV features (read from the scores table)."""
    opts = ctx.options
    state = fit_value_models(
        ctx.con,
        ctx.tables["transactions"],
        ctx.snapshot,
        horizon_weeks=opts.clv_horizon_weeks,
        annual_discount_rate=opts.clv_annual_discount_rate,
        clv_model=getattr(opts, "clv_model", "auto"),
    )
    ctx.models["value"] = state
    kept = value_features(state)
    if not kept:
        return [], []
    # the catalogue SQL reads the scores from this table (written by compute_feature_table;
    # on another engine, write the scores of score_value() there first)
    ctx.tables["clv_scores"] = SCORES_TABLE
    weeks = f"{opts.clv_horizon_weeks:g} weeks"
    rate = f"{opts.clv_annual_discount_rate:.0%}"
    model = state["selection"]["label"] or "BG/NBD"
    historical = state.get("gamma_gamma") is None
    spend = "historical mean order value" if historical else "Gamma-Gamma"
    described = {
        "expected_purchases": (
            f"Expected orders at the next {state['occasions']['n_future']} purchase occasions "
            f"(about {weeks}) (BG/BB)"
            if state.get("purchase_model") == DISCRETE_MODEL
            else f"Expected orders in the next {weeks} ({model})",
            "signed_log",
        ),
        "p_alive": (f"Probability that the customer is still active ({model})", "identity"),
        "expected_spend": (
            "Value of an order: the customer's historical mean (Gamma-Gamma not estimated)"
            if historical
            else "Expected value of an order (Gamma-Gamma)",
            "signed_log",
        ),
        "clv": (
            f"Customer lifetime value: expected value over the next {weeks}, "
            f"discounted at {rate} a year ({model} x {spend})",
            "signed_log",
        ),
    }
    features = [
        Feature(name, "value", described[name][0], described[name][1], "transactions", name)
        for name in kept
    ]
    block = Block(
        "vl_clv_features",
        "transactions",
        (("vl_clv", "SELECT * FROM $clv_scores"),),
        "vl_clv",
        False,
        tuple(f.name for f in features),
    )
    return features, [block]


# --------------------------------------------------------------------------------------------
# What the report and run.json show
# --------------------------------------------------------------------------------------------


def _param_rows(verdict: dict) -> list[dict]:
    std = verdict.get("std_errors") or {}
    return [
        {"name": k, "value": v, "std_error": std.get(k)}
        for k, v in (verdict.get("params") or {}).items()
    ]


def value_model_summary(state: dict | None) -> dict | None:
    """The lifetime-value models of a run, for ``run.json`` and the report (JSON-safe).

    Parameters
    ----------
    state : dict or None
        ``spec.models["value"]`` as written by :func:`fit_value_models` (``None``: the run fitted
        no value model, and ``None`` is returned).

    Returns
    -------
    dict or None
        ``purchase_model`` / ``spend_model`` (labels, ``None`` when not estimated), ``reason``
        (why that purchase model), ``criterion``, ``candidates`` (per model: converged, reason,
        criterion value), ``noise``, ``fits`` (per model: ``role``, ``model``, ``converged``,
        ``reason``, ``fallback``, ``params`` with ``name``, ``value``, ``std_error``,
        ``log_likelihood``, ``n_customers``), ``holdout`` (the weekly curve and totals, or
        ``None``), ``data_shape``, ``features``, ``calibration_end``, ``horizon_weeks``,
        ``annual_discount_rate``, ``n_customers`` and ``n_repeat_buyers``.
    """
    if not state:
        return None
    fits = state.get("fits")
    if fits is None:  # a state written before the fits were recorded: BG/NBD + Gamma-Gamma
        fits = {
            "purchase": {"model": "BG/NBD", "converged": True, "reason": None, "fallback": None}
            | {k: (state.get("bgnbd") or {}).get(k) for k in ("params", "log_likelihood")},
            "spend": {"model": "Gamma-Gamma", "converged": True, "reason": state.get("note")}
            | {"fallback": None, "params": (state.get("gamma_gamma") or {}).get("params")},
        }
    selection = state.get("selection") or {}
    used = _purchase_state(state) is not None
    return _safe(
        {
            "purchase_model": selection.get("label", "BG/NBD" if used else None) if used else None,
            "spend_model": "Gamma-Gamma" if state.get("gamma_gamma") is not None else None,
            "requested": selection.get("requested", "bgnbd"),
            "reason": selection.get("reason"),
            "criterion": selection.get("criterion"),
            "noise": selection.get("noise"),
            "candidates": selection.get("candidates", []),
            "fits": [
                {
                    "role": role,
                    "model": f.get("model"),
                    "converged": f.get("converged"),
                    "reason": f.get("reason"),
                    "fallback": f.get("fallback"),
                    "params": _param_rows(f),
                    "log_likelihood": f.get("log_likelihood"),
                    "n_customers": f.get("n_customers"),
                }
                for role, f in fits.items()
            ],
            "holdout": state.get("holdout"),
            "data_shape": state.get("data_shape"),
            "features": value_features(state),
            "calibration_end": state.get("calibration_end"),
            "horizon_weeks": state.get("horizon_weeks"),
            "annual_discount_rate": state.get("annual_discount_rate"),
            "n_customers": state.get("n_customers"),
            "n_repeat_buyers": state.get("n_repeat_buyers"),
        }
    )


def clv_report_from_file(
    path: str | Path,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    mapping: dict[str, str] | None = None,
) -> dict:
    """Read a transaction file as ``segmint run`` does and fit the CLV models: the ``clv`` command.

    The file is read with :func:`segmint.io.read_source`, its columns mapped with
    :func:`segmint.io.map_columns` (``mapping`` from ``segmint.yaml`` wins) and typed with
    :func:`segmint.io.load_transactions`; the result of
    :func:`segmint.features.clv.clv_report` gets an ``input`` section with the row accounting.
    """
    from segmint.io import load_transactions, map_columns, read_source

    con = duckdb.connect()
    try:
        raw = read_source(con, path, "raw_transactions", typed=True)
        matches = map_columns(
            raw.columns, "transactions", explicit=mapping or {}, path=str(raw.path)
        )
        account = load_transactions(con, raw, matches)
        tx = con.sql(
            "SELECT customer_id, order_date AS date, amount FROM transactions"
        ).to_arrow_table()
    finally:
        con.close()
    report = clv_report(tx, calibration_end=calibration_end, observation_end=observation_end)
    report["input"] = {
        "path": str(account.source),
        "rows_read": account.n_read,
        "rows_used": account.n_used,
        "rows_quarantined": account.n_quarantined,
        "mapping": account.mapping,
    }
    return report
