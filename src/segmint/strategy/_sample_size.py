"""Survey sample size for a segmentation study: enough respondents to read the smallest segment.

The smallest segment must be large enough to estimate a proportion (e.g. the share agreeing with
a statement) with margin of error ``E`` at confidence ``C``. With the conservative ``p = 0.5``:

    n_segment = ceil(z² · p (1 − p) / E²),   z = Φ⁻¹(1 − (1 − C) / 2)

and, since the smallest segment holds only a share ``S`` of the respondents,

    n_total = ceil(n_segment / S).

For a data-driven segmentation (clustering) of ``V`` variables, Dolnicar et al. (2014) found
that a sample of at least 70 times the number of segmentation variables is needed to recover
the segments reliably; the plan reports whether ``n_total`` meets it and recommends the larger
of the two.

References
----------
.. [1] Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed. Wiley (sample size for a
   proportion).
.. [2] Dolnicar, S., Grün, B., Leisch, F. and Schmidt, K. (2014). Required sample sizes for
   data-driven market segmentation analyses in tourism. *Journal of Travel Research*, 53(3),
   296-306. https://doi.org/10.1177/0047287513496475
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from scipy.stats import norm

from segmint.exceptions import ConfigError

__all__ = ["DOLNICAR_PER_VARIABLE", "SampleSizePlan", "survey_sample_size"]

DOLNICAR_PER_VARIABLE = 70
"""Respondents per segmentation variable for clustering (Dolnicar et al. 2014)."""


@dataclass
class SampleSizePlan:
    """The respondents a survey needs, and why.

    Attributes
    ----------
    segments, min_share, margin_of_error, confidence : number
        The inputs.
    z : float
        Standard normal quantile for the confidence level.
    per_segment : int
        Respondents needed in the smallest segment.
    total : int
        Respondents needed so that the smallest segment gets ``per_segment``.
    if_equal_shares : int
        Respondents needed if all segments were the same size (a lower bound).
    variables : int or None
        Number of segmentation variables, when given.
    clustering_minimum : int or None
        ``70 × variables`` (Dolnicar et al. 2014).
    recommended : int
        The larger of ``total`` and ``clustering_minimum``.
    reasoning : list of str
        The calculation, step by step, in words.
    """

    segments: int
    min_share: float
    margin_of_error: float
    confidence: float
    z: float
    per_segment: int
    total: int
    if_equal_shares: int
    variables: int | None
    clustering_minimum: int | None
    recommended: int
    reasoning: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ceil(value: float) -> int:
    # n / S can land a hair above an integer in binary floating point (21 / 0.35 is
    # 60.00000000000001): round that noise away before taking the ceiling
    return math.ceil(round(value, 9))


def survey_sample_size(
    segments: int,
    min_share: float,
    margin_of_error: float = 0.05,
    confidence: float = 0.95,
    variables: int | None = None,
    proportion: float = 0.5,
) -> SampleSizePlan:
    """Respondents needed to read the smallest of ``segments`` segments with confidence.

    Parameters
    ----------
    segments : int
        Number of segments expected (K).
    min_share : float
        Share of respondents expected in the smallest segment (S), in (0, 1/K].
    margin_of_error : float, default=0.05
        Half-width of the confidence interval of a proportion within that segment (E).
    confidence : float, default=0.95
        Confidence level (C).
    variables : int, optional
        Number of segmentation variables (V), for the clustering rule of thumb.
    proportion : float, default=0.5
        Expected proportion; 0.5 is the conservative (largest) case.

    Returns
    -------
    SampleSizePlan

    Examples
    --------
    >>> plan = survey_sample_size(5, 0.1, 0.05, 0.95)
    >>> plan.per_segment, plan.total
    (385, 3850)
    """
    if segments < 1:
        raise ConfigError(f"--segments must be at least 1, got {segments}.", hint="E.g. 5.")
    if not 0 < min_share <= 1 / segments + 1e-12:
        raise ConfigError(
            f"--min-share {min_share} is impossible with {segments} segments: the smallest of"
            f" {segments} segments holds at most 1/{segments} = {1 / segments:.3f}.",
            hint=f"Use a share in (0, {1 / segments:.3f}], e.g. 0.1.",
        )
    if not 0 < margin_of_error < 0.5:
        raise ConfigError(
            f"--moe {margin_of_error} must lie in (0, 0.5).", hint="E.g. 0.05 for ±5 points."
        )
    if not 0 < confidence < 1:
        raise ConfigError(f"--confidence {confidence} must lie in (0, 1).", hint="E.g. 0.95.")
    if variables is not None and variables < 1:
        raise ConfigError(f"--variables must be at least 1, got {variables}.", hint="E.g. 12.")
    if not 0 < proportion < 1:
        raise ConfigError(f"proportion {proportion} must lie in (0, 1).", hint="Use 0.5.")

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    exact = z**2 * proportion * (1 - proportion) / margin_of_error**2
    per_segment = _ceil(exact)
    total = _ceil(per_segment / min_share)
    equal = per_segment * segments
    reasoning = [
        f"z for {confidence:.0%} confidence: Φ⁻¹(1 − {1 - confidence:.3g}/2) = {z:.4f}.",
        f"Smallest segment: n = z² · p(1 − p) / E² = {z:.4f}² × {proportion:g} × "
        f"{1 - proportion:g} / {margin_of_error:g}² = {exact:.1f}, rounded up to "
        f"{per_segment:,} respondents.",
        f"It holds {min_share:.1%} of respondents, so the survey needs {per_segment:,} / "
        f"{min_share:g} = {total:,} respondents in total.",
        f"(If all {segments} segments were equally large, {segments} × {per_segment:,} = "
        f"{equal:,} would do; smaller segments need more.)",
    ]
    minimum = None
    recommended = total
    if variables is not None:
        minimum = DOLNICAR_PER_VARIABLE * variables
        recommended = max(total, minimum)
        verdict = "met" if total >= minimum else f"not met: recommend {minimum:,}"
        reasoning.append(
            f"Clustering on {variables} variables: at least {DOLNICAR_PER_VARIABLE} × "
            f"{variables} = {minimum:,} respondents (Dolnicar, Grün, Leisch & Schmidt 2014, "
            f"Journal of Travel Research 53(3)); {verdict}."
        )
    reasoning.append(f"Recommended sample: {recommended:,} respondents.")
    return SampleSizePlan(
        segments=segments,
        min_share=min_share,
        margin_of_error=margin_of_error,
        confidence=confidence,
        z=z,
        per_segment=per_segment,
        total=total,
        if_equal_shares=equal,
        variables=variables,
        clustering_minimum=minimum,
        recommended=recommended,
        reasoning=reasoning,
    )
