"""Transactions typed and validated on Spark with the DuckDB rules, every row accounted for.

Typing and validation reuse the DuckDB code itself where it decides something: the date format
is chosen by :func:`~segmint.io._dates.guess_date_format` (a sample of 20,000 values,
day/month ambiguity settled on the whole column), numbers are parsed by the SQL of
:func:`~segmint.io._values._number` (decimal comma detected on a sample, thousands separators
only in their places), the outlier threshold by :func:`~segmint.io._line_checks._outlier_threshold`;
each runs on Spark through :class:`~segmint.engines._spark.SparkConnection`. The reasons a row
is quarantined, and their order, are those of :func:`~segmint.io.load_transactions`. Every row
read is either used or quarantined (``read == used + quarantined``, checked).

Transaction logs of invoice lines (:mod:`segmint.io._lines`) get the DuckDB policies from the
DuckDB definitions: the line value ``quantity × unit_price`` when the log has no line total
(:func:`~segmint.io.derives_amount`); returns by the SQL of
:func:`~segmint.io._line_checks._return_sql` (order-id prefix, status values, negative quantity or
value, per ``io.returns``), stored with a negative value and an ``is_return`` column; the
``io.exclude`` rules by the SQL of :func:`~segmint.io._line_checks._exclusion_case` (patterns
checked by DuckDB's RE2 there, matched on Spark by Java's ``RLIKE``), quarantined as
``excluded_line``; repeats by the ``io.duplicates`` policy, proven by
:func:`~segmint.io._line_checks._line_proof` (run on Spark). The account's ``notes``,
``missing_customer_id`` (:func:`~segmint.io._line_checks._missing_customers`), ``duplicates`` and
``excluded`` are filled as on DuckDB; ``value`` by :func:`~segmint.io.describe_values` once the
rows are exposed to DuckDB (:meth:`~segmint.engines.SparkRun.ingest`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from segmint._logging import logger
from segmint.engines._spark import SparkConnection, drop_views, persisted
from segmint.engines._spark_read import CORRUPT, _col

# the DuckDB rules themselves (private to segmint.io, shared on purpose: one definition):
# segmint.io._accounting, _dates, _line_checks and _values
from segmint.io._accounting import SourceAccount, checked_account
from segmint.io._dates import _date_sql, _resolve_date, date_label
from segmint.io._line_checks import (
    OutlierMode,
    _exclusion_case,
    _line_proof,
    _missing_customers,
    _money,
    _outlier_threshold,
    _return_sql,
    excluded_per_rule,
    line_value_sql,
)
from segmint.io._lines import (
    DuplicatePolicy,
    ExcludeRule,
    ReturnRules,
    duplicate_policy,
    exclude_rules,
)
from segmint.io._mapping import ColumnMatch, derives_amount, mapping_warnings
from segmint.io._raw import RawSource, quote_ident
from segmint.io._values import _blank_sql, _number, _text_sql

# problem rows joined to their raw records by broadcast up to this many
_BROADCAST_ROWS = 2_000_000
# prefix of the checked fields joined back to the raw records
_PICKED = "_segmint_checked_"


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
    columns: Mapping[str, str],
    values: Mapping[str, str],
    rule_columns: Sequence[str] = (),
) -> DataFrame:
    """Quarantine-shaped rows (source, role, row, reason, column, value, raw record as JSON).

    ``columns`` and ``values`` give, per reason, the column named and the checked row's field
    holding the offending value; ``rule_columns`` the column of each ``io.exclude`` rule (an
    ``excluded_line`` names the column of the rule that removed it). The raw record is joined
    back by ``_row``; the few problem rows are broadcast to the join rather than shuffling the
    whole source.
    """

    # the checked fields come to the join prefixed: the source may have columns of those names
    def picked_col(name: str) -> Any:
        return F.col(_PICKED + name)

    reason_col = picked_col("reason")
    column_name, value = F.lit(None).cast("string"), F.lit(None).cast("string")
    for name, column in columns.items():
        column_name = F.when(reason_col == name, F.lit(column)).otherwise(column_name)
    for name, field_name in values.items():
        value = F.when(reason_col == name, picked_col(field_name).cast("string")).otherwise(value)
    if rule_columns:
        # the column of the rule that removed the line (rules are numbered from 1)
        names = F.array(*[F.lit(c) for c in rule_columns])
        column_name = F.when(
            reason_col == "excluded_line", F.element_at(names, picked_col("_excl").cast("int"))
        ).otherwise(column_name)
    source = spark.table(raw.table)
    fields = [F.col("_row"), *[_col(c) for c in raw.columns]]
    record = F.to_json(F.struct(*fields))
    if CORRUPT in source.columns:
        line = F.to_json(F.struct(F.col("_row"), F.col(CORRUPT).alias("line")))
        record = F.when(F.col(CORRUPT).isNotNull(), line).otherwise(record)
    needed = sorted({*values.values(), *(["_excl"] if rule_columns else [])})
    picked = rows.select(
        "_row",
        *[F.col(n).alias(_PICKED + n) for n in needed],
        reason.alias(_PICKED + "reason"),
    )
    if rows.count() <= _BROADCAST_ROWS:
        picked = F.broadcast(picked)
    joined = source.join(picked, "_row")
    return joined.select(
        F.lit(str(raw.path)).alias("source"),
        F.lit(role).alias("role"),
        F.col("_row").alias("row"),
        reason_col.alias("reason"),
        column_name.alias("column_name"),
        value.alias("value"),
        record.alias("record"),
    )


def _duplicate_flags(raw: RawSource, rows: DataFrame, reason: str) -> DataFrame:
    """Flag rows for kept repeats, as DuckDB writes them (no column, value or record)."""
    return rows.select(
        F.lit(str(raw.path)).alias("source"),
        F.lit("transactions").alias("role"),
        F.col("_row").alias("row"),
        F.lit(reason).alias("reason"),
        F.lit(None).cast("string").alias("column_name"),
        F.lit(None).cast("string").alias("value"),
        F.lit(None).cast("string").alias("record"),
    )


def _no_proof(matches: dict[str, ColumnMatch]) -> str:
    # the wording of segmint.io._line_checks._handle_copies (kept equal: the accounts compare)
    if "order_id" in matches:
        return (
            "none: no product or line-number column, and orders have several different lines "
            "(two identical lines of one order may be two purchases)"
        )
    return "none: no order id, product or line-number column to tell identical lines apart"


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
    returns: ReturnRules | Mapping[str, Any] | None = None,
    exclude: Sequence[ExcludeRule | Mapping[str, Any]] | None = None,
    duplicates: DuplicatePolicy = "drop",
) -> SourceAccount:
    """Type and validate a raw transaction view on Spark, as :func:`segmint.io.load_transactions`.

    Writes ``workdir/transactions`` (the usable rows: ``customer_id, order_date, amount``,
    whichever of ``order_id, quantity, category, channel, discount, product, unit_price`` are
    mapped, ``is_return`` for a line log or one with a status column, then ``_row``: the
    columns of DuckDB's table), ``workdir/quarantine`` and ``workdir/flagged`` as Parquet, and
    registers ``transactions`` as a temporary view over the first.

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
    date_format, outliers, outlier_factor, returns, exclude, duplicates : optional
        As for :func:`segmint.io.load_transactions` (``io.*`` of ``segmint.yaml``).

    Returns
    -------
    SourceAccount
        ``n_read == n_used + quarantined`` (checked); ``notes``, ``missing_customer_id``,
        ``duplicates`` and ``excluded`` as on DuckDB (``value`` is filled from the exposed
        table by :func:`segmint.io.describe_values`).

    Raises
    ------
    ConfigError
        An ``exclude`` rule names a column the source lacks or has an invalid pattern, or
        ``duplicates`` is not a policy.
    """
    spark = conn.spark
    rules = ReturnRules.from_mapping(returns)
    excluding = exclude_rules(exclude)
    policy = duplicate_policy(duplicates)
    col = {f: quote_ident(m.column) for f, m in matches.items()}
    warnings = mapping_warnings(matches, "transactions")
    for warning in warnings:
        logger.warning("%s: %s", raw.path.name, warning)
    notes: list[str] = []
    derived = derives_amount(matches)
    line_log = derived or bool({"product", "unit_price", "line_number"} & set(matches))
    date_col = matches["order_date"].column
    guess = _resolve_date(conn, raw, date_col, date_format, warnings)
    assert guess is not None
    if guess.offsets:
        notes.append(f"column '{date_col}': timestamps with UTC offsets, stored in UTC")

    def number(f: str, report: bool) -> str:
        return _number(
            conn, raw.table, matches[f].column, warnings if report else None, f"r.{col[f]}"
        )

    typed, bookkeeping, value_checks = line_value_sql(raw, matches, number)
    # the rule SQL and its pattern check (RE2) are DuckDB's; the SQL is transpiled to Spark
    check = duckdb.connect()
    try:
        excluded_case = _exclusion_case(check, raw, excluding)
    finally:
        check.close()
    if excluded_case:
        bookkeeping["_excl"] = excluded_case[0]
        bookkeeping["_excl_value"] = excluded_case[1]
    bookkeeping["_h"] = f"xxhash64({', '.join('r.' + quote_ident(c) for c in raw.columns)})"
    is_return = _return_sql(conn, raw, matches, rules, notes)
    keep_flag = line_log or "status" in matches or not rules.negative_amount
    malformed = f"r.{CORRUPT} IS NOT NULL" if raw.format in ("csv", "whitespace") else "false"
    customer = _text_sql(raw, matches["customer_id"].column, "r." + col["customer_id"])
    known_join = (
        f"LEFT JOIN {quote_ident(known_customers)} k ON k.customer_id = {customer}"
        if known_customers
        else ""
    )
    first = ", ".join(
        [
            f"{customer} AS customer_id",
            f"{_date_sql('r.' + col['order_date'], guess)} AS order_date",
            *(f"{expr} AS {name}" for name, expr in typed.items()),
            "r._row",
            *(f"{expr} AS {name}" for name, expr in bookkeeping.items()),
            f"{malformed} AS _malformed",
            "copies._row IS NOT NULL AS is_copy",
            f"{'k.customer_id' if known_customers else 'NULL'} AS _known",
        ]
    )
    checks = "\n            ".join(f"WHEN {c} THEN '{reason}'" for reason, _, c in value_checks)
    unknown = "WHEN _known IS NULL THEN 'unknown_customer'" if known_customers else ""
    excluded = "WHEN _excl IS NOT NULL THEN 'excluded_line'" if excluded_case else ""
    sql = f"""
        SELECT customer_id, order_date,
               CASE WHEN _ret THEN -abs(_value) ELSE _value END AS amount,
               {"".join(f"{name}, " for name in typed)}
               _ret AS is_return, _row, {", ".join(bookkeeping)}, is_copy,
               CASE
            WHEN _malformed THEN 'malformed_line'
            WHEN customer_id IS NULL THEN 'missing_customer_id'
            WHEN {_blank_sql(raw, date_col, "raw_date")} THEN 'missing_date'
            WHEN order_date IS NULL THEN 'unparseable_date'
            WHEN order_date > current_date + INTERVAL 1 DAY THEN 'future_date'
            {checks}
            {unknown}
            {excluded}
        END AS reason FROM (
            SELECT *, coalesce({is_return}, false) AS _ret
            FROM (SELECT {first} FROM {quote_ident(raw.table)} r {known_join}
                  LEFT JOIN _copies copies ON copies._row = r._row)
        )
    """
    _copies(spark, raw).createOrReplaceTempView("_copies")
    checked = persisted(conn.sql(sql))
    checked.createOrReplaceTempView("_checked")

    def replace_checked(frame: DataFrame) -> DataFrame:
        nonlocal checked
        frame = persisted(frame)
        frame.count()
        checked.unpersist()
        checked = frame
        checked.createOrReplaceTempView("_checked")
        return checked

    try:
        excluded_account = excluded_per_rule(conn, excluding) if excluded_case else {}
        account_dups, possible, dup_flag = _apply_duplicates(
            conn, raw, matches, policy, replace_checked
        )
        threshold = _outlier_threshold(conn, outlier_factor)
        if threshold is not None and outliers == "quarantine":
            outlier = F.col("reason").isNull() & (F.abs("amount") > threshold)
            replace_checked(
                checked.withColumn(
                    "reason", F.when(outlier, F.lit("outlier_amount")).otherwise(F.col("reason"))
                )
            )
        missing = _missing_customers(conn)
        value_column = matches["unit_price" if derived else "amount"].column
        raw_value = "raw_unit_price" if derived else "raw_amount"
        reason_columns = {
            "missing_customer_id": matches["customer_id"].column,
            "unknown_customer": matches["customer_id"].column,
            **{r: date_col for r in ("missing_date", "unparseable_date", "future_date")},
            "outlier_amount": value_column,
            **{reason: column for reason, column, _ in value_checks},
        }
        reason_values = {
            **{r: "raw_date" for r in ("missing_date", "unparseable_date", "future_date")},
            "unknown_customer": "customer_id",
            "outlier_amount": raw_value,
        }
        if derived:
            reason_values.update(
                {
                    "missing_quantity": "raw_quantity",
                    "unparseable_quantity": "raw_quantity",
                    "missing_unit_price": "raw_unit_price",
                    "unparseable_unit_price": "raw_unit_price",
                    "unparseable_amount": "raw_unit_price",
                    "implausible_amount": "raw_unit_price",
                }
            )
        else:
            reason_values.update(
                {
                    "missing_amount": "raw_amount",
                    "unparseable_amount": "raw_amount",
                    "implausible_amount": "raw_amount",
                }
            )
        if excluded_case:
            reason_values["excluded_line"] = "_excl_value"
        workdir.mkdir(parents=True, exist_ok=True)
        bad = checked.where("reason IS NOT NULL")
        _problems(
            spark,
            raw,
            bad,
            "transactions",
            F.col("reason"),
            reason_columns,
            reason_values,
            [r.column for r in excluding] if excluded_case else (),
        ).write.mode("overwrite").parquet(str(workdir / "quarantine"))
        flags: list[DataFrame] = []
        if dup_flag is not None:
            flags.append(
                _duplicate_flags(raw, checked.where("reason IS NULL AND is_copy"), dup_flag)
            )
        if threshold is not None and outliers == "flag":
            high = checked.where(F.col("reason").isNull() & (F.abs("amount") > threshold))
            flags.append(
                _problems(
                    spark,
                    raw,
                    high,
                    "transactions",
                    F.lit("outlier_amount"),
                    {"outlier_amount": value_column},
                    {"outlier_amount": raw_value},
                )
            )
        flagged: dict[str, int] = {}
        if flags:
            frame = flags[0]
            for other in flags[1:]:
                frame = frame.unionByName(other)
            frame.write.mode("overwrite").parquet(str(workdir / "flagged"))
            counts = spark.read.parquet(str(workdir / "flagged")).groupBy("reason").count()
            flagged = {r["reason"]: int(r["count"]) for r in counts.collect()}
            n_out = flagged.get("outlier_amount", 0)
            if n_out:
                warnings.append(
                    f"{n_out} amount(s) above {threshold:,.2f} ({outlier_factor:g} × the median "
                    f"absolute amount) kept and flagged for review (table 'flagged')."
                )
        keep = [
            "customer_id",
            "order_date",
            "amount",
            *typed,
            *(["is_return"] if keep_flag else []),
            "_row",
        ]
        usable = checked.where("reason IS NULL").select(*keep)
        usable.write.mode("overwrite").parquet(str(workdir / "transactions"))
    finally:
        checked.unpersist()
        drop_views(spark, ("_checked", "_copies"))
    transactions = spark.read.parquet(str(workdir / "transactions"))
    transactions.createOrReplaceTempView("transactions")
    n_used = transactions.count()
    quarantine = spark.read.parquet(str(workdir / "quarantine"))
    reasons = {r["reason"]: int(r["count"]) for r in quarantine.groupBy("reason").count().collect()}
    mapping = {f: m.column for f, m in matches.items()}
    if derived:
        mapping["amount"] = f"{matches['quantity'].column} × {matches['unit_price'].column}"
        notes.append(
            f"line value = {matches['quantity'].column} × {matches['unit_price'].column} "
            "(no line-total column)"
        )
        logger.info("%s: %s", raw.path.name, notes[-1])
    account = SourceAccount(
        source=str(raw.path),
        role="transactions",
        format=raw.format,
        n_read=raw.n_read,
        n_used=n_used,
        quarantined=reasons,
        mapping=mapping,
        date_format=date_label(raw, date_col, guess.format),
        possible_duplicates=possible,
        flagged=flagged,
        warnings=warnings,
        notes=notes,
        missing_customer_id=missing,
        duplicates=account_dups,
        excluded=excluded_account,
    )
    return checked_account(account, raw, engine="spark")


def _apply_duplicates(
    conn: SparkConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    policy: DuplicatePolicy,
    replace_checked: Any,
) -> tuple[dict[str, Any], int, str | None]:
    """The ``io.duplicates`` policy on the usable repeats of ``_checked``, as on DuckDB.

    Returns the account's ``duplicates`` entry, the repeats kept (``possible_duplicates``) and
    the flag reason of the kept repeats (None: not flagged).
    """
    usable = "reason IS NULL AND is_copy"
    n, value = conn.execute(
        f"SELECT count(*) FILTER (WHERE {usable}), {_money(usable)} FROM _checked"
    ).fetchall()[0]
    if not n:
        return {"rows": 0, "value": 0.0}, 0, None
    proof = _line_proof(conn, raw, matches)
    proven = proof is not None
    flag = None
    if policy == "drop" and proven:
        checked = conn.spark.table("_checked")
        repeat = F.col("reason").isNull() & F.col("is_copy")
        replace_checked(
            checked.withColumn(
                "reason", F.when(repeat, F.lit("duplicate_row")).otherwise(F.col("reason"))
            )
        )
        action = "quarantined"
    elif policy == "keep":
        action = "kept"
    else:
        action = "kept and flagged"
        flag = "duplicate_row" if proven else "possible_duplicate"
    entry = {
        "rows": int(n),
        "value": round(float(value), 2),
        "proven": proven,
        "proof": proof or _no_proof(matches),
        "policy": policy,
        "action": action,
    }
    return entry, 0 if action == "quarantined" else int(n), flag
