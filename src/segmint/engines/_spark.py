"""The Spark session segmint works in, and DuckDB-dialect SQL run on it.

segmint's SQL is written once, for DuckDB. :class:`SparkConnection` gives the planning and
validation helpers (:func:`~segmint.features.plan_features`,
:func:`~segmint.io._dates.guess_date_format`, ...) the small part of the DuckDB connection API
they use, ``execute(sql, params).fetchall()``, and runs each statement on Spark after
:func:`~segmint.engines.to_spark` has translated it: the same code decides the same things on
both engines.

:func:`sql_settings` holds the Spark SQL settings under which DuckDB's semantics carry over
(session time zone UTC, timestamps without time zone, NULL rather than an error for a division
by zero or a failed cast); segmint applies them around its own work and restores the session's
values afterwards, so a user's session is left as it was.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from segmint._logging import logger
from segmint.engines._sql import to_spark

if TYPE_CHECKING:  # pragma: no cover
    from segmint.config import SparkConfig

#: Spark SQL settings under which segmint's DuckDB SQL means the same on Spark.
SQL_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    # strptime gives wall-clock timestamps, DuckDB's TIMESTAMP: no time zone attached
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    # DuckDB: x / 0 and failed casts are NULL; Spark 4 with ANSI mode would raise instead
    "spark.sql.ansi.enabled": "false",
    # quarantined records keep their empty fields, as DuckDB's to_json does
    "spark.sql.jsonGenerator.ignoreNullFields": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
#: Settings of a session segmint starts itself (ignored by a session already running).
SESSION_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
# pyspark warns about pandas >= 3 whenever it converts; segmint moves data as Arrow, not pandas
_PANDAS_WARNING = "PySpark does not yet fully support pandas"


@contextmanager
def quiet_pandas_warning() -> Iterator[None]:
    """Silence pyspark's pandas-version warning (segmint converts through Arrow only)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        yield


def spark_session(settings: SparkConfig | None = None) -> SparkSession:
    """The SparkSession for the ``spark:`` settings (``master``, ``app_name``, ``conf``).

    An already running session is returned as it is (Spark allows one per process): its
    master and static settings stay as they are (a warning is logged when its master is not
    the one asked for), its SQL settings are only changed around segmint's own work
    (:func:`sql_settings`).

    Parameters
    ----------
    settings : SparkConfig, optional
        The ``spark:`` section of ``segmint.yaml``; default: ``local[*]``, no further conf.

    Returns
    -------
    pyspark.sql.SparkSession
        The session; its master and the values it holds for ``settings.conf`` are logged
        (``spark: session master=...``, ``spark: conf ...``).
    """
    from segmint.config import SparkConfig

    settings = settings or SparkConfig()
    builder = SparkSession.builder.master(settings.master).appName(settings.app_name)
    for key, value in {**SESSION_DEFAULTS, **settings.conf}.items():
        builder = builder.config(key, str(value))
    with quiet_pandas_warning():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    master = spark.sparkContext.master
    if master != settings.master:
        logger.warning(
            "spark: master %s was asked for, but this process already runs a session on %s "
            "(one per process); using that session",
            settings.master,
            master,
        )
    logger.info(
        "spark: session master=%s app=%s (Spark %s)",
        master,
        spark.sparkContext.appName,
        spark.version,
    )
    if settings.conf:  # as the session holds them (a running session keeps its static ones)
        held = {key: spark.conf.get(key, None) for key in sorted(settings.conf)}
        logger.info("spark: conf %s", ", ".join(f"{k}={v}" for k, v in held.items()))
    return spark


@contextmanager
def sql_settings(spark: SparkSession) -> Iterator[None]:
    """Apply :data:`SQL_SETTINGS` to ``spark`` for the duration, then restore the old values."""
    before = {key: spark.conf.get(key, None) for key in SQL_SETTINGS}
    for key, value in SQL_SETTINGS.items():
        spark.conf.set(key, value)
    try:
        with quiet_pandas_warning():
            yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


class _Rows:
    def __init__(self, rows: list[tuple]) -> None:
        self._rows = rows

    def fetchall(self) -> list[tuple]:
        return self._rows


class SparkConnection:
    """DuckDB-dialect SQL on a SparkSession, with the ``execute().fetchall()`` of DuckDB.

    Parameters
    ----------
    spark : SparkSession

    Examples
    --------
    >>> conn = SparkConnection(spark)  # doctest: +SKIP
    >>> conn.execute("SELECT date_diff('day', DATE '2024-01-01', ?)", [date(2024, 1, 8)]).fetchall()
    ... # doctest: +SKIP
    [(7,)]
    """

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def sql(self, sql: str, params: Sequence[object] | None = None) -> DataFrame:
        """The Spark DataFrame of one DuckDB-dialect statement."""
        return self.spark.sql(to_spark(sql, params))

    def execute(self, sql: str, params: Sequence[object] | None = None) -> _Rows:
        """Run one DuckDB-dialect statement; ``fetchall()`` gives its rows as tuples."""
        return _Rows([tuple(row) for row in self.sql(sql, params).collect()])


def to_arrow(frame: DataFrame) -> pa.Table:
    """Collect ``frame`` to the driver as an Arrow table (no pandas, no per-row Python)."""
    with quiet_pandas_warning():
        if hasattr(frame, "toArrow"):  # pyspark >= 4
            return frame.toArrow()
        return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)  # pragma: no cover


def from_arrow(spark: SparkSession, table: pa.Table) -> DataFrame:
    """A Spark DataFrame from an Arrow table held by the driver."""
    with quiet_pandas_warning():
        return spark.createDataFrame(table)


def drop_views(spark: SparkSession, names: Sequence[str]) -> None:
    """Drop the temporary views ``names`` (those that exist)."""
    for name in names:
        spark.catalog.dropTempView(name)


def persisted(frame: DataFrame) -> DataFrame:
    """``frame`` kept in memory, spilling to disk, for reuse by several jobs."""
    from pyspark import StorageLevel

    return frame.persist(StorageLevel.MEMORY_AND_DISK)
