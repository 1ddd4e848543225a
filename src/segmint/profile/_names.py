"""Deterministic descriptive names from a segment's distinguishing traits.

A name is built from the two attributes on which the segment differs most from all customers
(largest absolute standardised effect, significant after correction), each turned into words by a
fixed vocabulary: e.g. ``recency_days`` far above average reads "Lapsed", ``share_channel_app``
far above average reads "App-first". Same profiles give the same names. Names can be overridden
in ``segmint.yaml`` (``names: {0: "Champions"}``).
"""

from __future__ import annotations

from segmint.profile._profiles import SegmentProfiles

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
}


def trait_words(attribute: str, effect: float) -> str | None:
    """Words describing a segment whose ``attribute`` lies ``effect`` std from the average."""
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


def name_segments(
    profiles: SegmentProfiles,
    overrides: dict[int, str] | None = None,
    n_traits: int = 2,
) -> dict[int, str]:
    """Name every segment from its top traits; ``overrides`` win.

    Returns
    -------
    dict
        ``segment_id -> name``; names are unique (a third trait, then the id, disambiguates).
    """
    overrides = overrides or {}
    names: dict[int, str] = {}
    for segment_id in profiles.summary["segment_id"]:
        segment_id = int(segment_id)
        if segment_id in overrides:
            names[segment_id] = overrides[segment_id]
            continue
        traits = profiles.top_traits(segment_id, n=8)
        words: list[str] = []
        for attribute, effect in zip(traits["attribute"], traits["effect"], strict=True):
            text = trait_words(attribute, float(effect))
            if text and text not in words:
                words.append(text)
        name = " · ".join(words[:n_traits]) or "Average customers"
        if name in names.values() and len(words) > n_traits:
            name = " · ".join(words[: n_traits + 1])
        if name in names.values():
            name = f"{name} ({segment_id})"
        names[segment_id] = name
    return names
