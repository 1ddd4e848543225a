"""Tests for the evidence-accumulation consensus segmenter."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from segmint.exceptions import InputError, ModelError
from segmint.segmenters._ensemble import ConsensusSegmenter

CENTERS = [[0.0, 0.0], [9.0, 0.0], [0.0, 9.0], [9.0, 9.0]]


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    # Unequal sizes so that the size-ordered ids are unambiguous.
    X, y = make_blobs(
        n_samples=[160, 120, 90, 60], centers=CENTERS, cluster_std=1.2, random_state=3
    )
    return X, y


@pytest.fixture(scope="module")
def fitted(blobs: tuple[np.ndarray, np.ndarray]) -> ConsensusSegmenter:
    X, _ = blobs
    return ConsensusSegmenter(n_segments=4, n_seeds=4, random_state=0).fit(X)


@parametrize_with_checks(
    [ConsensusSegmenter(n_segments=3, n_seeds=2, max_samples=200, random_state=0)]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_recovers_blobs(blobs, fitted):
    X, y = blobs
    ari = adjusted_rand_score(y, fitted.labels_)
    assert ari >= 0.95, ari
    assert fitted.n_segments_ == 4
    assert fitted.n_base_solutions_ == 8  # KMeans and GaussianMixture, 4 seeds each
    assert fitted.agreement_ >= 0.9, fitted.agreement_
    assert fitted.base_agreement_.shape == (8,)
    # predict (nearest centre) agrees with the consensus labels on convex blobs
    assert np.mean(fitted.predict(X) == fitted.labels_) >= 0.99


def test_ids_follow_size_order(blobs, fitted):
    _, y = blobs
    sizes = np.bincount(fitted.labels_)
    assert list(sizes) == sorted(sizes, reverse=True)
    assert list(sizes) == sorted(np.bincount(y), reverse=True)  # [160, 120, 90, 60]
    # segment 0 is the largest planted blob (160 customers around the origin)
    assert np.abs(fitted.cluster_centers_[0]).max() < 1.0


def test_deterministic(blobs, fitted):
    X, _ = blobs
    again = ConsensusSegmenter(n_segments=4, n_seeds=4, random_state=0).fit(X)
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    np.testing.assert_array_equal(again.cluster_centers_, fitted.cluster_centers_)
    assert again.agreement_ == fitted.agreement_


def test_dict_round_trip_predicts_identically(blobs, fitted):
    X, _ = blobs
    rng = np.random.RandomState(5)
    X_new = np.vstack([X, rng.uniform(-5, 15, size=(200, 2))])
    payload = json.loads(json.dumps(fitted.to_dict()))
    restored = ConsensusSegmenter.from_dict(payload)
    np.testing.assert_array_equal(restored.predict(X_new), fitted.predict(X_new))
    np.testing.assert_array_equal(restored.cluster_centers_, fitted.cluster_centers_)
    assert restored.get_params() == fitted.get_params()
    assert restored.agreement_ == fitted.agreement_


def test_dict_round_trip_with_custom_estimators_and_feature_names(blobs):
    pd = pytest.importorskip("pandas")
    X, y = blobs
    frame = pd.DataFrame(X, columns=["recency", "frequency"])
    model = ConsensusSegmenter(
        [KMeans(n_clusters=4, n_init=1), AgglomerativeClustering(n_clusters=4)],
        n_segments=4,
        n_seeds=3,
        random_state=1,
    ).fit(frame)
    assert model.n_base_solutions_ == 4  # 3 seeded KMeans + 1 deterministic agglomerative
    assert adjusted_rand_score(y, model.labels_) >= 0.95
    restored = ConsensusSegmenter.from_dict(json.loads(json.dumps(model.to_dict())))
    assert list(restored.feature_names_in_) == ["recency", "frequency"]
    assert isinstance(restored.estimators[1], AgglomerativeClustering)
    assert restored.estimators[1].get_params() == model.estimators[1].get_params()
    np.testing.assert_array_equal(restored.predict(frame), model.predict(frame))


def test_max_samples_assigns_outsiders_by_nearest_centre(blobs):
    X, y = blobs
    model = ConsensusSegmenter(n_segments=4, n_seeds=3, max_samples=120, random_state=0).fit(X)
    assert model.labels_.shape == (X.shape[0],)
    assert adjusted_rand_score(y, model.labels_) >= 0.95
    assert set(np.unique(model.labels_)) == {0, 1, 2, 3}


def test_noise_labels_are_not_co_membership():
    # A base solution labelling everything as noise carries no evidence: the consensus then
    # comes from the KMeans solutions alone.
    class AllNoise(KMeans):
        def fit_predict(self, X, y=None, sample_weight=None):
            return np.full(len(X), -1)

    X, y = make_blobs(n_samples=150, centers=CENTERS[:3], random_state=0)
    model = ConsensusSegmenter(
        [KMeans(n_clusters=3, n_init=1), AllNoise(n_clusters=3)],
        n_segments=3,
        n_seeds=2,
        random_state=0,
    ).fit(X)
    assert adjusted_rand_score(y, model.labels_) >= 0.95
    # the all-noise solutions agree with nothing
    np.testing.assert_allclose(model.base_agreement_[2:], 0.0)


def test_too_few_samples_names_the_values():
    with pytest.raises(ValueError, match=r"n_segments=4 .* n_samples=3"):
        ConsensusSegmenter(n_segments=4).fit(np.arange(6.0).reshape(3, 2))


def test_invalid_parameters_raise():
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match="n_seeds"):
        ConsensusSegmenter(n_seeds=0).fit(X)
    with pytest.raises(InputError, match="empty list"):
        ConsensusSegmenter([]).fit(X)
    with pytest.raises(InputError, match=r"estimators\[0\]"):
        ConsensusSegmenter([object()]).fit(X)


def test_from_dict_rejects_tampered_input(fitted):
    good = fitted.to_dict()
    with pytest.raises(ModelError, match="format"):
        ConsensusSegmenter.from_dict({**good, "format": "something-else"})
    bad_centres = json.loads(json.dumps(good))
    bad_centres["fitted"]["cluster_centers"] = [[0.0, 1.0]]
    with pytest.raises(ModelError, match="shape"):
        ConsensusSegmenter.from_dict(bad_centres)
    foreign = json.loads(json.dumps(good))
    foreign["params"]["estimators"] = [{"class": "os.system", "params": {}}]
    with pytest.raises(ModelError, match="refusing"):
        ConsensusSegmenter.from_dict(foreign)
    missing = json.loads(json.dumps(good))
    del missing["fitted"]["n_features_in"]
    with pytest.raises(ModelError, match="invalid"):
        ConsensusSegmenter.from_dict(missing)


def test_to_dict_refuses_unserialisable_settings(blobs):
    X, _ = blobs
    model = ConsensusSegmenter(n_segments=2, n_seeds=1, random_state=np.random.RandomState(0))
    model.fit(X)
    with pytest.raises(InputError, match="random_state"):
        model.to_dict()
    init = np.array([[0.0, 0.0], [9.0, 9.0]])
    model = ConsensusSegmenter([KMeans(2, init=init, n_init=1)], n_segments=2, n_seeds=1)
    model.fit(X)
    with pytest.raises(InputError, match="JSON"):
        model.to_dict()
