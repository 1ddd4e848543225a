"""What customers did, beside the features of a run on other bases; gaps in features filled.

:func:`join_behaviour` adds recency, frequency and monetary value (:data:`BEHAVIOUR_COLUMNS`)
from the transactions to a feature table that lacks them, so that segments on needs, attitudes
or devices can still be judged by what their members do; :func:`fill_missing` fills missing
numeric features with their median (the run's feature stage and the lift's refit both do).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import duckdb
import pandas as pd

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.features import FeatureSpec, build_features, compute_feature_table, plan_features
from segmint.io import quote_ident

__all__ = ["BEHAVIOUR_COLUMNS", "fill_missing", "join_behaviour"]


_BEHAVIOUR_TABLE = "_segmint_behaviour"


#: What customers did, from the transactions: the RFM baseline's inputs, and the columns runs on
#: other bases keep beside their features for profiles, distinctness and the lift.
BEHAVIOUR_COLUMNS = ("recency_days", "frequency", "monetary")


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
