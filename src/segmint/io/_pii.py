"""Pseudonymising personal identifiers in DuckDB: salted SHA-256, consistent across tables.

Every value of an identifier column (customer, account and contact ids, e-mail addresses) is
replaced by ``sha256(salt || value)`` as 64 hex characters, in one vectorised ``ALTER TABLE``
per column. The value is normalised first: trimmed, and lower-cased for e-mail columns (a name
containing ``mail``), so ``Ann@X.org `` and ``ann@x.org`` hash alike. The same salt gives the
same hash in every table, so joins on hashed ids still work; without the salt the hashes cannot
be reversed by hashing guessed ids. Missing values stay missing. Nothing here logs a value.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from segmint._logging import logger
from segmint.exceptions import ConfigError
from segmint.io._mapping import IDENTIFIER_FIELDS
from segmint.io._raw import _sql_str, quote_ident


def _normalised(expr: str, column: str) -> str:
    text = f"trim(CAST({expr} AS VARCHAR))"
    return f"lower({text})" if "mail" in column.lower() else text


def _hash_sql(expr: str, column: str, salt: str) -> str:
    value = _normalised(expr, column)
    return f"CASE WHEN {expr} IS NULL THEN NULL ELSE sha256({_sql_str(salt)} || {value}) END"


def identifier_columns(accounts: Iterable[object]) -> list[str]:
    """Column names to hash for the given :class:`SourceAccount` objects.

    The canonical identifier fields (``customer_id``, ``account_id``, ``contact_id``,
    ``email``) plus the names those fields had in each source (from its mapping), so the raw
    tables and the raw records in the quarantine are covered too.
    """
    names: list[str] = sorted(IDENTIFIER_FIELDS)
    for account in accounts:
        mapping = getattr(account, "mapping", {}) or {}
        for field_name, column in mapping.items():
            if field_name in IDENTIFIER_FIELDS and column not in names:
                names.append(column)
    return names


def hash_identifiers(
    con: duckdb.DuckDBPyConnection,
    tables: Iterable[str],
    columns: Iterable[str],
    salt: str,
    *,
    quarantine: bool = True,
) -> dict[str, list[str]]:
    """Replace identifiers and e-mails with salted SHA-256 hashes, in place, in every table.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the tables.
    tables : iterable of str
        Tables to pseudonymise (e.g. ``customers``, ``transactions``, ``raw_customers``);
        tables that do not exist are skipped.
    columns : iterable of str
        Column names to hash wherever a table has them (see :func:`identifier_columns`).
    salt : str
        Secret salt; the same salt gives the same hashes, so keep it to match later runs.
    quarantine : bool, default True
        Also hash the ``quarantine`` and ``flagged`` tables: the ``value`` of rows whose
        ``column_name`` is one of ``columns``, and those keys in the raw ``record`` JSON.

    Returns
    -------
    dict
        ``table -> columns hashed``.

    Raises
    ------
    ConfigError
        The salt is empty.
    """
    if not salt:
        raise ConfigError(
            "hashing identifiers needs a non-empty salt.",
            hint="Set a secret salt (keep it to make later runs match).",
        )
    wanted = list(dict.fromkeys(columns))
    existing = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    done: dict[str, list[str]] = {}
    for table in dict.fromkeys(tables):
        if table not in existing:
            continue
        present = {r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()}
        hashed = [c for c in wanted if c in present]
        for column in hashed:
            col = quote_ident(column)
            con.execute(
                f"ALTER TABLE {quote_ident(table)} ALTER COLUMN {col} SET DATA TYPE VARCHAR "
                f"USING {_hash_sql(col, column, salt)}"
            )
        if hashed:
            done[table] = hashed
    if quarantine:
        for table in ("quarantine", "flagged"):
            if table in existing and wanted:
                _hash_quarantine(con, table, wanted, salt)
                done.setdefault(table, []).extend(["value", "record"])
    logger.info("hashed identifier columns in %d table(s)", len(done))
    return done


def _hash_quarantine(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], salt: str
) -> None:
    names = ", ".join(_sql_str(c) for c in columns)
    email_names = [c for c in columns if "mail" in c.lower()]
    value_norm = (
        f"CASE WHEN column_name IN ({', '.join(_sql_str(c) for c in email_names)}) "
        f"THEN lower(trim(value)) ELSE trim(value) END"
        if email_names
        else "trim(value)"
    )
    con.execute(f"""
        UPDATE {quote_ident(table)}
        SET value = sha256({_sql_str(salt)} || {value_norm})
        WHERE column_name IN ({names}) AND value IS NOT NULL
    """)
    # a malformed line was never split into columns: keep only a salted hash of its text
    con.execute(f"""
        UPDATE {quote_ident(table)}
        SET record = json_object(
            '_row', row,
            'line_sha256',
            sha256({_sql_str(salt)} || coalesce(json_extract_string(record, '$.line'), ''))
        )::VARCHAR
        WHERE reason = 'malformed_line' AND record IS NOT NULL
    """)
    for column in columns:
        path = _sql_str('$."' + column.replace('"', '\\"') + '"')
        extracted = f"json_extract_string(record, {path})"
        con.execute(f"""
            UPDATE {quote_ident(table)}
            SET record = json_merge_patch(
                record, json_object({_sql_str(column)}, {_hash_sql(extracted, column, salt)})
            )::VARCHAR
            WHERE record IS NOT NULL AND {extracted} IS NOT NULL
        """)
