"""k-selection sweep with stability on many customers, against a plain scikit-learn sweep.

segmint: ``KMeansSegmenter`` over k = 2..8 with silhouette (sample), Calinski-Harabasz,
Davies-Bouldin, minimum share and bootstrap stability per k, 10 k-means++ starts per k. Above
100,000 rows k is chosen on a seeded 100,000-row sample and the chosen solution is refined on all
rows (``selection_rows`` in the result says how many rows chose k).
Baseline: what a user writes today, ``sklearn.cluster.KMeans(n_clusters=k)`` for each k on the
full data with default settings (one k-means++ start), keeping the inertia for an elbow plot.

Run ``python benchmarks/bench_segment.py [n_customers]`` (default 100,000). The machine has 2
cores that other processes may share: compare runs made back to back, not across sessions.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from segmint.segmenters._kmeans import KMeansSegmenter

K_RANGE = (2, 8)


def _data(n_customers: int, n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(
        n_samples=n_customers,
        n_features=n_features,
        centers=5,
        cluster_std=2.0,
        center_box=(-10, 10),
        random_state=seed,
    )
    return X.astype(np.float64), y


def run_segmint(n_customers: int = 1_000_000, n_features: int = 12, seed: int = 7) -> list[dict]:
    """Time segmint's k sweep with stability; returns one result row."""
    X, y = _data(n_customers, n_features, seed)
    start = time.perf_counter()
    seg = KMeansSegmenter(k_range=K_RANGE, random_state=seed).fit(X)
    wall = time.perf_counter() - start
    return [
        {
            "benchmark": "k sweep with stability (segmint)",
            "size": f"{n_customers:,} customers x {n_features} features",
            "wall_s": round(wall, 2),
            "chosen_k": seg.n_segments_,
            "ari_vs_truth": round(adjusted_rand_score(y, seg.labels_), 4),
            "selection_rows": seg.selection_sample_size_,
            "criteria": "silhouette, CH, DB, min share, bootstrap ARI/Jaccard",
        }
    ]


def run_baseline(n_customers: int = 1_000_000, n_features: int = 12, seed: int = 7) -> list[dict]:
    """Time a plain scikit-learn KMeans sweep over the same k range; returns one result row."""
    X, _ = _data(n_customers, n_features, seed)
    start = time.perf_counter()
    inertia = {k: KMeans(n_clusters=k, random_state=seed).fit(X).inertia_ for k in range(2, 9)}
    wall = time.perf_counter() - start
    return [
        {
            "benchmark": "k sweep, plain scikit-learn KMeans (baseline)",
            "size": f"{n_customers:,} customers x {n_features} features",
            "wall_s": round(wall, 2),
            "chosen_k": None,
            "criteria": f"inertia only ({len(inertia)} fits; k left to the eye)",
        }
    ]


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for row in run_segmint(n) + run_baseline(n):
        print(row)
