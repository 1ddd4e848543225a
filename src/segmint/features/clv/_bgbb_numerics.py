r"""The BG/BB likelihood and the sums behind its predictions, over distinct values.

The numerics of :class:`~segmint.features.clv._bgbb.BetaGeoBetaBinomModel` (Fader, Hardie &
Shang, 2010 [1]_):

* :func:`_bgbb_loglik` -- the weighted log-likelihood of (x, t_x, n) rows and its analytic
  gradient; :func:`_bgbb_log_l` -- the per-row log-likelihood, for the predictions. Both sum
  over the opportunities j = t_x .. n-1 with a stable log-sum-exp (:func:`_log_sum_exp`) of
  the terms of :func:`_bgbb_terms`, whose special functions :class:`_Tables` evaluates once
  per distinct x and j; rows are processed in blocks of at most ``_BLOCK_CELLS`` (row, j)
  cells so that memory stays bounded for many opportunities.
* :func:`_log_beta_sum` -- the closed form (by telescoping) of the sums of beta functions in
  the expected transactions, finite at gamma = 1.

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in a
   discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import betaln, digamma, gammaln, polygamma

# Unique rows times terms per block of the vectorised likelihood sums (bounds the memory).
_BLOCK_CELLS = 1 << 21


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
