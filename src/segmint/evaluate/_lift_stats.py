"""The figures of the lift: per segment the lift of every outcome, per segmentation eta².

:func:`segment_lift` gives each segment's mean of every outcome divided by the mean of all
customers; :func:`_comparison_table` the share of each outcome's variance the segments of every
compared segmentation explain (eta², :func:`~segmint.evaluate._tests.eta_squared`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from segmint.evaluate._outcomes import OUTCOMES
from segmint.evaluate._tests import eta_squared

__all__ = ["segment_lift"]


def segment_lift(outcomes: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Per segment: customers, share, and for every outcome its mean and lift (mean / overall).

    Examples
    --------
    >>> out = pd.DataFrame({"revenue": [0.0, 10.0, 20.0, 30.0]})
    >>> segment_lift(out, np.array([0, 0, 1, 1]))[["segment_id", "revenue", "lift_revenue"]]
       segment_id  revenue  lift_revenue
    0           0      5.0      0.333333
    1           1     25.0      1.666667
    """
    labels = np.asarray(labels)
    grouped = outcomes.groupby(labels)
    table = grouped.mean()
    overall = outcomes.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        lifts = table / overall.where(overall != 0)
    table.columns = list(outcomes.columns)
    lifts.columns = [f"lift_{c}" for c in outcomes.columns]
    counts = grouped.size()
    result = pd.concat([table, lifts], axis=1)
    result.insert(0, "share", counts / counts.sum())
    result.insert(0, "customers", counts.astype(int))
    result.index.name = "segment_id"
    return result.reset_index()


def _comparison_table(
    compared: Sequence[tuple[str, str, np.ndarray]], values: pd.DataFrame
) -> pd.DataFrame:
    """One row per compared segmentation ``(name, kind, labels)``: ``segmentation, kind``,
    ``n_segments`` and the eta² of every outcome of ``values``
    (:func:`~segmint.evaluate._tests.eta_squared`)."""
    return pd.DataFrame(
        [
            {
                "segmentation": name,
                "kind": kind,
                "n_segments": len(np.unique(lab)),
                **{f"eta2_{o}": eta_squared(values[o].to_numpy(), lab) for o in OUTCOMES},
            }
            for name, kind, lab in compared
        ]
    )
