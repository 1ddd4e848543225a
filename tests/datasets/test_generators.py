"""The demo generators: original tables unchanged, added tables realistic and reproducible."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from segmint.datasets import (
    EDUCATION,
    INCOME_BANDS,
    INDUSTRIES,
    LIFESTYLE_ITEMS,
    NEED_ITEMS,
    ROLES,
    make_b2b,
    make_retail,
)

# SHA-256 of the CSV of each original table of make_retail(600, seed=11), computed with the
# generator before the added columns existed: appending new draws must leave them identical.
ORIGINAL = {
    "customers": (
        [
            "customer_id",
            "age",
            "gender",
            "country",
            "region",
            "city",
            "signup_date",
            "email_consent",
            "sms_consent",
            "preferred_device",
        ],
        "08203ddcea49456ec5e27d9fb1928de39d13ea34adf07b13213d78ca1ade4b0a",
    ),
    "transactions": (
        [
            "order_id",
            "customer_id",
            "order_date",
            "amount",
            "quantity",
            "category",
            "channel",
            "discount",
        ],
        "a035d2176d1ad9cb8494441fc78bfe33500f2f96b42de7232daac5a3233e8008",
    ),
    "events": (
        ["customer_id", "event_time", "event_type", "platform", "device", "os"],
        "f1160c331e792632cfa5d15ea983f92c7bf2751ce2832a0c2d62ae8be318cb07",
    ),
    "survey": (
        ["customer_id", *NEED_ITEMS, "weight"],
        "1008b3735a6e214b38540826d7614c8f8a0dcacd8bf87c57172eb57aaa6bc7ed",
    ),
    "truth": (
        ["customer_id", "segment"],
        "900b82380394d3924713c78289352120d412fbfa5a89733c5941d9db1bf57c54",
    ),
}


@pytest.fixture(scope="module")
def retail():
    return make_retail(600, seed=11)


def _digest(frame: pd.DataFrame) -> str:
    text = frame.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S")
    return hashlib.sha256(text.encode()).hexdigest()


def test_original_tables_are_unchanged(retail) -> None:
    for name, (columns, digest) in ORIGINAL.items():
        frame = getattr(retail, name)
        assert list(frame.columns)[: len(columns)] == columns, name
        assert _digest(frame[columns]) == digest, name


def test_added_customer_columns(retail) -> None:
    c = retail.customers
    assert set(c["income_band"]) <= set(INCOME_BANDS)
    assert set(c["education"]) <= set(EDUCATION)
    assert c["household_size"].between(1, 8).all()
    assert set(c["area_type"]) == {"urban", "suburban", "rural"}
    merged = c.merge(retail.truth, on="customer_id")
    hh = merged.groupby("segment")["household_size"].mean()
    assert hh.idxmax() == "bargain_hunters" and hh.idxmin() == "new_explorers"
    rank = merged["income_band"].map({b: i for i, b in enumerate(INCOME_BANDS)})
    by = rank.groupby(merged["segment"]).mean()
    assert by.idxmax() == "lapsed_big_spenders"
    assert by.idxmin() in ("bargain_hunters", "new_explorers")  # the young earn less too


def test_cost_gives_category_margins_and_returns_credit_it(retail) -> None:
    t = retail.transactions
    sales = t[t["amount"] >= 0]
    assert (sales["cost"] > 0).all() and (
        sales["cost"] <= sales["amount"] + sales["discount"]
    ).all()
    rate = 1 - sales["cost"].sum() / (sales["amount"] + sales["discount"]).sum()
    assert 0.2 < rate < 0.5
    by = (1 - sales["cost"] / (sales["amount"] + sales["discount"])).groupby(sales["category"])
    assert by.mean().idxmax() == "beauty" and by.mean().idxmin() == "electronics"
    returns = t[t["amount"] < 0].merge(sales, on="order_id", suffixes=("", "_sale"))
    np.testing.assert_array_equal(returns["cost"], -returns["cost_sale"])


def test_campaigns_go_to_consenting_customers_and_responses_follow_the_segment(retail) -> None:
    k = retail.campaigns
    assert list(k.columns) == [
        "customer_id",
        "campaign_id",
        "channel",
        "sent_date",
        "responded",
        "response_date",
    ]
    consent = retail.customers.set_index("customer_id")["email_consent"]
    assert consent[k["customer_id"]].all()
    signup = retail.customers.set_index("customer_id")["signup_date"]
    assert (k["sent_date"].to_numpy() >= signup[k["customer_id"]].to_numpy()).all()
    assert k["response_date"].notna().eq(k["responded"]).all()
    lag = (k["response_date"] - k["sent_date"]).dt.days.dropna()
    assert lag.between(0, 7).all()
    rate = k.merge(retail.truth, on="customer_id").groupby("segment")["responded"].mean()
    assert rate.idxmax() == "bargain_hunters" and rate.idxmin() == "lapsed_big_spenders"


def test_psychographic_survey(retail) -> None:
    p = retail.psychographic
    assert list(p.columns) == ["customer_id", "answered_on", *LIFESTYLE_ITEMS, "weight"]
    answers = p[list(LIFESTYLE_ITEMS)]
    assert answers.min().min() >= 1 and answers.max().max() <= 5
    assert 0 < answers.isna().mean().mean() < 0.1
    assert p["answered_on"].between(retail.start, retail.end).all()


def test_write_includes_the_new_tables(retail, tmp_path) -> None:
    paths = retail.write(tmp_path)
    assert {"campaigns", "psychographic"} <= set(paths)
    back = pd.read_csv(paths["campaigns"])
    assert len(back) == len(retail.campaigns)


def test_same_seed_same_tables_different_seed_different() -> None:
    a, b, c = make_retail(200, seed=4), make_retail(200, seed=4), make_retail(200, seed=5)
    for name in ("customers", "transactions", "campaigns", "psychographic"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not a.customers.equals(c.customers)


def test_make_b2b() -> None:
    d = make_b2b(400, seed=3)
    assert list(d.accounts.columns) == [
        "account_id",
        "name",
        "industry",
        "employees",
        "annual_revenue",
        "country",
        "created_date",
    ]
    assert d.accounts["account_id"].is_unique and set(d.accounts["industry"]) <= set(INDUSTRIES)
    assert set(d.contacts["role"]) <= set(ROLES)
    assert set(d.contacts["account_id"]) == set(d.accounts["account_id"])
    dm = d.contacts[d.contacts["role"] == "decision_maker"].groupby("account_id").size()
    assert len(dm) == len(d.accounts)  # every account has a decision maker
    created = d.accounts.set_index("account_id")["created_date"]
    assert (
        d.contacts["created_date"].to_numpy() >= created[d.contacts["account_id"]].to_numpy()
    ).all()
    first = d.orders.groupby("customer_id")["order_date"].min()
    assert (first >= np.maximum(created[first.index], d.start)).all()
    size = d.accounts.merge(d.truth, on="account_id").groupby("segment")["employees"].median()
    assert size.idxmax() == "enterprise_strategic" and size.idxmin() == "smb_transactional"
    again = make_b2b(400, seed=3)
    pd.testing.assert_frame_equal(again.orders, d.orders)
    with pytest.raises(ValueError, match="n_accounts"):
        make_b2b(0)
