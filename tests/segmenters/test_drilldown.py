"""Tests for hierarchical drill-down into one segment."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from segmint.exceptions import InputError
from segmint.segmenters._drilldown import DrillDownSegmenter, drill_down
from segmint.segmenters._ensemble import ConsensusSegmenter

# Group "A" around the origin hides two planted sub-groups 3 apart; B and C are 10 away, so a
# 3-segment top level keeps A in one piece.
SUB_CENTRES = {"A0": (-1.5, 0.0), "A1": (1.5, 0.0), "B": (10.0, 0.0), "C": (0.0, 10.0)}
SIZES = {"A0": 90, "A1": 60, "B": 100, "C": 80}


def _sample(seed: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    parts, tags = [], []
    for tag, centre in SUB_CENTRES.items():
        n = max(1, round(SIZES[tag] * scale))
        parts.append(rng.normal(centre, 0.4, size=(n, 2)))
        tags += [tag] * n
    return np.vstack(parts), np.array(tags)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return _sample(0)


@pytest.fixture(scope="module")
def top(data) -> KMeans:
    X, _ = data
    return KMeans(3, n_init=10, random_state=0).fit(X)


def _segment_of(labels: np.ndarray, tags: np.ndarray, tag: str) -> int:
    values, counts = np.unique(labels[tags == tag], return_counts=True)
    return int(values[np.argmax(counts)])


@pytest.fixture(scope="module")
def split(data, top) -> tuple[DrillDownSegmenter, int]:
    X, tags = data
    a_id = _segment_of(top.labels_, tags, "A0")
    assert a_id == _segment_of(top.labels_, tags, "A1")  # the top level did not split A
    model = DrillDownSegmenter(top, segment_id=a_id, random_state=0).fit(X)
    return model, a_id


def test_recovers_planted_subgroups(data, split):
    _, tags = data
    model, a_id = split
    in_a = np.isin(tags, ["A0", "A1"])
    assert adjusted_rand_score(tags[in_a], model.labels_[in_a]) >= 0.9
    # the larger sub-group (A0, 90 customers) is child 0 and keeps the parent's id
    assert _segment_of(model.labels_, tags, "A0") == a_id
    assert _segment_of(model.labels_, tags, "A1") == 3


def test_other_segments_untouched(top, split):
    model, a_id = split
    outside = top.labels_ != a_id
    np.testing.assert_array_equal(model.labels_[outside], top.labels_[outside])
    assert set(np.unique(model.labels_[~outside])) == {a_id, 3}


def test_parent_mapping_and_names(split):
    model, a_id = split
    assert model.n_segments_ == 4
    expected_parent = [0, 1, 2, a_id]
    np.testing.assert_array_equal(model.parent_, expected_parent)
    assert model.segment_names_[a_id] == f"{a_id}.0"
    assert model.segment_names_[3] == f"{a_id}.1"
    others = [i for i in range(3) if i != a_id]
    assert [model.segment_names_[i] for i in others] == [str(i) for i in others]


def test_predict_routes_new_customers(split):
    model, a_id = split
    X_new, tags_new = _sample(1, scale=0.3)
    predicted = model.predict(X_new)
    expected = {"A0": a_id, "A1": 3}
    top_pred = model.parent_model_.predict(X_new)
    for tag in ("B", "C"):
        expected[tag] = _segment_of(top_pred, tags_new, tag)
    wanted = np.array([expected[t] for t in tags_new])
    assert np.mean(predicted == wanted) >= 0.99
    # customers outside the split segment get exactly the parent's prediction
    outside = top_pred != a_id
    np.testing.assert_array_equal(predicted[outside], top_pred[outside])


def test_predict_on_training_data_matches_labels(data, split):
    X, _ = data
    model, _ = split
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_parent_is_never_refitted(data, top, split):
    model, _ = split
    np.testing.assert_array_equal(model.parent_model_.cluster_centers_, top.cluster_centers_)
    assert model.parent_model_ is not top


def test_nested_drill_down_names(data, split):
    X, tags = data
    model, a_id = split
    b_id = _segment_of(model.labels_, tags, "B")
    nested = DrillDownSegmenter(model, segment_id=b_id, random_state=0).fit(X)
    assert nested.n_segments_ == 5
    assert nested.segment_names_[b_id] == f"{b_id}.0"
    assert nested.segment_names_[4] == f"{b_id}.1"
    assert nested.segment_names_[3] == f"{a_id}.1"  # inherited from the first drill-down
    np.testing.assert_array_equal(nested.parent_, [0, 1, 2, 3, b_id])
    keep = model.labels_ != b_id
    np.testing.assert_array_equal(nested.labels_[keep], model.labels_[keep])
    np.testing.assert_array_equal(nested.predict(X), nested.labels_)


@pytest.mark.parametrize(
    "parent",
    [
        GaussianMixture(3, random_state=0),
        ConsensusSegmenter(n_segments=3, n_seeds=2, random_state=0),
    ],
    ids=["gaussian-mixture", "consensus"],
)
def test_any_fitted_segmenter_with_predict_is_a_parent(data, parent):
    X, tags = data
    parent = parent.fit(X)
    parent_labels = parent.predict(X)
    a_id = _segment_of(parent_labels, tags, "A0")
    model = DrillDownSegmenter(
        parent, segment_id=a_id, estimator=GaussianMixture(2), random_state=0
    ).fit(X)
    in_a = np.isin(tags, ["A0", "A1"])
    assert adjusted_rand_score(tags[in_a], model.labels_[in_a]) >= 0.9
    np.testing.assert_array_equal(
        model.labels_[parent_labels != a_id], parent_labels[parent_labels != a_id]
    )


def test_parent_labels_override(data, top):
    X, tags = data
    a_id = _segment_of(top.labels_, tags, "A0")
    fake = top.labels_.copy()
    fake[:5] = (a_id + 1) % 3  # pretend the training labels differ from predict on 5 rows
    model = DrillDownSegmenter(top, segment_id=a_id, random_state=0).fit(X, parent_labels=fake)
    np.testing.assert_array_equal(model.labels_[:5], fake[:5])


def test_drill_down_function_by_hand():
    labels = np.array([0, 0, 0, 0, 1, 1])
    X = np.array([[0.0], [0.1], [0.2], [10.0], [50.0], [51.0]])
    result = drill_down(labels, X, 0, KMeans(2, n_init=10), random_state=0)
    # children of 0: {0, 0.1, 0.2} (3 members, keeps id 0) and {10} (1 member, new id 2)
    np.testing.assert_array_equal(result.labels, [0, 0, 0, 2, 1, 1])
    np.testing.assert_array_equal(result.parent, [0, 1, 0])
    assert result.names == ["0.0", "1", "0.1"]
    assert result.segment_id == 0
    np.testing.assert_array_equal(
        result.child_ids[result.child_estimator.predict(np.array([[0.05], [9.0]]))], [0, 2]
    )


def test_errors_name_the_problem(data, top):
    X, _ = data
    with pytest.raises(InputError, match=r"(?s)segment_id=7 .*existing segment ids \[0, 1, 2\]"):
        drill_down(top.labels_, X, 7)
    with pytest.raises(InputError, match="at least 2"):
        drill_down(np.array([0, 0, 1]), np.zeros((3, 2)), 1)
    with pytest.raises(InputError, match="shape"):
        drill_down(top.labels_[:-1], X, 0)
    with pytest.raises(NotFittedError, match="parent_model"):
        DrillDownSegmenter(KMeans(3), segment_id=0).fit(X)
    with pytest.raises(ValueError, match="estimator"):
        DrillDownSegmenter(top, segment_id=0, estimator=AgglomerativeClustering(2)).fit(X)
    with pytest.raises(ValueError, match="segment_id"):
        DrillDownSegmenter(top, segment_id=-1).fit(X)
    with pytest.raises(NotFittedError):
        DrillDownSegmenter(top, segment_id=0).predict(X)
