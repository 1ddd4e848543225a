"""One test suite, every engine: fixtures that run the same step on DuckDB and on Spark.

As in ibis's backend tests, each engine is a small class with the same methods (``ingest``,
``run``); tests take the parametrized ``engine`` fixture and state what every engine must do.
Spark runs in local mode (``local[2]``, two shuffle partitions, no UI, 1 GB driver), one session
for the whole test session, stopped at the end; without pyspark or Java the Spark cases skip.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from segmint.config import Config, SparkConfig
from segmint.datasets import make_retail
from segmint.io import ingest_source
from segmint.io._accounting import SourceAccount

SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.ui.enabled": "false",
}


def fast_config(engine: str, **changes) -> Config:
    """Defaults, with a quick segmentation (k forced, few starts and resamples)."""
    config = Config(seed=7, engine=engine, spark=SparkConfig(master="local[2]", conf=SPARK_CONF))
    config.segmentation.k = 4
    config.segmentation.n_init = 3
    config.segmentation.stability_resamples = 3
    return config.model_copy(update=changes)


@dataclass
class Loaded:
    """What an engine made of a transaction source, read back through DuckDB."""

    account: SourceAccount
    transactions: pd.DataFrame
    quarantine: pd.DataFrame


def _read_back(con: duckdb.DuckDBPyConnection, account: SourceAccount) -> Loaded:
    return Loaded(
        account,
        con.sql("SELECT * EXCLUDE (_row), _row FROM transactions ORDER BY _row").df(),
        con.sql(
            "SELECT row, reason, column_name, value FROM quarantine "
            "WHERE role = 'transactions' ORDER BY row"
        ).df(),
    )


class DuckDBEngine:
    name = "duckdb"

    def ingest(self, path: Path, config: Config, customers: Path | None = None) -> Loaded:
        con = duckdb.connect()
        known = None
        if customers is not None:
            ingest_source(con, customers, "customers")
            known = "customers"
        _, account = ingest_source(
            con,
            path,
            "transactions",
            mapping=config.mapping.transactions,
            known_customers=known,
            **config.io.transaction_options(),
        )
        return _read_back(con, account)


class SparkEngine:
    name = "spark"

    def __init__(self, spark, workdir: Path) -> None:
        self.spark = spark
        self.workdir = workdir

    def ingest(self, path: Path, config: Config, customers: Path | None = None) -> Loaded:
        from segmint.engines import SparkRun

        con = duckdb.connect()
        run = SparkRun(config.spark, self.workdir / path.stem, spark=self.spark)
        accounts = run.ingest(con, path, customers=customers, config=config)
        run.close()
        return _read_back(con, accounts[-1])


@pytest.fixture(scope="session")
def config_for():
    """``config_for(engine)``: the quick test configuration for that engine."""
    return fast_config


@pytest.fixture(scope="session")
def spark():
    """A local SparkSession for the whole test session (skips without pyspark or Java)."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (java on PATH or JAVA_HOME)")
    from segmint.engines import spark_session

    session = spark_session(
        SparkConfig(master="local[2]", app_name="segmint-tests", conf=SPARK_CONF)
    )
    yield session
    session.stop()


@pytest.fixture(params=["duckdb", "spark"])
def engine(request, tmp_path: Path):
    """Each engine in turn, with the same interface."""
    if request.param == "duckdb":
        return DuckDBEngine()
    return SparkEngine(request.getfixturevalue("spark"), tmp_path)


@pytest.fixture
def both_engines(request, tmp_path: Path) -> tuple[DuckDBEngine, SparkEngine]:
    """DuckDB and Spark together, for tests that compare their results on the same input."""
    return DuckDBEngine(), SparkEngine(request.getfixturevalue("spark"), tmp_path)


@pytest.fixture(scope="session")
def cdnow_sample() -> Path:
    """The CDNOW sample log (whitespace-separated, no header), read in place."""
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cdnow"
    path = Path(os.environ.get("SEGMINT_SHARED_DATA", path.parent)) / "cdnow" / "CDNOW_sample.txt"
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (CI has ../shared beside the repo)")
    return path


@pytest.fixture(scope="session")
def retail():
    """The demo retailer the equivalence tests run on."""
    return make_retail(2000, seed=5)


@pytest.fixture(scope="session")
def retail_files(retail, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("retail-engines")
    paths = retail.write(folder)
    paths["transactions_parquet"] = folder / "transactions.parquet"
    retail.transactions.to_parquet(paths["transactions_parquet"], index=False)
    return paths


@pytest.fixture(scope="session")
def runs(retail_files, tmp_path_factory: pytest.TempPathFactory, spark) -> dict[str, Path]:
    """The whole pipeline once per engine on the same files: ``engine -> output folder``."""
    from segmint.pipeline import run_segmentation

    outputs = {}
    for name in ("duckdb", "spark"):
        out = tmp_path_factory.mktemp(f"run-{name}") / "out"
        run_segmentation(
            retail_files["transactions_parquet"],
            out,
            customers=retail_files["customers"],
            config=fast_config(name),
        )
        outputs[name] = out
    return outputs
