"""Recommendations from a documented playbook: rules as data, keyed on computed traits.

Every segment is described by **facts**: numbers computed earlier (profile means and indices,
reach shares, hemisphere shares, growth, sizes). A **play** of :data:`DEFAULT_PLAYBOOK` fires
for a segment when all its conditions on those facts hold; it then yields a
:class:`Recommendation` with targeting, messaging, offer, channel and timing, whose text is
filled in from the same facts, and which lists the conditions that triggered it with the
actual figures. A segment on which no play fires gets the ``maintain`` play, which says so.

Facts are named ``<attribute>.value`` (segment mean), ``<attribute>.index`` (100 = average),
``<attribute>.significant`` (1 when the difference is significant), ``reach.<channel>`` and
``reach.any`` (shares), ``hemisphere.southern`` / ``hemisphere.northern`` (shares of members
with a known country), ``share``, ``customers``, ``revenue_share``, ``growth``; and the text
facts ``top_category``, ``over_category`` and ``best_channel``.

Template placeholders are ``{fact}`` or ``{fact|format}`` with the formats ``pct``, ``money``,
``int``, ``num`` and ``days``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segmint.evaluate._scorecard import channel_label
from segmint.profile._profiles import SegmentProfiles

__all__ = [
    "DEFAULT_PLAYBOOK",
    "Recommendation",
    "recommend",
    "segment_facts",
]

Facts = dict[str, Any]

#: The playbook: plays with their trigger conditions (all must hold) and the texts of the
#: recommendation. ``channel: "auto"`` lists the segment's reachable channels by share. A play
#: with ``modifies: "timing"`` does not stand alone: when it fires, its timing sentence and its
#: triggers are added to every other recommendation of the segment.
DEFAULT_PLAYBOOK: tuple[dict[str, Any], ...] = (
    {
        "key": "vip_loyalty",
        "title": "Loyalty / VIP programme for champions",
        "when": [
            ["monetary.index", ">=", 150],
            ["frequency.index", ">=", 150],
            ["recency_days.index", "<=", 100],
        ],
        "targeting": "All {customers|int} members: {revenue_share|pct} of net revenue from"
        " {share|pct} of customers.",
        "messaging": "Recognition and belonging: thank them, give early access and a say in new"
        " ranges; do not lead with price.",
        "offer": "VIP tier with service benefits (free returns, priority delivery) and early"
        " access instead of discounts.",
        "channel": "auto",
        "timing": "Always on; early access one to two weeks before each launch. They buy"
        " {frequency.value|num} times on average.",
    },
    {
        "key": "win_back",
        "title": "Win-back for lapsed high-value customers",
        "when": [["recency_days.index", ">=", 150], ["avg_order_value.index", ">=", 110]],
        "targeting": "Members whose last order is older than their usual gap; on average"
        " {recency_days.value|days} since the last order.",
        "messaging": "'We have missed you': what is new in {top_category} since their last visit.",
        "offer": "A time-limited personal incentive on {top_category}, sized to their average"
        " order of {avg_order_value.value|money}.",
        "channel": "auto",
        "timing": "Now, then two reminders two weeks apart; stop after the third contact.",
    },
    {
        "key": "reactivation_low_cost",
        "title": "Low-cost reactivation of lapsed low spenders",
        "when": [["recency_days.index", ">=", 150], ["avg_order_value.index", "<", 110]],
        "targeting": "Members {recency_days.value|days} since the last order on average.",
        "messaging": "Reminder of the range and of what they bought before.",
        "offer": "No paid incentive; free delivery on the next order at most.",
        "channel": "auto",
        "timing": "One automated e-mail sequence; suppress from paid media if there is no reply.",
    },
    {
        "key": "onboarding",
        "title": "Onboarding for new customers",
        "when": [["tenure_days.index", "<=", 50]],
        "targeting": "Customers in their first {tenure_days.value|days} (segment average).",
        "messaging": "Welcome and guidance: how to get the most out of the range, starting from"
        " {top_category}.",
        "offer": "Second-order incentive within 30 days of the first order.",
        "channel": "auto",
        "timing": "Triggered by the first order: day 1, day 7 and day 21.",
    },
    {
        "key": "price_led",
        "title": "Price-led offers for deal seekers",
        "when": [["discount_share.index", ">=", 150], ["discount_share.significant", "==", 1]],
        "targeting": "Members who buy on discount: {discount_share.value|pct} of their orders"
        " (all customers {discount_share.overall|pct}).",
        "messaging": "Value and savings: bundles, multi-buys and price comparisons.",
        "offer": "Bundles and volume offers on {top_category} rather than deeper blanket"
        " discounts, to protect margin.",
        "channel": "auto",
        "timing": "Around promotional moments and pay days.",
    },
    {
        "key": "mobile_first",
        "title": "Mobile-first engagement for app users",
        "when": [["share_channel_app.value", ">=", 0.5]],
        "targeting": "App users: {share_channel_app.value|pct} of their spend goes through the"
        " app.",
        "messaging": "Short, visual, personalised content; new arrivals in {top_category}.",
        "offer": "App-only early access and in-app rewards.",
        "channel": "App push and in-app messages first, then {best_channel}.",
        "timing": "When they usually open the app; no more than two pushes a week.",
    },
    {
        "key": "store_led",
        "title": "Store-led relationship building",
        "when": [["share_channel_store.value", ">=", 0.5]],
        "targeting": "Store shoppers: {share_channel_store.value|pct} of their spend is in store.",
        "messaging": "Personal service and advice in store; invite them online for convenience.",
        "offer": "Loyalty card benefits at the till; click-and-collect.",
        "channel": "In store (staff, receipts, loyalty card), then {best_channel}.",
        "timing": "At their next store visit; follow up within a week.",
    },
    {
        "key": "category_cross_sell",
        "title": "Cross-sell around their favourite category",
        "when": [["over_category.index", ">=", 150]],
        "targeting": "Members over-indexing on {over_category}: index {over_category.index|int}.",
        "messaging": "New arrivals and complementary items for {over_category}.",
        "offer": "Bundle {over_category} with a complementary category.",
        "channel": "auto",
        "timing": "With each new {over_category} range.",
    },
    {
        "key": "consent_building",
        "title": "Consent building for hard-to-reach customers",
        "when": [["reach.any", "<", 0.6]],
        "targeting": "The {unreachable|pct} of members with no consented channel and no app use.",
        "messaging": "Why it is worth hearing from us: service messages, order updates, offers"
        " they choose.",
        "offer": "A small incentive for opting in to e-mail or SMS at checkout or in store.",
        "channel": "Owned touchpoints: checkout, receipts, store staff, packaging inserts.",
        "timing": "At every purchase until they opt in.",
    },
    {
        "key": "seasonal_timing",
        "title": "Season-aware timing by hemisphere",
        "modifies": "timing",
        "when": [["hemisphere.southern", ">=", 0.05], ["hemisphere.northern", ">=", 0.05]],
        "targeting": "Split seasonal campaigns by hemisphere.",
        "messaging": "Season-appropriate ranges for each hemisphere.",
        "offer": "Seasonal ranges in season for each half of the segment.",
        "channel": "auto",
        "timing": "Season-aware: winter campaign in June–August for the"
        " {hemisphere.southern|pct} in the southern hemisphere, in December–February for the"
        " {hemisphere.northern|pct} in the northern; summer campaigns the other way round.",
    },
)

_MAINTAIN: dict[str, Any] = {
    "key": "maintain",
    "title": "Maintain: keep-warm communication",
    "when": [],
    "targeting": "All {customers|int} members ({share|pct} of customers).",
    "messaging": "Regular newsletter with the range they buy most, {top_category}.",
    "offer": "No specific offer; standard loyalty benefits.",
    "channel": "auto",
    "timing": "Regular cadence; review when the segment's behaviour changes.",
}

_OPS = {
    ">=": np.greater_equal,
    ">": np.greater,
    "<=": np.less_equal,
    "<": np.less,
    "==": np.equal,
}
_SYMBOL = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "="}
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.]+)(?:\|([a-z]+))?\}")


@dataclass
class Recommendation:
    """One recommended play for one segment, with the figures that triggered it."""

    segment_id: int
    segment_name: str
    play: str
    title: str
    targeting: str
    messaging: str
    offer: str
    channel: str
    timing: str
    triggers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _format(value: Any, kind: str | None) -> str:
    if isinstance(value, str):
        return value
    value = float(value)
    if kind == "pct":
        return f"{value:.0%}"
    if kind == "money":
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"
    if kind == "int":
        return f"{round(value):,}"
    if kind == "days":
        return f"{value:,.0f} days"
    return f"{value:,.1f}"


def _render(template: str, facts: Facts) -> str:
    def sub(match: re.Match[str]) -> str:
        key, kind = match.group(1), match.group(2)
        if key not in facts:
            raise KeyError(key)
        return _format(facts[key], kind)

    return _PLACEHOLDER.sub(sub, template)


def _holds(facts: Facts, condition: Sequence[Any]) -> bool:
    key, op, threshold = condition
    value = facts.get(key)
    if value is None or isinstance(value, str) or value != value:
        return False
    return bool(_OPS[op](float(value), float(threshold)))


def _trigger_text(facts: Facts, condition: Sequence[Any]) -> str:
    key, op, threshold = condition
    value = float(facts[key])
    attribute, _, what = key.rpartition(".")
    if attribute == "over_category":
        attribute = f"share_category_{facts['over_category']}"
    shown = (
        f"{value:.0f}"
        if what == "index"
        else f"{value:.2f}"
        if what != "significant"
        else ("yes" if value else "no")
    )
    limit = f"{threshold:g}" if what != "significant" else ("yes" if threshold else "no")
    return f"{attribute} {what} {shown} ({_SYMBOL[op]} {limit})"


def _channels(facts: Facts) -> str:
    shares = sorted(
        (
            (k.split(".", 1)[1], v)
            for k, v in facts.items()
            if k.startswith("reach.") and k != "reach.any"
        ),
        key=lambda kv: -kv[1],
    )
    if not shares:
        if "top_channel" in facts:
            return (
                f"Their main channel, {facts['top_channel']} ({facts['top_channel.value']:.0%}"
                " of spend); no consent data."
            )
        return "No channel or consent data: use owned touchpoints."
    listed = ", ".join(f"{channel_label(c)} ({v:.0%} of members)" for c, v in shares if v > 0)
    return f"{listed or 'none reachable yet'}."


def segment_facts(
    profiles: SegmentProfiles,
    segment_id: int,
    *,
    reach: pd.DataFrame | None = None,
    hemispheres: Mapping[str, float] | None = None,
    growth: float | None = None,
    alpha: float = 0.05,
) -> Facts:
    """The facts the playbook's conditions and templates refer to, for one segment.

    Parameters
    ----------
    profiles : SegmentProfiles
        The segments' profiles.
    segment_id : int
        The segment.
    reach : pandas.DataFrame, optional
        The scorecard's reach table (segment id → share per channel and ``any``).
    hemispheres : dict, optional
        ``{"southern": share, "northern": share}`` of the segment's members.
    growth : float, optional
        Recent / earlier revenue of the segment.
    """
    summary = profiles.summary.set_index("segment_id").loc[segment_id]
    facts: Facts = {
        "customers": float(summary["customers"]),
        "share": float(summary["share"]),
        "revenue_share": float(summary.get("revenue_share", np.nan)),
    }
    table = profiles.attribute_table(segment_id, alpha)
    for r in table.itertuples():
        facts[f"{r.attribute}.value"] = float(r.segment_value)
        facts[f"{r.attribute}.overall"] = float(r.overall_value)
        facts[f"{r.attribute}.index"] = float(r.index)
        facts[f"{r.attribute}.significant"] = 1.0 if r.significant else 0.0
    for prefix, name in (("share_category_", "category"), ("share_channel_", "channel")):
        rows = table[table["attribute"].str.startswith(prefix)]
        if rows.empty:
            continue
        top = rows.loc[rows["segment_value"].idxmax()]
        facts[f"top_{name}"] = str(top["attribute"])[len(prefix) :].replace("_", " ")
        facts[f"top_{name}.value"] = float(top["segment_value"])
        if name == "category":
            significant = rows[rows["significant"]]
            if len(significant):
                over = significant.loc[significant["index"].idxmax()]
                facts["over_category"] = str(over["attribute"])[len(prefix) :].replace("_", " ")
                facts["over_category.index"] = float(over["index"])
                facts["over_category.value"] = float(over["segment_value"])
    facts.setdefault("top_category", "their usual categories")
    if reach is not None and segment_id in reach.index:
        for column in reach.columns:
            facts[f"reach.{column}"] = float(reach.loc[segment_id, column])
        if "reach.any" in facts:
            facts["unreachable"] = 1.0 - facts["reach.any"]
    if hemispheres:
        for side, share in hemispheres.items():
            facts[f"hemisphere.{side}"] = float(share)
    if growth is not None and growth == growth:
        facts["growth"] = float(growth)
    best = [
        (k.split(".", 1)[1], v)
        for k, v in facts.items()
        if k.startswith("reach.") and k != "reach.any" and k != "reach.app"
    ]
    if best:
        channel, share = max(best, key=lambda kv: kv[1])
        facts["best_channel"] = f"{channel_label(channel)} ({share:.0%} consented)"
    else:
        facts["best_channel"] = "their usual channel"
    return facts


def recommend(
    facts: Mapping[int, Facts],
    names: Mapping[int, str],
    *,
    playbook: Sequence[Mapping[str, Any]] = DEFAULT_PLAYBOOK,
) -> list[Recommendation]:
    """Apply the playbook to every segment's facts.

    Parameters
    ----------
    facts : dict
        Segment id → facts (:func:`segment_facts`).
    names : dict
        Segment id → name.
    playbook : sequence of dict
        Plays: ``key``, ``title``, ``when`` (list of ``[fact, op, threshold]``, all must hold;
        ops ``>=, >, <=, <, ==``), and the templates ``targeting``, ``messaging``, ``offer``,
        ``channel`` (``"auto"``: the reachable channels by share) and ``timing``; optionally
        ``modifies: "timing"`` (see :data:`DEFAULT_PLAYBOOK`).

    Returns
    -------
    list of Recommendation
        In segment order, then playbook order; ``maintain`` for a segment no play fits.
    """
    out = []
    for segment_id, segment_facts_ in facts.items():
        fired = [p for p in playbook if all(_holds(segment_facts_, c) for c in p["when"])]
        plays = [p for p in fired if "modifies" not in p]
        modifiers = [p for p in fired if p.get("modifies") == "timing"]
        made = [
            r
            for r in (_apply(p, segment_id, segment_facts_, names) for p in plays)
            if r is not None
        ]
        if not made:
            maintain = _apply(_MAINTAIN, segment_id, segment_facts_, names)
            made = [maintain] if maintain is not None else []
        for modifier in modifiers:
            try:
                extra = _render(modifier["timing"], segment_facts_)
            except KeyError:
                continue
            because = [_trigger_text(segment_facts_, c) for c in modifier["when"]]
            for rec in made:
                rec.timing = f"{rec.timing} {extra}"
                rec.triggers += because
        out += made
    return out


def _apply(
    play: Mapping[str, Any], segment_id: int, facts: Facts, names: Mapping[int, str]
) -> Recommendation | None:
    try:
        texts = {
            key: _render(play[key], facts) for key in ("targeting", "messaging", "offer", "timing")
        }
        channel = _channels(facts) if play["channel"] == "auto" else _render(play["channel"], facts)
    except KeyError:
        # a template needs a fact this segment does not have: the play does not apply
        return None
    triggers = [_trigger_text(facts, c) for c in play["when"]]
    if not play["when"]:
        triggers = [
            f"no play's conditions hold; {facts['customers']:,.0f} customers,"
            f" {facts['share']:.1%} of all"
        ]
    return Recommendation(
        segment_id=int(segment_id),
        segment_name=names.get(segment_id, f"Segment {segment_id}"),
        play=str(play["key"]),
        title=str(play["title"]),
        channel=channel,
        triggers=triggers,
        **texts,
    )
