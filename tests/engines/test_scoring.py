"""Scoring on Spark assigns the segments that scoring on DuckDB assigns."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint.activate import load_model, score, score_features
from segmint.cli import app
from segmint.exceptions import InputError

# pyspark warns about pandas >= 3 when it converts (segmint itself converts through Arrow);
# it is pyspark's own notice about its support matrix, not a problem of the code under test
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)


@pytest.fixture(scope="module")
def model(runs):
    return load_model(runs["duckdb"])


@pytest.fixture(scope="module")
def spark_transactions(spark, retail):
    import pyarrow as pa

    from segmint.engines._spark import from_arrow

    table = pa.Table.from_pandas(retail.transactions, preserve_index=False)
    return from_arrow(spark, table)


def _collect(frame) -> pd.DataFrame:
    from segmint.engines._spark import to_arrow

    return to_arrow(frame).sort_by("customer_id").to_pandas()


def test_score_spark_matches_duckdb_scoring(model, retail, spark_transactions) -> None:
    from segmint.engines import score_spark

    expected = score(model, retail.transactions)
    got = _collect(score_spark(model, spark_transactions))
    assert got["customer_id"].tolist() == expected["customer_id"].tolist()
    assert got["segment_id"].tolist() == expected["segment_id"].tolist()
    assert got["segment_name"].tolist() == expected["segment_name"].astype(str).tolist()


def test_assign_spark_is_nearest_centre_of_the_prepared_features(model, runs, spark) -> None:
    import pyarrow as pa

    from segmint.engines import assign_spark
    from segmint.engines._spark import from_arrow

    features = pd.read_parquet(runs["duckdb"] / "features.parquet")
    features.loc[0, "monetary"] = None  # a missing feature: no segment rather than a wrong one
    got = _collect(assign_spark(model, from_arrow(spark, pa.Table.from_pandas(features))))
    expected = score_features(model, features.iloc[1:])
    assert pd.isna(got["segment_id"].iloc[0])
    assert got["segment_id"].iloc[1:].astype(int).tolist() == expected["segment_id"].tolist()


def test_score_spark_names_missing_columns(model, spark_transactions) -> None:
    from segmint.engines import score_spark

    with pytest.raises(InputError, match="channel"):
        score_spark(model, spark_transactions.drop("channel"))


def test_score_command_on_spark_writes_what_duckdb_writes(
    runs, retail_files, spark, tmp_path
) -> None:
    runner = CliRunner()
    written = {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / f"scored-{engine}.csv"
        result = runner.invoke(
            app,
            [
                "score",
                "--model",
                str(runs["duckdb"]),
                "--input",
                str(retail_files["transactions"]),
                "--out",
                str(out),
                "--engine",
                engine,
            ],
        )
        assert result.exit_code == 0, result.output
        written[engine] = pd.read_csv(out)
    pd.testing.assert_frame_equal(written["spark"], written["duckdb"])
