"""k-means segmentation with the number of segments chosen from evidence.

:class:`KMeansSegmenter` chooses k, refines the chosen solution and keeps it; the evidence of
every candidate k (the fits, validity indices and stability) is computed in
:mod:`segmint.segmenters._kmeans_evidence`, and the rule that chooses is
:func:`~segmint.segmenters._k_choice.choose_k`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

from segmint._logging import logger
from segmint.segmenters._base import (
    COMMON_CONSTRAINTS,
    SEED_MAX,
    candidate_ks,
    from_json_params,
    json_params,
)
from segmint.segmenters._ids import size_order
from segmint.segmenters._k_choice import (
    choose_k,
    forced_selection,
    null_explained_variance,
    structure,
)
from segmint.segmenters._kmeans_evidence import _on_final_ids, _sweep
from segmint.segmenters._stability import PATTERNS_AT

__all__ = ["KMeansSegmenter", "choose_k"]

_THREADED_FROM = 200_000
"""Fits on fewer rows run single-threaded (see the Notes of :class:`KMeansSegmenter`)."""
_controller: ThreadpoolController | None = None


def _threads_for(n_rows: int) -> AbstractContextManager:
    """Limit OpenMP and BLAS to one thread for work on fewer than ``_THREADED_FROM`` rows.

    On such sizes a k-means iteration takes about a millisecond, so a parallel region's
    fork/join costs as much as the work, and when other processes occupy the cores every region
    waits for a descheduled thread (measured on 2 cores under load: 5,000-row fits 50x slower,
    100,000-row fits 1.6-4x slower with 2 threads than with 1).
    """
    global _controller
    if n_rows >= _THREADED_FROM:
        return nullcontext()
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1)


class KMeansSegmenter(ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means segmentation that chooses the number of segments from evidence.

    For every k in ``k_range`` (or only ``n_segments`` when forced) k-means is fitted with
    ``n_init`` seeded starts, and the evidence table records the silhouette (on a fixed random
    sample of at most ``silhouette_sample`` customers), the Calinski-Harabasz and Davies-Bouldin
    indices, the within-segment sum of squares, the explained share of variance and that of a
    structureless reference, convergence, the smallest segment's share and the bootstrap
    stability. The rule that chooses k is :func:`~segmint.segmenters._k_choice.choose_k`
    (stability first, then structure beyond a null model); ``selection_`` names the chosen k,
    the runner-up and the reason. With more than ``selection_sample`` rows, k is chosen on a
    seeded random sample of that many rows and the chosen solution is then refined on all rows
    (see Notes).

    Segment ids follow the documented stable-id rule (:mod:`segmint.segmenters._ids`): 0 is the
    largest segment.

    Parameters
    ----------
    n_segments : int, default=None
        Force this number of segments; ``None`` chooses from ``k_range``.
    k_range : tuple of int, default=(2, 8)
        Smallest and largest k tried, both included.
    min_segment_share : float, default=0.05
        Smallest share of customers a segment must hold for its k to be chosen.
    n_init : int, default=10
        Seeded k-means++ starts per k; the best (lowest inertia) is kept.
    max_iter : int, default=300
        Iterations per start.
    silhouette_sample : int, default=5000
        Customers sampled (once, the same for every k) to compute the silhouette. 0 skips the
        silhouette (NaN in ``evidence_``): for refits whose number of segments is fixed and
        whose labels alone are used (bootstrap stability, the out-of-time lift), where its
        pairwise distances would cost more than the fit. Needs ``n_segments``.
    stability_resamples : int, default=10
        Bootstrap refits per k (Hennig's clusterboot, on a sample of ``stability_sample``
        customers) measuring how reproducible each solution is; 0 switches it off.
    stability_sample : int, default=5000
        Customers sampled for the stability refits.
    min_stability : float, default=0.6
        Smallest mean bootstrap adjusted Rand index for a k to be admissible.
    min_segment_jaccard : float, default=0.6
        Smallest mean bootstrap Jaccard every segment of an admissible k must have (Hennig's
        lower bound of a "pattern"; below it a segment dissolves in the resamples).
    stability_margin : float, default=0.01
        Slack when comparing a k's bootstrap-ARI interval with that of the most stable k.
    structure_tolerance : float, default=0.05
        How far below the best candidate's structure (a log ratio of within-segment variances,
        0.05 is about 5 %) a smaller candidate k may be and still be preferred: splitting stops
        once more segments add no more structure than that.
    null_references : int, default=3
        Structureless Gaussian reference samples (of ``stability_sample`` rows) behind
        ``null_explained_variance``.
    minibatch_threshold : int, default=200000
        From this many rows on, the k-means fits of the sweep use mini-batch k-means for
        speed. The sweep runs on at most ``selection_sample`` rows, so with the defaults this
        only matters when ``selection_sample`` is raised or None.
    selection_sample : int or None, default=100000
        With more rows than this, k is chosen on a uniform random sample of this many rows
        (without replacement, drawn once from ``random_state``): the fits of every candidate
        k, every column of ``evidence_`` and the stability refits use the sample only. The
        solution of the chosen k is then refined on all rows by Lloyd iterations started from
        its centres, which gives ``labels_``, ``cluster_centers_`` and ``inertia_``. None
        chooses k on all rows.
    random_state : int, RandomState instance or None, default=None
        Seed for the starts and the silhouette, stability and selection samples.

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
        explained_variance`` (``1 - inertia / total`` sum of squares), when k was chosen
        ``null_explained_variance`` (the same for k-means on structureless Gaussian data with
        the data's covariance) and ``structure``
        (:func:`~segmint.segmenters._k_choice.structure`: the log ratio of the two unexplained
        shares, a Gaussian-reference gap statistic); ``converged,
        min_segment_share``, with stability on: ``stability_ari`` (mean bootstrap adjusted
        Rand index) with its 95 % interval ``stability_ari_low``/``_high`` and
        ``min_segment_jaccard``; then ``admissible, chosen``. Computed on the selection
        sample when k was chosen on one (``selection_sample_size_ < n_samples``).
    selection_ : dict
        How k was chosen (see :func:`~segmint.segmenters._k_choice.choose_k`): ``chosen``,
        ``runner_up``, ``most_stable``, ``candidates``, ``excluded`` (k to the reasons),
        ``reason``, ``runner_up_reason`` and ``rule`` (``"forced"`` when ``n_segments`` was
        given).
    segment_stability_ : pandas.DataFrame or None
        Per segment of the chosen solution (in stable-id order): bootstrap Jaccard mean and
        95 % interval, dissolved share and Hennig's verdict; None when stability is off.
    inertia_ : float
        Within-segment sum of squares of the chosen solution, on all rows.
    selection_sample_size_ : int or None
        Rows k was chosen on: ``selection_sample`` when the data had more rows, else all of
        them (``n_samples``). None on a segmenter rebuilt from a dict written before this
        attribute existed.

    Notes
    -----
    *Choice of k.* On customer data without sharp clusters the silhouette, the
    Calinski-Harabasz index and bootstrap stability all favour k = 2, the cut of the data
    along its longest axis, which any elongated cloud of customers shows. The rule therefore
    takes every admissible k whose stability cannot be told apart from the most stable k and,
    among those, the k beyond which more segments add no structure over a structureless
    Gaussian reference (details and references in
    :func:`~segmint.segmenters._k_choice.choose_k`). The silhouette, Calinski-Harabasz and
    Davies-Bouldin indices stay in ``evidence_`` for comparison.

    *Many rows.* The criteria are averages, or ratios of averages, over customers (silhouette,
    variance ratio, scatter ratio, segment shares, bootstrap agreement); a uniform random
    sample estimates them with an error that shrinks as one over the square root of its size,
    which is why they are usually computed on a sample of large data (the silhouette and the
    stability refits always were). Choosing k on ``selection_sample`` rows (only when that is
    more than the largest candidate k) and refining only the chosen solution on all rows costs
    ``n_init`` starts per k on the sample plus a few passes over all rows, instead of
    ``n_init`` starts per k on all rows. The refinement is k-means on all rows started from the
    sample's centres, so segments keep the meaning the evidence was computed for and end at the
    full-data optimum next to them. ``evidence_`` describes the sample (its ``inertia`` is the
    sample's sum of squares, ``inertia_`` that of all rows). Sample weights go along with the
    sampled rows; the sample itself is drawn uniformly.

    *Threads.* Work on fewer than 200,000 rows (the sweep on the sample, the stability refits
    on ``stability_sample`` rows, the silhouette) runs with one OpenMP/BLAS thread: a k-means
    iteration on such sizes takes about a millisecond, so fork/join overhead is as large as
    the work, and when other processes share the cores each parallel region waits for a
    descheduled thread. The refinement on all rows uses the usual thread pools.

    References
    ----------
    Calinski, T. and Harabasz, J. (1974). A dendrite method for cluster analysis.
    Communications in Statistics, 3(1), 1-27.

    Dolnicar, S., Grün, B. and Leisch, F. (2018). Market Segmentation Analysis, ch. 7.
    Springer.

    Hennig, C. (2007). Cluster-wise assessment of cluster stability. Computational Statistics
    & Data Analysis, 52(1), 258-271.

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
        **COMMON_CONSTRAINTS,
        "min_segment_share": [Interval(Real, 0, 1, closed="both")],
        "silhouette_sample": [Interval(Integral, 10, None, closed="left"), Options(Integral, {0})],
        "stability_resamples": [Interval(Integral, 0, None, closed="left")],
        "stability_sample": [Interval(Integral, 10, None, closed="left")],
        "min_stability": [Interval(Real, -1, 1, closed="both")],
        "min_segment_jaccard": [Interval(Real, 0, 1, closed="both")],
        "stability_margin": [Interval(Real, 0, 1, closed="both")],
        "structure_tolerance": [Interval(Real, 0, 1, closed="both")],
        "null_references": [Interval(Integral, 1, None, closed="left")],
        "minibatch_threshold": [Interval(Integral, 1, None, closed="left")],
        "selection_sample": [Interval(Integral, 100, None, closed="left"), None],
    }

    def __init__(
        self,
        n_segments: int | None = None,
        *,
        k_range: tuple[int, int] = (2, 8),
        min_segment_share: float = 0.05,
        n_init: int = 10,
        max_iter: int = 300,
        silhouette_sample: int = 5000,
        stability_resamples: int = 10,
        stability_sample: int = 5000,
        min_stability: float = 0.6,
        min_segment_jaccard: float = PATTERNS_AT,
        stability_margin: float = 0.01,
        structure_tolerance: float = 0.05,
        null_references: int = 3,
        minibatch_threshold: int = 200_000,
        selection_sample: int | None = 100_000,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_segments = n_segments
        self.k_range = k_range
        self.min_segment_share = min_segment_share
        self.n_init = n_init
        self.max_iter = max_iter
        self.silhouette_sample = silhouette_sample
        self.stability_resamples = stability_resamples
        self.stability_sample = stability_sample
        self.min_stability = min_stability
        self.min_segment_jaccard = min_segment_jaccard
        self.stability_margin = stability_margin
        self.structure_tolerance = structure_tolerance
        self.null_references = null_references
        self.minibatch_threshold = minibatch_threshold
        self.selection_sample = selection_sample
        self.random_state = random_state

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
        seed = int(rng.randint(SEED_MAX))
        sample_seed = int(rng.randint(SEED_MAX))
        # k < n_samples: with as many segments as rows no criterion is defined
        ks = candidate_ks(
            self.n_segments,
            self.k_range,
            n_samples,
            min_k=2,
            name=type(self).__name__,
            max_k=n_samples - 1,
        )
        if self.silhouette_sample == 0 and len(ks) > 1:
            raise ValueError(
                "silhouette_sample=0 skips the silhouette, which chooses k: set n_segments too."
            )
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)

        # Choose k on a seeded uniform sample of the rows when there are many; drawn after the
        # two seeds above, so that data below the sample size is fitted exactly as before.
        rows = self._selection_rows(rng, n_samples, ks)
        Xs = X if rows is None else X[rows]
        ws = weights if weights is None or rows is None else weights[rows]

        with _threads_for(Xs.shape[0]):
            evidence, fits, stability = _sweep(self, Xs, ws, ks, seed, sample_seed)
            if len(ks) > 1:
                self._add_structure(evidence, Xs, ws, ks, int(rng.randint(SEED_MAX)))
        selection = self._choose(evidence, ks)
        chosen = int(selection["chosen"])

        model = fits[chosen]
        if rows is not None:
            # the chosen solution, refined on every row by Lloyd iterations from its centres
            with _threads_for(n_samples):
                model = KMeans(
                    n_clusters=chosen, init=model.cluster_centers_, n_init=1, max_iter=self.max_iter
                ).fit(X, sample_weight=weights)
        self.n_iter_ = int(model.n_iter_)
        mapping = size_order(model.labels_, chosen, model.cluster_centers_, weights)
        order = np.argsort(mapping)
        self.cluster_centers_ = model.cluster_centers_[order]
        self.labels_ = mapping[model.labels_]
        self.n_segments_ = chosen
        self.inertia_ = float(model.inertia_)
        self.evidence_ = evidence
        self.selection_ = selection
        self.selection_sample_size_ = int(Xs.shape[0])
        self.segment_stability_ = None
        if chosen in stability:
            labels = self.labels_ if rows is None else self.labels_[rows]
            self.segment_stability_ = _on_final_ids(stability[chosen], labels)
        logger.info("chose %d segments: %s", chosen, selection["reason"])
        return self

    def _selection_rows(
        self, rng: np.random.RandomState, n_samples: int, ks: list[int]
    ) -> np.ndarray | None:
        """The sorted rows k is chosen on: a seeded uniform sample of ``selection_sample`` rows
        when there are more rows than that (and than the largest k), else ``None`` (all)."""
        if self.selection_sample is not None and n_samples > self.selection_sample > ks[-1]:
            rows = np.sort(
                check_random_state(int(rng.randint(SEED_MAX))).choice(
                    n_samples, size=self.selection_sample, replace=False
                )
            )
            logger.info("choosing k on a random sample of %d of %d rows", rows.size, n_samples)
            return rows
        return None

    def _add_structure(
        self,
        evidence: pd.DataFrame,
        X: np.ndarray,
        weights: np.ndarray | None,
        ks: list[int],
        random_state: int,
    ) -> None:
        """Insert ``null_explained_variance`` and ``structure`` after ``explained_variance``."""
        null = null_explained_variance(
            X,
            ks,
            sample_weight=weights,
            n_references=self.null_references,
            max_samples=self.stability_sample,
            n_init=min(self.n_init, 3),
            max_iter=self.max_iter,
            random_state=random_state,
        )
        position = evidence.columns.get_loc("explained_variance") + 1
        evidence.insert(position, "null_explained_variance", evidence["k"].map(null))
        evidence.insert(
            position + 1,
            "structure",
            structure(evidence["explained_variance"], evidence["null_explained_variance"]),
        )

    def _choose(self, evidence: pd.DataFrame, ks: list[int]) -> dict:
        """The choice of k (:func:`choose_k`, or forced), marked in ``evidence`` as the
        ``admissible`` and ``chosen`` columns."""
        selection = choose_k(
            evidence,
            min_segment_share=self.min_segment_share,
            min_stability=self.min_stability,
            min_segment_jaccard=self.min_segment_jaccard,
            stability_margin=self.stability_margin,
            structure_tolerance=self.structure_tolerance,
        )
        if self.n_segments is not None:
            selection = {**forced_selection(ks[0]), "excluded": selection["excluded"]}
        chosen = int(selection["chosen"])
        evidence["admissible"] = ~evidence["k"].astype(str).isin(list(selection["excluded"]))
        evidence["chosen"] = evidence["k"] == chosen
        return selection

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
        """JSON-serialisable state: everything ``predict`` needs, and the evidence.

        Returns
        -------
        dict
            ``method`` ("kmeans"), ``params`` (hyper-parameters), the centres, inertia,
            iterations, number of features, the evidence table, ``selection_sample_size``,
            ``selection`` (how k was chosen) and the per-segment stability (records or None).
            This flat layout predates the ``segmint.segmenter`` envelope of the other
            segmenters and is kept so that saved models keep loading.
        """
        check_is_fitted(self)
        return {
            "method": "kmeans",
            "params": json_params(self),
            "n_segments": self.n_segments_,
            "cluster_centers": self.cluster_centers_.tolist(),
            "inertia": self.inertia_,
            "n_iter": self.n_iter_,
            "n_features_in": int(self.n_features_in_),
            "evidence": self.evidence_.to_dict(orient="records"),
            "selection_sample_size": self.selection_sample_size_,
            "selection": self.selection_,
            "segment_stability": None
            if self.segment_stability_ is None
            else self.segment_stability_.to_dict(orient="records"),
        }

    @classmethod
    def from_dict(cls, data: dict) -> KMeansSegmenter:
        """Rebuild a fitted segmenter from :meth:`to_dict` output.

        Parameters
        ----------
        data : dict
            As returned by :meth:`to_dict`, possibly after a JSON round trip (or written by an
            earlier version, without ``selection_sample_size`` or ``selection``, whose
            ``selection_`` is then None).

        Returns
        -------
        KMeansSegmenter
            A fitted segmenter whose ``predict`` equals the original's.
        """
        # hyper-parameters of earlier versions that no longer exist (silhouette_tolerance)
        known = cls._get_param_names()
        seg = from_json_params(cls, {k: v for k, v in data["params"].items() if k in known})
        seg.cluster_centers_ = np.asarray(data["cluster_centers"], dtype=float)
        seg.n_segments_ = int(data["n_segments"])
        seg.inertia_ = float(data["inertia"])
        seg.n_features_in_ = int(data["n_features_in"])
        seg.evidence_ = pd.DataFrame(data["evidence"])
        seg.n_iter_ = int(data.get("n_iter", 0))
        size = data.get("selection_sample_size")
        seg.selection_sample_size_ = None if size is None else int(size)
        seg.selection_ = data.get("selection")
        stab = data.get("segment_stability")
        seg.segment_stability_ = None if stab is None else pd.DataFrame(stab)
        return seg
