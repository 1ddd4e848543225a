"""Deterministic descriptive names, from where a segment stands *and* what its figures mean.

A name is built from the attributes on which the segment differs most from all customers
(largest absolute standardised effect, significant after correction, see
:meth:`SegmentProfiles.top_traits`), each turned into words by a fixed vocabulary -- but a word
is used only when the segment's own figures support it in absolute terms too, so that a segment
that is merely "less lapsed than average" on a base where nearly everybody lapsed is not called
"Recently active". The rules (:func:`trait_evidence`):

==================  =====================================================================
recency_days        below average: "Recently active" only if the segment's median recency
                    is within ``recent_days`` (default 90), else "Less lapsed"; above
                    average: "Lapsed" only if the median is beyond ``recent_days``, else no
                    word (the next trait is used)
frequency           "Frequent buyers" only if the median frequency is above 1 order (and not
                    below the overall median); "Rare buyers" only if the median is not above
                    the overall median
tenure_days         "Long-standing" only if the median tenure exceeds ``long_days`` (365);
                    "Newly acquired" only if it is within ``recent_days``
share_channel_*     "<Channel>-first" only if the segment's mean share is at least one half
*_consent           "<Channel> reachable" only if at least half the members consented, "Hard
                    to reach by <channel>" only if fewer than half did
other shares        (``share_*``, ``*_share``, ``*_rate``) judged on the mean, which is the
                    share itself
anything else       the segment's median must lie on the same side of the overall median as
                    the mean does (strictly): "High spenders" with a median below the overall
                    median is not written
==================  =====================================================================

Every word of a name comes with a :class:`NameEvidence` -- the figure, the overall figure and
the rule -- which the persona cards and the report print beside the name
(:func:`name_evidence`). Same profiles give the same names. Names can be overridden in
``segmint.yaml`` (``names: {0: "Champions"}``); the evidence then says the name was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from segmint.profile._profiles import SegmentProfiles

__all__ = [
    "LONG_DAYS",
    "RECENT_DAYS",
    "VOCABULARY",
    "NameEvidence",
    "describe_segments",
    "name_evidence",
    "name_segments",
    "trait_evidence",
    "trait_words",
]

#: A median recency within this many days reads "Recently active"; beyond it, "Lapsed" or "Less
#: lapsed". A quarter: most retail purchase cycles are shorter, so a customer silent for longer
#: than a quarter is no longer recently active whatever the rest of the base does.
RECENT_DAYS = 90
#: A median tenure beyond this many days (a year) reads "Long-standing".
LONG_DAYS = 365

# attribute -> (words when above average, words when below average); None: not used for naming
VOCABULARY: dict[str, tuple[str | None, str | None]] = {
    "recency_days": ("Lapsed", "Recently active"),
    "frequency": ("Frequent buyers", "Rare buyers"),
    "monetary": ("High spenders", "Low spenders"),
    "tenure_days": ("Long-standing", "Newly acquired"),
    "avg_order_value": ("Big baskets", "Small baskets"),
    "discount_share": ("Deal seekers", "Full-price buyers"),
    "return_rate": ("Frequent returners", None),
    "age": ("Older", "Younger"),
    "email_consent": ("E-mail reachable", "Hard to reach by e-mail"),
    "sms_consent": ("SMS reachable", None),
    "p_alive": ("Likely still active", "Likely lost"),
    "expected_purchases": ("High expected purchases", "Low expected purchases"),
    "clv": ("High lifetime value", "Low lifetime value"),
    "expected_spend": ("High expected spend", "Low expected spend"),
}

_LABELS = {
    "recency_days": ("recency", " days"),
    "frequency": ("frequency", " orders"),
    "monetary": ("revenue", ""),
    "tenure_days": ("tenure", " days"),
    "avg_order_value": ("order value", ""),
}


@dataclass(frozen=True)
class NameEvidence:
    """The figures behind one word of a segment's name.

    Attributes
    ----------
    words : str
        The words of the name this evidence justifies (the whole name when it was given).
    attribute : str
        The attribute the words describe (``""`` for a given name).
    statistic : str
        ``"median"`` or ``"mean"`` (shares, consents) -- or ``"given"`` for a name set in
        ``segmint.yaml`` or by the segmenter's own rules.
    segment_value, overall_value : float
        The statistic over the segment and over all customers (NaN for a given name).
    effect : float
        Standardised difference of the means (NaN for a given name).
    rule : str
        The absolute condition the figure meets, in words.
    """

    words: str
    attribute: str
    statistic: str
    segment_value: float
    overall_value: float
    effect: float
    rule: str

    @property
    def text(self) -> str:
        """One line for the report: ``Lapsed: median recency 412 days vs 190 for all ...``."""
        if self.statistic == "given":
            return f"{self.words}: {self.rule}"
        label, unit = _LABELS.get(self.attribute, (self.attribute.replace("_", " "), ""))
        if _is_share(self.attribute):
            seg, overall = f"{self.segment_value:.1%}", f"{self.overall_value:.1%}"
        else:
            unit = " order" if unit == " orders" and self.segment_value == 1 else unit
            seg, overall = _num(self.segment_value) + unit, _num(self.overall_value)
        return (
            f"{self.words}: {self.statistic} {label} {seg} vs {overall} for all customers"
            f" ({self.rule})"
        )

    def to_dict(self) -> dict[str, object]:
        """The evidence as a plain dict, with its ``text``."""
        return {
            "words": self.words,
            "attribute": self.attribute,
            "statistic": self.statistic,
            "segment_value": self.segment_value,
            "overall_value": self.overall_value,
            "effect": self.effect,
            "rule": self.rule,
            "text": self.text,
        }


def _num(value: float) -> str:
    if value != value:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.2f}"


def _is_share(attribute: str) -> bool:
    return attribute.startswith("share_") or attribute.endswith(("_share", "_rate", "_consent"))


def trait_words(attribute: str, effect: float) -> str | None:
    """Relative words for a segment whose ``attribute`` lies ``effect`` std from the average.

    The vocabulary alone, without the absolute check of :func:`trait_evidence`.
    """
    above = effect > 0
    if attribute in VOCABULARY:
        high, low = VOCABULARY[attribute]
        return high if above else low
    for prefix in ("share_category_", "share_channel_"):
        if attribute.startswith(prefix):
            level = attribute[len(prefix) :].replace("_", " ")
            if not above:
                return None
            return (
                f"{level.capitalize()}-first"
                if "channel" in prefix
                else f"{level.capitalize()} lovers"
            )
    words = attribute.replace("_", " ")
    return f"High {words}" if above else f"Low {words}"


def trait_evidence(
    attribute: str,
    effect: float,
    segment_median: float,
    overall_median: float,
    segment_mean: float,
    overall_mean: float,
    *,
    recent_days: float = RECENT_DAYS,
    long_days: float = LONG_DAYS,
) -> NameEvidence | None:
    """Words for one trait of a segment, if its absolute figures support them.

    Parameters
    ----------
    attribute : str
        The attribute.
    effect : float
        Standardised difference of the segment's mean from the overall mean (its sign says
        above or below average).
    segment_median, overall_median, segment_mean, overall_mean : float
        The segment's and all customers' median and mean of the attribute.
    recent_days : float, default=90
        Median recency within which a segment is "Recently active" (and beyond which it is
        "Lapsed"); a median tenure within it reads "Newly acquired".
    long_days : float, default=365
        Median tenure beyond which a segment is "Long-standing".

    Returns
    -------
    NameEvidence or None
        The words with the figure and the rule they meet; ``None`` when the figures do not
        support any words (the caller moves on to the next trait).

    Examples
    --------
    >>> trait_evidence("recency_days", -0.5, 400.0, 600.0, 410.0, 590.0).words
    'Less lapsed'
    >>> trait_evidence("recency_days", -0.5, 20.0, 150.0, 25.0, 160.0).words
    'Recently active'
    >>> trait_evidence("frequency", 0.6, 1.0, 1.0, 1.4, 1.2) is None
    True
    """
    above = effect > 0
    words = trait_words(attribute, effect)
    if words is None:
        return None

    def found(text: str, rule: str, statistic: str = "median") -> NameEvidence:
        seg, overall = (
            (segment_median, overall_median)
            if statistic == "median"
            else (segment_mean, overall_mean)
        )
        return NameEvidence(text, attribute, statistic, float(seg), float(overall), effect, rule)

    if attribute == "recency_days":
        if above:
            if segment_median > recent_days and segment_median >= overall_median:
                return found("Lapsed", f"over {recent_days:g} days and above average")
            return None
        if segment_median > overall_median:
            return None
        if segment_median <= recent_days:
            return found("Recently active", f"within {recent_days:g} days")
        return found("Less lapsed", f"below average, but over {recent_days:g} days")
    if attribute == "frequency":
        if above:
            if segment_median > 1 and segment_median >= overall_median:
                return found(words, "more than 1 order, above average")
            return None
        if segment_median <= overall_median:
            return found(words, "below average")
        return None
    if attribute == "tenure_days":
        if above:
            if segment_median > long_days and segment_median >= overall_median:
                return found(words, f"over {long_days:g} days")
            return None
        if segment_median <= recent_days and segment_median <= overall_median:
            return found(words, f"within {recent_days:g} days")
        return None
    if attribute == "p_alive":
        if above and segment_mean >= 0.5:
            return found(words, "mean probability at least 50 %", "mean")
        if not above and segment_mean < 0.5:
            return found(words, "mean probability under 50 %", "mean")
        return None
    if attribute.startswith("share_channel_"):
        if segment_mean >= 0.5:
            return found(words, "at least half of their orders", "mean")
        return None
    if attribute.endswith("_consent"):
        if above and segment_mean >= 0.5:
            return found(words, "at least half consented", "mean")
        if not above and segment_mean < 0.5:
            return found(words, "fewer than half consented", "mean")
        return None
    if _is_share(attribute):
        if (segment_mean > overall_mean) == above:
            return found(words, "above average" if above else "below average", "mean")
        return None
    if not (np.isfinite(segment_median) and np.isfinite(overall_median)):
        return None
    if above and segment_median > overall_median:
        return found(words, "median above the overall median")
    if not above and segment_median < overall_median:
        return found(words, "median below the overall median")
    return None


def describe_segments(
    profiles: SegmentProfiles,
    overrides: Mapping[int, str] | None = None,
    n_traits: int = 2,
    *,
    recent_days: float = RECENT_DAYS,
    long_days: float = LONG_DAYS,
) -> tuple[dict[int, str], dict[int, list[NameEvidence]]]:
    """Name every segment from its top traits that its figures support; ``overrides`` win.

    Parameters
    ----------
    profiles : SegmentProfiles
        The profiles (with ``medians``; without them the means stand in).
    overrides : dict, optional
        ``segment_id -> name`` given by the user or the segmenter.
    n_traits : int, default=2
        Words per name.
    recent_days, long_days : float
        The absolute thresholds of :func:`trait_evidence`.

    Returns
    -------
    (dict, dict)
        ``segment_id -> name`` (unique: a third trait, then the id, disambiguates) and
        ``segment_id -> [NameEvidence, ...]``, one per word of the name.
    """
    overrides = dict(overrides or {})
    medians = profiles.medians if profiles.medians is not None else profiles.means
    names: dict[int, str] = {}
    evidence: dict[int, list[NameEvidence]] = {}
    for segment_id in profiles.summary["segment_id"]:
        segment_id = int(segment_id)
        if segment_id in overrides:
            names[segment_id] = overrides[segment_id]
            evidence[segment_id] = [_given(overrides[segment_id])]
            continue
        traits = profiles.top_traits(segment_id, n=8)
        found: list[NameEvidence] = []
        for attribute, effect in zip(traits["attribute"], traits["effect"], strict=True):
            item = trait_evidence(
                attribute,
                float(effect),
                float(medians.loc[segment_id, attribute]),
                float(medians.loc["all", attribute]),
                float(profiles.means.loc[segment_id, attribute]),
                float(profiles.means.loc["all", attribute]),
                recent_days=recent_days,
                long_days=long_days,
            )
            if item is not None and item.words not in {f.words for f in found}:
                found.append(item)
        used = found[:n_traits]
        name = " · ".join(f.words for f in used) or "Average customers"
        if name in names.values() and len(found) > n_traits:
            used = found[: n_traits + 1]
            name = " · ".join(f.words for f in used)
        if name in names.values():
            name = f"{name} ({segment_id})"
        names[segment_id] = name
        evidence[segment_id] = used or [
            NameEvidence(
                "Average customers",
                "",
                "given",
                np.nan,
                np.nan,
                np.nan,
                "no attribute differs from all customers by 0.3 std or more (significant) with"
                " figures that support a word",
            )
        ]
    return names, evidence


def _given(name: str) -> NameEvidence:
    return NameEvidence(
        name,
        "",
        "given",
        np.nan,
        np.nan,
        np.nan,
        "name given (segmint.yaml names, or the segmenter's own rule or RFM segment), not"
        " derived from the profile",
    )


def name_segments(
    profiles: SegmentProfiles,
    overrides: Mapping[int, str] | None = None,
    n_traits: int = 2,
) -> dict[int, str]:
    """Name every segment from its top traits; ``overrides`` win.

    Returns
    -------
    dict
        ``segment_id -> name``; names are unique (a third trait, then the id, disambiguates).
        See :func:`describe_segments` for the rules and the evidence.
    """
    return describe_segments(profiles, overrides, n_traits)[0]


def name_evidence(
    profiles: SegmentProfiles, names: Mapping[int, str]
) -> dict[int, list[NameEvidence]]:
    """The evidence behind each of ``names``.

    A name equal to the one :func:`describe_segments` derives from ``profiles`` gets the
    figures of its words; any other name (set by the user or the segmenter) is marked given.
    """
    derived, evidence = describe_segments(profiles)
    return {
        int(s): evidence[int(s)] if derived.get(int(s)) == name else [_given(name)]
        for s, name in names.items()
    }
