r"""The shifted-beta-geometric (sBG) model of contractual retention.

In a *contractual* setting (subscriptions, memberships, telco, SaaS) churn is observed: at each
renewal a customer either renews or leaves. Fader & Hardie (2007) [1]_ model the renewal
decisions with the **shifted-beta-geometric** (sBG) model: each customer churns at every
renewal with a constant probability :math:`\theta` (a geometric lifetime), and
:math:`\theta \sim \mathrm{Beta}(\alpha, \beta)` across customers. The cohort's retention rate
then *rises* over time, as the customers most likely to leave leave first, which is why a
single aggregate retention rate undervalues a customer base [2]_.

* :class:`ShiftedBetaGeometricModel` (here) -- the model and its likelihood
  (:func:`_sbg_loglik`): maximum likelihood through :func:`~segmint.features.clv._fit.fit_mle`
  on per-customer (duration, churned) data or on a cohort's survivor counts; survival
  function, churn probabilities, retention curve, expected and discounted expected residual
  lifetime (DERL, [2]_).
* :func:`contract_durations` (``_contracts``, re-exported here) -- a contracts table
  (customer, start, end or none) turned into the per-customer (duration, churned) input for a
  period length (month, quarter, year, week, day); survivor counts into weighted rows.

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

import numpy as np
from scipy.special import betaln, digamma, hyp2f1

from segmint.exceptions import InputError
from segmint.features.clv._base import _CLVModel
from segmint.features.clv._contracts import _survivor_rows, contract_durations
from segmint.features.clv._fit import Limit
from segmint.features.clv._inputs import (
    _as_array,
    _as_counts,
    _as_weights,
    _check_same_length,
    _discount_factor,
    _wrap,
)

__all__ = ["ShiftedBetaGeometricModel", "contract_durations"]

_DISCOUNT_HINT = "e.g. 0.10 for 10 % per period; for no discounting use expected_residual_lifetime"
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


class ShiftedBetaGeometricModel(_CLVModel):
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
        return self._fit_rows(t, c, weights=w)

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
        duration, churned, weights = _survivor_rows(survivors)
        return self._fit_rows(duration, churned, weights=weights)

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
        z = _discount_factor(discount_rate, hint=_DISCOUNT_HINT)
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
        z = _discount_factor(discount_rate, hint=_DISCOUNT_HINT)
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
