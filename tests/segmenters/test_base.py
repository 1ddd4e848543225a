"""What the segmenters share: candidate k, the JSON envelope, and models saved before."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from segmint.exceptions import ModelError
from segmint.segmenters._base import (
    candidate_ks,
    envelope,
    from_json_params,
    json_params,
    open_envelope,
)
from segmint.segmenters._gmm import GaussianMixtureSegmenter
from segmint.segmenters._kmeans import KMeansSegmenter
from segmint.segmenters._lca import LatentClassSegmenter
from segmint.segmenters._mixed import MixedTypeSegmenter


def test_candidate_ks_forced_range_and_clipping() -> None:
    assert candidate_ks(4, (2, 8), 10, min_k=2, name="X") == [4]
    assert candidate_ks(None, (2, 5), 100, min_k=2, name="X") == [2, 3, 4, 5]
    assert candidate_ks(None, [1, 3], 100, min_k=1, name="X") == [1, 2, 3]
    assert candidate_ks(None, (2, 8), 5, min_k=2, name="X") == [2, 3, 4, 5]
    assert candidate_ks(None, (2, 8), 5, min_k=2, name="X", max_k=4) == [2, 3, 4]
    assert candidate_ks(None, (np.int64(2), np.int64(3)), 9, min_k=2, name="X") == [2, 3]


@pytest.mark.parametrize(
    ("n_segments", "k_range", "match"),
    [
        (11, (2, 8), "X got n_segments=11 but only n_samples=10"),
        (None, (1, 4), r"'k_range' parameter of X .* 2 <= low <= high, got \(1, 4\)"),
        (None, (5, 3), "2 <= low <= high"),
        (None, (2,), "pair of integers"),
        (None, (2, 3.5), "pair of integers"),
        (None, (True, 3), "pair of integers"),
        (None, "2-5", "pair of integers"),
        (None, (12, 20), "cannot try k_range=.* n_samples=10"),
    ],
)
def test_candidate_ks_rejects(n_segments: int | None, k_range: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        candidate_ks(n_segments, k_range, 10, min_k=2, name="X")


def test_json_params_round_trip_and_unwritable_random_state() -> None:
    seg = GaussianMixtureSegmenter(k_range=(1, 4), random_state=np.random.RandomState(0))
    params = json_params(seg)
    assert params["k_range"] == [1, 4] and params["random_state"] is None
    again = from_json_params(GaussianMixtureSegmenter, json.loads(json.dumps(params)))
    assert again.k_range == (1, 4) and again.random_state is None


def test_envelope_is_checked_before_anything_is_rebuilt() -> None:
    X = np.random.default_rng(0).normal(size=(60, 2))
    seg = GaussianMixtureSegmenter(n_segments=2, random_state=0).fit(X)
    payload = envelope(seg, {"extra": 1})
    assert {k: payload[k] for k in ("format", "version", "estimator")} == {
        "format": "segmint.segmenter",
        "version": 1,
        "estimator": "GaussianMixtureSegmenter",
    }
    est, fitted = open_envelope(GaussianMixtureSegmenter, payload)
    assert fitted["extra"] == 1 and est.n_segments_ == 2 and est.n_features_in_ == 2
    for bad in (None, {**payload, "format": "other"}, {**payload, "version": 2}):
        with pytest.raises(ModelError):
            open_envelope(GaussianMixtureSegmenter, bad)
    with pytest.raises(ModelError, match="GaussianMixtureSegmenter"):
        MixedTypeSegmenter.from_dict(payload)


@pytest.mark.parametrize(
    "cls", [GaussianMixtureSegmenter, LatentClassSegmenter, MixedTypeSegmenter]
)
def test_unfitted_segmenters_refuse_to_serialise(cls: type) -> None:
    with pytest.raises(NotFittedError):
        cls().to_dict()


# Written by segmint before the envelope code moved to segmenters/_base.py.
LEGACY_GMM = {
    "estimator": "GaussianMixtureSegmenter",
    "fitted": {
        "converged_": True,
        "covariances_": [
            [0.9996895232479477, 0.9675395342462799, 0.9800601001103573],
            [1.034330150345148, 0.9238452188744879, 0.9492427356274918],
            [0.8896706645534764, 0.9633134621267448, 1.0405792803998835],
        ],
        "feature_names_in_": None,
        "log_likelihood_": -3186.461469203002,
        "means_": [
            [-1.2401383525796772, 7.790026244377359, 9.336049283533606],
            [0.9753378521483336, -1.5558061558046223, 2.894153479082072],
            [1.0265036904074756, 4.252549687087481, 1.82570507323941],
        ],
        "n_features_in_": 3,
        "n_iter_": 3,
        "n_segments_": 3,
        "weights_": [0.3333333341050324, 0.3333493854738068, 0.3333172804211609],
    },
    "format": "segmint.segmenter",
    "params": {
        "covariance_type": "diag",
        "k_range": [2, 10],
        "max_iter": 200,
        "n_init": 3,
        "n_segments": 3,
        "random_state": 0,
        "reg_covar": 1e-06,
        "tol": 0.0001,
    },
    "version": 1,
}


def test_a_model_saved_before_loads_and_is_written_back_unchanged() -> None:
    seg = GaussianMixtureSegmenter.from_dict(LEGACY_GMM)
    assert seg.covariance_type == "diag" and seg.k_range == (2, 10)
    means = np.asarray(LEGACY_GMM["fitted"]["means_"])
    np.testing.assert_array_equal(seg.predict(means), [0, 1, 2])
    assert json.loads(json.dumps(seg.to_dict())) == LEGACY_GMM


def test_kmeans_keeps_its_own_flat_layout() -> None:
    X = np.random.default_rng(1).normal(size=(80, 2))
    state = KMeansSegmenter(n_segments=2, n_init=1, random_state=0).fit(X).to_dict()
    assert state["method"] == "kmeans" and "format" not in state
    assert state["params"]["k_range"] == [2, 8]
