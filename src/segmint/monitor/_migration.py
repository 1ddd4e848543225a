"""Who moved where: segments matched across refits, and the migration matrix.

Segments of a refit are matched to the baseline's ids with the documented stable-id rule
(:mod:`segmint.segmenters._ids`). Matching by **centres** (Hungarian assignment on the distance
between segment centres, on the transform scale in baseline standard deviations) is used when
both runs have them: it compares what the segments *are*, so it also works when the two runs
hold different customers. Otherwise segments are matched by **member overlap**
(:func:`~segmint.segmenters._ids.match_labels`) on the customers in both runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from segmint.monitor._drift import centre_vectors, standardiser
from segmint.segmenters._ids import match_centers, match_labels


@dataclass
class Matching:
    """How current segment ids map onto baseline ids."""

    method: str  # "identity" | "centres" | "members"
    mapping: dict[int, int]  # current id -> baseline id (new segments get fresh ids)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "mapping": {str(k): v for k, v in self.mapping.items()}}


def match_segments(
    baseline: dict[str, Any] | None,
    current: dict[str, Any] | None,
    assignments: pd.DataFrame | None = None,
) -> Matching:
    """Match current segments to baseline ids.

    Parameters
    ----------
    baseline, current : dict or None
        Feature summaries with ``transform_centres`` and ``transform_scale``.
    assignments : pandas.DataFrame, optional
        ``customer_id, baseline_id, current_id`` of customers in both runs (member overlap).
    """
    if (
        baseline
        and current
        and baseline.get("transform_centres")
        and current.get("transform_centres")
    ):
        features = [f for f in baseline["transform_scale"] if f in current["transform_scale"]]
        scale = standardiser(baseline, features)
        b_ids, b_c = centre_vectors(baseline, features)
        c_ids, c_c = centre_vectors(current, features)
        mapping = match_centers(b_c / scale, c_c / scale)
        fresh = max(b_ids) + 1
        out = {}
        for pos, cur in enumerate(c_ids):
            target = int(mapping[pos])
            out[cur] = b_ids[target] if target < len(b_ids) else fresh + (target - len(b_ids))
        return Matching("centres", out)
    if assignments is not None and len(assignments):
        mapping = match_labels(
            assignments["baseline_id"].to_numpy(), assignments["current_id"].to_numpy()
        )
        return Matching("members", {int(i): int(m) for i, m in enumerate(mapping)})
    return Matching("identity", {})


def migration_matrix(
    baseline: pd.DataFrame, current: pd.DataFrame, mapping: dict[int, int] | None = None
) -> dict[str, Any]:
    """Migration of the customers present in both assignments.

    Parameters
    ----------
    baseline, current : pandas.DataFrame
        ``customer_id, segment_id`` each.
    mapping : dict, optional
        Current id -> baseline id (from :func:`match_segments`); identity when omitted.

    Returns
    -------
    dict
        ``counts`` (DataFrame: rows baseline segment, columns current segment in baseline ids),
        ``shares`` (row shares: of the baseline segment's customers, the share now in each),
        ``n_common``, ``stayed`` (customers in the same segment) and ``stay_rate``.
    """
    left = baseline[["customer_id", "segment_id"]].astype({"customer_id": str})
    right = current[["customer_id", "segment_id"]].astype({"customer_id": str})
    both = left.merge(right, on="customer_id", suffixes=("_baseline", "_current"))
    both = both.dropna(subset=["segment_id_baseline", "segment_id_current"])
    cur = both["segment_id_current"].astype(int).to_numpy()
    if mapping:
        lookup = np.vectorize(lambda c: mapping.get(int(c), int(c)), otypes=[np.int64])
        cur = lookup(cur) if len(cur) else cur.astype(np.int64)
    base = both["segment_id_baseline"].astype(int).to_numpy()
    ids = sorted(set(base.tolist()) | set(cur.tolist()))
    counts = pd.crosstab(
        pd.Categorical(base, categories=ids), pd.Categorical(cur, categories=ids), dropna=False
    )
    counts.index = pd.Index(ids, name="baseline")
    counts.columns = pd.Index(ids, name="current")
    totals = counts.sum(axis=1).replace(0, np.nan)
    shares = counts.div(totals, axis=0).fillna(0.0)
    stayed = int(np.sum(base == cur))
    n = len(base)
    return {
        "counts": counts,
        "shares": shares,
        "n_common": n,
        "stayed": stayed,
        "stay_rate": stayed / n if n else float("nan"),
    }


def matrix_json(frame: pd.DataFrame) -> dict[str, Any]:
    """A migration matrix (segment ids on both axes) as JSON: rows, columns and values."""
    return {
        "rows": [int(i) for i in frame.index],
        "columns": [int(c) for c in frame.columns],
        "values": frame.to_numpy().tolist(),
    }
