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
   (:func:`rfm_score_groups`: equal granularity, since eta² grows with the number of groups,
   so a 2-segment solution must be compared with 2 RFM groups, not with 11) and the
   **classic named RFM segments** (:class:`~segmint.segmenters._rfm.RFMSegmenter`, Putler's
   grid: however many groups it gives); then for each basis alone when several are used, and
   for segments on customer identity (demographics, geography) when a customer table is given.

The verdict is a sentence built from those numbers; it says plainly when a simple RFM grouping
predicts as well as the segments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.evaluate._tests import eta_squared
from segmint.exceptions import InputError
from segmint.features._behavioural import build_features, default_snapshot, plan_features
from segmint.features._catalogue import Feature, FeatureOptions, FeatureSpec
from segmint.features._prepare import FeaturePreparer
from segmint.features._table import build_feature_table, compute_feature_table
from segmint.io._sources import quote_ident
from segmint.segmenters._ids import match_labels
from segmint.segmenters._kmeans import KMeansSegmenter
from segmint.segmenters._rfm import RFMSegmenter

__all__ = [
    "BEHAVIOUR_COLUMNS",
    "BINARY_OUTCOMES",
    "OUTCOMES",
    "LiftResult",
    "fill_missing",
    "join_behaviour",
    "lift_verdict",
    "out_of_time_lift",
    "period_outcomes",
    "revenue_trend",
    "rfm_score_groups",
    "segment_lift",
]

OUTCOMES = ("repeat_purchase", "retained", "revenue", "orders")
BINARY_OUTCOMES = ("repeat_purchase", "retained")
OUTCOME_LABELS = {
    "repeat_purchase": "repeat purchase",
    "retained": "retention",
    "revenue": "revenue",
    "orders": "orders",
}
#: the equal-granularity baseline: an RFM score cut into the segmentation's number of groups
RFM_BASELINE = "RFM score in k groups (baseline)"
#: the standard named RFM segments (Putler's grid), with however many groups they give
RFM_NAMED_BASELINE = "RFM named segments (baseline)"
#: how each baseline is built, for run.json and the report
BASELINE_DEFINITIONS = {
    RFM_BASELINE: "mean of the percentile ranks of recency (reversed), frequency and monetary"
    " value at the cut-off, cut into as many equal-count groups as the segmentation has"
    " (ties kept together)",
    RFM_NAMED_BASELINE: "R and F, M quintile scores at the cut-off mapped to the classic named"
    " RFM segments (Putler's R x (F+M)/2 grid: Champions, Loyal, ..., Lost, Other)",
}
SEGMENTS = "segments"
_LIFT_TABLE = "_segmint_lift_features"
_BEHAVIOUR_TABLE = "_segmint_behaviour"
_MAX_IDENTITY_LEVELS = 20
#: What customers did, from the transactions: the RFM baseline's inputs, and the columns runs on
#: other bases keep beside their features for profiles, distinctness and the lift.
BEHAVIOUR_COLUMNS = ("recency_days", "frequency", "monetary")
#: bases whose data carry no date: used as they are at the cut-off
_UNDATED = {
    "needs": "survey answers",
    "psychographic": "survey answers",
    "demographic": "customer data",
    "geographic": "customer data",
    "firmographic": "account data",
}


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def period_outcomes(
    con: duckdb.DuckDBPyConnection,
    start: date,
    horizon_days: int,
    *,
    has_order_id: bool,
    customers: str,
    table: str = "transactions",
) -> pd.DataFrame:
    """What every customer of the table ``customers`` did in ``[start, start + horizon)``.

    An order is one ``order_id`` (or one customer-day without order ids) with a purchase line
    (amount >= 0), as in the features; revenue is net of returns dated in the window.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, repeat_purchase, retained, revenue, orders``, one row per customer of
        ``customers`` (zeros for customers who did nothing), ordered by ``customer_id``.
    """
    end = start + timedelta(days=horizon_days)
    middle = start + timedelta(days=horizon_days // 2)
    order_key = "order_id" if has_order_id else "CAST(order_date AS DATE)"
    sql = f"""
        WITH window_tx AS (
            SELECT customer_id, amount, order_date, {order_key} AS order_key
            FROM {quote_ident(table)}
            WHERE order_date >= DATE '{start}' AND order_date < DATE '{end}'
        ),
        per_customer AS (
            SELECT customer_id,
                   count(DISTINCT order_key) FILTER (WHERE amount >= 0) AS orders,
                   count(DISTINCT order_key)
                       FILTER (WHERE amount >= 0 AND order_date >= DATE '{middle}') AS late_orders,
                   sum(amount) AS revenue
            FROM window_tx GROUP BY customer_id
        )
        SELECT c.customer_id,
               CAST(coalesce(p.orders, 0) > 0 AS INTEGER) AS repeat_purchase,
               CAST(coalesce(p.late_orders, 0) > 0 AS INTEGER) AS retained,
               CAST(coalesce(p.revenue, 0) AS DOUBLE) AS revenue,
               CAST(coalesce(p.orders, 0) AS BIGINT) AS orders
        FROM (SELECT DISTINCT customer_id FROM {quote_ident(customers)}) c
        LEFT JOIN per_customer p USING (customer_id)
        ORDER BY c.customer_id
    """
    return con.sql(sql).df()


def revenue_trend(
    con: duckdb.DuckDBPyConnection,
    segments: pd.DataFrame,
    snapshot: date | str,
    horizon_days: int = 180,
    *,
    table: str = "transactions",
) -> pd.DataFrame:
    """Recent against earlier net revenue of each segment, in SQL.

    Parameters
    ----------
    segments : pandas.DataFrame
        ``customer_id, segment_id``.
    snapshot : date
        The run's snapshot date: "recent" is ``[snapshot - horizon, snapshot)``, "earlier" the
        ``horizon`` days before that.

    Returns
    -------
    pandas.DataFrame
        ``segment_id, revenue_recent, revenue_earlier, growth`` with ``growth = recent /
        earlier`` (NaN when the earlier revenue is not positive).
    """
    snapshot = _as_date(snapshot)
    recent_start = snapshot - timedelta(days=horizon_days)
    earlier_start = recent_start - timedelta(days=horizon_days)
    frame = segments[["customer_id", "segment_id"]].astype({"customer_id": str})
    con.register("_segmint_trend_segments", frame)
    try:
        result = con.sql(f"""
            SELECT s.segment_id,
                   coalesce(sum(t.amount) FILTER (WHERE t.order_date >= DATE '{recent_start}'),
                            0) AS revenue_recent,
                   coalesce(sum(t.amount) FILTER (WHERE t.order_date < DATE '{recent_start}'),
                            0) AS revenue_earlier
            FROM _segmint_trend_segments s
            LEFT JOIN {quote_ident(table)} t
              ON t.customer_id = s.customer_id
             AND t.order_date >= DATE '{earlier_start}' AND t.order_date < DATE '{snapshot}'
            GROUP BY s.segment_id ORDER BY s.segment_id
        """).df()
    finally:
        con.unregister("_segmint_trend_segments")
    earlier = result["revenue_earlier"].where(result["revenue_earlier"] > 0)
    result["growth"] = result["revenue_recent"] / earlier
    return result


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


def rfm_score_groups(rfm: pd.DataFrame, n_groups: int) -> np.ndarray:
    """An RFM score cut into ``n_groups`` equal-count groups: the equal-granularity baseline.

    The score is the mean of each customer's percentile ranks in recency (reversed: more
    recent ranks higher), frequency and monetary value -- the continuous form of the usual
    R + F + M sum of quintile scores, which with its 13 values and heavy ties could not be cut
    into, say, 10 groups. Group ``g`` (0 = lowest score) holds the customers whose score has
    "min" rank ``r`` (ties share the smallest rank) with ``floor(n_groups (r - 1) / n) = g``,
    so tied scores always share a group (with very heavy ties a group can stay empty).

    Parameters
    ----------
    rfm : pandas.DataFrame
        ``recency_days, frequency, monetary``, no missing values.
    n_groups : int
        The number of groups (the segmentation's number of segments).

    Returns
    -------
    ndarray of shape (n_customers,), dtype int64
        Group of each customer, ``0 .. n_groups - 1``.

    Examples
    --------
    >>> rfm = pd.DataFrame({"recency_days": [5, 300, 40, 200], "frequency": [9, 1, 4, 2],
    ...                     "monetary": [900.0, 20.0, 300.0, 80.0]})
    >>> rfm_score_groups(rfm, 2).tolist()
    [1, 0, 1, 0]
    """
    ranks = pd.DataFrame(
        {
            "r": (-rfm["recency_days"].astype(float)).rank(method="average", pct=True),
            "f": rfm["frequency"].astype(float).rank(method="average", pct=True),
            "m": rfm["monetary"].astype(float).rank(method="average", pct=True),
        }
    )
    score = ranks.mean(axis=1).round(12)
    n = len(score)
    rank = score.rank(method="min").to_numpy()
    return np.minimum((n_groups * (rank - 1)) // n, n_groups - 1).astype(np.int64)


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
    else:
        text += ": they predict behaviour." if seg >= weak_below else ": they do not predict it."
    identity = comparison[comparison["kind"] == "identity"]
    if len(identity):
        value = float(identity[f"eta2_{outcome}"].iloc[0])
        text += f" Segments on customer identity alone explain {value:.1%}."
    return text


def fill_missing(
    con: duckdb.DuckDBPyConnection,
    spec: FeatureSpec,
    features: pd.DataFrame,
    *,
    into: str | None = "features",
) -> tuple[FeatureSpec, pd.DataFrame]:
    """Numeric features with missing values filled with their median over the customers.

    Customers without data in a table (no survey answer, no event) have missing features; the
    segmenters need numbers. The median becomes the feature's ``default`` in the spec, so the
    SQL fills it (``coalesce``) and scoring fills new customers with the same training value.
    A feature missing for every customer is dropped. The run's feature stage and the lift's
    refit at the cut-off both fill this way.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the spec's tables.
    spec : FeatureSpec
        The spec ``features`` were computed with.
    features : pandas.DataFrame
        Its feature table.
    into : str or None, default "features"
        The DuckDB table the recomputed features are written to (``None``: none).

    Returns
    -------
    (FeatureSpec, pandas.DataFrame)
        The spec with the medians as defaults and the recomputed table (both unchanged when
        nothing is missing).
    """
    changed = False
    kept = []
    for feature in spec.features:
        if feature.kind != "numeric" or not features[feature.name].isna().any():
            kept.append(feature)
            continue
        changed = True
        n_missing = int(features[feature.name].isna().sum())
        median = features[feature.name].median()
        if pd.isna(median):
            logger.warning("feature %s: no customer has a value; dropped", feature.name)
            continue
        logger.info(
            "feature %s: %d of %d customers have no value; filled with the median %.4g",
            feature.name,
            n_missing,
            len(features),
            median,
        )
        kept.append(replace(feature, default=float(median)))
    if not changed:
        return spec, features
    if not kept:
        raise InputError(
            "No feature has a value for any customer.",
            hint="Check the tables given for the chosen bases.",
        )
    spec = replace(spec, features=kept)
    return spec, compute_feature_table(con, spec, into=into)


def join_behaviour(
    con: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    snapshot: date,
    *,
    table: str = "transactions",
) -> pd.DataFrame:
    """``frame`` with the :data:`BEHAVIOUR_COLUMNS` it lacks, as of ``snapshot``.

    Segments on needs, attitudes or devices must still be judged by what their members do:
    recency, frequency and monetary value come from the transaction catalogue (only
    transactions before ``snapshot``) and are missing for customers without a purchase before
    it. They are not features of the segmentation.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the validated ``table`` of transactions.
    frame : pandas.DataFrame
        One row per customer, with ``customer_id``.
    snapshot : date
        The day before which transactions count.
    table : str, default="transactions"

    Returns
    -------
    pandas.DataFrame
        ``frame`` (same rows, same order) with the missing columns added.
    """
    missing = [c for c in BEHAVIOUR_COLUMNS if c not in frame.columns]
    if not missing:
        return frame
    spec = plan_features(con, snapshot, table=table)
    spec.features = [f for f in spec.features if f.name in missing]
    build_features(con, spec, table=table, into=_BEHAVIOUR_TABLE)
    try:
        behaviour = con.sql(
            "SELECT CAST(customer_id AS VARCHAR) AS customer_id, "
            + ", ".join(quote_ident(c) for c in missing)
            + f" FROM {_BEHAVIOUR_TABLE}"
        ).df()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_BEHAVIOUR_TABLE}")
    joined = behaviour.set_index("customer_id").reindex(frame["customer_id"].astype(str).to_numpy())
    return frame.assign(**{c: joined[c].to_numpy() for c in missing})


def _kmeans_labels(
    X: np.ndarray, n_segments: int, *, n_init: int, random_state: int
) -> np.ndarray | None:
    """k-means labels with at most ``n_segments`` segments (fewer for few distinct rows)."""
    k = min(n_segments, _distinct_rows(X, n_segments))
    if k < 2:
        return None
    # only the partition matters here: stability is the scorecard's business, and the
    # silhouette (pairwise distances of a sample) is evidence for choosing k, which is fixed
    segmenter = KMeansSegmenter(
        k, n_init=n_init, random_state=random_state, stability_resamples=0, silhouette_sample=0
    )
    return segmenter.fit(X).labels_


def _distinct_rows(X: np.ndarray, enough: int) -> int:
    """The number of distinct rows of ``X``, or any number >= ``enough`` once that many are seen.

    The first rows nearly always hold ``enough`` distinct ones, which spares sorting all rows.
    """
    head = len(np.unique(X[: max(64 * enough, 1024)], axis=0))
    return head if head >= enough else len(np.unique(X, axis=0))


def _identity_matrix(identity: pd.DataFrame, customer_ids: pd.Series) -> np.ndarray | None:
    """Standardised numeric columns and one-hot categories of the customers' identity."""
    table = identity.drop_duplicates("customer_id").set_index("customer_id")
    table = table.reindex(customer_ids.astype(str).to_numpy())
    parts = []
    for column in table.columns:
        values = table[column]
        if pd.api.types.is_bool_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values):
            x = values.astype(float)
            x = x.fillna(x.mean())
            std = x.std()
            if std > 0:
                parts.append(((x - x.mean()) / std).to_numpy()[:, None])
        else:
            levels = values.astype("string").fillna("(missing)")
            if 1 < levels.nunique() <= _MAX_IDENTITY_LEVELS:
                parts.append(pd.get_dummies(levels, dtype=float).to_numpy())
    return np.hstack(parts) if parts else None


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
    values = outcomes[list(OUTCOMES)].astype(float)

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

    overlap = pd.Series(np.nan, index=np.unique(labels))
    if reference is not None:
        ref = reference.assign(customer_id=reference["customer_id"].astype(str)).set_index(
            "customer_id"
        )["segment_id"]
        current = ref.reindex(features["customer_id"]).to_numpy()
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
    own_names = dict(namer(features[names], labels)) if namer is not None else {}

    per_segment = segment_lift(values, labels)
    per_segment.insert(
        1, "name", [own_names.get(int(s), f"Segment {int(s)}") for s in per_segment["segment_id"]]
    )
    per_segment.insert(
        2, "current_overlap", [float(overlap.get(s, np.nan)) for s in per_segment["segment_id"]]
    )

    compared: list[tuple[str, str, np.ndarray]] = [(SEGMENTS, "segments", labels)]
    if len(bases) > 1:
        for basis in bases:
            subset = [f for f in chosen if f.basis == basis]
            if not subset:
                continue
            cols = [f.name for f in subset]
            Xb = FeaturePreparer({f.name: f.transform for f in subset}).fit_transform(
                features[cols]
            )
            basis_labels = _kmeans_labels(Xb, n_segments, n_init=n_init, random_state=random_state)
            if basis_labels is not None:
                compared.append((f"{basis} basis alone", "basis", basis_labels))
    rfm_cols = list(BEHAVIOUR_COLUMNS)
    if all(c in features.columns for c in rfm_cols):
        rfm_inputs = _rfm_inputs(features[rfm_cols])
        n_fitted = len(np.unique(labels))
        compared.append((RFM_BASELINE, "baseline", rfm_score_groups(rfm_inputs, n_fitted)))
        rfm = RFMSegmenter().fit(rfm_inputs)
        compared.append((RFM_NAMED_BASELINE, "baseline", rfm.labels_))
    if identity is not None and len(identity.columns) > 1:
        Xi = _identity_matrix(identity, features["customer_id"])
        if Xi is not None:
            id_labels = _kmeans_labels(Xi, n_segments, n_init=n_init, random_state=random_state)
            if id_labels is not None:
                compared.append(
                    ("customer identity (demographics, geography)", "identity", id_labels)
                )
    comparison = pd.DataFrame(
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
    window = f"{cutoff} to {end - timedelta(days=1)}"
    verdict = lift_verdict(comparison, primary_outcome, window=window)
    if tables is not None:
        verdict += f" Segments refitted at the cut-off on the {_and(bases)} bases"
        undated = sorted({_UNDATED[b] for b in bases if b in _UNDATED})
        verdict += f"; {_and(undated)} have no date and are used as they are." if undated else "."
    logger.info("lift: %s", verdict)
    customer_outcomes = outcomes.assign(segment_id=labels)
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
        outcomes=customer_outcomes,
        features_used=names,
        notes=notes,
        population=_population_words(bases) if tables is not None else LiftResult.population,
    )


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


def _rfm_inputs(rfm: pd.DataFrame) -> pd.DataFrame:
    """Recency, frequency, monetary with customers who had not bought filled in.

    A customer of a catalogue population (events, survey) without a purchase before the
    cut-off counts as the least recent (one day more than the largest recency) with no order
    and no revenue. Unchanged when nothing is missing.
    """
    if not rfm.isna().any().any():
        return rfm
    recency = rfm["recency_days"]
    last = float(recency.max()) + 1 if recency.notna().any() else 0.0
    return rfm.fillna({"recency_days": last, "frequency": 0, "monetary": 0})


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
