"""All deliverables of a run in one call: scorecard, lift, persona cards, priorities, playbook.

:func:`build_deliverables` is what the pipeline's *evaluate* stage runs after profiling; each
piece is computed by its own module and can be used on its own:

* :func:`segmint.evaluate._scorecard.validity_scorecard` — the validity scorecard;
* :func:`segmint.evaluate._lift.out_of_time_lift` — out-of-time lift against RFM at equal
  granularity and the named RFM segments;
* :func:`segmint.profile._cards.persona_cards` — persona cards;
* :func:`segmint.strategy._prioritise.prioritise` — knock-outs and attractiveness;
* :func:`segmint.strategy._playbook.recommend` — recommendations from the playbook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from segmint._logging import logger
from segmint.config import Config
from segmint.evaluate import LiftResult, out_of_time_lift, revenue_trend
from segmint.evaluate._outcomes import BINARY_OUTCOMES, OUTCOMES
from segmint.evaluate._scorecard import Scorecard, reach_flags, validity_scorecard
from segmint.exceptions import SegmintError
from segmint.features._catalogue import FeatureOptions
from segmint.profile._cards import PersonaCard, country_column, hemisphere, persona_cards
from segmint.profile._names import name_segments
from segmint.profile._profiles import SegmentProfiles, profile_segments
from segmint.profile._typing_tool import TypingTool, fit_typing_tool
from segmint.strategy._playbook import Recommendation, recommend, segment_facts
from segmint.strategy._prioritise import prioritise

__all__ = ["Deliverables", "build_deliverables"]

_IDENTITY_SKIP_SUFFIXES = ("_consent", "_date", "_at")
_IDENTITY_SKIP = {"customer_id", "_row", "preferred_device", "device", "city"}


@dataclass
class Deliverables:
    """What a client receives besides the segments themselves."""

    scorecard: Scorecard
    stability: pd.DataFrame | None
    stability_ari: float | None
    lift: LiftResult | None
    lift_error: str | None
    trend: pd.DataFrame
    typing_tool: TypingTool | None
    cards: list[PersonaCard]
    priorities: pd.DataFrame
    recommendations: list[Recommendation]
    hemispheres: dict[int, dict[str, float]] = field(default_factory=dict)

    def priorities_frame(self) -> pd.DataFrame:
        """The ranked table for ``priorities.csv``."""
        keep = [
            "rank",
            "segment_id",
            "name",
            "customers",
            "value_per_customer",
            "growth",
            "growth_used",
            "potential",
            "potential_score",
            "reachability",
            "reachability_used",
            "lapsed_share",
            *[c for c in self.priorities.columns if c.startswith("relevance_")],
            "relevance",
            "attractiveness",
            "knocked_out",
            "knockout_reasons",
        ]
        return self.priorities[[c for c in keep if c in self.priorities.columns]]


def _customer_table(con: duckdb.DuckDBPyConnection, ids: pd.Series) -> pd.DataFrame | None:
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    if "customers" not in tables:
        return None
    table = con.sql("SELECT * FROM customers").df()
    table = table.drop(columns=[c for c in ("_row",) if c in table.columns])
    table["customer_id"] = table["customer_id"].astype(str)
    table = table.drop_duplicates("customer_id").set_index("customer_id")
    return table.reindex(ids.astype(str).to_numpy()).reset_index(drop=True)


def _stability(
    given: Mapping[str, Any] | None, segmenter: Any
) -> tuple[pd.DataFrame | None, float | None]:
    """Per-segment Jaccard on the run's ids and the mean ARI, from the segment stage's
    bootstrap (``segment_stability``) or, failing that, the segmenter's own measurement."""
    if given is not None and given.get("per_segment"):
        table = pd.DataFrame(given["per_segment"])
        ari = given.get("ari_mean")
        return table, float(ari) if ari is not None else None
    own = getattr(segmenter, "segment_stability_", None)
    if own is not None:
        evidence = getattr(segmenter, "evidence_", pd.DataFrame())
        ari = None
        if "stability_ari" in evidence and "chosen" in evidence:
            ari = float(evidence.loc[evidence["chosen"], "stability_ari"].iloc[0])
        return own, ari
    return None, None


def _identity(customers: pd.DataFrame | None, ids: pd.Series) -> pd.DataFrame | None:
    if customers is None:
        return None
    keep = [
        c
        for c in customers.columns
        if c not in _IDENTITY_SKIP
        and not c.endswith(_IDENTITY_SKIP_SUFFIXES)
        and not pd.api.types.is_bool_dtype(customers[c])
        and not pd.api.types.is_datetime64_any_dtype(customers[c])
    ]
    if not keep:
        return None
    return customers[keep].assign(customer_id=ids.astype(str).to_numpy())


def _typing_tool(
    features: pd.DataFrame, names: Sequence[str], labels: np.ndarray, seed: int
) -> TypingTool | None:
    """The golden questions of the segments (the model's typing tool: one fit per run)."""
    return fit_typing_tool(features[list(names)], labels, seed=seed)


def _hemispheres(customers: pd.DataFrame | None, labels: np.ndarray) -> dict[int, dict[str, float]]:
    column = country_column(customers)
    if column is None:
        return {}
    sides = hemisphere(customers[column])
    known = sides.notna().to_numpy()
    out = {}
    for s in np.unique(labels):
        part = sides[(labels == s) & known]
        if len(part):
            out[int(s)] = {
                "southern": float((part == "southern").mean()),
                "northern": float((part == "northern").mean()),
            }
    return out


def build_deliverables(
    con: duckdb.DuckDBPyConnection,
    *,
    features: pd.DataFrame,
    feature_names: Sequence[str],
    labels: np.ndarray,
    segmenter: Any,
    stability: Mapping[str, Any] | None = None,
    profiles: SegmentProfiles,
    names: Mapping[int, str],
    snapshot_date: str,
    config: Config,
    descriptions: Mapping[str, str] | None = None,
    needs: pd.DataFrame | None = None,
    tables: Mapping[str, str] | None = None,
    options: FeatureOptions | None = None,
) -> Deliverables:
    """Compute the scorecard, lift, cards, priorities and recommendations of a run.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The run's connection (``transactions``, and ``customers`` when a customer table was
        loaded).
    features : pandas.DataFrame
        The feature table (``customer_id`` and the features), row-aligned with ``labels``.
    feature_names : sequence of str
        The features the segments were fitted on.
    labels : ndarray
        Segment id of each customer.
    segmenter : estimator
        The fitted segmenter.
    stability : dict, optional
        The bootstrap stability of the segment stage (``segment_stability``: ``ari_mean`` and
        ``per_segment`` on the run's ids); without it the segmenter's own
        ``segment_stability_`` is used when present, else *stable* is ``n.a.``.
    profiles : SegmentProfiles
        The segments' profiles.
    names : dict
        Segment id → name.
    snapshot_date : str
        The run's snapshot date.
    config : Config
        Thresholds, lift horizon, objectives and weights.
    descriptions : dict, optional
        Feature descriptions for the cards.
    needs : pandas.DataFrame, optional
        Survey answers row-aligned with ``labels`` (NaN for non-respondents).
    tables : mapping of str to str, optional
        ``role -> table`` of a run whose features came from the catalogue
        (``build_feature_table``): the out-of-time lift recomputes the run's bases at its
        cut-off from them. ``None``: the transaction features (the default run).
    options : FeatureOptions, optional
        The run's feature options, with ``tables``.
    """
    # k-means, trees and BLAS run single-threaded here: on a busy shared machine OpenMP threads
    # contending for the cores make these small fits many times slower, not faster
    with threadpool_limits(limits=1):
        return _build(
            con,
            features=features,
            feature_names=feature_names,
            labels=np.asarray(labels),
            segmenter=segmenter,
            stability=stability,
            profiles=profiles,
            names=names,
            snapshot_date=snapshot_date,
            config=config,
            descriptions=descriptions,
            needs=needs,
            tables=tables,
            options=options,
        )


def _build(
    con: duckdb.DuckDBPyConnection,
    *,
    features: pd.DataFrame,
    feature_names: Sequence[str],
    labels: np.ndarray,
    segmenter: Any,
    stability: Mapping[str, Any] | None,
    profiles: SegmentProfiles,
    names: Mapping[int, str],
    snapshot_date: str,
    config: Config,
    descriptions: Mapping[str, str] | None,
    needs: pd.DataFrame | None,
    tables: Mapping[str, str] | None,
    options: FeatureOptions | None,
) -> Deliverables:
    ids = features["customer_id"].astype(str)
    customers = _customer_table(con, ids)
    ev = config.evaluation
    attributes = features[list(feature_names)].reset_index(drop=True)
    reach_source = attributes
    if customers is not None:
        consent = [
            c for c in customers.columns if c.endswith("_consent") and c not in attributes.columns
        ]
        reach_source = pd.concat([attributes, customers[consent].astype(float)], axis=1)
        numeric = [
            c
            for c in customers.columns
            if pd.api.types.is_numeric_dtype(customers[c])
            or pd.api.types.is_bool_dtype(customers[c])
        ]
        extra = [c for c in numeric if c not in attributes.columns]
        attributes = pd.concat([attributes, customers[extra].astype(float)], axis=1)
    reach = reach_flags(reach_source, app_user_min_share=ev.scorecard.app_user_min_share)
    if not any(c != "app" for c in reach.columns):
        # without consent data nobody's reachability is known; app use alone would brand
        # every other customer unreachable
        reach = reach.iloc[:, :0]

    segments = pd.DataFrame({"customer_id": ids.to_numpy(), "segment_id": labels})
    lift, lift_error = None, None
    try:
        lift = out_of_time_lift(
            con,
            n_segments=len(np.unique(labels)),
            bases=list(config.bases),
            feature_names=list(feature_names),
            cutoff=ev.lift.cutoff_date,
            horizon_days=ev.lift.horizon_days,
            snapshot=snapshot_date,
            n_init=min(config.segmentation.n_init, 4),
            random_state=config.seed,
            identity=_identity(customers, ids),
            reference=segments,
            namer=lambda f, lab: name_segments(profile_segments(f, lab)),
            primary_outcome=ev.lift.primary_outcome,
            tables=tables,
            options=options,
        )
    except SegmintError as exc:
        lift_error = exc.message
        logger.warning("out-of-time lift not computed: %s", exc.message)

    stability_table, ari = _stability(stability, segmenter)
    # distinct is judged on what customers did *after* the lift's cut-off (segments refitted
    # there, ids matched to today's), not on the recency, frequency and revenue the segments
    # were built from
    if lift is not None:
        outcomes = lift.outcomes[list(OUTCOMES)].astype(float)
        outcome_labels = lift.outcomes["segment_id"].to_numpy()
        window = f"next-period outcomes {lift.cutoff} to the day before {lift.end}"
        missing = ""
    else:
        outcomes, outcome_labels, window = pd.DataFrame(), None, ""
        missing = f"next-period outcomes not measured: {lift_error or 'no out-of-time lift'}"
    scorecard = validity_scorecard(
        labels,
        attributes=attributes,
        outcomes=outcomes,
        binary_outcomes=BINARY_OUTCOMES,
        stability=stability_table,
        stability_ari=ari,
        reach=reach if reach.shape[1] else None,
        thresholds=ev.scorecard,
        outcome_labels=outcome_labels,
        outcome_window=window,
        outcome_missing=missing,
    )

    trend = revenue_trend(con, segments, snapshot_date, ev.lift.horizon_days)
    typing_tool = _typing_tool(features, feature_names, labels, config.seed)
    cards = persona_cards(
        profiles,
        names,
        labels,
        customers=customers,
        reach=reach if reach.shape[1] else None,
        needs=needs,
        typing_tool=typing_tool,
        descriptions=descriptions,
        alpha=ev.scorecard.alpha,
    )

    hemispheres = _hemispheres(customers, labels)
    summary = profiles.summary.set_index("segment_id")
    value = (
        summary["revenue_per_customer"]
        if "revenue_per_customer" in summary
        else pd.Series(1.0, index=summary.index)
    )
    lapsed = (
        pd.Series(features["recency_days"].to_numpy() >= ev.lift.horizon_days)
        .groupby(labels)
        .mean()
        if "recency_days" in features
        else pd.Series(np.nan, index=summary.index)
    )
    reach_any = scorecard.reach["any"] if "any" in scorecard.reach else None
    growth = trend.set_index("segment_id")["growth"]
    inputs = pd.DataFrame(
        {
            "segment_id": summary.index.astype(int),
            "name": [names[int(i)] for i in summary.index],
            "customers": summary["customers"].to_numpy(),
            "value_per_customer": value.to_numpy(dtype=float),
            "growth": growth.reindex(summary.index).to_numpy(dtype=float),
            "reachability": reach_any.reindex(summary.index).to_numpy(dtype=float)
            if reach_any is not None
            else np.nan,
            "lapsed_share": lapsed.reindex(summary.index).to_numpy(dtype=float),
        }
    )
    # a segment with no revenue before the recent window is all new: count it as capped growth
    recent = trend.set_index("segment_id")["revenue_recent"].reindex(summary.index).to_numpy()
    inputs.loc[inputs["growth"].isna() & (recent > 0), "growth"] = config.strategy.growth_cap
    priorities = prioritise(
        inputs,
        objectives=config.strategy.objectives,
        weights=config.strategy.weights,
        knockouts=scorecard.failed(config.strategy.knockouts),
        growth_cap=config.strategy.growth_cap,
    )
    facts = {
        int(s): segment_facts(
            profiles,
            int(s),
            reach=scorecard.reach if reach.shape[1] else None,
            hemispheres=hemispheres.get(int(s)),
            growth=float(growth.get(s, np.nan)),
            alpha=ev.scorecard.alpha,
        )
        for s in summary.index
    }
    recommendations = recommend(facts, names)
    return Deliverables(
        scorecard=scorecard,
        stability=stability_table,
        stability_ari=ari,
        lift=lift,
        lift_error=lift_error,
        trend=trend,
        typing_tool=typing_tool,
        cards=cards,
        priorities=priorities,
        recommendations=recommendations,
        hemispheres=hemispheres,
    )
