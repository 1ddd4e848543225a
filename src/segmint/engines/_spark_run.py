"""The pipeline's ingest and features stages on Spark (``engine: spark``).

:class:`SparkRun` reads and validates the transaction log on Spark, writes the usable rows, the
quarantine and the flags as Parquet into the run's staging folder, and exposes them to the
run's DuckDB connection as ``transactions``, ``quarantine`` and ``flagged`` (so the stages after
the features, which evaluate out-of-time lift and report, read the same rows). The customer
table, one row per customer, is validated by DuckDB with the rules for attributes, and its ids
are handed to Spark for the ``unknown_customer`` check.

The features are planned with :func:`~segmint.features.plan_features` (its queries run on Spark
through :class:`~segmint.engines._spark.SparkConnection`) and computed with the catalogue's one
query, ``catalogue_sql(spec, dialect="spark")``: the same definitions as on DuckDB.

Fitting: the per-customer feature table comes to the driver as Arrow, where the pipeline's
segmenter (scikit-learn k-means with evidence for k, bootstrap stability, scorecard) runs as it
does after DuckDB; on a base too large for the driver, ``spark.sample_customers`` limits it to a
seeded random sample (logged). Spark MLlib is not used for fitting: the choice of k fits every k
with several starts plus bootstrap refits, hundreds of small fits that scikit-learn does in
seconds on a sample, where MLlib would schedule a distributed job for each; and a driver fit
gives the same segment ids as a DuckDB run on the same data and seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from segmint._logging import logger
from segmint.engines._spark import (
    SparkConnection,
    drop_views,
    spark_session,
    sql_settings,
    to_arrow,
)
from segmint.engines._spark_read import read_raw_spark, release_raw
from segmint.engines._spark_validate import load_transactions_spark
from segmint.engines._sql import with_duckdb_division
from segmint.exceptions import InputError
from segmint.features._behavioural import plan_features
from segmint.features._catalogue import FeatureSpec, catalogue_sql, substitute
from segmint.io import load_customers, map_columns, read_source
from segmint.io._raw import _sql_str
from segmint.io._validate import SourceAccount, ensure_quarantine

if TYPE_CHECKING:  # pragma: no cover
    from segmint.config import Config, SparkConfig

_VIEWS = ("transactions", "raw_transactions", "_known_customers")


def spark_features(spark: SparkSession, spec: FeatureSpec) -> DataFrame:
    """The feature table of ``spec`` on Spark: ``catalogue_sql(spec, dialect="spark")``.

    Divisions are then computed in DOUBLE as on DuckDB (:func:`with_duckdb_division`).

    The tables named in ``spec.tables`` must be temporary views (or catalogue tables) of
    ``spark``. One row per customer of the population, ordered by ``customer_id``.

    Raises
    ------
    InputError
        The spec needs model scores computed in Python (CLV), which the Spark engine does not
        compute.
    """
    if any("$clv_scores" in sql for block in spec.blocks for _, sql in block.ctes):
        raise InputError(
            "The CLV features (value basis with clv: true) are not computed on Spark yet.",
            hint="Set features.clv: false, or run with --engine duckdb.",
        )
    return spark.sql(with_duckdb_division(catalogue_sql(spec, dialect="spark")))


class SparkRun:
    """The ingest and features stages of one run, on Spark.

    Parameters
    ----------
    settings : SparkConfig
        ``spark:`` of ``segmint.yaml`` (master, conf, sample_customers).
    workdir : Path
        Folder for the Parquet exports (the run's staging folder: removed with it).
    spark : SparkSession, optional
        A running session; by default one is started from ``settings``.

    Attributes
    ----------
    accounting_ : list of SourceAccount
        Row accounting of the sources read.
    n_population_ : int
        Customers with a purchase before the snapshot (set by :meth:`features`).
    sampled_ : bool
        Whether the driver got a sample rather than every customer.
    """

    def __init__(
        self, settings: SparkConfig, workdir: Path, *, spark: SparkSession | None = None
    ) -> None:
        self.settings = settings
        self.workdir = Path(workdir)
        self.spark = spark or spark_session(settings)
        self.conn = SparkConnection(self.spark)

    def ingest(
        self,
        con: duckdb.DuckDBPyConnection,
        transactions: str | Path,
        *,
        customers: str | Path | None,
        config: Config,
    ) -> list[SourceAccount]:
        """Read and validate the sources; ``transactions`` and ``quarantine`` appear in ``con``."""
        accounts: list[SourceAccount] = []
        self.workdir.mkdir(parents=True, exist_ok=True)
        known = None
        if customers is not None:
            raw_c = read_source(con, customers, "raw_customers")
            matches = map_columns(
                raw_c.columns, "customers", explicit=config.mapping.customers, path=str(raw_c.path)
            )
            accounts.append(load_customers(con, raw_c, matches))
            ids = self.workdir / "customer_ids.parquet"
            con.execute(
                f"COPY (SELECT customer_id FROM customers) TO {_sql_str(ids)} (FORMAT parquet)"
            )
            self.spark.read.parquet(str(ids)).createOrReplaceTempView("_known_customers")
            known = "_known_customers"
        with sql_settings(self.spark):
            raw = read_raw_spark(
                self.spark,
                transactions,
                "raw_transactions",
                encoding=config.io.encoding,
                delimiter=config.io.delimiter,
            )
            try:
                matches = map_columns(
                    raw.columns,
                    "transactions",
                    explicit=config.mapping.transactions,
                    path=str(raw.path),
                )
                accounts.append(
                    load_transactions_spark(
                        self.conn,
                        raw,
                        matches,
                        self.workdir,
                        known_customers=known,
                        date_format=config.io.date_formats.get("transactions"),
                        outliers=config.io.outliers,
                        outlier_factor=config.io.outlier_factor,
                    )
                )
            finally:
                release_raw(self.spark, "raw_transactions")
        self._expose(con)
        self.accounting_ = accounts
        return accounts

    def _expose(self, con: duckdb.DuckDBPyConnection) -> None:
        """The Parquet exports as DuckDB's ``transactions`` (a view), quarantine and flags."""
        rows = _sql_str(str(self.workdir / "transactions" / "*.parquet"))
        con.execute(f"CREATE OR REPLACE VIEW transactions AS SELECT * FROM read_parquet({rows})")
        ensure_quarantine(con)
        for target in ("quarantine", "flagged"):
            folder = self.workdir / target
            if any(folder.glob("*.parquet")):
                files = _sql_str(str(folder / "*.parquet"))
                con.execute(
                    f"INSERT INTO {target} SELECT source, role, row, reason, column_name, value, "
                    f"record FROM read_parquet({files})"
                )

    def features(
        self, con: duckdb.DuckDBPyConnection, config: Config
    ) -> tuple[FeatureSpec, pd.DataFrame]:
        """Plan and compute the features on Spark; the table (or a sample) comes to the driver.

        Returns the spec and the per-customer features as pandas (ordered by ``customer_id``);
        the same table is written into ``con`` as ``features``.
        """
        limit = self.settings.sample_customers
        with sql_settings(self.spark):
            spec = plan_features(self.conn, config.snapshot_date)
            spec.features = [f for f in spec.features if f.basis in config.bases]
            frame = spark_features(self.spark, spec)
            self.n_population_ = None
            if limit:
                population = substitute(spec.population, spec.snapshot_date, spec.tables)
                self.n_population_ = int(
                    self.conn.execute(f"SELECT count(*) FROM ({population}) AS p").fetchall()[0][0]
                )
            self.sampled_ = bool(limit) and self.n_population_ > limit
            if self.sampled_:
                key = F.xxhash64(F.col("customer_id"), F.lit(config.seed))
                frame = frame.orderBy(key, "customer_id").limit(limit)
            table = to_arrow(frame).sort_by("customer_id")
        features = table.to_pandas()
        self.n_population_ = self.n_population_ or len(features)
        if features.empty:
            raise InputError(
                f"No customer to segment as of {spec.snapshot_date}.",
                hint="Choose a later snapshot_date, or check the inputs.",
            )
        con.register("_spark_features", table)
        try:
            con.execute("CREATE OR REPLACE TABLE features AS SELECT * FROM _spark_features")
        finally:
            con.unregister("_spark_features")
        if self.sampled_:
            logger.warning(
                "spark: fitting on a seeded random sample of %d of %d customers "
                "(spark.sample_customers); assign the others with score_spark",
                len(features),
                self.n_population_,
            )
        logger.info(
            "spark: %d customers x %d features pulled to the driver as Arrow; the model is "
            "fitted there (scikit-learn), not with Spark MLlib",
            len(features),
            len(spec.features),
        )
        self.close()
        return spec, features

    def close(self) -> None:
        """Drop the temporary views of this run (cached data is released as it goes)."""
        drop_views(self.spark, _VIEWS)
