"""Batch scoring on Spark: a saved model's transforms and centres as Spark SQL expressions.

:func:`assign_spark` writes the model's preparation (signed log, winsorising bounds,
standardisation) and the nearest-centre rule as column expressions of one ``SELECT``: Spark
runs them vectorised on every executor, with no Python function per row.
:func:`score_spark` first computes the model's features from transactions with the catalogue's
SQL (``catalogue_sql(spec, dialect="spark")``, the snapshot semantics of
:func:`segmint.activate.score`). :func:`score_file_spark` is ``segmint score --engine spark``.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from segmint._logging import logger
from segmint.activate._model import SegmentModel
from segmint.activate._scoring import NOT_SCORED, TRANSACTION_COLUMNS, spec_as_of
from segmint.engines._spark import (
    SparkConnection,
    drop_views,
    spark_session,
    sql_settings,
    to_arrow,
)
from segmint.engines._spark_read import read_raw_spark, release_raw
from segmint.engines._spark_run import spark_features
from segmint.engines._spark_validate import load_transactions_spark
from segmint.engines._sql import to_spark
from segmint.exceptions import InputError
from segmint.features._catalogue import number, quote_ident
from segmint.io import load_customers, map_columns, read_source
from segmint.io._raw import _sql_str

if TYPE_CHECKING:  # pragma: no cover
    from segmint.config import SparkConfig


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _prepared(model: SegmentModel) -> list[str]:
    """Spark SQL of each prepared feature: transform, clip to the bounds, standardise."""
    prep = model.preparer
    columns = list(prep.feature_names_in_)
    kinds = prep._kinds(columns)
    out = []
    for j, (column, kind) in enumerate(zip(columns, kinds, strict=True)):
        x = f"CAST({_ident(column)} AS DOUBLE)"
        if kind == "signed_log":
            x = f"signum({x}) * log1p(abs({x}))"
        x = f"least(greatest({x}, {number(prep.lower_[j])}), {number(prep.upper_[j])})"
        out.append(f"(({x}) - {number(prep.mean_[j])}) / {number(prep.scale_[j])}")
    return out


def assign_spark(model: SegmentModel, features: DataFrame) -> DataFrame:
    """Segment ids and names for a Spark DataFrame of features, one row per customer.

    Parameters
    ----------
    model : SegmentModel
        A k-means model (:func:`~segmint.activate.load_model`).
    features : pyspark.sql.DataFrame
        The model's feature columns (and ``customer_id``).

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id`` (when given), ``segment_id`` (int; NULL where a feature is missing or
        not finite) and ``segment_name``: the nearest centre in the prepared space, ties to the
        lower id, as :func:`segmint.activate.score_features`.

    Raises
    ------
    InputError
        The model is not a k-means model, or a feature column is missing.
    """
    centres = getattr(model.segmenter, "cluster_centers_", None)
    if model.method != "kmeans" or model.input_kind != "prepared" or centres is None:
        raise InputError(
            f"Scoring on Spark needs a k-means model; this one is '{model.method}'.",
            hint="Score it with --engine duckdb.",
        )
    columns = list(model.preparer.feature_names_in_)
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise InputError(
            f"Features missing from the input: {', '.join(missing)}.",
            hint="Score customers with the same feature definitions the model was built on.",
        )
    centres = np.asarray(centres, dtype=float)
    z = [f"_z{j}" for j in range(len(columns))]
    distances = [
        " + ".join(
            f"({zj} - {number(c)}) * ({zj} - {number(c)})" for zj, c in zip(z, row, strict=True)
        )
        for row in centres
    ]
    nearest = "least(" + ", ".join(f"_d{i}" for i in range(len(centres))) + ")"
    case = " ".join(f"WHEN _d{i} = _m THEN {i}" for i in range(len(centres)))
    # least/greatest skip NULLs: a missing or non-finite input is checked before clipping
    invalid = " OR ".join(
        f"CAST({_ident(c)} AS DOUBLE) IS NULL OR isnan(CAST({_ident(c)} AS DOUBLE)) "
        f"OR abs(CAST({_ident(c)} AS DOUBLE)) = double('Infinity')"
        for c in columns
    )
    top = max(model.names) + 1
    labels = ", ".join(
        "'" + model.names.get(i, f"segment {i}").replace("'", "\\'") + "'" for i in range(top)
    )
    keep = ["customer_id"] if "customer_id" in features.columns else []
    with sql_settings(features.sparkSession):
        step = features.selectExpr(
            *keep,
            f"{invalid} AS _invalid",
            *[f"{expr} AS {name}" for expr, name in zip(_prepared(model), z, strict=True)],
        )
        step = step.selectExpr(
            *keep, "_invalid", *[f"{d} AS _d{i}" for i, d in enumerate(distances)]
        ).selectExpr(
            *keep, "_invalid", *[f"_d{i}" for i in range(len(centres))], f"{nearest} AS _m"
        )
        ids = f"CAST(CASE WHEN _invalid THEN NULL ELSE CASE {case} END END AS INT)"
        step = step.selectExpr(*keep, f"{ids} AS segment_id")
        return step.selectExpr(
            *keep, "segment_id", f"element_at(array({labels}), segment_id + 1) AS segment_name"
        )


def score_spark(
    model: SegmentModel, transactions: DataFrame, *, as_of: date | str | None = None
) -> DataFrame:
    """Score the customers of a Spark DataFrame of transactions.

    Parameters
    ----------
    model : SegmentModel
    transactions : pyspark.sql.DataFrame
        Canonical columns: ``customer_id, order_date, amount`` and those of ``order_id,
        quantity, category, channel, discount`` the model's features need.
    as_of : date or str, optional
        Snapshot date for fresh data; default: the model's.

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id, segment_id, segment_name`` for every customer with a purchase before the
        snapshot (unordered: a distributed result).
    """
    spec = spec_as_of(model.spec, as_of)
    if not spec.blocks:
        raise InputError(
            "This model was saved without its feature SQL blocks.",
            hint="Re-run `segmint run` to write a current model.json.",
        )
    have = set(transactions.columns)
    need = {"customer_id", "order_date", "amount"} | set(spec.levels)
    need |= set(spec.columns.get("transactions", [])) & set(TRANSACTION_COLUMNS)
    if spec.has_order_id:
        need.add("order_id")
    missing = sorted(need - have)
    if missing:
        raise InputError(
            f"The transactions lack the column(s) {', '.join(missing)} that the model's features "
            "were computed from.",
            hint="Score transactions with the same columns as the data the model was built on.",
        )
    spark = transactions.sparkSession
    source = f"_segmint_input_{uuid.uuid4().hex[:12]}"
    view = f"_segmint_scoring_{uuid.uuid4().hex[:12]}"
    # canonical columns get their types (as activate.score does); others pass unchanged
    select = ", ".join(
        f"CAST({quote_ident(c)} AS {TRANSACTION_COLUMNS[c]}) AS {quote_ident(c)}"
        if c in TRANSACTION_COLUMNS
        else quote_ident(c)
        for c in transactions.columns
    )
    with sql_settings(spark):
        transactions.createOrReplaceTempView(source)
        spark.sql(to_spark(f"SELECT {select} FROM {source}")).createOrReplaceTempView(view)
        spec = replace(spec, tables={**spec.tables, "transactions": view})
        features = spark_features(spark, spec)
        return assign_spark(model, features)


def score_file_spark(
    model: SegmentModel,
    transactions: str | Path,
    customers: str | Path | None = None,
    *,
    as_of: date | str | None = None,
    settings: SparkConfig | None = None,
) -> pd.DataFrame:
    """``segmint score --engine spark``: read, validate and score a file on Spark.

    The transactions go through the Spark engine's reading and validation (rows that cannot be
    used are not scored); with ``customers``, only and all of them get a row, as with
    :func:`segmint.activate.score`.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, segment_id, segment_name`` ordered by customer id.
    """
    spark = spark_session(settings)
    conn = SparkConnection(spark)
    con = duckdb.connect()
    ids = None
    try:
        with tempfile.TemporaryDirectory(prefix="segmint-spark-") as tmp:
            workdir = Path(tmp)
            known = None
            if customers is not None:
                raw_c = read_source(con, customers, "raw_customers")
                load_customers(
                    con, raw_c, map_columns(raw_c.columns, "customers", path=str(raw_c.path))
                )
                path = workdir / "customer_ids.parquet"
                con.execute(
                    f"COPY (SELECT customer_id FROM customers) TO {_sql_str(path)} (FORMAT parquet)"
                )
                spark.read.parquet(str(path)).createOrReplaceTempView("_known_customers")
                known = "_known_customers"
                ids = con.sql("SELECT customer_id FROM customers ORDER BY customer_id").df()
            with sql_settings(spark):
                raw = read_raw_spark(spark, transactions, "raw_transactions")
                try:
                    matches = map_columns(raw.columns, "transactions", path=str(raw.path))
                    account = load_transactions_spark(
                        conn, raw, matches, workdir / "input", known_customers=known
                    )
                finally:
                    release_raw(spark, "raw_transactions")
                scored = to_arrow(score_spark(model, spark.table("transactions"), as_of=as_of))
            drop_views(spark, ("transactions", "_known_customers"))
    finally:
        con.close()
    frame = scored.sort_by("customer_id").to_pandas()
    if ids is not None:
        frame = ids.merge(frame, on="customer_id", how="left")
        frame["segment_id"] = frame["segment_id"].astype("Int32")
        frame["segment_name"] = frame["segment_name"].fillna(NOT_SCORED)
    logger.info(
        "scored %d customers on Spark (%d rows read, %d used)",
        len(frame),
        account.n_read,
        account.n_used,
    )
    return frame
