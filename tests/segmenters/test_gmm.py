"""Tests for GaussianMixtureSegmenter: BIC choice of k, recovery, stable ids, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from segmint.exceptions import ModelError
from segmint.segmenters._gmm import GaussianMixtureSegmenter

SIZES = (300, 200, 100)


def _planted(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussians with clearly unequal covariances and sizes."""
    rng = np.random.default_rng(seed)
    parts = [
        rng.multivariate_normal(
            [0.0, 0.0, 0.0], [[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0, 0, 1]], 300
        ),
        rng.multivariate_normal([7.0, 0.0, 2.0], np.diag([0.2, 2.5, 0.5]), 200),
        rng.multivariate_normal([0.0, 8.0, -2.0], np.diag([3.0, 0.3, 0.3]), 100),
    ]
    y = np.repeat(np.arange(3), SIZES)
    perm = rng.permutation(len(y))
    return np.vstack(parts)[perm], y[perm]


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, np.ndarray]:
    return _planted()


@pytest.fixture(scope="module")
def fitted(planted) -> GaussianMixtureSegmenter:
    X, _ = planted
    return GaussianMixtureSegmenter(k_range=(1, 6), random_state=0).fit(X)


def _expected_failed_checks(estimator):
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "k-means++ starts are drawn per row, so repeating rows changes the random starts "
            "(as for sklearn's KMeans), and relative weights are rescaled to n_samples for BIC"
        ),
    }


@parametrize_with_checks(
    [GaussianMixtureSegmenter(k_range=(2, 4), n_init=1, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_bic_chooses_planted_k_and_recovers_labels(planted, fitted):
    _, y = planted
    assert fitted.n_segments_ == 3
    ev = fitted.evidence_
    assert list(ev.columns) == ["k", "bic", "aic", "log_likelihood", "min_segment_share"]
    assert ev["k"].tolist() == [1, 2, 3, 4, 5, 6]
    assert int(ev.loc[ev["bic"].idxmin(), "k"]) == 3
    assert ev.loc[ev["k"] == 1, "min_segment_share"].item() == 1.0
    assert adjusted_rand_score(y, fitted.labels_) >= 0.95


def test_stable_ids_follow_size_and_all_attributes_agree(planted, fitted):
    X, _ = planted
    sizes = np.bincount(fitted.labels_, minlength=3)
    np.testing.assert_array_equal(sizes, SIZES)  # largest segment is 0
    assert np.all(np.diff(fitted.weights_) < 0)
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), fitted.labels_)
    # per-segment attributes use the same ids: segment j's mean is its members' mean
    for j in range(3):
        np.testing.assert_allclose(fitted.means_[j], X[fitted.labels_ == j].mean(axis=0), atol=0.1)
    assert fitted.covariances_.shape == (3, 3, 3)


def test_same_seed_same_labels_even_when_rows_are_shuffled(planted, fitted):
    X, _ = planted
    again = GaussianMixtureSegmenter(k_range=(1, 6), random_state=0).fit(X)
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    np.testing.assert_array_equal(again.means_, fitted.means_)
    # a different seed may find the same optimum in another raw order: ids stay the same
    other = GaussianMixtureSegmenter(k_range=(1, 6), random_state=123).fit(X)
    np.testing.assert_array_equal(other.labels_, fitted.labels_)


def test_to_dict_from_dict_round_trip_through_json(fitted):
    payload = json.loads(json.dumps(fitted.to_dict()))
    rebuilt = GaussianMixtureSegmenter.from_dict(payload)
    X_new = _planted(seed=1)[0]
    np.testing.assert_array_equal(rebuilt.predict(X_new), fitted.predict(X_new))
    np.testing.assert_array_equal(rebuilt.predict_proba(X_new), fitted.predict_proba(X_new))
    assert rebuilt.n_segments_ == 3
    assert rebuilt.get_params() == fitted.get_params()
    np.testing.assert_array_equal(rebuilt.evidence_["bic"], fitted.evidence_["bic"])


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_forced_k_for_every_covariance_type(planted, covariance_type):
    X, _ = planted
    seg = GaussianMixtureSegmenter(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert seg.n_segments_ == 3
    assert not hasattr(seg, "evidence_")
    assert seg.predict_proba(X).shape == (len(X), 3)
    rebuilt = GaussianMixtureSegmenter.from_dict(json.loads(json.dumps(seg.to_dict())))
    np.testing.assert_array_equal(rebuilt.predict(X), seg.labels_)


def test_sample_weight_moves_segment_sizes_and_is_scale_free(planted):
    X, y = planted
    base = GaussianMixtureSegmenter(3, random_state=0).fit(X)
    weight = np.where(y == 2, 5.0, 1.0)  # the smallest planted group counts five times
    heavy = GaussianMixtureSegmenter(3, random_state=0).fit(X, sample_weight=weight)
    small_id_base = np.bincount(base.labels_[y == 2]).argmax()
    small_id_heavy = np.bincount(heavy.labels_[y == 2]).argmax()
    assert base.weights_[small_id_base] == pytest.approx(100 / 600, abs=0.01)
    assert heavy.weights_[small_id_heavy] == pytest.approx(500 / 1000, abs=0.01)
    assert small_id_heavy == 0  # now the largest (weighted) segment
    scaled = GaussianMixtureSegmenter(3, random_state=0).fit(X, sample_weight=weight * 1000)
    np.testing.assert_array_equal(scaled.labels_, heavy.labels_)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_segments": 0}, "n_segments"),
        ({"covariance_type": "round"}, "covariance_type"),
        ({"k_range": (5, 2)}, "k_range"),
        ({"k_range": (0, 3)}, "k_range"),
        ({"k_range": 4}, "k_range"),
        ({"n_init": 0}, "n_init"),
        ({"reg_covar": -1.0}, "reg_covar"),
    ],
)
def test_invalid_parameters_raise_value_error(planted, params, match):
    X, _ = planted
    with pytest.raises(ValueError, match=match):
        GaussianMixtureSegmenter(**params).fit(X)


def test_data_errors_name_the_problem(planted):
    X, _ = planted
    with pytest.raises(ValueError, match="n_segments=10 but only n_samples=5"):
        GaussianMixtureSegmenter(10).fit(X[:5])
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixtureSegmenter(2).fit(
            np.where(np.arange(X.size).reshape(X.shape) == 4, np.nan, X)
        )
    with pytest.raises(ValueError, match="Negative values"):
        GaussianMixtureSegmenter(2).fit(X, sample_weight=-np.ones(len(X)))
    with pytest.raises(NotFittedError):
        GaussianMixtureSegmenter().predict(X)


def test_from_dict_rejects_foreign_payloads(fitted):
    payload = fitted.to_dict()
    with pytest.raises(ModelError, match="dict for 'GaussianMixtureSegmenter'"):
        from segmint.segmenters._lca import LatentClassSegmenter

        LatentClassSegmenter.from_dict(payload)
    with pytest.raises(ValueError, match="version"):
        GaussianMixtureSegmenter.from_dict({**payload, "version": 99})
