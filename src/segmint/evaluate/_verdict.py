"""The verdict of the lift in words: does the segmentation predict behaviour?

:func:`lift_verdict` builds the sentence from the eta² figures and says plainly when a simple
RFM grouping predicts as well as the segments; :func:`_population_words` says who was followed.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from segmint.evaluate._baselines import RFM_BASELINE, RFM_NAMED_BASELINE, SEGMENTS
from segmint.evaluate._outcomes import OUTCOME_LABELS

__all__ = ["lift_verdict"]


def lift_verdict(
    comparison: pd.DataFrame,
    outcome: str,
    *,
    window: str = "",
    weak_below: float = 0.02,
    comparable_ratio: float = 0.8,
) -> str:
    """The answer to "does this segmentation predict behaviour?", from the eta² figures.

    ``segments`` against the RFM baselines on ``outcome`` (the RFM score in as many groups as
    there are segments, :data:`RFM_BASELINE`, and the named RFM segments,
    :data:`RFM_NAMED_BASELINE`, whichever were compared). Below ``weak_below`` in absolute
    terms the segments "describe customers but do not predict"; when the better RFM baseline
    explains at least as much, the sentence says plainly that a simple RFM grouping predicts
    as well as the segments (or better); when it explains at least ``comparable_ratio`` of
    the segments' figure the segments predict "only a little better"; otherwise "better than a
    simple RFM grouping". A sentence on identity segments is added when they were compared.

    Examples
    --------
    >>> table = pd.DataFrame({"segmentation": ["segments", "RFM score in k groups (baseline)"],
    ...                       "kind": ["segments", "baseline"], "n_segments": [4, 4],
    ...                       "eta2_revenue": [0.31, 0.18]})
    >>> lift_verdict(table, "revenue")
    'Segments explain 31.0% of the variance in next-period revenue vs. 18.0% for an RFM score in 4 groups: they predict behaviour better than a simple RFM grouping.'
    """  # noqa: E501
    table = comparison.set_index("segmentation")
    by = table[f"eta2_{outcome}"]
    groups = table["n_segments"] if "n_segments" in table else pd.Series(dtype=float)
    label = f"next-period {OUTCOME_LABELS[outcome]}{f' ({window})' if window else ''}"
    seg = float(by[SEGMENTS])
    text = f"Segments explain {seg:.1%} of the variance in {label}"
    baselines: list[tuple[str, float]] = []
    for key, words in (
        (RFM_BASELINE, "an RFM score in {n} groups"),
        (RFM_NAMED_BASELINE, "the {n} named RFM segments"),
    ):
        if key in by.index and by[key] == by[key]:
            n = groups.get(key)
            described = words.format(n=int(n) if n == n and n is not None else "k")
            baselines.append((described.replace(" {n}", ""), float(by[key])))
    if baselines:
        text += " vs. " + " and ".join(f"{v:.1%} for {w}" for w, v in baselines)
        best_words, best = max(baselines, key=lambda b: b[1])
        if seg < weak_below:
            text += ": they describe customers but do not predict what they do next."
        elif best >= seg:
            text += (
                f": a simple RFM grouping ({best_words}) predicts it as well as the segments"
                f"{' or better' if best > seg else ''}."
            )
        elif best >= comparable_ratio * seg:
            text += (
                ": they predict behaviour, but only a little better than a simple RFM grouping"
                f" ({best_words})."
            )
        else:
            text += ": they predict behaviour better than a simple RFM grouping."
        text += _other_outcomes(table, outcome, groups)
    else:
        text += ": they predict behaviour." if seg >= weak_below else ": they do not predict it."
    identity = comparison[comparison["kind"] == "identity"]
    if len(identity):
        value = float(identity[f"eta2_{outcome}"].iloc[0])
        text += f" Segments on customer identity alone explain {value:.1%}."
    return text


def _other_outcomes(table: pd.DataFrame, outcome: str, groups: pd.Series) -> str:
    """A sentence naming the other next-period outcomes that an RFM baseline predicts better.

    Said plainly, so that a verdict on the primary outcome does not hide that a simple RFM
    grouping beats the segments on, say, retention; empty when it beats them on none.
    """
    better = []
    for column in table.columns:
        name = column.removeprefix("eta2_")
        if not column.startswith("eta2_") or name == outcome or name not in OUTCOME_LABELS:
            continue
        seg = float(table.at[SEGMENTS, column])
        rows = [
            (float(table.at[key, column]), key)
            for key in (RFM_BASELINE, RFM_NAMED_BASELINE)
            if key in table.index and table.at[key, column] == table.at[key, column]
        ]
        if rows and seg == seg and max(rows)[0] > seg:
            value, key = max(rows)
            n = groups.get(key)
            n = int(n) if n is not None and n == n else "k"
            who = (
                f"an RFM score in {n} groups"
                if key == RFM_BASELINE
                else f"the {n} named RFM segments"
            )
            better.append(f"{OUTCOME_LABELS[name]} ({who}: {value:.1%} vs. {seg:.1%})")
    if not better:
        return ""
    return f" A simple RFM grouping predicts next-period {_and(better)} better than the segments."


def _population_words(bases: Sequence[str]) -> str:
    """Who the catalogue's population at the cut-off is, for the report's method line."""
    if "firmographic" in bases:
        return "accounts that existed by then"
    if {"behavioural", "value"} & set(bases):
        return "customers who had bought by then"
    if {"demographic", "geographic"} & set(bases):
        return "customers of the customer table"
    return f"customers with data of the {_and(list(bases))} bases by then"


def _and(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    words = list(words)
    return words[0] if len(words) < 2 else f"{', '.join(words[:-1])} and {words[-1]}"
