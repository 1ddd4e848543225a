"""The segmentations the lift compares the segments with, at equal footing.

Two plain RFM baselines, both from recency, frequency and monetary value at the cut-off: an
**RFM score cut into as many groups as the segmentation has** (:func:`rfm_score_groups`: equal
granularity, since eta² grows with the number of groups) and the **classic named RFM segments**
(:class:`~segmint.segmenters._rfm.RFMSegmenter`, Putler's grid); then each basis alone when
several are used, and segments on customer identity (demographics, geography) when a customer
table is given (:func:`_compared_segmentations`). The k-means fits all go through
:func:`_kmeans_labels`, the segments' own refit included.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from segmint.evaluate._behaviour import BEHAVIOUR_COLUMNS
from segmint.features import Feature, FeaturePreparer
from segmint.segmenters._kmeans import KMeansSegmenter
from segmint.segmenters._rfm import RFMSegmenter

__all__ = [
    "BASELINE_DEFINITIONS",
    "RFM_BASELINE",
    "RFM_NAMED_BASELINE",
    "SEGMENTS",
    "rfm_score_groups",
]


#: the equal-granularity baseline: an RFM score cut into the segmentation's number of groups
RFM_BASELINE = "RFM score in k groups (baseline)"
#: the standard named RFM segments (Putler's grid), with however many groups they give
RFM_NAMED_BASELINE = "RFM named segments (baseline)"
#: how each baseline is built, for run.json and the report
BASELINE_DEFINITIONS = {
    RFM_BASELINE: "mean of the percentile ranks of recency (reversed), frequency and monetary"
    " value at the cut-off, cut into as many equal-count groups as the segmentation has"
    " (ties kept together)",
    RFM_NAMED_BASELINE: "R and F, M quintile scores at the cut-off mapped to the classic named"
    " RFM segments (Putler's R x (F+M)/2 grid: Champions, Loyal, ..., Lost, Other)",
}
SEGMENTS = "segments"


_MAX_IDENTITY_LEVELS = 20


def rfm_score_groups(rfm: pd.DataFrame, n_groups: int) -> np.ndarray:
    """An RFM score cut into ``n_groups`` equal-count groups: the equal-granularity baseline.

    The score is the mean of each customer's percentile ranks in recency (reversed: more
    recent ranks higher), frequency and monetary value -- the continuous form of the usual
    R + F + M sum of quintile scores, which with its 13 values and heavy ties could not be cut
    into, say, 10 groups. Group ``g`` (0 = lowest score) holds the customers whose score has
    "min" rank ``r`` (ties share the smallest rank) with ``floor(n_groups (r - 1) / n) = g``,
    so tied scores always share a group (with very heavy ties a group can stay empty).

    Parameters
    ----------
    rfm : pandas.DataFrame
        ``recency_days, frequency, monetary``, no missing values.
    n_groups : int
        The number of groups (the segmentation's number of segments).

    Returns
    -------
    ndarray of shape (n_customers,), dtype int64
        Group of each customer, ``0 .. n_groups - 1``.

    Examples
    --------
    >>> rfm = pd.DataFrame({"recency_days": [5, 300, 40, 200], "frequency": [9, 1, 4, 2],
    ...                     "monetary": [900.0, 20.0, 300.0, 80.0]})
    >>> rfm_score_groups(rfm, 2).tolist()
    [1, 0, 1, 0]
    """
    ranks = pd.DataFrame(
        {
            "r": (-rfm["recency_days"].astype(float)).rank(method="average", pct=True),
            "f": rfm["frequency"].astype(float).rank(method="average", pct=True),
            "m": rfm["monetary"].astype(float).rank(method="average", pct=True),
        }
    )
    score = ranks.mean(axis=1).round(12)
    n = len(score)
    rank = score.rank(method="min").to_numpy()
    return np.minimum((n_groups * (rank - 1)) // n, n_groups - 1).astype(np.int64)


def _rfm_inputs(rfm: pd.DataFrame) -> pd.DataFrame:
    """Recency, frequency, monetary with customers who had not bought filled in.

    A customer of a catalogue population (events, survey) without a purchase before the
    cut-off counts as the least recent (one day more than the largest recency) with no order
    and no revenue. Unchanged when nothing is missing.
    """
    if not rfm.isna().any().any():
        return rfm
    recency = rfm["recency_days"]
    last = float(recency.max()) + 1 if recency.notna().any() else 0.0
    return rfm.fillna({"recency_days": last, "frequency": 0, "monetary": 0})


def _kmeans_labels(
    X: np.ndarray, n_segments: int, *, n_init: int, random_state: int
) -> np.ndarray | None:
    """k-means labels with at most ``n_segments`` segments (fewer for few distinct rows)."""
    k = min(n_segments, _distinct_rows(X, n_segments))
    if k < 2:
        return None
    # only the partition matters here: stability is the scorecard's business, and the
    # silhouette (pairwise distances of a sample) is evidence for choosing k, which is fixed
    segmenter = KMeansSegmenter(
        k, n_init=n_init, random_state=random_state, stability_resamples=0, silhouette_sample=0
    )
    return segmenter.fit(X).labels_


def _distinct_rows(X: np.ndarray, enough: int) -> int:
    """The number of distinct rows of ``X``, or any number >= ``enough`` once that many are seen.

    The first rows nearly always hold ``enough`` distinct ones, which spares sorting all rows.
    """
    head = len(np.unique(X[: max(64 * enough, 1024)], axis=0))
    return head if head >= enough else len(np.unique(X, axis=0))


def _identity_matrix(identity: pd.DataFrame, customer_ids: pd.Series) -> np.ndarray | None:
    """Standardised numeric columns and one-hot categories of the customers' identity."""
    table = identity.drop_duplicates("customer_id").set_index("customer_id")
    table = table.reindex(customer_ids.astype(str).to_numpy())
    parts = []
    for column in table.columns:
        values = table[column]
        if pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values):
            x = values.astype(float)
            x = x.fillna(x.mean())
            std = x.std()
            if std > 0:
                parts.append(((x - x.mean()) / std).to_numpy()[:, None])
        else:
            levels = values.astype("string").fillna("(missing)")
            if 1 < levels.nunique() <= _MAX_IDENTITY_LEVELS:
                parts.append(pd.get_dummies(levels, dtype=float).to_numpy())
    return np.hstack(parts) if parts else None


def _compared_segmentations(
    features: pd.DataFrame,
    labels: np.ndarray,
    chosen: Sequence[Feature],
    *,
    bases: Sequence[str],
    n_segments: int,
    n_init: int,
    random_state: int,
    identity: pd.DataFrame | None,
) -> list[tuple[str, str, np.ndarray]]:
    """Every segmentation the lift compares: ``(name, kind, labels)``.

    The segments fitted at the cut-off (``labels``), then each basis alone when several are
    used, the two RFM baselines when recency, frequency and monetary value are known, and
    segments on customer identity when ``identity`` has columns besides ``customer_id``; the
    k-means ones with the same ``n_segments``, starts and seed as the segments.
    """
    compared: list[tuple[str, str, np.ndarray]] = [(SEGMENTS, "segments", labels)]
    if len(bases) > 1:
        for basis in bases:
            subset = [f for f in chosen if f.basis == basis]
            if not subset:
                continue
            cols = [f.name for f in subset]
            Xb = FeaturePreparer({f.name: f.transform for f in subset}).fit_transform(
                features[cols]
            )
            basis_labels = _kmeans_labels(Xb, n_segments, n_init=n_init, random_state=random_state)
            if basis_labels is not None:
                compared.append((f"{basis} basis alone", "basis", basis_labels))
    rfm_cols = list(BEHAVIOUR_COLUMNS)
    if all(c in features.columns for c in rfm_cols):
        rfm_inputs = _rfm_inputs(features[rfm_cols])
        n_fitted = len(np.unique(labels))
        compared.append((RFM_BASELINE, "baseline", rfm_score_groups(rfm_inputs, n_fitted)))
        rfm = RFMSegmenter().fit(rfm_inputs)
        compared.append((RFM_NAMED_BASELINE, "baseline", rfm.labels_))
    if identity is not None and len(identity.columns) > 1:
        Xi = _identity_matrix(identity, features["customer_id"])
        if Xi is not None:
            id_labels = _kmeans_labels(Xi, n_segments, n_init=n_init, random_state=random_state)
            if id_labels is not None:
                compared.append(
                    ("customer identity (demographics, geography)", "identity", id_labels)
                )
    return compared
