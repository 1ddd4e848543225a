"""Persona cards: every sentence from a computed figure; sections only where data exists."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from segmint.datasets import make_retail
from segmint.evaluate._scorecard import reach_flags
from segmint.features._behavioural import build_features, plan_features
from segmint.features._prepare import FeaturePreparer
from segmint.io import load_customers, load_transactions, map_columns, read_source
from segmint.profile._cards import SECTIONS, hemisphere, persona_cards
from segmint.profile._names import name_segments
from segmint.profile._profiles import profile_segments
from segmint.profile._typing_tool import TypingTool
from segmint.segmenters._kmeans import KMeansSegmenter


@pytest.fixture(scope="module")
def retailer(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small generated retailer, segmented as the pipeline would (k = 5)."""
    data = make_retail(1500, seed=5)
    paths = data.write(tmp_path_factory.mktemp("cards"))
    con = duckdb.connect()
    raw_c = read_source(con, paths["customers"], "raw_customers")
    load_customers(con, raw_c, map_columns(raw_c.columns, "customers", path=str(raw_c.path)))
    raw_t = read_source(con, paths["transactions"], "raw_transactions")
    matches = map_columns(raw_t.columns, "transactions", path=str(raw_t.path))
    load_transactions(con, raw_t, matches, known_customers="customers")
    spec = plan_features(con)
    build_features(con, spec)
    features = con.sql("SELECT * FROM features ORDER BY customer_id").df()
    X = FeaturePreparer({f.name: f.transform for f in spec.features}).fit_transform(
        features[spec.names]
    )
    with threadpool_limits(limits=1):
        segmenter = KMeansSegmenter(5, n_init=3, random_state=5)
        if "stability_resamples" in segmenter.get_params():
            segmenter.set_params(stability_resamples=0)
        labels = segmenter.fit(X).labels_
        tool = TypingTool(max_depth=3, max_vars=3, cv=3, random_state=5).fit(
            features[spec.names], labels
        )
    customers = (
        con.sql("SELECT * EXCLUDE (_row) FROM customers").df().set_index("customer_id")
    ).reindex(features["customer_id"].astype(str).to_numpy())
    customers = customers.reset_index(drop=True)
    attributes = features[spec.names].join(
        customers[["email_consent", "sms_consent"]].astype(float)
    )
    profiles = profile_segments(attributes, labels)
    survey = data.survey.set_index("customer_id").drop(columns="weight")
    needs = survey.reindex(features["customer_id"].astype(str).to_numpy()).reset_index(drop=True)
    return {
        "profiles": profiles,
        "names": name_segments(profiles),
        "labels": labels,
        "customers": customers,
        "reach": reach_flags(attributes),
        "needs": needs.astype(float),
        "tool": tool,
        "descriptions": {f.name: f.description for f in spec.features},
    }


@pytest.fixture(scope="module")
def cards(retailer: dict) -> list:
    return persona_cards(
        retailer["profiles"],
        retailer["names"],
        retailer["labels"],
        customers=retailer["customers"],
        reach=retailer["reach"],
        needs=retailer["needs"],
        typing_tool=retailer["tool"],
        descriptions=retailer["descriptions"],
    )


def test_one_card_per_segment_with_its_size_and_name(cards, retailer) -> None:
    summary = retailer["profiles"].summary
    assert [c.segment_id for c in cards] == summary["segment_id"].tolist()
    for card, row in zip(cards, summary.itertuples(), strict=True):
        assert card.name == retailer["names"][card.segment_id]
        assert card.customers == row.customers
        first = card.section("who").statements[0]
        assert first.text.startswith(f"{row.customers:,} customers, {row.share:.1%} of all")


def test_every_statement_carries_its_figure(cards) -> None:
    for card in cards:
        assert [s.key for s in card.sections] == [k for k in SECTIONS if card.section(k)]
        for statement in card.statements():
            assert re.search(r"\d", statement.text), statement.text
            assert np.isfinite(statement.value), statement
            assert statement.source


def test_all_six_questions_are_answered_when_the_data_exists(cards) -> None:
    answered = {key for card in cards for key in (s.key for s in card.sections)}
    assert answered == set(SECTIONS)
    for card in cards:
        assert card.section("recognise") is not None and card.section("reach") is not None


def test_reach_statements_match_the_consent_shares(cards, retailer) -> None:
    labels, customers = retailer["labels"], retailer["customers"]
    for card in cards:
        inside = labels == card.segment_id
        share = customers.loc[inside, "email_consent"].astype(float).fillna(0).mean()
        email = next(s for s in card.section("reach").statements if s.source == "reach:email")
        assert email.value == pytest.approx(share)
        assert email.text.startswith(f"E-mail consent: {share:.0%}")


def test_recognise_uses_the_typing_tool_rules(cards, retailer) -> None:
    tool = retailer["tool"]
    for card in cards:
        texts = [s.text for s in card.section("recognise").statements]
        own_rules = [r for r in tool.rules_ if int(r["segment"]) == card.segment_id]
        if own_rules:
            assert any(t.startswith("Rule: ") for t in texts)
            assert any(f"{tool.accuracy_:.0%} of held-out customers" in t for t in texts)


def test_why_comes_from_the_survey_only(cards, retailer) -> None:
    why = [s for card in cards if card.section("why") for s in card.section("why").statements]
    assert why and all(s.source.startswith("survey:") for s in why)
    assert all("respondents" in s.text for s in why)
    without = persona_cards(retailer["profiles"], retailer["names"], retailer["labels"])
    for card in without:
        assert card.section("why") is None and card.section("reach") is None
        assert any("No survey" in n for n in card.notes)
        assert any("No customer table" in n for n in card.notes)
        assert len(card.section("who").statements) == 1  # size only, no demographics


def test_hemisphere_of_country_names_and_codes() -> None:
    countries = pd.Series(["Australia", "NZ", "Germany", None, "brazil", "Kenya"])
    assert hemisphere(countries).tolist() == [
        "southern",
        "southern",
        "northern",
        pd.NA,
        "southern",
        "equatorial",
    ]


def test_southern_share_statement_matches_the_data(cards, retailer) -> None:
    labels, customers = retailer["labels"], retailer["customers"]
    south = hemisphere(customers["country"]) == "southern"
    for card in cards:
        statement = next(
            s for s in card.section("who").statements if "southern hemisphere" in s.text
        )
        assert statement.value == pytest.approx(south[labels == card.segment_id].mean())


def test_card_as_text(cards) -> None:
    text = cards[0].to_text()
    assert text.startswith(f"{cards[0].segment_id}: {cards[0].name}")
    assert "How to reach them" in text


def test_profiles_add_clv_shares_and_an_attribute_table() -> None:
    labels = np.array([0, 0, 1, 1])
    attributes = pd.DataFrame(
        {"monetary": [10.0, 30.0, 20.0, 40.0], "clv": [100.0, 100.0, 300.0, 500.0]}
    )
    profiles = profile_segments(attributes, labels)
    summary = profiles.summary.set_index("segment_id")
    assert summary["clv_share"].tolist() == pytest.approx([0.2, 0.8])
    assert summary["clv_per_customer"].tolist() == pytest.approx([100.0, 400.0])
    assert summary["revenue_share"].tolist() == pytest.approx([0.4, 0.6])
    table = profiles.attribute_table(1).set_index("attribute")
    assert table.loc["clv", "segment_value"] == 400.0 and table.loc["clv", "overall_value"] == 250
    assert table.loc["clv", "index"] == pytest.approx(160.0)
    # without a clv column the summary keeps its original columns
    plain = profile_segments(attributes[["monetary"]], labels).summary
    assert list(plain.columns) == [
        "segment_id",
        "customers",
        "share",
        "revenue",
        "revenue_share",
        "revenue_per_customer",
    ]
