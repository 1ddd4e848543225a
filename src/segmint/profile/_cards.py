"""Persona cards: one page per segment, every sentence generated from a computed figure.

A card answers the questions a client asks about a segment — who they are, how and what they
buy, why (needs, when a survey exists), what they expect, how to recognise them (typing-tool
rules) and how to reach them (channels and consent) — as data: a list of sections, each a list
of :class:`Statement` objects holding the sentence *and* the figure behind it. Nothing is
written that was not computed; a section the data cannot fill is left out and the card says
why in its notes.

This module assembles the cards (:func:`persona_cards`, :func:`card_table`) and writes the
"how to reach them" section (:func:`_reach`). The card's data classes and wording are in
:mod:`segmint.profile._card_model`, the sections read from the customer table and the survey
in :mod:`segmint.profile._card_customers`, and those read from the segment's profile in
:mod:`segmint.profile._card_profile`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segmint.evaluate._scorecard import channel_label
from segmint.profile._card_customers import _DEVICE_COLUMNS, _who, _why, country_column, hemisphere
from segmint.profile._card_model import (
    SECTIONS,
    CardSection,
    PersonaCard,
    Statement,
    _pct,
    _words,
)
from segmint.profile._card_profile import _buy, _expect, _recognise, _size
from segmint.profile._names import NameEvidence, name_evidence
from segmint.profile._profiles import SegmentProfiles

__all__ = [
    "SECTIONS",
    "CardSection",
    "PersonaCard",
    "Statement",
    "card_table",
    "country_column",
    "hemisphere",
    "persona_cards",
]


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
        sections = {
            "who": _size(profiles, segment_id) + _who(inside, customers, alpha),
            "buy": _buy(table, descriptions, skip=identity),
            "why": _why(inside, needs, alpha),
            "expect": _expect(table),
            "recognise": _recognise(segment_id, profiles, typing_tool, descriptions),
            "reach": _reach(inside, reach, customers),
        }
        notes = _notes(sections, customers, needs)
        cards.append(_card(profiles, segment_id, names, sections, notes, why_named[segment_id]))
    return cards


def _notes(
    sections: Mapping[str, list[Statement]],
    customers: pd.DataFrame | None,
    needs: pd.DataFrame | None,
) -> list[str]:
    """Why a card lacks a section or a kind of statement, in words."""
    notes = []
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
    return notes


def _card(
    profiles: SegmentProfiles,
    segment_id: int,
    names: Mapping[int, str],
    sections: Mapping[str, list[Statement]],
    notes: list[str],
    evidence: Sequence[NameEvidence],
) -> PersonaCard:
    """The card of one segment: its size from the profile, its non-empty sections in order."""
    summary = profiles.summary.set_index("segment_id").loc[segment_id]
    return PersonaCard(
        segment_id=segment_id,
        name=names.get(segment_id, f"Segment {segment_id}"),
        customers=int(summary["customers"]),
        share=float(summary["share"]),
        revenue_share=float(summary["revenue_share"]) if "revenue_share" in summary else None,
        clv_share=float(summary["clv_share"]) if "clv_share" in summary else None,
        sections=[
            CardSection(key, SECTIONS[key], statements)
            for key, statements in sections.items()
            if statements
        ],
        notes=notes,
        name_evidence=[
            Statement(e.text, e.segment_value, e.attribute or e.statistic) for e in evidence
        ],
    )


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
