"""Card sections computed from the segment's profile: its size, how and what it buys, what it
expects, and how to recognise it (profile traits and typing-tool rules).

Each section reads the segment's attribute table (:meth:`SegmentProfiles.attribute_table`) or
its profile, not the per-customer tables (those are in :mod:`segmint.profile._card_customers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from segmint.profile._card_model import Statement, _level, _money, _pct, _words
from segmint.profile._profiles import SegmentProfiles


def _size(profiles: SegmentProfiles, segment_id: int) -> list[Statement]:
    row = profiles.summary.set_index("segment_id").loc[segment_id]
    text = f"{int(row['customers']):,} customers, {row['share']:.1%} of all"
    if "revenue_share" in row and row["revenue_share"] == row["revenue_share"]:
        text += f"; {row['revenue_share']:.1%} of net revenue"
    if "clv_share" in row and row["clv_share"] == row["clv_share"]:
        text += f" and {row['clv_share']:.1%} of lifetime value"
    return [Statement(text + ".", float(row["share"]), "summary:share")]


_BUY_TEMPLATES: dict[str, str] = {
    "frequency": "Placed {seg:.1f} orders on average (all customers {all:.1f}; index {idx}).",
    "recency_days": "Last bought {seg:.0f} days before the snapshot on average (all customers"
    " {all:.0f}).",
    "monetary": "Spent {seg_money} net on average (all customers {all_money}; index {idx}).",
    "avg_order_value": "Average order {seg_money} (all customers {all_money}; index {idx}).",
    "tenure_days": "First bought {seg:.0f} days before the snapshot on average (all customers"
    " {all:.0f}).",
    "discount_share": "{seg_pct} of their orders carried a discount (all customers {all_pct}).",
    "return_rate": "{seg:.2f} returned orders per order (all customers {all:.2f}).",
}


def _fill(template: str, seg: float, overall: float, index: float) -> str:
    return template.format(
        seg=seg,
        all=overall,
        idx="–" if index != index else f"{index:.0f}",
        seg_money=_money(seg),
        all_money=_money(overall),
        seg_pct=_pct(seg),
        all_pct=_pct(overall),
    )


def _mix(table: pd.DataFrame, prefix: str, noun: str) -> list[Statement]:
    rows = table[table["attribute"].str.startswith(prefix)]
    if rows.empty:
        return []
    top = rows.loc[rows["segment_value"].idxmax()]
    where = (
        f"goes to {_level(top['attribute'], prefix)}"
        if noun == "category"
        else f"goes through the {_level(top['attribute'], prefix)} channel"
    )
    out = [
        Statement(
            f"{_pct(top['segment_value'])} of their spend {where} (all customers"
            f" {_pct(top['overall_value'])}).",
            float(top["segment_value"]),
            str(top["attribute"]),
        )
    ]
    over = rows[rows["significant"] & (rows["index"] >= 150)]
    over = over[over["attribute"] != top["attribute"]]
    if len(over):
        best = over.loc[over["index"].idxmax()]
        out.append(
            Statement(
                f"Over-represented {noun}: {_level(best['attribute'], prefix)} at"
                f" {_pct(best['segment_value'])} of spend, index {best['index']:.0f}.",
                float(best["index"]),
                str(best["attribute"]),
            )
        )
    return out


def _buy(table: pd.DataFrame, descriptions: Mapping[str, str], skip: set[str]) -> list[Statement]:
    by = table.set_index("attribute")
    out = [
        Statement(
            _fill(
                template,
                by.loc[attr, "segment_value"],
                by.loc[attr, "overall_value"],
                by.loc[attr, "index"],
            ),
            float(by.loc[attr, "segment_value"]),
            attr,
        )
        for attr, template in _BUY_TEMPLATES.items()
        if attr in by.index
    ]
    out += _mix(table, "share_category_", "category")
    out += _mix(table, "share_channel_", "channel")
    known = set(_BUY_TEMPLATES) | {"clv"} | skip
    others = table[
        ~table["attribute"].isin(known)
        & ~table["attribute"].str.startswith(("share_category_", "share_channel_"))
        & ~table["attribute"].str.endswith("_consent")
        & table["significant"]
        & (table["effect"].abs() >= 0.5)
    ]
    for r in others.itertuples():
        text = descriptions.get(r.attribute, _words(r.attribute))
        out.append(
            Statement(
                f"{text}: {r.segment_value:,.2f} vs {r.overall_value:,.2f} for all customers"
                f" (index {'–' if r.index != r.index else f'{r.index:.0f}'}).",
                float(r.segment_value),
                str(r.attribute),
            )
        )
    return out


def _expect(table: pd.DataFrame) -> list[Statement]:
    by = table.set_index("attribute")
    out = []

    def row(attr: str) -> pd.Series | None:
        return by.loc[attr] if attr in by.index else None

    disc = row("discount_share")
    if disc is not None and disc["significant"] and disc["index"] >= 120:
        out.append(
            Statement(
                f"Expect a deal: {_pct(disc['segment_value'])} of their orders used a discount"
                f" (all customers {_pct(disc['overall_value'])}).",
                float(disc["segment_value"]),
                "discount_share",
            )
        )
    elif disc is not None and disc["significant"] and disc["index"] <= 80:
        out.append(
            Statement(
                f"Buy without a deal: only {_pct(disc['segment_value'])} of their orders used"
                f" a discount (all customers {_pct(disc['overall_value'])}).",
                float(disc["segment_value"]),
                "discount_share",
            )
        )
    ret = row("return_rate")
    if ret is not None and ret["significant"] and ret["index"] >= 130:
        out.append(
            Statement(
                f"Expect easy returns: {ret['segment_value']:.2f} returned orders per order,"
                f" index {ret['index']:.0f}.",
                float(ret["segment_value"]),
                "return_rate",
            )
        )
    wording = {
        "app": "a good app",
        "store": "service in store",
        "web": "a smooth web shop",
    }
    for attr in by.index[by.index.str.startswith("share_channel_")]:
        channel = _level(attr, "share_channel_")
        share = float(by.loc[attr, "segment_value"])
        if share >= 0.5:
            out.append(
                Statement(
                    f"Expect {wording.get(channel, channel)}: {_pct(share)} of their spend goes"
                    f" through the {channel} channel (all customers"
                    f" {_pct(by.loc[attr, 'overall_value'])}).",
                    share,
                    attr,
                )
            )
    ten = row("tenure_days")
    if ten is not None and ten["significant"] and ten["index"] <= 50:
        out.append(
            Statement(
                f"Expect a welcome: they are new, first buying {ten['segment_value']:.0f} days"
                f" before the snapshot on average (all customers {ten['overall_value']:.0f}).",
                float(ten["segment_value"]),
                "tenure_days",
            )
        )
    return out


def _condition_text(cond: Mapping[str, Any]) -> str:
    value = cond["value"]
    shown = f"{value:,.4g}" if isinstance(value, float) else str(value)
    op = {"<=": "≤", ">": ">", "=": "=", "!=": "≠"}[cond["op"]]
    return f"{cond['variable']} {op} {shown}"


def _recognise(
    segment_id: int, profiles: SegmentProfiles, typing_tool: Any, descriptions: Mapping[str, str]
) -> list[Statement]:
    out = []
    if typing_tool is not None and hasattr(typing_tool, "rules_"):
        rules = [r for r in typing_tool.rules_ if int(r["segment"]) == segment_id]
        rules.sort(key=lambda r: r["n_samples"], reverse=True)
        for rule in rules[:1]:
            words = " and ".join(_condition_text(c) for c in rule["conditions"]) or "any customer"
            out.append(
                Statement(
                    f"Rule: {words}. {_pct(rule['purity'])} of the customers it matches belong"
                    f" here; it covers {_pct(rule['support'])} of all customers.",
                    float(rule["purity"]),
                    "typing_tool",
                )
            )
        if rules:
            out.append(
                Statement(
                    f"The typing tool's rules on {len(typing_tool.variables_)} variables"
                    f" ({', '.join(typing_tool.variables_)}) assign {typing_tool.accuracy_:.0%}"
                    " of held-out customers to their segment.",
                    float(typing_tool.accuracy_),
                    "typing_tool",
                )
            )
    traits = profiles.top_traits(segment_id, n=2)
    for i, t in enumerate(traits.itertuples()):
        out.append(
            Statement(
                f"{'Differs most' if i == 0 else 'Also differs'} on"
                f" {descriptions.get(t.attribute, _words(t.attribute)).lower()}:"
                f" {t.segment_value:,.2f} vs {t.overall_value:,.2f} overall"
                f" ({t.effect:+.1f} standard deviations).",
                float(t.effect),
                str(t.attribute),
            )
        )
    return out
