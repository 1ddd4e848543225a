"""The same pipeline on DuckDB and on Spark: same features, same segments, same model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

# pyspark warns about pandas >= 3 when it converts (segmint itself converts through Arrow);
# it is pyspark's own notice about its support matrix, not a problem of the code under test
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)


def _read(runs, name: str, engine: str) -> pd.DataFrame:
    return pd.read_parquet(runs[engine] / name)


def test_features_agree_per_customer_and_column(runs) -> None:
    duck, spark = (
        _read(runs, "features.parquet", "duckdb"),
        _read(runs, "features.parquet", "spark"),
    )
    assert list(spark.columns) == list(duck.columns)
    assert spark["customer_id"].tolist() == duck["customer_id"].tolist()
    assert len(duck) == 2000
    for column in duck.columns.drop("customer_id"):
        np.testing.assert_allclose(
            spark[column].to_numpy(float),
            duck[column].to_numpy(float),
            rtol=1e-9,
            atol=1e-9,
            equal_nan=True,
            err_msg=column,
        )


def test_segments_are_identical(runs) -> None:
    duck, spark = (
        _read(runs, "segments.parquet", "duckdb"),
        _read(runs, "segments.parquet", "spark"),
    )
    pd.testing.assert_frame_equal(spark, duck)
    assert duck["segment_id"].nunique() == 4


def test_models_hold_the_same_definitions_and_centres(runs) -> None:
    duck, spark = (json.loads((runs[e] / "model.json").read_text()) for e in ("duckdb", "spark"))
    assert spark["features"] == duck["features"]
    assert spark["data_fingerprint"] == duck["data_fingerprint"]
    np.testing.assert_allclose(
        spark["segmenter"]["cluster_centers"], duck["segmenter"]["cluster_centers"], atol=1e-9
    )


def test_row_accounting_and_run_record_name_the_engine(runs) -> None:
    duck, spark = (json.loads((runs[e] / "run.json").read_text()) for e in ("duckdb", "spark"))
    assert spark["row_accounting"] == duck["row_accounting"]
    for account in spark["row_accounting"]:
        assert account["read"] == account["used"] + account["quarantined"]
    assert (duck["config"]["engine"], spark["config"]["engine"]) == ("duckdb", "spark")
    assert spark["config"]["spark"]["master"] == "local[2]"
    assert spark["config"]["spark"]["sample_customers"] is None  # every customer on the driver
    assert set(spark["timings_seconds"]) >= {"ingest", "features", "segment", "report"}


def test_later_stages_see_the_transactions_validated_on_spark(runs) -> None:
    duck, spark = (json.loads((runs[e] / "run.json").read_text()) for e in ("duckdb", "spark"))
    assert spark["counts"] == duck["counts"]
    lift = [pd.read_csv(runs[e] / "lift.csv") for e in ("duckdb", "spark")]
    pd.testing.assert_frame_equal(lift[1], lift[0])


def test_a_base_too_large_for_the_driver_is_fitted_on_a_stratified_sample(
    spark, runs, retail_files, config_for, tmp_path
) -> None:
    import duckdb

    from segmint.config import SparkConfig
    from segmint.engines import SparkRun
    from segmint.engines._spark_run import POPULATION_FOLDER

    config = config_for("spark")
    config.spark = SparkConfig(master="local[2]", sample_customers=500)
    run = SparkRun(config.spark, tmp_path, spark=spark)
    con = duckdb.connect()
    run.ingest(con, retail_files["transactions_parquet"], customers=None, config=config)
    _, sample = run.features(con, config)
    assert (len(sample), run.n_population_, run.sampled_) == (500, 2000, True)
    everyone = _read(runs, "features.parquet", "duckdb").set_index("customer_id")
    sample = sample.set_index("customer_id")
    assert sample.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(sample, everyone.loc[sample.index], check_exact=False)
    strata = run.sample_strata_["strata"]
    assert len(strata) == 15
    assert sum(s["population"] for s in strata) == 2000
    assert sum(s["sample"] for s in strata) == 500
    assert all(abs(s["sample"] - 500 * s["population"] / 2000) < 1 for s in strata)
    assert run.population_revenue_ == pytest.approx(everyone["monetary"].sum(), rel=1e-12)
    # every customer's features stay in the staging folder, for assigning them after the fit
    assert run.population_path_ == tmp_path / POPULATION_FOLDER
    kept = pd.read_parquet(run.population_path_).sort_values("customer_id").set_index("customer_id")
    pd.testing.assert_frame_equal(kept, everyone, check_exact=False)
    batches = list(run.population_batches(con, rows=600))
    assert len(batches) >= 4 and max(len(b) for b in batches) <= 600
    assert pd.concat(batches)["customer_id"].tolist() == everyone.index.tolist()
    assert (con.sql("SELECT count(*) FROM features").fetchall()) == [(500,)]
