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
does after DuckDB. On a base too large for the driver, ``spark.sample_customers`` limits it to a
seeded *stratified* sample (:func:`stratified_sample`: proportional to strata of value and
recency, so that small high-value groups keep their population share; logged). The full feature
table then stays in the staging folder as Parquet, and once the model is built every customer of
the population is assigned: on Spark for k-means (:meth:`SparkRun.assign`, the model as Spark
SQL expressions), on the driver in batches for the other segmenters
(:meth:`SparkRun.population_batches`). Profiles, evidence, stability and the scorecard describe
the sample.

Spark MLlib is not used for fitting: the choice of k fits every k with several starts plus
bootstrap refits, hundreds of small fits that scikit-learn does in seconds on a sample, where
MLlib would schedule a distributed job for each; and a driver fit gives the same segment ids as a
DuckDB run on the same data and seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
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
from segmint.io import describe_values, load_customers, map_columns, read_source
from segmint.io._accounting import SourceAccount, ensure_quarantine
from segmint.io._raw import _sql_str

if TYPE_CHECKING:  # pragma: no cover
    from segmint.activate._model import SegmentModel
    from segmint.config import Config, SparkConfig

_VIEWS = ("transactions", "raw_transactions", "_known_customers")

#: Strata of a sample: feature -> number of quantile bins (those of the features present).
STRATA: tuple[tuple[str, int], ...] = (("monetary", 5), ("recency_days", 3))
#: ``percentile_approx`` accuracy for the strata thresholds (relative rank error 1/accuracy).
QUANTILE_ACCURACY = 10_000
#: Folder (in the staging folder) holding every customer's features in a sampled run.
POPULATION_FOLDER = "population_features"


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _bin(column: str, thresholds: list[float]) -> Column:
    """Bin of ``column``: the number of thresholds below the value (bin b is (t[b-1], t[b]])."""
    value = F.col(column).cast("double")
    out = F.lit(0)
    for t in thresholds:
        out = out + F.when(value > F.lit(t), 1).otherwise(0)
    return out


def allocate(population: dict[Any, int], limit: int) -> dict[Any, int]:
    """Proportional sample sizes per stratum that add up to exactly ``limit``.

    Each stratum gets ``floor(limit * size / total)``; the customers left over go one each to
    the strata with the largest remainders (ties: the stratum that sorts first). Exact integer
    arithmetic: the same counts always give the same allocation, and no stratum gets more
    customers than it has.
    """
    total = sum(population.values())
    if limit >= total:
        return dict(population)
    quota = {s: limit * n // total for s, n in population.items()}
    remainder = {s: limit * n % total for s, n in population.items()}
    left = limit - sum(quota.values())
    for s in sorted(population, key=lambda s: (-remainder[s], s))[:left]:
        quota[s] += 1
    return quota


def stratified_sample(
    frame: DataFrame,
    limit: int,
    seed: int,
    strata: tuple[tuple[str, int], ...] = STRATA,
) -> tuple[DataFrame, dict[str, Any]]:
    """A proportional stratified sample of exactly ``limit`` customers of ``frame``.

    Strata are the cells of quantile bins of the features in ``strata`` that ``frame`` has (by
    default quintiles of ``monetary`` x terciles of ``recency_days``: value x recency).
    Thresholds are ``percentile_approx`` quantiles (relative rank error 1e-4; equal thresholds,
    from tied values, are merged), so bins of tied values may be unequal: the allocation uses
    the exact count of every cell, so each cell's share of the sample is its share of the
    population (within one customer, :func:`allocate`). Within a cell the customers kept are
    the first by ``xxhash64(customer_id, seed)`` (then ``customer_id``): the same data and seed
    give the same sample, another seed another one. Without any of the strata features the
    sample is the first ``limit`` customers by the same hash.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
        One row per customer, with ``customer_id`` and the features.
    limit : int
        Customers to keep (all of them when ``frame`` has no more).
    seed : int

    Returns
    -------
    sample : pyspark.sql.DataFrame
        The rows kept, with the columns of ``frame`` (unordered).
    record : dict
        ``by`` (feature -> bins), ``thresholds`` (feature -> list, bin ``b`` holds the values in
        ``(t[b-1], t[b]]``) and ``strata``: per non-empty cell its ``bins`` (feature -> bin),
        ``population`` and ``sample`` counts, in bin order.
    """
    by = {name: bins for name, bins in strata if name in frame.columns}
    key = F.xxhash64(F.col("customer_id"), F.lit(seed))
    if not by:
        n = frame.count()
        return frame.orderBy(key, "customer_id").limit(limit), {
            "by": {},
            "thresholds": {},
            "strata": [{"bins": {}, "population": n, "sample": min(n, limit)}],
        }
    quantiles = frame.agg(
        *[
            F.percentile_approx(
                F.col(name).cast("double"),
                [j / bins for j in range(1, bins)],
                QUANTILE_ACCURACY,
            ).alias(name)
            for name, bins in by.items()
        ]
    ).first()
    thresholds = {name: sorted(set(quantiles[name] or [])) for name in by}
    cells = [f"_bin_{j}" for j in range(len(by))]
    binned = frame.select(
        "*", *[_bin(name, thresholds[name]).alias(c) for name, c in zip(by, cells, strict=True)]
    )
    population = {
        tuple(row[c] for c in cells): int(row["count"])
        for row in binned.groupBy(*cells).count().collect()
    }
    if not population:
        return frame.limit(0), {"by": by, "thresholds": thresholds, "strata": []}
    quota = allocate(population, limit)
    wanted = None
    for cell, q in quota.items():
        match = F.lit(True)
        for c, b in zip(cells, cell, strict=True):
            match = match & (F.col(c) == b)
        wanted = F.when(match, q) if wanted is None else wanted.when(match, q)
    rank = F.row_number().over(Window.partitionBy(*cells).orderBy(key, "customer_id"))
    # the literal bound lets Spark keep only that many rows per cell before the shuffle
    sample = (
        binned.withColumn("_rank", rank)
        .filter(F.col("_rank") <= max(quota.values()))
        .filter(F.col("_rank") <= wanted.otherwise(0))
        .select(*frame.columns)
    )
    record = {
        "by": by,
        "thresholds": thresholds,
        "strata": [
            {
                "bins": dict(zip(by, cell, strict=True)),
                "population": population[cell],
                "sample": quota[cell],
            }
            for cell in sorted(population)
        ],
    }
    return sample, record


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
    sample_strata_ : dict or None
        For a sample: its strata (``by``, ``thresholds``, and per cell the ``population`` and
        ``sample`` counts, see :func:`stratified_sample`); ``None`` otherwise.
    population_revenue_ : float or None
        For a sample: the population's total ``monetary`` (when that feature is computed).
    population_path_ : Path or None
        For a sample: the Parquet folder holding every customer's features (read by
        :meth:`assign` and :meth:`population_batches`).
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
            raw_c = read_source(con, customers, "raw_customers", **config.io.read_options())
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
                        **config.io.transaction_options(),
                    )
                )
            finally:
                release_raw(self.spark, "raw_transactions")
        self._expose(con)
        # purchases, returns and net value of the lines used: DuckDB's own definition, over
        # the rows Spark wrote
        describe_values(con, accounts[-1])
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
        the same table is written into ``con`` as ``features``. With ``spark.sample_customers``
        below the number of customers, the table is a stratified sample
        (:func:`stratified_sample`) and every customer's features are kept as Parquet in the
        staging folder, for :meth:`assign`.

        Raises
        ------
        InputError
            No customer to segment; or, for a sample, a feature is missing or not finite for some
            customer of the population (a fit on every customer would refuse the table too).
        """
        limit = self.settings.sample_customers
        self.sample_strata_ = None
        self.population_revenue_ = None
        self.population_path_ = None
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
                frame = self._sample(frame, spec.names, limit, config.seed)
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
            by = self.sample_strata_["by"]
            logger.warning(
                "spark: fitting on a stratified sample of %d of %d customers "
                "(spark.sample_customers, seed %d): %s; profiles, evidence, stability and the "
                "scorecard describe the sample, and every customer is assigned once the model "
                "is built (on Spark for k-means)",
                len(features),
                self.n_population_,
                config.seed,
                " x ".join(f"{n} {name} quantile bins" for name, n in by.items())
                + f" = {len(self.sample_strata_['strata'])} strata, sampled in proportion"
                if by
                else "no value or recency feature to stratify on, a seeded random sample",
            )
        logger.info(
            "spark: %d customers x %d features pulled to the driver as Arrow; the model is "
            "fitted there (scikit-learn), not with Spark MLlib",
            len(features),
            len(spec.features),
        )
        self.close()
        return spec, features

    def _sample(self, frame: DataFrame, names: list[str], limit: int, seed: int) -> DataFrame:
        """Keep every customer's features as Parquet; the stratified sample of them."""
        path = self.workdir / POPULATION_FOLDER
        frame.write.mode("overwrite").parquet(str(path))
        self.population_path_ = path
        population = self.spark.read.parquet(str(path))
        self._check_population(population, names)
        sample, self.sample_strata_ = stratified_sample(population, limit, seed)
        return sample

    def _check_population(self, population: DataFrame, names: list[str]) -> None:
        """Refuse missing or non-finite features (as the preparer would on every customer);
        note the population's revenue."""

        def bad(name: str) -> Column:
            x = F.col(_quoted(name)).cast("double")
            invalid = x.isNull() | F.isnan(x) | (F.abs(x) == F.lit(float("inf")))
            return F.sum(F.when(invalid, 1).otherwise(0))

        aggregates = [bad(name).alias(f"_bad_{j}") for j, name in enumerate(names)]
        if "monetary" in population.columns:
            aggregates.append(F.sum(F.col("monetary").cast("double")).alias("_revenue"))
        row = population.agg(*aggregates).first()
        for j, name in enumerate(names):
            if row[f"_bad_{j}"]:
                raise InputError(
                    f"Feature '{name}' has missing or infinite values "
                    f"({row[f'_bad_{j}']} customers).",
                    hint="Fill or drop them before segmenting.",
                )
        if "monetary" in population.columns:
            self.population_revenue_ = float(row["_revenue"])

    def assign(self, model: SegmentModel) -> pa.Table:
        """Segment of every customer of the population, on Spark (after a sampled fit).

        Parameters
        ----------
        model : SegmentModel
            The k-means model fitted on the sample.

        Returns
        -------
        pyarrow.Table
            ``customer_id, segment_id`` for every customer, ordered by ``customer_id``.

        Raises
        ------
        InputError
            The model is not a k-means model (:func:`~segmint.engines.assign_spark`), or a
            customer could not be assigned.
        """
        # imported here: _spark_scoring imports this module
        from segmint.engines._spark_scoring import assign_spark

        with sql_settings(self.spark):
            frame = self.spark.read.parquet(str(self._population()))
            table = to_arrow(assign_spark(model, frame).select("customer_id", "segment_id"))
        unassigned = table["segment_id"].null_count
        if unassigned:  # pragma: no cover - refused by _check_population before the fit
            raise InputError(f"{unassigned} customers could not be assigned to a segment.")
        return table.sort_by("customer_id")

    def population_batches(
        self, con: duckdb.DuckDBPyConnection, rows: int = 100_000
    ) -> Iterator[pd.DataFrame]:
        """Every customer's features, in ``customer_id`` order, in pandas batches of ``rows``.

        For assigning a sampled fit on the driver when the model cannot be written as Spark SQL
        (models other than k-means): DuckDB streams the Parquet kept by :meth:`features`.
        """
        files = _sql_str(str(self._population() / "*.parquet"))
        cursor = con.cursor()  # its own result stream: ``con`` stays free for other queries
        try:
            query = cursor.sql(f"SELECT * FROM read_parquet({files}) ORDER BY customer_id")
            for batch in query.to_arrow_reader(rows):
                yield batch.to_pandas()
        finally:
            cursor.close()

    def _population(self) -> Path:
        if self.population_path_ is None:
            raise RuntimeError("the population is kept only by features() of a sampled run")
        return self.population_path_

    def close(self) -> None:
        """Drop the temporary views of this run (cached data is released as it goes)."""
        drop_views(self.spark, _VIEWS)
