"""KMeansSegmenter: the estimator contract, choice of k from evidence, stable ids."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from segmint.segmenters._kmeans import KMeansSegmenter


def _expected_failures(estimator: KMeansSegmenter) -> dict[str, str]:
    return {
        # repeating a row is not the same as weighting it for k-means++ seeding (the same
        # exemption scikit-learn's own KMeans has), nor for the silhouette that chooses k
        "check_sample_weight_equivalence_on_dense_data": "k-means++ seeding and the silhouette "
        "sample differ between repeated and weighted rows",
    }


@parametrize_with_checks(
    [KMeansSegmenter(k_range=(2, 3), n_init=2, random_state=0)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_contract(estimator, check) -> None:
    check(estimator)


# (true k, cluster std, sizes) — varied k, spread and imbalance
BLOB_SCENARIOS = [
    (2, 1.0, None),
    (3, 1.0, None),
    (4, 1.0, None),
    (5, 1.0, None),
    (6, 0.8, None),
    (3, 1.5, None),
    (4, 1.8, None),
    (3, 1.0, [600, 200, 100]),
    (4, 1.0, [500, 300, 150, 80]),
    (5, 0.9, [400, 300, 200, 150, 100]),
]


def _blobs(k: int, std: float, sizes: list[int] | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n = sizes if sizes is not None else 200 * k
    centers = None
    if sizes is not None:
        centers = np.random.default_rng(seed).uniform(-10, 10, size=(k, 4))
    return make_blobs(
        n_samples=n,
        n_features=4,
        centers=centers if centers is not None else k,
        cluster_std=std,
        center_box=(-10, 10),
        random_state=seed,
    )


def test_chooses_the_right_k_in_at_least_9_of_10_blob_scenarios() -> None:
    right = []
    for i, (k, std, sizes) in enumerate(BLOB_SCENARIOS):
        X, _ = _blobs(k, std, sizes, seed=100 + i)
        found = KMeansSegmenter(k_range=(2, 8), n_init=4, random_state=0).fit(X).n_segments_
        right.append(found == k)
    assert sum(right) >= 9, list(zip(BLOB_SCENARIOS, right, strict=True))


def test_recovers_blobs_and_keeps_the_evidence_table() -> None:
    X, y = _blobs(4, 1.0, None, seed=1)
    seg = KMeansSegmenter(random_state=0).fit(X)
    assert adjusted_rand_score(y, seg.labels_) > 0.99
    ev = seg.evidence_
    assert list(ev["k"]) == list(range(2, 9))
    assert ev["chosen"].sum() == 1 and int(ev.loc[ev["chosen"], "k"].iloc[0]) == 4
    assert ev.loc[ev["chosen"], "silhouette"].iloc[0] == ev["silhouette"].max()
    assert {"calinski_harabasz", "davies_bouldin", "inertia", "min_segment_share"} <= set(ev)


def test_ids_follow_descending_size() -> None:
    X, _ = _blobs(3, 1.0, [100, 500, 250], seed=5)
    seg = KMeansSegmenter(n_segments=3, random_state=0).fit(X)
    sizes = np.bincount(seg.labels_)
    assert list(sizes) == sorted(sizes, reverse=True) == [500, 250, 100]
    np.testing.assert_array_equal(seg.predict(X), seg.labels_)


def test_same_seed_same_labels_and_centres() -> None:
    X, _ = _blobs(5, 1.5, None, seed=9)
    a = KMeansSegmenter(random_state=42).fit(X)
    b = KMeansSegmenter(random_state=42).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_min_segment_share_excludes_solutions_with_tiny_segments() -> None:
    # 3 big groups plus 6 far outliers: the best silhouette (k=4) isolates the outliers
    X, _ = make_blobs(n_samples=[300, 300, 300], centers=[[0, 0], [8, 0], [0, 8]], random_state=0)
    X = np.vstack([X, np.full((6, 2), 40.0) + np.arange(6)[:, None] * 0.01])
    unconstrained = KMeansSegmenter(k_range=(2, 5), min_segment_share=0.0, random_state=0).fit(X)
    assert unconstrained.n_segments_ == 4
    assert np.bincount(unconstrained.labels_).min() == 6
    seg = KMeansSegmenter(k_range=(2, 5), min_segment_share=0.05, random_state=0).fit(X)
    ev = seg.evidence_.set_index("k")
    assert not ev.loc[4, "admissible"] and ev.loc[4, "silhouette"] == ev["silhouette"].max()
    assert seg.n_segments_ != 4
    assert np.bincount(seg.labels_).min() / len(X) >= 0.05


def test_forced_k_is_used_as_is() -> None:
    X, _ = _blobs(3, 1.0, None, seed=2)
    seg = KMeansSegmenter(n_segments=5, random_state=0).fit(X)
    assert seg.n_segments_ == 5 and list(seg.evidence_["k"]) == [5]


def test_round_trips_through_json() -> None:
    X, _ = _blobs(4, 1.0, None, seed=3)
    seg = KMeansSegmenter(random_state=0).fit(X)
    again = KMeansSegmenter.from_dict(json.loads(json.dumps(seg.to_dict())))
    np.testing.assert_array_equal(again.predict(X), seg.predict(X))
    assert again.n_segments_ == seg.n_segments_


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"k_range": (1, 4)}, "k_range must satisfy"),
        ({"k_range": (5, 3)}, "k_range must satisfy"),
        ({"n_segments": 0}, "n_segments"),
        ({"min_segment_share": 2.0}, "min_segment_share"),
    ],
)
def test_rejects_invalid_parameters(params: dict, match: str) -> None:
    X, _ = _blobs(3, 1.0, None, seed=4)
    with pytest.raises(ValueError, match=match):
        KMeansSegmenter(**params).fit(X)
