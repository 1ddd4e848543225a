"""Engines that run segmint's SQL: DuckDB (the default, in process) and Apache Spark (clusters).

One core, several engines: the feature catalogue, the validation rules and the scoring are
written once (DuckDB SQL, :mod:`segmint.features`, :mod:`segmint.io`); an engine only decides
where they run. DuckDB needs nothing beyond segmint itself (:func:`default_memory_limit` bounds
its memory, larger data spill to disk). Spark is an optional extra, imported lazily: without
pyspark, using a Spark name raises :class:`EngineUnavailable` with the command that installs it.

Spark names (available with ``pip install 'segmint[spark]'``):

``spark_session``
    A SparkSession from the ``spark:`` settings of ``segmint.yaml``.
``SparkRun``
    The pipeline's ingest and features stages on Spark.
``SparkConnection``
    Runs segmint's DuckDB-dialect SQL on Spark (transpiled by :func:`to_spark`).
``read_raw_spark``, ``load_transactions_spark``
    Reading a source as text, and typing/validating it with the same rules as DuckDB.
``spark_features``
    The feature catalogue's one query, on Spark.
``score_spark``, ``assign_spark``, ``score_file_spark``
    Batch scoring with a saved model, as Spark SQL expressions.
``export_audiences_spark``, ``SparkExportResult``
    Consent-aware audience exports (the DuckDB rule, transpiled), written by Spark as a folder.
"""

from __future__ import annotations

import importlib
from typing import Any

from segmint.engines._duckdb import default_memory_limit, physical_memory
from segmint.engines._sql import java_pattern, to_spark
from segmint.exceptions import SegmintError

ENGINES = ("duckdb", "spark")
SPARK_INSTALL = "pip install 'segmint[spark]'"

_SPARK_NAMES = {
    "SparkConnection": "segmint.engines._spark",
    "SparkExportResult": "segmint.engines._spark_export",
    "SparkRun": "segmint.engines._spark_run",
    "assign_spark": "segmint.engines._spark_scoring",
    "export_audiences_spark": "segmint.engines._spark_export",
    "score_file_spark": "segmint.engines._spark_scoring",
    "score_spark": "segmint.engines._spark_scoring",
    "spark_features": "segmint.engines._spark_run",
    "spark_session": "segmint.engines._spark",
    "load_transactions_spark": "segmint.engines._spark_validate",
    "read_raw_spark": "segmint.engines._spark_read",
    "source_fingerprint": "segmint.engines._spark_read",
}

__all__ = [
    "ENGINES",
    "SPARK_INSTALL",
    "EngineUnavailable",
    "default_memory_limit",
    "java_pattern",
    "physical_memory",
    "require_pyspark",
    "to_spark",
    *sorted(_SPARK_NAMES),
]


class EngineUnavailable(SegmintError, ImportError):
    """An optional engine was asked for and its package is not installed."""


def require_pyspark() -> Any:
    """Import and return ``pyspark``, or raise :class:`EngineUnavailable` naming the install.

    Raises
    ------
    EngineUnavailable
        pyspark is not installed (the message gives the exact ``pip install`` command).
    """
    try:
        return importlib.import_module("pyspark")
    except ImportError as exc:
        raise EngineUnavailable(
            f"The Spark engine needs pyspark, which is not installed ({exc}).",
            hint=f"Install it with: {SPARK_INSTALL}",
        ) from exc


def __getattr__(name: str) -> Any:
    module = _SPARK_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'segmint.engines' has no attribute {name!r}")
    require_pyspark()
    return getattr(importlib.import_module(module), name)
