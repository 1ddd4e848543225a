r"""The BG/BB model of discrete-time, noncontractual purchasing, and its recency/frequency table.

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

* :class:`BetaGeoBetaBinomModel` -- the model: maximum likelihood through
  :func:`~segmint.features.clv._fit.fit_mle`, P(alive), conditional and unconditional
  expected transactions, the distribution of the transaction count and DERT.
* :func:`bgbb_summary` -- a transaction log turned into (x, t_x, n) per customer, or into the
  recency/frequency table with one row per (x, t_x, n) and its number of customers.

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

import bisect
import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import duckdb
import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln, hyp2f1, polygamma

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.features.clv._base import (
    _as_array,
    _check_same_length,
    _CLVModel,
    _wrap,
)
from segmint.features.clv._fit import Limit, fit_mle
from segmint.features.clv._summary import _is_real, _quote_ident, _to_date

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

# Unique rows times terms per block of the vectorised likelihood sums (bounds the memory).
_BLOCK_CELLS = 1 << 21
_CALENDAR_PERIODS = ("year", "quarter", "month", "week")


# --------------------------------------------------------------------------------------------
# Shared by the discrete-time models: integer checks and weighted fits
# --------------------------------------------------------------------------------------------


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


class _WeightedFitMixin:
    """A weighted variant of :meth:`_CLVModel._fit_rows` (same fit, same fitted attributes).

    Rows with identical data are merged and their weights summed, so a recency/frequency table
    with a count per row and the same customers one per row give the same fit, log-likelihood
    and ``n_customers_`` (the sum of the weights, rounded). A subclass may explain data that
    cannot identify it in :meth:`_diagnose`.
    """

    def _diagnose(self, columns: list[np.ndarray], w: np.ndarray) -> str | None:
        """A plain-words diagnosis of data that cannot identify the model, else ``None``.

        When the fit does not converge it becomes the reason (the limit checks alone flag
        every direction, contradicting each other, when the data sit in a corner of the
        parameter space; their reason is kept in ``diagnostics_["fit_reason"]``); it is
        always kept in ``diagnostics_["data_diagnosis"]``.
        """
        return None

    def _fit_weighted(self, columns: list[np.ndarray], weights: np.ndarray) -> Self:
        keep = weights > 0
        stacked = np.column_stack([c[keep] for c in columns])
        uniq, inverse = np.unique(stacked, axis=0, return_inverse=True)
        w = np.bincount(inverse.ravel(), weights=weights[keep], minlength=uniq.shape[0])
        unique = [uniq[:, i] for i in range(uniq.shape[1])]
        data, factors, offset = self._rescale(unique, w)  # type: ignore[attr-defined]
        result = fit_mle(
            lambda theta: self._loglik(theta, *data, w),  # type: ignore[attr-defined]
            self._param_names,  # type: ignore[attr-defined]
            self._starts(data, w),  # type: ignore[attr-defined]
            model=self._label,  # type: ignore[attr-defined]
            n_obs=float(w.sum()),
            scale=factors,
            log_likelihood_offset=offset,
            penalizer_coef=float(self.penalizer_coef),  # type: ignore[attr-defined]
            max_iter=int(self.max_iter),  # type: ignore[attr-defined]
            limits=self._limits,  # type: ignore[attr-defined]
        )
        reason = result.reason
        diagnostics = dict(result.diagnostics)
        diagnosis = self._diagnose(unique, w)
        if diagnosis is not None:
            diagnostics["data_diagnosis"] = diagnosis
            if reason is not None:
                # from a corner of the parameter space every limit looks flat, so the limit
                # reasons can contradict each other; the diagnosis names the cause
                diagnostics["fit_reason"] = reason
                reason = f"{self._label}: {diagnosis}"  # type: ignore[attr-defined]
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
            uniq.shape[0],
            ", ".join(f"{k}={v:.6g}" for k, v in self.params_.items()),
            self.log_likelihood_,
            "" if result.converged else f" (NOT converged: {reason})",
        )
        return self


def _log_beta_sum(g: float, b: np.ndarray, k: np.ndarray) -> np.ndarray:
    r"""``log(sum_{i=0}^{k-1} B(g, b + i))`` for ``g > 0``, ``b > 1 - g`` and counts ``k >= 0``.

    From :math:`B(g, y) = B(g-1, y) - B(g-1, y+1)` the sum telescopes to
    :math:`B(g-1, b) - B(g-1, b+k) = \Gamma(g-1)\,e^{h(b)}\,(1 - e^{h(b+k)-h(b)})` with
    :math:`h(y) = \ln\Gamma(y) - \ln\Gamma(y+g-1)`, computed in logs with ``expm1``; where
    :math:`|g-1| < b/100` the differences of :math:`\ln\Gamma` would cancel and come from its
    Taylor series in :math:`g-1` instead. At :math:`g = 1` (removable singularity) the sum is
    :math:`\psi(b+k) - \psi(b)`. ``k`` may be infinite: the sum is then finite for ``g > 1``
    only (``inf`` otherwise). The model calls it with ``b >= 1`` (``delta + n + 1`` or
    ``delta + 1``), so :math:`\Gamma(b)` and :math:`\Gamma(b+g-1)` are positive.
    """
    b, k = np.broadcast_arrays(np.asarray(b, dtype=np.float64), np.asarray(k, dtype=np.float64))
    eps = g - 1.0
    out = np.full(b.shape, -np.inf)
    pos = k > 0
    if not np.any(pos):
        return out
    bb, kk = b[pos], k[pos]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if abs(eps) < 1e-10:
            out[pos] = np.log(digamma(bb + kk) - digamma(bb))
            return out
        finite = np.isfinite(kk)
        h_b = gammaln(bb) - gammaln(bb + eps)
        kf = np.where(finite, kk, 1.0)
        # d = h(b+k) - h(b) = [lnG(b+k) - lnG(b)] - [lnG(b+k+eps) - lnG(b+eps)]
        d = (gammaln(bb + kf) - gammaln(bb)) - (gammaln(bb + kf + eps) - gammaln(bb + eps))
        small = abs(eps) < 1e-2 * bb
        if np.any(small):
            # where eps is small next to b the lnG differences cancel; the Taylor series
            # lnG(y + eps) - lnG(y) = sum_j eps^j psi^(j-1)(y) / j! (terms shrinking like
            # (eps / b)^j) gives d from differences of polygamma functions instead
            # (h(b) = lnG(b) - lnG(b + eps) itself too)
            y0, y1 = bb[small], bb[small] + kf[small]
            d_small = np.zeros(y0.shape)
            h_small = np.zeros(y0.shape)
            for order in range(8):
                coef = eps ** (order + 1) / math.factorial(order + 1)
                psi0 = polygamma(order, y0)
                d_small -= coef * (polygamma(order, y1) - psi0)
                h_small -= coef * psi0
            d[small] = d_small
            h_b[small] = h_small
        if eps > 0:
            tail = np.where(finite, np.log(-np.expm1(d)), 0.0)
        else:
            tail = np.where(finite, np.log(np.expm1(d)), np.inf)
        out[pos] = gammaln(eps) + h_b + tail
    return out


# --------------------------------------------------------------------------------------------
# BG/BB likelihood
# --------------------------------------------------------------------------------------------


class _Tables:
    """Per-evaluation lookup tables of the BG/BB sums over opportunities j = 0 .. max(n) - 1.

    The terms of the sums depend on a row only through (x, j), so the special functions are
    evaluated once per distinct x and j and gathered for the rows, instead of once per row and
    j.
    """

    def __init__(
        self,
        alpha: float,
        beta: float,
        gamma: float,
        delta: float,
        x: np.ndarray,
        n: np.ndarray,
        *,
        with_gradient: bool,
    ) -> None:
        self.ux, inverse = np.unique(x, return_inverse=True)
        self.x_index = inverse.ravel()
        j = np.arange(max(int(np.max(n)) if n.size else 1, 1), dtype=np.float64)
        xj = np.maximum(j[None, :] - self.ux[:, None], 0.0)  # j - x (j >= t_x >= x when used)
        self.lbeta_p = betaln(alpha + self.ux[:, None], beta + xj)  # (distinct x, j)
        self.lbeta_theta = betaln(gamma + 1.0, delta + j)  # (j,)
        if with_gradient:
            self.psi_beta_jx = digamma(beta + xj)
            self.psi_ab_j = digamma(alpha + beta + j)
            self.psi_delta_j = digamma(delta + j)
            self.psi_gd_j1 = digamma(gamma + delta + j + 1.0)


def _bgbb_terms(
    alpha: float,
    beta: float,
    gamma: float,
    delta: float,
    x: np.ndarray,
    tx: np.ndarray,
    n: np.ndarray,
    tables: _Tables,
    rows: slice,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The log terms of the BG/BB likelihood of one block of rows.

    Returns ``a`` (alive through opportunity n), ``b`` (one column per j = t_x .. n-1: died
    at the start of opportunity j + 1; ``-inf`` past n - 1) and the opportunity index ``j``
    (integer, clipped into the tables' range past n - 1).
    """
    lab = betaln(alpha, beta)
    lgd = betaln(gamma, delta)
    a = betaln(alpha + x, beta + n - x) - lab + betaln(gamma, delta + n) - lgd
    width = max(int(np.max(n - tx)) if x.size else 1, 1)
    j = tx[:, None].astype(np.int64) + np.arange(width)[None, :]
    mask = j < n[:, None]
    jj = np.where(mask, j, tx[:, None].astype(np.int64))
    jj = np.minimum(jj, tables.lbeta_theta.size - 1)
    xi = tables.x_index[rows][:, None]
    b = tables.lbeta_p[xi, jj] + tables.lbeta_theta[jj]
    b = np.where(mask, b - lab - lgd, -np.inf)
    return a, b, jj


def _log_sum_exp(
    a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise ``log(exp(a) + sum_j exp(b_j))`` (``b`` may hold ``-inf``), stably.

    Returns the log-sum and the scaled terms ``exp(a - m)``, ``exp(b - m)`` and their sum, with
    ``m`` the row maximum, so that the terms' shares are ``e / sum`` without more exponentials.
    """
    m = np.maximum(a, np.max(b, axis=1))
    e_a = np.exp(a - m)
    e_b = np.exp(b - m[:, None])
    scale = e_a + np.sum(e_b, axis=1)
    return m + np.log(scale), e_a, e_b, scale


def _bgbb_loglik(
    alpha: float,
    beta: float,
    gamma: float,
    delta: float,
    x: np.ndarray,
    tx: np.ndarray,
    n: np.ndarray,
    w: np.ndarray,
    *,
    with_gradient: bool = True,
) -> tuple[float, np.ndarray | None]:
    r"""Weighted BG/BB log-likelihood of [1]_ and its gradient.

    .. math:: L = \frac{B(\alpha+x, \beta+n-x)}{B(\alpha,\beta)}
       \frac{B(\gamma, \delta+n)}{B(\gamma,\delta)} + \sum_{j=t_x}^{n-1}
       \frac{B(\alpha+x, \beta+j-x)}{B(\alpha,\beta)}\frac{B(\gamma+1, \delta+j)}{B(\gamma,\delta)}

    computed with a log-sum-exp over the terms; the gradient in (alpha, beta, gamma, delta)
    weights each term's digamma derivative by its share of L. Rows are processed in blocks so
    that memory stays bounded for many opportunities.
    """
    total = 0.0
    grad = np.zeros(4)
    rows = x.size
    tables = _Tables(alpha, beta, gamma, delta, x, n, with_gradient=with_gradient)
    width = max(int(np.max(n - tx)) if rows else 1, 1)
    step = max(1, _BLOCK_CELLS // width)
    for start in range(0, rows, step):
        sl = slice(start, start + step)
        xs, txs, ns, ws = x[sl], tx[sl], n[sl], w[sl]
        a, b, jj = _bgbb_terms(alpha, beta, gamma, delta, xs, txs, ns, tables, sl)
        lse, e_a, e_b, scale = _log_sum_exp(a, b)
        total += float(np.sum(ws * lse))
        if not with_gradient:
            continue
        wa = e_a / scale
        wb = e_b / scale[:, None]
        xi = tables.x_index[sl][:, None]
        # expected digamma terms under the term shares
        sum_psi_ab = np.sum(wb * tables.psi_ab_j[jj], axis=1)
        sum_psi_gd = np.sum(wb * tables.psi_gd_j1[jj], axis=1)
        psi_abn = digamma(alpha + beta + ns)
        psi_gdn = digamma(gamma + delta + ns)
        d_alpha = digamma(alpha + xs) - wa * psi_abn - sum_psi_ab
        d_beta = (
            wa * digamma(beta + ns - xs)
            + np.sum(wb * tables.psi_beta_jx[xi, jj], axis=1)
            - wa * psi_abn
            - sum_psi_ab
        )
        # wa psi(gamma) + (1 - wa) psi(gamma + 1) - psi(gamma) = (1 - wa) / gamma, exactly
        d_gamma = (1.0 - wa) / gamma - wa * psi_gdn - sum_psi_gd
        d_delta = (
            wa * digamma(delta + ns)
            + np.sum(wb * tables.psi_delta_j[jj], axis=1)
            - wa * psi_gdn
            - sum_psi_gd
        )
        grad += np.array([np.sum(ws * d) for d in (d_alpha, d_beta, d_gamma, d_delta)])
    if not with_gradient:
        return total, None
    wsum = float(np.sum(w))
    psi_ab, psi_gd = digamma(alpha + beta), digamma(gamma + delta)
    grad += wsum * np.array(
        [
            psi_ab - digamma(alpha),
            psi_ab - digamma(beta),
            psi_gd,
            psi_gd - digamma(delta),
        ]
    )
    return total, grad


def _bgbb_log_l(
    params: tuple[float, ...], x: np.ndarray, tx: np.ndarray, n: np.ndarray
) -> np.ndarray:
    """Per-row log-likelihood (broadcast inputs flattened, result reshaped like them)."""
    x, tx, n = np.broadcast_arrays(x, tx, n)
    shape = x.shape
    xf, txf, nf = (np.ravel(v).astype(np.float64) for v in (x, tx, n))
    out = np.empty(xf.size)
    if xf.size == 0:
        return out.reshape(shape)
    tables = _Tables(*params, xf, nf, with_gradient=False)
    width = max(int(np.max(nf - txf)), 1)
    step = max(1, _BLOCK_CELLS // width)
    for start in range(0, xf.size, step):
        sl = slice(start, start + step)
        a, b, _ = _bgbb_terms(*params, xf[sl], txf[sl], nf[sl], tables, sl)
        out[sl] = _log_sum_exp(a, b)[0]
    return out.reshape(shape)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


class BetaGeoBetaBinomModel(_WeightedFitMixin, _CLVModel):
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
        return self._fit_weighted([x, tx, n], w)

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

    def _rescale(
        self, columns: list[np.ndarray], w: np.ndarray
    ) -> tuple[list[np.ndarray], dict[str, float], float]:
        """No rescaling: the parameters are beta shapes, of order 1 whatever the unit."""
        return columns, {}, 0.0

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
        if not (_is_real(discount_rate) and discount_rate > 0):
            raise InputError(
                f"discount_rate must be a positive number, got {discount_rate!r}",
                hint="e.g. 0.10 for 10 % per opportunity; without discounting the expected "
                "number of future transactions can be infinite",
            )
        x, tx, n = self._prepare(frequency, recency, n_opportunities)
        gamma, delta = self.params_["gamma"], self.params_["delta"]
        z = 1.0 / (1.0 + float(discount_rate))
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


# --------------------------------------------------------------------------------------------
# Transaction log -> recency/frequency table (DuckDB)
# --------------------------------------------------------------------------------------------


def _period_expr(day: str, period: str) -> str:
    """SQL for the index of the calendar period containing ``day`` (consecutive integers)."""
    if period == "year":
        return f"year({day})"
    if period == "quarter":
        return f"(year({day}) * 4 + quarter({day}) - 1)"
    if period == "month":
        return f"(year({day}) * 12 + month({day}) - 1)"
    # ISO weeks (Monday to Sunday); 1970-01-05 was a Monday
    return f"CAST(floor(date_diff('day', DATE '1970-01-05', {day}) / 7) AS BIGINT)"


def _opportunity_dates(opportunities: Sequence[Any]) -> list[_dt.date]:
    dates = sorted({_to_date(d, "opportunities") for d in opportunities})
    if not dates:
        raise InputError(
            "opportunities is an empty list of dates",
            hint="pass a calendar period ('year', 'quarter', 'month', 'week') or the dates of "
            "the opportunities (e.g. campaign mailings)",
        )
    return dates


def bgbb_summary(
    transactions: Any,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    opportunities: str | Sequence[Any] = "year",
    calibration_end: Any = None,
    observation_end: Any = None,
    aggregate: bool = False,
) -> pd.DataFrame:
    """Turn a transaction log into the BG/BB (x, t_x, n) summary or recency/frequency table.

    Each transaction is assigned to an **opportunity**: with ``opportunities`` a calendar
    period (``"year"``, ``"quarter"``, ``"month"`` or ``"week"``, ISO weeks from Monday) the
    opportunity is the period containing its date; with a list of dates (e.g. the dates of
    fixed campaign mailings) it is the last of those dates on or before the transaction, so a
    gift made after the March appeal and before the June one answers the March appeal. Several
    transactions of a customer in one opportunity count once. Then, as in [1]_:

    * the customer's first opportunity with a transaction is their "birth" (period 0, not a
      repeat transaction);
    * ``n_opportunities`` (n) is the number of opportunities after it, up to and including the
      one containing ``calibration_end``;
    * ``frequency`` (x) is the number of those n opportunities with a transaction;
    * ``recency`` (t_x) is the opportunity of the last transaction counted from the birth
      (0 when x = 0);
    * with ``observation_end``: ``frequency_holdout`` is the number of later opportunities, up
      to and including the one containing ``observation_end``, with a transaction, and
      ``n_opportunities_holdout`` their number.

    Customers born in the last calibration opportunity get n = 0 (no information for the fit,
    but valid for predictions); customers born later are left out. Note that a calendar
    period cut by ``calibration_end`` counts as a whole opportunity.

    The work is done by one DuckDB SQL query on the input.

    Parameters
    ----------
    transactions : pandas.DataFrame or pyarrow.Table
        One row per transaction (gift, order, renewal, ...).
    customer_col, date_col : str
        Names of the customer id and date columns. Dates may be dates, naive timestamps or ISO
        strings (time-zone-aware timestamps are taken as UTC dates).
    opportunities : str or sequence of date-like, default "year"
        A calendar period, or the dates on which the opportunities start.
    calibration_end : date-like, optional
        Last day (inclusive) of the calibration period; default: the last transaction date.
    observation_end : date-like, optional
        Last day (inclusive) of a holdout period after ``calibration_end``.
    aggregate : bool, default False
        Return the recency/frequency table: one row per distinct (``frequency``, ``recency``,
        ``n_opportunities``, and holdout columns if any) with its number of customers in
        ``count``, sorted, instead of one row per customer.

    Returns
    -------
    pandas.DataFrame
        Per customer (indexed by customer id, sorted): ``frequency``, ``recency``,
        ``n_opportunities`` (int) and, with ``observation_end``, ``frequency_holdout`` and
        ``n_opportunities_holdout``; or, with ``aggregate=True``, those columns and ``count``.

    Raises
    ------
    InputError
        If a column is missing or unusable, the period is unknown, a transaction precedes the
        first opportunity date, ``observation_end`` is not after ``calibration_end``, or no
        customer is born by ``calibration_end``.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in a
       discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.

    Examples
    --------
    >>> log = pd.DataFrame({"customer_id": [1, 1, 1, 2],
    ...                     "date": ["1995-03-01", "1996-05-01", "1998-01-09", "1995-07-04"]})
    >>> bgbb_summary(log, calibration_end="2001-12-31")  # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency  n_opportunities
    customer_id
    1                    2        3                6
    2                    0        0                6
    """
    if isinstance(opportunities, str):
        period = opportunities.lower()
        if period not in _CALENDAR_PERIODS:
            raise InputError(
                f"unknown opportunity period {opportunities!r}",
                hint=f"use one of {', '.join(map(repr, _CALENDAR_PERIODS))} or a list of the "
                "opportunities' dates",
            )
        dates: list[_dt.date] | None = None
    else:
        try:
            dates = _opportunity_dates(list(opportunities))
        except TypeError as exc:
            raise InputError(
                f"opportunities must be a period name or a list of dates, got "
                f"{type(opportunities).__name__}",
                hint="e.g. opportunities='year' or opportunities=['2020-03-01', '2020-09-01']",
            ) from exc
        period = "dates"
    cal_end = None if calibration_end is None else _to_date(calibration_end, "calibration_end")
    obs_end = None if observation_end is None else _to_date(observation_end, "observation_end")

    con = duckdb.connect()
    try:
        try:
            con.execute("SET TimeZone = 'UTC'")
        except duckdb.Error:  # pragma: no cover - ICU extension unavailable
            logger.debug("bgbb_summary: could not set the DuckDB time zone to UTC")
        try:
            con.register("transactions_input", transactions)
        except (duckdb.Error, TypeError, ValueError) as exc:
            raise InputError(
                f"transactions of type {type(transactions).__name__} cannot be read",
                hint="pass a pandas DataFrame or a pyarrow Table",
            ) from exc
        schema = {row[0]: row[1] for row in con.sql("DESCRIBE transactions_input").fetchall()}
        missing = [c for c in (customer_col, date_col) if c not in schema]
        if missing:
            raise InputError(
                f"transactions has no column(s) {', '.join(map(repr, missing))}",
                hint=f"available columns: {', '.join(map(repr, schema))}; set customer_col "
                "and date_col to the right names",
            )
        date_type = schema[date_col]
        if not (date_type in ("DATE", "VARCHAR") or date_type.startswith("TIMESTAMP")):
            raise InputError(
                f"date column {date_col!r} has type {date_type}, not a date",
                hint="convert it to dates first, e.g. pandas.to_datetime(df[col])",
            )
        cust, date = _quote_ident(customer_col), _quote_ident(date_col)
        if date_type == "VARCHAR":
            day_expr = f"CAST(TRY_CAST({date} AS TIMESTAMP) AS DATE)"
        else:
            day_expr = f"CAST({date} AS DATE)"
        n_rows, null_customer, null_date, bad_date, bad_example, first_day, last_day = con.sql(
            f"""
            SELECT count(*),
                   count(*) FILTER (WHERE {cust} IS NULL),
                   count(*) FILTER (WHERE {date} IS NULL),
                   count(*) FILTER (WHERE {date} IS NOT NULL AND {day_expr} IS NULL),
                   any_value(CAST({date} AS VARCHAR))
                       FILTER (WHERE {date} IS NOT NULL AND {day_expr} IS NULL),
                   min({day_expr}), max({day_expr})
            FROM transactions_input
            """
        ).fetchall()[0]
        if n_rows == 0:
            raise InputError("transactions is empty", hint="pass at least one transaction")
        for count, col, what in (
            (null_customer, customer_col, "missing customer ids"),
            (null_date, date_col, "missing dates"),
        ):
            if count:
                raise InputError(
                    f"column {col!r} has {count} {what}",
                    hint="drop or fill those rows before building the BG/BB summary",
                )
        if bad_date:
            raise InputError(
                f"column {date_col!r} has {bad_date} value(s) that are not dates "
                f"(e.g. {bad_example!r})",
                hint="use ISO dates such as '1997-01-31' or convert with pandas.to_datetime",
            )
        if cal_end is None:
            cal_end = last_day
        if obs_end is not None and obs_end <= cal_end:
            raise InputError(
                f"observation_end ({obs_end}) must be after calibration_end ({cal_end})",
                hint="the holdout runs from the day after calibration_end to observation_end",
            )
        if first_day > cal_end:
            raise InputError(
                f"calibration_end ({cal_end}) is before the first transaction ({first_day})",
                hint="choose a calibration_end after the start of the data",
            )
        horizon_end = obs_end if obs_end is not None else cal_end

        if dates is None:
            daily = f"""
                SELECT DISTINCT {cust} AS customer, {_period_expr(day_expr, period)} AS opp
                FROM transactions_input
                WHERE {day_expr} <= $horizon_end
            """
            cal_opp = con.sql(
                f"SELECT {_period_expr('CAST($d AS DATE)', period)}", params={"d": cal_end}
            ).fetchall()[0][0]
            obs_opp = (
                None
                if obs_end is None
                else con.sql(
                    f"SELECT {_period_expr('CAST($d AS DATE)', period)}", params={"d": obs_end}
                ).fetchall()[0][0]
            )
        else:
            if first_day < dates[0]:
                raise InputError(
                    f"a transaction ({first_day}) precedes the first opportunity ({dates[0]})",
                    hint="add the date of an earlier opportunity or drop earlier transactions",
                )
            con.register(
                "opportunity_frame",
                pd.DataFrame({"opp_start": dates, "opp": np.arange(len(dates), dtype=np.int64)}),
            )
            con.execute(
                "CREATE TEMP TABLE opportunity_dates AS "
                "SELECT CAST(opp_start AS DATE) AS opp_start, opp FROM opportunity_frame"
            )
            daily = f"""
                SELECT DISTINCT t.customer, o.opp
                FROM (
                    SELECT {cust} AS customer, {day_expr} AS day
                    FROM transactions_input
                    WHERE {day_expr} <= $horizon_end
                ) AS t
                ASOF JOIN opportunity_dates AS o ON t.day >= o.opp_start
            """
            cal_opp = bisect.bisect_right(dates, cal_end) - 1
            obs_opp = None if obs_end is None else bisect.bisect_right(dates, obs_end) - 1
        holdout = ""
        if obs_opp is not None:
            holdout = """,
                count(*) FILTER (WHERE d.opp > $cal_opp) AS frequency_holdout,
                $obs_opp - $cal_opp AS n_opportunities_holdout"""
        query = f"""
            WITH daily AS ({daily}),
            births AS (
                SELECT customer, min(opp) AS birth FROM daily
                GROUP BY customer HAVING min(opp) <= $cal_opp
            )
            SELECT
                b.customer AS customer,
                count(*) FILTER (WHERE d.opp > b.birth AND d.opp <= $cal_opp) AS frequency,
                max(d.opp) FILTER (WHERE d.opp <= $cal_opp) - b.birth AS recency,
                $cal_opp - b.birth AS n_opportunities{holdout}
            FROM births AS b JOIN daily AS d USING (customer)
            GROUP BY b.customer, b.birth
            ORDER BY b.customer
        """
        params: dict[str, Any] = {"horizon_end": horizon_end, "cal_opp": int(cal_opp)}
        if obs_opp is not None:
            params["obs_opp"] = int(obs_opp)
        result = con.sql(query, params=params).df()
    finally:
        con.close()

    if result.empty:
        raise InputError(
            f"no customer made a first transaction by calibration_end ({cal_end})",
            hint="choose a later calibration_end",
        )
    result = result.set_index("customer")
    result.index.name = customer_col
    int_cols = ["frequency", "recency", "n_opportunities"]
    if obs_opp is not None:
        int_cols += ["frequency_holdout", "n_opportunities_holdout"]
    result = result[int_cols].astype("int64")
    logger.debug(
        "bgbb_summary: %d customers, opportunities=%s, calibration_end=%s",
        len(result),
        period,
        cal_end,
    )
    if not aggregate:
        return result
    table = result.groupby(int_cols, as_index=False).size().rename(columns={"size": "count"})
    table["count"] = table["count"].astype("int64")
    return table.sort_values(int_cols).reset_index(drop=True)
