"""What a persona card is made of: its sections, statements and the wording of its figures.

* :class:`Statement` -- one sentence and the figure it was generated from;
* :class:`CardSection` / :class:`PersonaCard` -- the card as data (titles in :data:`SECTIONS`);
* :func:`_pct`, :func:`_money`, :func:`_words`, :func:`_level` -- how every section writes a
  share, an amount, an attribute name and a level of a prefixed attribute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SECTIONS = {
    "who": "Who they are",
    "buy": "How and what they buy",
    "why": "Why they buy",
    "expect": "What they expect",
    "recognise": "How to recognise them",
    "reach": "How to reach them",
}


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


def _pct(value: float) -> str:
    return f"{value:.0%}" if abs(value) >= 0.1 or value == 0 else f"{value:.1%}"


def _money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"


def _words(name: str) -> str:
    return name.replace("_", " ")


def _level(attribute: str, prefix: str) -> str:
    return attribute[len(prefix) :].replace("_", " ")
