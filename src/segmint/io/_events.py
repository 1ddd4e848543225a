"""The event loader: web and app events into the table ``events``, every row accounted for."""

from __future__ import annotations

import duckdb

from segmint.io._accounting import (
    SourceAccount,
    _account,
    _case,
    _clear_previous,
    _copies,
    _insert_rejects,
    _mark_copies,
    _mark_unknown,
    _quarantine_from,
    ensure_quarantine,
)
from segmint.io._dates import _date_sql, _resolve_date
from segmint.io._mapping import ColumnMatch
from segmint.io._sources import RawSource, _sql_str, quote_ident

__all__ = ["load_events"]


def load_events(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    known_customers: str | None = None,
    date_format: str | None = None,
) -> SourceAccount:
    """Load web/app events into the table ``events``.

    Output columns: ``customer_id, event_time`` (TIMESTAMP), ``event_type`` and whichever of
    ``event_id, session_id, device, platform, os`` are mapped, then ``_row``. Reasons:
    ``malformed_line``, ``missing_customer_id``, ``missing_date``, ``unparseable_date``,
    ``future_date``, ``missing_event_type``, ``unknown_customer``, ``duplicate_row`` (an exact
    copy of an earlier row, when an event id is mapped; otherwise copies are kept and counted as
    possible duplicates: trackers do fire the same event twice in a second).
    """
    ensure_quarantine(con)
    _clear_previous(con, raw, "events")
    col = {f: quote_ident(m.column) for f, m in matches.items()}
    warnings: list[str] = []
    guess = _resolve_date(con, raw, matches["event_time"].column, date_format, warnings)
    assert guess is not None
    optional = [f for f in ("event_id", "session_id", "device", "platform", "os") if f in col]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ev2 AS SELECT *, CASE
            WHEN cid IS NULL THEN 'missing_customer_id'
            WHEN raw_time IS NULL OR trim(raw_time) = '' THEN 'missing_date'
            WHEN event_time IS NULL THEN 'unparseable_date'
            WHEN event_time > current_date + INTERVAL 1 DAY THEN 'future_date'
            WHEN event_type IS NULL THEN 'missing_event_type'
        END AS reason FROM (
            SELECT r._row,
                   nullif(trim(r.{col["customer_id"]}), '') AS cid,
                   CAST({_date_sql("r." + col["event_time"], guess)} AS TIMESTAMP) AS event_time,
                   nullif(trim(r.{col["event_type"]}), '') AS event_type,
                   r.{col["event_time"]} AS raw_time
                   {"".join(f", nullif(trim(r.{col[f]}), '') AS {f}" for f in optional)}
            FROM {quote_ident(raw.table)} r
        )
    """)
    _mark_unknown(con, "_ev2", known_customers)
    _copies(con, raw)
    possible = _mark_copies(con, "_ev2", as_duplicates="event_id" in matches)
    c_id, c_time, c_type = (
        _sql_str(matches[f].column) for f in ("customer_id", "event_time", "event_type")
    )
    _quarantine_from(
        con,
        raw,
        "events",
        "_ev2",
        _case(
            {
                "missing_customer_id": c_id,
                "missing_date": c_time,
                "unparseable_date": c_time,
                "future_date": c_time,
                "missing_event_type": c_type,
                "unknown_customer": c_id,
            }
        ),
        "CASE WHEN c.reason IN ('missing_date', 'unparseable_date', 'future_date') "
        "THEN c.raw_time WHEN c.reason = 'unknown_customer' THEN c.cid END",
    )
    _insert_rejects(con, raw, "events")
    con.execute(f"""
        CREATE OR REPLACE TABLE events AS
        SELECT cid AS customer_id, event_time, event_type
               {"".join(", " + f for f in optional)}, _row
        FROM _ev2 WHERE reason IS NULL
    """)
    con.execute("DROP TABLE _ev2; DROP TABLE _copies")
    account = _account(con, raw, "events", "events", matches, guess.format)
    account.possible_duplicates = possible
    account.warnings = warnings
    return account
