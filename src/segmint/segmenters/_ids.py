"""Stable segment ids.

The rule, documented once and used by every segmenter:

1. After a fit, segments are numbered ``0 .. k-1`` by **descending size** (number of members,
   or summed sample weight); ties are broken by the lexicographic order of the segment's centre
   (or, without centres, by the smallest original label). Same data, config and seed therefore
   always give the same ids, and the largest segment is always segment 0.
2. When a model is refitted on other data (a bootstrap sample, next month's customers), its
   segments are **matched to a reference** by maximum overlap of members (Hungarian assignment on
   the contingency table) or, when only centres are known, by minimum distance between centres,
   and take the reference's ids. Unmatched new segments get the next free ids, by size.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def size_order(
    labels: np.ndarray,
    n_segments: int,
    centers: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Return ``new_id_of_old`` so that ids follow descending size (rule 1).

    Parameters
    ----------
    labels : ndarray of shape (n_samples,)
        Raw labels in ``0 .. n_segments-1``.
    n_segments : int
        Number of segments, including empty ones.
    centers : ndarray of shape (n_segments, n_features), optional
        Used only to break ties between equal sizes.
    sample_weight : ndarray of shape (n_samples,), optional
        Sizes are summed weights when given.

    Returns
    -------
    ndarray of shape (n_segments,)
        ``mapping[old_label] == new_label``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(labels, weights=sample_weight, minlength=n_segments)[:n_segments]
    if centers is not None:
        tie_keys = [tuple(np.round(np.asarray(c, dtype=float), 12)) for c in centers]
        keys = [(-float(sizes[j]), tie_keys[j], j) for j in range(n_segments)]
    else:
        keys = [(-float(sizes[j]), (), j) for j in range(n_segments)]
    order = [k[2] for k in sorted(keys)]
    mapping = np.empty(n_segments, dtype=np.int64)
    mapping[np.asarray(order, dtype=np.int64)] = np.arange(n_segments)
    return mapping


def match_labels(reference: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Map the ids in ``labels`` onto ``reference`` ids by maximum member overlap (rule 2).

    Both arrays label the same customers. Returns ``mapping`` with ``mapping[new] == ref_id``;
    new segments without a partner get fresh ids after the largest reference id, by size.
    """
    reference = np.asarray(reference, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    n_ref = int(reference.max()) + 1 if reference.size else 0
    n_new = int(labels.max()) + 1 if labels.size else 0
    table = np.zeros((n_new, n_ref), dtype=np.int64)
    np.add.at(table, (labels, reference), 1)
    rows, cols = linear_sum_assignment(-table)
    return _complete_mapping(rows, cols, n_new, n_ref, np.bincount(labels, minlength=n_new))


def match_centers(reference_centers: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Map segments with ``centers`` onto the closest ``reference_centers`` ids (rule 2).

    Returns ``mapping`` with ``mapping[new] == ref_id``.
    """
    reference_centers = np.asarray(reference_centers, dtype=float)
    centers = np.asarray(centers, dtype=float)
    cost = ((centers[:, None, :] - reference_centers[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    n_new, n_ref = len(centers), len(reference_centers)
    return _complete_mapping(rows, cols, n_new, n_ref, np.zeros(n_new))


def _complete_mapping(
    rows: np.ndarray, cols: np.ndarray, n_new: int, n_ref: int, sizes: np.ndarray
) -> np.ndarray:
    mapping = np.full(n_new, -1, dtype=np.int64)
    mapping[rows] = cols
    unmatched = np.flatnonzero(mapping < 0)
    unmatched = unmatched[np.argsort(-sizes[unmatched], kind="stable")]
    mapping[unmatched] = n_ref + np.arange(len(unmatched))
    return mapping
