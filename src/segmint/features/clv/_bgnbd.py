"""The BG/NBD model of repeat purchasing (Fader, Hardie & Lee, 2005).

:class:`BetaGeoModel`, its log-likelihood with analytic gradient (:func:`_bgnbd_loglik`) and
the closed form of its conditional expected purchases (:func:`_bgnbd_uncond_part`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from segmint.features.clv._base import _PurchaseModel
from segmint.features.clv._fit import Limit

__all__ = ["BetaGeoModel"]

_NO_REPEAT = (
    "there are no (or almost no) repeat purchases to learn from (r/alpha → 0: the purchase "
    "rate is about 0); use a longer calibration period or more customers"
)
_NO_DROPOUT = (
    "the data cannot identify dropout yet (a → 0, b → ∞: the chance of dropping out "
    "after a purchase is about 0, so the model has become an NBD without churn); use a longer "
    "calibration period"
)
_SAME_DROPOUT = (
    "the dropout probability barely varies between customers (a, b → ∞ together); "
    "its spread is not identified"
)
_ALL_OR_NOTHING = (
    "dropout is all or nothing (a, b → 0 together: each customer's chance of dropping out "
    "after a purchase is either about 0 or about 1); its distribution is not identified"
)
_EXTREME_RATE = (
    "purchase rates vary extremely between customers (r, alpha → 0 together: most customers "
    "practically never buy again while a few buy very often); their spread is not identified"
)
_SAME_RATE = (
    "the purchase rate barely varies between customers (r, alpha → ∞ together: "
    "purchases look Poisson); its spread is not identified"
)

# without identified dropout its spread between customers is moot
_DROPOUT_SPREAD = (_SAME_DROPOUT, _ALL_OR_NOTHING)


class BetaGeoModel(_PurchaseModel):
    r"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee, 2005).

    While "alive", a customer buys according to a Poisson process with rate
    :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`; after each purchase they drop out with
    probability :math:`p \sim \mathrm{Beta}(a, b)`. Parameters are estimated by maximum
    likelihood on (frequency, recency, T) with :func:`~segmint.features.clv._fit.fit_mle`:

    * identical customers are collapsed into weighted rows;
    * time is divided by the customers' mean T, so alpha is of order 1 (alpha scales with the
      time unit, r, a and b do not); the estimates and the log-likelihood are reported on the
      original time scale;
    * L-BFGS-B over log-parameters bounded to [1e-6, 1e6] on that scale, with the analytic
      gradient, from several deterministic starts (all ones, a moment-based start and seeded
      perturbations), keeping the best; the fit is fully deterministic;
    * the fit counts as converged only if the optimiser succeeded, the gradient is small, no
      parameter is at a bound or drifting to a limit where the likelihood goes flat (a -> 0
      or b -> infinity: no dropout; a, b -> infinity together: the dropout probability does
      not vary; r, alpha -> infinity together: the purchase rate does not vary; r/alpha -> 0:
      no repeat purchases) and the Hessian is positive definite. Otherwise
      ``convergence_reason_`` says why; the estimates can still be used for predictions.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty on the parameters: the optimiser minimises
        ``-loglik / n + penalizer_coef * sum(params ** 2)`` (the ``lifetimes`` convention).
        ``log_likelihood_`` is always the unpenalised log-likelihood.
    max_iter : int, default 1000
        Maximum number of L-BFGS-B iterations per start.

    Attributes
    ----------
    params_ : dict
        Fitted ``r``, ``alpha``, ``a`` and ``b``.
    log_likelihood_ : float
        Log-likelihood at the estimate (equation (6) of [1]_, no constant dropped).
    n_customers_ : int
        Number of customers used in the fit.
    converged_ : bool
        Whether the fit passed every check of the convergence rule.
    convergence_reason_ : str or None
        ``None`` when converged, otherwise why not, in words.
    std_errors_ : dict
        Asymptotic standard errors of the parameters (``None`` when the Hessian is not
        positive definite).
    diagnostics_ : dict
        JSON-safe optimiser diagnostics (see :class:`~segmint.features.clv._fit.FitResult`).

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
    _label = "BG/NBD"
    _limits = (
        Limit({"r": -1.0}, _NO_REPEAT, supersedes=True),
        Limit({"alpha": 1.0}, _NO_REPEAT, supersedes=True),
        Limit({"a": -1.0}, _NO_DROPOUT, supersedes=_DROPOUT_SPREAD),
        Limit({"b": 1.0}, _NO_DROPOUT, supersedes=_DROPOUT_SPREAD),
        Limit({"a": -1.0, "b": 1.0}, _NO_DROPOUT, supersedes=_DROPOUT_SPREAD),
        Limit({"a": 1.0, "b": 1.0}, _SAME_DROPOUT),
        Limit({"a": -1.0, "b": -1.0}, _ALL_OR_NOTHING),
        Limit({"r": 1.0, "alpha": 1.0}, _SAME_RATE),
        Limit({"r": -1.0, "alpha": -1.0}, _EXTREME_RATE),
    )

    def _starts(self, columns: list[np.ndarray], w: np.ndarray) -> list[list[float]]:
        rate = self._rate_start(columns, w)
        return [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0 / rate, 1.0, 3.0], [0.5, 0.5 / rate, 0.5, 2.0]]

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
    """Expected purchases in (T, T+t] of a customer alive at T (multiply by P(alive)).

    The closed form is (a+b+x-1)/(a-1) * [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)],
    z = t/(alpha+T+t). scipy's ``hyp2f1`` fails (inf or nan) for very large a and b, which a
    fit that did not converge can reach; those entries are computed by quadrature instead
    (:func:`_bgnbd_uncond_quadrature`).
    """
    t, x, T = np.broadcast_arrays(
        np.asarray(t, dtype=np.float64), np.asarray(x, dtype=np.float64), np.asarray(T, float)
    )
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        c = a + b + x - 1.0
        log1mz = np.log(alpha + T) - np.log(alpha + T + t)
        z = t / (alpha + T + t)
        hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
        result = np.asarray(c / (a - 1.0) * (1.0 - np.exp((a - 1.0) * log1mz) * hyp))
    bad = ~np.isfinite(result)
    if np.any(bad):
        result = np.array(result, dtype=np.float64)
        result[bad] = _bgnbd_uncond_quadrature(r, alpha, a, b, t[bad], x[bad], T[bad])
    return result


_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite.hermgauss(64)


def _bgnbd_uncond_quadrature(
    r: float, alpha: float, a: float, b: float, t: np.ndarray, x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    r""":func:`_bgnbd_uncond_part` as an expectation over the dropout probability.

    Alive at T with x repeat purchases, a customer's rate is Gamma(r+x, alpha+T) and their
    dropout probability :math:`p \sim \mathrm{Beta}(a, b+x)`; with
    :math:`E[Y(t) \mid \lambda, p] = (1 - e^{-\lambda p t})/p` the expectation is
    :math:`E_p[(1 - (1 + p t/(\alpha+T))^{-(r+x)})/p]`. It is taken by Gauss-Hermite
    quadrature (64 nodes) in :math:`z = \mathrm{logit}(p)`, centred at the mode of the beta
    density in z with its curvature scale: accurate when a and b are large (the density is
    then close to normal in z), which is where the closed form fails.
    """
    A, B = a, b + x
    z0 = np.log(A) - np.log(B)
    sigma = np.sqrt(1.0 / A + 1.0 / B)
    z = z0[:, None] + np.sqrt(2.0) * sigma[:, None] * _GH_NODES[None, :]
    log_p = -np.logaddexp(0.0, -z)
    log_q = -np.logaddexp(0.0, z)
    log_density = A * log_p + B[:, None] * log_q - betaln(A, B)[:, None]
    p = np.exp(log_p)
    g = -np.expm1(-(r + x)[:, None] * np.log1p(p * (t / (alpha + T))[:, None])) / p
    log_w = np.log(_GH_WEIGHTS)[None, :] + _GH_NODES[None, :] ** 2 + log_density
    return np.sqrt(2.0) * sigma * np.sum(np.exp(log_w) * g, axis=1)
