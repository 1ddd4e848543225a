"""Consensus segmentation by evidence accumulation over several base segmentations.

Different algorithms and different seeds disagree at the margins; a consensus keeps what they
agree on. :class:`ConsensusSegmenter` follows Fred & Jain's *evidence accumulation*:

1. Fit every base estimator, with ``n_seeds`` different seeds each, on (a sample of) the data.
2. Count, for every pair of customers, the share of base segmentations that put them in the same
   segment: the **co-association matrix**.
3. Cluster ``1 - co-association`` with average-linkage hierarchical clustering, cut at
   ``n_segments`` segments.

References
----------
.. [1] Fred, A. L. N. and Jain, A. K. (2005). Combining multiple clusterings using evidence
   accumulation. *IEEE Transactions on Pattern Analysis and Machine Intelligence*, 27(6),
   835-850. https://doi.org/10.1109/TPAMI.2005.113
"""

from __future__ import annotations

import importlib
import json
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context, clone
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.metrics import adjusted_rand_score, pairwise_distances_argmin
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from segmint._logging import logger
from segmint.exceptions import InputError, ModelError
from segmint.segmenters._ids import size_order

__all__ = ["ConsensusSegmenter"]

_FORMAT = "segmint.ConsensusSegmenter"
_FORMAT_VERSION = 1
_SEED_MAX = np.iinfo(np.int32).max
# Estimator classes from_dict may rebuild (module prefixes); anything else is refused.
_TRUSTED_MODULES = ("sklearn.", "segmint.")


class ConsensusSegmenter(ClusterMixin, BaseEstimator):
    """Consensus of several segmentations (methods x seeds) by evidence accumulation.

    Every base estimator is fitted ``n_seeds`` times with different seeds on a sample of at most
    ``max_samples`` customers. The co-association matrix (share of base solutions placing two
    customers together) is turned into the distance ``1 - co-association`` and clustered by
    average linkage, cut at ``n_segments`` segments [1]_. Customers outside the sample are
    assigned to the nearest consensus centre (mean of the segment's sampled members) in feature
    space, which is also how :meth:`predict` assigns new customers. Segment ids follow the
    project's stable-id rule (:func:`segmint.segmenters._ids.size_order`): 0 is the largest.

    Parameters
    ----------
    estimators : list of estimator objects, default=None
        Unfitted base segmenters, each with ``fit_predict(X)``. They are cloned, never modified.
        An estimator with a ``random_state`` parameter is fitted ``n_seeds`` times with seeds
        drawn from ``random_state``; one without it is fitted once (it is deterministic).
        Negative labels (noise) never count as co-membership. Default: ``KMeans(n_segments,
        n_init=1)`` and ``GaussianMixture(n_segments)``, each with ``n_seeds`` seeds.
    n_segments : int, default=3
        Number of consensus segments.
    n_seeds : int, default=10
        Seeds per base estimator that has a ``random_state`` parameter.
    max_samples : int, default=2000
        Largest number of customers the base segmentations and the co-association matrix are
        computed on. The matrix takes ``8 * max_samples**2`` bytes (32 MB at 2000) and the
        average linkage is quadratic in time, so keep this in the low thousands.
    random_state : int, RandomState instance or None, default=None
        Controls the sample and the base estimators' seeds. Pass an int for reproducible
        results.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Consensus segment of every training customer (sampled customers: the average-linkage
        cut; the others: nearest consensus centre).
    n_segments_ : int
        Number of consensus segments found.
    cluster_centers_ : ndarray of shape (n_segments_, n_features)
        Mean feature vector of each consensus segment's sampled members.
    agreement_ : float
        Mean adjusted Rand index between the base segmentations and the consensus, on the
        sample. Near 1: the base solutions largely agreed; low values: the consensus settles a
        real disagreement and deserves a stability check.
    base_agreement_ : ndarray of shape (n_base_solutions_,)
        The adjusted Rand index of each base segmentation with the consensus.
    n_base_solutions_ : int
        Number of base segmentations combined.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.

    See Also
    --------
    segmint.segmenters._stability.bootstrap_stability : Stability of any segmenter.

    Notes
    -----
    The consensus segments are not necessarily convex, so :meth:`predict` (nearest centre) can
    disagree with ``labels_`` for customers near a boundary. ``to_dict`` keeps what
    :meth:`predict` needs, not ``labels_``.

    References
    ----------
    .. [1] Fred, A. L. N. and Jain, A. K. (2005). Combining multiple clusterings using evidence
       accumulation. *IEEE Transactions on Pattern Analysis and Machine Intelligence*, 27(6),
       835-850. https://doi.org/10.1109/TPAMI.2005.113

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(n_samples=200, centers=3, random_state=0)
    >>> model = ConsensusSegmenter(n_segments=3, n_seeds=3, random_state=0).fit(X)
    >>> model.n_segments_
    3
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimators": [list, None],
        "n_segments": [Interval(Integral, 1, None, closed="left")],
        "n_seeds": [Interval(Integral, 1, None, closed="left")],
        "max_samples": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimators: list[Any] | None = None,
        *,
        n_segments: int = 3,
        n_seeds: int = 10,
        max_samples: int = 2000,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.estimators = estimators
        self.n_segments = n_segments
        self.n_seeds = n_seeds
        self.max_samples = max_samples
        self.random_state = random_state

    def _base_estimators(self) -> list[Any]:
        if self.estimators is None:
            return [
                KMeans(n_clusters=self.n_segments, n_init=1),
                GaussianMixture(n_components=self.n_segments),
            ]
        if not self.estimators:
            raise InputError(
                "estimators is an empty list",
                hint="pass at least one unfitted segmenter, or estimators=None for the default",
            )
        for position, estimator in enumerate(self.estimators):
            if not hasattr(estimator, "fit_predict"):
                raise InputError(
                    f"estimators[{position}] ({type(estimator).__name__}) has no fit_predict",
                    hint="pass clustering estimators such as sklearn KMeans or GaussianMixture",
                )
        return list(self.estimators)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: None = None) -> ConsensusSegmenter:
        """Fit the base segmentations and their consensus.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Customer feature matrix (already scaled as the base estimators expect).
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : ConsensusSegmenter
            The fitted segmenter.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_samples = X.shape[0]
        if n_samples < self.n_segments:
            raise InputError(
                f"n_segments={self.n_segments} needs at least {self.n_segments} customers, got "
                f"n_samples={n_samples}",
                hint="lower n_segments or pass more data",
            )
        templates = self._base_estimators()
        rng = check_random_state(self.random_state)

        if n_samples > self.max_samples:
            sample = np.sort(rng.choice(n_samples, size=self.max_samples, replace=False))
        else:
            sample = np.arange(n_samples)
        X_sample = X[sample]
        m = sample.size

        base_labels = []
        for template in templates:
            seeded = "random_state" in template.get_params(deep=False)
            for _ in range(self.n_seeds if seeded else 1):
                model = clone(template)
                if seeded:
                    model.set_params(random_state=int(rng.randint(_SEED_MAX)))
                labels = np.asarray(model.fit_predict(X_sample))
                if labels.shape != (m,):
                    raise InputError(
                        f"{type(template).__name__}.fit_predict returned shape {labels.shape} "
                        f"for {m} samples",
                        hint="base estimators must return one label per row",
                    )
                base_labels.append(labels)

        coassociation = np.zeros((m, m), dtype=np.float64)
        for labels in base_labels:
            ids, codes = np.unique(labels, return_inverse=True)
            onehot = np.zeros((m, ids.size), dtype=np.float64)
            onehot[np.arange(m), codes] = 1.0
            onehot[:, ids < 0] = 0.0  # noise is nobody's co-member
            coassociation += onehot @ onehot.T
        distance = coassociation
        distance /= -len(base_labels)
        distance += 1.0
        np.fill_diagonal(distance, 0.0)
        np.clip(distance, 0.0, 1.0, out=distance)
        if self.n_segments == 1:
            raw = np.zeros(m, dtype=np.int64)
        else:
            raw = AgglomerativeClustering(
                n_clusters=self.n_segments, metric="precomputed", linkage="average"
            ).fit_predict(distance)
        del distance, coassociation

        k = self.n_segments
        counts = np.bincount(raw, minlength=k)
        centers = np.zeros((k, X.shape[1]), dtype=np.float64)
        np.add.at(centers, raw, X_sample)
        centers /= np.maximum(counts, 1)[:, None]

        full = np.empty(n_samples, dtype=np.int64)
        full[sample] = raw
        if m < n_samples:
            outside = np.ones(n_samples, dtype=bool)
            outside[sample] = False
            full[outside] = pairwise_distances_argmin(X[outside], centers)

        mapping = size_order(full, k, centers=centers)
        self.labels_ = mapping[full]
        ordered = np.empty_like(centers)
        ordered[mapping] = centers
        self.cluster_centers_ = ordered
        self.n_segments_ = int(k)
        consensus = mapping[raw]
        scores = np.array([adjusted_rand_score(consensus, labels) for labels in base_labels])
        self.base_agreement_ = scores
        self.agreement_ = float(scores.mean())
        self.n_base_solutions_ = len(base_labels)
        logger.info(
            "ConsensusSegmenter: %d segments from %d base solutions on %d of %d samples, "
            "agreement (mean ARI) %.3f",
            k,
            len(base_labels),
            m,
            n_samples,
            self.agreement_,
        )
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Assign customers to the nearest consensus centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Customer feature matrix with the training columns.

        Returns
        -------
        ndarray of shape (n_samples,)
            Segment id of each customer.
        """
        check_is_fitted(self, "cluster_centers_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return pairwise_distances_argmin(X, self.cluster_centers_).astype(np.int64)

    # -- serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description of the fitted segmenter.

        The description holds the hyper-parameters and what :meth:`predict` needs (centres,
        feature count and names); ``labels_`` and ``base_agreement_`` are not included.
        Floats are stored at full precision, so a round trip predicts identically.

        Returns
        -------
        dict
            Plain JSON types only.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the segmenter is not fitted.
        ValueError
            If ``random_state`` is a RandomState instance or a base estimator has a
            hyper-parameter that is not JSON-serialisable.
        """
        check_is_fitted(self, "cluster_centers_")
        if self.random_state is not None and not isinstance(self.random_state, Integral):
            raise InputError(
                "to_dict cannot store random_state as a RandomState instance",
                hint="construct the segmenter with an int random_state (or None)",
            )
        fitted: dict[str, Any] = {
            "cluster_centers": self.cluster_centers_.tolist(),
            "n_segments": int(self.n_segments_),
            "agreement": float(self.agreement_),
            "n_base_solutions": int(self.n_base_solutions_),
            "n_features_in": int(self.n_features_in_),
        }
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in"] = [str(name) for name in self.feature_names_in_]
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "params": {
                "estimators": _estimators_to_spec(self.estimators),
                "n_segments": int(self.n_segments),
                "n_seeds": int(self.n_seeds),
                "max_samples": int(self.max_samples),
                "random_state": None if self.random_state is None else int(self.random_state),
            },
            "fitted": fitted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConsensusSegmenter:
        """Rebuild a fitted segmenter from :meth:`to_dict` output.

        Parameters
        ----------
        data : dict
            Output of :meth:`to_dict` (e.g. after ``json.loads``).

        Returns
        -------
        ConsensusSegmenter
            A segmenter whose :meth:`predict` matches the original's; ``labels_`` is not
            restored.

        Raises
        ------
        segmint.exceptions.ModelError
            If ``data`` is not a valid description (wrong format, missing keys, inconsistent
            shapes, or a base estimator class outside sklearn/segmint).
        """
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ModelError(
                f"not a {_FORMAT} description (format={_get(data, 'format')!r})",
                hint="pass the dict returned by ConsensusSegmenter.to_dict()",
            )
        if data.get("format_version") != _FORMAT_VERSION:
            raise ModelError(
                f"unsupported format_version={data.get('format_version')!r}; this segmint "
                f"reads version {_FORMAT_VERSION}",
                hint="re-save the model with this segmint version",
            )
        try:
            params = data["params"]
            fitted = data["fitted"]
            model = cls(
                estimators=_estimators_from_spec(params["estimators"]),
                n_segments=params["n_segments"],
                n_seeds=params["n_seeds"],
                max_samples=params["max_samples"],
                random_state=params["random_state"],
            )
            centers = np.asarray(fitted["cluster_centers"], dtype=np.float64)
            n_features = int(fitted["n_features_in"])
            n_segments = int(fitted["n_segments"])
            agreement = float(fitted["agreement"])
            n_base = int(fitted["n_base_solutions"])
            names = fitted.get("feature_names_in")
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, ImportError) as exc:
            raise ModelError(
                f"invalid {_FORMAT} description: {exc!r}",
                hint="the dict was not produced by to_dict() or has been edited",
            ) from exc
        if centers.shape != (n_segments, n_features) or not np.all(np.isfinite(centers)):
            raise ModelError(
                f"cluster_centers has shape {centers.shape}, expected ({n_segments}, "
                f"{n_features}) finite values",
                hint="the dict was not produced by to_dict() or has been edited",
            )
        if names is not None and len(names) != n_features:
            raise ModelError(
                f"{len(names)} feature names for n_features_in={n_features}",
                hint="the dict was not produced by to_dict() or has been edited",
            )
        model.cluster_centers_ = centers
        model.n_segments_ = n_segments
        model.agreement_ = agreement
        model.n_base_solutions_ = n_base
        model.n_features_in_ = n_features
        if names is not None:
            model.feature_names_in_ = np.asarray(names, dtype=object)
        return model


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None


def _estimators_to_spec(estimators: list[Any] | None) -> list[dict[str, Any]] | None:
    """Describe base estimators as ``{"class": dotted name, "params": JSON params}``."""
    if estimators is None:
        return None
    specs = []
    for position, estimator in enumerate(estimators):
        params = estimator.get_params(deep=False)
        try:
            json.dumps(params, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"estimators[{position}] ({type(estimator).__name__}) has hyper-parameters "
                f"that are not JSON-serialisable: {exc}",
                hint="use plain int/float/str/bool/None hyper-parameters (e.g. "
                "init='k-means++' instead of an array, an int random_state)",
            ) from exc
        cls = type(estimator)
        specs.append({"class": f"{cls.__module__}.{cls.__qualname__}", "params": params})
    return specs


def _estimators_from_spec(specs: list[dict[str, Any]] | None) -> list[Any] | None:
    """Rebuild base estimators from :func:`_estimators_to_spec` output (trusted modules only)."""
    if specs is None:
        return None
    estimators = []
    for spec in specs:
        dotted = spec["class"]
        module_name, _, class_name = dotted.rpartition(".")
        if not dotted.startswith(_TRUSTED_MODULES) or not module_name:
            raise ModelError(
                f"refusing to rebuild base estimator class {dotted!r}",
                hint="only sklearn and segmint estimators are restored from a description",
            )
        cls = getattr(importlib.import_module(module_name), class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
            raise ModelError(
                f"{dotted!r} is not an estimator class",
                hint="the dict was not produced by to_dict() or has been edited",
            )
        estimators.append(cls(**spec["params"]))
    return estimators
