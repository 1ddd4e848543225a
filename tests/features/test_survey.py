"""Psychographic and needs bases: weighted factor analysis, SQL scoring, as-of survey answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmint.exceptions import InputError
from segmint.features import FactorModel, build_feature_table, factor_loadings
from segmint.features._survey import ledermann_bound

from .conftest import duck

ITEMS = ["a1", "a2", "a3", "b1", "b2", "b3"]


def _two_factor_survey(n: int, seed: int) -> pd.DataFrame:
    """Likert answers driven by two independent factors, three items each."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 2))
    load = np.array([[0.8, 0], [0.7, 0], [0.75, 0], [0, 0.8], [0, 0.7], [0, -0.75]])
    latent = f @ load.T + rng.normal(scale=0.55, size=(n, 6))
    answers = np.clip(np.round(3 + 1.1 * latent), 1, 5)
    return pd.DataFrame(answers, columns=ITEMS)


def test_factor_model_recovers_the_planted_structure() -> None:
    data = _two_factor_survey(3000, seed=1)
    model = FactorModel(prefix="needs_factor").fit(data)
    loadings = model.loadings
    assert list(loadings.columns) == ["needs_factor_1", "needs_factor_2"]  # Kaiser: 2
    assert list(loadings.index) == ITEMS
    first = loadings.abs().idxmax(axis=1)
    assert first["a1"] == first["a2"] == first["a3"] != first["b1"] == first["b2"] == first["b3"]
    strong = loadings.abs().max(axis=1)
    weak = loadings.abs().min(axis=1)
    assert (strong > 0.6).all() and (weak < 0.15).all()
    # the reversed item loads negatively on its factor; the strongest item of each is positive
    b = first["b1"]
    assert loadings.loc["b3", b] < 0 < loadings.loc["b1", b]
    assert model.explained_variance_share.sum() == pytest.approx(
        (model.loadings_**2).sum() / len(ITEMS)
    )


def test_scores_are_the_posterior_mean_and_sql_gives_the_same() -> None:
    data = _two_factor_survey(400, seed=2)
    data.iloc[3, 1] = np.nan  # a skipped item
    data.iloc[5, :] = np.nan  # a respondent who answered nothing
    model = FactorModel().fit(data)
    # hand formula: B = Psi^-1 L (I + L' Psi^-1 L)^-1 on the standardised items
    L, psi = model.loadings_, model.uniquenesses_
    B = (L / psi[:, None]) @ np.linalg.inv(np.eye(L.shape[1]) + L.T @ (L / psi[:, None]))
    np.testing.assert_allclose(model.score_weights_, B, rtol=1e-10, atol=1e-12)
    z = ((data - model.mean_) / model.scale_).fillna(0.0).to_numpy()
    scores = model.transform(data)
    np.testing.assert_allclose(scores[~np.isnan(scores[:, 0])], (z @ B)[np.arange(400) != 5])
    assert np.isnan(scores[5]).all()
    # a skipped item is imputed by its (weighted) mean: same score as answering the mean
    filled = data.copy()
    filled.iloc[3, 1] = model.mean_[1]
    np.testing.assert_allclose(model.transform(filled)[3], scores[3])
    # SQL scoring in DuckDB gives the numpy scores
    con = duck(survey=data.assign(customer_id=[f"C{i}" for i in range(400)]))
    sql = ", ".join(f"{model.score_sql(j)} AS f{j}" for j in range(2))
    from_sql = con.sql(f"SELECT {sql} FROM survey").df().to_numpy()
    np.testing.assert_allclose(from_sql, scores, rtol=1e-9, atol=1e-12)


def test_survey_weights_equal_duplicated_respondents() -> None:
    data = _two_factor_survey(300, seed=3)
    weights = np.where(np.arange(300) < 100, 2.0, 1.0)
    weighted = FactorModel(n_factors=2).fit(data, weights)
    duplicated = FactorModel(n_factors=2).fit(pd.concat([data, data.iloc[:100]]))
    np.testing.assert_allclose(weighted.mean_, duplicated.mean_, rtol=1e-12)
    np.testing.assert_allclose(weighted.scale_, duplicated.scale_, rtol=1e-12)
    np.testing.assert_allclose(weighted.loadings_, duplicated.loadings_, atol=1e-5)
    unweighted = FactorModel(n_factors=2).fit(data)
    assert not np.allclose(weighted.mean_, unweighted.mean_)
    # hand check of the weighted mean of the first item
    assert weighted.mean_[0] == pytest.approx(np.average(data["a1"], weights=weights))


def test_factor_model_json_round_trip_scores_identically() -> None:
    data = _two_factor_survey(300, seed=4)
    model = FactorModel().fit(data)
    again = FactorModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(again.transform(data), model.transform(data))
    pd.testing.assert_frame_equal(again.loadings, model.loadings)
    assert model.score_sql(0) == again.score_sql(0)


def test_factor_model_input_errors() -> None:
    data = _two_factor_survey(300, seed=5)
    with pytest.raises(InputError, match="too few"):
        FactorModel().fit(data.iloc[:8])
    with pytest.raises(InputError, match="without variation"):
        FactorModel().fit(data.assign(a1=3.0))
    with pytest.raises(InputError, match="cannot be identified"):
        FactorModel(n_factors=4).fit(data)
    assert ledermann_bound(6) == 3 and ledermann_bound(8) == 4


def test_dated_survey_answers_are_taken_as_of_the_snapshot() -> None:
    base = _two_factor_survey(60, seed=6)
    base.insert(0, "customer_id", [f"R{i:02d}" for i in range(60)])
    base.insert(1, "answered_on", pd.Timestamp("2023-06-01"))
    # X answered twice; Y only after the first snapshot
    x_first = {"a1": 5, "a2": 5, "a3": 5, "b1": 1, "b2": 1, "b3": 5}
    x_second = {"a1": 1, "a2": 1, "a3": 2, "b1": 5, "b2": 5, "b3": 1}
    extra = pd.DataFrame(
        [
            {"customer_id": "X", "answered_on": pd.Timestamp("2024-01-10"), **x_first},
            {"customer_id": "X", "answered_on": pd.Timestamp("2024-05-10"), **x_second},
            {"customer_id": "Y", "answered_on": pd.Timestamp("2024-04-01"), **x_second},
        ]
    )
    survey = pd.concat([base, extra], ignore_index=True)
    con = duck(psychographic=survey)
    scores = {}
    for snapshot in ("2024-03-01", "2024-06-01"):
        frame, spec = build_feature_table(
            con, bases=["psychographic"], snapshot=snapshot, tables_available=["psychographic"]
        )
        frame = frame.set_index("customer_id")
        model = FactorModel.from_dict(spec.models["psychographic"])
        answer = x_first if snapshot == "2024-03-01" else x_second
        expected = model.transform(pd.DataFrame([answer]))[0]
        got = frame.loc["X", model.factor_names].to_numpy(dtype=float)
        np.testing.assert_allclose(got, expected, rtol=1e-9)
        scores[snapshot] = frame
        assert spec.features[0].kind == "numeric" and spec.features[0].source == "psychographic"
    assert "Y" not in scores["2024-03-01"].index and "Y" in scores["2024-06-01"].index
    assert len(scores["2024-03-01"]) == 61 and len(scores["2024-06-01"]) == 62


def test_demo_needs_and_psychographic_factors(retail_con, retail) -> None:
    frame, spec = build_feature_table(
        retail_con,
        bases=["needs", "psychographic"],
        snapshot="2025-01-01",
        tables_available=["survey", "psychographic"],
    )
    loadings = factor_loadings(spec.models, "needs")
    assert list(loadings.index) == list(retail.survey.columns[1:-1])
    state = spec.models["needs"]
    assert state["weight_column"] == "weight" and state["n_respondents"] == len(retail.survey)
    assert 0 < state["missing_share"] < 0.1
    merged = frame.merge(retail.truth, on="customer_id")
    # the factor on which price_matters_most loads most separates the bargain hunters
    price = loadings.loc["price_matters_most"]
    factor = price.abs().idxmax()
    by = merged.groupby("segment")[factor].mean() * np.sign(price[factor])
    assert by.idxmax() == "bargain_hunters"
    life = factor_loadings(spec.models, "psychographic")
    tech = life.loc["tech_enthusiast"]
    by = merged.groupby("segment")[tech.abs().idxmax()].mean() * np.sign(tech[tech.abs().idxmax()])
    assert by.idxmin() == "occasional_store_shoppers"
    # respondents only: the population of survey-only bases
    assert len(frame) == len(
        set(retail.survey["customer_id"]) | set(retail.psychographic["customer_id"])
    )


def test_one_survey_with_both_batteries_needs_the_items_named() -> None:
    data = _two_factor_survey(200, seed=7)
    data.insert(0, "customer_id", [f"R{i}" for i in range(200)])
    con = duck(survey=data)
    with pytest.raises(InputError, match=r"survey_items\.psychographic"):
        build_feature_table(
            con,
            bases=["needs", "psychographic"],
            snapshot="2024-01-01",
            tables_available=["survey"],
        )
    from segmint.config import Config
    from segmint.features import FeatureOptions

    config = Config.model_validate(
        {
            "bases": ["needs", "psychographic"],
            "features": {
                "survey_items": {"needs": ["a1", "a2", "a3"], "psychographic": ["b1", "b2", "b3"]}
            },
        }
    )
    frame, spec = build_feature_table(
        con,
        bases=config.bases,
        snapshot="2024-01-01",
        tables_available=["survey"],
        options=FeatureOptions.from_config(config.features),
    )
    assert spec.models["needs"]["items"] == ["a1", "a2", "a3"]
    assert spec.models["psychographic"]["items"] == ["b1", "b2", "b3"]
    assert {"needs_factor_1", "psychographic_factor_1"} <= set(frame.columns)
