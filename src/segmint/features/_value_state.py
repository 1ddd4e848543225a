"""Fitting the value basis: the value state that :func:`fit_value_models` records.

The purchase model is chosen and fitted by the routing of :mod:`segmint.features._value`'s
docstring (sBG for contracts, BG/BB for discrete occasions, BG/NBD or Pareto/NBD otherwise),
then Gamma-Gamma for the spend (:func:`_fit_spend_model`, with the historical mean spend as
fallback); the state records the choice (:func:`_selection`), the fits and the holdout curve
(:func:`_holdout`), and is JSON-safe.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.features._value_choice import (
    CLV_MODEL_SETTINGS,
    CRITERION,
    _fit_purchase_model,
    _model_class,
)
from segmint.features._value_contract import fit_contract_model
from segmint.features._value_discrete import _fit_discrete_purchase_model
from segmint.features._value_fit import TIME_UNIT_DAYS, _fit, _safe
from segmint.features._value_scores import CONTRACT_SPEND, HISTORICAL_SPEND, value_features
from segmint.features._value_shape import _purchases, detect_data_shape
from segmint.features.clv import GammaGammaModel, rfm_summary


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


def _selection(
    comparison: dict | None, requested: str, chosen: str, used: str | None, why: str
) -> dict:
    """The ``selection`` record of a value state: the choice, its criterion values and reason."""
    candidates = (comparison or {"candidates": {}})["candidates"]
    return {
        "requested": requested,
        "chosen": chosen,
        "used": used,
        "label": _model_class(used)[1] if used else None,
        # a criterion only where models were compared (the continuous ones, by weeks)
        "criterion": CRITERION if (comparison or {}).get("unit") == "week" else None,
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
            for key, c in candidates.items()
        ],
        "reason": why,
    }


def fit_value_models(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    *,
    horizon_weeks: float = 52.0,
    annual_discount_rate: float = 0.10,
    clv_model: str = "auto",
    contracts: dict | None = None,
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
    contracts : dict, optional
        The contract columns of the customer table (``table``, ``start_column``,
        ``end_column``, ``end_is_date``, ``period``; see :func:`contract_plan`): with
        ``clv_model="auto"`` the customers are contractual and sBG is fitted
        (:mod:`segmint.features._value_contract`) instead of a purchase model and Gamma-Gamma.

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
    first_day = cal_end - timedelta(days=round(float(summary["T"].max()) * TIME_UNIT_DAYS))
    shape = _data_shape(con, table, snapshot, first_day, contracts)
    state = _new_state(cal_end, horizon, annual_discount_rate, summary, shape)
    comparison, chosen, why = _fit_models(
        con, table, purchases, summary, state, clv_model, first_day, horizon, contracts
    )
    used = state["purchase_model"]
    state["holdout"] = _holdout(comparison, used)
    state["selection"] = _selection(comparison, clv_model, chosen, used, why)
    state["features"] = value_features(state)
    if shape["note"]:
        logger.warning(
            "value basis: the log looks %s (%s); %s", shape["shape"], shape["rule"], shape["note"]
        )
    logger.info("value basis: %s", why)
    return _safe(state)


def _fit_models(
    con: duckdb.DuckDBPyConnection,
    table: str,
    purchases: Any,
    summary: pd.DataFrame,
    state: dict,
    clv_model: str,
    first_day: date,
    horizon: float,
    contracts: dict | None,
) -> tuple[dict | None, str, str]:
    """Fit the purchase model the data shape routes to, then the spend, into ``state``.

    Returns the holdout comparison (or ``None``), the chosen model and the reason for it.
    """
    shape = state["data_shape"]
    contractual = contracts is not None and clv_model == "auto"
    if contractual:
        comparison, chosen, why = fit_contract_model(con, contracts, state, horizon)
    elif shape["shape"] == "discrete" and clv_model == "auto" and state["n_repeat_buyers"]:
        comparison, chosen, why = _fit_discrete_purchase_model(purchases, state, horizon)
    else:
        comparison, chosen, why = _fit_purchase_model(
            con, table, purchases, summary, state, clv_model, first_day, horizon
        )
        if shape["shape"] in ("discrete", "contractual"):
            why += f" The log looks {shape['shape']}, but features.clv_model asks for it."
    if contractual:
        # the value per period only makes sense with a usable sBG fit
        state["spend_fallback"] = CONTRACT_SPEND if state["purchase_model"] else None
    else:
        _fit_spend_model(summary, state)
    return comparison, chosen, why


def _data_shape(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    first_day: date,
    contracts: dict | None,
) -> dict:
    """:func:`detect_data_shape`, made contractual when the customer table has contract dates."""
    shape = detect_data_shape(con, table, snapshot, first_day)
    if contracts is not None:
        shape = dict(
            shape,
            shape="contractual",
            model_family="contractual",
            note=None,
            rule=f"the customer table has contract start and end dates "
            f"({contracts['start_column']}, {contracts['end_column']})",
        )
    return shape


def _new_state(
    cal_end: date,
    horizon: float,
    annual_discount_rate: float,
    summary: pd.DataFrame,
    shape: dict,
) -> dict[str, Any]:
    """The settings and counts a value state starts from, before any model is fitted."""
    x = summary["frequency"]
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
    return state


def _holdout(comparison: dict | None, used: str | None) -> dict | None:
    """The ``holdout`` record of a state: the used model's holdout curve with the holdout's
    settings, or ``None`` when the used model has no curve."""
    curve = (comparison or {}).get("candidates", {}).get(used, {}).get("curve")
    if curve is None:
        return None
    head = ("calibration_start", "fit_end", "end", "unit", "n_periods", "n_customers", "noise")
    return (
        {k: comparison[k] for k in head}
        | {"quantity": comparison.get("quantity", "repeat transactions")}
        | curve
    )
