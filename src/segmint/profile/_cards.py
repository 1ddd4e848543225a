"""Persona cards: one page per segment, every sentence generated from a computed figure.

A card answers the questions a client asks about a segment — who they are, how and what they
buy, why (needs, when a survey exists), what they expect, how to recognise them (typing-tool
rules) and how to reach them (channels and consent) — as data: a list of sections, each a list
of :class:`Statement` objects holding the sentence *and* the figure behind it. Nothing is
written that was not computed; a section the data cannot fill is left out and the card says
why in its notes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from segmint.evaluate._scorecard import channel_label
from segmint.profile._names import name_evidence
from segmint.profile._profiles import SegmentProfiles

__all__ = [
    "SECTIONS",
    "CardSection",
    "PersonaCard",
    "Statement",
    "hemisphere",
    "persona_cards",
]

SECTIONS = {
    "who": "Who they are",
    "buy": "How and what they buy",
    "why": "Why they buy",
    "expect": "What they expect",
    "recognise": "How to recognise them",
    "reach": "How to reach them",
}

# Countries (names and ISO 3166 alpha-2 codes) whose population lives mostly south of the
# equator, and those mostly within the tropics astride it (no winter to time a campaign by).
# Every other named country counts as northern.
SOUTHERN = frozenset(
    {
        "australia", "au", "new zealand", "nz", "south africa", "za", "argentina", "ar",
        "chile", "cl", "uruguay", "uy", "paraguay", "py", "bolivia", "bo", "peru", "pe",
        "brazil", "br", "namibia", "na", "botswana", "bw", "zimbabwe", "zw", "zambia", "zm",
        "mozambique", "mz", "madagascar", "mg", "malawi", "mw", "angola", "ao", "lesotho",
        "ls", "eswatini", "sz", "mauritius", "mu", "fiji", "fj", "samoa", "ws", "tonga", "to",
        "papua new guinea", "pg", "tanzania", "tz", "indonesia", "id",
    }
)  # fmt: skip
EQUATORIAL = frozenset(
    {
        "ecuador", "ec", "colombia", "co", "kenya", "ke", "uganda", "ug", "gabon", "ga",
        "congo", "cg", "democratic republic of the congo", "cd", "somalia", "so", "singapore",
        "sg", "kiribati", "ki", "sao tome and principe", "st",
    }
)  # fmt: skip

_COUNTRY_COLUMNS = ("country", "country_code", "land")
_DEVICE_COLUMNS = ("preferred_device", "device")
_MAX_LEVELS = 12


@dataclass(frozen=True)
class Statement:
    """One sentence of a card and the figure it was generated from.

    Attributes
    ----------
    text : str
        The sentence, with the figure written in it.
    value : float
        The figure (a share, mean, index or count).
    source : str
        Where the figure comes from (an attribute, ``survey:<item>``, ``typing_tool``, ...).
    """

    text: str
    value: float
    source: str


@dataclass
class CardSection:
    """A titled list of statements."""

    key: str
    title: str
    statements: list[Statement]


@dataclass
class PersonaCard:
    """The one-page card of a segment, as data (rendered by the report)."""

    segment_id: int
    name: str
    customers: int
    share: float
    revenue_share: float | None
    clv_share: float | None
    sections: list[CardSection]
    notes: list[str] = field(default_factory=list)
    #: why the segment has its name: one statement per word, with the segment's figure
    #: (``value``) and the attribute (``source``), or ``source="given"`` for a given name
    name_evidence: list[Statement] = field(default_factory=list)

    def section(self, key: str) -> CardSection | None:
        """The section ``key`` (see :data:`SECTIONS`), or None when it was left out."""
        return next((s for s in self.sections if s.key == key), None)

    def statements(self) -> list[Statement]:
        """Every statement of the card, in order."""
        return [st for s in self.sections for st in s.statements]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        """The card as plain text (one line per statement)."""
        head = f"{self.segment_id}: {self.name}"
        lines = [head, "=" * len(head)]
        lines += [f"  Named so: {s.text}" for s in self.name_evidence]
        for section in self.sections:
            lines.append(section.title)
            lines += [f"  - {s.text}" for s in section.statements]
        lines += [f"  ({note})" for note in self.notes]
        return "\n".join(lines)


def hemisphere(country: pd.Series) -> pd.Series:
    """``southern``, ``northern`` or ``equatorial`` for each country name or ISO code.

    Missing countries stay missing. The southern and equatorial lists are
    :data:`SOUTHERN` and :data:`EQUATORIAL`; every other named country is northern.
    """
    key = country.astype("string").str.strip().str.lower()
    out = pd.Series("northern", index=country.index, dtype="string")
    out[key.isin(SOUTHERN).fillna(False).to_numpy(dtype=bool)] = "southern"
    out[key.isin(EQUATORIAL).fillna(False).to_numpy(dtype=bool)] = "equatorial"
    out[key.isna().to_numpy()] = pd.NA
    return out


def country_column(customers: pd.DataFrame | None) -> str | None:
    """The customer column holding the country, if any."""
    if customers is None:
        return None
    return next((c for c in _COUNTRY_COLUMNS if c in customers.columns), None)


def _welch_p(a: pd.Series, b: pd.Series) -> float:
    """Two-sided Welch t-test p-value; 1 when neither group varies and the means are equal."""
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if a.iloc[0] == b.iloc[0] else 0.0
    with warnings.catch_warnings():
        # a group of identical values (e.g. one answer by every respondent) is a valid
        # input; scipy warns about its "catastrophic cancellation" in the variance
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


# ----------------------------------------------------------------------------- formatting
def _pct(value: float) -> str:
    return f"{value:.0%}" if abs(value) >= 0.1 or value == 0 else f"{value:.1%}"


def _money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"


def _words(name: str) -> str:
    return name.replace("_", " ")


def _level(attribute: str, prefix: str) -> str:
    return attribute[len(prefix) :].replace("_", " ")


# ----------------------------------------------------------------------------- sections
def _size(profiles: SegmentProfiles, segment_id: int) -> list[Statement]:
    row = profiles.summary.set_index("segment_id").loc[segment_id]
    text = f"{int(row['customers']):,} customers, {row['share']:.1%} of all"
    if "revenue_share" in row and row["revenue_share"] == row["revenue_share"]:
        text += f"; {row['revenue_share']:.1%} of net revenue"
    if "clv_share" in row and row["clv_share"] == row["clv_share"]:
        text += f" and {row['clv_share']:.1%} of lifetime value"
    return [Statement(text + ".", float(row["share"]), "summary:share")]


def _who(inside: np.ndarray, customers: pd.DataFrame | None, alpha: float) -> list[Statement]:
    """Demographics and geography: every numeric attribute that differs significantly (age
    always), the top country, any over-represented category (index >= 120, significant), and
    the hemisphere split."""
    if customers is None:
        return []
    out: list[Statement] = []
    country = country_column(customers)
    for column in customers.columns:
        if column.endswith("_consent") or column in _DEVICE_COLUMNS:
            continue
        values = customers[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values):
            x = values.astype(float)
            a, b = x[inside].dropna(), x[~inside].dropna()
            if len(a) < 2 or len(b) < 2:
                continue
            p = _welch_p(a, b)
            if p < alpha:
                direction = "higher" if a.mean() > b.mean() else "lower"
                text = (
                    f"Average {_words(column)} {a.mean():.1f} vs {x.mean():.1f} across all"
                    f" customers (significantly {direction})."
                )
            elif column == "age":
                text = (
                    f"Average age {a.mean():.1f}, like the {x.mean():.1f} of all customers (no"
                    " significant difference)."
                )
            else:
                continue
            out.append(Statement(text, float(a.mean()), f"customers:{column}"))
            continue
        levels = values.astype("string")
        if not 2 <= levels.nunique() <= _MAX_LEVELS:
            continue
        seg_share = levels[inside].value_counts(normalize=True)
        all_share = levels.value_counts(normalize=True)
        if seg_share.empty:
            continue
        if column == country:
            top = str(seg_share.index[0])
            out.append(
                Statement(
                    f"Largest {_words(column)}: {top}, {_pct(seg_share.iloc[0])} of the segment vs"
                    f" {_pct(all_share[top])} of all customers.",
                    float(seg_share.iloc[0]),
                    f"customers:{column}",
                )
            )
            continue
        index = (seg_share / all_share.reindex(seg_share.index)).where(seg_share >= 0.1)
        if index.dropna().empty:
            continue
        level = str(index.idxmax())
        n_in, n_all = int(inside.sum()), int(levels.notna().sum())
        hits_in = int((levels[inside] == level).sum())
        hits_out = int((levels[~inside] == level).sum())
        table = np.array([[hits_in, n_in - hits_in], [hits_out, n_all - n_in - hits_out]])
        p = stats.chi2_contingency(table, correction=False)[1] if table.min() >= 0 else 1.0
        if index[level] >= 1.2 and p < alpha:
            out.append(
                Statement(
                    f"Over-represented {_words(column)}: {level}, {_pct(seg_share[level])} of the"
                    f" segment vs {_pct(all_share[level])} of all customers.",
                    float(seg_share[level]),
                    f"customers:{column}",
                )
            )
    if country is not None:
        sides = hemisphere(customers[country])
        known = sides.notna().to_numpy()
        if (inside & known).any():
            south = float((sides[inside & known] == "southern").mean())
            south_all = float((sides[known] == "southern").mean())
            out.append(
                Statement(
                    f"{_pct(south)} live in the southern hemisphere (all customers:"
                    f" {_pct(south_all)}), {_pct(1 - south)} elsewhere.",
                    south,
                    f"customers:{country}",
                )
            )
    return out


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


def _why(
    inside: np.ndarray, needs: pd.DataFrame | None, alpha: float, top: int = 3
) -> list[Statement]:
    if needs is None or needs.empty:
        return []
    answered = needs.notna().any(axis=1).to_numpy()
    n_resp = int((inside & answered).sum())
    if n_resp < 2:
        return []
    out = []
    rows = []
    for item in needs.columns:
        x = needs[item].astype(float)
        a, b = x[inside].dropna(), x[~inside].dropna()
        if len(a) < 2 or len(b) < 2:
            continue
        p = min(1.0, _welch_p(a, b) * needs.shape[1])
        rows.append((item, float(a.mean()), float(x.mean()), float(p)))
    ranked = sorted(rows, key=lambda r: r[1] - r[2], reverse=True)
    for item, seg, overall, p in ranked[:top]:
        if seg <= overall or p >= alpha:
            continue
        out.append(
            Statement(
                f"Rate ‘{_words(item)}’ {seg:.1f} on the 1–5 scale vs {overall:.1f} for all"
                f" respondents ({n_resp:,} respondents in the segment).",
                seg,
                f"survey:{item}",
            )
        )
    if ranked:
        item, seg, overall, p = ranked[-1]
        if seg < overall and p < alpha:
            out.append(
                Statement(
                    f"Care least about ‘{_words(item)}’: {seg:.1f} vs {overall:.1f} for all"
                    " respondents.",
                    seg,
                    f"survey:{item}",
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


def _reach(
    inside: np.ndarray, reach: pd.DataFrame | None, customers: pd.DataFrame | None
) -> list[Statement]:
    out = []
    if reach is not None and reach.shape[1]:
        flags = reach.to_numpy(dtype=bool)
        labels = {"email": "E-mail consent", "sms": "SMS consent"}
        for j, channel in enumerate(reach.columns):
            if channel == "app":
                what = "App users (at least half of their spend in the app)"
            else:
                what = labels.get(channel, f"{_words(channel).capitalize()} consent")
            out.append(
                Statement(
                    f"{what}: {_pct(flags[inside, j].mean())} (all customers"
                    f" {_pct(flags[:, j].mean())}).",
                    float(flags[inside, j].mean()),
                    f"reach:{channel}",
                )
            )
        rates = flags[inside].mean(axis=0)
        best = int(np.argmax(rates))
        anyone = float(flags[inside].any(axis=1).mean())
        out.append(
            Statement(
                f"{_pct(anyone)} can be reached through at least one channel; the widest is"
                f" {channel_label(reach.columns[best])} ({_pct(rates[best])}).",
                anyone,
                "reach:any",
            )
        )
    if customers is not None:
        device = next((c for c in _DEVICE_COLUMNS if c in customers.columns), None)
        if device is not None:
            levels = customers[device].astype("string")
            share = levels[inside].value_counts(normalize=True)
            if len(share):
                top = str(share.index[0])
                out.append(
                    Statement(
                        f"Prefer {top}: {_pct(share.iloc[0])} (all customers"
                        f" {_pct(float((levels == top).mean()))}).",
                        float(share.iloc[0]),
                        f"customers:{device}",
                    )
                )
    return out


def persona_cards(
    profiles: SegmentProfiles,
    names: Mapping[int, str],
    labels: np.ndarray,
    *,
    customers: pd.DataFrame | None = None,
    reach: pd.DataFrame | None = None,
    needs: pd.DataFrame | None = None,
    typing_tool: Any = None,
    descriptions: Mapping[str, str] | None = None,
    alpha: float = 0.05,
) -> list[PersonaCard]:
    """Build one persona card per segment.

    Parameters
    ----------
    profiles : SegmentProfiles
        Profiles of the segments (behaviour, value and numeric customer attributes).
    names : dict
        Segment id → name.
    labels : ndarray of shape (n_customers,)
        Segment id of each customer; the frames below are row-aligned with it.
    customers : pandas.DataFrame, optional
        The customer table (demographics, geography, consent, device), one row per customer,
        missing rows as NaN.
    reach : pandas.DataFrame, optional
        Per-customer channel flags (:func:`segmint.evaluate._scorecard.reach_flags`).
    needs : pandas.DataFrame, optional
        Survey answers (needs and attitudes, 1–5), NaN for customers who did not answer.
    typing_tool : TypingTool, optional
        A fitted :class:`~segmint.profile._typing_tool.TypingTool` whose ``rules_`` say how
        to recognise each segment.
    descriptions : dict, optional
        Attribute → description, for attributes without a fixed sentence.
    alpha : float, default=0.05
        Significance level for "differs" statements.

    Returns
    -------
    list of PersonaCard
        In segment-id order.
    """
    labels = np.asarray(labels)
    descriptions = descriptions or {}
    why_named = name_evidence(
        profiles,
        {int(s): names.get(int(s), f"Segment {int(s)}") for s in profiles.summary["segment_id"]},
    )
    # customer attributes are described under "who" and "reach", not under "buy"
    identity = set(customers.columns) if customers is not None else set()
    cards = []
    for row in profiles.summary.itertuples():
        segment_id = int(row.segment_id)
        inside = labels == segment_id
        table = profiles.attribute_table(segment_id, alpha)
        notes = []
        sections = {
            "who": _size(profiles, segment_id) + _who(inside, customers, alpha),
            "buy": _buy(table, descriptions, skip=identity),
            "why": _why(inside, needs, alpha),
            "expect": _expect(table),
            "recognise": _recognise(segment_id, profiles, typing_tool, descriptions),
            "reach": _reach(inside, reach, customers),
        }
        if customers is None:
            notes.append("No customer table: demographics and geography not measured.")
        if needs is None:
            notes.append("No survey: needs and attitudes (why they buy) not measured.")
        elif not sections["why"]:
            notes.append("No survey item differs significantly from all respondents.")
        if not sections["expect"]:
            notes.append(
                "No expectation stands out: discount share, returns, channel and tenure are"
                " close to the average."
            )
        if not sections["reach"]:
            notes.append("No consent or channel data: reachability not measured.")
        summary = profiles.summary.set_index("segment_id").loc[segment_id]
        cards.append(
            PersonaCard(
                segment_id=segment_id,
                name=names.get(segment_id, f"Segment {segment_id}"),
                customers=int(summary["customers"]),
                share=float(summary["share"]),
                revenue_share=float(summary["revenue_share"])
                if "revenue_share" in summary
                else None,
                clv_share=float(summary["clv_share"]) if "clv_share" in summary else None,
                sections=[
                    CardSection(key, SECTIONS[key], statements)
                    for key, statements in sections.items()
                    if statements
                ],
                notes=notes,
                name_evidence=[
                    Statement(e.text, e.segment_value, e.attribute or e.statistic)
                    for e in why_named[segment_id]
                ],
            )
        )
    return cards


def card_table(cards: Sequence[PersonaCard]) -> pd.DataFrame:
    """Every statement of every card as one table (segment, section, text, value, source).

    The evidence for each segment's name comes first, as section ``"name"``.
    """
    return pd.DataFrame(
        [
            {
                "segment_id": c.segment_id,
                "segment_name": c.name,
                "section": s.key,
                "text": st.text,
                "value": st.value,
                "source": st.source,
            }
            for c in cards
            for s in [CardSection("name", "Why this name", c.name_evidence), *c.sections]
            for st in s.statements
        ]
    )
