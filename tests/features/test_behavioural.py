"""Behavioural (and transaction value) features: hand-computed values at two snapshot dates."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from segmint.features import build_feature_table, build_features, feature_sql, plan_features
from segmint.features._catalogue import FeatureOptions, FeatureSpec

from .conftest import duck

TX = pd.DataFrame(
    [
        # order, customer, date, amount, quantity, category, channel, discount, cost
        ("O1", "A", "2024-01-10", 100.0, 2, "x", "web", 0.0, 60.0),
        ("O2", "A", "2024-01-20", 50.0, 1, "y", "app", 10.0, 30.0),
        ("O2", "A", "2024-01-25", -50.0, -1, "y", "app", 0.0, -30.0),  # O2 returned
        ("O3", "A", "2024-02-19", 30.0, 3, "x", "web", 0.0, 20.0),
        ("O4", "A", "2024-06-01", 200.0, 4, "x", "web", 0.0, 100.0),
        ("P1", "B", "2024-03-01", 80.0, 1, "y", "store", 5.0, 50.0),
        ("P2", "B", "2024-03-31", 40.0, 2, "y", "store", 0.0, 25.0),
    ],
    columns=[
        "order_id",
        "customer_id",
        "order_date",
        "amount",
        "quantity",
        "category",
        "channel",
        "discount",
        "cost",
    ],
).assign(order_date=lambda d: pd.to_datetime(d["order_date"]))
NO_CLV = FeatureOptions(clv=False)  # two customers are too few for the CLV models
CAMPAIGNS = pd.DataFrame(
    {
        "customer_id": ["A", "A", "A", "B"],
        "campaign_id": ["K1", "K2", "K3", "K3"],
        "sent_date": pd.to_datetime(["2024-01-05", "2024-02-20", "2024-05-01", "2024-05-01"]),
        "responded": [True, True, False, True],
        "response_date": pd.to_datetime(["2024-01-07", "2024-03-03", None, "2024-05-02"]),
    }
)


def _table(snapshot: str) -> pd.DataFrame:
    con = duck(transactions=TX, campaigns=CAMPAIGNS)
    frame, _ = build_feature_table(
        con,
        bases=["behavioural", "value"],
        snapshot=snapshot,
        tables_available=["transactions", "campaigns"],
        options=NO_CLV,
    )
    return frame.set_index("customer_id")


def test_features_as_of_two_dates_differ_exactly_as_the_data_says() -> None:
    early = _table("2024-03-01")
    # B's first order is on 2024-03-01 itself: not before the snapshot, so B is not there yet
    assert list(early.index) == ["A"]
    a = early.loc["A"]
    assert a["recency_days"] == 11  # 2024-02-19 -> 2024-03-01 (leap February)
    assert a["frequency"] == 3
    assert a["monetary"] == pytest.approx(130.0)  # 100 + 50 - 50 + 30
    assert a["tenure_days"] == 51  # 2024-01-10 -> 2024-03-01
    assert a["avg_order_value"] == pytest.approx(60.0)  # (100 + 50 + 30) / 3
    assert a["discount_share"] == pytest.approx(1 / 3)
    assert a["return_rate"] == pytest.approx(1 / 3)
    assert a["ipt_mean_days"] == pytest.approx(20.0)  # gaps 10 and 30 days
    assert a["ipt_cv"] == pytest.approx(math.sqrt(200) / 20)  # sd(10, 30) = sqrt(200)
    assert a["basket_size"] == pytest.approx(2.0)  # (2 + 1 + 3) / 3
    assert a["share_category_x"] == pytest.approx(130 / 180)
    assert a["share_channel_app"] == pytest.approx(50 / 180)
    # campaigns: K1 answered; K2 sent before but answered after the snapshot: not known yet
    assert a["campaigns_received"] == 2
    assert a["campaign_response_rate"] == pytest.approx(0.5)

    late = _table("2024-06-15")
    assert list(late.index) == ["A", "B"]
    a, b = late.loc["A"], late.loc["B"]
    assert a["recency_days"] == 14  # 2024-06-01 -> 2024-06-15
    assert a["frequency"] == 4
    assert a["monetary"] == pytest.approx(330.0)
    assert a["tenure_days"] == 157
    assert a["ipt_mean_days"] == pytest.approx((10 + 30 + 103) / 3)
    gaps = np.array([10.0, 30.0, 103.0])
    assert a["ipt_cv"] == pytest.approx(gaps.std(ddof=1) / gaps.mean())
    assert a["campaigns_received"] == 3
    assert a["campaign_response_rate"] == pytest.approx(2 / 3)
    assert b["recency_days"] == 76  # 2024-03-31 -> 2024-06-15
    assert b["frequency"] == 2
    assert b["monetary"] == pytest.approx(120.0)
    assert b["tenure_days"] == 106  # 2024-03-01 -> 2024-06-15
    assert b["ipt_mean_days"] == pytest.approx(30.0)
    assert pd.isna(b["ipt_cv"])  # one gap says nothing about regularity
    assert b["discount_share"] == pytest.approx(0.5)
    assert b["campaigns_received"] == 1 and b["campaign_response_rate"] == 1.0


def test_margin_and_value_features_by_hand() -> None:
    con = duck(transactions=TX)
    frame, spec = build_feature_table(
        con,
        bases=["value"],
        snapshot="2024-03-01",
        tables_available=["transactions"],
        options=NO_CLV,
    )
    assert {f.basis for f in spec.features} == {"value"}
    row = frame.set_index("customer_id").loc["A"]
    # (100-60) + (50-30) + (-50+30) + (30-20): the return gives its margin back
    assert row["margin"] == pytest.approx(50.0)
    assert row["margin_rate"] == pytest.approx(50 / 130)
    assert row["monetary"] == pytest.approx(130.0)


def test_legacy_plan_is_unchanged_and_matches_the_catalogue() -> None:
    con = duck(transactions=TX)
    spec = plan_features(con, date(2024, 6, 15))
    assert spec.names == [
        "recency_days",
        "frequency",
        "monetary",
        "tenure_days",
        "avg_order_value",
        "share_category_x",
        "share_category_y",
        "share_channel_web",
        "share_channel_store",
        "share_channel_app",
        "discount_share",
        "return_rate",
    ]
    assert [f.basis for f in spec.features][:5] == [
        "behavioural",
        "behavioural",
        "value",
        "behavioural",
        "value",
    ]
    assert build_features(con, spec) == 2
    legacy = con.sql("SELECT * FROM features").df().set_index("customer_id")
    extended, _ = build_feature_table(
        con,
        bases=["behavioural", "value"],
        snapshot="2024-06-15",
        tables_available=["transactions"],
        options=NO_CLV,
    )
    extended = extended.set_index("customer_id")
    pd.testing.assert_frame_equal(legacy, extended[legacy.columns])
    # a spec saved before the catalogue (no blocks) computes the same
    old = spec.to_dict()
    for key in ("blocks", "population", "tables", "models", "columns"):
        old.pop(key)
    for feature in old["features"]:
        for key in ("source", "definition", "kind", "levels", "default"):
            feature.pop(key)
    restored = con.sql(feature_sql(FeatureSpec.from_dict(old))).df().set_index("customer_id")
    pd.testing.assert_frame_equal(legacy, restored)


def test_log_without_order_id_counts_customer_days() -> None:
    con = duck(transactions=TX.drop(columns=["order_id"]))
    frame, _ = build_feature_table(
        con, bases=["behavioural"], snapshot="2024-03-01", tables_available=["transactions"]
    )
    a = frame.set_index("customer_id").loc["A"]
    # the return on 2024-01-25 is a return-only day: not an order, but it counts as returned
    assert a["frequency"] == 3 and a["return_rate"] == pytest.approx(1 / 3)


def test_demo_segments_differ_in_behaviour(retail_con, retail) -> None:
    frame, spec = build_feature_table(
        retail_con,
        bases=["behavioural"],
        snapshot="2024-07-01",
        tables_available=["transactions", "campaigns"],
    )
    assert {"ipt_mean_days", "ipt_cv", "basket_size", "campaign_response_rate"} <= set(spec.names)
    merged = frame.merge(retail.truth, on="customer_id")
    by = merged.groupby("segment")[["discount_share", "campaign_response_rate", "frequency"]].mean()
    assert by["discount_share"].idxmax() == "bargain_hunters"
    assert by["campaign_response_rate"].idxmax() == "bargain_hunters"
    assert by["campaign_response_rate"].idxmin() in (
        "lapsed_big_spenders",
        "occasional_store_shoppers",
    )
    assert by["frequency"].idxmin() == "occasional_store_shoppers"
    # every customer bought before the snapshot; none after it counts
    last = retail_con.sql("SELECT max(order_date) FROM transactions").fetchall()[0][0]
    assert last.date() > date(2024, 7, 1)
    assert frame["recency_days"].min() >= 1
