"""Gaussian mixture segmenter with the number of segments chosen by BIC.

Besides :class:`GaussianMixtureSegmenter`, this module holds the few helpers that the
segmenters of this package share (``k_range`` validation, survey-weight handling, the JSON
serialisation envelope).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.cluster import kmeans_plusplus
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from segmint._logging import logger
from segmint.exceptions import ModelError
from segmint.segmenters._ids import size_order

__all__ = ["GaussianMixtureSegmenter"]

_FORMAT = "segmint.segmenter"
_FORMAT_VERSION = 1
_SEED_MAX = np.iinfo(np.int32).max


# ---------------------------------------------------------------------------------------------
# Helpers shared by the segmenters of this package
# ---------------------------------------------------------------------------------------------


def _candidate_ks(k_range: Any, n_samples: int, *, min_k: int, name: str) -> list[int]:
    """Validate ``k_range`` (two inclusive integer bounds) and clip it to ``n_samples``.

    Raises
    ------
    ValueError
        When the bounds are malformed or no candidate fits the data.
    """
    bounds = tuple(k_range) if isinstance(k_range, (tuple, list)) else None
    if (
        bounds is None
        or len(bounds) != 2
        or not all(isinstance(b, Integral) and not isinstance(b, bool) for b in bounds)
        or bounds[0] < min_k
        or bounds[0] > bounds[1]
    ):
        raise ValueError(
            f"The 'k_range' parameter of {name} must be a pair of integers (low, high) with "
            f"{min_k} <= low <= high, got {k_range!r}. Pass e.g. k_range=({max(min_k, 2)}, 8)."
        )
    low, high = int(bounds[0]), int(bounds[1])
    if low > n_samples:
        raise ValueError(
            f"{name} cannot try k_range={k_range!r} with only n_samples={n_samples}: every "
            "candidate number of segments exceeds the number of samples. Lower k_range or "
            "pass more data."
        )
    if high > n_samples:
        logger.info("%s: k_range clipped to (%d, %d) = n_samples", name, low, n_samples)
        high = n_samples
    return list(range(low, high + 1))


def _check_forced_k(n_segments: int, n_samples: int, name: str) -> None:
    if n_segments > n_samples:
        raise ValueError(
            f"{name} got n_segments={n_segments} but only n_samples={n_samples}. Pass "
            "n_segments <= n_samples, or n_segments=None to choose it from k_range."
        )


def _relative_weights(sample_weight: Any, X: Any, n_samples: int) -> np.ndarray:
    """Validate ``sample_weight`` and rescale it to sum to ``n_samples``.

    Survey weights are relative: what matters is their ratio. Rescaling them to sum to the
    sample size keeps log-likelihoods, BIC and AIC on the scale of the actual sample (as Mplus
    and most survey software do) instead of the population size the weights may add up to.
    """
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float64)
    weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True
    )
    total = float(weight.sum())
    if not np.isfinite(total) or total <= 0:
        raise ValueError(
            "sample_weight must contain finite, non-negative values with a positive sum; got a "
            f"sum of {total!r}. Drop the rows you want to ignore instead of weighting them all 0."
        )
    return weight * (n_samples / total)


def _permute_by_size(
    labels: np.ndarray, n_segments: int, centers: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Return ``order`` so that ``params[order]`` lists segments by their stable id."""
    mapping = size_order(labels, n_segments, centers=centers, sample_weight=weight)
    return np.argsort(mapping)


def _min_share(labels: np.ndarray, n_segments: int, weight: np.ndarray) -> float:
    sizes = np.bincount(labels, weights=weight, minlength=n_segments)
    return float(sizes.min() / sizes.sum())


def _seeds(random_state: Any, n: int) -> list[int]:
    rng = check_random_state(random_state)
    return [int(s) for s in rng.randint(_SEED_MAX, size=n)]


def _json_params(estimator: BaseEstimator) -> dict[str, Any]:
    params = {}
    for key, value in estimator.get_params(deep=False).items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        if key == "random_state" and not (value is None or isinstance(value, Integral)):
            logger.debug("to_dict: random_state %r is not serialisable, stored as None", value)
            value = None
        if isinstance(value, np.generic):
            value = value.item()
        params[key] = value
    return params


def _envelope(estimator: BaseEstimator, fitted: dict[str, Any]) -> dict[str, Any]:
    common: dict[str, Any] = {"n_features_in_": int(estimator.n_features_in_)}
    names = getattr(estimator, "feature_names_in_", None)
    common["feature_names_in_"] = None if names is None else [str(n) for n in names]
    common["n_segments_"] = int(estimator.n_segments_)
    evidence = getattr(estimator, "evidence_", None)
    if evidence is not None:
        common["evidence_"] = {
            col: [None if (isinstance(v, float) and math.isnan(v)) else v for v in values]
            for col, values in evidence.to_dict(orient="list").items()
        }
    return {
        "format": _FORMAT,
        "version": _FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "params": _json_params(estimator),
        "fitted": {**common, **fitted},
    }


def _open_envelope(cls: type, d: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Check the envelope written by :func:`_envelope` and rebuild the bare estimator."""
    if not isinstance(d, dict) or d.get("format") != _FORMAT:
        raise ModelError(
            f"{cls.__name__}.from_dict got something that is not a segmint segmenter dict.",
            hint="Pass the dict returned by to_dict() (after json.loads if it was stored).",
        )
    if d.get("version") != _FORMAT_VERSION:
        raise ModelError(
            f"{cls.__name__}.from_dict cannot read format version {d.get('version')!r}; this "
            f"segmint reads version {_FORMAT_VERSION}.",
            hint="Refit the model with this segmint version.",
        )
    if d.get("estimator") != cls.__name__:
        raise ModelError(
            f"{cls.__name__}.from_dict got a dict for {d.get('estimator')!r}.",
            hint=f"Use {d.get('estimator')}.from_dict(d) instead.",
        )
    params = dict(d["params"])
    if params.get("k_range") is not None:
        params["k_range"] = tuple(params["k_range"])
    estimator = cls(**params)
    fitted = d["fitted"]
    estimator.n_features_in_ = int(fitted["n_features_in_"])
    if fitted.get("feature_names_in_") is not None:
        estimator.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
    estimator.n_segments_ = int(fitted["n_segments_"])
    if fitted.get("evidence_") is not None:
        evidence = pd.DataFrame(fitted["evidence_"])
        estimator.evidence_ = evidence.astype(
            {col: ("int64" if col == "k" else "float64") for col in evidence.columns}
        )
    return estimator, fitted


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


class GaussianMixtureSegmenter(ClusterMixin, BaseEstimator):
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
        "n_segments": [Interval(Integral, 1, None, closed="left"), None],
        "k_range": [tuple, list],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

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
        weight = _relative_weights(sample_weight, X, n)
        name = type(self).__name__
        if self.n_segments is not None:
            _check_forced_k(self.n_segments, n, name)
            ks = [int(self.n_segments)]
        else:
            ks = _candidate_ks(self.k_range, n, min_k=1, name=name)
        seeds = _seeds(self.random_state, self.n_init * len(ks))

        rows, best = [], None
        for i, k in enumerate(ks):
            model = self._fit_k(X, weight, k, seeds[i * self.n_init : (i + 1) * self.n_init])
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
                    "min_segment_share": _min_share(labels, k, weight),
                }
            )
            logger.debug("%s: k=%d bic=%.3f", name, k, bic)
            if best is None or bic < best[0]:
                best = (bic, k, model)
        assert best is not None
        _, k, model = best

        order = _permute_by_size(model["resp"].argmax(axis=1), k, model["means"], weight)
        self.weights_ = model["weights"][order]
        self.means_ = model["means"][order]
        cov = model["cov"]
        self.covariances_ = cov if self.covariance_type == "tied" else cov[order]
        self.n_segments_ = int(k)
        self.log_likelihood_ = float(model["ll"])
        self.converged_ = bool(model["converged"])
        self.n_iter_ = int(model["n_iter"])
        if self.n_segments is None:
            self.evidence_ = pd.DataFrame(rows, columns=list(rows[0]))
        elif hasattr(self, "evidence_"):
            del self.evidence_
        self.labels_ = self._log_resp(X).argmax(axis=1)
        if not self.converged_:
            logger.warning(
                "%s: EM did not converge in max_iter=%d iterations for k=%d; raise max_iter.",
                name,
                self.max_iter,
                k,
            )
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

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit and return ``labels_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric training data.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative relative weights.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Stable segment ids.
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description of the fitted model.

        Returns
        -------
        dict
            Hyper-parameters and every fitted array needed by ``predict`` and
            ``predict_proba`` (training labels are not included).
        """
        check_is_fitted(self, ["means_", "covariances_", "weights_"])
        return _envelope(
            self,
            {
                "weights_": self.weights_.tolist(),
                "means_": self.means_.tolist(),
                "covariances_": self.covariances_.tolist(),
                "log_likelihood_": self.log_likelihood_,
                "converged_": self.converged_,
                "n_iter_": self.n_iter_,
            },
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GaussianMixtureSegmenter:
        """Rebuild a fitted segmenter from :meth:`to_dict` output.

        Parameters
        ----------
        d : dict
            As returned by :meth:`to_dict`, possibly after a JSON round trip.

        Returns
        -------
        GaussianMixtureSegmenter
            A fitted estimator whose ``predict`` equals the original's.
        """
        est, fitted = _open_envelope(cls, d)
        est.weights_ = np.asarray(fitted["weights_"], dtype=np.float64)
        est.means_ = np.asarray(fitted["means_"], dtype=np.float64)
        est.covariances_ = np.asarray(fitted["covariances_"], dtype=np.float64)
        est.log_likelihood_ = float(fitted["log_likelihood_"])
        est.converged_ = bool(fitted["converged_"])
        est.n_iter_ = int(fitted["n_iter_"])
        return est
