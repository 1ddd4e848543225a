"""Hierarchical drill-down: split one segment of a fitted segmentation into sub-segments.

A segmentation is often right at the top level and too coarse in one place ("the big mid-value
segment is really two kinds of customer"). Drill-down refits a segmenter on the members of that
one segment only and leaves every other segment exactly as it was.

Id scheme
---------
Ids stay plain consecutive integers, so every downstream tool (profiles, ARI, ``bincount``) keeps
working. For a parent segmentation with ids ``0 .. K-1`` and segment ``s`` split into ``c``
children (numbered among themselves by the stable-id rule: child 0 is the largest):

* child 0 **keeps the parent's id** ``s``;
* children ``1 .. c-1`` get the new ids ``K .. K+c-2``;
* every other segment keeps its id.

``parent_[id]`` gives the parent id of every segment (identity for untouched ones) and
``segment_names_[id]`` a dotted display name: ``"2.0"``, ``"2.1"``, ... for the children of
segment 2, ``"0"``, ``"1"``, ... for the others. Drill-downs nest (the parent can itself be a
:class:`DrillDownSegmenter`), giving names such as ``"2.1.0"``.

References
----------
.. [1] Kaufman, L. and Rousseeuw, P. J. (1990). *Finding Groups in Data: An Introduction to
   Cluster Analysis*, chapter 6 (divisive hierarchical clustering). Wiley.
.. [2] Wedel, M. and Kamakura, W. A. (2000). *Market Segmentation: Conceptual and
   Methodological Foundations*, 2nd ed. Kluwer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context, clone
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.segmenters._ids import size_order

__all__ = ["DrillDown", "DrillDownSegmenter", "drill_down"]

_SEED_MAX = np.iinfo(np.int32).max


@dataclass(frozen=True, eq=False)
class DrillDown:
    """Result of :func:`drill_down`.

    Attributes
    ----------
    labels : ndarray of shape (n_samples,)
        New labels: the split segment's members carry child ids, everyone else is unchanged.
    parent : ndarray of shape (n_segments,)
        ``parent[id]`` is the parent id of segment ``id``.
    names : list of str
        Display name of every id (``"2.0"``, ``"2.1"`` for children of 2).
    child_ids : ndarray of shape (n_children,)
        ``child_ids[raw]`` is the new id of the child model's raw label ``raw``.
    child_estimator : estimator object
        The fitted child segmenter (fitted on the split segment's members only).
    segment_id : int
        The segment that was split.
    """

    labels: np.ndarray
    parent: np.ndarray
    names: list[str]
    child_ids: np.ndarray
    child_estimator: Any
    segment_id: int


def _as_int_labels(labels: Any, n_samples: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n_samples,):
        raise InputError(
            f"labels has shape {labels.shape}, expected ({n_samples},) like the rows of X",
            hint="pass one segment id per row of X",
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"labels must hold integer segment ids, got dtype {labels.dtype}",
            hint="convert the labels with np.asarray(labels, dtype=int)",
        )
    return labels.astype(np.int64, copy=False)


def _n_model_segments(model: Any) -> int:
    """Number of segments a fitted model can predict, when it exposes it (else 0)."""
    centers = getattr(model, "cluster_centers_", None)
    if centers is not None:
        return int(np.shape(centers)[0])
    weights = getattr(model, "weights_", None)  # mixture models
    if weights is not None:
        return int(np.shape(weights)[0])
    return 0


def drill_down(
    labels: Any,
    X: Any,
    segment_id: int,
    estimator: Any = None,
    *,
    names: list[str] | None = None,
    random_state: int | np.random.RandomState | None = None,
) -> DrillDown:
    """Split one segment of a segmentation into sub-segments, leaving the others untouched.

    A clone of ``estimator`` is fitted on the rows whose label is ``segment_id``; its raw labels
    are ordered by the stable-id rule (:func:`segmint.segmenters._ids.size_order`, largest child
    first) and mapped to ids as described in the module docstring: child 0 keeps
    ``segment_id``, the other children get ids after the largest existing id.

    Parameters
    ----------
    labels : array-like of int, shape (n_samples,)
        Current segment of every row of ``X``. Negative labels (noise) are left alone.
    X : array-like of shape (n_samples, n_features)
        Feature matrix the segmentation was made on (numeric; converted to an array).
    segment_id : int
        The segment to split; must occur in ``labels``.
    estimator : estimator object, default=None
        Unfitted segmenter with ``fit_predict`` (and ``predict`` if you want to route new
        customers later). It is cloned. Default: ``KMeans(n_clusters=2, n_init=10)``.
    names : list of str, optional
        Display names of the current ids (e.g. from a previous drill-down); default
        ``str(id)``.
    random_state : int, RandomState instance or None, default=None
        When not None, the child clone's ``random_state`` (if it has one) is set from it;
        when None the estimator's own ``random_state`` is kept.

    Returns
    -------
    DrillDown
        New labels, the parent mapping, display names and the fitted child model.

    Raises
    ------
    ValueError
        If ``segment_id`` does not occur in ``labels``, has fewer than two members, or the
        labels do not match ``X``.

    References
    ----------
    .. [1] Kaufman, L. and Rousseeuw, P. J. (1990). *Finding Groups in Data*, chapter 6. Wiley.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(
            f"X must be 2-d (customers x features), got shape {X.shape}",
            hint="reshape a single feature with X.reshape(-1, 1)",
        )
    labels = _as_int_labels(labels, X.shape[0])
    segmented = labels[labels >= 0]
    existing = np.unique(segmented)
    if segment_id not in set(existing.tolist()):
        raise InputError(
            f"segment_id={segment_id} does not occur in the labels",
            hint=f"choose one of the existing segment ids {existing.tolist()}",
        )
    members = np.flatnonzero(labels == segment_id)
    if members.size < 2:
        raise InputError(
            f"segment {segment_id} has {members.size} member(s); at least 2 are needed to split",
            hint="drill down into a larger segment",
        )

    child = clone(KMeans(n_clusters=2, n_init=10) if estimator is None else estimator)
    if random_state is not None and "random_state" in child.get_params(deep=False):
        rng = check_random_state(random_state)
        child.set_params(random_state=int(rng.randint(_SEED_MAX)))
    X_members = X[members]
    raw = np.asarray(child.fit_predict(X_members))
    if raw.shape != (members.size,) or (raw.size and not np.issubdtype(raw.dtype, np.integer)):
        raise InputError(
            f"{type(child).__name__}.fit_predict returned {raw.shape} {raw.dtype} labels for "
            f"{members.size} rows",
            hint="the child estimator must return one integer label per row",
        )
    if raw.size and raw.min() < 0:
        raise InputError(
            f"{type(child).__name__} labelled some members of segment {segment_id} as noise",
            hint="use a child segmenter that assigns every customer (e.g. KMeans)",
        )
    # Size the id table by the child model itself when it says how many segments it can
    # predict (a component may be empty on the training members but still win at predict).
    n_children = max(int(raw.max()) + 1, _n_model_segments(child))
    counts = np.bincount(raw, minlength=n_children)
    centers = np.zeros((n_children, X.shape[1]))
    np.add.at(centers, raw, X_members)
    centers /= np.maximum(counts, 1)[:, None]
    order = size_order(raw, n_children, centers=centers)  # raw -> child rank

    n_parent = int(existing.max()) + 1
    child_ids = np.where(order == 0, segment_id, n_parent + order - 1).astype(np.int64)
    new_labels = labels.copy()
    new_labels[members] = child_ids[raw]

    n_total = n_parent + n_children - 1
    parent = np.arange(n_total, dtype=np.int64)
    parent[n_parent:] = segment_id
    if names is None:
        base_names = [str(i) for i in range(n_parent)]
    else:
        if len(names) < n_parent:
            raise InputError(
                f"names has {len(names)} entries for {n_parent} segment ids",
                hint="pass one display name per existing segment id",
            )
        base_names = [str(name) for name in names[:n_parent]]
    split_name = base_names[segment_id]
    all_names = [*base_names, *[""] * (n_children - 1)]
    for rank in range(n_children):
        new_id = segment_id if rank == 0 else n_parent + rank - 1
        all_names[new_id] = f"{split_name}.{rank}"

    logger.info(
        "drill_down: segment %s (%d members) split into %d sub-segments of sizes %s",
        split_name,
        members.size,
        n_children,
        np.sort(counts)[::-1].tolist(),
    )
    return DrillDown(
        labels=new_labels,
        parent=parent,
        names=all_names,
        child_ids=child_ids,
        child_estimator=child,
        segment_id=int(segment_id),
    )


class DrillDownSegmenter(ClusterMixin, BaseEstimator):
    """Segmenter that splits one segment of a fitted parent segmenter into sub-segments.

    ``fit`` takes the parent's segments of the training customers, fits a clone of
    ``estimator`` on the members of ``segment_id`` only (see :func:`drill_down` for the id
    scheme) and leaves all other segments untouched. ``predict`` routes new customers through
    the parent first and, for those landing in ``segment_id``, through the child model.

    Parameters
    ----------
    parent_model : estimator object
        A **fitted** segmenter with ``predict`` (any segmint segmenter, sklearn KMeans,
        GaussianMixture, another :class:`DrillDownSegmenter`, ...). It is deep-copied at fit
        time and never refitted. Like sklearn's prefit meta-estimators, a ``clone`` of this
        segmenter clones the parent too, so fit such a clone only after refitting its parent.
    segment_id : int
        The parent segment to split.
    estimator : estimator object, default=None
        Unfitted child segmenter with ``fit_predict`` and ``predict``; default
        ``KMeans(n_clusters=2, n_init=10)``.
    random_state : int, RandomState instance or None, default=None
        When not None, the child's ``random_state`` (if it has one) is drawn from it; when None
        the child estimator's own ``random_state`` is kept.

    Attributes
    ----------
    parent_model_ : estimator object
        Copy of the fitted parent used by :meth:`predict`.
    estimator_ : estimator object
        The fitted child segmenter.
    labels_ : ndarray of shape (n_samples,)
        Segment of every training customer after the split.
    parent_ : ndarray of shape (n_segments_,)
        ``parent_[id]`` is the parent segment of ``id`` (identity for untouched segments).
    child_ids_ : ndarray of shape (n_children,)
        ``child_ids_[raw]``: id given to the child model's raw label ``raw``.
    segment_names_ : list of str
        Dotted display name of every id (``"2.0"``, ``"2.1"`` for the children of 2).
    n_segments_ : int
        Number of segments after the split.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column names.

    See Also
    --------
    drill_down : The same split from labels alone, without a parent model.

    References
    ----------
    .. [1] Kaufman, L. and Rousseeuw, P. J. (1990). *Finding Groups in Data*, chapter 6. Wiley.
    .. [2] Wedel, M. and Kamakura, W. A. (2000). *Market Segmentation: Conceptual and
       Methodological Foundations*, 2nd ed. Kluwer.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(n_samples=300, centers=4, random_state=0)
    >>> top = KMeans(3, n_init=10, random_state=0).fit(X)
    >>> dd = DrillDownSegmenter(top, segment_id=0, random_state=0).fit(X)
    >>> dd.n_segments_
    4
    """

    _parameter_constraints: ClassVar[dict] = {
        "parent_model": [HasMethods(["predict"])],
        "segment_id": [Interval(Integral, 0, None, closed="left")],
        "estimator": [HasMethods(["fit_predict", "predict"]), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        parent_model: Any,
        *,
        segment_id: int,
        estimator: Any = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.parent_model = parent_model
        self.segment_id = segment_id
        self.estimator = estimator
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: None = None, *, parent_labels: Any = None) -> DrillDownSegmenter:
        """Split ``segment_id`` of the parent segmentation of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Customer feature matrix, with the columns the parent was fitted on.
        y : None
            Ignored; present for API consistency.
        parent_labels : array-like of int, shape (n_samples,), optional
            The parent segments of ``X`` if you want to split the parent's training labels
            (e.g. ``parent_model.labels_``) rather than ``parent_model.predict(X)``.

        Returns
        -------
        self : DrillDownSegmenter
            The fitted segmenter.
        """
        check_is_fitted(
            self.parent_model,
            msg="parent_model %(name)s is not fitted; fit it before drilling down into it",
        )
        X_raw = X
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        if parent_labels is None:
            parent_labels = self.parent_model.predict(X_raw)
        names = getattr(self.parent_model, "segment_names_", None)
        result = drill_down(
            parent_labels,
            X,
            self.segment_id,
            self.estimator,
            names=names,
            random_state=self.random_state,
        )
        self.parent_model_ = copy.deepcopy(self.parent_model)
        self.estimator_ = result.child_estimator
        self.labels_ = result.labels
        self.parent_ = result.parent
        self.child_ids_ = result.child_ids
        self.segment_names_ = result.names
        self.n_segments_ = int(result.parent.size)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Route customers through the parent model, then the child model for the split segment.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Customer feature matrix with the training columns.

        Returns
        -------
        ndarray of shape (n_samples,)
            Segment id of each customer (child ids for members of the split segment).
        """
        check_is_fitted(self, "estimator_")
        X_raw = X
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        labels = np.asarray(self.parent_model_.predict(X_raw)).astype(np.int64)
        members = labels == self.segment_id
        if members.any():
            raw = np.asarray(self.estimator_.predict(X[members])).astype(np.int64)
            labels[members] = self.child_ids_[raw]
        return labels
