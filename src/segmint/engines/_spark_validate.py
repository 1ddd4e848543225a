"""Transactions typed and validated on Spark with the DuckDB rules, every row accounted for.

Typing and validation reuse the DuckDB code itself where it decides something: the date format
is chosen by :func:`~segmint.io._validate.guess_date_format` (a sample of 20,000 values,
day/month ambiguity settled on the whole column), numbers are parsed by the SQL of
:func:`~segmint.io._validate._number` (decimal comma detected on a sample, thousands separators
only in their places), the outlier threshold by :func:`~segmint.io._validate._outlier_threshold`;
each runs on Spark through :class:`~segmint.engines._spark.SparkConnection`. The reasons a row
is quarantined, and their order, are those of :func:`~segmint.io.load_transactions`. Every row
read is either used or quarantined (``read == used + quarantined``, checked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from segmint.engines._spark import SparkConnection, drop_views, persisted
from segmint.engines._spark_read import CORRUPT, _col
from segmint.io._mapping import ColumnMatch
from segmint.io._raw import RawSource, quote_ident

# the DuckDB rules themselves (private to segmint.io, shared on purpose: one definition)
from segmint.io._validate import (
    OutlierMode,
    SourceAccount,
    _date_sql,
    _number,
    _outlier_threshold,
    _resolve_date,
    checked_account,
    date_label,
)

# problem rows joined to their raw records by broadcast up to this many
_BROADCAST_ROWS = 2_000_000


def _reason_sql(
    *,
    col: dict[str, str],
    raw: RawSource,
    date_expr: str,
    amount_expr: str,
    optional: dict[str, str],
    known_customers: str | None,
    duplicates: bool,
) -> str:
    """The checked rows with the first reason that applies (DuckDB SQL, as in load_transactions)."""
    malformed = f"r.{CORRUPT} IS NOT NULL" if raw.format in ("csv", "whitespace") else "false"
    known_join = (
        f"LEFT JOIN {quote_ident(known_customers)} k "
        f"ON k.customer_id = nullif(trim(r.{col['customer_id']}), '')"
        if known_customers
        else ""
    )
    known = "k.customer_id AS known_id" if known_customers else "NULL AS known_id"
    unknown = "WHEN known_id IS NULL THEN 'unknown_customer'" if known_customers else ""
    duplicate = "WHEN is_copy THEN 'duplicate_row'" if duplicates else ""
    return f"""
        SELECT *, CASE
            WHEN malformed THEN 'malformed_line'
            WHEN cid IS NULL THEN 'missing_customer_id'
            WHEN raw_date IS NULL OR trim(raw_date) = '' THEN 'missing_date'
            WHEN order_date IS NULL THEN 'unparseable_date'
            WHEN order_date > current_date + INTERVAL 1 DAY THEN 'future_date'
            WHEN raw_amount IS NULL OR trim(raw_amount) = '' THEN 'missing_amount'
            WHEN amount IS NULL OR isnan(amount) OR isinf(amount) THEN 'unparseable_amount'
            {unknown}
            {duplicate}
        END AS reason FROM (
            SELECT r._row,
                   {malformed} AS malformed,
                   nullif(trim(r.{col["customer_id"]}), '') AS cid,
                   {date_expr} AS order_date,
                   {amount_expr} AS amount,
                   r.{col["order_date"]} AS raw_date,
                   r.{col["amount"]} AS raw_amount,
                   copies._row IS NOT NULL AS is_copy,
                   {known}
                   {"".join(f", {expr} AS {name}" for name, expr in optional.items())}
            FROM {quote_ident(raw.table)} r {known_join}
            LEFT JOIN _copies copies ON copies._row = r._row
        )
    """


def _copies(spark: SparkSession, raw: RawSource) -> DataFrame:
    """Rows that are exact copies of an earlier row of the source (``_row``).

    As on DuckDB, a 64-bit hash of all columns finds the repeated records (few, and cheap to
    aggregate); only those are then compared column by column, so a hash collision never makes
    two different rows duplicates.
    """
    cols = [_col(c) for c in raw.columns]
    hashed = spark.table(raw.table).select("_row", *cols, F.xxhash64(*cols).alias("_hash"))
    repeated = hashed.groupBy("_hash").count().where("count > 1").select("_hash")
    candidates = hashed.join(repeated, "_hash")
    first = F.min("_row").over(Window.partitionBy(*cols)).alias("_first")
    return candidates.select("_row", first).where("_row > _first").select("_row")


def _problems(
    spark: SparkSession,
    raw: RawSource,
    rows: DataFrame,
    role: str,
    reason: Any,
    matches: dict[str, ColumnMatch],
) -> DataFrame:
    """Quarantine-shaped rows (source, role, row, reason, column, value, raw record as JSON).

    The raw record is joined back by ``_row``; the few problem rows are broadcast to the join
    rather than shuffling the whole source.
    """
    columns = {f: matches[f].column for f in ("customer_id", "order_date", "amount")}
    reason_col = F.col("reason")
    column_name = (
        F.when(reason_col.isin("missing_customer_id", "unknown_customer"), columns["customer_id"])
        .when(
            reason_col.isin("missing_date", "unparseable_date", "future_date"),
            columns["order_date"],
        )
        .when(
            reason_col.isin("missing_amount", "unparseable_amount", "outlier_amount"),
            columns["amount"],
        )
    )
    value = (
        F.when(
            reason_col.isin("missing_date", "unparseable_date", "future_date"), F.col("raw_date")
        )
        .when(
            reason_col.isin("missing_amount", "unparseable_amount", "outlier_amount"),
            F.col("raw_amount"),
        )
        .when(reason_col == "unknown_customer", F.col("cid"))
    )
    source = spark.table(raw.table)
    fields = [F.col("_row"), *[_col(c) for c in raw.columns]]
    record = F.to_json(F.struct(*fields))
    if CORRUPT in source.columns:
        line = F.to_json(F.struct(F.col("_row"), F.col(CORRUPT).alias("line")))
        record = F.when(F.col(CORRUPT).isNotNull(), line).otherwise(record)
    picked = rows.select("_row", reason.alias("reason"), "cid", "raw_date", "raw_amount")
    if rows.count() <= _BROADCAST_ROWS:
        picked = F.broadcast(picked)
    joined = source.join(picked, "_row")
    return joined.select(
        F.lit(str(raw.path)).alias("source"),
        F.lit(role).alias("role"),
        F.col("_row").alias("row"),
        F.col("reason"),
        column_name.alias("column_name"),
        value.cast("string").alias("value"),
        record.alias("record"),
    )


def load_transactions_spark(
    conn: SparkConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    workdir: Path,
    *,
    known_customers: str | None = None,
    date_format: str | None = None,
    outliers: OutlierMode = "flag",
    outlier_factor: float = 1000.0,
) -> SourceAccount:
    """Type and validate a raw transaction view on Spark, as :func:`segmint.io.load_transactions`.

    Writes ``workdir/transactions`` (the usable rows: ``customer_id, order_date, amount`` and
    whichever of ``order_id, quantity, category, channel, discount`` are mapped, then ``_row``),
    ``workdir/quarantine`` and ``workdir/flagged`` as Parquet, and registers ``transactions``
    as a temporary view over the first.

    Parameters
    ----------
    conn : SparkConnection
    raw : RawSource
        From :func:`read_raw_spark`.
    matches : dict
        From :func:`segmint.io.map_columns`.
    workdir : Path
        Folder for the Parquet outputs (created).
    known_customers : str, optional
        Temporary view with a ``customer_id`` column; other ids are ``unknown_customer``.

    Returns
    -------
    SourceAccount
        ``n_read == n_used + quarantined`` (checked).
    """
    spark = conn.spark
    warnings: list[str] = []
    col = {f: quote_ident(m.column) for f, m in matches.items()}
    guess = _resolve_date(conn, raw, matches["order_date"].column, date_format, warnings)
    assert guess is not None
    amount = _number(conn, raw.table, matches["amount"].column, warnings, f"r.{col['amount']}")
    optional = {
        f: _number(conn, raw.table, matches[f].column, None, f"r.{col[f]}")
        for f in ("quantity", "discount")
        if f in matches
    }
    optional.update(
        {
            f: f"nullif(trim(r.{col[f]}), '')"
            for f in ("order_id", "category", "channel")
            if f in col
        }
    )
    sql = _reason_sql(
        col=col,
        raw=raw,
        date_expr=_date_sql("r." + col["order_date"], guess),
        amount_expr=amount,
        optional=optional,
        known_customers=known_customers,
        duplicates="order_id" in matches,
    )
    _copies(spark, raw).createOrReplaceTempView("_copies")
    checked = persisted(conn.sql(sql))
    checked.createOrReplaceTempView("_checked")
    try:
        threshold = _outlier_threshold(conn, outlier_factor)
        if threshold is not None and outliers == "quarantine":
            outlier = F.col("reason").isNull() & (F.abs("amount") > threshold)
            marked = persisted(
                checked.withColumn(
                    "reason", F.when(outlier, F.lit("outlier_amount")).otherwise(F.col("reason"))
                )
            )
            checked.unpersist()
            checked = marked
            checked.createOrReplaceTempView("_checked")
        workdir.mkdir(parents=True, exist_ok=True)
        bad = checked.where("reason IS NOT NULL")
        _problems(spark, raw, bad, "transactions", F.col("reason"), matches).write.mode(
            "overwrite"
        ).parquet(str(workdir / "quarantine"))
        flagged: dict[str, int] = {}
        if threshold is not None and outliers == "flag":
            high = checked.where(F.col("reason").isNull() & (F.abs("amount") > threshold))
            _problems(
                spark, raw, high, "transactions", F.lit("outlier_amount"), matches
            ).write.mode("overwrite").parquet(str(workdir / "flagged"))
            n_out = spark.read.parquet(str(workdir / "flagged")).count()
            if n_out:
                flagged["outlier_amount"] = n_out
                warnings.append(
                    f"{n_out} amount(s) above {threshold:,.2f} ({outlier_factor:g} × the median "
                    f"absolute amount) kept and flagged for review (table 'flagged')."
                )
        extra = [
            f for f in ("order_id", "quantity", "category", "channel", "discount") if f in matches
        ]
        usable = checked.where("reason IS NULL").select(
            F.col("cid").alias("customer_id"), "order_date", "amount", *extra, "_row"
        )
        usable.write.mode("overwrite").parquet(str(workdir / "transactions"))
        possible = 0
        if "order_id" not in matches:
            possible = checked.where("reason IS NULL AND is_copy").count()
    finally:
        checked.unpersist()
        drop_views(spark, ("_checked", "_copies"))
    transactions = spark.read.parquet(str(workdir / "transactions"))
    transactions.createOrReplaceTempView("transactions")
    n_used = transactions.count()
    quarantine = spark.read.parquet(str(workdir / "quarantine"))
    reasons = {r["reason"]: int(r["count"]) for r in quarantine.groupBy("reason").count().collect()}
    account = SourceAccount(
        source=str(raw.path),
        role="transactions",
        format=raw.format,
        n_read=raw.n_read,
        n_used=n_used,
        quarantined=reasons,
        mapping={f: m.column for f, m in matches.items()},
        date_format=date_label(raw, matches["order_date"].column, guess.format),
        possible_duplicates=possible,
        flagged=flagged,
        warnings=warnings,
    )
    return checked_account(account, raw, engine="spark")
