r"""The BG/BB model of discrete-time, noncontractual purchasing.

In a *discrete-time* noncontractual setting a customer can transact only at discrete
opportunities: a charity's annual appeal, a yearly renewal of a membership that lapses without
notice, the mailing of a catalogue, a fixed event. Fader, Hardie & Shang (2010) [1]_ model
such data with the **beta-geometric/beta-binomial** (BG/BB) model:

* while "alive", a customer transacts at each opportunity with probability :math:`p`
  (Bernoulli), :math:`p \sim \mathrm{Beta}(\alpha, \beta)` across customers;
* at the start of each opportunity an alive customer "dies" (becomes permanently inactive,
  unobserved) with probability :math:`\theta`, :math:`\theta \sim \mathrm{Beta}(\gamma,
  \delta)` across customers.

A customer is summarised by (x, t_x, n): ``frequency`` x, the number of the n opportunities
after the first transaction at which they transacted; ``recency`` t_x, the opportunity of
their last transaction (0 if x = 0); and ``n_opportunities`` n.

* :class:`BetaGeoBetaBinomModel` (here) -- the model: maximum likelihood through
  :func:`~segmint.features.clv._fit.fit_mle`, P(alive), conditional and unconditional
  expected transactions, the distribution of the transaction count and DERT.
* ``_bgbb_numerics`` -- its likelihood, gradient and prediction sums over distinct values.
* :func:`bgbb_summary` (``_opportunities``, re-exported here) -- a transaction log turned into
  (x, t_x, n) per customer, or into the recency/frequency table (one row per history).

With the paper's 1995 cohort of 11,104 donors (six opportunities, 1996-2001) the fit reproduces
the published alpha = 1.204, beta = 0.750, gamma = 0.657, delta = 2.783, log-likelihood
-33,225.6.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in a
   discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.
.. [2] Fader, P. S. and Hardie, B. G. S. (2011). Implementing the BG/BB model for
   customer-base analysis in Excel. http://brucehardie.com/notes/010/
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

import numpy as np
from scipy.special import betaln, gammaln, hyp2f1

from segmint.exceptions import InputError
from segmint.features.clv._base import _CLVModel
from segmint.features.clv._bgbb_numerics import _bgbb_log_l, _bgbb_loglik, _log_beta_sum
from segmint.features.clv._fit import Limit
from segmint.features.clv._inputs import (
    _as_counts,
    _as_weights,
    _check_same_length,
    _discount_factor,
    _wrap,
)
from segmint.features.clv._opportunities import bgbb_summary

__all__ = ["BetaGeoBetaBinomModel", "bgbb_summary"]

_NO_REPEAT = (
    "(almost) no repeat transactions: alive customers never transact (p -> 0) or drop out "
    "at once (theta -> 1), and the data cannot tell which"
)
_EVERY_OPPORTUNITY = "alive customers transact at every opportunity (p -> 1)"
_NO_DROPOUT = "(almost) nobody drops out (theta -> 0)"
_SAME_P = (
    "every customer has the same transaction probability (no heterogeneity in p: alpha and "
    "beta grow without bound)"
)
_SAME_THETA = (
    "every customer has the same dropout probability (no heterogeneity in theta: gamma and "
    "delta grow without bound)"
)


class BetaGeoBetaBinomModel(_CLVModel):
    r"""BG/BB model of discrete-time noncontractual purchasing (Fader, Hardie & Shang, 2010).

    While alive a customer transacts at each opportunity with probability
    :math:`p \sim \mathrm{Beta}(\alpha, \beta)`; at the start of each opportunity an alive
    customer dies with probability :math:`\theta \sim \mathrm{Beta}(\gamma, \delta)`.
    Parameters are estimated by maximum likelihood (the likelihood of [1]_, with an analytic
    gradient) through :func:`~segmint.features.clv._fit.fit_mle`: bounded log-parameters,
    several deterministic starts and the package's convergence rule (optimiser success, small
    gradient, no parameter at a bound or running off along a limit direction, positive
    definite Hessian). Identical customers are merged into weighted rows, so the
    recency/frequency table (one row per (x, t_x, n) with a count) can be fitted directly with
    ``weights``.

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
        Fitted ``alpha``, ``beta`` (transaction probability) and ``gamma``, ``delta``
        (dropout probability).
    log_likelihood_ : float
        Log-likelihood at the estimate (no constant dropped).
    n_customers_ : int
        Number of customers (sum of the weights).
    converged_ : bool
        Whether the fit passed every convergence check.
    convergence_reason_ : str or None
        ``None`` if converged, else why not (e.g. a parameter ran off to a limit).
    std_errors_ : dict
        Asymptotic standard errors (``None`` each when the Hessian is not positive definite).
    diagnostics_ : dict
        JSON-safe details of the fit (see :class:`~segmint.features.clv._fit.FitResult`).

    Notes
    -----
    With :math:`L` the likelihood of (x, t_x, n) and :math:`B` the beta function:

    * :meth:`probability_alive` (generalised to m opportunities ahead):
      :math:`P(\text{alive at } n+m) = \frac{B(\alpha+x,\beta+n-x)}{B(\alpha,\beta)}
      \frac{B(\gamma,\delta+n+m)}{B(\gamma,\delta)} / L`;
    * :meth:`expected_purchases`:
      :math:`E[X(n, n+n^*)] = \frac{B(\alpha+x+1,\beta+n-x)}{B(\alpha,\beta)\,B(\gamma,\delta)\,L}
      \sum_{k=1}^{n^*} B(\gamma, \delta+n+k)`;
    * :meth:`expected_purchases_new_customer`:
      :math:`E[X(n)] = \frac{\alpha}{\alpha+\beta}\sum_{k=1}^{n}
      \frac{B(\gamma,\delta+k)}{B(\gamma,\delta)}`;
    * :meth:`discounted_expected_residual_transactions`:
      :math:`\mathrm{DERT}(d) = \frac{B(\alpha+x+1,\beta+n-x)\,B(\gamma,\delta+n+1)}
      {B(\alpha,\beta)\,B(\gamma,\delta)\,(1+d)\,L}\;{}_2F_1\!\left(1, \delta+n+1;
      \gamma+\delta+n+1; \tfrac{1}{1+d}\right)`;
    * :meth:`purchase_count_distribution`: :math:`P(X(n) = x)`.

    The sums of beta functions are evaluated in closed form by telescoping
    (:math:`B(\gamma,y) = B(\gamma-1,y) - B(\gamma-1,y+1)`), which equals the paper's
    gamma-function expressions and stays finite at :math:`\gamma = 1`.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in a
       discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.

    Examples
    --------
    >>> table = bgbb_summary(donations, opportunities="year", aggregate=True)  # doctest: +SKIP
    >>> model = BetaGeoBetaBinomModel().fit(  # doctest: +SKIP
    ...     table["frequency"], table["recency"], table["n_opportunities"],
    ...     weights=table["count"],
    ... )
    >>> model.probability_alive(6, 6, 6)  # doctest: +SKIP
    0.93...
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    _label = "BG/BB"
    _limits: ClassVar[tuple[Limit, ...]] = (
        Limit({"alpha": -1.0}, _NO_REPEAT, supersedes=True),
        Limit({"beta": 1.0}, _NO_REPEAT, supersedes=True),
        Limit({"delta": -1.0}, _NO_REPEAT, supersedes=True),
        Limit({"gamma": 1.0}, _NO_REPEAT, supersedes=True),
        Limit({"beta": -1.0}, _EVERY_OPPORTUNITY),
        Limit({"alpha": 1.0}, _EVERY_OPPORTUNITY),
        Limit({"gamma": -1.0}, _NO_DROPOUT),
        Limit({"delta": 1.0}, _NO_DROPOUT),
        Limit({"alpha": 1.0, "beta": 1.0}, _SAME_P),
        Limit({"gamma": 1.0, "delta": 1.0}, _SAME_THETA),
    )

    # -- fitting -------------------------------------------------------------------------------
    @staticmethod
    def _prepare(frequency: Any, recency: Any, n_opportunities: Any) -> tuple[np.ndarray, ...]:
        """Validated (x, t_x, n): whole numbers with 0 <= x <= t_x <= n, t_x = 0 iff x = 0."""
        x = _as_counts("frequency", frequency)
        tx = _as_counts("recency", recency)
        n = _as_counts("n_opportunities", n_opportunities)
        _check_same_length(frequency=x, recency=tx, n_opportunities=n)
        x, tx, n = np.broadcast_arrays(x, tx, n)
        checks = (
            (
                tx > n,
                "recency exceeds n_opportunities",
                "recency is the opportunity of the last transaction (1..n), so it cannot "
                "exceed n_opportunities; check the column order",
            ),
            (
                x > tx,
                "frequency exceeds recency",
                "x transactions at opportunities 1..t_x need t_x >= x; check the column order",
            ),
            (
                (x == 0) & (tx > 0),
                "frequency is 0 but recency is positive",
                "recency must be 0 for customers without repeat transactions",
            ),
        )
        for bad, what, hint in checks:
            if np.any(bad):
                raise InputError(f"{what} for {int(np.sum(bad))} customer(s)", hint=hint)
        return x, tx, n

    def fit(self, frequency: Any, recency: Any, n_opportunities: Any, weights: Any = None) -> Self:
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        frequency : array-like
            Number x of opportunities after the first transaction at which the customer
            transacted (repeat transactions), as returned by :func:`bgbb_summary`.
        recency : array-like
            Opportunity t_x of the last transaction (1..n), 0 when x = 0.
        n_opportunities : array-like
            Number n of opportunities after the first transaction.
        weights : array-like, optional
            Number of customers of each row (e.g. the ``count`` column of the
            recency/frequency table); rows with weight 0 are ignored. Default: one customer
            per row.

        Returns
        -------
        BetaGeoBetaBinomModel
            ``self``, fitted.

        Raises
        ------
        InputError
            If the inputs are not whole non-negative numbers, have different lengths, are
            inconsistent (recency > n, frequency > recency, recency > 0 with frequency 0), or
            if nobody has an opportunity (all n = 0), or the weights are invalid.
        """
        self._check_hyperparameters()
        x, tx, n = self._prepare(frequency, recency, n_opportunities)
        if x.ndim == 0:
            x, tx, n = x.reshape(1), tx.reshape(1), n.reshape(1)
        w = _as_weights(weights, x.size)
        if not np.any((n > 0) & (w > 0)):
            raise InputError(
                "no customer has a transaction opportunity after the first one (all n = 0)",
                hint="the BG/BB model needs at least one opportunity per customer; use a later "
                "calibration end or drop customers acquired in the last period",
            )
        return self._fit_rows(x, tx, n, weights=w)

    def _diagnose(self, columns: list[np.ndarray], w: np.ndarray) -> str | None:
        x, _, n = columns
        informative = n > 0
        if not np.any(x > 0):
            return (
                "no customer transacted after the first transaction, so the data cannot tell "
                "customers who never buy from customers who dropped out"
            )
        if np.all(x[informative] == n[informative]):
            return (
                "every customer transacted at every opportunity, so the transaction "
                "probability runs to 1 and the dropout probability to 0"
            )
        if np.max(n) <= 1:
            return (
                "every customer had a single opportunity, which identifies only the share "
                "who transact at it (alpha/(alpha+beta) * delta/(gamma+delta)), not the four "
                "parameters"
            )
        return None

    def _loglik(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, n: np.ndarray, w: np.ndarray
    ) -> tuple[float, np.ndarray]:
        ll, grad = _bgbb_loglik(*params, x, tx, n, w)
        return ll, grad  # type: ignore[return-value]

    def _starts(self, columns: list[np.ndarray], w: np.ndarray) -> list[list[float]]:
        """Deterministic starts: all ones; the share x / t_x of opportunities with a
        transaction up to the last one split into beta shapes of total 2, with a low dropout;
        and a uniform p with a low, more spread dropout."""
        x, tx, _ = columns
        opp = float(np.sum(w * tx))
        rate = float(np.sum(w * x)) / opp if opp > 0 else 0.5
        rate = min(max(rate, 0.05), 0.95)
        return [
            [1.0, 1.0, 1.0, 1.0],
            [2.0 * rate, 2.0 * (1.0 - rate), 1.0, 3.0],
            [1.0, 1.0, 0.5, 3.0],
        ]

    # -- predictions ---------------------------------------------------------------------------
    def probability_alive(
        self, frequency: Any, recency: Any, n_opportunities: Any, m_future: Any = 1
    ) -> Any:
        """Probability that a customer with history (x, t_x, n) is alive at opportunity n + m.

        With ``m_future=1`` (default) this is P(alive at the next opportunity), Table 6 of
        [1]_ ("P(alive in 2002)" for the 1995 cohort observed through 2001). The formula is in
        the notes of the class.

        Parameters
        ----------
        frequency, recency, n_opportunities : array-like or int
            Customer histories (broadcast together).
        m_future : int or array-like, default 1
            How many opportunities after the n-th (0 gives P(alive at opportunity n)).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            P(alive) per customer (a Series indexed like the first Series input, if any).

        References
        ----------
        .. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in
           a discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.
        """
        self._check_fitted()
        x, tx, n = self._prepare(frequency, recency, n_opportunities)
        m = _as_counts("m_future", m_future)
        alpha, beta, gamma, delta = self._values()
        log_l = _bgbb_log_l(self._values(), x, tx, n)
        log_alive = (
            betaln(alpha + x, beta + n - x)
            - betaln(alpha, beta)
            + betaln(gamma, delta + n + m)
            - betaln(gamma, delta)
        )
        result = np.minimum(np.exp(log_alive - log_l), 1.0)
        return _wrap(
            result, frequency, recency, n_opportunities, m_future, name="probability_alive"
        )

    def _log_purchase_factor(self, x: np.ndarray, tx: np.ndarray, n: np.ndarray) -> np.ndarray:
        """log[B(alpha+x+1, beta+n-x) / (B(alpha,beta) B(gamma,delta) L)]."""
        alpha, beta, gamma, delta = self._values()
        return (
            betaln(alpha + x + 1.0, beta + n - x)
            - betaln(alpha, beta)
            - betaln(gamma, delta)
            - _bgbb_log_l(self._values(), x, tx, n)
        )

    def expected_purchases(
        self, n_future: Any, frequency: Any, recency: Any, n_opportunities: Any
    ) -> Any:
        """Expected transactions in the next ``n_future`` opportunities, given (x, t_x, n).

        E[X(n, n + n*) | x, t_x, n] of [1]_; the formula is in the notes of the class.

        Parameters
        ----------
        n_future : int or array-like
            Number n* of future opportunities (whole number).
        frequency, recency, n_opportunities : array-like or int
            Customer histories (broadcast together with ``n_future``).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            Expected transactions per customer.

        References
        ----------
        .. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in
           a discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.
        """
        self._check_fitted()
        k = _as_counts("n_future", n_future)
        x, tx, n = self._prepare(frequency, recency, n_opportunities)
        gamma, delta = self.params_["gamma"], self.params_["delta"]
        x, tx, n, k = np.broadcast_arrays(x, tx, n, k)
        log_sum = _log_beta_sum(gamma, delta + n + 1.0, k)
        result = np.exp(self._log_purchase_factor(x, tx, n) + log_sum)
        return _wrap(
            result, frequency, recency, n_opportunities, n_future, name="expected_purchases"
        )

    def expected_purchases_new_customer(self, n_opportunities: Any) -> Any:
        """Expected transactions of a new customer in their first ``n_opportunities``.

        E[X(n)] of [1]_; the formula is in the notes of the class.

        Parameters
        ----------
        n_opportunities : int or array-like
            Number n of opportunities after the first transaction (whole number).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            Expected (repeat) transactions.

        References
        ----------
        .. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in
           a discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.
        """
        self._check_fitted()
        n = _as_counts("n_opportunities", n_opportunities)
        alpha, beta, gamma, delta = self._values()
        log_sum = _log_beta_sum(gamma, np.full(n.shape, delta + 1.0), n)
        result = alpha / (alpha + beta) * np.exp(log_sum - betaln(gamma, delta))
        return _wrap(result, n_opportunities, name="expected_purchases")

    def discounted_expected_residual_transactions(
        self, discount_rate: float, frequency: Any, recency: Any, n_opportunities: Any
    ) -> Any:
        """Discounted expected residual transactions (DERT) of a customer with (x, t_x, n).

        DERT of [1]_: the expected number of transactions at opportunities
        n + 1, n + 2, ..., the one at n + k discounted by ``(1 + d) ** k``. Times the value of
        a transaction it gives the customer's expected residual lifetime value.

        Parameters
        ----------
        discount_rate : float
            Discount rate d per opportunity (e.g. 0.10 for yearly opportunities at 10 %);
            must be > 0.
        frequency, recency, n_opportunities : array-like or int
            Customer histories (broadcast together).

        Returns
        -------
        float, numpy.ndarray or pandas.Series
            DERT per customer.

        Raises
        ------
        InputError
            If ``discount_rate`` is not a positive number.

        References
        ----------
        .. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in
           a discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.
        """
        self._check_fitted()
        z = _discount_factor(
            discount_rate,
            hint="e.g. 0.10 for 10 % per opportunity; without discounting the expected number "
            "of future transactions can be infinite",
        )
        x, tx, n = self._prepare(frequency, recency, n_opportunities)
        gamma, delta = self.params_["gamma"], self.params_["delta"]
        log_first = betaln(gamma, delta + n + 1.0) + math.log(z)
        hyp = hyp2f1(1.0, delta + n + 1.0, gamma + delta + n + 1.0, z)
        result = np.exp(self._log_purchase_factor(x, tx, n) + log_first) * hyp
        return _wrap(result, frequency, recency, n_opportunities, name="dert")

    def purchase_count_distribution(self, n_opportunities: int) -> np.ndarray:
        r"""Probability that a new customer makes x = 0, 1, ..., n transactions in n opportunities.

        As in [1]_:

        .. math:: P(X(n)=x) = \binom{n}{x}\frac{B(\alpha+x,\beta+n-x)}{B(\alpha,\beta)}
           \frac{B(\gamma,\delta+n)}{B(\gamma,\delta)} + \sum_{i=x}^{n-1}\binom{i}{x}
           \frac{B(\alpha+x,\beta+i-x)}{B(\alpha,\beta)}
           \frac{B(\gamma+1,\delta+i)}{B(\gamma,\delta)}

        Times the number of customers it gives the expected histogram of the calibration
        frequencies (the paper's in-sample fit check).

        Parameters
        ----------
        n_opportunities : int
            Number n of opportunities (whole number >= 0).

        Returns
        -------
        numpy.ndarray
            ``n + 1`` probabilities summing to 1.

        References
        ----------
        .. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in
           a discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.
        """
        self._check_fitted()
        n_arr = _as_counts("n_opportunities", n_opportunities)
        if n_arr.ndim != 0:
            raise InputError(
                "n_opportunities must be a single whole number",
                hint="call purchase_count_distribution once per n",
            )
        n = int(n_arr)
        alpha, beta, gamma, delta = self._values()
        x = np.arange(n + 1, dtype=np.float64)
        lab, lgd = betaln(alpha, beta), betaln(gamma, delta)
        log_choose = gammaln(n + 1.0) - gammaln(x + 1.0) - gammaln(n - x + 1.0)
        first = log_choose + betaln(alpha + x, beta + n - x) - lab + betaln(gamma, delta + n) - lgd
        i = np.arange(max(n, 1), dtype=np.float64)[None, :]
        xc = x[:, None]
        mask = (i >= xc) & (i < n)
        ii = np.where(mask, i, xc)
        terms = (
            gammaln(ii + 1.0)
            - gammaln(xc + 1.0)
            - gammaln(ii - xc + 1.0)
            + betaln(alpha + xc, beta + ii - xc)
            - lab
            + betaln(gamma + 1.0, delta + ii)
            - lgd
        )
        terms = np.where(mask, terms, -np.inf)
        return np.exp(np.logaddexp(first, np.logaddexp.reduce(terms, axis=1)))
