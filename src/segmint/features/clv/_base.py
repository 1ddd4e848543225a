"""Base classes of the lifetime-value models (their input checks are in ``_inputs``).

* :class:`_CLVModel`, the scikit-learn-style base of every model: hyper-parameters, the fit
  through :func:`~segmint.features.clv._fit.fit_mle` (identical customers collapsed into
  weighted rows, optionally with given weights, data rescaled first, a model-specific
  diagnosis of degenerate data), the fitted attributes ``params_``,
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

from segmint._logging import logger
from segmint.exceptions import InputError, ModelError
from segmint.features.clv._fit import Limit, fit_mle, json_safe
from segmint.features.clv._inputs import (
    _as_array,
    _check_rft,
    _check_same_length,
    _is_real,
    _wrap,
)

_FORMAT_VERSION = 2
_READABLE_FORMATS = (1, 2)


class _CLVModel:
    """Base class: scikit-learn-style parameter handling, the fit and JSON round-tripping.

    A subclass names its parameters in ``_param_names``, gives the weighted log-likelihood in
    :meth:`_loglik` (with its gradient, or ``None``), its starts in :meth:`_starts` and its
    :class:`~._fit.Limit` directions in ``_limits``, and may rescale its data in
    :meth:`_rescale` (default: none) and explain degenerate data in :meth:`_diagnose`
    (default: no diagnosis); :meth:`_fit_rows` hands all of it to :func:`~._fit.fit_mle`.
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
        plus ``offset``. The default is no rescaling, for models whose parameters are of order
        1 whatever the units of the data (e.g. beta shapes).
        """
        return columns, {}, 0.0

    def _starts(self, columns: list[np.ndarray], w: np.ndarray) -> list[list[float]]:
        """Deterministic starting values on the fitting scale (the first is all ones)."""
        raise NotImplementedError

    def _diagnose(self, columns: list[np.ndarray], w: np.ndarray) -> str | None:
        """A plain-words diagnosis of data that cannot identify the model, else ``None``.

        Called by :meth:`_fit_rows` on the unique rows (original scale) and their weights.
        A diagnosis is kept in ``diagnostics_["data_diagnosis"]``; when the fit did not
        converge it also becomes ``convergence_reason_``, and the reason of
        :func:`~._fit.fit_mle` moves to ``diagnostics_["fit_reason"]`` (from a corner of the
        parameter space every limit looks flat, so the limit checks can name several
        contradicting directions where the diagnosis names the cause). The default gives
        none.
        """
        return None

    def _fit_rows(self, *columns: np.ndarray, weights: np.ndarray | None = None) -> Self:
        """Fit by maximum likelihood on validated per-customer columns and return ``self``.

        Identical rows are collapsed into weighted unique rows (``weights``, one per row,
        default 1, are summed; rows of weight 0 are dropped), the data are rescaled and
        :func:`~._fit.fit_mle` does the rest (bounded log-parameters, several deterministic
        starts, the convergence rule); :meth:`_diagnose` may then name the cause of a failed
        fit. ``n_customers_`` is the sum of the weights, rounded.
        """
        unique, w = _unique_rows(*columns, weights=weights)
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
        reason = result.reason
        diagnostics = dict(result.diagnostics)
        diagnosis = self._diagnose(unique, w)
        if diagnosis is not None:
            diagnostics["data_diagnosis"] = diagnosis
            if reason is not None:
                diagnostics["fit_reason"] = reason
                reason = f"{self._label}: {diagnosis}"
        self.params_ = dict(result.params)
        self.log_likelihood_ = result.log_likelihood
        self.n_customers_ = round(float(w.sum()))
        self.converged_ = result.converged
        self.convergence_reason_ = reason
        self.std_errors_ = dict(result.std_errors)
        self.diagnostics_ = diagnostics
        logger.info(
            "%s fitted on %d customers (%d distinct rows): %s, log-likelihood %.4f%s",
            type(self).__name__,
            self.n_customers_,
            w.size,
            ", ".join(f"{k}={v:.6g}" for k, v in self.params_.items()),
            self.log_likelihood_,
            "" if result.converged else f" (NOT converged: {reason})",
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


def _unique_rows(
    *columns: np.ndarray, weights: np.ndarray | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Collapse identical rows into unique rows (sorted) with summed weights.

    Parameters
    ----------
    *columns : numpy.ndarray
        Per-row data columns of equal length.
    weights : numpy.ndarray, optional
        Weight of each row (number of customers), default 1; rows of weight 0 are dropped.

    Returns
    -------
    list of numpy.ndarray, numpy.ndarray
        The unique rows' columns and their weights (the likelihood weights).
    """
    stacked = np.column_stack(columns)
    if weights is None:
        weights = np.ones(stacked.shape[0])
    keep = weights > 0
    uniq, inverse = np.unique(stacked[keep], axis=0, return_inverse=True)
    w = np.bincount(inverse.ravel(), weights=weights[keep], minlength=uniq.shape[0])
    return [uniq[:, i] for i in range(uniq.shape[1])], w


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
