"""The playbook: which plays fire on which traits, and that each cites its figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.profile._profiles import profile_segments
from segmint.strategy._playbook import DEFAULT_PLAYBOOK, recommend, segment_facts


def _base(**extra: float | str) -> dict:
    facts = {
        "customers": 1200.0,
        "share": 0.12,
        "revenue_share": 0.4,
        "monetary.index": 100.0,
        "frequency.index": 100.0,
        "frequency.value": 6.0,
        "recency_days.index": 100.0,
        "recency_days.value": 60.0,
        "avg_order_value.index": 100.0,
        "avg_order_value.value": 50.0,
        "tenure_days.index": 100.0,
        "tenure_days.value": 400.0,
        "top_category": "fashion",
        "best_channel": "e-mail (80% consented)",
        "reach.email": 0.8,
        "reach.sms": 0.3,
        "reach.any": 0.85,
    }
    facts.update(extra)
    return facts


def _plays(facts: dict) -> dict:
    return {r.play: r for r in recommend({0: facts}, {0: "S"})}


def test_champions_get_the_loyalty_play_with_their_figures() -> None:
    recs = _plays(
        _base(**{"monetary.index": 240.0, "frequency.index": 190.0, "recency_days.index": 40.0})
    )
    assert list(recs) == ["vip_loyalty"]
    rec = recs["vip_loyalty"]
    assert "monetary index 240 (≥ 150)" in rec.triggers
    assert "frequency index 190 (≥ 150)" in rec.triggers
    assert "recency_days index 40 (≤ 100)" in rec.triggers
    assert rec.targeting == "All 1,200 members: 40% of net revenue from 12% of customers."
    assert rec.channel == "e-mail (80% of members), SMS (30% of members)."


def test_lapsed_high_value_customers_get_a_win_back() -> None:
    recs = _plays(
        _base(
            **{
                "recency_days.index": 320.0,
                "recency_days.value": 410.0,
                "avg_order_value.index": 180.0,
                "avg_order_value.value": 160.0,
            }
        )
    )
    assert "win_back" in recs and "reactivation_low_cost" not in recs
    assert "410 days" in recs["win_back"].targeting
    assert "160.00" in recs["win_back"].offer
    low = _plays(_base(**{"recency_days.index": 320.0, "avg_order_value.index": 80.0}))
    assert "reactivation_low_cost" in low and "win_back" not in low


def test_new_customers_get_onboarding_and_deal_seekers_price_led_offers() -> None:
    assert "onboarding" in _plays(_base(**{"tenure_days.index": 20.0}))
    deal = _base(
        **{
            "discount_share.index": 230.0,
            "discount_share.significant": 1.0,
            "discount_share.value": 0.74,
            "discount_share.overall": 0.32,
        }
    )
    rec = _plays(deal)["price_led"]
    assert "74% of their orders (all customers 32%)" in rec.targeting
    # not significant: the same index does not fire
    deal["discount_share.significant"] = 0.0
    assert "price_led" not in _plays(deal)


def test_app_users_get_mobile_first_and_unreachable_ones_consent_building() -> None:
    recs = _plays(
        _base(**{"share_channel_app.value": 0.82, "reach.any": 0.35, "unreachable": 0.65})
    )
    assert "mobile_first" in recs and "consent_building" in recs
    assert "82%" in recs["mobile_first"].targeting
    assert "65% of members" in recs["consent_building"].targeting
    assert "reach any 0.35 (< 0.6)" in recs["consent_building"].triggers


def test_season_aware_timing_by_hemisphere_is_added_to_every_play() -> None:
    facts = _base(
        **{"tenure_days.index": 20.0, "hemisphere.southern": 0.62, "hemisphere.northern": 0.38}
    )
    recs = _plays(facts)
    assert "seasonal_timing" not in recs  # a modifier, not a play of its own
    timing = recs["onboarding"].timing
    assert "winter campaign in June–August for the 62% in the southern hemisphere" in timing
    assert "December–February for the 38% in the northern" in timing
    assert "hemisphere southern 0.62 (≥ 0.05)" in recs["onboarding"].triggers
    one_sided = _plays(_base(**{"hemisphere.southern": 0.0, "hemisphere.northern": 1.0}))
    assert "June–August" not in one_sided["maintain"].timing


def test_a_segment_no_play_fits_is_maintained_and_says_why() -> None:
    recs = recommend({3: _base()}, {3: "Average customers"})
    assert [r.play for r in recs] == ["maintain"]
    assert recs[0].segment_name == "Average customers"
    assert recs[0].triggers == ["no play's conditions hold; 1,200 customers, 12.0% of all"]


def test_a_play_whose_template_needs_a_missing_fact_does_not_apply() -> None:
    facts = _base(**{"tenure_days.index": 20.0})
    del facts["tenure_days.value"]
    assert list(_plays(facts)) == ["maintain"]


def test_playbook_is_data() -> None:
    keys = [p["key"] for p in DEFAULT_PLAYBOOK]
    assert len(keys) == len(set(keys))
    for play in DEFAULT_PLAYBOOK:
        assert {"key", "title", "when", "targeting", "messaging", "offer", "channel", "timing"} <= (
            set(play)
        )
        for _fact, op, threshold in play["when"]:
            assert op in {">=", ">", "<=", "<", "=="} and isinstance(threshold, int | float)


def test_segment_facts_from_profiles() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 100)
    attributes = pd.DataFrame(
        {
            "discount_share": np.where(labels == 0, 0.8, 0.2) + rng.uniform(0, 0.05, 200),
            "share_category_home": np.where(labels == 0, 0.1, 0.7) + rng.uniform(0, 0.01, 200),
            "share_category_toys": np.where(labels == 0, 0.95, 0.2) + rng.uniform(0, 0.01, 200),
            "monetary": rng.uniform(50, 150, 200),
        }
    )
    profiles = profile_segments(attributes, labels)
    reach = pd.DataFrame({"email": [0.9, 0.2], "sms": [0.1, 0.4], "any": [0.9, 0.5]})
    facts = segment_facts(profiles, 0, reach=reach, hemispheres={"southern": 0.3, "northern": 0.7})
    assert facts["discount_share.index"] == pytest.approx(
        100 * attributes["discount_share"][:100].mean() / attributes["discount_share"].mean()
    )
    assert facts["discount_share.significant"] == 1.0
    assert facts["top_category"] == "toys" and facts["over_category"] == "toys"
    assert facts["reach.any"] == 0.9 and facts["unreachable"] == pytest.approx(0.1)
    assert facts["best_channel"] == "e-mail (90% consented)"
    assert facts["hemisphere.southern"] == 0.3
    recs = recommend({0: facts}, {0: "Deal seekers"})
    assert {"price_led", "category_cross_sell"} <= {r.play for r in recs}
