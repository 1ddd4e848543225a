"""k-means segmentation with the number of segments chosen from evidence."""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, _fit_context
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from segmint._logging import logger
from segmint.segmenters._ids import match_labels, size_order
from segmint.segmenters._stability import bootstrap_stability


def choose_k(evidence: pd.DataFrame, silhouette_tolerance: float = 0.1) -> int:
    """Choose the number of segments from an evidence table.

    1. Admissible k: the smallest segment holds at least the minimum share (column
       ``admissible``); when no k is admissible, every k is considered.
    2. Among them, those whose silhouette is within ``silhouette_tolerance`` of the best.
    3. Of those, the k with the highest Calinski-Harabasz index (ties: the smaller k).

    Parameters
    ----------
    evidence : pandas.DataFrame
        Columns ``k``, ``silhouette``, ``calinski_harabasz`` and ``admissible``.
    silhouette_tolerance : float, default=0.1
        Width of the silhouette band in step 2.

    Returns
    -------
    int
        The chosen k.
    """
    pool = evidence[evidence["admissible"]] if evidence["admissible"].any() else evidence
    if len(pool) == 1 or pool["silhouette"].isna().all():
        return int(pool["k"].iloc[0])
    best = pool["silhouette"].max()
    near = pool[pool["silhouette"] >= best - silhouette_tolerance]
    near = near.sort_values(["calinski_harabasz", "k"], ascending=[False, True], kind="stable")
    return int(near["k"].iloc[0])


class KMeansSegmenter(ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means segmentation that chooses the number of segments from evidence.

    For every k in ``k_range`` (or only ``n_segments`` when forced) k-means is fitted with
    ``n_init`` seeded starts, and the evidence table records the silhouette (on a fixed random
    sample of at most ``silhouette_sample`` customers), the Calinski-Harabasz and Davies-Bouldin
    indices, the within-segment sum of squares and the smallest segment's share. The rule that
    chooses k is :func:`choose_k`.

    Segment ids follow the documented stable-id rule (:mod:`segmint.segmenters._ids`): 0 is the
    largest segment.

    Parameters
    ----------
    n_segments : int, default=None
        Force this number of segments; ``None`` chooses from ``k_range``.
    k_range : tuple of int, default=(2, 8)
        Smallest and largest k tried, both included.
    min_segment_share : float, default=0.02
        Smallest share of customers a segment must hold for its k to be chosen.
    n_init : int, default=10
        Seeded k-means++ starts per k; the best (lowest inertia) is kept.
    max_iter : int, default=300
        Iterations per start.
    silhouette_sample : int, default=5000
        Customers sampled (once, the same for every k) to compute the silhouette.
    silhouette_tolerance : float, default=0.1
        How far below the best silhouette a k may be and still be chosen for its higher
        Calinski-Harabasz index (see Notes).
    stability_resamples : int, default=10
        Bootstrap refits per k (Hennig's clusterboot, on a sample of ``stability_sample``
        customers) measuring how reproducible each solution is; 0 switches it off.
    stability_sample : int, default=5000
        Customers sampled for the stability refits.
    min_stability : float, default=0.6
        Smallest mean bootstrap adjusted Rand index for a k to be admissible.
    minibatch_threshold : int, default=200000
        From this many rows on, mini-batch k-means is used for speed.
    random_state : int, RandomState instance or None, default=None
        Seed for the starts and the silhouette sample.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_segments_, n_features)
        Segment centres, in stable-id order.
    labels_ : ndarray of shape (n_samples,)
        Segment id of each training row.
    n_segments_ : int
        Number of segments chosen (or forced).
    evidence_ : pandas.DataFrame
        One row per k tried: ``k, silhouette, calinski_harabasz, davies_bouldin, inertia,
        min_segment_share``, with stability on: ``stability_ari`` (mean bootstrap adjusted Rand
        index) with its 95 % interval ``stability_ari_low``/``_high`` and
        ``min_segment_jaccard``; then ``admissible, chosen``.
    segment_stability_ : pandas.DataFrame or None
        Per segment of the chosen solution (in stable-id order): bootstrap Jaccard mean and
        95 % interval, dissolved share and Hennig's verdict; None when stability is off.
    inertia_ : float
        Within-segment sum of squares of the chosen solution.

    Notes
    -----
    Silhouette alone tends to merge segments whose centres lie close together (it then favours
    small k); the Calinski-Harabasz variance ratio alone tends to split. The rule uses each
    against the other's weakness: among the admissible k whose silhouette is within
    ``silhouette_tolerance`` of the best, the k with the highest Calinski-Harabasz index wins.

    References
    ----------
    Calinski, T. and Harabasz, J. (1974). A dendrite method for cluster analysis.
    Communications in Statistics, 3(1), 1-27.

    Arbelaitz, O. et al. (2013). An extensive comparative study of cluster validity indices.
    Pattern Recognition, 46(1), 243-256.

    Rousseeuw, P. J. (1987). Silhouettes: a graphical aid to the interpretation and validation
    of cluster analysis. Journal of Computational and Applied Mathematics, 20, 53-65.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(300, centers=3, random_state=0)
    >>> KMeansSegmenter(random_state=0).fit(X).n_segments_
    3
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_segments": [Interval(Integral, 1, None, closed="left"), None],
        "k_range": [tuple, list],
        "min_segment_share": [Interval(Real, 0, 1, closed="both")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "silhouette_sample": [Interval(Integral, 10, None, closed="left")],
        "silhouette_tolerance": [Interval(Real, 0, 1, closed="both")],
        "stability_resamples": [Interval(Integral, 0, None, closed="left")],
        "stability_sample": [Interval(Integral, 10, None, closed="left")],
        "min_stability": [Interval(Real, -1, 1, closed="both")],
        "minibatch_threshold": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_segments: int | None = None,
        *,
        k_range: tuple[int, int] = (2, 8),
        min_segment_share: float = 0.02,
        n_init: int = 10,
        max_iter: int = 300,
        silhouette_sample: int = 5000,
        silhouette_tolerance: float = 0.1,
        stability_resamples: int = 10,
        stability_sample: int = 5000,
        min_stability: float = 0.6,
        minibatch_threshold: int = 200_000,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_segments = n_segments
        self.k_range = k_range
        self.min_segment_share = min_segment_share
        self.n_init = n_init
        self.max_iter = max_iter
        self.silhouette_sample = silhouette_sample
        self.silhouette_tolerance = silhouette_tolerance
        self.stability_resamples = stability_resamples
        self.stability_sample = stability_sample
        self.min_stability = min_stability
        self.minibatch_threshold = minibatch_threshold
        self.random_state = random_state

    def _candidate_ks(self, n_samples: int) -> list[int]:
        if self.n_segments is not None:
            if self.n_segments > n_samples:
                raise ValueError(f"n_segments={self.n_segments} must be <= n_samples={n_samples}.")
            return [self.n_segments]
        if len(self.k_range) != 2 or not all(isinstance(k, Integral) for k in self.k_range):
            raise ValueError(
                f"k_range must be a pair of integers (low, high), got {self.k_range!r}."
            )
        low, high = int(self.k_range[0]), int(self.k_range[1])
        if low < 2 or high < low:
            raise ValueError(f"k_range must satisfy 2 <= low <= high, got {self.k_range!r}.")
        ks = [k for k in range(low, high + 1) if k < n_samples]
        if not ks:
            raise ValueError(f"k_range {self.k_range!r} needs more than {n_samples} samples.")
        return ks

    def _kmeans(self, k: int, n_samples: int, seed: int) -> KMeans | MiniBatchKMeans:
        if n_samples >= self.minibatch_threshold:
            return MiniBatchKMeans(
                n_clusters=k,
                n_init=self.n_init,
                max_iter=self.max_iter,
                random_state=seed,
                batch_size=4096,
            )
        return KMeans(n_clusters=k, n_init=self.n_init, max_iter=self.max_iter, random_state=seed)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: np.ndarray, y: None = None, sample_weight: np.ndarray | None = None
    ) -> KMeansSegmenter:
        """Fit k-means for each candidate k and keep the one the evidence favours.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Prepared (scaled) features.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), optional
            Weights (e.g. survey weights) for k-means and segment sizes.

        Returns
        -------
        self : KMeansSegmenter
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_samples = X.shape[0]
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        sample_seed = int(rng.randint(np.iinfo(np.int32).max))
        ks = self._candidate_ks(n_samples)
        sample_size = min(self.silhouette_sample, n_samples)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)

        rows, fits, stability = [], {}, {}
        for k in ks:
            model = self._kmeans(k, n_samples, seed).fit(X, sample_weight=weights)
            labels = model.labels_
            sizes = np.bincount(labels, weights=weights, minlength=k)
            n_distinct = len(np.unique(labels))
            valid = 1 < n_distinct < n_samples
            rows.append(
                {
                    "k": k,
                    "silhouette": float(
                        silhouette_score(
                            X, labels, sample_size=sample_size, random_state=sample_seed
                        )
                    )
                    if valid and sample_size > n_distinct
                    else np.nan,
                    "calinski_harabasz": float(calinski_harabasz_score(X, labels))
                    if valid
                    else np.nan,
                    "davies_bouldin": float(davies_bouldin_score(X, labels)) if valid else np.nan,
                    "inertia": float(model.inertia_),
                    "min_segment_share": float(sizes.min() / sizes.sum()),
                }
            )
            fits[k] = model
            if self.stability_resamples > 0 and k > 1:
                result = bootstrap_stability(
                    KMeans(n_clusters=k, n_init=min(self.n_init, 3), random_state=seed),
                    X,
                    n_resamples=self.stability_resamples,
                    max_samples=self.stability_sample,
                    random_state=sample_seed,
                )
                stability[k] = result
                rows[-1].update(
                    stability_ari=result.ari_mean,
                    stability_ari_low=result.ari_interval[0],
                    stability_ari_high=result.ari_interval[1],
                    min_segment_jaccard=float(result.per_segment["jaccard_mean"].min()),
                )
            logger.info("k=%d: silhouette %.3f", k, rows[-1]["silhouette"])
        evidence = pd.DataFrame(rows)
        evidence["admissible"] = evidence["min_segment_share"] >= self.min_segment_share
        if "stability_ari" in evidence:
            evidence["admissible"] &= evidence["stability_ari"].fillna(1.0) >= self.min_stability
        chosen = choose_k(evidence, self.silhouette_tolerance)
        evidence["chosen"] = evidence["k"] == chosen

        model = fits[chosen]
        self.n_iter_ = int(model.n_iter_)
        mapping = size_order(model.labels_, chosen, model.cluster_centers_, weights)
        order = np.argsort(mapping)
        self.cluster_centers_ = model.cluster_centers_[order]
        self.labels_ = mapping[model.labels_]
        self.n_segments_ = chosen
        self.inertia_ = float(model.inertia_)
        self.evidence_ = evidence
        self.segment_stability_ = None
        if chosen in stability:
            self.segment_stability_ = _on_final_ids(stability[chosen], self.labels_)
        logger.info("chose %d segments", chosen)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Assign each row to the segment with the nearest centre."""
        return np.argmin(self.transform(X), axis=1)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Squared Euclidean distance of each row to each segment centre."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        # ||x||^2 - 2 x.c + ||c||^2, vectorised; clipped at 0 against rounding
        dist = (
            np.einsum("ij,ij->i", X, X)[:, None]
            - 2.0 * X @ self.cluster_centers_.T
            + np.einsum("ij,ij->i", self.cluster_centers_, self.cluster_centers_)[None, :]
        )
        return np.maximum(dist, 0.0)

    def to_dict(self) -> dict:
        """JSON-serialisable state: everything ``predict`` needs, and the evidence."""
        check_is_fitted(self)
        return {
            "method": "kmeans",
            "params": {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.get_params().items()
                if k != "random_state" or isinstance(v, int | None)
            },
            "n_segments": self.n_segments_,
            "cluster_centers": self.cluster_centers_.tolist(),
            "inertia": self.inertia_,
            "n_iter": self.n_iter_,
            "n_features_in": int(self.n_features_in_),
            "evidence": self.evidence_.to_dict(orient="records"),
            "segment_stability": None
            if self.segment_stability_ is None
            else self.segment_stability_.to_dict(orient="records"),
        }

    @classmethod
    def from_dict(cls, data: dict) -> KMeansSegmenter:
        """Rebuild a fitted segmenter from :meth:`to_dict` output."""
        params = dict(data["params"])
        params["k_range"] = tuple(params["k_range"])
        seg = cls(**params)
        seg.cluster_centers_ = np.asarray(data["cluster_centers"], dtype=float)
        seg.n_segments_ = int(data["n_segments"])
        seg.inertia_ = float(data["inertia"])
        seg.n_features_in_ = int(data["n_features_in"])
        seg.evidence_ = pd.DataFrame(data["evidence"])
        seg.n_iter_ = int(data.get("n_iter", 0))
        stab = data.get("segment_stability")
        seg.segment_stability_ = None if stab is None else pd.DataFrame(stab)
        return seg


def _on_final_ids(result: object, labels: np.ndarray) -> pd.DataFrame:
    """Per-segment stability of a bootstrap run, renumbered to the final segment ids.

    The bootstrap reference fit ran on a sample; its segments are matched to the final ones by
    member overlap on that sample.
    """
    rows = result.sample_indices if result.sample_indices is not None else slice(None)
    mapping = match_labels(labels[rows], result.reference_labels)
    table = result.per_segment.copy()
    table["segment_id"] = mapping[table["segment_id"].to_numpy()]
    return table.sort_values("segment_id", ignore_index=True)
