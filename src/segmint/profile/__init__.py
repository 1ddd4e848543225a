"""Profiles: who is in each segment, how to recognise them, and what to call them.

* :func:`profile_segments` / :class:`SegmentProfiles` -- sizes, value and the variables that
  set each segment apart, with effect sizes and tests;
* :func:`name_segments` / :func:`name_evidence` -- names from relative position and absolute
  meaning, with the figures that justify each word;
* :func:`persona_cards` / :class:`PersonaCard` -- profile cards ("how to recognise them");
* :class:`TypingTool` / :func:`fit_typing_tool` -- the shortest rules (golden questions) that
  reproduce the segments, as SQL and a questionnaire.
"""

from segmint.profile._cards import PersonaCard, card_table, persona_cards
from segmint.profile._names import NameEvidence, name_evidence, name_segments
from segmint.profile._profiles import SegmentProfiles, profile_segments
from segmint.profile._typing_tool import TypingTool, fit_typing_tool

__all__ = [
    "NameEvidence",
    "PersonaCard",
    "SegmentProfiles",
    "TypingTool",
    "card_table",
    "fit_typing_tool",
    "name_evidence",
    "name_segments",
    "persona_cards",
    "profile_segments",
]
