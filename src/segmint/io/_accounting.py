"""Row accounting and the quarantine: every raw row ends in exactly one place.

Each raw row ends either in the typed table of its role (*used*) or in the ``quarantine`` table
with the first reason that applies, the column and the offending value, and the whole raw
record as JSON, so nothing is lost. ``read == used + quarantined`` holds per source by
construction and is checked (:func:`checked_account`) before the pipeline goes on.

Some rows are kept but *flagged* for review in the ``flagged`` table (same columns as the
quarantine): amounts far out of line with the rest (``outlier_amount``), malformed e-mail
addresses (``invalid_email``) and repeats (``possible_duplicate``). Flags never change the row
counts.

Here live :class:`SourceAccount` (what happened to the rows of one source), the quarantine and
flag tables and the helpers every loader shares to fill them (:func:`_quarantine_from`,
:func:`_insert_rejects`, :func:`_case`, :func:`_clear_previous`), the search for exact copies of
rows (:func:`_copies`), the account of a loaded table (:func:`_account`) and the refusal of a
base too small to segment (:func:`check_enough_customers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.io._mapping import ColumnMatch
from segmint.io._sources import RawSource, _sql_str, quote_ident

__all__ = [
    "QUARANTINE_COLUMNS",
    "RULE_METHODS",
    "SourceAccount",
    "check_enough_customers",
    "checked_account",
    "ensure_quarantine",
]


QUARANTINE_COLUMNS = (
    "source VARCHAR, role VARCHAR, row BIGINT, reason VARCHAR, "
    "column_name VARCHAR, value VARCHAR, record VARCHAR"
)


@dataclass
class SourceAccount:
    """What happened to the rows of one source: ``n_read == n_used + sum(quarantined)``.

    ``flagged`` counts rows that were kept but deserve a look (``outlier_amount``,
    ``invalid_email``, ``possible_duplicate``); ``warnings`` are decisions a user should check
    (an ambiguous date format, a number format that could be read two ways, a column mapped on
    a weak name match); ``notes`` are decisions worth knowing (the line value derived from
    quantity and unit price, offsets normalised to UTC).

    For transactions, ``value`` holds the lines used split into purchases and returns with
    their value (``purchase_lines, purchases, return_lines, returns, net``);
    ``missing_customer_id`` the lines quarantined for want of a customer id with their value
    and its share of all the value read (``lines, value, value_share``); ``duplicates`` the
    exact repeats among otherwise usable lines, their value and, when there are any, whether
    the log proves them repeats (``proven, proof``), the ``policy`` and the ``action`` taken;
    ``excluded`` the lines and value each ``io.exclude`` rule removed. Values are net: returns
    count negative.
    """

    source: str
    role: str
    format: str
    n_read: int
    n_used: int
    quarantined: dict[str, int] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    possible_duplicates: int = 0
    flagged: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    value: dict[str, Any] = field(default_factory=dict)
    missing_customer_id: dict[str, Any] = field(
        default_factory=lambda: {"lines": 0, "value": 0.0, "value_share": 0.0}
    )
    duplicates: dict[str, Any] = field(default_factory=lambda: {"rows": 0, "value": 0.0})
    excluded: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def n_quarantined(self) -> int:
        return sum(self.quarantined.values())

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "role": self.role,
            "format": self.format,
            "read": self.n_read,
            "used": self.n_used,
            "quarantined": self.n_quarantined,
            "quarantined_by_reason": dict(sorted(self.quarantined.items())),
            "mapping": self.mapping,
            "date_format": self.date_format,
            "possible_duplicates": self.possible_duplicates,
            "flagged": dict(sorted(self.flagged.items())),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "value": dict(self.value),
            "missing_customer_id": dict(self.missing_customer_id),
            "duplicates": dict(self.duplicates),
            "excluded": {k: dict(v) for k, v in self.excluded.items()},
        }


def ensure_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``quarantine`` and ``flagged`` tables if they do not exist yet."""
    con.execute(f"CREATE TABLE IF NOT EXISTS quarantine ({QUARANTINE_COLUMNS})")
    con.execute(f"CREATE TABLE IF NOT EXISTS flagged ({QUARANTINE_COLUMNS})")


def _quarantine_from(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    role: str,
    checked: str,
    column_case: str,
    value_case: str,
    *,
    target: str = "quarantine",
    where: str = "c.reason IS NOT NULL",
    reason: str = "c.reason",
) -> None:
    """Copy rows of ``checked`` into ``target``, with the raw record joined back by ``_row``."""
    if not _scalar(con, f"SELECT count(*) FROM {checked} c WHERE {where}"):
        return  # nothing to copy: spare the join with the raw source (a scan of the file)
    con.execute(f"""
        INSERT INTO {target}
        SELECT {_sql_str(raw.path)}, {_sql_str(role)}, c._row, {reason},
               {column_case}, {value_case}, to_json(r)::VARCHAR
        FROM {checked} c JOIN {quote_ident(raw.table)} r ON r._row = c._row
        WHERE {where}
    """)


def _insert_rejects(con: duckdb.DuckDBPyConnection, raw: RawSource, role: str) -> None:
    if not raw.rejects:
        return
    rows = [
        (str(raw.path), role, r["row"], r["reason"], None, r["detail"], r.get("record"))
        for r in raw.rejects
    ]
    con.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def _case(mapping: dict[str, str], subject: str = "c.reason") -> str:
    if not mapping:
        return "NULL"
    whens = " ".join(f"WHEN {_sql_str(k)} THEN {v}" for k, v in mapping.items())
    return f"CASE {subject} {whens} END"


def _clear_previous(con: duckdb.DuckDBPyConnection, raw: RawSource, role: str) -> None:
    """Loading the same source again replaces its earlier quarantine and flags."""
    for target in ("quarantine", "flagged"):
        con.execute(f"DELETE FROM {target} WHERE source = ? AND role = ?", [str(raw.path), role])


def _copies(con: duckdb.DuckDBPyConnection, raw: RawSource, hashes: str | None = None) -> None:
    """Create ``_copies(_row)``: rows that are exact copies of an earlier row of the source.

    Rows are first grouped by a 64-bit hash of all their columns (one small key per row, cheap
    to aggregate out of core); only rows whose hash repeats are then compared column by column,
    so a hash collision can never make two different rows duplicates. ``hashes`` names a table
    that already holds ``_row`` and that hash as ``_h`` (computed in the pass that typed the
    rows), so the source is not scanned again unless some hash repeats.
    """
    cols = [quote_ident(c) for c in raw.columns]
    table = quote_ident(raw.table)
    row_hash = f"hash({', '.join(cols)})"
    on = " AND ".join(f"r.{c} IS NOT DISTINCT FROM k.{c}" for c in cols)
    if hashes is None:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _copy_hashes AS SELECT h FROM "
            f"(SELECT {row_hash} AS h FROM {table}) GROUP BY h HAVING count(*) > 1"
        )
        candidates = f"SELECT * FROM {table} WHERE {row_hash} IN (SELECT h FROM _copy_hashes)"
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _copy_hashes AS "
            f"SELECT _h AS h FROM {quote_ident(hashes)} GROUP BY _h HAVING count(*) > 1"
        )
        candidates = (
            f"SELECT r.* FROM {table} r WHERE r._row IN (SELECT _row FROM {quote_ident(hashes)} "
            f"WHERE _h IN (SELECT h FROM _copy_hashes))"
        )
    if _scalar(con, "SELECT count(*) FROM _copy_hashes") == 0:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _copies AS SELECT CAST(NULL AS BIGINT) AS _row "
            "WHERE false"
        )
    else:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _copies AS
            WITH candidates AS ({candidates}),
            keys AS (
                SELECT {", ".join(cols)}, min(_row) AS first_row
                FROM candidates GROUP BY {", ".join(cols)} HAVING count(*) > 1
            )
            SELECT r._row FROM candidates r JOIN keys k ON {on} WHERE r._row > k.first_row
        """)
    con.execute("DROP TABLE _copy_hashes")


def _mark_unknown(
    con: duckdb.DuckDBPyConnection, checked: str, known: str | None, id_col: str = "cid"
) -> None:
    """Rows whose customer id is not in the ``known`` table: ``unknown_customer``."""
    if known:
        con.execute(
            f"UPDATE {checked} SET reason = 'unknown_customer' WHERE reason IS NULL "
            f"AND {id_col} NOT IN (SELECT customer_id FROM {quote_ident(known)} "
            f"WHERE customer_id IS NOT NULL)"
        )


def _mark_copies(con: duckdb.DuckDBPyConnection, checked: str, as_duplicates: bool) -> int:
    """Quarantine copies as ``duplicate_row`` (or only count them); returns the kept copies."""
    if as_duplicates:
        con.execute(
            f"UPDATE {checked} SET reason = 'duplicate_row' "
            f"WHERE reason IS NULL AND _row IN (SELECT _row FROM _copies)"
        )
        return 0
    return _scalar(
        con,
        f"SELECT count(*) FROM {checked} WHERE reason IS NULL "
        f"AND _row IN (SELECT _row FROM _copies)",
    )


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int:
    return int(con.execute(sql, params or []).fetchall()[0][0] or 0)


def _account(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    role: str,
    table: str,
    matches: dict[str, ColumnMatch],
    date_format: str | None,
    *,
    mapping: dict[str, str] | None = None,
) -> SourceAccount:
    n_used = _scalar(con, f"SELECT count(*) FROM {quote_ident(table)}")
    reasons = dict(
        con.execute(
            "SELECT reason, count(*) FROM quarantine WHERE source = ? AND role = ? GROUP BY reason",
            [str(raw.path), role],
        ).fetchall()
    )
    account = SourceAccount(
        source=str(raw.path),
        role=role,
        format=raw.format,
        n_read=raw.n_read,
        n_used=n_used,
        quarantined={k: int(v) for k, v in reasons.items()},
        mapping=mapping if mapping is not None else {f: m.column for f, m in matches.items()},
        date_format=date_format,
    )
    return checked_account(account, raw)


def checked_account(account: SourceAccount, raw: RawSource, engine: str = "") -> SourceAccount:
    """Check ``read == used + quarantined``, log the counts and refuse a source with no usable
    row; returns ``account``. Every loader, on every engine, ends with it."""
    if account.n_used + account.n_quarantined != account.n_read:  # pragma: no cover - invariant
        raise RuntimeError(
            f"row accounting broken for {raw.path}: read {account.n_read}, "
            f"used {account.n_used}, quarantined {account.n_quarantined}"
        )
    logger.info(
        "%s%s (%s): read %d rows, used %d, quarantined %d",
        f"{engine}: " if engine else "",
        raw.path.name,
        account.role,
        account.n_read,
        account.n_used,
        account.n_quarantined,
    )
    if account.n_used == 0:
        raise InputError(
            f"{raw.path}: none of the {account.n_read} rows could be used "
            f"(quarantined: {account.quarantined}).",
            hint="Check the column mapping and the date and number formats with 'segmint inspect'.",
        )
    return account


#: Methods that assign segments by rules, not by fitting a number of segments to the data.
RULE_METHODS = frozenset({"rules", "rfm"})


def check_enough_customers(
    n_customers: int,
    *,
    k: int | None = None,
    k_min: int = 2,
    method: str = "auto",
    snapshot: object | None = None,
) -> None:
    """Refuse, in one line, a base too small for the segmentation asked for.

    Fitting ``k`` segments (or trying ``k_min`` and more) needs at least one customer more
    than segments: the segmenters compare solutions by criteria (silhouette, stability) that
    need a segment with two members. Rule-based methods (``rules``, ``rfm``) need one customer.

    Raises
    ------
    InputError
        Fewer customers than needed; the message says how many are needed.
    """
    fewest = k if k is not None else k_min
    needed = 1 if method in RULE_METHODS or fewest <= 1 else fewest + 1
    if n_customers >= needed:
        return
    when = f" with a purchase before {snapshot}" if snapshot is not None else ""
    segments = f"{fewest} segments" if k is not None else f"at least {fewest} segments (k_min)"
    raise InputError(
        f"only {n_customers:,} customer(s){when} to segment; {segments} need at least "
        f"{needed:,} customers.",
        hint="Give a longer transaction log or one with more customers (check the row "
        "accounting with 'segmint inspect'); or use method: rules, which needs no minimum.",
    )
