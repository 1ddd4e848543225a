"""Discrete purchase occasions in the value basis: the BG/BB model.

A log whose purchases fall on a few shared occasions (:func:`detect_data_shape` says
``discrete``) is fitted with BG/BB: the occasions are its distinct purchase dates
(:func:`_occasions`), the model is checked on a holdout of the last occasions
(:func:`_compare_discrete`), fitted on the whole calibration period
(:func:`_fit_discrete_purchase_model`) and scores each customer (:func:`_bgbb_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.features._value_fit import TIME_UNIT_DAYS, _fit, _unique_histories
from segmint.features._value_holdout import HOLDOUT_SHARE, _holdout_curve
from segmint.features.clv import BetaGeoBetaBinomModel, bgbb_summary

#: State key of the BG/BB model (discrete purchase occasions).
DISCRETE_MODEL = "bgbb"


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
