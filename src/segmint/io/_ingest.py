"""One call per source: read, map and validate it into the table of its role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from segmint.io._accounting import SourceAccount
from segmint.io._entities import load_accounts, load_contacts, load_customers
from segmint.io._events import load_events
from segmint.io._lines import DuplicatePolicy, ExcludeRule, ReturnRules
from segmint.io._mapping import map_columns
from segmint.io._raw import RawSource, _sql_str
from segmint.io._sources import read_source
from segmint.io._survey import load_survey
from segmint.io._transactions import load_transactions


def configure_connection(
    con: duckdb.DuckDBPyConnection,
    *,
    memory_limit: str | None = None,
    temp_directory: str | Path | None = None,
) -> None:
    """Bound DuckDB's memory while ingesting; what does not fit spills to ``temp_directory``.

    ``preserve_insertion_order`` stays on: ``_row`` numbering relies on file order.
    """
    if memory_limit:
        con.execute(f"SET memory_limit = {_sql_str(memory_limit)}")
    if temp_directory:
        con.execute(f"SET temp_directory = {_sql_str(temp_directory)}")


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    source: str | Path,
    role: str,
    *,
    mapping: Mapping[str, str] | None = None,
    known_customers: str | None = None,
    known_accounts: str | None = None,
    date_format: str | None = None,
    outliers: str = "flag",
    outlier_factor: float = 1000.0,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | int | None = None,
    returns: ReturnRules | Mapping[str, Any] | None = None,
    exclude: Sequence[ExcludeRule | Mapping[str, Any]] | None = None,
    duplicates: DuplicatePolicy = "drop",
) -> tuple[RawSource, SourceAccount]:
    """Read ``source`` into ``raw_<role>``, map its columns and load the table ``<role>``.

    Parameters
    ----------
    role : str
        ``transactions``, ``customers``, ``events``, ``survey``, ``accounts`` or ``contacts``.
    mapping : dict, optional
        ``field -> column`` from ``segmint.yaml`` for this role.
    known_customers, known_accounts : str, optional
        Tables whose ids the rows must reference (``unknown_customer`` / ``unknown_account``).
    date_format : str, optional
        strptime format of the role's main date (``io.date_formats[role]``).
    outliers, outlier_factor : optional
        Transactions: what to do with far-out amounts (``io.outliers``, ``io.outlier_factor``).
    encoding, delimiter : str, optional
        Text sources: override detection (``io.encoding``, ``io.delimiter``).
    returns, exclude, duplicates : optional
        Transactions: how returns are recognised, which non-product lines are removed and what
        is done with repeated lines (``io.returns``, ``io.exclude``, ``io.duplicates``; see
        :func:`segmint.io.load_transactions`).

    Returns
    -------
    (RawSource, SourceAccount)
    """
    raw = read_source(
        con,
        source,
        f"raw_{role}",
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        typed=role == "transactions",
    )
    matches = map_columns(raw.columns, role, explicit=dict(mapping or {}), path=str(raw.path))
    if role == "transactions":
        account = load_transactions(
            con,
            raw,
            matches,
            known_customers=known_customers,
            date_format=date_format,
            outliers=outliers,  # type: ignore[arg-type]
            outlier_factor=outlier_factor,
            returns=returns,
            exclude=exclude,
            duplicates=duplicates,
        )
    elif role == "events":
        account = load_events(
            con, raw, matches, known_customers=known_customers, date_format=date_format
        )
    elif role == "survey":
        account = load_survey(con, raw, matches, known_customers=known_customers)
    elif role == "contacts":
        account = load_contacts(con, raw, matches, known_accounts=known_accounts)
    elif role == "accounts":
        account = load_accounts(con, raw, matches)
    else:
        account = load_customers(con, raw, matches)
    return raw, account
