"""Prioritisation: knock-outs first, then potential × reachability × relevance (by hand)."""

from __future__ import annotations

import pandas as pd
import pytest

from segmint.strategy._prioritise import prioritise


@pytest.fixture
def segments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment_id": [0, 1, 2],
            "name": ["many, cheap", "few, valuable, lapsing", "largest, knocked out"],
            "customers": [100, 50, 200],
            "value_per_customer": [10.0, 40.0, 5.0],
            "growth": [1.0, 2.0, 1.0],
            "reachability": [0.5, 1.0, 0.8],
            "lapsed_share": [0.0, 0.5, 0.0],
        }
    )


def test_attractiveness_is_the_product_of_the_three_scores(segments: pd.DataFrame) -> None:
    table = prioritise(
        segments,
        objectives={"retention": 0.5, "growth": 0.3, "value": 0.2},
        knockouts={2: ["substantial"]},
    ).set_index("segment_id")
    # potential = customers × value × growth = 1000, 4000, 1000 -> scaled 0.25, 1, 0.25
    assert table["potential_score"].tolist() == pytest.approx([1.0, 0.25, 0.25])
    # relevance: value 0.25/1/0.125, growth 0.5/1/0.5, retention (lapsed × value) 0/1/0
    assert table.loc[0, "relevance"] == pytest.approx(0.5 * 0 + 0.3 * 0.5 + 0.2 * 0.25)
    assert table.loc[1, "relevance"] == pytest.approx(1.0)
    assert table.loc[2, "relevance"] == pytest.approx(0.3 * 0.5 + 0.2 * 0.125)
    assert table.loc[0, "attractiveness"] == pytest.approx(0.25 * 0.5 * 0.2)
    assert table.loc[1, "attractiveness"] == pytest.approx(1.0)
    assert table.loc[2, "attractiveness"] == pytest.approx(0.25 * 0.8 * 0.175)


def test_knocked_out_segments_are_not_ranked_even_when_attractive(segments) -> None:
    table = prioritise(segments, knockouts={2: ["substantial", "reachable"]})
    assert table["segment_id"].tolist() == [1, 0, 2]
    assert table["rank"].tolist()[:2] == [1, 2] and pd.isna(table["rank"].iloc[2])
    # segment 2 (0.035) is more attractive than segment 0 (0.025) but fails a knock-out
    assert table["attractiveness"].iloc[2] > table["attractiveness"].iloc[1]
    assert table["knockout_reasons"].iloc[2] == "substantial, reachable"


def test_weights_change_the_ranking() -> None:
    segments = pd.DataFrame(
        {"segment_id": [0, 1], "customers": [1000, 100], "value_per_customer": [2.0, 10.0]}
    )
    # potential 2000 vs 1000 -> 1, 0.5; relevance (value only) 0.2 vs 1
    default = prioritise(segments, objectives={"value": 1.0})
    assert default["segment_id"].tolist() == [1, 0]  # 0.5 × 1 > 1 × 0.2
    size_only = prioritise(
        segments,
        objectives={"value": 1.0},
        weights={"potential": 1.0, "reachability": 1.0, "relevance": 0.0},
    )
    assert size_only["segment_id"].tolist() == [0, 1]


def test_growth_is_capped_and_missing_reachability_counts_as_one() -> None:
    segments = pd.DataFrame(
        {
            "segment_id": [0, 1],
            "customers": [10, 10],
            "value_per_customer": [1.0, 1.0],
            "growth": [10.0, float("nan")],
        }
    )
    table = prioritise(segments, growth_cap=3.0).set_index("segment_id")
    assert table.loc[0, "growth_used"] == 3.0 and table.loc[1, "growth_used"] == 1.0
    assert (table["reachability_used"] == 1.0).all()


def test_unknown_objective_is_an_error(segments) -> None:
    with pytest.raises(ValueError, match="Unknown objectives"):
        prioritise(segments, objectives={"profit": 1.0})


def test_strategy_config_validates_objectives_and_knockouts() -> None:
    from pydantic import ValidationError

    from segmint.config import Config

    config = Config.model_validate(
        {"strategy": {"objectives": {"growth": 1.0}, "knockouts": ["stable"]}}
    )
    assert config.strategy.objectives == {"growth": 1.0}
    for bad in (
        {"objectives": {"retention": -1.0}},
        {"objectives": {"profit": 1.0}},
        {"knockouts": ["cheap"]},
        {"weights": {"potential": -1}},
    ):
        with pytest.raises(ValidationError):
            Config.model_validate({"strategy": bad})
