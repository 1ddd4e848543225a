"""Pseudonymising personal identifiers in DuckDB: salted SHA-256, consistent across tables.

Every value of an identifier column (customer, account and contact ids, e-mail addresses,
phone numbers) is replaced by ``sha256(salt || value)`` as 64 hex characters, in one vectorised
``ALTER TABLE`` per column. The value is normalised first: trimmed, lower-cased for e-mail
columns (a name containing ``mail``) and reduced to its digits and ``+`` for phone columns, so
``Ann@X.org `` and ``ann@x.org``, ``+44 20 7946-0958`` and ``+442079460958`` hash alike. The
same salt gives the same hash in every table, so joins on hashed ids still work; without the
salt the hashes cannot be reversed by hashing guessed ids. Missing values stay missing. Nothing
here logs a value.

The PII scanner (:func:`personal_columns`) tells by its name which column holds an e-mail
address, a phone number, a person's name or a postal address; :func:`protect_quarantine` hashes
those in the raw records of the quarantine (privacy by default, see its docstring).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

import duckdb

from segmint._logging import logger
from segmint.exceptions import ConfigError
from segmint.io._raw import _sql_str, quote_ident
from segmint.io._role_fields import IDENTIFIER_FIELDS

_PHONE_WORDS = frozenset(
    {"phone", "telephone", "tel", "mobile", "cell", "cellphone", "fax", "telefon", "handy"}
)
_NAME_WORDS = frozenset(
    {"name", "firstname", "lastname", "fullname", "surname", "forename", "givenname"}
    | {"familyname", "middlename", "customername", "contactname", "vorname", "nachname"}
    | {"nom", "prenom"}
)
_NAME_PARTS = ("first", "last", "full", "given", "family", "middle", "customer", "contact")
_ADDRESS_WORDS = frozenset(
    {"address", "addr", "street", "adresse", "strasse", "postcode", "zipcode", "zip", "plz"}
    | {"postalcode", "postal", "housenumber"}
)


def _words(column: str) -> list[str]:
    """``"Customer_FirstName"`` -> ``["customer", "first", "name"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column)
    return [w for w in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if w]


def pii_kind(column: str) -> str | None:
    """What personal data a column holds by its name: ``email``, ``phone``, ``name``,
    ``address`` or None. ``product_name`` or ``city`` are not personal; ``last_name``,
    ``Phone Number``, ``billingAddress`` are."""
    words = _words(column)
    joined = "".join(words)
    if "mail" in joined:
        return "email"
    if any(w in _PHONE_WORDS for w in words) or "phone" in joined:
        return "phone"
    if any(w in _ADDRESS_WORDS for w in words) or "address" in joined:
        return "address"
    if joined in _NAME_WORDS or (
        words and words[-1] == "name" and (len(words) == 1 or words[-2] in _NAME_PARTS)
    ):
        return "name"
    if words and words[-1] in ("surname", "firstname", "lastname", "fullname"):
        return "name"
    return None


def personal_columns(columns: Iterable[str]) -> dict[str, str]:
    """The PII scanner: ``column -> kind`` (see :func:`pii_kind`) for the columns that identify
    a person."""
    found = {c: pii_kind(c) for c in columns}
    return {c: k for c, k in found.items() if k is not None}


def phone_columns(columns: Iterable[str]) -> list[str]:
    """The columns named like phone numbers (hashed with the identifiers by ``--hash-ids``)."""
    return [c for c, kind in personal_columns(columns).items() if kind == "phone"]


def _normalised(expr: str, column: str) -> str:
    text = f"trim(CAST({expr} AS VARCHAR))"
    kind = pii_kind(column)
    if kind == "email":
        return f"lower({text})"
    if kind == "phone":
        return f"regexp_replace({text}, '[^0-9+]', '', 'g')"
    return text


def _hash_sql(expr: str, column: str, salt: str) -> str:
    value = _normalised(expr, column)
    return f"CASE WHEN {expr} IS NULL THEN NULL ELSE sha256({_sql_str(salt)} || {value}) END"


def identifier_columns(accounts: Iterable[object]) -> list[str]:
    """Column names to hash for the given :class:`SourceAccount` objects.

    The canonical identifier fields (``customer_id``, ``account_id``, ``contact_id``,
    ``email``) plus the names those fields had in each source (from its mapping), so the raw
    tables and the raw records in the quarantine are covered too. Phone columns are found by
    :func:`hash_identifiers` in each table (by name, :func:`phone_columns`).
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
    """Replace identifiers, e-mails and phone numbers with salted SHA-256 hashes, in place.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the tables.
    tables : iterable of str
        Tables to pseudonymise (e.g. ``customers``, ``transactions``, ``raw_customers``);
        tables that do not exist are skipped.
    columns : iterable of str
        Column names to hash wherever a table has them (see :func:`identifier_columns`);
        the columns named like phone numbers (:func:`phone_columns`) are hashed too.
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
        present = [r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()]
        phones = [c for c in phone_columns(present) if c not in wanted]
        wanted += phones  # the quarantine's records hold the raw tables' columns
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


#: A value that looks like an e-mail address (a column so filled is personal whatever its name).
_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def protect_quarantine(
    con: duckdb.DuckDBPyConnection,
    salt: str | None = None,
    identifiers: Iterable[str] = (),
    keep_raw: bool = False,
) -> dict[str, list[str]]:
    """Hash the personal data in the raw records of the ``quarantine`` and ``flagged`` tables.

    Privacy by default: a quarantined row keeps its source, row, reason and column, but in its
    raw ``record`` every column the PII scanner finds (:func:`personal_columns`: e-mail, phone,
    names, postal addresses; and any column whose values look like e-mail addresses) is
    replaced by ``sha256(salt || normalised value)`` (64 hex characters), and so is ``value``
    when ``column_name`` is such a column; the text of a malformed line (never split into
    columns) is replaced by its hash (``line_sha256``).

    Parameters
    ----------
    salt : str, optional
        The run's secret salt (``--hash-ids``): the hashes then equal the hashed ids of the
        tables, and ``identifiers`` (the ids, e-mails and phones ``--hash-ids`` hashes) are
        hashed too. None: a random salt drawn for this call and never stored, so equal values
        hash alike within one quarantine (repeats stay visible) but a hash can neither be
        reversed by hashing guessed e-mails nor matched with another run.
    identifiers : iterable of str
        Identifier columns hashed when ``salt`` is given (see :func:`identifier_columns`).
    keep_raw : bool, default False
        ``segmint run --keep-raw-quarantine``: keep the raw records as read; with a ``salt``
        the identifiers of ``--hash-ids`` are still hashed (its promise: no raw id in an
        output).

    Returns
    -------
    dict
        ``table -> columns hashed``.
    """
    existing = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    key = salt or secrets.token_hex(16)
    done: dict[str, list[str]] = {}
    for table in ("quarantine", "flagged"):
        if table not in existing:
            continue
        name = quote_ident(table)
        keys = con.execute(
            f"SELECT DISTINCT k FROM (SELECT unnest(json_keys(record)) AS k FROM {name} "
            "WHERE json_type(record) = 'OBJECT') UNION "
            f"SELECT DISTINCT column_name FROM {name} WHERE column_name IS NOT NULL"
        ).fetchall()
        keys = sorted(str(k[0]) for k in keys if k[0] not in ("_row", "line"))
        columns = list(dict.fromkeys(identifiers)) if salt else []
        columns += [c for c in phone_columns(keys) if salt and c not in columns]
        if not keep_raw:
            personal = set(personal_columns(keys)) | _email_valued(con, name, keys)
            columns += [c for c in keys if c in personal and c not in columns]
        if columns or salt or not keep_raw:
            _hash_quarantine(con, table, columns, key, lines=bool(salt) or not keep_raw)
            done[table] = columns
    logger.info(
        "quarantine: personal columns hashed (%s)",
        ", ".join(sorted({c for cols in done.values() for c in cols})) or "none",
    )
    return done


def _email_valued(con: duckdb.DuckDBPyConnection, table: str, keys: list[str]) -> set[str]:
    """The record keys some of whose values look like e-mail addresses."""
    found = set()
    for column in keys:
        if pii_kind(column) is not None:
            continue
        extracted = f"json_extract_string(record, {_json_path(column)})"
        if con.execute(
            f"SELECT bool_or(regexp_full_match(trim({extracted}), {_sql_str(_EMAIL_RE)})) "
            f"FROM {table} WHERE json_type(record) = 'OBJECT'"
        ).fetchall()[0][0]:
            found.add(column)
    return found


def _json_path(column: str) -> str:
    return _sql_str('$."' + column.replace('"', '\\"') + '"')


def _hash_quarantine(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: list[str],
    salt: str,
    *,
    lines: bool = True,
) -> None:
    if columns:
        names = ", ".join(_sql_str(c) for c in columns)
        whens = " ".join(f"WHEN {_sql_str(c)} THEN {_normalised('value', c)}" for c in columns)
        con.execute(f"""
            UPDATE {quote_ident(table)}
            SET value = sha256({_sql_str(salt)} || CASE column_name {whens} END)
            WHERE column_name IN ({names}) AND value IS NOT NULL
        """)
    if lines:
        # a malformed line was never split into columns: keep only a salted hash of its text
        con.execute(f"""
            UPDATE {quote_ident(table)}
            SET record = json_object(
                '_row', row,
                'line_sha256',
                sha256({_sql_str(salt)} || coalesce(json_extract_string(record, '$.line'), ''))
            )::VARCHAR
            WHERE reason = 'malformed_line' AND record IS NOT NULL
              AND json_extract_string(record, '$.line') IS NOT NULL
        """)
    for column in columns:
        extracted = f"json_extract_string(record, {_json_path(column)})"
        con.execute(f"""
            UPDATE {quote_ident(table)}
            SET record = json_merge_patch(
                record, json_object({_sql_str(column)}, {_hash_sql(extracted, column, salt)})
            )::VARCHAR
            WHERE record IS NOT NULL AND {extracted} IS NOT NULL
        """)
