"""The purchase models of the value basis, and fitting a model with a verdict.

* :data:`PURCHASE_MODELS` -- the continuous-time purchase models (BG/NBD, Pareto/NBD), with
  :data:`DEFAULT_PURCHASE_MODEL` and the time unit they are fitted in (:data:`TIME_UNIT_DAYS`);
* :func:`_fit` -- a fit with its verdict: converged or not, and why, in words;
* :func:`_usable_purchase_model` -- a purchase model fitted on a calibration summary and checked
  to give finite predictions for every customer history;
* :func:`_safe` -- the JSON-safe copy every recorded verdict and state goes through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segmint.features.clv import BetaGeoModel, ParetoNBDModel

#: Length of the time unit of the continuous models, in days (weeks).
TIME_UNIT_DAYS = 7.0
#: Purchase models: state key -> (class, label). The state key names the fitted model's state.
PURCHASE_MODELS: dict[str, tuple[type, str]] = {
    "bgnbd": (BetaGeoModel, "BG/NBD"),
    "pareto_nbd": (ParetoNBDModel, "Pareto/NBD"),
}
#: The purchase model when the data cannot tell (and the simpler of the two).
DEFAULT_PURCHASE_MODEL = "bgnbd"


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
