"""Tests for bootstrap stability (Hennig's clusterboot) and id alignment."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import make_blobs

from segmint.exceptions import InputError
from segmint.segmenters._stability import (
    StabilityResult,
    align_to_reference,
    best_jaccard,
    bootstrap_stability,
    verdict,
)


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(
        n_samples=[150, 100, 70],
        centers=[[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]],
        cluster_std=1.0,
        random_state=0,
    )


@pytest.fixture(scope="module")
def disc() -> np.ndarray:
    """300 points uniform on the unit disc: no cluster structure at all."""
    rng = np.random.RandomState(0)
    angle = rng.uniform(0.0, 2.0 * np.pi, 300)
    radius = np.sqrt(rng.uniform(0.0, 1.0, 300))
    return np.c_[radius * np.cos(angle), radius * np.sin(angle)]


@pytest.fixture(scope="module")
def stable_result(blobs) -> StabilityResult:
    X, _ = blobs
    return bootstrap_stability(KMeans(3, n_init=2), X, n_resamples=8, random_state=0)


@pytest.fixture(scope="module")
def wrong_k_result(disc) -> StabilityResult:
    return bootstrap_stability(KMeans(5, n_init=2), disc, n_resamples=8, random_state=0)


# -- hand-computed Jaccard -----------------------------------------------------------------------


def test_best_jaccard_by_hand():
    reference = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    labels = np.array([5, 5, 5, 7, 7, 7, 5, 9, 9, -1])
    # Segment 0 = {0,1,2,3}: with D5 = {0,1,2,6}: |∩| = 3, |∪| = 5 -> 0.6
    #                        with D7 = {3,4,5}:   |∩| = 1, |∪| = 6 -> 1/6      best 0.6
    # Segment 1 = {4,5,6}:   with D7: |∩| = 2 ({4,5}), |∪| = 4 ({3,4,5,6}) -> 0.5
    #                        with D5: |∩| = 1, |∪| = 6 -> 1/6               best 0.5
    # Segment 2 = {7,8,9}:   with D9 = {7,8}: 2/3; point 9 is noise (-1), never a partner
    ids, jac = best_jaccard(reference, labels)
    np.testing.assert_array_equal(ids, [0, 1, 2])
    np.testing.assert_allclose(jac, [0.6, 0.5, 2.0 / 3.0])


def test_best_jaccard_weighted_and_noise_is_not_a_partner():
    reference = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    labels = np.array([5, 5, 5, 7, 7, 7, 5, 9, 9, -1])
    weight = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 3], dtype=float)
    # Segment 2 now weighs 1 + 1 + 3 = 5; with D9 (weight 2): 2 / 5 = 0.4. The noise "segment"
    # would score 3 / 5 = 0.6 if it were (wrongly) allowed as a partner.
    _, jac = best_jaccard(reference, labels, sample_weight=weight)
    np.testing.assert_allclose(jac, [0.6, 0.5, 0.4])


def test_best_jaccard_identical_and_permuted_partitions():
    reference = np.array([0, 0, 1, 1, 2, 2])
    _, jac = best_jaccard(reference, np.array([2, 2, 0, 0, 1, 1]))
    np.testing.assert_allclose(jac, 1.0)
    with pytest.raises(ValueError, match="equal length"):
        best_jaccard(reference, reference[:-1])


def test_verdict_thresholds():
    assert [verdict(v) for v in (0.9, 0.85, 0.84, 0.6, 0.59)] == [
        "stable",
        "stable",
        "patterns",
        "patterns",
        "unstable",
    ]


# -- bootstrap stability --------------------------------------------------------------------------


def test_true_k_on_blobs_is_stable(stable_result):
    assert stable_result.ari_mean >= 0.95
    assert stable_result.ari_interval[0] >= 0.95
    table = stable_result.per_segment
    assert list(table["segment_id"]) == [0, 1, 2]
    assert sorted(table["size"]) == [70.0, 100.0, 150.0]
    assert (table["verdict"] == "stable").all()
    assert (table["jaccard_low"] >= 0.95).all()
    assert (table["dissolved_share"] == 0.0).all()
    assert (table["n_evaluated"] == 8).all()
    assert stable_result.all_stable


def test_wrong_k_on_structureless_data_is_unstable(stable_result, wrong_k_result):
    # Measured: ARI about 0.65 (interval about 0.41 .. 0.87), segment Jaccard means 0.57 .. 0.73.
    assert wrong_k_result.ari_mean <= 0.8
    assert stable_result.ari_mean - wrong_k_result.ari_mean >= 0.2
    assert wrong_k_result.ari_interval[0] <= 0.6
    table = wrong_k_result.per_segment
    assert len(table) == 5
    assert (table["verdict"] != "stable").any()
    assert table["jaccard_mean"].max() < 0.85
    assert table["dissolved_share"].max() > 0.0
    assert not wrong_k_result.all_stable


def test_subsampling_also_separates_the_two_cases(blobs, disc):
    X, _ = blobs
    good = bootstrap_stability(
        KMeans(3, n_init=2), X, n_resamples=5, method="subsample", random_state=1
    )
    bad = bootstrap_stability(
        KMeans(5, n_init=2), disc, n_resamples=5, method="subsample", random_state=1
    )
    assert good.sample_fraction == 0.5
    assert good.ari_mean >= 0.95 and good.all_stable
    assert good.ari_mean - bad.ari_mean >= 0.15
    assert not bad.all_stable


def test_same_random_state_gives_identical_result(disc, wrong_k_result):
    again = bootstrap_stability(KMeans(5, n_init=2), disc, n_resamples=8, random_state=0)
    assert again == wrong_k_result
    np.testing.assert_array_equal(again.ari_values, wrong_k_result.ari_values)
    other = bootstrap_stability(KMeans(5, n_init=2), disc, n_resamples=8, random_state=1)
    assert other != wrong_k_result
    assert not np.array_equal(other.ari_values, wrong_k_result.ari_values)


def test_estimator_is_not_modified(blobs):
    X, _ = blobs
    estimator = KMeans(3, n_init=2)
    bootstrap_stability(estimator, X, n_resamples=2, random_state=0)
    assert estimator.random_state is None
    assert not hasattr(estimator, "labels_")


def test_reference_keeps_the_estimators_own_seed(blobs):
    # With random_state set on the estimator, the reference is exactly the user's segmentation.
    X, _ = blobs
    estimator = KMeans(3, n_init=1, random_state=42)
    result = bootstrap_stability(estimator, X, n_resamples=2, random_state=0)
    np.testing.assert_array_equal(result.reference_labels, estimator.fit_predict(X))


def test_to_dict_is_json(wrong_k_result):
    payload = wrong_k_result.to_dict()
    text = json.dumps(payload, allow_nan=False)
    back = json.loads(text)
    assert back["n_resamples"] == 8
    assert back["method"] == "bootstrap"
    assert len(back["per_segment"]) == 5
    assert set(back["per_segment"][0]) >= {
        "segment_id",
        "jaccard_mean",
        "jaccard_low",
        "jaccard_high",
        "dissolved_share",
        "verdict",
    }
    assert back["ari_mean"] == pytest.approx(wrong_k_result.ari_mean)


def test_max_samples_subsamples_once(blobs):
    X, _ = blobs
    result = bootstrap_stability(
        KMeans(3, n_init=2), X, n_resamples=3, max_samples=120, random_state=0
    )
    assert result.n_samples == 120
    assert result.reference_labels.shape == (120,)
    assert result.sample_indices is not None
    assert result.sample_indices.shape == (120,)
    assert np.all(np.diff(result.sample_indices) > 0)
    assert result.per_segment["size"].sum() == 120
    assert result.all_stable


def test_sample_weight_is_forwarded_and_weighs_sizes(blobs):
    X, _ = blobs
    weight = np.ones(X.shape[0])
    weight[:10] = 5.0
    result = bootstrap_stability(
        KMeans(3, n_init=2), X, n_resamples=3, sample_weight=weight, random_state=0
    )
    assert result.per_segment["size"].sum() == pytest.approx(weight.sum())
    assert result.all_stable
    with pytest.raises(ValueError, match="sample_weight"):
        bootstrap_stability(
            AgglomerativeClustering(3), X, n_resamples=2, sample_weight=weight, random_state=0
        )


def test_deterministic_estimator_without_random_state(blobs):
    X, _ = blobs
    result = bootstrap_stability(AgglomerativeClustering(3), X, n_resamples=3, random_state=0)
    assert result.ari_mean >= 0.95
    assert result.all_stable


def test_invalid_arguments_raise(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="sample_fraction < 1"):
        bootstrap_stability(KMeans(3), X, method="subsample", sample_fraction=1.0)
    with pytest.raises(ValueError, match="method"):
        bootstrap_stability(KMeans(3), X, method="jackknife")
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_stability(KMeans(3), X, n_resamples=0)
    with pytest.raises(ValueError, match="resamples of 1 rows"):
        bootstrap_stability(KMeans(1), X[:4], sample_fraction=0.2)
    with pytest.raises(ValueError, match="fit_predict"):
        bootstrap_stability(object(), X)


# -- id alignment ---------------------------------------------------------------------------------


def test_bootstrap_refit_ids_align_with_reference(blobs):
    X, _ = blobs
    reference = KMeans(3, n_init=1, random_state=0).fit_predict(X)
    rng = np.random.RandomState(7)
    permuted_seen = False
    for seed in range(6):
        rows = rng.randint(0, X.shape[0], size=X.shape[0])
        labels = KMeans(3, n_init=1, random_state=100 + seed).fit_predict(X[rows])
        raw_agreement = np.mean(labels == reference[rows])
        permuted_seen |= raw_agreement < 0.5
        aligned = align_to_reference(reference[rows], labels)
        assert np.mean(aligned == reference[rows]) >= 0.99
    # the refits did number the segments differently, so the alignment did real work
    assert permuted_seen


def test_align_to_reference_by_hand():
    reference = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    labels = np.array([4, 4, 4, 0, 0, 1, 1, 3])
    # 4 -> 0, 0 -> 1, 1 -> 2 (overlap 2); 3 overlaps segment 2 by one member only but 1 wins,
    # so the unmatched segment 3 gets the next free id after the reference's largest (3).
    np.testing.assert_array_equal(align_to_reference(reference, labels), [0, 0, 0, 1, 1, 2, 2, 3])


def test_align_to_reference_keeps_noise():
    reference = np.array([0, 0, 1, 1, -1, 1])
    labels = np.array([1, 1, 0, -1, 0, 0])
    np.testing.assert_array_equal(align_to_reference(reference, labels), [0, 0, 1, -1, 1, 1])
    with pytest.raises(InputError, match="integer"):
        align_to_reference(reference.astype(float), labels)
