"""Tests for MixedTypeSegmenter (k-prototypes on mixed numeric + categorical data)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from segmint.exceptions import InputError
from segmint.segmenters._mixed import MixedTypeSegmenter

PLANTED = [
    ("plan", ["basic", "plus", "premium", "family"]),
    ("channel", ["store", "web", "app", "phone"]),
    ("payment", ["card", "invoice", "paypal", "debit"]),
    ("contract", ["monthly", "yearly", "prepaid", "business"]),
]
CATEGORICAL = ["plan", "channel", "payment", "contract", "newsletter", "complaint", "store"]
NUMERIC = ["tenure_years", "orders_per_year", "age", "log_spend"]


def make_customers(seed: int = 0, n: int = 1000) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers whose three segments live in the categorical columns.

    Segment s (sizes 50/30/20 %) takes level ``(s + offset) % 4`` of each of the four product
    columns with probability 0.85 (else a uniformly random level). Everything else is
    unrelated to the segments: two skewed flags, a 40-level ``store`` column with a long
    tail, and numeric columns driven by a customer life-cycle stage (new vs established,
    50/50) that moves tenure, order frequency and age together, plus spend noise.
    """
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    data: dict[str, object] = {}
    for offset, (name, levels) in enumerate(PLANTED):
        code = np.where(rng.random(n) < 0.85, (y + offset) % 4, rng.integers(0, 4, size=n))
        data[name] = np.asarray(levels, dtype=object)[code]
    data["newsletter"] = rng.random(n) < 0.15
    data["complaint"] = rng.random(n) < 0.1
    store_p = rng.dirichlet(np.full(40, 0.3))
    data["store"] = np.asarray([f"S{i:02d}" for i in range(40)], dtype=object)[
        rng.choice(40, size=n, p=store_p)
    ]
    established = rng.random(n) < 0.5
    data["tenure_years"] = np.where(established, rng.normal(7, 1.5, n), rng.normal(0.8, 0.4, n))
    data["orders_per_year"] = np.where(established, rng.normal(14, 3, n), rng.normal(3, 1.2, n))
    data["age"] = np.where(established, rng.normal(52, 6, n), rng.normal(29, 5, n))
    data["log_spend"] = rng.normal(4, 0.6, n)
    return pd.DataFrame(data), y


def kmeans_one_hot(df: pd.DataFrame, k: int, *, standardize_dummies: bool) -> np.ndarray:
    """The usual baseline: one-hot categoricals + standardised numerics, then k-means."""
    dummies = OneHotEncoder(sparse_output=False).fit_transform(df[CATEGORICAL].astype(str))
    numeric = df[NUMERIC].to_numpy()
    if standardize_dummies:
        design = StandardScaler().fit_transform(np.hstack([numeric, dummies]))
    else:
        design = np.hstack([StandardScaler().fit_transform(numeric), dummies])
    return KMeans(k, n_init=10, random_state=0).fit_predict(design)


@pytest.fixture(scope="module")
def customers() -> tuple[pd.DataFrame, np.ndarray]:
    return make_customers()


@pytest.fixture(scope="module")
def chosen(customers) -> MixedTypeSegmenter:
    df, _ = customers
    return MixedTypeSegmenter(k_range=(2, 5), random_state=0).fit(df)


def _expected_failed_checks(estimator):
    return {
        "check_sample_weight_equivalence_on_dense_data": (
            "seeded k-means++ draws and the silhouette sample are drawn per row, so repeating "
            "rows changes them (as for sklearn's KMeans)"
        ),
    }


# Numeric arrays are valid input (all columns numeric: k-prototypes is then k-means), so the
# full scikit-learn check suite applies.
@parametrize_with_checks(
    [MixedTypeSegmenter(k_range=(2, 4), n_init=2, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_recovers_categorical_segments_where_one_hot_kmeans_fails(customers):
    df, y = customers
    ours = MixedTypeSegmenter(n_segments=3, random_state=0).fit(df)
    ari_ours = adjusted_rand_score(y, ours.labels_)
    ari_kmeans = adjusted_rand_score(y, kmeans_one_hot(df, 3, standardize_dummies=False))
    # measured: ours 0.971, k-means on one-hot + standardised numerics 0.207 (it splits the
    # life-cycle stage); over data seeds 0-7: ours 0.945-0.971, k-means 0.187-0.213.
    # (k-means on *fully* standardised one-hot, dummies included, gets 0.95-0.98 here: the
    # scaling inflates the dummies, which happens to favour the categorical segments.)
    assert ari_ours >= 0.9
    assert ari_kmeans <= 0.35
    # The prototypes carry the planted levels: segment 0 (the 50 % group) prefers level 0.
    proto = ours.prototypes_
    assert proto.loc[0, "plan"] == "basic"
    assert proto.loc[0, "channel"] == "web"
    assert proto.loc[1, "plan"] == "plus"
    assert proto.loc[2, "contract"] == "yearly"  # level (2 + 3) % 4


def test_huang_gamma_would_let_the_numeric_columns_decide(customers):
    # Why the default gamma is the balanced one (see the class Notes): Huang's 0.5 after
    # standardisation recovers nothing on these data (measured ARI 0.034; 0.005-0.067 over
    # data seeds 0-7).
    df, y = customers
    ours = MixedTypeSegmenter(n_segments=3, random_state=0).fit(df)
    huang = MixedTypeSegmenter(n_segments=3, gamma=0.5, random_state=0).fit(df)
    gini = [1.0 - (df[c].value_counts(normalize=True) ** 2).sum() for c in CATEGORICAL]
    assert ours.gamma_ == pytest.approx(2.0 / np.mean(gini))  # the documented default
    assert adjusted_rand_score(y, huang.labels_) <= 0.1


def test_silhouette_chooses_planted_k(customers, chosen):
    _, y = customers
    assert chosen.n_segments_ == 3
    ev = chosen.evidence_
    assert list(ev.columns) == ["k", "cost", "silhouette", "min_segment_share"]
    assert ev["k"].tolist() == [2, 3, 4, 5]
    assert int(ev.loc[ev["silhouette"].idxmax(), "k"]) == 3
    assert ev["cost"].is_monotonic_decreasing
    assert adjusted_rand_score(y, chosen.labels_) >= 0.9


def test_columns_roles_and_stable_ids(customers, chosen):
    df, _ = customers
    assert [df.columns[i] for i in chosen.categorical_features_] == CATEGORICAL
    assert [df.columns[i] for i in chosen.numeric_features_] == NUMERIC
    sizes = np.bincount(chosen.labels_)
    assert np.all(np.diff(sizes) < 0)  # id 0 is the largest segment
    np.testing.assert_array_equal(chosen.predict(df), chosen.labels_)
    assert list(chosen.prototypes_.columns) == list(df.columns)
    # numeric prototypes are the members' means in original units
    for j in range(chosen.n_segments_):
        members = df[chosen.labels_ == j]
        assert chosen.prototypes_.loc[j, "age"] == pytest.approx(members["age"].mean())


def test_same_seed_gives_identical_labels(customers, chosen):
    df, _ = customers
    again = MixedTypeSegmenter(k_range=(2, 5), random_state=0).fit(df)
    np.testing.assert_array_equal(again.labels_, chosen.labels_)
    pd.testing.assert_frame_equal(again.evidence_, chosen.evidence_)
    other_seed = MixedTypeSegmenter(n_segments=3, random_state=7).fit(df)
    np.testing.assert_array_equal(other_seed.labels_, chosen.labels_)  # same optimum, same ids


def test_to_dict_round_trip_predicts_identically(customers, chosen):
    df, _ = customers
    rebuilt = MixedTypeSegmenter.from_dict(json.loads(json.dumps(chosen.to_dict())))
    new, _ = make_customers(seed=5, n=300)
    new.loc[0, "store"] = "S99"  # unseen level
    new.loc[1, "plan"] = None  # missing level
    np.testing.assert_array_equal(rebuilt.predict(new), chosen.predict(new))
    np.testing.assert_array_equal(rebuilt.predict(df), chosen.labels_)
    pd.testing.assert_frame_equal(rebuilt.prototypes_, chosen.prototypes_)
    pd.testing.assert_frame_equal(rebuilt.evidence_, chosen.evidence_)
    assert rebuilt.gamma_ == chosen.gamma_


def test_missing_and_unseen_categories_drop_out(customers, chosen):
    df, _ = customers
    as_missing = chosen.predict(df.assign(store=None))
    as_unseen = chosen.predict(df.assign(store="never seen"))
    # a missing and an unseen level both drop out of the dissimilarity: same answers
    np.testing.assert_array_equal(as_missing, as_unseen)
    # store is unrelated to the segments, so the assignments hardly move without it
    assert (as_missing == chosen.labels_).mean() >= 0.95
    with_missing = df.copy()
    with_missing.loc[df.index[::10], "plan"] = np.nan
    seg = MixedTypeSegmenter(n_segments=3, random_state=0).fit(with_missing)
    assert adjusted_rand_score(chosen.labels_, seg.labels_) >= 0.9


def test_explicit_categorical_features_and_numpy_input():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    region = np.where(rng.random(200) < 0.9, y, 1 - y) * 10 + 7  # integer-coded category
    df = pd.DataFrame({"region": region, "spend": rng.normal(0, 1, 200)})
    auto = MixedTypeSegmenter(n_segments=2, random_state=0).fit(df)
    assert auto.categorical_features_.tolist() == []  # ints are numeric by default
    seg = MixedTypeSegmenter(n_segments=2, categorical_features=["region"], random_state=0)
    seg.fit(df)
    assert seg.categorical_features_.tolist() == [0]
    assert seg.categories_ == [[7, 17]]
    assert adjusted_rand_score(y, seg.labels_) >= 0.6
    # the same by position on a numpy array
    by_pos = MixedTypeSegmenter(n_segments=2, categorical_features=[0], random_state=0)
    np.testing.assert_array_equal(by_pos.fit(df.to_numpy()).labels_, seg.labels_)
    # an object array of strings is categorical
    strings = np.column_stack([np.where(y == 1, "a", "b"), np.where(y == 1, "x", "y")])
    obj = MixedTypeSegmenter(n_segments=2, random_state=0).fit(strings)
    assert obj.categorical_features_.tolist() == [0, 1]
    assert adjusted_rand_score(y, obj.labels_) == 1.0


def test_sample_weight_is_relative(customers):
    df, _ = customers
    weight = np.linspace(1.0, 3.0, len(df))
    a = MixedTypeSegmenter(n_segments=3, random_state=0).fit(df, sample_weight=weight)
    b = MixedTypeSegmenter(n_segments=3, random_state=0).fit(df, sample_weight=weight * 50)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.gamma_ == pytest.approx(b.gamma_)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_segments": 0}, "n_segments"),
        ({"gamma": -1.0}, "gamma"),
        ({"k_range": (1, 4)}, "k_range"),
        ({"k_range": (4, 2)}, "k_range"),
        ({"init": "huang"}, "init"),
        ({"n_init": 0}, "n_init"),
        ({"categorical_features": ["nope"]}, "categorical_features names column 'nope'"),
        ({"categorical_features": [True, False]}, "boolean mask must have length"),
    ],
)
def test_invalid_parameters_raise_value_error(customers, params, match):
    df, _ = customers
    with pytest.raises(ValueError, match=match):
        MixedTypeSegmenter(**params).fit(df.head(50))


def test_data_errors_name_column_and_fix(customers):
    df, _ = customers
    bad = df.head(50).copy()
    bad.loc[3, "age"] = np.nan
    with pytest.raises(InputError, match="NaN or infinity in numeric column 'age'") as info:
        MixedTypeSegmenter(n_segments=2).fit(bad)
    assert "Impute" in info.value.hint
    dates = df.head(50).assign(signup=pd.Timestamp("2024-01-01"))
    with pytest.raises(InputError, match="'signup' has dtype"):
        MixedTypeSegmenter(n_segments=2).fit(dates)
    with pytest.raises(NotFittedError):
        MixedTypeSegmenter().predict(df)
    fitted = MixedTypeSegmenter(n_segments=2, random_state=0).fit(df.head(50))
    with pytest.raises(ValueError, match="feature names"):
        fitted.predict(df.head(5)[list(reversed(df.columns))])
