r"""The shifted-beta-geometric (sBG) model of contractual retention, and its input from contracts.

In a *contractual* setting (subscriptions, memberships, telco, SaaS) churn is observed: at each
renewal a customer either renews or leaves. Fader & Hardie (2007) [1]_ model the renewal
decisions with the **shifted-beta-geometric** (sBG) model: each customer churns at every
renewal with a constant probability :math:`\theta` (a geometric lifetime), and
:math:`\theta \sim \mathrm{Beta}(\alpha, \beta)` across customers. The cohort's retention rate
then *rises* over time, as the customers most likely to leave leave first, which is why a
single aggregate retention rate undervalues a customer base [2]_.

* :class:`ShiftedBetaGeometricModel` -- the model: maximum likelihood through
  :func:`~segmint.features.clv._fit.fit_mle` on per-customer (duration, churned) data or on a
  cohort's survivor counts; survival function, churn probabilities, retention curve, expected
  and discounted expected residual lifetime (DERL, [2]_).
* :func:`contract_durations` -- a contracts table (customer, start, end or none) turned into
  the per-customer (duration, churned) input for a period length (month, quarter, year, week,
  day).

For the two cohorts of 1,000 customers of [1]_ (survivors after years 0-7: high end 1000, 869,
743, 653, 593, 551, 517, 491; regular 1000, 631, 468, 382, 326, 289, 262, 241) the fit
reproduces the published alpha = 0.668, beta = 3.806 (log-likelihood -1,611.2) and
alpha = 0.704, beta = 1.182 (-1,680.3).

References
----------
.. [1] Fader, P. S. and Hardie, B. G. S. (2007). How to project customer retention. *Journal
   of Interactive Marketing*, 21(1), 76-90.
.. [2] Fader, P. S. and Hardie, B. G. S. (2010). Customer-base valuation in a contractual
   setting: the perils of ignoring heterogeneity. *Marketing Science*, 29(1), 85-93.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import duckdb
import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, hyp2f1

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.features.clv._base import _as_array, _check_same_length, _CLVModel, _wrap
from segmint.features.clv._bgbb import _as_counts, _as_weights, _WeightedFitMixin
from segmint.features.clv._fit import Limit
from segmint.features.clv._summary import _is_real, _quote_ident, _to_date

__all__ = ["ShiftedBetaGeometricModel", "contract_durations"]

_PERIODS = ("month", "quarter", "year", "week", "day")
_NO_CHURN = "(almost) nobody churns (theta -> 0)"
_ALL_CHURN = "(almost) everybody churns at the first renewal (theta -> 1)"
_SAME_THETA = (
    "every customer has the same churn probability (no heterogeneity: alpha and beta grow "
    "without bound; a plain geometric model describes the data as well)"
)


def _sbg_loglik(
    alpha: float, beta: float, t: np.ndarray, churned: np.ndarray, w: np.ndarray
) -> tuple[float, np.ndarray]:
    r"""Weighted sBG log-likelihood and its gradient in (alpha, beta).

    A customer who churned at renewal t contributes
    :math:`\ln P(T=t) = \ln B(\alpha+1, \beta+t-1) - \ln B(\alpha,\beta)`, one still active
    after t renewals :math:`\ln S(t) = \ln B(\alpha, \beta+t) - \ln B(\alpha,\beta)`
    ([1]_, in beta-function form).
    """
    c = churned > 0
    tc = np.where(c, t, 1.0)  # keeps beta + t - 1 > 0 on the rows where it is unused
    lab = betaln(alpha, beta)
    terms = np.where(c, betaln(alpha + 1.0, beta + tc - 1.0), betaln(alpha, beta + t)) - lab
    psi_ab = digamma(alpha + beta)
    psi_abt = digamma(alpha + beta + t)
    # d/d alpha: churned 1/alpha - psi(a+b+t) + psi(a+b); active psi(a+b) - psi(a+b+t)
    d_alpha = np.where(c, 1.0 / alpha, 0.0) + psi_ab - psi_abt
    d_beta = (
        np.where(c, digamma(beta + tc - 1.0), digamma(beta + t)) - psi_abt - digamma(beta) + psi_ab
    )
    grad = np.array([np.sum(w * d_alpha), np.sum(w * d_beta)])
    return float(np.sum(w * terms)), grad


class ShiftedBetaGeometricModel(_WeightedFitMixin, _CLVModel):
    r"""Shifted-beta-geometric model of contractual retention (Fader & Hardie, 2007).

    At each renewal an active customer churns with probability :math:`\theta`, constant for
    the customer, :math:`\theta \sim \mathrm{Beta}(\alpha, \beta)` across customers. A
    customer's ``duration`` is the renewal at which they churned (1: did not renew at the end
    of the first period) or, if still active, the number of renewals they have made. The
    parameters are estimated by maximum likelihood with an analytic gradient through
    :func:`~segmint.features.clv._fit.fit_mle` (bounded log-parameters, several deterministic
    starts and the package's convergence rule), on per-customer data with :meth:`fit` or on a
    cohort's survivor counts with :meth:`fit_survivors`.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty: minimises ``-loglik / n + penalizer_coef * sum(params ** 2)``.
        ``log_likelihood_`` is always the unpenalised log-likelihood.
    max_iter : int, default 1000
        Maximum number of optimiser iterations per start.

    Attributes
    ----------
    params_ : dict
        Fitted ``alpha`` and ``beta`` of the beta distribution of the churn probability (mean
        churn probability ``alpha / (alpha + beta)``).
    log_likelihood_ : float
        Log-likelihood at the estimate.
    n_customers_ : int
        Number of customers (sum of the weights; the cohort size for :meth:`fit_survivors`).
    converged_ : bool
        Whether the fit passed every convergence check.
    convergence_reason_ : str or None
        ``None`` if converged, else why not (e.g. nobody churned, so the churn probability
        runs to 0).
    std_errors_ : dict
        Asymptotic standard errors (``None`` each when the Hessian is not positive definite).
    diagnostics_ : dict
        JSON-safe details of the fit (see :class:`~segmint.features.clv._fit.FitResult`).

    Notes
    -----
    With :math:`B` the beta function and t = 1, 2, ... the renewals ([1]_, [2]_):

    * :meth:`churn_probability`: :math:`P(T=t) = B(\alpha+1, \beta+t-1) / B(\alpha,\beta)`;
    * :meth:`survival_function`: :math:`S(t) = P(T>t) = B(\alpha, \beta+t) / B(\alpha,\beta)`
      (the expected share of the cohort still active after t renewals);
    * :meth:`retention_rate`: :math:`r_t = S(t)/S(t-1) = (\beta+t-1)/(\alpha+\beta+t-1)`,
      increasing in t;
    * :meth:`discounted_expected_residual_lifetime`, for a customer who has made
      :math:`k` renewals, standing just before renewal :math:`k+1` (whose payment is not
      discounted): :math:`\mathrm{DERL}(d) = \sum_{t>k} \frac{S(t)}{S(k)}(1+d)^{-(t-k-1)}
      = \frac{\beta+k}{\alpha+\beta+k}\,{}_2F_1\!\left(1, \beta+k+1; \alpha+\beta+k+1;
      \tfrac{1}{1+d}\right)`;
    * :meth:`discounted_expected_lifetime` of a new customer, first payment included:
      :math:`\mathrm{DEL}(d) = \sum_{t\ge0} S(t)(1+d)^{-t} = {}_2F_1(1, \beta; \alpha+\beta;
      \tfrac{1}{1+d})`;
    * :meth:`expected_residual_lifetime` (no discounting): :math:`(\beta+k)/(\alpha-1)` for
      :math:`\alpha > 1`, infinite otherwise (the mean lifetime of a beta-geometric mixture
      with :math:`\alpha \le 1` diverges).

    Multiplied by the margin per period these give the expected (residual) lifetime value.

    References
    ----------
    .. [1] Fader, P. S. and Hardie, B. G. S. (2007). How to project customer retention.
       *Journal of Interactive Marketing*, 21(1), 76-90.
    .. [2] Fader, P. S. and Hardie, B. G. S. (2010). Customer-base valuation in a contractual
       setting: the perils of ignoring heterogeneity. *Marketing Science*, 29(1), 85-93.

    Examples
    --------
    >>> model = ShiftedBetaGeometricModel().fit_survivors(
    ...     [1000, 869, 743, 653, 593, 551, 517, 491]
    ... )
    >>> round(model.params_["alpha"], 3), round(model.params_["beta"], 3)
    (0.668, 3.806)
    >>> round(1000 * model.survival_function(12))
    378
    """

    _param_names = ("alpha", "beta")
    _label = "sBG"
    _limits: ClassVar[tuple[Limit, ...]] = (
        Limit({"alpha": -1.0}, _NO_CHURN, supersedes=True),
        Limit({"beta": 1.0}, _NO_CHURN, supersedes=True),
        Limit({"beta": -1.0}, _ALL_CHURN, supersedes=True),
        Limit({"alpha": 1.0}, _ALL_CHURN, supersedes=True),
        Limit({"alpha": 1.0, "beta": 1.0}, _SAME_THETA),
    )

    # -- fitting -------------------------------------------------------------------------------
    @staticmethod
    def _prepare(duration: Any, churned: Any) -> tuple[np.ndarray, np.ndarray]:
        t = _as_counts("duration", duration)
        try:
            c_raw = np.asarray(churned)
        except (TypeError, ValueError) as exc:  # pragma: no cover - numpy accepts anything
            raise InputError("churned must be booleans", hint="pass True/False") from exc
        if c_raw.dtype == bool:
            c = c_raw.astype(np.float64)
        else:
            c = _as_array("churned", churned)
            if np.any((c != 0) & (c != 1)):
                raise InputError(
                    "churned must be True/False (or 1/0)",
                    hint="churned says whether the customer has left (True) or is still "
                    "active (False)",
                )
        _check_same_length(duration=t, churned=c)
        t, c = np.broadcast_arrays(t, c)
        bad = (c > 0) & (t < 1)
        if np.any(bad):
            raise InputError(
                f"{int(np.sum(bad))} churned customer(s) have duration 0",
                hint="a churned customer's duration is the renewal at which they left, >= 1 "
                "(1 = did not renew after the first period)",
            )
        return t.astype(np.float64), c.astype(np.float64)

    def fit(self, duration: Any, churned: Any, weights: Any = None) -> Self:
        """Fit the model by maximum likelihood on per-customer durations.

        Parameters
        ----------
        duration : array-like
            Whole number of periods: for a churned customer the renewal at which they left
            (1 = left after the first period without renewing), for an active customer the
            number of renewals made so far (as returned by :func:`contract_durations`).
        churned : array-like of bool
            Whether the customer has left (True) or is still active (False, right-censored).
        weights : array-like, optional
            Number of customers of each row; rows with weight 0 are ignored. Default: one
            customer per row.

        Returns
        -------
        ShiftedBetaGeometricModel
            ``self``, fitted.

        Raises
        ------
        InputError
            If durations are not whole non-negative numbers, ``churned`` is not boolean, a
            churned customer has duration 0, the lengths differ, the weights are invalid or
            no customer carries information (everyone active with duration 0).
        """
        self._check_hyperparameters()
        t, c = self._prepare(duration, churned)
        if t.ndim == 0:
            t, c = t.reshape(1), c.reshape(1)
        w = _as_weights(weights, t.size)
        if not np.any(((c > 0) | (t > 0)) & (w > 0)):
            raise InputError(
                "no customer has reached a renewal yet (everyone is active with duration 0)",
                hint="the sBG model learns from renewals and churns; observe the customers "
                "for at least one period",
            )
        return self._fit_weighted([t, c], w)

    def fit_survivors(self, survivors: Any) -> Self:
        """Fit the model on one cohort's survivor counts.

        Parameters
        ----------
        survivors : array-like
            ``survivors[0]`` is the cohort size when acquired and ``survivors[t]`` the number
            still active after renewal t (e.g. ``[1000, 869, 743, 653, 593, 551, 517, 491]``
            for [1]_'s high-end cohort, years 0-7). Non-increasing and non-negative; counts or
            shares (shares give the right estimates but a log-likelihood for a cohort of that
            size).

        Returns
        -------
        ShiftedBetaGeometricModel
            ``self``, fitted: ``survivors[t-1] - survivors[t]`` customers churned at renewal t
            and ``survivors[-1]`` are still active after the last.

        Raises
        ------
        InputError
            If fewer than two counts are given, a count is negative or non-finite, the counts
            increase, or the cohort is empty.

        References
        ----------
        .. [1] Fader, P. S. and Hardie, B. G. S. (2007). How to project customer retention.
           *Journal of Interactive Marketing*, 21(1), 76-90.
        """
        self._check_hyperparameters()
        s = _as_array("survivors", survivors)
        if s.ndim != 1 or s.size < 2:
            raise InputError(
                "survivors needs at least two counts (the cohort size and the survivors after "
                "the first renewal)",
                hint="e.g. [1000, 869, 743] for a cohort of 1,000 observed for two periods",
            )
        if s[0] <= 0:
            raise InputError(
                "the cohort is empty (survivors[0] is 0)", hint="survivors[0] is the cohort size"
            )
        if np.any(np.diff(s) > 0):
            t_bad = int(np.argmax(np.diff(s) > 0)) + 1
            raise InputError(
                f"survivors increase at period {t_bad} ({s[t_bad - 1]:g} -> {s[t_bad]:g})",
                hint="survivors[t] counts the cohort's customers still active after renewal t; "
                "it cannot grow (new customers form a new cohort)",
            )
        periods = np.arange(1, s.size, dtype=np.float64)
        duration = np.concatenate([periods, [periods[-1]]])
        churned = np.concatenate([np.ones(periods.size), [0.0]])
        weights = np.concatenate([-np.diff(s), [s[-1]]])
        return self._fit_weighted([duration, churned], weights)

    def _diagnose(self, columns: list[np.ndarray], w: np.ndarray) -> str | None:
        t, c = columns
        churn = c > 0
        if not np.any(churn):
            return (
                "nobody in the data churned, so the churn probabilities run to 0 and their "
                "spread cannot be estimated"
            )
        if np.all(churn & (t == 1)):
            return (
                "everybody churned at the first renewal, so the churn probability runs to 1 "
                "and nothing is known about later renewals"
            )
        if np.max(t) <= 1:
            return (
                "the data cover the first renewal only, which identifies the mean churn "
                "probability alpha/(alpha+beta) but not its spread across customers"
            )
        return None

    def _loglik(
        self, params: np.ndarray, t: np.ndarray, c: np.ndarray, w: np.ndarray
    ) -> tuple[float, np.ndarray]:
        return _sbg_loglik(float(params[0]), float(params[1]), t, c, w)

    def _rescale(
        self, columns: list[np.ndarray], w: np.ndarray
    ) -> tuple[list[np.ndarray], dict[str, float], float]:
        """No rescaling: the parameters are beta shapes, of order 1 whatever the period."""
        return columns, {}, 0.0

    def _starts(self, columns: list[np.ndarray], w: np.ndarray) -> list[list[float]]:
        """All ones; the geometric (homogeneous) churn rate split into shapes of total 2; and
        a heterogeneous start (0.5, 2)."""
        t, c = columns
        renewals_at_risk = float(np.sum(w * t))
        theta = float(np.sum(w * c)) / renewals_at_risk if renewals_at_risk > 0 else 0.5
        theta = min(max(theta, 0.05), 0.95)
        return [[1.0, 1.0], [2.0 * theta, 2.0 * (1.0 - theta)], [0.5, 2.0]]

    # -- predictions ---------------------------------------------------------------------------
    def survival_function(self, t: Any) -> Any:
        """Probability that a new customer is still active after renewal t, S(t) = P(T > t).

        Times the cohort size it is the projected number of survivors ([1]_).

        Parameters
        ----------
        t : int or array-like
            Renewals (whole numbers >= 0; S(0) = 1).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            S(t).

        References
        ----------
        .. [1] Fader, P. S. and Hardie, B. G. S. (2007). How to project customer retention.
           *Journal of Interactive Marketing*, 21(1), 76-90.
        """
        self._check_fitted()
        t_ = _as_counts("t", t)
        alpha, beta = self._values()
        # clipped: at extreme parameters the beta-function ratio can round to just above 1
        result = np.minimum(np.exp(betaln(alpha, beta + t_) - betaln(alpha, beta)), 1.0)
        return _wrap(result, t, name="survival")

    def churn_probability(self, t: Any) -> Any:
        """Probability that a new customer churns at renewal t, P(T = t), as in [1]_.

        Parameters
        ----------
        t : int or array-like
            Renewals (whole numbers >= 1).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            P(T = t).

        References
        ----------
        .. [1] Fader, P. S. and Hardie, B. G. S. (2007). How to project customer retention.
           *Journal of Interactive Marketing*, 21(1), 76-90.
        """
        self._check_fitted()
        t_ = _as_renewal_index("t", t)
        alpha, beta = self._values()
        result = np.minimum(np.exp(betaln(alpha + 1.0, beta + t_ - 1.0) - betaln(alpha, beta)), 1.0)
        return _wrap(result, t, name="churn_probability")

    def retention_rate(self, t: Any) -> Any:
        """Share of the customers active after renewal t-1 who renew at t ([1]_).

        Parameters
        ----------
        t : int or array-like
            Renewals (whole numbers >= 1).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            r_t = (beta + t - 1) / (alpha + beta + t - 1), increasing in t.

        References
        ----------
        .. [1] Fader, P. S. and Hardie, B. G. S. (2007). How to project customer retention.
           *Journal of Interactive Marketing*, 21(1), 76-90.
        """
        self._check_fitted()
        t_ = _as_renewal_index("t", t)
        alpha, beta = self._values()
        return _wrap((beta + t_ - 1.0) / (alpha + beta + t_ - 1.0), t, name="retention_rate")

    def expected_residual_lifetime(self, n_renewals: Any = 0) -> Any:
        """Expected number of further renewals of a customer who has made ``n_renewals``.

        Undiscounted DERL: :math:`(\\beta+k)/(\\alpha-1)` when alpha > 1; ``inf`` when
        alpha <= 1, where the heavy tail of long-lived customers makes the mean diverge (use
        :meth:`discounted_expected_residual_lifetime` then).

        Parameters
        ----------
        n_renewals : int or array-like, default 0
            Renewals k made so far (whole numbers >= 0).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            Expected future payments, counting the upcoming renewal as the first.
        """
        self._check_fitted()
        k = _as_counts("n_renewals", n_renewals)
        alpha, beta = self._values()
        if alpha <= 1.0:
            result = np.full(k.shape, np.inf)
        else:
            result = (beta + k) / (alpha - 1.0)
        return _wrap(result, n_renewals, name="expected_residual_lifetime")

    def discounted_expected_residual_lifetime(
        self, discount_rate: float, n_renewals: Any = 0
    ) -> Any:
        """Discounted expected residual lifetime (DERL) of a customer who made ``n_renewals``.

        DERL of [2]_, standing just before the next renewal decision: the expected
        number of future payments, the upcoming renewal's undiscounted and the one t periods
        later discounted by ``(1 + d) ** t``. Times the margin per period it is the customer's
        expected residual lifetime value. The formula is in the notes of the class.

        Parameters
        ----------
        discount_rate : float
            Discount rate d per period (> 0; e.g. 0.10 for 10 % a year with yearly
            renewals).
        n_renewals : int or array-like, default 0
            Renewals k made so far (whole numbers >= 0; 0 = just before the first renewal).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            DERL per customer.

        Raises
        ------
        InputError
            If ``discount_rate`` is not a positive number.

        References
        ----------
        .. [2] Fader, P. S. and Hardie, B. G. S. (2010). Customer-base valuation in a
           contractual setting: the perils of ignoring heterogeneity. *Marketing Science*,
           29(1), 85-93.
        """
        self._check_fitted()
        z = _discount_factor(discount_rate)
        k = _as_counts("n_renewals", n_renewals)
        alpha, beta = self._values()
        result = (
            (beta + k) / (alpha + beta + k) * hyp2f1(1.0, beta + k + 1.0, alpha + beta + k + 1.0, z)
        )
        return _wrap(np.asarray(result, dtype=np.float64), n_renewals, name="derl")

    def discounted_expected_lifetime(self, discount_rate: float) -> float:
        """Discounted expected lifetime (DEL) of a new customer, first payment included.

        :math:`\\sum_{t \\ge 0} S(t)(1+d)^{-t} = {}_2F_1(1, \\beta; \\alpha+\\beta;
        1/(1+d))`; times the margin per period it is the expected CLV of a new customer
        ([2]_). It equals ``1 + DERL(d, n_renewals=0) / (1 + d)``.

        Parameters
        ----------
        discount_rate : float
            Discount rate d per period (> 0).

        Returns
        -------
        float
            DEL.

        Raises
        ------
        InputError
            If ``discount_rate`` is not a positive number.

        References
        ----------
        .. [2] Fader, P. S. and Hardie, B. G. S. (2010). Customer-base valuation in a
           contractual setting: the perils of ignoring heterogeneity. *Marketing Science*,
           29(1), 85-93.
        """
        self._check_fitted()
        z = _discount_factor(discount_rate)
        alpha, beta = self._values()
        return float(hyp2f1(1.0, beta, alpha + beta, z))


def _as_renewal_index(name: str, values: Any) -> np.ndarray:
    t = _as_counts(name, values)
    if np.any(t < 1):
        raise InputError(
            f"{name} must be >= 1 (renewals are numbered from 1)",
            hint="renewal 1 is the end of the first period",
        )
    return t


def _discount_factor(discount_rate: Any) -> float:
    if not (_is_real(discount_rate) and discount_rate > 0):
        raise InputError(
            f"discount_rate must be a positive number, got {discount_rate!r}",
            hint="e.g. 0.10 for 10 % per period; for no discounting use expected_residual_lifetime",
        )
    return 1.0 / (1.0 + float(discount_rate))


# --------------------------------------------------------------------------------------------
# Contracts table -> (duration, churned) per customer (DuckDB)
# --------------------------------------------------------------------------------------------


def _elapsed_sql(start: str, end: str, period: str) -> str:
    """SQL for the number of whole periods from ``start`` to ``end`` (both dates, end >= start).

    A month is complete on the same day of a later month, or on that month's last day when it
    is shorter (2024-01-31 + 1 month = 2024-02-29, as pandas' DateOffset); quarters and years
    are 3 and 12 such months; weeks and days are 7 and 1 days.
    """
    if period in ("week", "day"):
        days = f"date_diff('day', {start}, {end})"
        return days if period == "day" else f"CAST(floor({days} / 7) AS BIGINT)"
    months = (
        f"((year({end}) - year({start})) * 12 + month({end}) - month({start}) "
        f"- CASE WHEN day({end}) < day({start}) AND {end} <> last_day({end}) THEN 1 ELSE 0 END)"
    )
    size = {"month": 1, "quarter": 3, "year": 12}[period]
    return months if size == 1 else f"CAST(floor({months} / {size}) AS BIGINT)"


def contract_durations(
    contracts: Any,
    *,
    customer_col: str = "customer_id",
    start_col: str = "start_date",
    end_col: str = "end_date",
    observation_end: Any,
    period: str = "month",
) -> pd.DataFrame:
    """Turn a contracts table into the per-customer sBG input (duration, churned).

    Periods run from each customer's own start date: with ``period="month"`` a customer who
    started on 15 January renews on 15 February, 15 March, ... A contract **renews at the end
    of period k** when it is still running on the first day of period k + 1. The end date is
    the *last day the contract was active* (inclusive); it is missing (null) for contracts that
    are still running. Then

    * a contract that ended on or before ``observation_end`` is ``churned`` with
      ``duration`` = the period containing its end date (1 = ended in the first period,
      without renewing);
    * any other contract is active (``churned`` False) with ``duration`` = the number of
      renewals made by ``observation_end`` (0 if the first period has not ended yet);
    * contracts starting after ``observation_end`` are left out.

    The work is done by one DuckDB SQL query on the input.

    Parameters
    ----------
    contracts : pandas.DataFrame or pyarrow.Table
        One row per customer.
    customer_col, start_col, end_col : str
        Names of the customer id, start date and end date columns (dates, naive timestamps or
        ISO strings; the end may be null).
    observation_end : date-like
        The day the data describe (inclusive): later end dates count as still active.
    period : {"month", "quarter", "year", "week", "day"}, default "month"
        Length of a contract period (the renewal cycle).

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), with columns ``start`` (date), ``duration`` (int)
        and ``churned`` (bool), ready for :meth:`ShiftedBetaGeometricModel.fit`.

    Raises
    ------
    InputError
        If a column is missing or unusable, a start date is missing, an end date precedes its
        start, a customer has more than one row, the period is unknown, or no contract starts
        by ``observation_end``.

    Examples
    --------
    >>> contracts = pd.DataFrame({
    ...     "customer_id": ["a", "b", "c"],
    ...     "start_date": ["2024-01-15", "2024-01-15", "2024-03-01"],
    ...     "end_date": ["2024-03-20", None, None],
    ... })
    >>> contract_durations(contracts, observation_end="2024-04-30")
    ... # doctest: +NORMALIZE_WHITESPACE
                      start  duration  churned
    customer_id
    a            2024-01-15         3     True
    b            2024-01-15         3    False
    c            2024-03-01         1    False
    """
    if not isinstance(period, str) or period.lower() not in _PERIODS:
        raise InputError(
            f"unknown period {period!r}", hint=f"use one of {', '.join(map(repr, _PERIODS))}"
        )
    period = period.lower()
    obs_end = _to_date(observation_end, "observation_end")
    con = duckdb.connect()
    try:
        try:
            con.execute("SET TimeZone = 'UTC'")
        except duckdb.Error:  # pragma: no cover - ICU extension unavailable
            logger.debug("contract_durations: could not set the DuckDB time zone to UTC")
        try:
            con.register("contracts_input", contracts)
        except (duckdb.Error, TypeError, ValueError) as exc:
            raise InputError(
                f"contracts of type {type(contracts).__name__} cannot be read",
                hint="pass a pandas DataFrame or a pyarrow Table",
            ) from exc
        schema = {row[0]: row[1] for row in con.sql("DESCRIBE contracts_input").fetchall()}
        missing = [c for c in (customer_col, start_col, end_col) if c not in schema]
        if missing:
            raise InputError(
                f"contracts has no column(s) {', '.join(map(repr, missing))}",
                hint=f"available columns: {', '.join(map(repr, schema))}; set customer_col, "
                "start_col and end_col to the right names",
            )
        day: dict[str, str] = {}
        for col in (start_col, end_col):
            col_type = schema[col]
            q = _quote_ident(col)
            all_null = con.sql(f"SELECT count({q}) = 0 FROM contracts_input").fetchall()[0][0]
            if col == end_col and all_null:  # e.g. an all-NaN float column: nobody ended
                day[col] = "CAST(NULL AS DATE)"
            elif col_type == "VARCHAR":
                day[col] = f"CAST(TRY_CAST({q} AS TIMESTAMP) AS DATE)"
            elif col_type == "DATE" or col_type.startswith("TIMESTAMP"):
                day[col] = f"CAST({q} AS DATE)"
            else:
                raise InputError(
                    f"column {col!r} has type {col_type}, not a date",
                    hint="convert it to dates first, e.g. pandas.to_datetime(df[col])",
                )
        cust = _quote_ident(customer_col)
        start_raw, end_raw = _quote_ident(start_col), _quote_ident(end_col)
        start, end = day[start_col], day[end_col]
        checks = con.sql(
            f"""
            SELECT count(*),
                   count(*) FILTER (WHERE {cust} IS NULL),
                   count(*) FILTER (WHERE {start_raw} IS NULL),
                   count(*) FILTER (WHERE {start_raw} IS NOT NULL AND {start} IS NULL),
                   count(*) FILTER (WHERE {end_raw} IS NOT NULL AND {end} IS NULL),
                   count(*) FILTER (WHERE {end} < {start}),
                   any_value(CAST({cust} AS VARCHAR)) FILTER (WHERE {end} < {start}),
                   count(*) - count(DISTINCT {cust})
            FROM contracts_input
            """
        ).fetchall()[0]
        n_rows, null_cust, null_start, bad_start, bad_end, reversed_, rev_example, dupes = checks
        if n_rows == 0:
            raise InputError("contracts is empty", hint="pass at least one contract")
        problems = (
            (null_cust, f"column {customer_col!r} has {null_cust} missing customer ids"),
            (null_start, f"column {start_col!r} has {null_start} missing start dates"),
            (bad_start, f"column {start_col!r} has {bad_start} value(s) that are not dates"),
            (bad_end, f"column {end_col!r} has {bad_end} value(s) that are not dates"),
        )
        for count, message in problems:
            if count:
                raise InputError(
                    message, hint="fix or drop those rows (a missing end means still active)"
                )
        if reversed_:
            raise InputError(
                f"{reversed_} contract(s) end before they start (e.g. customer {rev_example})",
                hint="check the order of the start and end columns",
            )
        if dupes:
            raise InputError(
                f"{dupes} customer(s) have more than one contract row",
                hint="keep one contract per customer (e.g. the first), or give each contract "
                "its own id",
            )
        churned = f"({end} IS NOT NULL AND {end} <= $obs_end)"
        query = f"""
            SELECT {cust} AS customer, {start} AS start,
                   CASE WHEN {churned} THEN {_elapsed_sql(start, end, period)} + 1
                        ELSE {_elapsed_sql(start, "CAST($obs_end AS DATE)", period)}
                   END AS duration,
                   {churned} AS churned
            FROM contracts_input
            WHERE {start} <= $obs_end
            ORDER BY customer
        """
        result = con.sql(query, params={"obs_end": obs_end}).df()
    finally:
        con.close()
    if result.empty:
        raise InputError(
            f"no contract starts on or before observation_end ({obs_end})",
            hint="choose a later observation_end",
        )
    result = result.set_index("customer")
    result.index.name = customer_col
    result["start"] = pd.to_datetime(result["start"]).dt.date
    result["duration"] = result["duration"].astype("int64")
    result["churned"] = result["churned"].astype(bool)
    logger.debug(
        "contract_durations: %d contracts, %d churned by %s (period=%s)",
        len(result),
        int(result["churned"].sum()),
        obs_end,
        period,
    )
    return result
