"""Input checks of the lifetime-value models and the wrapping of their results.

* :func:`_is_real` -- a finite real scalar (not a bool);
* :func:`_as_array`, :func:`_as_counts`, :func:`_as_weights` -- per-customer arrays: finite
  and non-negative, whole numbers, likelihood weights;
* :func:`_check_same_length`, :func:`_check_rft`, :func:`_spend_arrays` -- consistency of the
  per-customer inputs;
* :func:`_discount_factor` -- ``1 / (1 + d)`` of a positive discount rate per period;
* :func:`_wrap` -- a result back into a pandas Series (index of the first Series input), a
  float or an array.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

from segmint.exceptions import InputError


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _as_array(name: str, values: Any) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric", hint=f"pass numbers for {name}") from exc
    if arr.ndim > 1:
        raise InputError(
            f"{name} must be one-dimensional, got shape {arr.shape}",
            hint="pass one value per customer",
        )
    if not np.all(np.isfinite(arr)):
        raise InputError(
            f"{name} contains {int(np.sum(~np.isfinite(arr)))} missing or infinite value(s)",
            hint="drop or fill those customers first",
        )
    if np.any(arr < 0):
        raise InputError(
            f"{name} contains negative values (min {arr.min():g})",
            hint=f"{name} cannot be negative",
        )
    return arr


def _as_counts(name: str, values: Any) -> np.ndarray:
    """Non-negative whole numbers (as float64), validated like :func:`_as_array`."""
    arr = _as_array(name, values)
    if np.any(arr != np.round(arr)):
        bad = arr[arr != np.round(arr)]
        raise InputError(
            f"{name} must be whole numbers, got {bad.size} non-integer value(s) (e.g. {bad[0]:g})",
            hint=f"{name} counts opportunities or periods; round or recompute it",
        )
    return arr


def _as_weights(weights: Any, n: int) -> np.ndarray:
    """Validated per-row weights (ones when ``None``): finite, >= 0, not all zero."""
    if weights is None:
        return np.ones(n)
    w = _as_array("weights", weights)
    if w.ndim == 0:
        raise InputError(
            "weights must be one value per row, got a scalar",
            hint="pass the number of customers of each row, or leave weights out",
        )
    _check_same_length(rows=np.empty(n), weights=w)
    if not np.any(w > 0):
        raise InputError(
            "all weights are zero", hint="weights are numbers of customers; some must be > 0"
        )
    return w


def _check_same_length(**arrays: np.ndarray) -> int:
    lengths = {name: arr.size for name, arr in arrays.items() if arr.ndim == 1}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise InputError(
            f"inputs have different lengths ({detail})",
            hint="pass one value per customer in each input",
        )
    n = next(iter(lengths.values()), 1)
    if n == 0:
        raise InputError("no customers given", hint="pass at least one customer")
    return n


def _spend_arrays(frequency: Any, monetary_value: Any) -> tuple[np.ndarray, np.ndarray]:
    x = _as_array("frequency", frequency)
    m = _as_array("monetary_value", monetary_value)
    _check_same_length(frequency=x, monetary_value=m)
    return x, m


def _check_rft(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> None:
    frequency, recency, T = np.broadcast_arrays(frequency, recency, T)
    if np.any(recency > T * (1 + 1e-12) + 1e-12):
        raise InputError(
            f"recency exceeds T for {int(np.sum(recency > T))} customer(s)",
            hint="recency (first to last purchase) cannot be longer than T (first purchase to "
            "the end of the calibration period); check the column order",
        )
    if np.any((frequency == 0) & (recency > 0)):
        raise InputError(
            f"{int(np.sum((frequency == 0) & (recency > 0)))} customer(s) have frequency 0 "
            "but positive recency",
            hint="recency must be 0 for customers without repeat purchases",
        )


def _discount_factor(discount_rate: Any, *, hint: str) -> float:
    """``1 / (1 + d)`` for a discount rate ``d > 0`` per period; ``hint`` says what to pass."""
    if not (_is_real(discount_rate) and discount_rate > 0):
        raise InputError(
            f"discount_rate must be a positive number, got {discount_rate!r}", hint=hint
        )
    return 1.0 / (1.0 + float(discount_rate))


def _series_like(*values: Any) -> pd.Series | None:
    for value in values:
        if isinstance(value, pd.Series):
            return value
    return None


def _wrap(result: np.ndarray, *inputs: Any, name: str) -> Any:
    """Return a Series (index of the first Series input), a float for scalars, else an array."""
    like = _series_like(*inputs)
    if like is not None and result.ndim == 1 and result.shape[0] == len(like):
        return pd.Series(result, index=like.index, name=name)
    if result.ndim == 0:
        return float(result)
    return result
