"""After a fit on an engine's sample: every customer of the population assigned to a segment."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.activate import load_model
from segmint.config import Config
from segmint.pipeline._features import FeatureTable
from segmint.pipeline._segment import Segmentation, customer_category_frame
from segmint.segmenters._factory import method_input


@dataclass
class Population:
    """The population's segments and how they relate to the sample's."""

    segments: pd.DataFrame
    kept: int
    seconds: float


def assign_population(
    session: Any,
    con: duckdb.DuckDBPyConnection,
    model_path: Path,
    table: FeatureTable,
    fit: Segmentation,
    fitted: pd.DataFrame,
    names: dict[int, str],
    *,
    with_categories: bool,
) -> Population:
    """Every customer of the population in a segment, after a fit on the engine's sample.

    A k-means model is applied on the engine (its preparation and nearest-centre rule as SQL);
    other segmenters predict on the driver, batch by batch, on the same inputs their fit had.
    ``segments`` holds ``customer_id, segment_id, segment_name`` ordered by ``customer_id``,
    with the types of a run on every customer; ``kept`` counts the sampled customers whose
    fitted segment the assignment keeps.
    """
    start = time.perf_counter()
    if fit.method_name == "kmeans":
        assigned = session.assign(load_model(model_path))
        ids = assigned["customer_id"].to_pandas()
        segment = assigned["segment_id"].to_numpy()
    else:
        id_parts, segment_parts = [], []
        for batch in session.population_batches(con):
            raw = batch[table.spec.names]
            categorical = (
                customer_category_frame(con, batch["customer_id"])
                if with_categories
                else pd.DataFrame(index=batch.index)
            )
            fit_input = method_input(
                fit.method_name,
                raw=raw,
                prepared=fit.preparer.transform(raw),
                prepared_columns=table.spec.names,
                categorical=categorical,
            )
            id_parts.append(batch["customer_id"])
            segment_parts.append(np.asarray(fit.segmenter.predict(fit_input)))
        ids = pd.concat(id_parts, ignore_index=True)
        segment = np.concatenate(segment_parts)
        logger.info("%s has no SQL form; customers assigned on the driver", fit.method_name)
    segments = pd.DataFrame(
        {
            "customer_id": ids.astype(str),
            "segment_id": segment.astype("int32"),
            "segment_name": [names[int(i)] for i in segment],
        }
    )
    seconds = round(time.perf_counter() - start, 3)
    if len(segments) != table.n_customers:
        raise RuntimeError(
            f"{len(segments)} customers assigned, {table.n_customers} in the population"
        )
    kept = len(fitted.merge(segments, on=["customer_id", "segment_id"]))
    logger.info(
        "all %d customers assigned with the model fitted on %d (%.1f s; %d of those %d keep "
        "their fitted segment); segments.parquet/csv cover every customer, profiles and "
        "evaluation the sample",
        len(segments),
        table.n_fitted,
        seconds,
        kept,
        table.n_fitted,
    )
    return Population(segments, kept, seconds)


def sample_record(
    session: Any,
    config: Config,
    table: FeatureTable,
    fitted: pd.DataFrame,
    population: Population,
    *,
    with_lift: bool,
    with_probabilities: bool,
) -> dict[str, Any]:
    """``run.json``'s ``sample``: the design, the counts, and which outputs describe it."""
    return {
        "customers": table.n_fitted,
        "population": session.n_population_,
        "assigned": len(population.segments),
        "seed": config.seed,
        "design": "proportional stratified: quantile bins of the features in 'by'; "
        "per stratum the first customers by xxhash64(customer_id, seed)",
        **session.sample_strata_,
        "fitted_segment_kept": population.kept,
        "fitted_segment_counts": {
            str(int(i)): int(n) for i, n in fitted["segment_id"].value_counts().sort_index().items()
        },
        "assign_seconds": population.seconds,
        # segments.parquet/csv and the run store cover every customer; these the sample
        "describe_the_sample": [
            "features.parquet",
            "profiles.csv",
            "evidence.csv",
            "stability",
            "scorecard.csv",
            "priorities.csv",
            *(["lift.csv"] if with_lift else []),
            *(["probabilities.parquet"] if with_probabilities else []),
            "report.html (segment profiles)",
        ],
    }
