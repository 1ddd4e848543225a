"""Gaussian mixture segmenter with the number of segments chosen by BIC."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar, Self

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.cluster import kmeans_plusplus
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from segmint._logging import logger
from segmint.segmenters._base import (
    COMMON_CONSTRAINTS,
    SegmenterMixin,
    min_share,
    permute_by_size,
    relative_weights,
    seeds,
)

__all__ = ["GaussianMixtureSegmenter"]


# ---------------------------------------------------------------------------------------------
# Gaussian mixture EM (weighted)
# ---------------------------------------------------------------------------------------------


def _n_parameters(k: int, d: int, covariance_type: str) -> int:
    cov = {
        "full": k * d * (d + 1) // 2,
        "tied": d * (d + 1) // 2,
        "diag": k * d,
        "spherical": k,
    }[covariance_type]
    return int(k * d + cov + k - 1)


def _cholesky(cov: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            "A fitted covariance matrix is singular (collapsed segment or duplicated/constant "
            "columns). Increase reg_covar, drop constant or duplicated columns, or use fewer "
            "segments."
        ) from exc


def _log_gaussian(
    X: np.ndarray, means: np.ndarray, covariances: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Return ``log N(x_i | mean_j, cov_j)`` as an array of shape (n_samples, n_components)."""
    n, d = X.shape
    k = means.shape[0]
    out = np.empty((n, k))
    const = d * np.log(2 * np.pi)
    if covariance_type in ("full", "tied"):
        chols = (
            [_cholesky(c) for c in covariances]
            if covariance_type == "full"
            else [_cholesky(covariances)] * k
        )
        eye = np.eye(d)
        for j in range(k):
            # (X - mean) @ inv(L).T has the squared Mahalanobis distances as row norms
            prec_chol = np.linalg.solve(chols[j], eye).T
            z = X @ prec_chol - means[j] @ prec_chol
            log_det = 2.0 * np.log(np.diag(chols[j])).sum()
            out[:, j] = -0.5 * (const + log_det + np.einsum("ij,ij->i", z, z))
    else:
        var = covariances if covariance_type == "diag" else covariances[:, None] * np.ones(d)
        for j in range(k):
            maha = (((X - means[j]) ** 2) / var[j]).sum(axis=1)
            out[:, j] = -0.5 * (const + np.log(var[j]).sum() + maha)
    return out


def _m_step(
    X: np.ndarray, resp: np.ndarray, weight: np.ndarray, covariance_type: str, reg_covar: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = X.shape[1]
    rw = resp * weight[:, None]
    nk = rw.sum(axis=0) + 10 * np.finfo(float).eps
    means = (rw.T @ X) / nk[:, None]
    k = means.shape[0]
    if covariance_type == "full":
        cov = np.empty((k, d, d))
        for j in range(k):
            diff = X - means[j]
            cov[j] = (rw[:, j, None] * diff).T @ diff / nk[j]
            cov[j].flat[:: d + 1] += reg_covar
    elif covariance_type == "tied":
        cov = (X.T * weight) @ X - (means.T * nk) @ means
        cov = cov / nk.sum()
        cov = 0.5 * (cov + cov.T)
        cov.flat[:: d + 1] += reg_covar
    else:
        var = np.empty((k, d))
        for j in range(k):
            var[j] = (rw[:, j, None] * (X - means[j]) ** 2).sum(axis=0) / nk[j]
        var += reg_covar
        cov = var if covariance_type == "diag" else var.mean(axis=1)
    return nk / nk.sum(), means, cov


class GaussianMixtureSegmenter(SegmenterMixin, ClusterMixin, BaseEstimator):
    """Segment numeric customer data with a Gaussian mixture, k chosen by BIC.

    Every candidate number of segments in ``k_range`` is fitted by expectation-maximisation
    (EM) from ``n_init`` k-means++ seeded starts; the model with the lowest Bayesian
    information criterion (BIC) is kept, unless ``n_segments`` forces the number of
    segments. Segments are numbered by descending (weighted) size, see
    :mod:`segmint.segmenters._ids`.

    Parameters
    ----------
    n_segments : int or None, default=None
        Number of segments. ``None`` chooses it by BIC over ``k_range``.
    k_range : tuple of (int, int), default=(2, 10)
        Inclusive bounds of the numbers of segments tried when ``n_segments`` is None.
        ``(1, ...)`` lets BIC answer "no segment structure". Clipped to ``n_samples``.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Shape of the segment covariances: one full matrix per segment, one full matrix
        shared by all segments, one diagonal per segment, or one variance per segment.
    n_init : int, default=3
        Number of EM starts per candidate k; the start with the best likelihood is kept.
    max_iter : int, default=200
        Maximum number of EM iterations per start.
    tol : float, default=1e-4
        EM stops when the mean (weighted) log-likelihood per sample improves by less.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance to keep it positive definite.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means++ starts. An int makes results reproducible.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Stable segment id of each training sample.
    n_segments_ : int
        Number of segments of the fitted model.
    evidence_ : pandas.DataFrame
        One row per candidate k with columns ``k``, ``bic``, ``aic``, ``log_likelihood`` and
        ``min_segment_share`` (weighted share of the smallest segment by hard assignment).
        Only set when the number of segments was chosen (``n_segments=None``).
    weights_ : ndarray of shape (n_segments_,)
        Mixing proportions, by stable id.
    means_ : ndarray of shape (n_segments_, n_features_in_)
        Segment means, by stable id.
    covariances_ : ndarray
        Segment covariances; shape (k, d, d) for "full", (d, d) for "tied", (k, d) for "diag"
        and (k,) for "spherical".
    log_likelihood_ : float
        Total (weighted) log-likelihood of the training data under the fitted model.
    converged_ : bool
        Whether the best EM start of the kept model converged.
    n_iter_ : int
        Number of EM iterations of that start.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.

    Notes
    -----
    EM is written here rather than taken from :class:`sklearn.mixture.GaussianMixture`
    because that class accepts no ``sample_weight``. Weights enter the M-step as
    multipliers of the responsibilities (Dempster, Laird & Rubin, 1977). They are treated as
    relative survey weights and rescaled to sum to ``n_samples``, so that the BIC penalty
    ``p * log(n)`` (Schwarz, 1978) uses the real sample size. BIC is the criterion of choice
    for the number of mixture components (Fraley & Raftery, 2002); AIC, which tends to
    overfit, is reported in ``evidence_`` for comparison only.

    The data are used as given: put numeric columns on comparable scales first if they are
    not (the "full" covariance model is scale-invariant, the others are not).

    References
    ----------
    .. [1] Dempster, A. P., Laird, N. M., & Rubin, D. B. (1977). Maximum likelihood from
       incomplete data via the EM algorithm. Journal of the Royal Statistical Society B,
       39(1), 1-38.
    .. [2] Schwarz, G. (1978). Estimating the dimension of a model. The Annals of Statistics,
       6(2), 461-464.
    .. [3] Fraley, C., & Raftery, A. E. (2002). Model-based clustering, discriminant analysis,
       and density estimation. Journal of the American Statistical Association, 97(458),
       611-631.

    Examples
    --------
    >>> import numpy as np
    >>> from segmint.segmenters._gmm import GaussianMixtureSegmenter
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (100, 2)), rng.normal(8, 1, (50, 2))])
    >>> seg = GaussianMixtureSegmenter(k_range=(1, 4), random_state=0).fit(X)
    >>> seg.n_segments_
    2
    >>> np.bincount(seg.labels_).tolist()
    [100, 50]
    """

    _parameter_constraints: ClassVar[dict] = {
        **COMMON_CONSTRAINTS,
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
    }
    _fitted_attributes: ClassVar[list[str]] = ["means_", "covariances_", "weights_"]

    def __init__(
        self,
        n_segments: int | None = None,
        *,
        k_range: tuple[int, int] = (2, 10),
        covariance_type: str = "full",
        n_init: int = 3,
        max_iter: int = 200,
        tol: float = 1e-4,
        reg_covar: float = 1e-6,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_segments = n_segments
        self.k_range = k_range
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Self:
        """Fit the mixture, choosing the number of segments by BIC unless it is forced.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric training data, without missing values.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative relative weights (e.g. survey weights).

        Returns
        -------
        self : GaussianMixtureSegmenter
            The fitted segmenter.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        weight = relative_weights(sample_weight, X, n)
        name = type(self).__name__
        ks = self._candidate_ks(n, min_k=1)
        starts = seeds(self.random_state, self.n_init * len(ks))

        rows, best = [], None
        for i, k in enumerate(ks):
            model = self._fit_k(X, weight, k, starts[i * self.n_init : (i + 1) * self.n_init])
            p = _n_parameters(k, X.shape[1], self.covariance_type)
            total_n = float(weight.sum())
            bic = -2.0 * model["ll"] + p * np.log(total_n)
            aic = -2.0 * model["ll"] + 2.0 * p
            labels = model["resp"].argmax(axis=1)
            rows.append(
                {
                    "k": k,
                    "bic": float(bic),
                    "aic": float(aic),
                    "log_likelihood": float(model["ll"]),
                    "min_segment_share": min_share(labels, k, weight),
                }
            )
            logger.debug("%s: k=%d bic=%.3f", name, k, bic)
            if best is None or bic < best[0]:
                best = (bic, k, model)
        assert best is not None
        _, k, model = best

        order = permute_by_size(model["resp"].argmax(axis=1), k, model["means"], weight)
        self.weights_ = model["weights"][order]
        self.means_ = model["means"][order]
        cov = model["cov"]
        self.covariances_ = cov if self.covariance_type == "tied" else cov[order]
        self._keep_em_fit(model, k, rows)
        self.labels_ = self._log_resp(X).argmax(axis=1)
        logger.info("%s: %d segments", name, k)
        return self

    def _fit_k(self, X: np.ndarray, weight: np.ndarray, k: int, seeds: list[int]) -> dict:
        best: dict | None = None
        total = weight.sum()
        for seed in seeds:
            _, idx = kmeans_plusplus(X, k, sample_weight=weight, random_state=seed)
            centers = X[idx]
            d2 = (
                (X * X).sum(axis=1)[:, None]
                - 2.0 * X @ centers.T
                + (centers * centers).sum(axis=1)[None, :]
            )
            resp = np.zeros((X.shape[0], k))
            resp[np.arange(X.shape[0]), d2.argmin(axis=1)] = 1.0
            params = _m_step(X, resp, weight, self.covariance_type, self.reg_covar)
            prev, converged, n_iter = -np.inf, False, 0
            for n_iter in range(1, self.max_iter + 1):  # noqa: B007 - n_iter used after loop
                log_prob = _log_gaussian(X, params[1], params[2], self.covariance_type)
                log_prob += np.log(params[0])
                norm = logsumexp(log_prob, axis=1)
                mean_ll = float(weight @ norm / total)
                resp = np.exp(log_prob - norm[:, None])
                params = _m_step(X, resp, weight, self.covariance_type, self.reg_covar)
                if abs(mean_ll - prev) < self.tol:
                    converged = True
                    break
                prev = mean_ll
            log_prob = _log_gaussian(X, params[1], params[2], self.covariance_type)
            log_prob += np.log(params[0])
            norm = logsumexp(log_prob, axis=1)
            ll = float(weight @ norm)
            if best is None or ll > best["ll"]:
                best = {
                    "ll": ll,
                    "weights": params[0],
                    "means": params[1],
                    "cov": params[2],
                    "resp": np.exp(log_prob - norm[:, None]),
                    "converged": converged,
                    "n_iter": n_iter,
                }
        assert best is not None
        return best

    # -- prediction ------------------------------------------------------------------------

    def _log_resp(self, X: np.ndarray) -> np.ndarray:
        log_prob = _log_gaussian(X, self.means_, self.covariances_, self.covariance_type)
        log_prob += np.log(self.weights_)
        return log_prob - logsumexp(log_prob, axis=1)[:, None]

    def _validate_predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, ["means_", "covariances_", "weights_"])
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return np.asarray(X, dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Assign each sample to its most probable segment.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric data with the training columns.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Stable segment ids.
        """
        return self._log_resp(self._validate_predict(X)).argmax(axis=1)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each segment for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric data with the training columns.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_segments_)
            Column ``j`` is the probability of stable segment ``j``; rows sum to 1.
        """
        return np.exp(self._log_resp(self._validate_predict(X)))

    # -- serialisation ---------------------------------------------------------------------

    def _fitted_state(self) -> dict[str, Any]:
        return {
            "weights_": self.weights_.tolist(),
            "means_": self.means_.tolist(),
            "covariances_": self.covariances_.tolist(),
            "log_likelihood_": self.log_likelihood_,
            "converged_": self.converged_,
            "n_iter_": self.n_iter_,
        }

    def _restore_fitted_state(self, fitted: dict[str, Any]) -> None:
        self.weights_ = np.asarray(fitted["weights_"], dtype=np.float64)
        self.means_ = np.asarray(fitted["means_"], dtype=np.float64)
        self.covariances_ = np.asarray(fitted["covariances_"], dtype=np.float64)
        self.log_likelihood_ = float(fitted["log_likelihood_"])
        self.converged_ = bool(fitted["converged_"])
        self.n_iter_ = int(fitted["n_iter_"])
