"""The evidence of :class:`~segmint.segmenters._kmeans.KMeansSegmenter`: every candidate k
fitted and measured, before the choice.

* :func:`_sweep` -- one k-means fit per candidate k (:func:`_kmeans`: mini-batch for many rows)
  and its row of the evidence table: silhouette, Calinski-Harabasz, Davies-Bouldin, inertia,
  explained variance, convergence, smallest segment share and bootstrap stability;
* :func:`_calinski_davies`, :func:`_silhouettes`, :func:`_total_sum_of_squares` -- the validity
  indices, each computed in one pass (the silhouettes of every k on one shared sample);
* :func:`_on_final_ids` -- the per-segment stability of the chosen k, on the final segment ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.utils import check_random_state

from segmint._logging import logger
from segmint.segmenters._ids import match_labels
from segmint.segmenters._stability import StabilityResult, bootstrap_stability

if TYPE_CHECKING:
    from segmint.segmenters._kmeans import KMeansSegmenter

_SILHOUETTE_CHUNK = 1024


def _calinski_davies(X: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Calinski-Harabasz and Davies-Bouldin indices of ``labels`` in one pass over ``X``.

    Same definitions (and degenerate-case values) as
    :func:`sklearn.metrics.calinski_harabasz_score` and
    :func:`sklearn.metrics.davies_bouldin_score`, without their per-segment passes.
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples = X.shape[0]
    _, codes = np.unique(labels, return_inverse=True)
    n_labels = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n_labels).astype(np.float64)
    sums = np.column_stack(
        [np.bincount(codes, weights=X[:, j], minlength=n_labels) for j in range(X.shape[1])]
    )
    centroids = sums / counts[:, None]
    diff = X - centroids[codes]
    sq_dist = np.einsum("ij,ij->i", diff, diff)
    within = float(sq_dist.sum())
    between = float(counts @ ((centroids - X.mean(axis=0)) ** 2).sum(axis=1))
    ch = 1.0 if within == 0.0 else between * (n_samples - n_labels) / (within * (n_labels - 1))

    scatter = np.bincount(codes, weights=np.sqrt(sq_dist), minlength=n_labels) / counts
    gaps = np.sqrt(((centroids[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(scatter, 0) or np.allclose(gaps, 0):
        return float(ch), 0.0
    gaps[gaps == 0] = np.inf
    db = float(np.mean(np.max((scatter[:, None] + scatter[None, :]) / gaps, axis=1)))
    return float(ch), db


def _total_sum_of_squares(X: np.ndarray, weights: np.ndarray | None) -> float:
    """(Weighted) sum of squared distances of the rows of ``X`` to their (weighted) mean."""
    centre = np.average(X, axis=0, weights=weights)
    squares = np.einsum("ij,ij->i", X - centre, X - centre)
    return float(squares.sum() if weights is None else squares @ weights)


def _silhouettes(
    X: np.ndarray, labelings: list[np.ndarray], *, sample_size: int, random_state: int
) -> list[float]:
    """Mean silhouette of each labelling of ``X`` on one shared random sample of rows.

    The sample is the one :func:`sklearn.metrics.silhouette_score` draws for ``sample_size``
    and ``random_state``, and each value equals that function's (up to rounding). The pairwise
    Euclidean distances of the sample are computed once, chunk by chunk, and multiplied by the
    side-by-side one-hot matrices of every labelling, which gives each row's summed distance to
    every segment of every labelling in one product. NaN where a labelling has fewer than 2 or
    as many segments as sampled rows.
    """
    rows = check_random_state(random_state).permutation(X.shape[0])[:sample_size]
    Xs = np.asarray(X[rows], dtype=np.float64)
    m = Xs.shape[0]
    codes, widths = [], []
    for labels in labelings:
        _, code = np.unique(labels[rows], return_inverse=True)
        codes.append(code)
        widths.append(int(code.max()) + 1)
    offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
    onehot = np.zeros((m, int(sum(widths))))
    for code, offset in zip(codes, offsets, strict=True):
        onehot[np.arange(m), offset + code] = 1.0
    norms = np.einsum("ij,ij->i", Xs, Xs)
    summed = np.empty_like(onehot)
    for start in range(0, m, _SILHOUETTE_CHUNK):
        stop = min(start + _SILHOUETTE_CHUNK, m)
        dist = norms[start:stop, None] - 2.0 * Xs[start:stop] @ Xs.T + norms[None, :]
        np.sqrt(np.maximum(dist, 0.0, out=dist), out=dist)
        dist[np.arange(stop - start), np.arange(start, stop)] = 0.0
        summed[start:stop] = dist @ onehot

    scores = []
    for code, width, offset in zip(codes, widths, offsets, strict=True):
        if not 1 < width < m:
            scores.append(float("nan"))
            continue
        sizes = np.bincount(code, minlength=width).astype(np.float64)
        part = summed[:, offset : offset + width]
        own = part[np.arange(m), code]
        alone = sizes[code] == 1
        within = own / np.where(alone, 1.0, sizes[code] - 1.0)
        mean_to = part / sizes[None, :]
        mean_to[np.arange(m), code] = np.inf
        nearest = mean_to.min(axis=1)
        top = np.maximum(within, nearest)
        values = np.divide(nearest - within, top, out=np.zeros(m), where=top > 0)
        values[alone] = 0.0
        scores.append(float(values.mean()))
    return scores


def _kmeans(est: KMeansSegmenter, k: int, n_samples: int, seed: int) -> KMeans | MiniBatchKMeans:
    """Mini-batch k-means from ``est.minibatch_threshold`` rows on, else k-means."""
    if n_samples >= est.minibatch_threshold:
        return MiniBatchKMeans(
            n_clusters=k,
            n_init=est.n_init,
            max_iter=est.max_iter,
            random_state=seed,
            batch_size=4096,
        )
    return KMeans(n_clusters=k, n_init=est.n_init, max_iter=est.max_iter, random_state=seed)


def _sweep(
    est: KMeansSegmenter,
    X: np.ndarray,
    weights: np.ndarray | None,
    ks: list[int],
    seed: int,
    sample_seed: int,
) -> tuple[pd.DataFrame, dict[int, KMeans | MiniBatchKMeans], dict[int, StabilityResult]]:
    """Fit every candidate k on ``X`` and tabulate the evidence (without the choice)."""
    n_samples = X.shape[0]
    rows, fits, stability = [], {}, {}
    total = None
    for k in ks:
        model = _kmeans(est, k, n_samples, seed).fit(X, sample_weight=weights)
        fits[k] = model
        if total is None:  # after the first fit, which validates the weights
            total = _total_sum_of_squares(X, weights)
        sizes = np.bincount(model.labels_, weights=weights, minlength=k)
        n_distinct = int(np.count_nonzero(np.bincount(model.labels_, minlength=k)))
        ch, db = _calinski_davies(X, model.labels_) if 1 < n_distinct < n_samples else (np.nan,) * 2
        rows.append(
            {
                "k": k,
                "calinski_harabasz": ch,
                "davies_bouldin": db,
                "inertia": float(model.inertia_),
                "explained_variance": 1.0 - float(model.inertia_) / total if total else 0.0,
                "converged": bool(model.n_iter_ < est.max_iter),
                "min_segment_share": float(sizes.min() / sizes.sum()),
            }
        )
        if est.stability_resamples > 0 and k > 1:
            result = bootstrap_stability(
                KMeans(n_clusters=k, n_init=min(est.n_init, 3), random_state=seed),
                X,
                n_resamples=est.stability_resamples,
                max_samples=est.stability_sample,
                random_state=sample_seed,
            )
            stability[k] = result
            rows[-1].update(
                stability_ari=result.ari_mean,
                stability_ari_low=result.ari_interval[0],
                stability_ari_high=result.ari_interval[1],
                min_segment_jaccard=float(result.per_segment["jaccard_mean"].min()),
            )
    if est.silhouette_sample == 0:
        silhouettes = [float("nan")] * len(ks)
    else:
        silhouettes = _silhouettes(
            X,
            [fits[k].labels_ for k in ks],
            sample_size=min(est.silhouette_sample, n_samples),
            random_state=sample_seed,
        )
    for row, silhouette in zip(rows, silhouettes, strict=True):
        row["silhouette"] = silhouette
        if est.silhouette_sample:
            logger.info("k=%d: silhouette %.3f", row["k"], silhouette)
    evidence = pd.DataFrame(rows)
    columns = ["k", "silhouette", "calinski_harabasz", "davies_bouldin", "inertia"]
    evidence = evidence[columns + [c for c in evidence.columns if c not in columns]]
    return evidence, fits, stability


def _on_final_ids(result: StabilityResult, labels: np.ndarray) -> pd.DataFrame:
    """Per-segment stability of a bootstrap run, renumbered to the final segment ids.

    The bootstrap reference fit ran on a sample; its segments are matched to the final ones by
    member overlap on that sample.
    """
    rows = result.sample_indices if result.sample_indices is not None else slice(None)
    mapping = match_labels(labels[rows], result.reference_labels)
    table = result.per_segment.copy()
    table["segment_id"] = mapping[table["segment_id"].to_numpy()]
    return table.sort_values("segment_id", ignore_index=True)
