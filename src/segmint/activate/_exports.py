"""Audience exports: per-segment lists of customers who may be contacted on a channel.

An audience holds only customers with the channel's consent. Every segment member left out is
counted, per segment, channel and reason: ``no_consent`` (the consent flag is false or missing)
or ``unknown_customer`` (the customer is not in the customer table, so consent cannot be
known). Membership probabilities are added when the run's segmenter gives them
(``probabilities.parquet`` in the run folder); none are invented for hard clusterings.

The rule is written once, as DuckDB SQL (:func:`audience_sql`): :func:`build_audiences` runs it
on DuckDB, :func:`segmint.engines.export_audiences_spark` on Spark after transpiling it.

Targets are written atomically:

* ``FILE.csv`` / ``FILE.parquet``: a temporary file in the same folder, renamed into place.
* ``duckdb:///path.duckdb#table`` and ``postgresql://user@host:port/db#table``: rows go into a
  staging table inside one transaction; the old table is dropped and the staging table renamed
  to the target in the same transaction. On any failure the transaction rolls back: the target
  keeps its previous content (or does not exist) and no staging table is left.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from segmint._logging import logger
from segmint.activate._manifest import check_run_folder
from segmint.activate._scoring import write_frame
from segmint.exceptions import ConfigError, InputError
from segmint.io import load_customers, map_columns, read_source
from segmint.io._raw import quote_ident

CHANNELS = ("email", "sms", "app")
#: Consent columns recognised per channel (compared lower-case).
CONSENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("email_consent", "email_opt_in", "email_optin", "consent_email"),
    "sms": ("sms_consent", "sms_opt_in", "sms_optin", "consent_sms"),
    "app": ("app_consent", "push_consent", "app_push_consent", "push_opt_in", "consent_app"),
}
BATCH_ROWS = 5_000
#: Leading columns of an audience (the run's other member columns and probabilities follow).
AUDIENCE_FRONT = ("customer_id", "segment_id", "segment_name", "channel")
#: Order of the audience rows.
AUDIENCE_ORDER = ("channel", "segment_id", "customer_id")
#: Keys of the exported counts (:meth:`ExportResult.counts`).
COUNT_KEYS = ("segment_id", "segment_name", "channel")
#: Keys of the exclusion counts (:attr:`ExportResult.excluded`).
EXCLUDED_KEYS = ("segment_id", "segment_name", "channel", "reason")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


@dataclass
class ExportResult:
    """What an export produced."""

    audience: pd.DataFrame
    excluded: pd.DataFrame
    channels: list[str]
    skipped_channels: dict[str, str] = field(default_factory=dict)
    target: str | None = None

    @property
    def n_exported(self) -> int:
        return len(self.audience)

    def counts(self) -> pd.DataFrame:
        """Exported customers per segment and channel."""
        return (
            self.audience.groupby(list(COUNT_KEYS), as_index=False)
            .size()
            .rename(columns={"size": "customers"})
        )


def _literal(value: str) -> str:
    """``value`` as a SQL string literal (quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def _customers_path(run_dir: Path, customers: str | Path | None) -> Path:
    if customers is not None:
        return Path(customers)
    run_json = run_dir / "run.json"
    if run_json.exists():
        inputs = json.loads(run_json.read_text(encoding="utf-8")).get("inputs", [])
        for entry in inputs[1:]:
            if Path(entry["path"]).exists():
                return Path(entry["path"])
    raise InputError(
        f"{run_dir}: no customer table to read consent from.",
        hint="Pass the CRM export with --customers FILE.",
    )


def _consent_column(columns: list[str], channel: str) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[c] for c in CONSENT_COLUMNS[channel] if c in lower), None)


# ------------------------------------------------- the rules, shared by every engine


def segments_file(run_dir: Path, channel: str) -> Path:
    """The run's ``segments.parquet``, once the request is known to be valid.

    Raises
    ------
    InputError
        ``run_dir`` has no ``segments.parquet``.
    ConfigError
        ``channel`` is not one of :data:`CHANNELS` or ``all``.
    ModelError
        ``run_dir`` is not a complete run (no valid ``manifest.json``).
    """
    if run_dir.is_dir():
        check_run_folder(run_dir)  # a run killed or still being written: refused
    seg_path = run_dir / "segments.parquet"
    if not seg_path.exists():
        raise InputError(f"{run_dir}: no segments.parquet.", hint="Pass a run folder (--run).")
    if channel not in (*CHANNELS, "all"):
        raise ConfigError(
            f"Unknown channel {channel!r}.", hint=f"Use one of {', '.join(CHANNELS)} or all."
        )
    return seg_path


def check_segments(known: list[int], segments: list[int] | None) -> None:
    """Raise :class:`ConfigError` when a requested segment id is not among ``known``."""
    if not segments:
        return
    unknown = sorted(set(segments) - {int(s) for s in known})
    if unknown:
        raise ConfigError(
            f"Segment(s) {unknown} are not in this run.",
            hint=f"Known ids: {sorted(int(s) for s in set(known))}.",
        )


def load_consent(
    con: duckdb.DuckDBPyConnection,
    run_dir: Path,
    channel: str,
    customers: str | Path | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Load the validated customer table as ``customers`` in ``con``; find the consent columns.

    The customer table is read and validated by :func:`segmint.io.load_customers` (a customer
    whose row is quarantined there is an ``unknown_customer`` of the export).

    Returns
    -------
    found : dict
        Channel -> consent column, for the wanted channels that have one.
    skipped : dict
        Channel -> why it was skipped (no consent column).

    Raises
    ------
    InputError
        No customer table, or none of the wanted channels has a consent column.
    """
    path = _customers_path(run_dir, customers)
    raw = read_source(con, path, "raw_customers")
    load_customers(con, raw, map_columns(raw.columns, "customers", path=str(raw.path)))
    columns = [r[0] for r in con.execute("DESCRIBE customers").fetchall()]
    wanted = list(CHANNELS) if channel == "all" else [channel]
    skipped, found = {}, {}
    for ch in wanted:
        col = _consent_column(columns, ch)
        if col is None:
            skipped[ch] = f"no consent column ({' / '.join(CONSENT_COLUMNS[ch])})"
        else:
            found[ch] = col
    if not found:
        raise InputError(
            f"{path}: no consent column for {channel}.",
            hint=f"Add a consent column: {', '.join(CONSENT_COLUMNS.get(channel, ()))}.",
        )
    return found, skipped


def audience_sql(
    consent: dict[str, str],
    *,
    members: str,
    customers: str,
    segments: list[int] | None = None,
) -> str:
    """The consent rule, as one DuckDB-dialect query (run as is on DuckDB, transpiled on Spark).

    Every member of the chosen segments appears once per channel of ``consent``, with its
    columns plus ``channel`` and ``reason``: NULL when the customer may be contacted on the
    channel, ``unknown_customer`` when the customer is not in the customer table, and
    ``no_consent`` when the consent flag (``TRY_CAST(... AS BOOLEAN)``) is false or missing.

    Parameters
    ----------
    consent : dict
        Channel -> consent column of ``customers``.
    members, customers : str
        Tables (or views) of the segment members (``customer_id`` as text, ``segment_id``,
        ``segment_name``, ...) and of the customers (``customer_id`` and the consent columns).
    segments : list of int, optional
        Only the members of these segment ids (default: all).
    """
    where = ""
    if segments:
        where = f" WHERE m.segment_id IN ({', '.join(str(int(s)) for s in segments)})"
    parts = []
    for ch, col in consent.items():
        flag = f"TRY_CAST(c.{quote_ident(col)} AS BOOLEAN)"
        parts.append(
            f"SELECT m.*, {_literal(ch)} AS channel, "
            "CASE WHEN c.customer_id IS NULL THEN 'unknown_customer' "
            f"WHEN coalesce({flag}, false) = false THEN 'no_consent' END AS reason "
            f"FROM {quote_ident(members)} m LEFT JOIN {quote_ident(customers)} c "
            f"ON c.customer_id = m.customer_id{where}"
        )
    return " UNION ALL ".join(parts)


def build_audiences(
    run_dir: str | Path,
    channel: str,
    *,
    segments: list[int] | None = None,
    customers: str | Path | None = None,
) -> ExportResult:
    """Audience lists of a run for ``channel`` (``email``, ``sms``, ``app`` or ``all``).

    Parameters
    ----------
    run_dir : str or Path
        A run folder (``segments.parquet``, ``run.json``).
    channel : str
        One channel, or ``all`` for every channel whose consent column exists.
    segments : list of int, optional
        Only these segment ids (default: all).
    customers : str or Path, optional
        Customer table with the consent columns; default: the one the run read.
    """
    run_dir = Path(run_dir)
    seg_path = segments_file(run_dir, channel)
    members = pd.read_parquet(seg_path)
    members["customer_id"] = members["customer_id"].astype(str)
    check_segments(members["segment_id"].astype(int).tolist(), segments)
    prob_path = run_dir / "probabilities.parquet"
    if prob_path.exists():
        proba = pd.read_parquet(prob_path).drop(columns=["segment_id"], errors="ignore")
        members = members.merge(proba.astype({"customer_id": str}), on="customer_id", how="left")

    con = duckdb.connect()
    try:
        found, skipped = load_consent(con, run_dir, channel, customers)
        con.register("_members", members)
        sql = audience_sql(found, members="_members", customers="customers", segments=segments)
        decided = con.sql(sql).df()
    finally:
        con.close()
    for ch, why in skipped.items():
        logger.warning("export: channel %s skipped: %s", ch, why)
    audience = (
        decided[decided["reason"].isna()]
        .drop(columns="reason")
        .sort_values(list(AUDIENCE_ORDER), ignore_index=True)
    )
    front = list(AUDIENCE_FRONT)
    audience = audience[front + [c for c in audience.columns if c not in front]]
    audience["segment_id"] = audience["segment_id"].astype("int32")
    excluded = (
        decided[decided["reason"].notna()]
        .groupby(list(EXCLUDED_KEYS), as_index=False)
        .size()
        .rename(columns={"size": "customers"})
    )
    return ExportResult(audience, excluded, list(found), skipped)


# --------------------------------------------------------------------------- writing
def _batches(frame: pd.DataFrame, size: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of ``frame`` in batches (the unit a database target writes)."""
    for start in range(0, max(len(frame), 1), size):
        yield frame.iloc[start : start + size]


def _split_table(target: str, scheme: str, default: str) -> tuple[str, str]:
    location, _, table = target.partition("#")
    table = table or default
    if not _TABLE.match(table):
        raise ConfigError(
            f"Invalid table name {table!r} in {target!r}.",
            hint="Use letters, digits and underscores, e.g. #audience_email or #crm.audience.",
        )
    return location[len(scheme) :], table


def _quote(table: str) -> str:
    return ".".join(f'"{part}"' for part in table.split("."))


def _stage_name(table: str) -> tuple[str, str]:
    """(qualified staging table, bare staging name) beside ``table``."""
    bare = f"_segmint_stage_{uuid.uuid4().hex[:10]}"
    schema = table.rpartition(".")[0]
    return (f'"{schema}"."{bare}"' if schema else f'"{bare}"'), bare


def write_duckdb(frame: pd.DataFrame, target: str, default_table: str) -> str:
    """Replace a table in a DuckDB file atomically (staging table + rename, one transaction)."""
    path, table = _split_table(target, "duckdb://", default_table)
    if not path:
        raise ConfigError(f"No database file in {target!r}.", hint="duckdb:///path.duckdb#table")
    stage, _ = _stage_name(table)
    con = duckdb.connect(path)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("_empty", frame.iloc[:0])
            con.execute(f"CREATE TABLE {stage} AS SELECT * FROM _empty")
            for batch in _batches(frame):
                con.register("_batch", batch)
                con.execute(f"INSERT INTO {stage} SELECT * FROM _batch")
                con.unregister("_batch")
            con.execute(f"DROP TABLE IF EXISTS {_quote(table)}")
            con.execute(f'ALTER TABLE {stage} RENAME TO "{table.rpartition(".")[2]}"')
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return f"duckdb://{path}#{table}"


def _pg_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(series):
        return "BIGINT"
    if pd.api.types.is_float_dtype(series):
        return "DOUBLE PRECISION"
    return "TEXT"


def write_postgres(frame: pd.DataFrame, target: str, default_table: str) -> str:
    """Replace a PostgreSQL table atomically: COPY into a staging table, then drop the old
    table and rename the staging table, all in one transaction (PostgreSQL DDL is
    transactional)."""
    import psycopg

    url, table = _split_table(target, "", default_table)
    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    stage, _ = _stage_name(table)
    columns = ", ".join(f'"{c}" {_pg_type(frame[c])}' for c in frame.columns)
    names = ", ".join(f'"{c}"' for c in frame.columns)
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        raise InputError(
            f"Cannot connect to PostgreSQL ({str(exc).strip().splitlines()[0]}).",
            hint="Check host, port, user and database in the postgresql:// URL.",
        ) from None
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {stage} ({columns})")
            with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
                for batch in _batches(frame):
                    for row in batch.itertuples(index=False, name=None):
                        copy.write_row([None if pd.isna(v) else v for v in row])
            cur.execute(f"DROP TABLE IF EXISTS {_quote(table)}")
            cur.execute(f'ALTER TABLE {stage} RENAME TO "{table.rpartition(".")[2]}"')
    finally:
        conn.close()
    return f"{url.rpartition('@')[2]}#{table}"


def write_audience(
    frame: pd.DataFrame, target: str | Path, *, default_table: str, spreadsheet_safe: bool = True
) -> str:
    """Write ``frame`` to a file or database ``target`` atomically; returns where it went.

    A CSV is spreadsheet-safe unless ``spreadsheet_safe=False`` (see :func:`write_frame`).
    """
    text = str(target)
    if text.startswith("duckdb://"):
        return write_duckdb(frame, text, default_table)
    if text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return write_postgres(frame, text, default_table)
    return str(write_frame(frame, Path(text), spreadsheet_safe=spreadsheet_safe))


def export_audiences(
    run_dir: str | Path,
    channel: str,
    *,
    segments: list[int] | None = None,
    to: str | Path | None = None,
    customers: str | Path | None = None,
    spreadsheet_safe: bool = True,
) -> ExportResult:
    """Build the audiences of a run and write them (default: ``RUN/audience_<channel>.csv``).

    CSV files are spreadsheet-safe (formula-like text cells prefixed with ``'``) unless
    ``spreadsheet_safe=False``.
    """
    result = build_audiences(run_dir, channel, segments=segments, customers=customers)
    target = to if to is not None else Path(run_dir) / f"audience_{channel}.csv"
    result.target = write_audience(
        result.audience,
        target,
        default_table=f"segmint_audience_{channel}",
        spreadsheet_safe=spreadsheet_safe,
    )
    logger.info("exported %d audience rows to %s", result.n_exported, result.target)
    return result
