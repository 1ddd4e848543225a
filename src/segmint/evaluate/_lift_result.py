"""The outcome of the out-of-time lift, :class:`LiftResult`, and its tables for the run."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from segmint.evaluate._baselines import BASELINE_DEFINITIONS, SEGMENTS
from segmint.evaluate._outcomes import OUTCOMES

__all__ = ["LiftResult"]


@dataclass
class LiftResult:
    """Outcome of :func:`out_of_time_lift`.

    Attributes
    ----------
    cutoff, end : str
        The cut-off ``T`` (features before it) and the end of the outcome window (exclusive).
    horizon_days : int
        Length of the outcome window.
    n_customers : int
        Customers segmented at the cut-off and followed (see ``population``).
    primary_outcome : str
        The outcome the verdict is about.
    method : str
        How the segments were refitted at the cut-off.
    overall : dict
        Mean of every outcome over all followed customers.
    per_segment : pandas.DataFrame
        One row per segment fitted at the cut-off: ``segment_id`` (matched to the current
        segment ids when a reference was given), ``name``, ``current_overlap`` (share of its
        members now in the current segment of that id), ``customers``, ``share``, the mean of
        every outcome and its ``lift_<outcome>``.
    comparison : pandas.DataFrame
        One row per segmentation compared: ``segmentation, kind`` (``segments``, ``basis``,
        ``baseline``, ``identity``), ``n_segments`` and ``eta2_<outcome>`` for every outcome.
    verdict : str
        The answer in one or two sentences, built from the figures.
    outcomes : pandas.DataFrame
        Per followed customer: ``customer_id, segment_id`` and the outcomes.
    features_used : list of str
        The features the segments were fitted on at the cut-off.
    population : str
        Who was followed, in words: customers with a purchase before the cut-off, or, for a
        run on other bases, whoever the catalogue describes at the cut-off.
    notes : list of str
        Caveats of the refit (undated data used as they are, features left out); also at the
        end of ``method``.
    """

    cutoff: str
    end: str
    horizon_days: int
    n_customers: int
    primary_outcome: str
    method: str
    overall: dict[str, float]
    per_segment: pd.DataFrame
    comparison: pd.DataFrame
    verdict: str
    outcomes: pd.DataFrame = field(repr=False)
    features_used: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    population: str = "customers who had bought by then"

    def eta2(self, segmentation: str = SEGMENTS, outcome: str | None = None) -> float:
        """eta² of ``outcome`` (default: the primary one) for a compared segmentation."""
        row = self.comparison[self.comparison["segmentation"] == segmentation]
        return float(row[f"eta2_{outcome or self.primary_outcome}"].iloc[0])

    def summary(self) -> dict[str, object]:
        """The comparison for ``run.json``: window, verdict, the baselines' definitions and
        every segmentation's number of groups and eta² per outcome."""
        return {
            "cutoff": self.cutoff,
            "window_end": self.end,
            "horizon_days": self.horizon_days,
            "customers": self.n_customers,
            "primary_outcome": self.primary_outcome,
            "verdict": self.verdict,
            "baselines": dict(BASELINE_DEFINITIONS),
            "comparison": [
                {
                    "segmentation": str(r["segmentation"]),
                    "kind": str(r["kind"]),
                    "n_groups": int(r["n_segments"]),
                    **{f"eta2_{o}": float(r[f"eta2_{o}"]) for o in OUTCOMES},
                }
                for r in self.comparison.to_dict(orient="records")
            ],
        }

    def to_frame(self) -> pd.DataFrame:
        """A long table for ``lift.csv``: per-segment lifts, then the comparison rows (with
        each segmentation's number of groups, ``n_groups``)."""
        rows = []
        for r in self.per_segment.to_dict(orient="records"):
            for outcome in OUTCOMES:
                rows.append(
                    {
                        "table": "segment",
                        "segmentation": SEGMENTS,
                        "segment_id": r["segment_id"],
                        "segment_name": r["name"],
                        "customers": r["customers"],
                        "outcome": outcome,
                        "mean": r[outcome],
                        "overall_mean": self.overall[outcome],
                        "lift": r[f"lift_{outcome}"],
                        "n_groups": len(self.per_segment),
                        "eta_squared": np.nan,
                    }
                )
        for r in self.comparison.to_dict(orient="records"):
            for outcome in OUTCOMES:
                rows.append(
                    {
                        "table": "comparison",
                        "segmentation": r["segmentation"],
                        "segment_id": pd.NA,
                        "segment_name": "",
                        "customers": self.n_customers,
                        "outcome": outcome,
                        "mean": np.nan,
                        "overall_mean": self.overall[outcome],
                        "lift": np.nan,
                        "n_groups": int(r["n_segments"]),
                        "eta_squared": r[f"eta2_{outcome}"],
                    }
                )
        frame = pd.DataFrame(rows)
        frame["segment_id"] = frame["segment_id"].astype("Int64")
        frame.insert(0, "cutoff", self.cutoff)
        frame.insert(1, "window_end", self.end)
        return frame
