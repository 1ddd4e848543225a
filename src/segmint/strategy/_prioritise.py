"""Which segments to serve first: knock-outs, then weighted attractiveness.

The classic screen of segment attractiveness (potential × reachability × relevance):

1. **Knock-out**: a segment that fails a knock-out criterion of the validity scorecard (by
   default *substantial* or *reachable*) is not ranked, whatever its attractiveness.
2. **Potential** = customers × value per customer × growth, where growth is recent against
   earlier revenue (capped at ``growth_cap``); scaled so the largest potential is 1.
3. **Reachability** = the share of the segment reachable through a consented channel or the
   app (1 for every segment when the data has no consent information, so it does not change
   the order).
4. **Relevance** = fit with the objectives set in ``segmint.yaml``, the weighted mean of one
   score per objective, each scaled so the best segment scores 1:

   - ``value``: value per customer;
   - ``growth``: growth of the segment's revenue;
   - ``retention``: value at risk = share of members lapsed (no purchase within the horizon)
     × value per customer.

5. **Attractiveness** = potential^a × reachability^b × relevance^c, with the exponents
   (weights) from ``strategy.weights`` (all 1 by default: the plain product).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["OBJECTIVES", "prioritise"]

OBJECTIVES = ("retention", "growth", "value")
_REQUIRED = ("segment_id", "customers", "value_per_customer")


def _scaled(values: pd.Series) -> pd.Series:
    top = values.max()
    return values / top if top and top > 0 else pd.Series(0.0, index=values.index)


def prioritise(
    segments: pd.DataFrame,
    *,
    objectives: Mapping[str, float] | None = None,
    weights: Mapping[str, float] | Any = None,
    knockouts: Mapping[int, list[str]] | None = None,
    growth_cap: float = 3.0,
) -> pd.DataFrame:
    """Rank segments by attractiveness after knock-outs.

    Parameters
    ----------
    segments : pandas.DataFrame
        One row per segment: ``segment_id, customers, value_per_customer`` and optionally
        ``name``, ``growth`` (recent / earlier revenue; missing counts as 1, flat),
        ``reachability`` (share, missing counts as 1) and ``lapsed_share`` (for the retention
        objective; missing counts as 0).
    objectives : dict, optional
        Objective → weight among ``retention``, ``growth`` and ``value``; default
        ``{"retention": 0.5, "growth": 0.3, "value": 0.2}``.
    weights : dict or AttractivenessWeights, optional
        Exponents ``potential``, ``reachability``, ``relevance`` (default 1 each).
    knockouts : dict, optional
        Segment id → the knock-out criteria it fails (from the scorecard).
    growth_cap : float, default=3.0
        Largest growth factor counted (a segment of new customers has almost no earlier
        revenue; uncapped its growth would dominate).

    Returns
    -------
    pandas.DataFrame
        The input columns plus ``growth_used, potential, potential_score, reachability_used,
        relevance_<objective>, relevance, attractiveness, knocked_out, knockout_reasons,
        rank`` (1 = most attractive; missing for knocked-out segments), sorted by rank with
        knocked-out segments last.

    Examples
    --------
    >>> table = pd.DataFrame({"segment_id": [0, 1], "customers": [100, 50],
    ...                       "value_per_customer": [10.0, 40.0]})
    >>> prioritise(table, objectives={"value": 1.0})[["segment_id", "rank"]].to_dict("list")
    {'segment_id': [1, 0], 'rank': [1, 2]}
    """
    missing = [c for c in _REQUIRED if c not in segments.columns]
    if missing:
        raise ValueError(f"prioritise needs the columns {missing}; got {list(segments.columns)}.")
    objectives = dict(objectives or {"retention": 0.5, "growth": 0.3, "value": 0.2})
    unknown = set(objectives) - set(OBJECTIVES)
    if unknown:
        raise ValueError(f"Unknown objectives {sorted(unknown)}; use {', '.join(OBJECTIVES)}.")
    if weights is None:
        weights = {"potential": 1.0, "reachability": 1.0, "relevance": 1.0}
    elif not isinstance(weights, Mapping):
        weights = weights.model_dump()
    knockouts = knockouts or {}

    table = segments.copy().reset_index(drop=True)
    value = table["value_per_customer"].astype(float).clip(lower=0)
    growth = (
        table["growth"].astype(float) if "growth" in table else pd.Series(1.0, index=table.index)
    )
    table["growth_used"] = growth.fillna(1.0).clip(lower=0.0, upper=growth_cap)
    table["potential"] = table["customers"].astype(float) * value * table["growth_used"]
    table["potential_score"] = _scaled(table["potential"])
    reach = (
        table["reachability"].astype(float)
        if "reachability" in table
        else pd.Series(np.nan, index=table.index)
    )
    table["reachability_used"] = reach.fillna(1.0).clip(0.0, 1.0)
    lapsed = (
        table["lapsed_share"].astype(float).fillna(0.0)
        if "lapsed_share" in table
        else pd.Series(0.0, index=table.index)
    )
    scores = {
        "value": _scaled(value),
        "growth": _scaled(table["growth_used"]),
        "retention": _scaled(lapsed * value),
    }
    total = sum(objectives.values())
    table["relevance"] = 0.0
    for objective, weight in objectives.items():
        table[f"relevance_{objective}"] = scores[objective]
        table["relevance"] += weight / total * scores[objective]
    table["attractiveness"] = (
        table["potential_score"] ** weights["potential"]
        * table["reachability_used"] ** weights["reachability"]
        * table["relevance"] ** weights["relevance"]
    )
    reasons = [knockouts.get(int(s), []) for s in table["segment_id"]]
    table["knocked_out"] = [bool(r) for r in reasons]
    table["knockout_reasons"] = [", ".join(r) for r in reasons]
    table = table.sort_values(
        ["knocked_out", "attractiveness", "segment_id"],
        ascending=[True, False, True],
        kind="stable",
        ignore_index=True,
    )
    eligible = ~table["knocked_out"]
    table["rank"] = pd.array([pd.NA] * len(table), dtype="Int64")
    table.loc[eligible, "rank"] = np.arange(1, int(eligible.sum()) + 1)
    return table
