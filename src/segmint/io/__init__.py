"""Data in: sources, column mapping, validation, quarantine, inspection and PII hashing."""

from segmint.io._ingest import configure_connection, ingest_source
from segmint.io._inspect import inspect_source
from segmint.io._mapping import (
    IDENTIFIER_FIELDS,
    ROLE_FIELDS,
    ColumnMatch,
    guess_role,
    map_columns,
)
from segmint.io._pii import hash_identifiers, identifier_columns
from segmint.io._sources import FORMATS, RawSource, quote_ident, read_source
from segmint.io._validate import (
    SourceAccount,
    load_accounts,
    load_contacts,
    load_customers,
    load_events,
    load_survey,
    load_transactions,
)

__all__ = [
    "FORMATS",
    "IDENTIFIER_FIELDS",
    "ROLE_FIELDS",
    "ColumnMatch",
    "RawSource",
    "SourceAccount",
    "configure_connection",
    "guess_role",
    "hash_identifiers",
    "identifier_columns",
    "ingest_source",
    "inspect_source",
    "load_accounts",
    "load_contacts",
    "load_customers",
    "load_events",
    "load_survey",
    "load_transactions",
    "map_columns",
    "quote_ident",
    "read_source",
]
