"""Which lifetime-value model a log gets: the value basis' choice.

:mod:`segmint.features._value` builds the value features; this module decides which purchase
model it fits and records why (the rules are stated in that module's docstring):

* :func:`_choose` -- BG/NBD against Pareto/NBD by their holdout forecasts
  (:mod:`segmint.features._value_holdout`), with the counting noise of the holdout as margin;
* :func:`_fit_purchase_model` -- the chosen continuous model refitted on the whole period (the
  other one tried when it is unusable);
* :func:`_model_class` -- the model class and label of a state key.

Its neighbours hold the rest of the choice: the purchase models and fitting with a verdict
(:mod:`segmint.features._value_fit`), the data shape (:mod:`segmint.features._value_shape`),
the holdout check (:mod:`segmint.features._value_holdout`) and BG/BB for discrete occasions
(:mod:`segmint.features._value_discrete`).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd

from segmint._logging import logger
from segmint.features._value_discrete import DISCRETE_MODEL, _bgbb
from segmint.features._value_fit import (
    DEFAULT_PURCHASE_MODEL,
    PURCHASE_MODELS,
    _usable_purchase_model,
)
from segmint.features._value_holdout import MIN_HOLDOUT_WEEKS, _compare_on_holdout
from segmint.features.clv import ShiftedBetaGeometricModel

#: ``features.clv_model`` values and the purchase model each names (``auto``: chosen from data).
CLV_MODEL_SETTINGS = {"auto": None, "bgnbd": "bgnbd", "pareto": "pareto_nbd"}
#: What the holdout check compares.
CRITERION = "mean absolute error of the cumulative weekly repeat transactions over the holdout"


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
