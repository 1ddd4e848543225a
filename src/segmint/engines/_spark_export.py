"""Audience exports on Spark: the DuckDB consent rule, transpiled, written as a folder by Spark.

:func:`export_audiences_spark` is ``segmint export --engine spark``. The rule that decides who
may be contacted is :func:`segmint.activate._exports.audience_sql`, the query
:func:`~segmint.activate.build_audiences` runs on DuckDB, turned into Spark SQL by
:func:`~segmint.engines.to_spark`; the request checks (run folder, channel, segment ids), the
consent columns recognised per channel, the column order and the keys of the counts are the same
Python objects on both engines. The run's ``segments.parquet`` (and ``probabilities.parquet``)
are read by Spark.

The customer table is read and validated by :func:`segmint.io.load_customers` on DuckDB, as in
the rest of the Spark engine (:class:`~segmint.engines.SparkRun`): a customer whose row is
quarantined there is an ``unknown_customer`` on both engines. Only ``customer_id`` and the
consent columns go to Spark, as a Parquet file staged beside the target (a place the executors
can read, since they write the target there).

The target is a folder of Parquet or CSV part files, written atomically: Spark writes into a
hidden staging folder beside the target, which is renamed into place only when the write has
succeeded; a previous target is kept until then. On failure the staging folder is removed and
the previous target (if any) is left as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from segmint._logging import logger
from segmint.activate._exports import (
    AUDIENCE_FRONT,
    AUDIENCE_ORDER,
    COUNT_KEYS,
    EXCLUDED_KEYS,
    ExportResult,
    audience_sql,
    check_segments,
    load_consent,
    segments_file,
)
from segmint.engines._spark import drop_views, persisted, spark_session, sql_settings, to_arrow
from segmint.engines._spark_read import _col
from segmint.engines._sql import to_spark
from segmint.exceptions import ConfigError, InputError
from segmint.io._raw import _sql_str, quote_ident

if TYPE_CHECKING:  # pragma: no cover
    from segmint.config import SparkConfig

__all__ = ["SparkExportResult", "export_audiences_spark"]

_FORMATS = (".parquet", ".csv")
# DuckDB types whose TRY_CAST to BOOLEAN Spark computes alike; others go to Spark as text
_SAME_CAST = ("BOOLEAN", "DOUBLE", "FLOAT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "VARCHAR")


@dataclass
class SparkExportResult(ExportResult):
    """What a Spark export produced: :class:`~segmint.activate.ExportResult` without collecting.

    ``excluded``, :meth:`counts` and :attr:`n_exported` hold the same values as for the DuckDB
    export; ``audience`` is the written target read back by Spark (a lazy
    ``pyspark.sql.DataFrame``, not rows on the driver).
    """

    audience: Any
    audience_counts: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def n_exported(self) -> int:
        return int(self.audience_counts["customers"].sum()) if len(self.audience_counts) else 0

    def counts(self) -> pd.DataFrame:
        """Exported customers per segment and channel (computed on Spark)."""
        return self.audience_counts.copy()


def _target(run_dir: Path, channel: str, to: str | Path | None) -> Path:
    """The folder to write, checked before any work is done."""
    text = str(to) if to is not None else str(run_dir / f"audience_{channel}.parquet")
    if "://" in text:
        raise ConfigError(
            f"The Spark engine exports to a Parquet or CSV folder, not {text!r}.",
            hint="Write to FOLDER.parquet or FOLDER.csv, or export with --engine duckdb.",
        )
    path = Path(text)
    if path.suffix.lower() not in _FORMATS:
        raise InputError(
            f"{path}: unsupported output format {path.suffix or '(none)'}.",
            hint="Write to a .parquet or .csv folder.",
        )
    if not path.parent.is_dir():
        raise InputError(f"{path.parent}: folder does not exist.", hint="Create it first.")
    return path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _move_into_place(written: Path, target: Path) -> None:
    """Rename ``written`` to ``target``; a previous target is set aside until that succeeded."""
    if not (target.exists() or target.is_symlink()):
        os.rename(written, target)
        return
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    os.rename(target, old)
    try:
        os.rename(written, target)
    except BaseException:
        os.rename(old, target)
        raise
    _remove(old)


def _write(frame: DataFrame, path: Path, fmt: str) -> None:
    writer = frame.write.mode("errorifexists")
    if fmt == ".csv":
        writer.option("header", True).csv(str(path))
    else:
        writer.parquet(str(path))


def _read_back(spark: SparkSession, target: Path, frame: DataFrame) -> DataFrame:
    if target.suffix.lower() == ".csv":
        return spark.read.schema(frame.schema).option("header", True).csv(str(target))
    return spark.read.parquet(str(target))


def _members(spark: SparkSession, run_dir: Path, seg_path: Path, segments: list[int] | None):
    """The run's members (``customer_id`` as text) with their probabilities, if any."""
    members = spark.read.parquet(str(seg_path))
    members = members.withColumn("customer_id", F.col("customer_id").cast("string"))
    if segments:
        known = [row[0] for row in members.select("segment_id").distinct().collect()]
        check_segments(known, segments)
    prob_path = run_dir / "probabilities.parquet"
    if prob_path.exists():
        proba = spark.read.parquet(str(prob_path))
        proba = proba.drop("segment_id").withColumn(
            "customer_id", F.col("customer_id").cast("string")
        )
        extra = [c for c in proba.columns if c != "customer_id"]
        joined = members.join(proba, on="customer_id", how="left")
        members = joined.select(*[_col(c) for c in members.columns + extra])
    return members


def _stage_consent(
    con: duckdb.DuckDBPyConnection, consent: dict[str, str], path: Path
) -> dict[str, str]:
    """Write ``customer_id`` and the consent columns of ``customers`` to ``path`` (Parquet).

    Returns the consent columns under the names they have in the file. A column of a type
    whose cast to BOOLEAN Spark does not define as DuckDB does (DATE) is written as text: both
    engines then read its values as no consent.
    """
    types = dict(
        con.execute("SELECT column_name, column_type FROM (DESCRIBE customers)").fetchall()
    )
    columns, staged = [], {}
    for i, (channel, column) in enumerate(consent.items()):
        name = f"consent_{i}"
        ref = quote_ident(column)
        expr = ref if types[column].upper() in _SAME_CAST else f"CAST({ref} AS VARCHAR)"
        columns.append(f"{expr} AS {name}")
        staged[channel] = name
    con.execute(
        f"COPY (SELECT customer_id, {', '.join(columns)} FROM customers) "
        f"TO {_sql_str(str(path))} (FORMAT parquet)"
    )
    return staged


def export_audiences_spark(
    run_dir: str | Path,
    channel: str,
    *,
    segments: list[int] | None = None,
    to: str | Path | None = None,
    customers: str | Path | None = None,
    spark: SparkSession | None = None,
    settings: SparkConfig | None = None,
) -> SparkExportResult:
    """Build the audiences of a run on Spark and write them as a Parquet or CSV folder.

    The same audience as :func:`segmint.activate.export_audiences`: the same consent rule
    (:func:`~segmint.activate._exports.audience_sql`, transpiled to Spark SQL), the same
    exclusions counted per segment, channel and reason, the same columns in the same order.

    Parameters
    ----------
    run_dir : str or Path
        A run folder (``segments.parquet``, ``run.json``; ``probabilities.parquet`` when the
        segmenter gives membership probabilities).
    channel : str
        ``email``, ``sms``, ``app``, or ``all`` for every channel whose consent column exists.
    segments : list of int, optional
        Only these segment ids (default: all).
    to : str or Path, optional
        The folder to write, ending in ``.parquet`` or ``.csv`` (one part file per Spark
        partition; CSV parts have a header). Default: ``RUN/audience_<channel>.parquet``. An
        existing target is replaced once the new one is complete.
    customers : str or Path, optional
        Customer table with the consent columns (CSV, Parquet, ...); default: the one the run
        read.
    spark : SparkSession, optional
        A running session, used as it is.
    settings : SparkConfig, optional
        Without ``spark``: the ``spark:`` settings (master, conf) of the session that
        :func:`~segmint.engines.spark_session` starts (or returns); default ``local[*]``.

    Returns
    -------
    SparkExportResult
        ``excluded`` (customers per segment, channel and reason), :meth:`~SparkExportResult.counts`
        (exported customers per segment and channel), ``channels``, ``skipped_channels``,
        ``target``, and ``audience``: the written folder as a Spark DataFrame.

    Raises
    ------
    InputError
        No ``segments.parquet``, no customer table or no consent column for ``channel``; the
        target has another suffix, or its parent folder does not exist.
    ConfigError
        Unknown channel or segment id, or a database target (use the DuckDB engine for those).
    """
    run_dir = Path(run_dir)
    seg_path = segments_file(run_dir, channel)
    target = _target(run_dir, channel, to)
    spark = spark or spark_session(settings)
    tag = uuid.uuid4().hex[:12]
    views = (f"_segmint_members_{tag}", f"_segmint_consent_{tag}")
    stage = target.with_name(f".{target.name}.{tag}.partial")
    decided = None
    try:
        stage.mkdir()
        with sql_settings(spark):
            members = _members(spark, run_dir, seg_path, segments)
            con = duckdb.connect()
            try:
                found, skipped = load_consent(con, run_dir, channel, customers)
                staged = _stage_consent(con, found, stage / "consent.parquet")
            finally:
                con.close()
            for ch, why in skipped.items():
                logger.warning("export: channel %s skipped: %s", ch, why)
            members.createOrReplaceTempView(views[0])
            spark.read.parquet(str(stage / "consent.parquet")).createOrReplaceTempView(views[1])
            sql = audience_sql(staged, members=views[0], customers=views[1], segments=segments)
            decided = persisted(spark.sql(to_spark(sql)))
            front = list(AUDIENCE_FRONT)
            rest = [c for c in decided.columns if c not in front and c != "reason"]
            audience = decided.where("reason IS NULL").select(
                "customer_id",
                F.col("segment_id").cast("int").alias("segment_id"),
                *[_col(c) for c in front[2:] + rest],
            )
            excluded = (
                decided.where("reason IS NOT NULL")
                .groupBy(*EXCLUDED_KEYS)
                .agg(F.count(F.lit(1)).alias("customers"))
                .orderBy(*EXCLUDED_KEYS)
            )
            counts = (
                audience.groupBy(*COUNT_KEYS)
                .agg(F.count(F.lit(1)).alias("customers"))
                .orderBy(*COUNT_KEYS)
            )
            excluded_frame = to_arrow(excluded).to_pandas()
            counts_frame = to_arrow(counts).to_pandas()
            _write(audience.orderBy(*AUDIENCE_ORDER), stage / "out", target.suffix.lower())
            _move_into_place(stage / "out", target)
            written = _read_back(spark, target, audience)
    finally:
        if decided is not None:
            decided.unpersist()
        drop_views(spark, views)
        _remove(stage)
    result = SparkExportResult(
        audience=written,
        excluded=excluded_frame,
        channels=list(found),
        skipped_channels=skipped,
        target=str(target),
        audience_counts=counts_frame,
    )
    logger.info("exported %d audience rows to %s (Spark)", result.n_exported, target)
    return result
