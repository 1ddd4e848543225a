"""Tests for LatentClassSegmenter: recovery, BIC, missing answers, survey weights, ids."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.estimator_checks import parametrize_with_checks

from segmint.segmenters._lca import LatentClassSegmenter

N_ITEMS = 15
SIZES = (0.7, 0.2, 0.1)


def true_item_probabilities() -> np.ndarray:
    """P(answer | class) of shape (3 classes, N_ITEMS, 5 Likert levels)."""
    p = np.zeros((3, N_ITEMS, 5))
    p[0, :] = [0.05, 0.20, 0.50, 0.20, 0.05]  # moderates: around the middle
    p[1, : N_ITEMS // 2] = [0.02, 0.03, 0.10, 0.35, 0.50]  # enthusiasts on the first half
    p[1, N_ITEMS // 2 :] = 0.2  # ... indifferent on the rest
    p[2, :] = [0.45, 0.05, 0.00, 0.05, 0.45]  # polarised: extremes, same mean as moderates
    return p


def make_survey(
    seed: int = 0, n: int = 1500, missing: float = 0.1
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Likert answers (1-5) of three unequal classes; returns (with missing, complete, class)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=SIZES)
    cum = true_item_probabilities().cumsum(axis=-1)
    answers = (rng.random((n, N_ITEMS))[:, :, None] > cum[y]).sum(axis=-1) + 1.0
    complete = pd.DataFrame(answers, columns=[f"q{j:02d}" for j in range(N_ITEMS)])
    with_missing = complete.mask(rng.random(answers.shape) < missing)
    return with_missing, complete, y


def majority_map(y: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """Estimated class id that holds most of each true class."""
    return {c: int(np.bincount(labels[y == c]).argmax()) for c in np.unique(y)}


@pytest.fixture(scope="module")
def survey():
    return make_survey()


@pytest.fixture(scope="module")
def chosen(survey) -> LatentClassSegmenter:
    X, _, _ = survey
    return LatentClassSegmenter(k_range=(1, 5), random_state=0).fit(X)


def _expected_failed_checks(estimator):
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "random starts are drawn per row, so repeating rows changes them"
        ),
        "check_clustering": (
            "LCA models categorical answers; the check clusters continuous blobs, where every "
            "value is its own answer level"
        ),
    }


# Any 2-D array-like is accepted (each column's distinct values are its answer levels), so
# the suite runs on numeric arrays; NaN is a missing answer (allow_nan tag).
@parametrize_with_checks(
    [LatentClassSegmenter(k_range=(2, 3), n_init=2, max_iter=50, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_recovers_answer_patterns_where_one_hot_kmeans_fails(survey):
    X, _, y = survey
    ours = LatentClassSegmenter(n_segments=3, random_state=0).fit(X)
    ari_ours = adjusted_rand_score(y, ours.labels_)
    # one-hot with a missing answer as its own level (OneHotEncoder's default)
    dummies = OneHotEncoder(sparse_output=False).fit_transform(X)
    ari_kmeans = adjusted_rand_score(y, KMeans(3, n_init=10, random_state=0).fit_predict(dummies))
    # one-hot after most-frequent imputation
    imputed = SimpleImputer(strategy="most_frequent").fit_transform(X)
    dummies_imp = OneHotEncoder(sparse_output=False).fit_transform(imputed)
    ari_imp = adjusted_rand_score(y, KMeans(3, n_init=10, random_state=0).fit_predict(dummies_imp))
    # measured: ours 0.946; k-means 0.418 (NaN as a level) and 0.405 (mode-imputed): it
    # splits the 70 % class instead of isolating the 10 % one. Over data seeds 0-5: ours
    # 0.946-0.966, k-means 0.408-0.421 / 0.391-0.407. (On the same answers without holes,
    # k-means gets 0.94-0.96 for four seeds out of six and 0.42 for two.)
    assert ari_ours >= 0.9
    assert ari_kmeans <= 0.6
    assert ari_imp <= 0.6


def test_bic_chooses_three_classes(survey, chosen):
    _, _, y = survey
    assert chosen.n_segments_ == 3
    ev = chosen.evidence_
    assert list(ev.columns) == ["k", "log_likelihood", "bic", "aic", "entropy", "min_segment_share"]
    assert ev["k"].tolist() == [1, 2, 3, 4, 5]
    assert int(ev.loc[ev["bic"].idxmin(), "k"]) == 3
    assert np.isnan(ev.loc[ev["k"] == 1, "entropy"].item())
    assert ((ev["entropy"].dropna() > 0) & (ev["entropy"].dropna() <= 1)).all()
    assert ev.loc[ev["k"] == 3, "entropy"].item() > 0.8  # well separated classes
    assert ev["log_likelihood"].is_monotonic_increasing
    assert adjusted_rand_score(y, chosen.labels_) >= 0.9


def test_stable_ids_and_fitted_attributes(survey, chosen):
    X, _, y = survey
    assert np.all(np.diff(chosen.weights_) < 0)  # id 0 = largest class
    np.testing.assert_allclose(chosen.weights_, SIZES, atol=0.03)
    assert majority_map(y, chosen.labels_) == {0: 0, 1: 1, 2: 2}
    proba = chosen.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), chosen.labels_)
    np.testing.assert_array_equal(chosen.predict(X), chosen.labels_)
    assert chosen.categories_ == [[1.0, 2.0, 3.0, 4.0, 5.0]] * N_ITEMS
    assert len(chosen.item_probabilities_) == N_ITEMS
    for j, probs in enumerate(chosen.item_probabilities_):
        assert probs.shape == (3, 5)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0)
        # what an oracle knowing the true classes would estimate from the same answers
        answers = X.iloc[:, j]
        oracle = np.array(
            [
                answers[y == c].value_counts(normalize=True).reindex(range(1, 6), fill_value=0)
                for c in range(3)
            ]
        )
        np.testing.assert_allclose(probs, oracle, atol=0.05)


def test_same_seed_gives_identical_labels(survey, chosen):
    X, _, _ = survey
    again = LatentClassSegmenter(k_range=(1, 5), random_state=0).fit(X)
    np.testing.assert_array_equal(again.labels_, chosen.labels_)
    pd.testing.assert_frame_equal(again.evidence_, chosen.evidence_)
    other = LatentClassSegmenter(n_segments=3, random_state=99).fit(X)
    np.testing.assert_array_equal(other.labels_, chosen.labels_)  # same optimum, same ids


def test_missing_answers_do_not_bias_recovery(survey):
    X_missing, X_complete, y = survey
    assert 0.08 < X_missing.isna().to_numpy().mean() < 0.12
    full = LatentClassSegmenter(n_segments=3, random_state=0).fit(X_complete)
    holes = LatentClassSegmenter(n_segments=3, random_state=0).fit(X_missing)
    assert adjusted_rand_score(y, full.labels_) >= 0.9
    assert adjusted_rand_score(y, holes.labels_) >= 0.9
    np.testing.assert_allclose(holes.weights_, full.weights_, atol=0.02)
    for p_full, p_holes in zip(full.item_probabilities_, holes.item_probabilities_, strict=True):
        np.testing.assert_allclose(p_holes, p_full, atol=0.05)
    # a respondent who answered nothing gets the class sizes as posterior
    blank = X_missing.iloc[[0]].copy()
    blank.loc[:, :] = np.nan
    np.testing.assert_allclose(holes.predict_proba(blank)[0], holes.weights_)


def test_survey_weights_move_class_sizes(survey):
    X, _, y = survey
    plain = LatentClassSegmenter(n_segments=3, random_state=0).fit(X)
    weight = np.where(y == 2, 3.0, 1.0)  # the polarised 10 % are under-sampled 3:1
    weighted = LatentClassSegmenter(n_segments=3, random_state=0).fit(X, sample_weight=weight)
    polar_plain = plain.weights_[majority_map(y, plain.labels_)[2]]
    polar_weighted = weighted.weights_[majority_map(y, weighted.labels_)[2]]
    share = np.bincount(y, minlength=3) * np.array([1.0, 1.0, 3.0])
    expected = share[2] / share.sum()  # about 0.25
    assert polar_plain == pytest.approx(np.mean(y == 2), abs=0.02)
    assert polar_weighted == pytest.approx(expected, abs=0.03)
    assert polar_weighted > polar_plain + 0.1
    scaled = LatentClassSegmenter(n_segments=3, random_state=0).fit(X, sample_weight=weight * 7)
    np.testing.assert_allclose(scaled.weights_, weighted.weights_, rtol=1e-6)


def test_to_dict_round_trip_and_unseen_answers(survey, chosen):
    X, _, _ = survey
    rebuilt = LatentClassSegmenter.from_dict(json.loads(json.dumps(chosen.to_dict())))
    np.testing.assert_array_equal(rebuilt.predict(X), chosen.labels_)
    np.testing.assert_array_equal(rebuilt.predict_proba(X), chosen.predict_proba(X))
    pd.testing.assert_frame_equal(rebuilt.evidence_, chosen.evidence_)
    new, _, _ = make_survey(seed=8, n=200)
    unseen = new.copy()
    unseen.iloc[:, 0] = 9.0  # an answer level never seen in training ...
    as_missing = new.copy()
    as_missing.iloc[:, 0] = np.nan  # ... counts as a missing answer
    np.testing.assert_allclose(rebuilt.predict_proba(unseen), chosen.predict_proba(as_missing))


def test_string_answers_and_numpy_input():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 400)
    agree = np.where(rng.random((400, 8)) < 0.85, y[:, None], 1 - y[:, None])
    words = np.where(agree == 1, "agree", "disagree").astype(object)
    words[rng.random(words.shape) < 0.1] = None
    seg = LatentClassSegmenter(n_segments=2, random_state=0).fit(words)
    assert seg.categories_ == [["agree", "disagree"]] * 8
    assert adjusted_rand_score(y, seg.labels_) >= 0.9
    rebuilt = LatentClassSegmenter.from_dict(json.loads(json.dumps(seg.to_dict())))
    np.testing.assert_array_equal(rebuilt.predict(words), seg.labels_)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_segments": 0}, "n_segments"),
        ({"k_range": (0, 3)}, "k_range"),
        ({"k_range": (3, 2)}, "k_range"),
        ({"k_range": "2-5"}, "k_range"),
        ({"n_init": 0}, "n_init"),
        ({"tol": -1.0}, "tol"),
    ],
)
def test_invalid_parameters_raise_value_error(survey, params, match):
    X, _, _ = survey
    with pytest.raises(ValueError, match=match):
        LatentClassSegmenter(**params).fit(X.head(40))


def test_data_errors(survey):
    X, _, _ = survey
    with pytest.raises(ValueError, match="n_segments=50 but only n_samples=20"):
        LatentClassSegmenter(n_segments=50).fit(X.head(20))
    with pytest.raises(ValueError, match="Negative values"):
        LatentClassSegmenter(n_segments=2).fit(X.head(20), sample_weight=-np.ones(20))
    with pytest.raises(NotFittedError):
        LatentClassSegmenter().predict_proba(X)
    fitted = LatentClassSegmenter(n_segments=2, n_init=2, random_state=0).fit(X.head(100))
    with pytest.raises(ValueError, match="feature names should match"):
        fitted.predict(X.iloc[:5, :4])
    on_array = LatentClassSegmenter(n_segments=2, n_init=2, random_state=0).fit(X.head(100).values)
    with pytest.raises(ValueError, match="expecting 15 features"):
        on_array.predict(X.iloc[:5, :4].to_numpy())
