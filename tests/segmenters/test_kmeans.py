"""KMeansSegmenter: the estimator contract, choice of k from evidence, stable ids."""

from __future__ import annotations

import json

import numpy as np
import pandas.testing as pd_testing
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_info

from segmint.segmenters._kmeans import KMeansSegmenter, _threads_for
from segmint.segmenters._kmeans_evidence import _calinski_davies, _silhouettes


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


def test_silhouette_off_gives_the_same_partition_without_the_silhouette() -> None:
    """silhouette_sample=0 (stability refits, the lift) skips only the silhouette."""
    X, _ = _blobs(4, 1.0, None, seed=5)
    on = KMeansSegmenter(n_segments=4, stability_resamples=0, random_state=3).fit(X)
    off = KMeansSegmenter(
        n_segments=4, stability_resamples=0, silhouette_sample=0, random_state=3
    ).fit(X)
    np.testing.assert_array_equal(off.labels_, on.labels_)
    np.testing.assert_array_equal(off.cluster_centers_, on.cluster_centers_)
    assert on.evidence_["silhouette"].notna().all() and off.evidence_["silhouette"].isna().all()
    kept = ["k", "calinski_harabasz", "davies_bouldin", "inertia", "min_segment_share"]
    pd_testing.assert_frame_equal(off.evidence_[kept], on.evidence_[kept])
    with pytest.raises(ValueError, match=r"silhouette_sample=0 .* n_segments"):
        KMeansSegmenter(silhouette_sample=0, random_state=3).fit(X)


def test_round_trips_through_json() -> None:
    X, _ = _blobs(4, 1.0, None, seed=3)
    seg = KMeansSegmenter(random_state=0).fit(X)
    again = KMeansSegmenter.from_dict(json.loads(json.dumps(seg.to_dict())))
    np.testing.assert_array_equal(again.predict(X), seg.predict(X))
    assert again.n_segments_ == seg.n_segments_


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"k_range": (1, 4)}, r"'k_range' .* 2 <= low <= high"),
        ({"k_range": (5, 3)}, r"'k_range' .* 2 <= low <= high"),
        ({"k_range": (2,)}, r"'k_range' .* pair of integers"),
        ({"n_segments": 0}, "n_segments"),
        ({"min_segment_share": 2.0}, "min_segment_share"),
        ({"silhouette_sample": 5}, "silhouette_sample"),
    ],
)
def test_rejects_invalid_parameters(params: dict, match: str) -> None:
    X, _ = _blobs(3, 1.0, None, seed=4)
    with pytest.raises(ValueError, match=match):
        KMeansSegmenter(**params).fit(X)


# -- many rows: k chosen on a seeded sample, the chosen solution refined on all rows ----------


@pytest.mark.parametrize(("k", "seed"), [(3, 21), (4, 20), (5, 23), (6, 21)])
def test_sampled_selection_chooses_the_k_of_the_full_data_selection(k: int, seed: int) -> None:
    X, y = make_blobs(n_samples=4000, n_features=5, centers=k, cluster_std=1.5, random_state=seed)
    params = {"k_range": (2, 7), "n_init": 3, "stability_resamples": 3, "random_state": 0}
    full = KMeansSegmenter(selection_sample=None, **params).fit(X)
    sampled = KMeansSegmenter(selection_sample=600, **params).fit(X)
    assert full.selection_sample_size_ == 4000 and sampled.selection_sample_size_ == 600
    assert sampled.n_segments_ == full.n_segments_ == k
    assert list(sampled.evidence_["k"]) == list(full.evidence_["k"])
    assert adjusted_rand_score(full.labels_, sampled.labels_) > 0.99
    assert adjusted_rand_score(y, sampled.labels_) > 0.99


def test_sampled_fit_is_deterministic_and_the_sample_follows_the_seed() -> None:
    X, _ = make_blobs(n_samples=3000, n_features=4, centers=4, cluster_std=2.5, random_state=3)
    params = {"selection_sample": 500, "n_init": 2, "stability_resamples": 2}
    a = KMeansSegmenter(random_state=11, **params).fit(X)
    b = KMeansSegmenter(random_state=11, **params).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    pd_testing.assert_frame_equal(a.evidence_, b.evidence_)
    assert a.inertia_ == b.inertia_ and a.selection_sample_size_ == 500
    other = KMeansSegmenter(random_state=12, **params).fit(X)
    assert not np.allclose(other.evidence_["inertia"], a.evidence_["inertia"])


def test_refined_solution_is_a_k_means_optimum_on_all_rows() -> None:
    X, _ = make_blobs(n_samples=5000, n_features=3, centers=3, cluster_std=2.0, random_state=8)
    seg = KMeansSegmenter(k_range=(2, 5), selection_sample=400, random_state=0).fit(X)
    assert seg.labels_.shape == (5000,)
    np.testing.assert_array_equal(seg.predict(X), seg.labels_)
    # Lloyd converged on every row: centres are their members' means, inertia is all rows'
    means = np.vstack([X[seg.labels_ == j].mean(axis=0) for j in range(seg.n_segments_)])
    np.testing.assert_allclose(seg.cluster_centers_, means, atol=1e-6)
    inertia = ((X - seg.cluster_centers_[seg.labels_]) ** 2).sum()
    assert seg.inertia_ == pytest.approx(inertia, rel=1e-9)
    # the evidence describes the sample: its inertia is about 400/5000 of all rows'
    sample_inertia = seg.evidence_.loc[seg.evidence_["chosen"], "inertia"].iloc[0]
    assert sample_inertia == pytest.approx(inertia * 400 / 5000, rel=0.2)
    sizes = np.bincount(seg.labels_)
    assert list(sizes) == sorted(sizes, reverse=True)


def test_sampled_fit_takes_weights_and_forced_k() -> None:
    X, _ = make_blobs(n_samples=2000, n_features=3, centers=3, random_state=5)
    weight = np.random.default_rng(0).uniform(0.5, 2.0, size=2000)
    seg = KMeansSegmenter(n_segments=3, selection_sample=300, random_state=0)
    seg.fit(X, sample_weight=weight)
    assert seg.n_segments_ == 3 and list(seg.evidence_["k"]) == [3]
    assert seg.selection_sample_size_ == 300 and seg.labels_.shape == (2000,)


def test_no_sampling_at_or_below_the_sample_size() -> None:
    X, _ = _blobs(3, 1.0, None, seed=2)
    seg = KMeansSegmenter(selection_sample=len(X), n_init=2, random_state=0).fit(X)
    assert seg.selection_sample_size_ == len(X)


def test_round_trip_keeps_the_selection_sample_and_old_dicts_still_load() -> None:
    X, _ = make_blobs(n_samples=1500, n_features=3, centers=3, random_state=0)
    seg = KMeansSegmenter(selection_sample=500, n_init=2, random_state=0).fit(X)
    again = KMeansSegmenter.from_dict(json.loads(json.dumps(seg.to_dict())))
    assert again.selection_sample_size_ == 500 and again.selection_sample == 500
    np.testing.assert_array_equal(again.predict(X), seg.predict(X))
    # written by segmint before selection_sample existed
    legacy = KMeansSegmenter.from_dict(LEGACY_KMEANS)
    assert legacy.selection_sample_size_ is None and legacy.selection_sample == 100_000
    assert legacy.n_segments_ == 3 and legacy.k_range == (2, 5)
    centres = np.asarray(LEGACY_KMEANS["cluster_centers"])
    np.testing.assert_array_equal(legacy.predict(centres + 0.1), [0, 1, 2])


LEGACY_KMEANS = {
    "method": "kmeans",
    "cluster_centers": [
        [-1.240138355669549, 7.79002624952307, 9.33604929735564],
        [0.9753595081396702, -1.5561019724258092, 2.8942556153730834],
        [1.0264795682948449, 4.252565797120821, 1.825654393165237],
    ],
    "evidence": [
        {
            "admissible": True,
            "calinski_harabasz": 1448.9773072166342,
            "chosen": False,
            "davies_bouldin": 0.49835190858658773,
            "inertia": 5237.772198377825,
            "k": 2,
            "min_segment_jaccard": 1.0,
            "min_segment_share": 0.3333333333333333,
            "silhouette": 0.6438173239031735,
            "stability_ari": 1.0,
            "stability_ari_high": 1.0,
            "stability_ari_low": 1.0,
        }
    ],
    "inertia": 1749.2578894154103,
    "n_features_in": 3,
    "n_iter": 3,
    "n_segments": 3,
    "params": {
        "k_range": [2, 5],
        "max_iter": 300,
        "min_segment_share": 0.02,
        "min_stability": 0.6,
        "minibatch_threshold": 200000,
        "n_init": 10,
        "n_segments": None,
        "random_state": 0,
        "silhouette_sample": 5000,
        "silhouette_tolerance": 0.1,
        "stability_resamples": 10,
        "stability_sample": 5000,
    },
    "segment_stability": None,
}


# -- the evidence computed without scikit-learn's per-segment passes ---------------------------


def _labelings(X: np.ndarray) -> list[np.ndarray]:
    labelings = [KMeans(k, n_init=1, random_state=0).fit(X).labels_ for k in (2, 3, 5)]
    odd = np.zeros(len(X), dtype=int)
    odd[:1] = 9  # a one-member segment and ids with gaps
    odd[len(X) // 3 :] = 4
    return [*labelings, odd]


def test_silhouettes_equal_sklearn_on_the_same_sample() -> None:
    X, _ = make_blobs(n_samples=3000, n_features=4, centers=4, random_state=1)
    labelings = _labelings(X)
    for size in (3000, 700):
        ours = _silhouettes(X, labelings, sample_size=size, random_state=5)
        theirs = [silhouette_score(X, lab, sample_size=size, random_state=5) for lab in labelings]
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    single = np.zeros(len(X), dtype=int)
    assert np.isnan(_silhouettes(X, [single], sample_size=100, random_state=0)[0])


def test_calinski_davies_equal_sklearn() -> None:
    X, _ = make_blobs(n_samples=2000, n_features=6, centers=3, random_state=2)
    for labels in _labelings(X):
        ch, db = _calinski_davies(X, labels)
        assert ch == pytest.approx(calinski_harabasz_score(X, labels), rel=1e-10)
        assert db == pytest.approx(davies_bouldin_score(X, labels), rel=1e-9)
    # every segment a single point: both indices degenerate
    same = np.repeat([[0.0, 1.0], [2.0, 3.0]], 50, axis=0)
    labels = np.repeat([0, 1], 50)
    assert _calinski_davies(same, labels) == (1.0, 0.0)


def test_small_work_runs_single_threaded() -> None:
    with _threads_for(5000):
        limited = {info["user_api"]: info["num_threads"] for info in threadpool_info()}
    assert set(limited.values()) == {1}
    with _threads_for(10_000_000):
        free = [info["num_threads"] for info in threadpool_info()]
    assert free == [info["num_threads"] for info in threadpool_info()]
