"""The feature stage: one row per customer, from the transaction features or the catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from segmint.evaluate import fill_missing, join_behaviour
from segmint.features import (
    FeatureOptions,
    FeatureSpec,
    build_feature_table,
    build_features,
    contract_columns,
    plan_features,
)
from segmint.pipeline._ingest import Ingested
from segmint.pipeline._inputs import RunInputs


@dataclass
class FeatureTable:
    """The customers' features and their definitions.

    ``n_customers`` counts the population; ``n_fitted`` is set when the model is fitted on a
    sample of it (the engine's ``sample_customers``), and then the table holds the sample.
    """

    spec: FeatureSpec
    features: pd.DataFrame
    n_customers: int
    n_fitted: int | None = None

    @property
    def sampled(self) -> bool:
        """True when ``features`` is a sample of the population."""
        return self.n_fitted is not None


def uses_catalogue(con: duckdb.DuckDBPyConnection, inputs: RunInputs, ingested: Ingested) -> bool:
    """Whether the features come from the catalogue: as decided from the inputs, or because
    the customers are contractual (contract start and end dates), whose value basis (sBG) the
    catalogue has."""
    if inputs.catalogue or "customers" not in inputs.tables or ingested.distributed is not None:
        return inputs.catalogue
    return contract_columns(con, inputs.tables["customers"]) is not None


def build_customer_features(
    con: duckdb.DuckDBPyConnection, inputs: RunInputs, ingested: Ingested, catalogue: bool
) -> FeatureTable:
    """The feature table of every customer (or of the engine's sample of them)."""
    config = inputs.config
    if ingested.distributed is not None:
        spec, features = ingested.distributed.features(con, config)
        if ingested.distributed.sampled_:
            return FeatureTable(spec, features, ingested.distributed.n_population_, len(features))
        return FeatureTable(spec, features, len(features))
    if catalogue:
        features, spec = build_feature_table(
            con,
            bases=config.bases,
            snapshot=config.snapshot_date,
            tables_available=inputs.tables,
            options=FeatureOptions.from_config(config.features),
        )
        spec, features = fill_missing(con, spec, features)
        features = join_behaviour(con, features, date.fromisoformat(str(spec.snapshot_date)))
        return FeatureTable(spec, features, len(features))
    spec = plan_features(con, config.snapshot_date)
    spec.features = [f for f in spec.features if f.basis in config.bases]
    n_customers = build_features(con, spec)
    return FeatureTable(spec, con.sql("SELECT * FROM features").df(), n_customers)
