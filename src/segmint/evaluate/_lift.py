"""Out-of-time behavioural lift: do segments predict what customers do next?

A segmentation that only *describes* customers is of little use; one that *predicts* their
behaviour changes decisions. :func:`out_of_time_lift` answers the question honestly, with no
look-ahead:

1. features are computed as of a cut-off date ``T`` (default: the snapshot date minus the
   horizon, so the whole outcome window lies inside the data) from transactions before ``T``
   -- or, for a run whose features come from the catalogue
   (:func:`~segmint.features._table.build_feature_table`: events, surveys, customer data, ...),
   the run's bases recomputed by the catalogue with ``T`` as its snapshot: dated tables
   (transactions, events, campaigns) are used before ``T`` only, while undated data (survey
   answers, the customer and account tables) are used as they are, answers given after ``T``
   included; missing values are filled with the median over the customers, as in the run;
2. segments are fitted on the run's numeric features only (k-means with the run's number of
   segments; categorical features and bands are not used);
3. outcomes are measured in SQL over ``[T, T + horizon)``: **repeat purchase** (any order),
   **retention** (an order in the second half of the window, i.e. still buying at its end),
   **revenue** (net) and **orders**;
4. per segment, the **lift** of each outcome is the segment mean divided by the mean of all
   customers; per segmentation, **eta²** is the share of the outcome's variance explained by
   the segments;
5. the same is done for two plain RFM baselines, both from recency, frequency and monetary
   value at the cut-off: an **RFM score cut into as many groups as the segmentation has**
   (:func:`~segmint.evaluate._baselines.rfm_score_groups`: equal granularity, since eta²
   grows with the number of groups, so a 2-segment solution must be compared with 2 RFM
   groups, not with 11) and the
   **classic named RFM segments** (:class:`~segmint.segmenters._rfm.RFMSegmenter`, Putler's
   grid: however many groups it gives); then for each basis alone when several are used, and
   for segments on customer identity (demographics, geography) when a customer table is given.

The verdict is a sentence built from those numbers; it says plainly when a simple RFM grouping
predicts as well as the segments.

Where the parts live: the outcomes in :mod:`segmint.evaluate._outcomes`, the baselines and
the other segmentations compared in :mod:`segmint.evaluate._baselines`, lift and eta² in
:mod:`segmint.evaluate._lift_stats`, the verdict in :mod:`segmint.evaluate._verdict`, the
result in :mod:`segmint.evaluate._lift_result` and the filling of gaps and the behaviour columns
in :mod:`segmint.evaluate._behaviour`. Here: :func:`out_of_time_lift` and its steps, and the
refit of the run's bases by the catalogue (:func:`_catalogue_features`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.evaluate._baselines import _compared_segmentations, _kmeans_labels
from segmint.evaluate._behaviour import BEHAVIOUR_COLUMNS, fill_missing, join_behaviour
from segmint.evaluate._lift_result import LiftResult
from segmint.evaluate._lift_stats import _comparison_table, segment_lift
from segmint.evaluate._outcomes import OUTCOMES, _as_date, period_outcomes
from segmint.evaluate._verdict import _and, _population_words, lift_verdict
from segmint.exceptions import InputError
from segmint.features import (
    Feature,
    FeatureOptions,
    FeaturePreparer,
    build_feature_table,
    build_features,
    default_snapshot,
    plan_features,
)
from segmint.io import quote_ident
from segmint.segmenters._ids import match_labels

__all__ = ["out_of_time_lift"]


_LIFT_TABLE = "_segmint_lift_features"


#: bases whose data carry no date: used as they are at the cut-off
_UNDATED = {
    "needs": "survey answers",
    "psychographic": "survey answers",
    "demographic": "customer data",
    "geographic": "customer data",
    "firmographic": "account data",
}


def out_of_time_lift(
    con: duckdb.DuckDBPyConnection,
    *,
    n_segments: int,
    bases: Sequence[str] = ("behavioural", "value"),
    feature_names: Sequence[str] | None = None,
    cutoff: date | None = None,
    horizon_days: int = 180,
    snapshot: date | str | None = None,
    n_init: int = 4,
    random_state: int = 0,
    identity: pd.DataFrame | None = None,
    reference: pd.DataFrame | None = None,
    namer: Callable[[pd.DataFrame, np.ndarray], Mapping[int, str]] | None = None,
    primary_outcome: str = "revenue",
    table: str = "transactions",
    tables: Mapping[str, str] | None = None,
    options: FeatureOptions | None = None,
) -> LiftResult:
    """Fit segments on the history up to a cut-off and measure what they predict after it.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the validated ``table`` of transactions (and, with ``tables``, the
        run's other tables).
    n_segments : int
        Number of segments to fit at the cut-off (the run's k).
    bases : sequence of str
        Bases whose features are used (as in the run); with more than one, each basis is also
        compared alone. Without ``tables`` only the transaction features of the behavioural
        and value bases exist at the cut-off.
    feature_names : sequence of str, optional
        Restrict the features to these names (the run's numeric features). Only numeric
        features are used: categories and bands are not clustered by the lift's k-means.
    cutoff : date, optional
        ``T``; default ``snapshot - horizon_days``.
    horizon_days : int, default=180
        Length of the outcome window.
    snapshot : date, optional
        The run's snapshot; default the day after the last transaction.
    n_init, random_state : int
        k-means starts and seed, the same for every segmentation compared (a few starts
        suffice for a comparison; the run's own segments are fitted with more).
    identity : pandas.DataFrame, optional
        ``customer_id`` and identity columns (demographics, geography) for the identity
        comparison.
    reference : pandas.DataFrame, optional
        ``customer_id, segment_id`` of the current segmentation: segments fitted at the
        cut-off take the ids of the current segments they overlap most.
    namer : callable, optional
        ``namer(features, labels) -> {segment_id: name}`` names the segments fitted at the
        cut-off (e.g. from their profiles); default "Segment <id>".
    primary_outcome : str, default="revenue"
        The outcome of the verdict: one of :data:`OUTCOMES`.
    table : str, default="transactions"
        The transactions table (features without ``tables``, outcomes, RFM baseline).
    tables : mapping of str to str, optional
        ``role -> table`` of the run whose features came from the catalogue
        (:func:`~segmint.features._table.build_feature_table`). The ``bases`` are then
        recomputed by the catalogue with the cut-off as snapshot (dated tables -- transactions,
        events, campaigns -- before it only; survey answers and the customer and account
        tables have no date and are used as they are, so answers given after the cut-off are
        included), missing values filled with the median over the customers as in the run
        (:func:`fill_missing`), and the customers followed are the catalogue's population at
        the cut-off. Recency, frequency and monetary value for the RFM baseline come from the
        transactions before the cut-off even when the bases do not include them (customers
        without a purchase count as least recent, with no order and no revenue).
        ``None``: the transaction features of :func:`plan_features` (the default run).
    options : FeatureOptions, optional
        The run's feature options (CLV, survey items, factors), with ``tables``.

    Returns
    -------
    LiftResult
    """
    cutoff, end = _lift_window(
        con,
        cutoff=cutoff,
        horizon_days=horizon_days,
        snapshot=snapshot,
        primary_outcome=primary_outcome,
        table=table,
    )
    features, candidates, notes, outcomes = _features_and_outcomes(
        con,
        bases=bases,
        cutoff=cutoff,
        horizon_days=horizon_days,
        tables=tables,
        options=options,
        table=table,
        feature_names=feature_names,
    )
    values = outcomes[list(OUTCOMES)].astype(float)
    chosen, names, labels = _fit_at_cutoff(
        features,
        candidates,
        bases=bases,
        feature_names=feature_names,
        n_segments=n_segments,
        n_init=n_init,
        random_state=random_state,
        cutoff=cutoff,
    )
    labels, overlap = _match_reference(labels, features["customer_id"], reference)
    own_names = dict(namer(features[names], labels)) if namer is not None else {}
    per_segment = _per_segment(values, labels, own_names, overlap)
    compared = _compared_segmentations(
        features,
        labels,
        chosen,
        bases=bases,
        n_segments=n_segments,
        n_init=n_init,
        random_state=random_state,
        identity=identity,
    )
    comparison = _comparison_table(compared, values)
    verdict = _refit_verdict(comparison, primary_outcome, cutoff, end, bases, tables is not None)
    return LiftResult(
        cutoff=str(cutoff),
        end=str(end),
        horizon_days=int(horizon_days),
        n_customers=len(features),
        primary_outcome=primary_outcome,
        method=f"k-means with {len(np.unique(labels))} segments ({n_init} seeded starts) on"
        f" {len(names)} features of the bases {', '.join(bases)}"
        + "".join(f"; {note}" for note in notes),
        overall={o: float(values[o].mean()) for o in OUTCOMES},
        per_segment=per_segment,
        comparison=comparison,
        verdict=verdict,
        outcomes=outcomes.assign(segment_id=labels),
        features_used=names,
        notes=notes,
        population=_population_words(bases) if tables is not None else LiftResult.population,
    )


def _lift_window(
    con: duckdb.DuckDBPyConnection,
    *,
    cutoff: date | None,
    horizon_days: int,
    snapshot: date | str | None,
    primary_outcome: str,
    table: str,
) -> tuple[date, date]:
    """The cut-off ``T`` and the end of the outcome window (exclusive), checked.

    Raises
    ------
    InputError
        ``primary_outcome`` is not one of :data:`OUTCOMES`, or the cut-off is not before the
        snapshot. A window that ends after the data is only logged (outcomes are truncated).
    """
    if primary_outcome not in OUTCOMES:
        raise InputError(
            f"primary_outcome {primary_outcome!r} is not one of {', '.join(OUTCOMES)}.",
            hint="Set evaluation.lift.primary_outcome to revenue, orders, repeat_purchase or"
            " retained.",
        )
    snapshot = _as_date(snapshot) if snapshot is not None else default_snapshot(con, table)
    cutoff = cutoff or snapshot - timedelta(days=horizon_days)
    end = cutoff + timedelta(days=horizon_days)
    if cutoff >= snapshot:
        raise InputError(
            f"The lift cut-off {cutoff} is not before the snapshot date {snapshot}.",
            hint="Choose an earlier evaluation.lift.cutoff_date or a shorter horizon_days.",
        )
    if end > snapshot:
        logger.warning(
            "lift: the outcome window %s - %s ends after the data (%s); outcomes are truncated",
            cutoff,
            end,
            snapshot,
        )
    return cutoff, end


def _features_and_outcomes(
    con: duckdb.DuckDBPyConnection,
    *,
    bases: Sequence[str],
    cutoff: date,
    horizon_days: int,
    tables: Mapping[str, str] | None,
    options: FeatureOptions | None,
    table: str,
    feature_names: Sequence[str] | None,
) -> tuple[pd.DataFrame, list[Feature], list[str], pd.DataFrame]:
    """The features at the cut-off and what the same customers did in the outcome window.

    Without ``tables`` the transaction features of :func:`plan_features`, else the run's bases
    by the catalogue (:func:`_catalogue_features`). Returns the features (ordered by
    ``customer_id``), their definitions, the notes on the refit and the outcomes (one row per
    customer of the features, in their order).
    """
    notes: list[str] = []
    try:
        if tables is None:
            spec = plan_features(con, cutoff, table=table)
            build_features(con, spec, table=table, into=_LIFT_TABLE)
            features = con.sql(f"SELECT * FROM {_LIFT_TABLE} ORDER BY customer_id").df()
            features["customer_id"] = features["customer_id"].astype(str)
            candidates, has_order_id = spec.features, spec.has_order_id
        else:
            features, candidates, has_order_id, notes = _catalogue_features(
                con,
                bases=bases,
                cutoff=cutoff,
                tables=tables,
                options=options,
                table=table,
                feature_names=feature_names,
            )
        outcomes = period_outcomes(
            con,
            cutoff,
            horizon_days,
            has_order_id=has_order_id,
            customers=_LIFT_TABLE,
            table=table,
        )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_LIFT_TABLE}")
    outcomes["customer_id"] = outcomes["customer_id"].astype(str)
    outcomes = features[["customer_id"]].merge(outcomes, on="customer_id", how="left")
    return features, candidates, notes, outcomes


def _fit_at_cutoff(
    features: pd.DataFrame,
    candidates: Sequence[Feature],
    *,
    bases: Sequence[str],
    feature_names: Sequence[str] | None,
    n_segments: int,
    n_init: int,
    random_state: int,
    cutoff: date,
) -> tuple[list[Feature], list[str], np.ndarray]:
    """k-means on the numeric features of ``bases`` at the cut-off.

    Returns the features chosen, their names and the segment of every customer.

    Raises
    ------
    InputError
        No feature of the bases, or too few customers for ``n_segments`` segments.
    """
    chosen = [
        f
        for f in candidates
        if f.basis in bases
        and f.kind == "numeric"
        and (feature_names is None or f.name in feature_names)
    ]
    if not chosen:
        raise InputError(
            f"No features of the bases {list(bases)} at the lift cut-off {cutoff}.",
            hint="Check the bases in segmint.yaml.",
        )
    names = [f.name for f in chosen]
    X = FeaturePreparer({f.name: f.transform for f in chosen}).fit_transform(features[names])
    labels = _kmeans_labels(X, n_segments, n_init=n_init, random_state=random_state)
    if labels is None:
        raise InputError(
            f"Only {len(features)} customers bought before the lift cut-off {cutoff}: too few"
            f" for {n_segments} segments.",
            hint="Choose a later evaluation.lift.cutoff_date or a shorter horizon_days.",
        )
    return chosen, names, labels


def _match_reference(
    labels: np.ndarray, customer_ids: pd.Series, reference: pd.DataFrame | None
) -> tuple[np.ndarray, pd.Series]:
    """The segments fitted at the cut-off renumbered after the current segments they overlap
    most (fresh ids for the others), and per segment the share of its members now in the
    current segment of that id (NaN without a reference)."""
    overlap = pd.Series(np.nan, index=np.unique(labels))
    if reference is not None:
        ref = reference.assign(customer_id=reference["customer_id"].astype(str)).set_index(
            "customer_id"
        )["segment_id"]
        current = ref.reindex(customer_ids).to_numpy()
        known = ~pd.isna(current)
        if known.any():
            mapping = match_labels(current[known].astype(np.int64), labels[known])
            n_fitted = int(labels.max()) + 1
            full = np.empty(n_fitted, dtype=np.int64)
            full[: mapping.size] = mapping
            fresh = max(int(mapping.max()), int(np.nanmax(current[known]))) + 1
            full[mapping.size :] = fresh + np.arange(n_fitted - mapping.size)
            labels = full[labels]
            same = pd.Series(current[known].astype(np.int64) == labels[known])
            overlap = same.groupby(labels[known]).mean()
    return labels, overlap


def _per_segment(
    values: pd.DataFrame, labels: np.ndarray, names: Mapping[int, str], overlap: pd.Series
) -> pd.DataFrame:
    """:func:`segment_lift` of the segments fitted at the cut-off, with ``name`` and
    ``current_overlap`` after ``segment_id``."""
    per_segment = segment_lift(values, labels)
    per_segment.insert(
        1, "name", [names.get(int(s), f"Segment {int(s)}") for s in per_segment["segment_id"]]
    )
    per_segment.insert(
        2, "current_overlap", [float(overlap.get(s, np.nan)) for s in per_segment["segment_id"]]
    )
    return per_segment


def _refit_verdict(
    comparison: pd.DataFrame,
    primary_outcome: str,
    cutoff: date,
    end: date,
    bases: Sequence[str],
    on_catalogue: bool,
) -> str:
    """:func:`lift_verdict` over the window, with how the segments were refitted when the
    run's bases came from the catalogue (``on_catalogue``); logged."""
    window = f"{cutoff} to {end - timedelta(days=1)}"
    verdict = lift_verdict(comparison, primary_outcome, window=window)
    if on_catalogue:
        verdict += f" Segments refitted at the cut-off on the {_and(bases)} bases"
        undated = sorted({_UNDATED[b] for b in bases if b in _UNDATED})
        verdict += f"; {_and(undated)} have no date and are used as they are." if undated else "."
    logger.info("lift: %s", verdict)
    return verdict


def _catalogue_features(
    con: duckdb.DuckDBPyConnection,
    *,
    bases: Sequence[str],
    cutoff: date,
    tables: Mapping[str, str],
    options: FeatureOptions | None,
    table: str,
    feature_names: Sequence[str] | None,
) -> tuple[pd.DataFrame, list[Feature], bool, list[str]]:
    """The run's bases as of ``cutoff`` by the catalogue, in :data:`_LIFT_TABLE`.

    Missing values are filled with the median (:func:`fill_missing`, as the run does), and
    recency, frequency and monetary value at the cut-off joined in for the RFM baseline when
    the bases did not compute them. Returns the features (ordered by ``customer_id``), their
    definitions, whether the transactions have order ids, and notes on what the refit leaves
    out or uses as it is.
    """
    frame, spec = build_feature_table(
        con,
        bases=bases,
        snapshot=cutoff,
        tables_available=tables,
        options=options,
        into=_LIFT_TABLE,
    )
    spec, frame = fill_missing(con, spec, frame, into=_LIFT_TABLE)
    has_order_id = spec.has_order_id
    if any(c not in frame.columns for c in BEHAVIOUR_COLUMNS):
        # the outcomes count orders as the transactions define them, not as the bases do
        has_order_id = "order_id" in {
            r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()
        }
        frame = join_behaviour(con, frame, cutoff, table=table)
    notes = []
    undated = sorted({_UNDATED[b] for b in bases if b in _UNDATED})
    if undated:
        notes.append(
            f"{_and(undated)} have no date: used as they are at the cut-off, answers given"
            " after it included"
        )
    categorical = [f.name for f in spec.features if f.basis in bases and f.kind != "numeric"]
    if categorical:
        notes.append(
            "categorical features are not used by the lift's k-means: " + ", ".join(categorical)
        )
    if feature_names is not None:
        absent = [n for n in feature_names if n not in {f.name for f in spec.features}]
        if absent:
            notes.append("not available at the cut-off: " + ", ".join(absent))
    return frame, list(spec.features), has_order_id, notes
