"""Customer-lifetime-value models: RFM summaries, BG/NBD, Pareto/NBD and Gamma-Gamma.

The module turns a transaction log into the per-customer "RFM" summary used by the
probability models of Fader, Hardie and co-authors, fits those models by maximum likelihood and
combines them into an expected, discounted customer lifetime value.

* :func:`rfm_summary` -- frequency / recency / T / monetary value (and holdout columns), computed
  with DuckDB SQL.
* :class:`BetaGeoModel` -- the BG/NBD purchase-count model.
* :class:`ParetoNBDModel` -- the Pareto/NBD purchase-count model.
* :class:`GammaGammaModel` -- the Gamma-Gamma model of average spend.
* :func:`customer_lifetime_value` -- discounted expected CLV per customer.
* :func:`clv_report` -- a JSON-serialisable summary of all of the above, with a holdout check.

All models follow scikit-learn conventions (hyper-parameters in ``__init__``, ``fit`` returns
``self``, fitted attributes end in ``_``) and serialise to plain JSON-compatible dicts with
:meth:`to_dict` / :meth:`from_dict`; nothing is pickled.

With the CDNOW sample (2,357 customers, 39-week calibration period) these implementations
reproduce the published estimates: BG/NBD r = 0.243, alpha = 4.414, a = 0.793, b = 2.426
(log-likelihood -9582.4); Pareto/NBD r = 0.553, alpha = 10.58, s = 0.606, beta = 11.67
(log-likelihood -9595.0); Gamma-Gamma p = 6.25, q = 3.74, gamma = 15.44.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the easy
   way: an alternative to the Pareto/NBD model. *Marketing Science*, 24(2), 275-284.
.. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value curves
   for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
.. [3] Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). Counting your customers: who
   are they and what will they do next? *Management Science*, 33(1), 1-24.
.. [4] Colombo, R. and Jiang, W. (1999). A stochastic RFM model. *Journal of Interactive
   Marketing*, 13(3), 2-12.
.. [5] Fader, P. S. and Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model and
   related expressions. http://brucehardie.com/notes/009/
.. [6] Fader, P. S. and Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
   http://brucehardie.com/notes/025/
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar, Self

import duckdb
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from segmint._logging import logger
from segmint.exceptions import InputError, ModelError

__all__ = [
    "BetaGeoModel",
    "GammaGammaModel",
    "ParetoNBDModel",
    "clv_report",
    "customer_lifetime_value",
    "rfm_summary",
]

_FORMAT_VERSION = 1
_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "DECIMAL",
)


# --------------------------------------------------------------------------------------------
# RFM summary (DuckDB)
# --------------------------------------------------------------------------------------------


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _to_date(value: Any, name: str) -> _dt.date:
    """Convert a user-given date-like value to a calendar date (time of day is dropped)."""
    if isinstance(value, numbers.Number):
        # pandas would read a number such as 19970930 as nanoseconds since 1970
        raise InputError(
            f"{name}={value!r} is a number, not a date",
            hint="pass an ISO date such as '1997-09-30', a datetime.date or a pandas Timestamp",
        )
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{name}={value!r} is not a date",
            hint="pass an ISO date such as '1997-09-30', a datetime.date or a pandas Timestamp",
        ) from exc
    if pd.isna(ts):
        raise InputError(f"{name} is missing (NaT)", hint=f"pass a date for {name}")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.date()


def rfm_summary(
    transactions: Any,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
    calibration_end: Any,
    observation_end: Any = None,
    time_unit_days: float = 7.0,
) -> pd.DataFrame:
    """Summarise a transaction log into per-customer frequency, recency, T and monetary value.

    The summary follows the conventions of Fader, Hardie & Lee [1]_ [2]_ (and of the
    ``lifetimes`` package's ``summary_data_from_transaction_data`` /
    ``calibration_and_holdout_data``):

    * all transactions of one customer on the same calendar day form **one** transaction whose
      value is the sum of the day's amounts;
    * the first transaction day is the customer's "birth" and is not a repeat transaction;
    * ``frequency`` (x) is the number of repeat transaction days in the calibration period
      (up to and including ``calibration_end``);
    * ``recency`` (t_x) is the time from the first to the last transaction day in the
      calibration period (0 when ``frequency`` is 0);
    * ``T`` is the time from the first transaction day to ``calibration_end``;
    * ``monetary_value`` is the mean value of the repeat transaction days in the calibration
      period (the first purchase is excluded), 0 when ``frequency`` is 0;
    * with ``observation_end``: ``frequency_holdout`` is the number of transaction days after
      ``calibration_end`` up to and including ``observation_end``, ``monetary_value_holdout``
      their mean value (0 if none) and ``duration_holdout`` the length of the holdout period.

    Times are measured in whole days and divided by ``time_unit_days`` (7 gives weeks). Only
    customers whose first purchase is on or before ``calibration_end`` are returned.
    Transactions after ``observation_end`` (or after ``calibration_end`` when no
    ``observation_end`` is given) are ignored.

    The work is done by one DuckDB SQL query on the input registered on a fresh in-memory
    connection.

    Parameters
    ----------
    transactions : pandas.DataFrame or pyarrow.Table
        One row per transaction (order line, receipt, ...).
    customer_col, date_col, amount_col : str
        Names of the customer id, transaction date and transaction value columns. Dates may be
        dates, naive timestamps (time of day is dropped) or ISO strings; time-zone-aware
        timestamps are converted to UTC calendar dates, so convert them to local naive
        timestamps first if local days matter.
    calibration_end : date-like
        Last day (inclusive) of the calibration period.
    observation_end : date-like, optional
        Last day (inclusive) of the holdout period; must be after ``calibration_end``.
    time_unit_days : float, default 7.0
        Length of one time unit in days.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), with columns ``frequency`` (int), ``recency``, ``T``,
        ``monetary_value`` and, when ``observation_end`` is given, ``frequency_holdout`` (int),
        ``monetary_value_holdout`` and ``duration_holdout``.

    Raises
    ------
    InputError
        If a column is missing or has an unusable type or missing values, if
        ``observation_end`` is not after ``calibration_end``, or if no customer made a first
        purchase on or before ``calibration_end``.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. *Marketing Science*, 24(2), 275-284.
    .. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
    """
    if not (_is_real(time_unit_days) and time_unit_days > 0):
        raise InputError(
            f"time_unit_days must be a positive number, got {time_unit_days!r}",
            hint="use 1 for days, 7 for weeks, 365.25/12 for months",
        )
    cal_end = _to_date(calibration_end, "calibration_end")
    obs_end = None if observation_end is None else _to_date(observation_end, "observation_end")
    if obs_end is not None and obs_end <= cal_end:
        raise InputError(
            f"observation_end ({obs_end}) must be after calibration_end ({cal_end})",
            hint="the holdout period runs from the day after calibration_end to observation_end",
        )

    con = duckdb.connect()
    try:
        try:
            con.execute("SET TimeZone = 'UTC'")
        except duckdb.Error:  # pragma: no cover - ICU extension unavailable
            logger.debug("rfm_summary: could not set the DuckDB time zone to UTC")
        try:
            con.register("transactions_input", transactions)
        except (duckdb.Error, TypeError, ValueError) as exc:
            raise InputError(
                f"transactions of type {type(transactions).__name__} cannot be read",
                hint="pass a pandas DataFrame or a pyarrow Table",
            ) from exc
        schema = {row[0]: row[1] for row in con.sql("DESCRIBE transactions_input").fetchall()}
        missing = [c for c in (customer_col, date_col, amount_col) if c not in schema]
        if missing:
            raise InputError(
                f"transactions has no column(s) {', '.join(map(repr, missing))}",
                hint=f"available columns: {', '.join(map(repr, schema))}; set customer_col, "
                "date_col and amount_col to the right names",
            )
        amount_type = schema[amount_col].split("(")[0]
        if amount_type not in _NUMERIC_TYPES:
            raise InputError(
                f"amount column {amount_col!r} has type {schema[amount_col]}, not a number",
                hint="convert it to a numeric type (e.g. pandas.to_numeric)",
            )
        date_type = schema[date_col]
        if not (date_type in ("DATE", "VARCHAR") or date_type.startswith("TIMESTAMP")):
            raise InputError(
                f"date column {date_col!r} has type {date_type}, not a date",
                hint="convert it to dates first, e.g. pandas.to_datetime(df[col], "
                "format='%Y%m%d') for YYYYMMDD integers",
            )

        cust, date, amount = (_quote_ident(c) for c in (customer_col, date_col, amount_col))
        if date_type == "VARCHAR":
            day_expr = f"CAST(TRY_CAST({date} AS TIMESTAMP) AS DATE)"
        else:
            day_expr = f"CAST({date} AS DATE)"
        checks = con.sql(
            f"""
            SELECT
                count(*) AS n_rows,
                count(*) FILTER (WHERE {cust} IS NULL) AS null_customer,
                count(*) FILTER (WHERE {date} IS NULL) AS null_date,
                count(*) FILTER (WHERE {date} IS NOT NULL AND {day_expr} IS NULL) AS bad_date,
                any_value(CAST({date} AS VARCHAR))
                    FILTER (WHERE {date} IS NOT NULL AND {day_expr} IS NULL) AS bad_example,
                count(*) FILTER (WHERE {amount} IS NULL OR NOT isfinite(CAST({amount} AS DOUBLE)))
                    AS bad_amount,
                min({day_expr}) AS first_day
            FROM transactions_input
            """
        ).fetchall()[0]
        n_rows, null_customer, null_date, bad_date, bad_example, bad_amount, first_day = checks
        if n_rows == 0:
            raise InputError("transactions is empty", hint="pass at least one transaction")
        for count, col, what in (
            (null_customer, customer_col, "missing customer ids"),
            (null_date, date_col, "missing dates"),
            (bad_amount, amount_col, "missing or non-finite amounts"),
        ):
            if count:
                raise InputError(
                    f"column {col!r} has {count} {what}",
                    hint="drop or fill those rows before computing the RFM summary",
                )
        if bad_date:
            raise InputError(
                f"column {date_col!r} has {bad_date} value(s) that are not dates "
                f"(e.g. {bad_example!r})",
                hint="use ISO dates such as '1997-01-31' or convert with pandas.to_datetime",
            )
        if first_day > cal_end:
            raise InputError(
                f"calibration_end ({cal_end}) is before the first transaction ({first_day}); "
                "no customer has a purchase in the calibration period",
                hint="choose a calibration_end after the start of the data",
            )

        horizon_end = obs_end if obs_end is not None else cal_end
        holdout_cols = ""
        if obs_end is not None:
            holdout_cols = """,
                count(*) FILTER (WHERE d.day > $cal_end) AS frequency_holdout,
                coalesce(avg(d.amount) FILTER (WHERE d.day > $cal_end), 0.0)
                    AS monetary_value_holdout,
                date_diff('day', $cal_end, $horizon_end) / $unit AS duration_holdout"""
        query = f"""
            WITH daily AS (
                SELECT {cust} AS customer, {day_expr} AS day,
                       -- exact sums: a parallel float sum differs in its last bits from
                       -- run to run, and the fits downstream would follow it
                       sum(CAST({amount} AS DECIMAL(38, 10))) AS amount
                FROM transactions_input
                WHERE {day_expr} <= $horizon_end
                GROUP BY ALL
            ),
            births AS (
                SELECT customer, min(day) AS first_day
                FROM daily
                GROUP BY customer
                HAVING min(day) <= $cal_end
            )
            SELECT
                b.customer AS customer,
                count(*) FILTER (WHERE d.day > b.first_day AND d.day <= $cal_end) AS frequency,
                date_diff('day', b.first_day, max(d.day) FILTER (WHERE d.day <= $cal_end))
                    / $unit AS recency,
                date_diff('day', b.first_day, $cal_end) / $unit AS "T",
                coalesce(
                    avg(d.amount) FILTER (WHERE d.day > b.first_day AND d.day <= $cal_end), 0.0
                ) AS monetary_value{holdout_cols}
            FROM births AS b
            JOIN daily AS d USING (customer)
            GROUP BY b.customer, b.first_day
            ORDER BY b.customer
        """
        result = con.sql(
            query,
            params={
                "cal_end": cal_end,
                "horizon_end": horizon_end,
                "unit": float(time_unit_days),
            },
        ).df()
    finally:
        con.close()

    result = result.set_index("customer")
    result.index.name = customer_col
    result["frequency"] = result["frequency"].astype("int64")
    for col in ("recency", "T", "monetary_value"):
        result[col] = result[col].astype("float64")
    if obs_end is not None:
        result["frequency_holdout"] = result["frequency_holdout"].astype("int64")
        result["monetary_value_holdout"] = result["monetary_value_holdout"].astype("float64")
        result["duration_holdout"] = result["duration_holdout"].astype("float64")
    logger.debug(
        "rfm_summary: %d customers, %d repeat buyers (calibration_end=%s, observation_end=%s)",
        len(result),
        int((result["frequency"] > 0).sum()),
        cal_end,
        obs_end,
    )
    return result


# --------------------------------------------------------------------------------------------
# Shared model machinery
# --------------------------------------------------------------------------------------------


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


def _minimize(
    objective: Callable[[np.ndarray], Any],
    x0: np.ndarray,
    *,
    jac: bool,
    max_iter: int,
    model: str,
) -> tuple[np.ndarray, bool]:
    """Minimise a mean negative log-likelihood over log-parameters with BFGS."""
    res = minimize(
        objective,
        x0,
        jac=jac,
        method="BFGS",
        options={"maxiter": max_iter, "gtol": 1e-9},
    )
    x = np.asarray(res.x, dtype=np.float64)
    if jac:
        grad = np.asarray(objective(x)[1])
    else:
        grad = np.asarray(getattr(res, "jac", np.full_like(x, np.inf)))
    # BFGS often stops with "precision loss" exactly at the optimum; a tiny gradient there is a
    # converged fit all the same.
    converged = bool(res.success) or bool(np.all(np.isfinite(grad)) and np.max(np.abs(grad)) < 1e-5)
    if not converged:
        logger.warning("%s: optimiser did not converge (%s)", model, res.message)
    return x, converged


class _CLVModel:
    """Base class: scikit-learn-style parameter handling, the fit and JSON round-tripping.

    A subclass names its parameters in ``_param_names`` and gives the weighted log-likelihood
    in :meth:`_loglik`; ``_analytic_gradient`` says whether that also returns the gradient.
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _analytic_gradient: ClassVar[bool] = True

    params_: dict[str, float]
    log_likelihood_: float
    n_customers_: int
    converged_: bool

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
        ``None`` when the model has no ``_analytic_gradient``.
        """
        raise NotImplementedError

    def _objective(self, log_params: np.ndarray, *data: np.ndarray) -> Any:
        """Penalised mean negative log-likelihood over log-parameters, for :func:`_minimize`.

        Returns the value, or the value and its gradient when the model has an analytic one.
        """
        params = np.exp(log_params)
        ll, grad = self._loglik(params, *data)
        n = data[-1].sum()
        pen = self.penalizer_coef
        value = -ll / n + pen * np.sum(params**2)
        if grad is None:
            return float(value)
        # gradient with respect to log-parameters
        return float(value), -grad * params / n + 2.0 * pen * params**2

    def _fit_rows(self, *columns: np.ndarray) -> Self:
        """Fit by maximum likelihood on validated per-customer columns and return ``self``.

        Identical customers are collapsed into weighted rows; BFGS over log-parameters starts
        at all parameters equal to 1, so the fit is deterministic.
        """
        unique, w = _unique_rows(*columns)
        log_params, converged = _minimize(
            lambda lp: self._objective(lp, *unique, w),
            np.zeros(len(self._param_names)),
            jac=self._analytic_gradient,
            max_iter=self.max_iter,
            model=type(self).__name__,
        )
        params = np.exp(log_params)
        ll, _ = self._loglik(params, *unique, w)
        self.params_ = {k: float(v) for k, v in zip(self._param_names, params, strict=True)}
        self.log_likelihood_ = float(ll)
        self.n_customers_ = int(w.sum())
        self.converged_ = bool(converged)
        logger.info(
            "%s fitted on %d customers: %s, log-likelihood %.4f%s",
            type(self).__name__,
            self.n_customers_,
            ", ".join(f"{k}={v:.6g}" for k, v in self.params_.items()),
            self.log_likelihood_,
            "" if converged else " (NOT converged)",
        )
        return self

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the model state as a JSON-serialisable dict.

        Returns
        -------
        dict
            ``model`` (class name), ``format_version``, ``hyperparameters`` and, for a fitted
            model, ``params``, ``log_likelihood``, ``n_customers`` and ``converged``
            (``None`` when not fitted). Floats are stored exactly, so a JSON round trip
            through :meth:`from_dict` gives identical predictions.
        """
        fitted = hasattr(self, "params_")
        return {
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
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Rebuild a model from :meth:`to_dict` output.

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
        if d.get("format_version") != _FORMAT_VERSION:
            raise ModelError(
                f"unsupported {cls.__name__} state format {d.get('format_version')!r}",
                hint=f"this version of segmint reads format {_FORMAT_VERSION}",
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


# --------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------


class BetaGeoModel(_PurchaseModel):
    r"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee, 2005).

    While "alive", a customer buys according to a Poisson process with rate
    :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`; after each purchase they drop out with
    probability :math:`p \sim \mathrm{Beta}(a, b)`. Parameters are estimated by maximum
    likelihood on (frequency, recency, T) with BFGS over log-parameters and an analytic
    gradient; identical customers are collapsed into weighted rows first. The fit is
    deterministic (fixed start at all parameters equal to 1).

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty on the parameters: the optimiser minimises
        ``-loglik / n + penalizer_coef * sum(params ** 2)`` (the ``lifetimes`` convention).
        ``log_likelihood_`` is always the unpenalised log-likelihood.
    max_iter : int, default 1000
        Maximum number of BFGS iterations.

    Attributes
    ----------
    params_ : dict
        Fitted ``r``, ``alpha``, ``a`` and ``b``.
    log_likelihood_ : float
        Log-likelihood at the estimate (equation (6) of [1]_, no constant dropped).
    n_customers_ : int
        Number of customers used in the fit.
    converged_ : bool
        Whether the optimiser converged.

    Notes
    -----
    :meth:`probability_alive` is

    .. math:: P(\text{alive}) = \left[1 + \delta_{x>0} \frac{a}{b+x-1}
       \left(\frac{\alpha+T}{\alpha+t_x}\right)^{r+x}\right]^{-1}

    which is exactly 1 for customers without repeat purchases (equation (11) of [1]_ with the
    correction of [2]_); it is computed as a logistic function of a log-odds.

    :meth:`expected_purchases` is equation (10) of [1]_:

    .. math:: E[Y(t) \mid x, t_x, T] = \frac{a+b+x-1}{a-1}
       \left[1 - \left(\frac{\alpha+T}{\alpha+T+t}\right)^{r+x}
       {}_2F_1\left(r+x, b+x; a+b+x-1; \frac{t}{\alpha+T+t}\right)\right] P(\text{alive})

    For large x the hypergeometric function overflows while the power underflows. Euler's
    transformation rewrites the product, with :math:`z = t/(\alpha+T+t)`, as
    :math:`(1-z)^{a-1}\,{}_2F_1(a+b-1-r, a-1; a+b+x-1; z)`, whose arguments stay bounded, so no
    overflow occurs.

    :meth:`expected_purchases_new_customer` is equation (9) of [1]_:
    :math:`E[X(t)] = \frac{a+b-1}{a-1}\left[1 - \left(\frac{\alpha}{\alpha+t}\right)^r
    {}_2F_1\left(r, b; a+b-1; \frac{t}{\alpha+t}\right)\right]`.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. *Marketing Science*, 24(2), 275-284.
    .. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2008). Computing P(alive) using the
       BG/NBD model. http://brucehardie.com/notes/021/

    Examples
    --------
    >>> summary = rfm_summary(transactions, calibration_end="1997-09-30")  # doctest: +SKIP
    >>> model = BetaGeoModel().fit(  # doctest: +SKIP
    ...     summary["frequency"], summary["recency"], summary["T"]
    ... )
    >>> model.expected_purchases(39, 2, 30.43, 38.86)  # doctest: +SKIP
    1.226...
    """

    _param_names = ("r", "alpha", "a", "b")

    def _loglik(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> tuple[float, np.ndarray]:
        return _bgnbd_loglik(*params, x, tx, T, w)

    def _palive(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._values()
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (
                np.log(a)
                - np.log(np.maximum(b + x - 1.0, 1e-300))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
            )
        return expit(-np.where(x > 0, log_odds, -np.inf))

    def _expected(self, t: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._values()
        if abs(a - 1.0) < 1e-7:
            # removable singularity at a = 1: average the two sides
            return (
                0.5
                * (
                    _bgnbd_uncond_part(r, alpha, 1.0 - 1e-7, b, t, x, T)
                    + _bgnbd_uncond_part(r, alpha, 1.0 + 1e-7, b, t, x, T)
                )
                * self._palive(x, tx, T)
            )
        return _bgnbd_uncond_part(r, alpha, a, b, t, x, T) * self._palive(x, tx, T)


def _bgnbd_loglik(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    w: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Weighted BG/NBD log-likelihood and its gradient in (r, alpha, a, b)."""
    repeat = x > 0
    xm1 = np.where(repeat, x - 1.0, 0.0)
    base = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    blab = betaln(a, b)
    t1 = betaln(a, b + x) - blab - (r + x) * np.log(alpha + T)
    t2 = np.where(repeat, betaln(a + 1.0, b + xm1) - blab - (r + x) * np.log(alpha + tx), -np.inf)
    lse = np.logaddexp(t1, t2)
    ll = float(np.sum(w * (base + lse)))
    w1 = np.exp(t1 - lse)
    w2 = np.where(repeat, np.exp(t2 - lse), 0.0)
    psi_abx = digamma(a + b + x)
    psi_ab = digamma(a + b)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w1 * np.log(alpha + T)
    d_r -= np.where(repeat, w2 * np.log(alpha + tx), 0.0)
    d_alpha = r / alpha - w1 * (r + x) / (alpha + T) - w2 * (r + x) / (alpha + tx)
    d_a = w1 * (digamma(a) - psi_abx) + w2 * (digamma(a + 1.0) - psi_abx) - (digamma(a) - psi_ab)
    d_b = (
        w1 * (digamma(b + x) - psi_abx)
        + np.where(repeat, w2 * (digamma(b + xm1) - psi_abx), 0.0)
        - (digamma(b) - psi_ab)
    )
    grad = np.array([np.sum(w * d) for d in (d_r, d_alpha, d_a, d_b)])
    return ll, grad


def _bgnbd_uncond_part(
    r: float, alpha: float, a: float, b: float, t: np.ndarray, x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """(a+b+x-1)/(a-1) * [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)], z = t/(alpha+T+t)."""
    c = a + b + x - 1.0
    log1mz = np.log(alpha + T) - np.log(alpha + T + t)
    z = t / (alpha + T + t)
    hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    return c / (a - 1.0) * (1.0 - np.exp((a - 1.0) * log1mz) * hyp)


# --------------------------------------------------------------------------------------------
# Pareto/NBD
# --------------------------------------------------------------------------------------------


class ParetoNBDModel(_PurchaseModel):
    r"""Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo, 1987).

    While alive a customer buys at Poisson rate :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`;
    their unobserved lifetime is exponential with rate :math:`\mu \sim \mathrm{Gamma}(s,
    \beta)`. Maximum likelihood uses the expression of Fader & Hardie [2]_ (equation (22)),
    computed in log space: the Gaussian hypergeometric functions are rewritten with Euler's
    transformation into series with positive terms, and the difference :math:`A_0` is taken
    with a log-difference. BFGS over log-parameters, numerical gradient, fixed start at all
    parameters equal to 1 (deterministic).

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty: minimises ``-loglik / n + penalizer_coef * sum(params ** 2)``.
    max_iter : int, default 1000
        Maximum number of BFGS iterations.

    Attributes
    ----------
    params_ : dict
        Fitted ``r``, ``alpha``, ``s`` and ``beta``.
    log_likelihood_ : float
        Log-likelihood at the estimate.
    n_customers_ : int
        Number of customers used in the fit.
    converged_ : bool
        Whether the optimiser converged.

    Notes
    -----
    :meth:`probability_alive` is equation (18) of [2]_; it is 1 when ``recency == T``:

    .. math:: P(\text{alive}) = \left[1 + \frac{s}{r+s+x}(\alpha+T)^{r+x}(\beta+T)^s A_0
       \right]^{-1}

    :meth:`expected_purchases` is equation (41) of [2]_ (the limit is used at s = 1):

    .. math:: E[Y(t)\mid x, t_x, T] = \frac{(r+x)(\beta+T)}{(\alpha+T)(s-1)}
       \left[1 - \left(\frac{\beta+T}{\beta+T+t}\right)^{s-1}\right] P(\text{alive})

    :meth:`expected_purchases_new_customer` is equation (17) of [2]_:
    :math:`E[X(t)] = \frac{r\beta}{\alpha(s-1)}\left[1 - \left(\frac{\beta}{\beta+t}
    \right)^{s-1}\right]`.

    References
    ----------
    .. [1] Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). Counting your customers:
       who are they and what will they do next? *Management Science*, 33(1), 1-24.
    .. [2] Fader, P. S. and Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model and
       related expressions. http://brucehardie.com/notes/009/
    """

    _param_names = ("r", "alpha", "s", "beta")
    _analytic_gradient = False

    def _loglik(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> tuple[float, None]:
        return float(np.sum(w * _pnbd_loglik_terms(*params, x, tx, T))), None

    def _palive(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = self._values()
        log_a0 = _pnbd_log_a0(r, alpha, s, beta, x, tx, T)
        log_odds = (
            np.log(s)
            - np.log(r + s + x)
            + (r + x) * np.log(alpha + T)
            + s * np.log(beta + T)
            + log_a0
        )
        return expit(-log_odds)

    def _expected(self, t: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = self._values()
        log_ratio = np.log(beta + T + t) - np.log(beta + T)
        sm1 = s - 1.0
        # [1 - ((beta+T)/(beta+T+t))^(s-1)] / (s-1), with its limit log-ratio at s = 1
        if abs(sm1) < 1e-10:
            factor = log_ratio
        else:
            factor = -np.expm1(-sm1 * log_ratio) / sm1
        return (r + x) * (beta + T) / (alpha + T) * factor * self._palive(x, tx, T)


def _pnbd_log_a0(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
) -> np.ndarray:
    """log A_0 of the Pareto/NBD likelihood (-inf when recency == T).

    With k = max(alpha, beta), d = |alpha - beta|, m = min(alpha, beta), c = r+s+x and
    B = s+1 (alpha >= beta) or r+x (alpha < beta),
    A_0 = g(t_x) - g(T) with g(y) = 2F1(c, B; c+1; d/(k+y)) / (k+y)^c. Euler's transformation
    gives 2F1(c, B; c+1; z) = (1-z)^(1-B) 2F1(1, c+1-B; c+1; z), a series of positive terms.
    """
    c = r + s + x
    if alpha >= beta:
        k, m, B = alpha, beta, s + 1.0
    else:
        k, m, B = beta, alpha, r + x
    d = k - m

    def log_g(y: np.ndarray) -> np.ndarray:
        z = d / (k + y)
        log1mz = np.log(m + y) - np.log(k + y)
        return (1.0 - B) * log1mz + np.log(hyp2f1(1.0, c + 1.0 - B, c + 1.0, z)) - c * np.log(k + y)

    lg_tx = log_g(tx)
    lg_T = log_g(T)
    with np.errstate(divide="ignore"):
        return lg_tx + np.log1p(-np.minimum(np.exp(lg_T - lg_tx), 1.0))


def _pnbd_loglik_terms(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
) -> np.ndarray:
    """Per-row Pareto/NBD log-likelihood."""
    base = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    second = np.log(s) - np.log(r + s + x) + _pnbd_log_a0(r, alpha, s, beta, x, tx, T)
    return base + np.logaddexp(first, second)


# --------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------


class GammaGammaModel(_CLVModel):
    r"""Gamma-Gamma model of average transaction value (Colombo & Jiang 1999; Fader et al. 2005).

    A customer's transaction values are Gamma(p, nu) distributed (mean p/nu), with
    :math:`\nu \sim \mathrm{Gamma}(q, \gamma)` across customers; the average
    :math:`\bar m_x` of x transactions is then Gamma(px, nu x). ``v`` is the paper's
    :math:`\gamma`. The model is fitted on customers with at least one repeat transaction
    (customers with ``frequency == 0`` are dropped, as they carry no information).

    Spend convention: the published CDNOW estimates (p = 6.25, q = 3.74, gamma = 15.44; [2]_)
    are reproduced with the :func:`rfm_summary` convention, i.e. ``frequency`` counts repeat
    transaction *days* and ``monetary_value`` is the mean value of those repeat days, with
    same-day purchases summed and the first purchase excluded (the convention of ``lifetimes``).
    Averaging per record instead (not merging same-day records) gives p = 6.05, q = 3.89,
    gamma = 16.4 on the same data.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty: minimises ``-loglik / n + penalizer_coef * sum(params ** 2)``.
    max_iter : int, default 1000
        Maximum number of BFGS iterations.

    Attributes
    ----------
    params_ : dict
        Fitted ``p``, ``q`` and ``v`` (the paper's gamma).
    log_likelihood_ : float
        Log-likelihood of the observed average spends (density of :math:`\bar m_x`).
    n_customers_ : int
        Number of repeat buyers used in the fit.
    converged_ : bool
        Whether the optimiser converged.

    References
    ----------
    .. [1] Colombo, R. and Jiang, W. (1999). A stochastic RFM model. *Journal of Interactive
       Marketing*, 13(3), 2-12.
    .. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
    .. [3] Fader, P. S. and Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
       http://brucehardie.com/notes/025/
    """

    _param_names = ("p", "q", "v")

    def _loglik(
        self, params: np.ndarray, x: np.ndarray, m: np.ndarray, w: np.ndarray
    ) -> tuple[float, np.ndarray]:
        return _gg_loglik(*params, x, m, w)

    def fit(self, frequency: Any, monetary_value: Any) -> Self:
        """Fit the model by maximum likelihood on the repeat buyers.

        Parameters
        ----------
        frequency : array-like
            Number of repeat transactions per customer.
        monetary_value : array-like
            Mean value of those repeat transactions.

        Returns
        -------
        GammaGammaModel
            ``self``, fitted.

        Raises
        ------
        InputError
            If there is no customer with ``frequency > 0``, if a repeat buyer has a
            non-positive ``monetary_value``, or the inputs are malformed.
        """
        self._check_hyperparameters()
        x, m = _spend_arrays(frequency, monetary_value)
        repeat = x > 0
        if not np.any(repeat):
            raise InputError(
                "no customer has a repeat purchase (frequency > 0); the Gamma-Gamma spend "
                "model cannot be fitted",
                hint="use a longer calibration period or more customers",
            )
        x, m = x[repeat], m[repeat]
        if np.any(m <= 0):
            raise InputError(
                f"{int(np.sum(m <= 0))} repeat buyer(s) have a non-positive monetary_value",
                hint="the Gamma-Gamma model needs positive spend; drop refunds or zero-value "
                "customers first",
            )
        logger.debug("GammaGammaModel: %d of %d customers are repeat buyers", x.size, repeat.size)
        return self._fit_rows(x, m)

    def conditional_expected_spend(self, frequency: Any, monetary_value: Any) -> Any:
        r"""Expected mean transaction value given x transactions averaging :math:`\bar m_x`.

        .. math:: E[M \mid p, q, \gamma, \bar m_x, x] = \frac{q-1}{px+q-1}\frac{p\gamma}{q-1}
           + \frac{px}{px+q-1}\bar m_x

        a weighted average of the population mean :math:`p\gamma/(q-1)` and the observed mean
        (equation (5) of [1]_). For ``frequency == 0`` it is the population mean.

        Parameters
        ----------
        frequency, monetary_value : array-like or float
            Repeat transactions and their mean value per customer.

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            Expected spend per transaction.

        Raises
        ------
        InputError
            If the fitted q <= 1 (the population mean spend is infinite).

        References
        ----------
        .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using
           iso-value curves for customer base analysis. *Journal of Marketing Research*,
           42(4), 415-430.
        """
        self._check_fitted()
        p, q, v = self._values()
        if q <= 1:
            raise InputError(
                f"the fitted Gamma-Gamma q = {q:.4g} is <= 1, so expected spend is infinite",
                hint="spend is too heterogeneous for the Gamma-Gamma model; try a penalizer",
            )
        x, m = _spend_arrays(frequency, monetary_value)
        result = (p * v + p * x * m) / (p * x + q - 1.0)
        return _wrap(result, frequency, monetary_value, name="expected_spend")


def _gg_loglik(
    p: float, q: float, v: float, x: np.ndarray, m: np.ndarray, w: np.ndarray
) -> tuple[float, np.ndarray]:
    """Weighted Gamma-Gamma log-likelihood of mean spends and its gradient in (p, q, v)."""
    px = p * x
    log_vmx = np.log(v + m * x)
    ll_terms = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_vmx
    )
    psi_pxq = digamma(px + q)
    d_p = x * (psi_pxq - digamma(px) + np.log(m) + np.log(x) - log_vmx)
    d_q = psi_pxq - digamma(q) + np.log(v) - log_vmx
    d_v = q / v - (px + q) / (v + m * x)
    grad = np.array([np.sum(w * d) for d in (d_p, d_q, d_v)])
    return float(np.sum(w * ll_terms)), grad


# --------------------------------------------------------------------------------------------
# CLV and report
# --------------------------------------------------------------------------------------------


def customer_lifetime_value(
    bgnbd: BetaGeoModel | ParetoNBDModel,
    gamma_gamma: GammaGammaModel,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    horizon_periods: float,
    discount_rate_per_period: float,
    periods_per_step: float = 1.0,
) -> Any:
    r"""Expected discounted customer lifetime value over a finite horizon.

    The horizon :math:`H` is cut into :math:`K = \lceil H / \Delta \rceil` steps of
    :math:`\Delta` = ``periods_per_step`` periods (the last one possibly shorter), ending at
    :math:`t_k = \min(k\Delta, H)`. Purchases of step k are valued at its end:

    .. math:: \mathrm{CLV} = E[M \mid \bar m_x, x] \sum_{k=1}^{K}
       \frac{E[Y(t_k) \mid x, t_x, T] - E[Y(t_{k-1}) \mid x, t_x, T]}{(1+d)^{t_k}}

    with :math:`d` = ``discount_rate_per_period`` (so a step of :math:`\Delta` periods is
    discounted by :math:`(1+d)^{\Delta}`; with ``periods_per_step=1`` the factor is
    :math:`(1+d)^{k}`), :math:`E[Y(t)\mid\cdot]` the conditional expected purchases of the
    purchase-count model and :math:`E[M\mid\cdot]` the Gamma-Gamma conditional expected spend.
    This is the scheme of ``lifetimes`` (which uses monthly steps). As the step shrinks and
    the horizon grows it approaches the continuously discounted expected residual lifetime
    value (DERL, with rate :math:`\ln(1+d)`) of [1]_ times the expected spend.

    Parameters
    ----------
    bgnbd : BetaGeoModel or ParetoNBDModel
        Fitted purchase-count model.
    gamma_gamma : GammaGammaModel
        Fitted spend model.
    frequency, recency, T, monetary_value : array-like
        Customer histories (as returned by :func:`rfm_summary`), in the time unit of the fit.
    horizon_periods : float
        Forecast horizon, in time units (e.g. 52 for one year of weeks).
    discount_rate_per_period : float
        Discount rate per time unit (e.g. ``1.10 ** (1 / 52) - 1`` for 10 % a year in weeks).
    periods_per_step : float, default 1.0
        Length of one discounting step, in time units.

    Returns
    -------
    numpy.ndarray or pandas.Series
        Expected discounted value per customer, in the currency of ``monetary_value``.

    Raises
    ------
    InputError
        If the horizon, step or discount rate is invalid or the inputs are malformed.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
    """
    for name, value, ok in (
        ("horizon_periods", horizon_periods, lambda v: v > 0),
        ("periods_per_step", periods_per_step, lambda v: v > 0),
        ("discount_rate_per_period", discount_rate_per_period, lambda v: v > -1),
    ):
        if not (_is_real(value) and ok(value)):
            raise InputError(
                f"{name} must be a finite number in range, got {value!r}",
                hint="horizon_periods and periods_per_step must be > 0 and "
                "discount_rate_per_period > -1",
            )
    bgnbd._check_fitted()
    x, tx, T_ = bgnbd._prepare(frequency, recency, T)
    _, m = _spend_arrays(x, monetary_value)
    spend = np.asarray(gamma_gamma.conditional_expected_spend(x, m), dtype=np.float64)

    n_steps = max(1, math.ceil(horizon_periods / periods_per_step - 1e-9))
    edges = np.minimum(np.arange(n_steps + 1) * float(periods_per_step), float(horizon_periods))
    total = np.zeros(np.broadcast_shapes(x.shape, tx.shape, T_.shape, m.shape))
    previous = np.zeros_like(total)
    for end in edges[1:]:
        cumulative = bgnbd._expected(np.asarray(end), x, tx, T_)
        total = total + (cumulative - previous) / (1.0 + discount_rate_per_period) ** end
        previous = cumulative
    return _wrap(total * spend, frequency, recency, T, monetary_value, name="clv")


def clv_report(
    transactions: Any,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
    time_unit_days: float = 7.0,
    max_frequency_group: int = 7,
) -> dict[str, Any]:
    """Fit BG/NBD and Gamma-Gamma to a transaction log and summarise them as a JSON-able dict.

    The RFM summary comes from :func:`rfm_summary`; BG/NBD is fitted on all customers and
    Gamma-Gamma on those with ``frequency > 0`` (repeat buyers whose mean repeat spend is not
    positive, e.g. free or refunded orders, are left out of it with a logged warning). With
    ``observation_end`` the BG/NBD conditional expectations for the holdout period are
    compared with the actual repeat purchases, in total and by number of calibration-period
    repeat purchases (0, 1, ..., ``max_frequency_group``+), as in Figure 4 of [1]_.

    Parameters
    ----------
    transactions : pandas.DataFrame or pyarrow.Table
        Transaction log.
    calibration_end : date-like
        Last day of the calibration period.
    observation_end : date-like, optional
        Last day of the holdout period.
    customer_col, date_col, amount_col : str
        Column names.
    time_unit_days : float, default 7.0
        Length of a time unit in days.
    max_frequency_group : int, default 7
        Customers with at least this many calibration repeat purchases form the last group.

    Returns
    -------
    dict
        ``calibration_end``, ``observation_end`` (ISO strings or None), ``time_unit_days``,
        ``n_customers``, ``n_repeat_buyers``, ``calibration_repeat_purchases``,
        ``bgnbd`` (``params``, ``log_likelihood``, ``converged``), ``gamma_gamma``
        (``params``, ``log_likelihood``, ``n_customers``, ``converged``,
        ``n_excluded_nonpositive_spend``, ``mean_spend``) and,
        with ``observation_end``, ``holdout`` with ``duration_periods``, ``expected_total``,
        ``actual_total`` and ``by_frequency`` (a list of groups with ``frequency`` label,
        ``n_customers``, ``expected_total``, ``actual_total``, ``expected_mean``,
        ``actual_mean``).

    Raises
    ------
    InputError
        As :func:`rfm_summary`, or if there are no repeat buyers for the Gamma-Gamma model.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. *Marketing Science*, 24(2), 275-284.
    .. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
    """
    if not (isinstance(max_frequency_group, numbers.Integral) and max_frequency_group >= 1):
        raise InputError(
            f"max_frequency_group must be a positive integer, got {max_frequency_group!r}",
            hint="the paper groups 0, 1, ..., 7+",
        )
    summary = rfm_summary(
        transactions,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        calibration_end=calibration_end,
        observation_end=observation_end,
        time_unit_days=time_unit_days,
    )
    freq, rec, age = summary["frequency"], summary["recency"], summary["T"]
    repeat = summary[freq > 0]
    spend_ok = repeat["monetary_value"] > 0
    n_nonpositive = int((~spend_ok).sum())
    if n_nonpositive and spend_ok.any():
        logger.warning(
            "clv_report: %d repeat buyer(s) with non-positive mean spend are left out of the "
            "Gamma-Gamma fit",
            n_nonpositive,
        )
        gg_data = repeat[spend_ok]
    else:
        # all usable, or nothing usable: let GammaGammaModel.fit raise the precise error
        gg_data = summary
    # Gamma-Gamma first: it raises the clearer error when there are no repeat buyers at all.
    gg = GammaGammaModel().fit(gg_data["frequency"], gg_data["monetary_value"])
    bg = BetaGeoModel().fit(freq, rec, age)

    report: dict[str, Any] = {
        "calibration_end": _to_date(calibration_end, "calibration_end").isoformat(),
        "observation_end": (
            None
            if observation_end is None
            else _to_date(observation_end, "observation_end").isoformat()
        ),
        "time_unit_days": float(time_unit_days),
        "n_customers": len(summary),
        "n_repeat_buyers": len(repeat),
        "calibration_repeat_purchases": int(freq.sum()),
        "bgnbd": {
            "params": dict(bg.params_),
            "log_likelihood": bg.log_likelihood_,
            "converged": bg.converged_,
        },
        "gamma_gamma": {
            "params": dict(gg.params_),
            "log_likelihood": gg.log_likelihood_,
            "n_customers": gg.n_customers_,
            "converged": gg.converged_,
            "n_excluded_nonpositive_spend": n_nonpositive,
            "mean_spend": float(repeat["monetary_value"][spend_ok].mean()),
        },
    }
    if observation_end is not None:
        duration = float(summary["duration_holdout"].iloc[0])
        expected = np.asarray(bg.expected_purchases(duration, freq, rec, age), dtype=np.float64)
        actual = summary["frequency_holdout"].to_numpy(dtype=np.float64)
        group = np.minimum(freq.to_numpy(), max_frequency_group)
        groups = []
        for g in range(max_frequency_group + 1):
            mask = group == g
            n_g = int(mask.sum())
            label = f"{g}+" if g == max_frequency_group else str(g)
            groups.append(
                {
                    "frequency": label,
                    "n_customers": n_g,
                    "expected_total": float(expected[mask].sum()),
                    "actual_total": float(actual[mask].sum()),
                    "expected_mean": float(expected[mask].mean()) if n_g else None,
                    "actual_mean": float(actual[mask].mean()) if n_g else None,
                }
            )
        report["holdout"] = {
            "duration_periods": duration,
            "expected_total": float(expected.sum()),
            "actual_total": float(actual.sum()),
            "by_frequency": groups,
        }
        logger.info(
            "clv_report: holdout repeat purchases expected %.1f, actual %d",
            expected.sum(),
            int(actual.sum()),
        )
    return report
