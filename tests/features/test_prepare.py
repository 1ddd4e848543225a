"""Preparation: transforms, imputation, encodings, correlation pruning; all recorded."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmint.features import ColumnPreparer, FeaturePreparer

COLUMNS = {
    "money": {"kind": "numeric", "transform": "signed_log"},
    "copy": {"kind": "numeric", "transform": "signed_log"},
    "band": {"kind": "ordinal", "levels": ["low", "mid", "high"]},
    "colour": {"kind": "category"},
    "score": {"kind": "numeric", "transform": "rank"},
    "const": {"kind": "numeric"},
}


def _data() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "money": [0.0, 9.0, 99.0, 999.0, np.nan],
            "copy": [0.0, 9.0, 99.0, 999.0, np.nan],
            "band": pd.Categorical(
                ["low", "high", "mid", None, "mid"], categories=["low", "mid", "high"]
            ),
            "colour": ["red", "blue", "red", None, "green"],
            "score": [1.0, 2.0, 3.0, 4.0, 100.0],
            "const": [5.0] * 5,
        }
    )


def _z(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return (values - values.mean()) / values.std()


def test_column_preparer_by_hand() -> None:
    X = _data()
    prep = ColumnPreparer(COLUMNS, clip_quantiles=(0.0, 1.0)).fit(X)
    assert prep.feature_names_out_ == [
        "money",
        "band",
        "colour=(missing)",
        "colour=blue",
        "colour=green",
        "colour=red",
        "score",
    ]
    assert prep.dropped_ == [
        {"column": "copy", "reason": "correlated", "kept": "money", "r": pytest.approx(1.0)},
        {"column": "const", "reason": "constant", "kept": None, "r": None},
    ]
    out = prep.transform(X)
    # money: median 54 imputed, then sign(x) log1p(|x|), then standardised
    money = np.log1p([0.0, 9.0, 99.0, 999.0, 54.0])
    np.testing.assert_allclose(out[:, 0], _z(money))
    # band: position in the declared order; the missing one takes the median position (1)
    np.testing.assert_allclose(out[:, 1], _z([0, 2, 1, 1, 1]))
    # colour: one 0/1 column per level seen, missing is a level of its own
    np.testing.assert_array_equal(
        out[:, 2:6], [[0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]]
    )
    # score: empirical CDF of the training values (the outlier is just the top rank)
    np.testing.assert_allclose(out[:, 6], _z([0.0, 0.25, 0.5, 0.75, 1.0]))
    state = prep.to_dict()
    steps = {s["column"]: s for s in state["steps"]}
    assert steps["money"]["impute"] == 54.0 and steps["band"]["impute"] == 1.0
    assert steps["colour"]["levels"] == ["(missing)", "blue", "green", "red"]


def test_new_rows_are_prepared_identically_after_a_json_round_trip() -> None:
    X = _data()
    prep = ColumnPreparer(COLUMNS).fit(X)
    again = ColumnPreparer.from_dict(json.loads(json.dumps(prep.to_dict())))
    np.testing.assert_array_equal(again.transform(X), prep.transform(X))
    new = pd.DataFrame(
        {
            "money": [50.0],
            "copy": [50.0],
            "band": ["ultra"],  # unknown band: median position
            "colour": ["purple"],  # unseen level: all one-hot columns 0
            "score": [2.5],
            "const": [5.0],
        }
    )
    row = again.transform(new)[0]
    names = list(again.get_feature_names_out())
    assert row[names.index("band")] == pytest.approx(prep.transform(X)[2, names.index("band")])
    assert all(row[names.index(c)] == 0 for c in names if c.startswith("colour="))
    steps = {s["column"]: s for s in prep.to_dict()["steps"]}
    rank = np.interp(2.5, steps["score"]["rank_grid"], np.linspace(0, 1, 101))
    assert rank == pytest.approx(0.375)
    assert row[names.index("score")] == pytest.approx(
        (rank - steps["score"]["mean"]) / steps["score"]["scale"]
    )


def test_correlation_threshold_decides_deterministically() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    X = pd.DataFrame({"x": x, "y": x + rng.normal(scale=0.45, size=500), "z": rng.normal(size=500)})
    r = np.corrcoef(X["x"], X["y"])[0, 1]
    assert 0.85 < r < 0.95
    keep = ColumnPreparer(correlation_threshold=0.95).fit(X)
    assert keep.feature_names_out_ == ["x", "y", "z"] and keep.dropped_ == []
    drop = ColumnPreparer(correlation_threshold=0.85).fit(X)
    assert drop.feature_names_out_ == ["x", "z"]
    # r of the prepared (winsorised) columns
    assert drop.dropped_ == [
        {"column": "y", "reason": "correlated", "kept": "x", "r": pytest.approx(r, abs=0.005)}
    ]
    # the earlier column is kept whatever the data: swap the order, the other one stays
    swapped = ColumnPreparer(correlation_threshold=0.85).fit(X[["y", "x", "z"]])
    assert swapped.feature_names_out_ == ["y", "z"]
    assert ColumnPreparer(correlation_threshold=None).fit(X).feature_names_out_ == ["x", "y", "z"]


def test_from_spec_on_the_demo_table(retail_all_bases) -> None:
    frame, spec = retail_all_bases
    prep = ColumnPreparer.from_spec(spec).fit(frame)
    out = prep.transform(frame)
    assert out.shape == (len(frame), len(prep.feature_names_out_))
    assert np.isfinite(out).all()
    dropped = {d["column"]: d for d in prep.dropped_}
    # the season is a function of the hemisphere at one snapshot: pruned, and recorded
    assert dropped["season=winter"]["kept"].startswith("hemisphere=")
    steps = {s["column"]: s for s in prep.to_dict()["steps"]}
    assert steps["income_band"]["kind"] == "ordinal"
    assert steps["income_band"]["levels"][0] == "<20k"
    assert steps["monetary"]["transform"] == "signed_log"


def test_feature_preparer_is_unchanged() -> None:
    X = pd.DataFrame({"monetary": [10.0, 100.0, -5.0, 1000.0], "share": [0.1, 0.5, 0.2, 0.9]})
    prep = FeaturePreparer({"monetary": "signed_log"}).fit(X)
    assert set(prep.to_dict()) == {
        "columns",
        "transforms",
        "clip_quantiles",
        "lower",
        "upper",
        "mean",
        "scale",
    }
    again = FeaturePreparer.from_dict(prep.to_dict())
    np.testing.assert_array_equal(again.transform(X), prep.transform(X))
