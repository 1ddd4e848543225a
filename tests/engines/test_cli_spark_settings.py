"""``segmint score`` and ``segmint export`` run where the configuration says: ``engine`` and the
``spark:`` settings of ``--config`` (for an export, by default those the run recorded), with an
explicit ``--engine`` taking precedence.

A JVM holds one SparkSession, and the test session already runs one (``local[2]``): a command
that must start Spark with another master runs in a subprocess, as a user runs it, and its log
names the master the session really has.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint.cli import app
from segmint.exceptions import ConfigError

# pyspark warns about pandas >= 3 when it converts (segmint itself converts through Arrow)
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)

SPARK_YAML = """\
engine: spark
spark:
  master: "local[1]"
  conf:
    spark.sql.shuffle.partitions: "3"
"""
ORDER = ["channel", "segment_id", "customer_id"]


@pytest.fixture(scope="module")
def spark_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "segmint.yaml"
    path.write_text(SPARK_YAML, encoding="utf-8")
    return path


def _invoke(caplog: pytest.LogCaptureFixture, *args: str):
    """The command in this process; its segmint log lines are in ``caplog``."""
    caplog.set_level(logging.INFO, logger="segmint")
    return CliRunner().invoke(app, [str(a) for a in args])


def _spark_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("spark: session")]


def _audience(path: Path) -> pd.DataFrame:
    """An audience written as a CSV file (DuckDB) or a folder of CSV parts (Spark), sorted."""
    files = sorted(path.glob("part-*.csv")) if path.is_dir() else [path]
    assert files, f"nothing written at {path}"
    frame = pd.concat(
        [pd.read_csv(f, dtype={"customer_id": str}) for f in files], ignore_index=True
    )
    return frame.sort_values(ORDER, ignore_index=True)


def test_score_runs_on_the_configured_spark_and_an_explicit_engine_overrides_it(
    cli, runs, retail_files, spark_yaml, tmp_path, caplog
) -> None:
    on_spark = tmp_path / "spark.csv"
    args = ["score", "--model", runs["duckdb"], "--input", retail_files["transactions"]]
    result = cli("--verbose", *map(str, args), "--out", str(on_spark), "--config", str(spark_yaml))
    assert result.returncode == 0, result.stderr
    assert "spark: session master=local[1] app=segmint" in result.stderr
    assert "spark: conf spark.sql.shuffle.partitions=3" in result.stderr
    assert f"engine spark, master local[1] (spark settings: {spark_yaml})" in result.stderr

    on_duckdb = tmp_path / "duckdb.csv"
    override = ["--config", spark_yaml, "--engine", "duckdb"]
    overridden = _invoke(caplog, *args, "--out", on_duckdb, *override)
    assert overridden.exit_code == 0, overridden.output
    assert _spark_lines(caplog) == []  # no Spark session was asked for
    assert "engine spark" not in overridden.output

    spark_rows, duckdb_rows = pd.read_csv(on_spark), pd.read_csv(on_duckdb)
    assert len(duckdb_rows) > 1000 and duckdb_rows["segment_id"].notna().all()
    pd.testing.assert_frame_equal(spark_rows, duckdb_rows)


def test_export_runs_on_the_configured_spark_and_an_explicit_engine_overrides_it(
    cli, runs, retail_files, spark_yaml, tmp_path, caplog
) -> None:
    run = runs["duckdb"]
    on_spark = tmp_path / "spark.csv"
    args = ["export", "--run", run, "--channel", "email", "--customers", retail_files["customers"]]
    result = cli("--verbose", *map(str, args), "--to", str(on_spark), "--config", str(spark_yaml))
    assert result.returncode == 0, result.stderr
    assert "spark: session master=local[1] app=segmint" in result.stderr
    assert "spark: conf spark.sql.shuffle.partitions=3" in result.stderr
    assert on_spark.is_dir()  # Spark writes a folder of part files

    on_duckdb = tmp_path / "duckdb.csv"
    override = ["--config", spark_yaml, "--engine", "duckdb"]
    overridden = _invoke(caplog, *args, "--to", on_duckdb, *override)
    assert overridden.exit_code == 0, overridden.output
    assert _spark_lines(caplog) == []
    assert on_duckdb.is_file()

    expected = _audience(on_duckdb)
    assert len(expected) > 100
    pd.testing.assert_frame_equal(_audience(on_spark), expected)


def test_export_of_a_spark_run_defaults_to_the_engine_and_settings_it_recorded(
    spark, runs, retail_files, tmp_path, caplog
) -> None:
    run = runs["spark"]
    recorded = json.loads((run / "run.json").read_text(encoding="utf-8"))["config"]
    assert recorded["engine"] == "spark" and recorded["spark"]["master"] == "local[2]"
    target = tmp_path / "email.csv"
    args = ["export", "--run", run, "--channel", "email", "--customers", retail_files["customers"]]
    result = _invoke(caplog, *args, "--to", target)
    assert result.exit_code == 0, result.output
    assert f"spark settings: {run / 'run.json'}" in result.output
    assert _spark_lines(caplog) == [
        f"spark: session master=local[2] app=segmint-tests (Spark {spark.version})"
    ]
    assert target.is_dir()

    caplog.clear()
    local = tmp_path / "local.csv"
    result = _invoke(caplog, *args, "--to", local, "--engine", "duckdb")
    assert result.exit_code == 0, result.output
    assert _spark_lines(caplog) == [] and local.is_file()
    pd.testing.assert_frame_equal(_audience(target), _audience(local))


def test_an_unusable_recorded_engine_is_a_config_error(tmp_path, caplog) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"config": {"engine": "flink"}}))
    result = _invoke(caplog, "export", "--run", tmp_path, "--to", tmp_path / "a.csv")
    assert isinstance(result.exception, ConfigError)
    assert f"{tmp_path / 'run.json'}: invalid recorded value for 'engine'" in str(result.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_score_refuses_an_unknown_engine_in_one_line(cli, runs, retail_files, tmp_path) -> None:
    out = tmp_path / "scored.csv"
    result = cli(
        "score",
        "--model",
        str(runs["duckdb"]),
        "--input",
        str(retail_files["transactions"]),
        "--out",
        str(out),
        "--engine",
        "flink",
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "error: Unknown --engine 'flink'."
    assert lines[1].startswith("hint: Choose duckdb or spark")
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_a_config_engine_other_than_duckdb_or_spark_is_refused(
    runs, retail_files, tmp_path, caplog
) -> None:
    bad = tmp_path / "segmint.yaml"
    bad.write_text("engine: flink\n", encoding="utf-8")
    out = tmp_path / "scored.csv"
    args = ["score", "--model", runs["duckdb"], "--input", retail_files["transactions"]]
    result = _invoke(caplog, *args, "--out", out, "--config", bad)
    assert isinstance(result.exception, ConfigError)
    assert "invalid value for 'engine'" in str(result.exception)
    assert not out.exists()
