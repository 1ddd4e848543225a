"""Base classes and input checks of the lifetime-value models.

* input validation of per-customer arrays (:func:`_as_array`, :func:`_check_rft`, ...) and the
  wrapping of results back into pandas Series (:func:`_wrap`);
* :class:`_CLVModel`, the scikit-learn-style base of every model: hyper-parameters, the fit
  through :func:`~segmint.features.clv._fit.fit_mle` (identical customers collapsed into
  weighted rows, data rescaled first), the fitted attributes ``params_``,
  ``log_likelihood_``, ``n_customers_``, ``converged_``, ``convergence_reason_``,
  ``std_errors_`` and ``diagnostics_``, and JSON round-tripping (state format 2; format 1
  states of earlier versions are still read);
* :class:`_PurchaseModel`, the base of the purchase-count models fitted on
  (frequency, recency, T), with the time rescaling and the prediction methods.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.exceptions import InputError, ModelError
from segmint.features.clv._fit import Limit, fit_mle, json_safe
from segmint.features.clv._summary import _is_real

_FORMAT_VERSION = 2
_READABLE_FORMATS = (1, 2)


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


class _CLVModel:
    """Base class: scikit-learn-style parameter handling, the fit and JSON round-tripping.

    A subclass names its parameters in ``_param_names``, gives the weighted log-likelihood in
    :meth:`_loglik` (with its gradient, or ``None``), the rescaling of its data in
    :meth:`_rescale`, its starts in :meth:`_starts` and its :class:`~._fit.Limit` directions
    in ``_limits``; :meth:`_fit_rows` hands all of it to :func:`~._fit.fit_mle`.
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _label: ClassVar[str] = ""
    _limits: ClassVar[tuple[Limit, ...]] = ()

    params_: dict[str, float]
    log_likelihood_: float
    n_customers_: int
    converged_: bool
    convergence_reason_: str | None
    std_errors_: dict[str, float | None]
    diagnostics_: dict[str, Any]

    def __init__(self, penalizer_coef: float = 0.0, max_iter: int = 1000) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter

    # -- scikit-learn conventions --------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyper-parameters of the model (scikit-learn convention)."""
        return {"penalizer_coef": self.penalizer_coef, "max_iter": self.max_iter}

    def set_params(self, **params: Any) -> Self:
        """Set hyper-parameters (scikit-learn convention) and return ``self``."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_hyperparameters(self) -> None:
        pen = self.penalizer_coef
        if not (_is_real(pen) and pen >= 0):
            raise InputError(
                f"penalizer_coef must be a non-negative number, got {pen!r}",
                hint="use 0.0 for plain maximum likelihood",
            )
        if not (
            isinstance(self.max_iter, numbers.Integral)
            and not isinstance(self.max_iter, bool)
            and self.max_iter > 0
        ):
            raise InputError(
                f"max_iter must be a positive integer, got {self.max_iter!r}",
                hint="the default is 1000",
            )

    def _check_fitted(self) -> dict[str, float]:
        if not hasattr(self, "params_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit() or from_dict() first"
            )
        return self.params_

    @staticmethod
    def _prepare(frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, ...]:
        x = _as_array("frequency", frequency)
        tx = _as_array("recency", recency)
        T_ = _as_array("T", T)
        _check_same_length(frequency=x, recency=tx, T=T_)
        _check_rft(x, tx, T_)
        return x, tx, T_

    def _values(self) -> tuple[float, ...]:
        """The fitted parameters, in the order of ``_param_names``."""
        return tuple(self.params_[k] for k in self._param_names)

    def _loglik(self, params: np.ndarray, *data: np.ndarray) -> tuple[float, np.ndarray | None]:
        """Weighted log-likelihood and its gradient in the parameters.

        ``data`` are the unique rows' columns followed by their weights; the gradient is
        ``None`` when the model has no analytic one.
        """
        raise NotImplementedError

    def _rescale(
        self, columns: list[np.ndarray], w: np.ndarray
    ) -> tuple[list[np.ndarray], dict[str, float], float]:
        """Rescaled data columns, per-parameter scale factors and log-likelihood offset.

        The fit runs on the rescaled columns; parameter ``k`` on the original scale is the
        fitted one times ``factors[k]`` and the original-scale log-likelihood is the fitted one
        plus ``offset``.
        """
        raise NotImplementedError

    def _starts(self, columns: list[np.ndarray], w: np.ndarray) -> list[list[float]]:
        """Deterministic starting values on the fitting scale (the first is all ones)."""
        raise NotImplementedError

    def _fit_rows(self, *columns: np.ndarray) -> Self:
        """Fit by maximum likelihood on validated per-customer columns and return ``self``.

        Identical customers are collapsed into weighted rows, the data are rescaled and
        :func:`~._fit.fit_mle` does the rest (bounded log-parameters, several deterministic
        starts, the convergence rule).
        """
        unique, w = _unique_rows(*columns)
        data, factors, offset = self._rescale(unique, w)
        result = fit_mle(
            lambda theta: self._loglik(theta, *data, w),
            self._param_names,
            self._starts(data, w),
            model=self._label,
            n_obs=float(w.sum()),
            scale=factors,
            log_likelihood_offset=offset,
            penalizer_coef=float(self.penalizer_coef),
            max_iter=int(self.max_iter),
            limits=self._limits,
        )
        self.params_ = dict(result.params)
        self.log_likelihood_ = result.log_likelihood
        self.n_customers_ = int(w.sum())
        self.converged_ = result.converged
        self.convergence_reason_ = result.reason
        self.std_errors_ = dict(result.std_errors)
        self.diagnostics_ = result.diagnostics
        logger.info(
            "%s fitted on %d customers: %s, log-likelihood %.4f%s",
            type(self).__name__,
            self.n_customers_,
            ", ".join(f"{k}={v:.6g}" for k, v in self.params_.items()),
            self.log_likelihood_,
            "" if result.converged else f" (NOT converged: {result.reason})",
        )
        return self

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the model state as a JSON-serialisable dict.

        Returns
        -------
        dict
            ``model`` (class name), ``format_version`` (2), ``hyperparameters`` and, for a
            fitted model, ``params``, ``log_likelihood``, ``n_customers``, ``converged``,
            ``reason``, ``std_errors`` and ``diagnostics`` (``None`` when not fitted). Floats
            are stored exactly, so a JSON round trip through :meth:`from_dict` gives identical
            predictions; nothing is NaN or infinite (unknown values are ``None``).
        """
        fitted = hasattr(self, "params_")
        return json_safe(
            {
                "model": type(self).__name__,
                "format_version": _FORMAT_VERSION,
                "hyperparameters": {
                    "penalizer_coef": float(self.penalizer_coef),
                    "max_iter": int(self.max_iter),
                },
                "params": dict(self.params_) if fitted else None,
                "log_likelihood": self.log_likelihood_ if fitted else None,
                "n_customers": self.n_customers_ if fitted else None,
                "converged": self.converged_ if fitted else None,
                "reason": self.convergence_reason_ if fitted else None,
                "std_errors": dict(self.std_errors_) if fitted else None,
                "diagnostics": self.diagnostics_ if fitted else None,
            }
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Rebuild a model from :meth:`to_dict` output.

        Reads format 2 and the format 1 states of earlier versions, which have no ``reason``,
        ``std_errors`` or ``diagnostics``: those are then unknown (``std_errors_`` all
        ``None``, ``diagnostics_`` empty) and ``converged_`` is the saved flag.

        Parameters
        ----------
        d : dict
            State as returned by :meth:`to_dict` (possibly after a JSON round trip).

        Returns
        -------
        model
            A new instance of this class, fitted if the state was.

        Raises
        ------
        ModelError
            If the dict is not a state of this model class or is malformed.
        """
        if not isinstance(d, dict) or d.get("model") != cls.__name__:
            found = d.get("model") if isinstance(d, dict) else type(d).__name__
            raise ModelError(
                f"cannot load a {cls.__name__} from state of {found!r}",
                hint="use the from_dict of the class named in the state's 'model' key",
            )
        version = d.get("format_version")
        if version not in _READABLE_FORMATS or isinstance(version, bool):
            raise ModelError(
                f"unsupported {cls.__name__} state format {version!r}",
                hint="this version of segmint reads formats 1 and 2",
            )
        try:
            model = cls(**d["hyperparameters"])
            params = d.get("params")
            if params is not None:
                if set(params) != set(cls._param_names):
                    raise ModelError(
                        f"{cls.__name__} state has parameters {sorted(params)}, expected "
                        f"{sorted(cls._param_names)}",
                        hint="the saved model is corrupt or from another model class",
                    )
                values = {k: float(params[k]) for k in cls._param_names}
                if not all(math.isfinite(v) and v > 0 for v in values.values()):
                    raise ModelError(
                        f"{cls.__name__} state has non-positive or non-finite parameters",
                        hint="the saved model is corrupt",
                    )
                model.params_ = values
                model.log_likelihood_ = float(d["log_likelihood"])
                model.n_customers_ = int(d["n_customers"])
                model.converged_ = bool(d["converged"])
                model.convergence_reason_ = None
                model.std_errors_ = dict.fromkeys(cls._param_names)
                model.diagnostics_ = {}
                if version >= 2:
                    reason = d.get("reason")
                    model.convergence_reason_ = None if reason is None else str(reason)
                    saved_se = d.get("std_errors") or {}
                    model.std_errors_ = {
                        k: None if saved_se.get(k) is None else float(saved_se[k])
                        for k in cls._param_names
                    }
                    model.diagnostics_ = dict(d.get("diagnostics") or {})
                if not model.converged_ and model.convergence_reason_ is None:
                    model.convergence_reason_ = (
                        f"{cls._label}: the saved fit did not converge (no details were saved)"
                    )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ModelError):
                raise
            raise ModelError(
                f"malformed {cls.__name__} state: {exc}",
                hint="the saved model is corrupt or was written by another tool",
            ) from exc
        return model


def _unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Collapse identical customers into unique rows with counts (likelihood weights)."""
    stacked = np.column_stack(columns)
    uniq, counts = np.unique(stacked, axis=0, return_counts=True)
    return [uniq[:, i] for i in range(uniq.shape[1])], counts.astype(np.float64)


class _PurchaseModel(_CLVModel):
    """Base class of the purchase-count models, fitted on (frequency, recency, T).

    A subclass gives P(alive) in :meth:`_palive` and the conditional expected purchases in
    :meth:`_expected`; the notes of each model state its formulas.
    """

    # parameters that are rates per unit of time (they scale with the time unit)
    _time_scaled: ClassVar[tuple[str, ...]] = ("alpha",)

    def _rescale(
        self, columns: list[np.ndarray], w: np.ndarray
    ) -> tuple[list[np.ndarray], dict[str, float], float]:
        """Measure time in units of the customers' mean age T.

        The rate parameters (``_time_scaled``) scale with the time unit; the likelihood of the
        x repeat-purchase times is a density in time, so the original-scale log-likelihood is
        the rescaled one minus ``sum(x) * log(unit)``.
        """
        x, tx, T = columns
        unit = float(np.sum(w * T) / np.sum(w))
        if not (math.isfinite(unit) and unit > 0):
            unit = 1.0
        factors = dict.fromkeys(self._time_scaled, unit)
        return [x, tx / unit, T / unit], factors, -math.log(unit) * float(np.sum(w * x))

    @staticmethod
    def _rate_start(columns: list[np.ndarray], w: np.ndarray) -> float:
        """Mean repeat-purchase rate per (rescaled) unit of time, for moment-based starts."""
        x, _, T = columns
        rate = float(np.sum(w * x) / max(float(np.sum(w * T)), 1e-12))
        return min(max(rate, 1e-2), 1e2)

    def _palive(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _expected(self, t: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, frequency: Any, recency: Any, T: Any) -> Self:
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like
            Per-customer repeat-transaction count, time of last purchase and age, as returned
            by :func:`rfm_summary`.

        Returns
        -------
        model
            ``self``, fitted.

        Raises
        ------
        InputError
            If inputs are not finite, negative, of different lengths or inconsistent
            (recency > T, or recency > 0 with frequency 0).
        """
        self._check_hyperparameters()
        return self._fit_rows(*self._prepare(frequency, recency, T))

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        """Probability that a customer with history (x, t_x, T) is still alive.

        The formula is in the notes of the model class.

        Parameters
        ----------
        frequency, recency, T : array-like or float
            Customer histories (broadcast together).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            P(alive) per customer (a Series indexed like the first Series input, if any).
        """
        self._check_fitted()
        x, tx, T_ = self._prepare(frequency, recency, T)
        return _wrap(self._palive(x, tx, T_), frequency, recency, T, name="probability_alive")

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> Any:
        """Expected number of purchases in the next ``t`` periods given the history.

        The formula is in the notes of the model class.

        Parameters
        ----------
        t : float or array-like
            Length of the forecast period, in the time units of the fit.
        frequency, recency, T : array-like or float
            Customer histories (broadcast together with ``t``).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            Expected purchases per customer.
        """
        self._check_fitted()
        t_ = _as_array("t", t)
        x, tx, T_ = self._prepare(frequency, recency, T)
        result = self._expected(t_, x, tx, T_)
        return _wrap(result, frequency, recency, T, t, name="expected_purchases")

    def expected_purchases_new_customer(self, t: Any) -> Any:
        """Expected number of purchases of a new customer in their first ``t`` periods.

        The formula is in the notes of the model class.

        Parameters
        ----------
        t : float or array-like
            Time since the first purchase.

        Returns
        -------
        float or numpy.ndarray
            Expected repeat purchases.
        """
        self._check_fitted()
        t_ = _as_array("t", t)
        zero = np.zeros_like(t_)
        return _wrap(self._expected(t_, zero, zero, zero), t, name="expected_purchases")
