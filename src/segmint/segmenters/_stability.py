"""Resampling stability of a segmentation, globally and segment by segment.

A segmentation is only worth acting on if it is not an accident of the particular customers that
happened to be in the data. :func:`bootstrap_stability` refits the segmenter on many resamples of
the data and measures, on the resampled customers,

* the **global** agreement with the reference segmentation (adjusted Rand index), and
* for **each reference segment**, the Jaccard similarity with the most similar segment of the
  refit (Hennig's *clusterboot*): segments that keep reappearing are real structure, segments that
  dissolve are artefacts of the algorithm or of the chosen number of segments.

Hennig's rules of thumb for the mean Jaccard similarity of a segment are used for the verdict:
``>= 0.85`` "stable", ``0.6 .. 0.85`` "patterns" (there is structure, but which customers belong
to it is uncertain), ``< 0.6`` "unstable". A segment whose Jaccard falls below ``0.5`` in a
resample counts as *dissolved* in that resample.

References
----------
.. [1] Hennig, C. (2007). Cluster-wise assessment of cluster stability. *Computational Statistics
   & Data Analysis*, 52(1), 258-271. https://doi.org/10.1016/j.csda.2006.11.025
.. [2] Hubert, L. and Arabie, P. (1985). Comparing partitions. *Journal of Classification*, 2(1),
   193-218.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_params
from sklearn.utils.validation import _check_sample_weight, check_array, has_fit_parameter

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.segmenters._ids import match_labels

__all__ = [
    "DISSOLVED_BELOW",
    "PATTERNS_AT",
    "STABLE_AT",
    "StabilityResult",
    "align_to_reference",
    "best_jaccard",
    "bootstrap_stability",
]

STABLE_AT = 0.85
"""Mean Jaccard at or above which a segment is "stable" (Hennig 2007)."""
PATTERNS_AT = 0.6
"""Mean Jaccard at or above which (and below :data:`STABLE_AT`) a segment shows "patterns"."""
DISSOLVED_BELOW = 0.5
"""A segment whose best Jaccard in a resample is below this value dissolved in that resample."""

_SEED_MAX = np.iinfo(np.int32).max
_PER_SEGMENT_COLUMNS = [
    "segment_id",
    "size",
    "jaccard_mean",
    "jaccard_low",
    "jaccard_high",
    "dissolved_share",
    "n_evaluated",
    "verdict",
]


@dataclass(frozen=True, eq=False)
class StabilityResult:
    """Outcome of :func:`bootstrap_stability`.

    Attributes
    ----------
    ari_mean : float
        Mean adjusted Rand index between the reference labels and the refit labels, computed on
        the resampled customers of each resample.
    ari_interval : tuple of (float, float)
        2.5 and 97.5 percentiles of the adjusted Rand index over the resamples.
    per_segment : pandas.DataFrame
        One row per reference segment with columns ``segment_id``, ``size`` (members, or summed
        sample weight, in the reference fit), ``jaccard_mean``, ``jaccard_low`` and
        ``jaccard_high`` (2.5 / 97.5 percentiles), ``dissolved_share`` (share of resamples with
        Jaccard < 0.5), ``n_evaluated`` (resamples that contained members of the segment) and
        ``verdict`` ("stable", "patterns" or "unstable").
    n_resamples : int
        Number of resamples.
    method : {"bootstrap", "subsample"}
        Resampling scheme.
    sample_fraction : float
        Size of each resample as a share of ``n_samples``.
    n_samples : int
        Number of customers the analysis ran on (after ``max_samples``).
    ari_values : ndarray of shape (n_resamples,)
        The adjusted Rand index of every resample.
    jaccard : ndarray of shape (n_resamples, n_segments)
        Best Jaccard similarity of every reference segment in every resample (NaN when the
        resample contained no member of the segment).
    reference_labels : ndarray of shape (n_samples,)
        Labels of the reference fit, on the customers the analysis ran on.
    sample_indices : ndarray of shape (n_samples,) or None
        Row indices into the input ``X`` of those customers when ``max_samples`` subsampled the
        input, else None.
    """

    ari_mean: float
    ari_interval: tuple[float, float]
    per_segment: pd.DataFrame
    n_resamples: int
    method: str
    sample_fraction: float
    n_samples: int
    ari_values: np.ndarray
    jaccard: np.ndarray
    reference_labels: np.ndarray
    sample_indices: np.ndarray | None = None

    @property
    def all_stable(self) -> bool:
        """True when every reference segment has the verdict "stable"."""
        return bool((self.per_segment["verdict"] == "stable").all())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable summary (no labels; NaN becomes ``None``).

        Returns
        -------
        dict
            Keys ``method``, ``n_resamples``, ``sample_fraction``, ``n_samples``, ``ari_mean``,
            ``ari_interval``, ``ari_values`` and ``per_segment`` (a list of row dicts).
        """
        rows = []
        for record in self.per_segment.to_dict(orient="records"):
            rows.append({key: _json_scalar(value) for key, value in record.items()})
        return {
            "method": self.method,
            "n_resamples": int(self.n_resamples),
            "sample_fraction": float(self.sample_fraction),
            "n_samples": int(self.n_samples),
            "ari_mean": _json_scalar(self.ari_mean),
            "ari_interval": [_json_scalar(v) for v in self.ari_interval],
            "ari_values": [_json_scalar(v) for v in self.ari_values],
            "per_segment": rows,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StabilityResult):
            return NotImplemented
        same_indices = (self.sample_indices is None and other.sample_indices is None) or (
            self.sample_indices is not None
            and other.sample_indices is not None
            and np.array_equal(self.sample_indices, other.sample_indices)
        )
        return (
            self.to_dict() == other.to_dict()
            and np.array_equal(self.jaccard, other.jaccard, equal_nan=True)
            and np.array_equal(self.reference_labels, other.reference_labels)
            and same_indices
        )

    __hash__ = None  # type: ignore[assignment]


def _json_scalar(value: Any) -> Any:
    """Convert numpy scalars to Python ones and NaN to ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def verdict(jaccard_mean: float) -> str:
    """Classify a segment by its mean Jaccard similarity (Hennig 2007).

    Parameters
    ----------
    jaccard_mean : float
        Mean over resamples of the segment's best Jaccard similarity.

    Returns
    -------
    str
        "stable" (``>= 0.85``), "patterns" (``>= 0.6``) or "unstable" (below, or NaN).
    """
    if jaccard_mean >= STABLE_AT:
        return "stable"
    if jaccard_mean >= PATTERNS_AT:
        return "patterns"
    return "unstable"


def best_jaccard(
    reference_labels: np.ndarray,
    labels: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best Jaccard similarity of every reference segment with any segment of ``labels``.

    Both label arrays describe the same customers. For a reference segment ``C`` and a segment
    ``D`` of ``labels`` the Jaccard similarity is ``|C ∩ D| / |C ∪ D|`` (sizes are summed
    sample weights when given); the best one over all ``D`` is returned. The computation works on
    the contingency table of the two labelings (built with ``np.add.at``), never point by point.

    Negative labels mark noise: a negative reference label is not a segment (no row), and a
    negative label in ``labels`` is not a candidate partner (its customers still count in the
    size of their reference segment).

    Parameters
    ----------
    reference_labels : array-like of shape (n_samples,)
        Integer reference labels.
    labels : array-like of shape (n_samples,)
        Integer labels to compare with.
    sample_weight : array-like of shape (n_samples,), optional
        Customer weights; sizes, intersections and unions become summed weights.

    Returns
    -------
    segment_ids : ndarray of shape (n_segments,)
        The non-negative reference labels, ascending.
    jaccard : ndarray of shape (n_segments,)
        Best Jaccard similarity of each of those segments; NaN for a segment with zero total
        weight.

    References
    ----------
    .. [1] Hennig, C. (2007). Cluster-wise assessment of cluster stability. *Computational
       Statistics & Data Analysis*, 52(1), 258-271.
    """
    reference = np.asarray(reference_labels)
    other = np.asarray(labels)
    if reference.ndim != 1 or other.ndim != 1 or reference.shape != other.shape:
        raise InputError(
            f"reference_labels and labels must be 1-d arrays of equal length, got shapes "
            f"{reference.shape} and {other.shape}",
            hint="pass the two labelings of the same customers, in the same order",
        )
    ref_ids, ref_codes = np.unique(reference, return_inverse=True)
    new_ids, new_codes = np.unique(other, return_inverse=True)
    weights = (
        np.ones(reference.shape[0], dtype=float)
        if sample_weight is None
        else np.asarray(sample_weight, dtype=float)
    )
    table = np.zeros((ref_ids.size, new_ids.size), dtype=float)
    np.add.at(table, (ref_codes, new_codes), weights)
    ref_size = table.sum(axis=1)
    new_size = table.sum(axis=0)
    union = ref_size[:, None] + new_size[None, :] - table
    jaccard = np.divide(table, union, out=np.zeros_like(table), where=union > 0)
    jaccard[:, new_ids < 0] = 0.0
    best = jaccard.max(axis=1) if new_ids.size else np.zeros(ref_ids.size)
    best[ref_size <= 0] = np.nan
    keep = ref_ids >= 0
    return ref_ids[keep], best[keep]


def align_to_reference(reference_labels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Relabel ``labels`` so that its segment ids match ``reference_labels`` (stable-id rule 2).

    Thin wrapper over :func:`segmint.segmenters._ids.match_labels`: segments are matched by
    maximum member overlap (Hungarian assignment on the contingency table) and take the
    reference's id; segments without a partner get fresh ids after the largest reference id, by
    size. Negative labels (noise) stay as they are and do not take part in the matching.

    Parameters
    ----------
    reference_labels : array-like of int, shape (n_samples,)
        Labels of the reference segmentation for the customers.
    labels : array-like of int, shape (n_samples,)
        Labels of another segmentation (e.g. a bootstrap refit) for the same customers.

    Returns
    -------
    ndarray of shape (n_samples,)
        ``labels`` with ids translated to the reference's ids.

    References
    ----------
    .. [1] Kuhn, H. W. (1955). The Hungarian method for the assignment problem. *Naval Research
       Logistics Quarterly*, 2(1-2), 83-97.
    """
    reference = np.asarray(reference_labels)
    other = np.asarray(labels)
    if reference.ndim != 1 or other.ndim != 1 or reference.shape != other.shape:
        raise InputError(
            f"reference_labels and labels must be 1-d arrays of equal length, got shapes "
            f"{reference.shape} and {other.shape}",
            hint="pass the labels of the same customers, in the same order",
        )
    for name, arr in (("reference_labels", reference), ("labels", other)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InputError(
                f"{name} must hold integer segment ids, got dtype {arr.dtype}",
                hint="convert the labels with np.asarray(labels, dtype=int)",
            )
    reference = reference.astype(np.int64, copy=False)
    other = other.astype(np.int64, copy=False)
    result = other.copy()
    segmented = other >= 0
    if not segmented.any():
        return result
    both = segmented & (reference >= 0)
    n_new = int(other[segmented].max()) + 1
    if both.any():
        mapping = match_labels(reference[both], other[both])
    else:
        mapping = np.empty(0, dtype=np.int64)
    if mapping.size < n_new:
        # Labels that only occur where the reference is noise (or beyond the matched range):
        # give them fresh ids after everything used so far, by size.
        start = max(int(reference.max()) + 1, int(mapping.max()) + 1 if mapping.size else 0)
        extra = np.arange(mapping.size, n_new)
        sizes = np.bincount(other[segmented], minlength=n_new)[extra]
        extra = extra[np.argsort(-sizes, kind="stable")]
        full = np.empty(n_new, dtype=np.int64)
        full[: mapping.size] = mapping
        full[extra] = start + np.arange(extra.size)
        mapping = full
    result[segmented] = mapping[other[segmented]]
    return result


def _set_seed(estimator: Any, seed: int) -> None:
    """Set ``random_state`` on ``estimator`` when it has such a parameter."""
    get_params = getattr(estimator, "get_params", None)
    if get_params is not None and "random_state" in get_params(deep=False):
        estimator.set_params(random_state=seed)


def _has_random_state(estimator: Any) -> bool:
    get_params = getattr(estimator, "get_params", None)
    return get_params is not None and "random_state" in get_params(deep=False)


def _fit_labels(
    template: Any, X: np.ndarray, seed: int | None, sample_weight: np.ndarray | None
) -> np.ndarray:
    """Fit a fresh clone of ``template`` and return its labels as a 1-d integer array."""
    model = clone(template, safe=False)
    if seed is not None:
        _set_seed(model, seed)
    if sample_weight is None:
        labels = model.fit_predict(X)
    else:
        labels = model.fit_predict(X, sample_weight=sample_weight)
    labels = np.asarray(labels)
    if labels.shape != (X.shape[0],):
        raise InputError(
            f"{type(template).__name__}.fit_predict returned labels of shape {labels.shape} "
            f"for {X.shape[0]} samples",
            hint="the estimator's fit_predict(X) must return one integer label per row of X",
        )
    return labels.astype(np.int64, copy=False)


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    low, high = np.percentile(values, [2.5, 97.5])
    return (float(low), float(high))


@validate_params(
    {
        "estimator": [HasMethods(["fit_predict"])],
        "X": ["array-like"],
        "n_resamples": [Interval(Integral, 1, None, closed="left")],
        "sample_fraction": [Interval(Real, 0, 1, closed="right"), None],
        "method": [StrOptions({"bootstrap", "subsample"})],
        "random_state": ["random_state"],
        "sample_weight": ["array-like", None],
        "max_samples": [Interval(Integral, 2, None, closed="left"), None],
    },
    prefer_skip_nested_validation=False,
)
def bootstrap_stability(
    estimator: Any,
    X: Any,
    *,
    n_resamples: int = 20,
    sample_fraction: float | None = None,
    method: Literal["bootstrap", "subsample"] = "bootstrap",
    random_state: int | np.random.RandomState | None = None,
    sample_weight: Any = None,
    max_samples: int | None = None,
) -> StabilityResult:
    """Measure how stable a segmentation is under resampling of the customers.

    Follows Hennig's *clusterboot* [1]_:

    1. A clone of ``estimator`` is fitted on all the data; its labels are the reference.
    2. ``n_resamples`` times, a resample of the customers is drawn (with replacement for
       ``method="bootstrap"``, without for ``"subsample"``) and a fresh clone is fitted on it.
    3. On the distinct resampled customers, the refit labels are compared with the reference
       labels: globally by the adjusted Rand index [2]_, and for every reference segment by its
       best Jaccard similarity with any refit segment (see :func:`best_jaccard`).

    Randomness comes only from ``random_state``: every resample's row indices and the
    ``random_state`` of every refit clone are drawn from one generator, so the same
    ``random_state`` gives an identical result. The reference fit keeps the estimator's own
    ``random_state`` when it is set (so it reproduces your segmentation and your segment ids);
    when it is None a seed is drawn from the generator.

    Parameters
    ----------
    estimator : estimator object
        An unfitted (or fitted: it is cloned) segmenter with ``fit_predict(X)``, e.g. a
        :class:`sklearn.cluster.KMeans` or any segmint segmenter. If it has a ``random_state``
        parameter, each resample's clone gets a seed drawn from the generator. It is never
        modified.
    X : array-like of shape (n_samples, n_features)
        Customer feature matrix, converted to a numeric array; a pandas DataFrame is kept as a
        table (rows resampled with ``iloc``) for segmenters that read categorical columns.
    n_resamples : int, default=20
        Number of resamples. Hennig uses 20 as a reasonable minimum; use 50-100 for reporting.
    sample_fraction : float in (0, 1], optional
        Size of each resample as a share of ``n_samples``. Default 1.0 for ``"bootstrap"`` (the
        classical n-out-of-n bootstrap) and 0.5 for ``"subsample"``, which requires a value
        below 1.
    method : {"bootstrap", "subsample"}, default="bootstrap"
        Draw resamples with replacement (bootstrap) or without (subsampling). Duplicated rows
        of a bootstrap resample are all passed to the fit but count once in the comparison,
        since the Jaccard similarity is a similarity of sets.
    random_state : int, RandomState instance or None, default=None
        Seeds the generator for the resamples and the refits' seeds.
    sample_weight : array-like of shape (n_samples,), optional
        Customer weights, forwarded to ``fit_predict`` (the estimator's ``fit`` must accept
        ``sample_weight``) and used for the Jaccard similarities and segment sizes (summed
        weights). The adjusted Rand index is unweighted. Resamples are drawn uniformly.
    max_samples : int, optional
        Speed valve for large data: when ``n_samples > max_samples``, a uniform random subset of
        ``max_samples`` customers (drawn once, from the same generator) replaces ``X`` for the
        whole analysis, reference fit included. ``sample_indices`` of the result says which rows
        were used. Stability estimates from a few thousand customers are usually accurate to a
        few hundredths; the cost is ``n_resamples + 1`` fits on that many rows.

    Returns
    -------
    StabilityResult
        Global ARI summary and the per-segment Jaccard table with verdicts.

    Raises
    ------
    ValueError
        For invalid parameter values, too few samples for the resample size, or
        ``sample_weight`` with an estimator whose ``fit`` does not accept it.

    See Also
    --------
    align_to_reference : Translate a refit's ids into the reference's ids.

    References
    ----------
    .. [1] Hennig, C. (2007). Cluster-wise assessment of cluster stability. *Computational
       Statistics & Data Analysis*, 52(1), 258-271. https://doi.org/10.1016/j.csda.2006.11.025
    .. [2] Hubert, L. and Arabie, P. (1985). Comparing partitions. *Journal of
       Classification*, 2(1), 193-218.

    Examples
    --------
    >>> from sklearn.cluster import KMeans
    >>> from sklearn.datasets import make_blobs
    >>> X, _ = make_blobs(n_samples=300, centers=3, random_state=0)
    >>> result = bootstrap_stability(KMeans(3, n_init=3), X, n_resamples=5, random_state=0)
    >>> result.all_stable
    True
    """
    # tables with categorical columns (k-prototypes, latent classes) stay tables
    frame = isinstance(X, pd.DataFrame)
    if frame:
        X = X.reset_index(drop=True)
        if X.shape[0] < 2:
            raise ValueError(f"Found array with {X.shape[0]} sample(s); at least 2 are required.")
    else:
        X = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=2)
    weights = None
    if sample_weight is not None:
        weights = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        if not has_fit_parameter(estimator, "sample_weight"):
            raise InputError(
                f"sample_weight was given but {type(estimator).__name__}.fit does not accept "
                "sample_weight",
                hint="drop sample_weight or use an estimator whose fit takes sample_weight "
                "(e.g. sklearn KMeans)",
            )

    if sample_fraction is None:
        sample_fraction = 1.0 if method == "bootstrap" else 0.5
    if method == "subsample" and sample_fraction >= 1.0:
        raise InputError(
            f"method='subsample' needs sample_fraction < 1, got {sample_fraction}",
            hint="use e.g. sample_fraction=0.5, or method='bootstrap' for full-size resamples",
        )

    rng = check_random_state(random_state)
    n_total = X.shape[0]
    sample_indices = None
    if max_samples is not None and n_total > max_samples:
        sample_indices = np.sort(rng.choice(n_total, size=max_samples, replace=False))
        X = X.iloc[sample_indices].reset_index(drop=True) if frame else X[sample_indices]
        if weights is not None:
            weights = weights[sample_indices]
        logger.info(
            "bootstrap_stability: using a random subset of %d of %d samples (max_samples)",
            max_samples,
            n_total,
        )
    n_samples = X.shape[0]
    n_draw = round(sample_fraction * n_samples)
    if n_draw < 2:
        raise InputError(
            f"sample_fraction={sample_fraction} of n_samples={n_samples} gives resamples of "
            f"{n_draw} rows",
            hint="use more samples or a larger sample_fraction",
        )

    reference_seed = None
    if _has_random_state(estimator) and estimator.get_params(deep=False)["random_state"] is None:
        reference_seed = int(rng.randint(_SEED_MAX))
    reference = _fit_labels(estimator, X, reference_seed, weights)
    segment_ids = np.unique(reference[reference >= 0])
    sizes = np.bincount(
        np.searchsorted(segment_ids, reference[reference >= 0]),
        weights=None if weights is None else weights[reference >= 0],
        minlength=segment_ids.size,
    ).astype(float)

    ari_values = np.empty(n_resamples, dtype=float)
    jaccard = np.full((n_resamples, segment_ids.size), np.nan)
    replace = method == "bootstrap"
    for b in range(n_resamples):
        if replace:
            rows = rng.randint(0, n_samples, size=n_draw)
        else:
            rows = rng.choice(n_samples, size=n_draw, replace=False)
        seed = int(rng.randint(_SEED_MAX))
        part = X.iloc[rows].reset_index(drop=True) if frame else X[rows]
        labels = _fit_labels(estimator, part, seed, None if weights is None else weights[rows])
        distinct, first = np.unique(rows, return_index=True)
        ref_b, new_b = reference[distinct], labels[first]
        ari_values[b] = adjusted_rand_score(ref_b, new_b)
        ids_b, jac_b = best_jaccard(
            ref_b, new_b, sample_weight=None if weights is None else weights[distinct]
        )
        jaccard[b, np.searchsorted(segment_ids, ids_b)] = jac_b
        logger.debug("bootstrap_stability: resample %d ARI=%.4f", b, ari_values[b])

    rows_out = []
    for j, segment in enumerate(segment_ids):
        column = jaccard[:, j]
        evaluated = column[~np.isnan(column)]
        mean = float(evaluated.mean()) if evaluated.size else math.nan
        low, high = _percentiles(column)
        dissolved = float((evaluated < DISSOLVED_BELOW).mean()) if evaluated.size else math.nan
        rows_out.append(
            {
                "segment_id": int(segment),
                "size": float(sizes[j]),
                "jaccard_mean": mean,
                "jaccard_low": low,
                "jaccard_high": high,
                "dissolved_share": dissolved,
                "n_evaluated": int(evaluated.size),
                "verdict": verdict(mean),
            }
        )
    per_segment = pd.DataFrame(rows_out, columns=_PER_SEGMENT_COLUMNS)
    ari_low, ari_high = _percentiles(ari_values)
    result = StabilityResult(
        ari_mean=float(ari_values.mean()),
        ari_interval=(ari_low, ari_high),
        per_segment=per_segment,
        n_resamples=int(n_resamples),
        method=method,
        sample_fraction=float(sample_fraction),
        n_samples=int(n_samples),
        ari_values=ari_values,
        jaccard=jaccard,
        reference_labels=reference,
        sample_indices=sample_indices,
    )
    logger.info(
        "bootstrap_stability: %s x%d, ARI %.3f [%.3f, %.3f], %d/%d segments stable",
        method,
        n_resamples,
        result.ari_mean,
        ari_low,
        ari_high,
        int((per_segment["verdict"] == "stable").sum()),
        len(per_segment),
    )
    return result
