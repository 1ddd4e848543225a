"""Which lifetime-value model a log gets, and how well it forecasts: the value basis' choice.

:mod:`segmint.features._value` builds the value features; this module decides which purchase
model it fits and records why (the rules are stated in that module's docstring):

* :func:`detect_data_shape` -- continuous-time, discrete-occasion or contractual log (the
  routing hook);
* :func:`holdout_split`, :func:`_compare_on_holdout`, :func:`_choose` -- BG/NBD against
  Pareto/NBD on a holdout at the end of the calibration period, by the mean absolute error of
  the cumulative weekly repeat transactions, with the counting noise of the holdout as margin;
* :func:`_fit_purchase_model` -- the chosen continuous model refitted on the whole period (the
  other one tried when it is unusable);
* :func:`_fit_discrete_purchase_model`, :func:`_bgbb_scores` -- BG/BB for discrete occasions;
* :func:`_fit` / :func:`_usable_purchase_model` -- a fit with its verdict: converged or not, and
  why, in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.features._catalogue import date_literal, quote_ident, table_columns
from segmint.features.clv import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    ParetoNBDModel,
    ShiftedBetaGeometricModel,
    bgbb_summary,
    rfm_summary,
)

#: Length of the time unit of the continuous models, in days (weeks).
TIME_UNIT_DAYS = 7.0
#: Purchase models: state key -> (class, label). The state key names the fitted model's state.
PURCHASE_MODELS: dict[str, tuple[type, str]] = {
    "bgnbd": (BetaGeoModel, "BG/NBD"),
    "pareto_nbd": (ParetoNBDModel, "Pareto/NBD"),
}
#: ``features.clv_model`` values and the purchase model each names (``auto``: chosen from data).
CLV_MODEL_SETTINGS = {"auto": None, "bgnbd": "bgnbd", "pareto": "pareto_nbd"}
#: The purchase model when the data cannot tell (and the simpler of the two).
DEFAULT_PURCHASE_MODEL = "bgnbd"
#: Share of the calibration period held out to choose the purchase model.
HOLDOUT_SHARE = 0.25
#: Fewest whole weeks of holdout for the comparison to be made.
MIN_HOLDOUT_WEEKS = 2
#: Discrete-occasion rule: purchase dates on at most this share of the days (one a week) ...
DISCRETE_MAX_DATE_SHARE = 1.0 / 7.0
#: ... and on average at least this many buyers on each purchase date.
DISCRETE_MIN_BUYERS_PER_DATE = 5.0
#: State key of the BG/BB model (discrete purchase occasions).
DISCRETE_MODEL = "bgbb"
#: Columns of the transaction table that mark contractual data (a contract's end date).
CONTRACT_END_COLUMNS = ("contract_end", "contract_end_date", "cancelled_at", "churn_date")
#: What the holdout check compares.
CRITERION = "mean absolute error of the cumulative weekly repeat transactions over the holdout"


def _purchase_filter(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SQL true for a purchase line: not ``is_return`` where the loader marked returns (an
    invoice-line log), else a non-negative amount (returns are stored negative)."""
    return "NOT is_return" if "is_return" in table_columns(con, table) else "amount >= 0"


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
    """The label of a model class: its ``_label`` (``"sBG"``, ``"BG/BB"``, ...) when it has one."""
    found = next((lab for cls, lab in PURCHASE_MODELS.values() if cls is model_cls), None)
    return found or getattr(model_cls, "_label", None) or "Gamma-Gamma"


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
# Data shape (routing hook) and holdout comparison of the continuous models
# --------------------------------------------------------------------------------------------


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
    """The BG/BB model class and its summary function."""
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
# The continuous purchase model on the whole calibration period
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


def _model_class(key: str) -> tuple[type, str]:
    """The purchase model class and label of a state key."""
    if key == DISCRETE_MODEL:
        return _bgbb()[0], "BG/BB"
    if key == "sbg":
        return ShiftedBetaGeometricModel, "sBG"
    return PURCHASE_MODELS[key]
