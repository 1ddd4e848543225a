"""The Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo, 1987).

:class:`ParetoNBDModel` and its log-likelihood, computed in log space
(:func:`_pnbd_log_a0`, :func:`_pnbd_loglik_terms`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import digamma, expit, gammaln

from segmint.features.clv._base import _PurchaseModel
from segmint.features.clv._fit import Limit

__all__ = ["ParetoNBDModel"]

_NO_REPEAT = (
    "there are no (or almost no) repeat purchases to learn from (r/alpha → 0: the purchase "
    "rate is about 0); use a longer calibration period or more customers"
)
_NO_DROPOUT = (
    "the data cannot identify dropout yet (s → 0 or beta → ∞: the dropout rate is "
    "about 0, so the model has become an NBD without churn); use a longer calibration period"
)
_SAME_DROPOUT = (
    "the dropout rate barely varies between customers (s, beta → ∞ together); its "
    "spread is not identified"
)
_EXTREME_DROPOUT = (
    "the dropout rate varies extremely between customers (s, beta → 0 together: most "
    "customers practically never drop out while a few drop out almost at once); its spread "
    "is not identified"
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
_DROPOUT_SPREAD = (_SAME_DROPOUT, _EXTREME_DROPOUT)


class ParetoNBDModel(_PurchaseModel):
    r"""Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo, 1987).

    While alive a customer buys at Poisson rate :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`;
    their unobserved lifetime is exponential with rate :math:`\mu \sim \mathrm{Gamma}(s,
    \beta)`. Maximum likelihood uses the expression of Fader & Hardie [2]_ (equation (22)),
    computed in log space; its term :math:`A_0` is evaluated from its integral form by
    Gauss-Legendre quadrature on a grid adapted to each customer (see
    :func:`_pnbd_log_a0`), which stays finite and fast where the hypergeometric functions of
    the closed form overflow. The fit goes through :func:`~segmint.features.clv._fit.fit_mle`:

    * identical customers are collapsed into weighted rows;
    * time is divided by the customers' mean T, so alpha and beta are of order 1 (they scale
      with the time unit, r and s do not); estimates and log-likelihood are reported on the
      original time scale;
    * L-BFGS-B over log-parameters bounded to [1e-6, 1e6] on that scale, with the
      analytic gradient, from several deterministic starts (all ones, moment-based
      starts and seeded perturbations), keeping the best;
    * the fit counts as converged only if the optimiser succeeded, the gradient is small, no
      parameter is at a bound or drifting to a limit where the likelihood goes flat (s/beta
      -> 0: no dropout; s, beta -> infinity together: the dropout rate does not vary; r,
      alpha -> infinity together: the purchase rate does not vary; r/alpha -> 0: no repeat
      purchases) and the Hessian is positive definite. Otherwise ``convergence_reason_`` says
      why; the estimates can still be used for predictions.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty: minimises ``-loglik / n + penalizer_coef * sum(params ** 2)``.
    max_iter : int, default 1000
        Maximum number of L-BFGS-B iterations per start.

    Attributes
    ----------
    params_ : dict
        Fitted ``r``, ``alpha``, ``s`` and ``beta``.
    log_likelihood_ : float
        Log-likelihood at the estimate.
    n_customers_ : int
        Number of customers used in the fit.
    converged_ : bool
        Whether the fit passed every check of the convergence rule.
    convergence_reason_ : str or None
        ``None`` when converged, otherwise why not, in words.
    std_errors_ : dict
        Asymptotic standard errors (``None`` when the Hessian is not positive definite).
    diagnostics_ : dict
        JSON-safe optimiser diagnostics (see :class:`~segmint.features.clv._fit.FitResult`).

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
    _label = "Pareto/NBD"
    _time_scaled = ("alpha", "beta")
    _limits = (
        Limit({"r": -1.0}, _NO_REPEAT, supersedes=True),
        Limit({"alpha": 1.0}, _NO_REPEAT, supersedes=True),
        Limit({"s": -1.0}, _NO_DROPOUT, supersedes=_DROPOUT_SPREAD),
        Limit({"beta": 1.0}, _NO_DROPOUT, supersedes=_DROPOUT_SPREAD),
        Limit({"s": 1.0, "beta": 1.0}, _SAME_DROPOUT),
        Limit({"s": -1.0, "beta": -1.0}, _EXTREME_DROPOUT),
        Limit({"r": 1.0, "alpha": 1.0}, _SAME_RATE),
        Limit({"r": -1.0, "alpha": -1.0}, _EXTREME_RATE),
    )

    def _starts(self, columns: list[np.ndarray], w: np.ndarray) -> list[list[float]]:
        rate = self._rate_start(columns, w)
        return [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0 / rate, 1.0, 1.0], [0.5, 0.5 / rate, 0.5, 1.0]]

    def _loglik(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray
    ) -> tuple[float, np.ndarray]:
        return _pnbd_loglik(*params, x, tx, T, w)

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
    r"""log A_0 of the Pareto/NBD likelihood (-inf when recency == T).

    Fader & Hardie write :math:`A_0` with Gaussian hypergeometric functions; it equals
    :math:`(r+s+x)\int_{t_x}^{T} (\alpha+\tau)^{-(r+x)} (\beta+\tau)^{-(s+1)}\,d\tau`
    (the second term of the likelihood is the chance of dying at some :math:`\tau` between
    the last purchase and T). It is computed from that integral by quadrature
    (:func:`_pnbd_log_integral`): scipy's ``hyp2f1`` is slow and returns inf or nan for large
    s with its argument near 1, which the optimiser and the limit checks reach.
    """
    x, tx, T = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64), np.asarray(tx, dtype=np.float64), np.asarray(T, float)
    )
    log_a0 = np.full(x.shape, -np.inf)
    open_ = tx < T
    if np.any(open_):
        xo = x[open_]
        log_a0[open_] = np.log(r + s + xo) + _pnbd_log_integral(
            r, alpha, s, beta, xo, tx[open_], T[open_]
        )
    return log_a0


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(96)
_GL_LOG_WEIGHTS = np.log(0.5 * _GL_WEIGHTS)[None, :]


def _pnbd_log_integral(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    *,
    gradient: bool = False,
) -> Any:
    r"""log of :math:`I = \int_{t_x}^{T} (\alpha+\tau)^{-(r+x)} (\beta+\tau)^{-(s+1)} d\tau`.

    This integral is :math:`A_0/(r+s+x)`. The log-integrand is convex and decreasing, with
    slope :math:`-\lambda_0` at :math:`t_x`; the map
    :math:`\tau = t_x + L (e^{\kappa y} - 1)/(e^{\kappa} - 1)`, :math:`L = T - t_x`,
    :math:`\kappa = \log(1 + \lambda_0 L)`, puts the Gauss-Legendre nodes (96) where the
    integrand is, so the quadrature is accurate (about 1e-10 relative) whether it decays
    slowly or sharply. Requires ``tx < T``.

    With ``gradient=True`` also returns the derivatives of log I in (r, alpha, s, beta): the
    integrand-weighted means of the derivatives of the log-integrand, on the same nodes.
    """
    length = (T - tx)[:, None]
    rate = (r + x) / (alpha + tx) + (s + 1.0) / (beta + tx)
    kappa = np.maximum(np.log1p(rate * (T - tx)), 1e-12)[:, None]
    y = 0.5 * (_GL_NODES + 1.0)[None, :]
    # (e^{kappa y} - 1) / (e^kappa - 1) and the log of its derivative in y
    denom = np.expm1(kappa)
    frac = np.expm1(kappa * y) / denom
    log_dfrac = np.log(kappa) + kappa * y - np.log(denom)
    tau = tx[:, None] + length * frac
    log_at = np.log(alpha + tau)
    log_bt = np.log(beta + tau)
    rx = (r + x)[:, None]
    log_terms = -rx * log_at - (s + 1.0) * log_bt + np.log(length) + log_dfrac + _GL_LOG_WEIGHTS
    top = np.max(log_terms, axis=1, keepdims=True)
    weights = np.exp(log_terms - top)
    total = np.sum(weights, axis=1, keepdims=True)
    log_i = (top + np.log(total))[:, 0]
    if not gradient:
        return log_i
    weights = weights / total
    grads = (
        -np.sum(weights * log_at, axis=1),
        -np.sum(weights * rx / (alpha + tau), axis=1),
        -np.sum(weights * log_bt, axis=1),
        -np.sum(weights * (s + 1.0) / (beta + tau), axis=1),
    )
    return log_i, grads


def _pnbd_loglik(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    w: np.ndarray,
) -> tuple[float, np.ndarray]:
    """Weighted Pareto/NBD log-likelihood and its gradient in (r, alpha, s, beta).

    Per row, ``base + logaddexp(first, second)`` with
    ``first = -(r+x) log(alpha+T) - s log(beta+T)`` (alive at T) and
    ``second = log s + log I`` (died between t_x and T, :func:`_pnbd_log_integral`).
    """
    base = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    second = np.full(x.shape, -np.inf)
    d_second = [np.zeros(x.shape) for _ in range(4)]
    open_ = tx < T
    if np.any(open_):
        log_i, grads = _pnbd_log_integral(
            r, alpha, s, beta, x[open_], tx[open_], T[open_], gradient=True
        )
        second[open_] = np.log(s) + log_i
        for d, g in zip(d_second, grads, strict=True):
            d[open_] = g
        d_second[2][open_] += 1.0 / s
    lse = np.logaddexp(first, second)
    w1 = np.exp(first - lse)
    w2 = 1.0 - w1
    d_first = (-np.log(alpha + T), -(r + x) / (alpha + T), -np.log(beta + T), -s / (beta + T))
    d_base = (digamma(r + x) - digamma(r) + np.log(alpha), r / alpha, np.log(beta), s / beta)
    grad = np.array(
        [
            np.sum(w * (db + w1 * df + w2 * ds))
            for db, df, ds in zip(d_base, d_first, d_second, strict=True)
        ]
    )
    return float(np.sum(w * (base + lse))), grad


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
