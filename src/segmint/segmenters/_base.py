"""What the model-based segmenters of this package share.

* :func:`candidate_ks`: the numbers of segments to try, from ``n_segments`` or ``k_range``,
  validated the same way for every segmenter.
* Survey weights, stable-id ordering, smallest-segment share and seeds
  (:func:`relative_weights`, :func:`permute_by_size`, :func:`min_share`, :func:`seeds`).
* The JSON form of hyper-parameters (:func:`json_params`, :func:`from_json_params`) and the
  ``segmint.segmenter`` envelope of ``to_dict``/``from_dict`` (:func:`envelope`,
  :func:`open_envelope`).
* :class:`SegmenterMixin`, which gives a segmenter ``fit_predict``, ``to_dict`` and
  ``from_dict`` in that envelope from two small hooks, and the bookkeeping of ``evidence_``.

The envelope is a stable file format: models written by earlier versions must keep loading, so
its keys and their meaning do not change without a new ``version``.
"""

from __future__ import annotations

import math
from numbers import Integral
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from segmint._logging import logger
from segmint.exceptions import ModelError
from segmint.segmenters._ids import size_order

__all__ = [
    "COMMON_CONSTRAINTS",
    "FORMAT",
    "FORMAT_VERSION",
    "SEED_MAX",
    "SegmenterMixin",
    "candidate_ks",
    "envelope",
    "from_json_params",
    "json_params",
    "min_share",
    "open_envelope",
    "permute_by_size",
    "relative_weights",
    "seeds",
]

FORMAT = "segmint.segmenter"
"""``format`` key of the envelope written by :func:`envelope`."""
FORMAT_VERSION = 1
"""``version`` key of that envelope; :func:`open_envelope` reads only this version."""
SEED_MAX = np.iinfo(np.int32).max
"""Exclusive upper bound of the integer seeds drawn for starts and samples."""
COMMON_CONSTRAINTS: dict[str, list] = {
    "n_segments": [Interval(Integral, 1, None, closed="left"), None],
    "k_range": [tuple, list],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
}
"""Parameter constraints of the hyper-parameters every k-choosing segmenter has; a class
writes ``_parameter_constraints = {**COMMON_CONSTRAINTS, ...its own}``."""


# ---------------------------------------------------------------------------------------------
# Candidate numbers of segments
# ---------------------------------------------------------------------------------------------


def candidate_ks(
    n_segments: int | None,
    k_range: Any,
    n_samples: int,
    *,
    min_k: int,
    name: str,
    max_k: int | None = None,
) -> list[int]:
    """The numbers of segments a segmenter tries: ``[n_segments]``, or ``k_range`` clipped.

    Parameters
    ----------
    n_segments : int or None
        Forced number of segments; None chooses from ``k_range``.
    k_range : tuple of (int, int)
        Inclusive bounds ``(low, high)`` of the numbers tried when ``n_segments`` is None.
    n_samples : int
        Number of training rows.
    min_k : int
        Smallest ``low`` the segmenter accepts (1 for mixtures, where BIC can answer "no
        structure"; 2 where the criterion needs two segments).
    name : str
        Estimator name for the messages.
    max_k : int, optional
        Most segments the data allow; default ``n_samples``. ``high`` is clipped to it.

    Returns
    -------
    list of int
        The candidate numbers of segments, ascending.

    Raises
    ------
    ValueError
        When ``n_segments`` exceeds ``n_samples``, the bounds are malformed, or no candidate
        fits the data.
    """
    max_k = n_samples if max_k is None else max_k
    if n_segments is not None:
        if n_segments > n_samples:
            raise ValueError(
                f"{name} got n_segments={n_segments} but only n_samples={n_samples}. Pass "
                "n_segments <= n_samples, or n_segments=None to choose it from k_range."
            )
        return [int(n_segments)]
    bounds = tuple(k_range) if isinstance(k_range, tuple | list) else None
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
    if low > max_k:
        raise ValueError(
            f"{name} cannot try k_range={k_range!r} with only n_samples={n_samples}: every "
            f"candidate number of segments exceeds {max_k}, the most these samples allow. "
            "Lower k_range or pass more data."
        )
    if high > max_k:
        logger.info("%s: k_range clipped to (%d, %d) for n_samples=%d", name, low, max_k, n_samples)
        high = max_k
    return list(range(low, high + 1))


# ---------------------------------------------------------------------------------------------
# Weights, stable ids, seeds
# ---------------------------------------------------------------------------------------------


def relative_weights(sample_weight: Any, X: Any, n_samples: int) -> np.ndarray:
    """Validate ``sample_weight`` and rescale it to sum to ``n_samples``.

    Survey weights are relative: what matters is their ratio. Rescaling them to sum to the
    sample size keeps log-likelihoods, BIC and AIC on the scale of the actual sample (as Mplus
    and most survey software do) instead of the population size the weights may add up to.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        Non-negative weights; None gives unit weights.
    X : array-like of shape (n_samples, ...)
        The data the weights belong to (only its length is checked).
    n_samples : int
        Number of rows.

    Returns
    -------
    ndarray of shape (n_samples,)
        Weights summing to ``n_samples``.
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


def permute_by_size(
    labels: np.ndarray, n_segments: int, centers: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Return ``order`` so that ``params[order]`` lists segments by their stable id."""
    mapping = size_order(labels, n_segments, centers=centers, sample_weight=weight)
    return np.argsort(mapping)


def min_share(labels: np.ndarray, n_segments: int, weight: np.ndarray) -> float:
    """Weighted share of the smallest of ``n_segments`` segments (0 when one is empty)."""
    sizes = np.bincount(labels, weights=weight, minlength=n_segments)
    return float(sizes.min() / sizes.sum())


def seeds(random_state: Any, n: int) -> list[int]:
    """``n`` integer seeds drawn from ``random_state``."""
    rng = check_random_state(random_state)
    return [int(s) for s in rng.randint(SEED_MAX, size=n)]


# ---------------------------------------------------------------------------------------------
# JSON: hyper-parameters and the segmint.segmenter envelope
# ---------------------------------------------------------------------------------------------


def json_params(estimator: BaseEstimator) -> dict[str, Any]:
    """Hyper-parameters of ``estimator`` as JSON values (tuples and arrays become lists).

    A ``random_state`` that is not an int or None (a ``RandomState`` instance) cannot be
    written and is stored as None.
    """
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


def from_json_params(cls: type, params: dict[str, Any]) -> Any:
    """An unfitted ``cls`` from :func:`json_params` output (``k_range`` back to a tuple)."""
    params = dict(params)
    if params.get("k_range") is not None:
        params["k_range"] = tuple(params["k_range"])
    return cls(**params)


def envelope(estimator: BaseEstimator, fitted: dict[str, Any]) -> dict[str, Any]:
    """Wrap ``fitted`` (the estimator's own fitted state) in the ``segmint.segmenter`` envelope.

    The envelope adds the format and version, the class name, the hyper-parameters and the
    fitted attributes every segmenter has (``n_features_in_``, ``feature_names_in_``,
    ``n_segments_`` and, when set, ``evidence_`` with NaN written as null).
    """
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
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "params": json_params(estimator),
        "fitted": {**common, **fitted},
    }


def open_envelope(cls: type, d: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Check an envelope written by :func:`envelope` and rebuild the estimator's common part.

    Returns
    -------
    estimator : cls
        With its hyper-parameters and the common fitted attributes set.
    fitted : dict
        The ``fitted`` section, for the estimator's own attributes.

    Raises
    ------
    ModelError
        When ``d`` is not such an envelope, has another version or is for another class.
    """
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ModelError(
            f"{cls.__name__}.from_dict got something that is not a segmint segmenter dict.",
            hint="Pass the dict returned by to_dict() (after json.loads if it was stored).",
        )
    if d.get("version") != FORMAT_VERSION:
        raise ModelError(
            f"{cls.__name__}.from_dict cannot read format version {d.get('version')!r}; this "
            f"segmint reads version {FORMAT_VERSION}.",
            hint="Refit the model with this segmint version.",
        )
    if d.get("estimator") != cls.__name__:
        raise ModelError(
            f"{cls.__name__}.from_dict got a dict for {d.get('estimator')!r}.",
            hint=f"Use {d.get('estimator')}.from_dict(d) instead.",
        )
    estimator = from_json_params(cls, d["params"])
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
# Mixin
# ---------------------------------------------------------------------------------------------


class SegmenterMixin:
    """Shared behaviour of the segmenters saved in the ``segmint.segmenter`` envelope.

    A subclass (listed before :class:`~sklearn.base.ClusterMixin` and
    :class:`~sklearn.base.BaseEstimator`) has parameters ``n_segments`` and ``k_range``, sets
    ``labels_``, ``n_segments_`` and ``n_features_in_`` in ``fit``, and implements two hooks:
    ``_fitted_state()``, the JSON-ready dict of its own fitted attributes, and
    ``_restore_fitted_state(fitted)``, which sets them back from that dict. It then gets
    ``fit_predict``, ``to_dict`` and ``from_dict``.
    """

    _fitted_attributes: ClassVar[list[str]] = []
    """Attributes ``to_dict`` checks for (:func:`~sklearn.utils.validation.check_is_fitted`)."""

    def _candidate_ks(self, n_samples: int, *, min_k: int) -> list[int]:
        """Numbers of segments to try for ``n_samples`` rows (see :func:`candidate_ks`)."""
        return candidate_ks(
            self.n_segments, self.k_range, n_samples, min_k=min_k, name=type(self).__name__
        )

    def _set_evidence(self, rows: list[dict[str, Any]]) -> None:
        """Keep the per-k evidence as ``evidence_`` when k was chosen; drop it when forced."""
        if self.n_segments is None:
            self.evidence_ = pd.DataFrame(rows, columns=list(rows[0]))
        elif hasattr(self, "evidence_"):
            del self.evidence_

    def _keep_em_fit(self, fit: dict[str, Any], k: int, rows: list[dict[str, Any]]) -> None:
        """Keep what a mixture fitted by EM reports of its chosen fit.

        Sets ``n_segments_``, ``log_likelihood_``, ``converged_`` and ``n_iter_`` from ``fit``
        (keys ``ll``, ``converged``, ``n_iter``) and ``evidence_`` from ``rows``, and warns
        when EM stopped at ``max_iter``.
        """
        self.n_segments_ = int(k)
        self.log_likelihood_ = float(fit["ll"])
        self.converged_ = bool(fit["converged"])
        self.n_iter_ = int(fit["n_iter"])
        self._set_evidence(rows)
        if not self.converged_:
            self._warn_unconverged("EM", k)

    def _warn_unconverged(self, algorithm: str, k: int) -> None:
        """Log that ``algorithm`` stopped at ``max_iter`` for ``k`` segments."""
        logger.warning(
            "%s: %s did not converge in max_iter=%d iterations for k=%d; raise max_iter.",
            type(self).__name__,
            algorithm,
            self.max_iter,
            k,
        )

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit and return ``labels_``.

        Parameters
        ----------
        X : array-like or pandas.DataFrame of shape (n_samples, n_features)
            Training data, as ``fit`` takes it.
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

    def _fitted_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _restore_fitted_state(self, fitted: dict[str, Any]) -> None:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description of the fitted model.

        Returns
        -------
        dict
            The ``segmint.segmenter`` envelope: format, version, estimator class,
            hyper-parameters and the fitted state ``predict`` needs (training labels are not
            included).
        """
        check_is_fitted(self, self._fitted_attributes)
        return envelope(self, self._fitted_state())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Rebuild a fitted segmenter from :meth:`to_dict` output.

        Parameters
        ----------
        d : dict
            As returned by :meth:`to_dict`, possibly after a JSON round trip.

        Returns
        -------
        segmenter
            A fitted estimator of this class whose ``predict`` equals the original's.

        Raises
        ------
        ModelError
            When ``d`` is not a segmenter dict of this class and format version.
        """
        estimator, fitted = open_envelope(cls, d)
        estimator._restore_fitted_state(fitted)
        return estimator
