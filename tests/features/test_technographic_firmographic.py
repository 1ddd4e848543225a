"""Technographic (events) and firmographic (accounts, contacts) features, by hand and on demos."""

from __future__ import annotations

import pandas as pd
import pytest

from segmint.exceptions import InputError
from segmint.features import build_feature_table

from .conftest import duck

EVENTS = pd.DataFrame(
    {
        "customer_id": ["A", "A", "A", "A", "B", "B"],
        "event_time": pd.to_datetime(
            [
                "2024-01-01 10:00",
                "2024-01-01 18:30",
                "2024-02-10 09:00",
                "2024-04-01 12:00",
                "2024-03-05 08:00",
                "2024-03-06 08:00",
            ]
        ),
        "event_type": ["session_start", "product_view", "checkout", "session_start"] * 1
        + ["session_start", "add_to_cart"],
        "platform": ["app", "app", "web", "web", "web", "web"],
        "device": ["mobile", "mobile", "desktop", "desktop", "tablet", "tablet"],
        "os": ["iOS", "iOS", "Windows", "Windows", "Android", "Android"],
    }
)


def _tech(snapshot: str) -> pd.DataFrame:
    con = duck(events=EVENTS)
    frame, spec = build_feature_table(
        con, bases=["technographic"], snapshot=snapshot, tables_available=["events"]
    )
    return frame.set_index("customer_id"), spec


def test_technographic_shares_by_hand_at_two_dates() -> None:
    early, spec = _tech("2024-03-01")
    assert list(early.index) == ["A"]  # B's events are later
    a = early.loc["A"]
    assert a["events"] == 3 and a["active_days"] == 2
    assert a["days_since_last_event"] == 20  # 2024-02-10 -> 2024-03-01
    assert a["share_platform_app"] == pytest.approx(2 / 3)
    assert a["share_device_mobile"] == pytest.approx(2 / 3)
    assert a["share_os_windows"] == pytest.approx(1 / 3)
    assert all(f.basis == "technographic" and f.source == "events" for f in spec.features)
    assert spec.models["levels"]["events.platform"] == ["app", "web"]

    late, spec = _tech("2024-05-01")
    a, b = late.loc["A"], late.loc["B"]
    assert a["events"] == 4 and a["active_days"] == 3
    assert a["days_since_last_event"] == 30
    assert a["share_platform_app"] == pytest.approx(0.5)
    assert b["events"] == 2 and b["share_platform_web"] == 1.0
    assert b["share_device_tablet"] == 1.0 and b["share_os_android"] == 1.0
    # levels are learned from the events before the snapshot
    assert set(spec.models["levels"]["events.device"]) == {"mobile", "desktop", "tablet"}


def test_technographic_without_events_is_an_input_error() -> None:
    con = duck(transactions=pd.DataFrame({"customer_id": ["A"]}))
    with pytest.raises(InputError, match="technographic basis needs a web/app events table"):
        build_feature_table(
            con,
            bases=["behavioural", "technographic"],
            snapshot="2024-01-01",
            tables_available=["transactions"],
        )


def test_demo_technographic(retail_con, retail) -> None:
    frame, _ = build_feature_table(
        retail_con,
        bases=["behavioural", "technographic"],
        snapshot="2024-07-01",
        tables_available=["transactions", "events"],
    )
    # purchasers without events before the snapshot: 0 events, shares missing
    no_events = frame["events"] == 0
    assert frame.loc[no_events, "share_platform_app"].isna().all()
    assert frame.loc[~no_events, "share_platform_app"].between(0, 1).all()
    merged = frame.merge(retail.truth, on="customer_id")
    app = merged.groupby("segment")["share_platform_app"].mean()
    assert app.idxmax() in ("engaged_app_loyalists", "new_explorers")
    mobile = merged.groupby("segment")["share_device_mobile"].mean()
    assert mobile["engaged_app_loyalists"] > mobile["occasional_store_shoppers"] + 0.3


ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["K1", "K2", "K3"],
        "industry": ["retail", "software", "retail"],
        "employees": [9.0, 250.0, 5000.0],
        "annual_revenue": [999_999.0, 2.5e7, 3e8],
        "country": ["Germany", "Australia", "Germany"],
        "created_date": pd.to_datetime(["2020-01-01", "2024-02-01", "2024-05-01"]),
    }
)
CONTACTS = pd.DataFrame(
    {
        "contact_id": ["c1", "c2", "c3", "c4", "c5"],
        "account_id": ["K1", "K1", "K1", "K2", "K3"],
        "role": ["decision_maker", "user", "user", "decision_maker", "influencer"],
        "created_date": pd.to_datetime(
            ["2020-01-01", "2023-06-01", "2024-04-01", "2024-02-01", "2024-05-01"]
        ),
    }
)


def _firm(snapshot: str) -> tuple[pd.DataFrame, object]:
    con = duck(accounts=ACCOUNTS, contacts=CONTACTS)
    frame, spec = build_feature_table(
        con, bases=["firmographic"], snapshot=snapshot, tables_available=["accounts", "contacts"]
    )
    return frame.set_index("customer_id"), spec


def test_firmographic_by_hand_at_two_dates() -> None:
    early, spec = _firm("2024-03-01")
    assert list(early.index) == ["K1", "K2"]  # K3 is created later
    k1, k2 = early.loc["K1"], early.loc["K2"]
    assert k1["industry"] == "retail" and k1["account_country"] == "Germany"
    assert k1["employee_band"] == "1-9" and k2["employee_band"] == "250-999"
    assert k1["revenue_band"] == "<1M" and k2["revenue_band"] == "10-50M"
    assert k1["account_tenure_days"] == 1521  # 2020-01-01 -> 2024-03-01
    assert k2["account_tenure_days"] == 29
    assert k1["contacts"] == 2 and k1["decision_roles"] == 2  # c3 joins in April
    assert k1["contacts_decision_maker"] == 1 and k1["contacts_user"] == 1
    assert k2["contacts"] == 1 and k2["contacts_user"] == 0
    assert early["employee_band"].cat.ordered
    assert list(early["employee_band"].cat.categories) == [
        "1-9",
        "10-49",
        "50-249",
        "250-999",
        "1000+",
    ]
    kinds = {f.name: f.kind for f in spec.features}
    assert kinds["industry"] == "category" and kinds["revenue_band"] == "ordinal"

    late, _ = _firm("2024-06-01")
    assert list(late.index) == ["K1", "K2", "K3"]
    assert late.loc["K1", "contacts"] == 3 and late.loc["K1", "contacts_user"] == 2
    assert late.loc["K3", "employee_band"] == "1000+" and late.loc["K3", "revenue_band"] == "250M+"
    assert late.loc["K3", "contacts_influencer"] == 1
    assert late.loc["K2", "account_tenure_days"] == 121


def test_demo_b2b_firmographic_with_orders(b2b_con, b2b) -> None:
    frame, spec = build_feature_table(
        b2b_con,
        bases=["firmographic", "behavioural", "value"],
        snapshot="2024-10-01",
        tables_available={"accounts": "accounts", "contacts": "contacts", "transactions": "orders"},
    )
    assert {"industry", "employee_band", "revenue_band", "contacts", "decision_roles"} <= set(
        spec.names
    )
    assert {"recency_days", "monetary"} <= set(spec.names)
    # make_b2b plants no churn: no purchase model can identify dropout, so the run says so and
    # leaves the purchase-model features out instead of calling a boundary fit converged
    purchase = spec.models["value"]["fits"]["purchase"]
    assert purchase["converged"] is False
    assert "cannot identify dropout" in purchase["reason"]
    assert "p_alive" in purchase["fallback"] and "left out" in purchase["fallback"]
    assert not {"p_alive", "expected_purchases", "clv"} & set(spec.names)
    created = b2b.accounts.set_index("account_id")["created_date"]
    assert set(frame["customer_id"]) == set(created[created < "2024-10-01"].index)
    merged = frame.merge(b2b.truth.rename(columns={"account_id": "customer_id"}), on="customer_id")
    contacts = merged.groupby("segment")["contacts"].mean()
    assert contacts.idxmax() == "enterprise_strategic" and contacts.idxmin() == "smb_transactional"
    big = merged.groupby("segment")["employee_band"].agg(lambda s: (s == "1000+").mean())
    assert big.idxmax() == "enterprise_strategic"
    assert (merged["decision_roles"] >= 1).all()  # every account has a decision maker
