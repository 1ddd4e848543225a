"""The profile stage: each segment described by its features and what its members do, named,
and the run's method written down in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from segmint.config import Config
from segmint.evaluate import BEHAVIOUR_COLUMNS
from segmint.pipeline._features import FeatureTable
from segmint.pipeline._segment import Segmentation
from segmint.profile import SegmentProfiles, name_segments, profile_segments
from segmint.segmenters._factory import segment_names, selection_rule

ID_RULE = (
    "0 is the largest segment, then by descending size (ties by centre); refits are matched to "
    "earlier ids by member overlap."
)


@dataclass
class Described:
    """The segments' profiles, names and the customer -> segment table."""

    profiles: SegmentProfiles
    names: dict[int, str]
    segments: pd.DataFrame


def describe(
    con: duckdb.DuckDBPyConnection,
    table: FeatureTable,
    fit: Segmentation,
    config: Config,
    *,
    with_customers: bool,
) -> Described:
    """Profiles over the features, the behaviour columns and the customer table's numbers."""
    features = table.features
    # segments are profiled by what their members do too, whatever they were built on
    shown = fit.numeric + [c for c in BEHAVIOUR_COLUMNS if c in features and c not in fit.numeric]
    attributes = features[shown]
    if with_customers:
        extra = customer_attribute_frame(con, features["customer_id"])
        # a demographic feature may carry a customer column's name (age): shown once
        attributes = attributes.join(
            extra.drop(columns=[c for c in extra.columns if c in attributes.columns])
        )
    profiles = profile_segments(attributes, fit.labels)
    names = name_segments(profiles, {**(segment_names(fit.segmenter) or {}), **config.names})
    segments = pd.DataFrame(
        {
            "customer_id": features["customer_id"].astype(str),
            "segment_id": fit.labels.astype("int32"),
            "segment_name": [names[int(i)] for i in fit.labels],
        }
    )
    return Described(profiles, names, segments)


def method_record(
    config: Config, table: FeatureTable, fit: Segmentation, data_fingerprint: str
) -> dict[str, Any]:
    """How the segments were made, in words and settings (``run.json`` and the report)."""
    seg_cfg = config.segmentation
    method: dict[str, Any] = {
        "selection_rule": selection_rule(fit.method_name, seg_cfg.k),
        "ids": ID_RULE,
        "features": table.spec.names,
        "preparation": "sign(x)·log1p(|x|) for money, counts and days; winsorised at the "
        "0.5th/99.5th percentiles; standardised to mean 0, std 1."
        + (
            " Dropped before fitting: " + "; ".join(fit.dropped.values()) + "."
            if fit.dropped
            else ""
        ),
        "segmenter": f"{fit.method_name} (seed {config.seed}), "
        f"k from {seg_cfg.k_min} to {seg_cfg.k_max}"
        + (f", forced k={seg_cfg.k}" if seg_cfg.k else "")
        + ("; method chosen by 'auto' from the data" if seg_cfg.method == "auto" else ""),
        "seed": config.seed,
        "config_hash": config.fingerprint(),
        "data_fingerprint": data_fingerprint,
    }
    if table.sampled:
        method["segmenter"] += (
            f"; fitted on a stratified sample of {table.n_fitted:,} of {table.n_customers:,} "
            "customers (spark.sample_customers; profiles, evidence, stability and scorecard "
            "describe the sample), then every customer assigned with the fitted model"
        )
    return method


def customer_attribute_frame(con: duckdb.DuckDBPyConnection, ids: pd.Series) -> pd.DataFrame:
    """Numeric and boolean customer columns, aligned to ``ids`` (missing customers as NaN)."""
    types = con.execute("DESCRIBE customers").fetchall()
    usable = [name for name, kind, *_ in types if kind in ("DOUBLE", "BOOLEAN") and name != "_row"]
    if not usable:
        return pd.DataFrame(index=ids.index)
    cols = ", ".join(f'CAST("{c}" AS DOUBLE) AS "{c}"' for c in usable)
    table = con.sql(f"SELECT customer_id, {cols} FROM customers").df().set_index("customer_id")
    return table.reindex(ids.astype(str).to_numpy()).set_axis(ids.index)
