"""Data in: sources, column mapping, validation, quarantine, inspection and PII hashing.

Transaction-log policies (returns, non-product lines, repeated lines): :mod:`segmint.io._lines`.
"""

from segmint.io._accounting import SourceAccount, check_enough_customers
from segmint.io._entities import load_accounts, load_contacts, load_customers
from segmint.io._events import load_events
from segmint.io._ingest import configure_connection, ingest_source
from segmint.io._inspect import inspect_source
from segmint.io._lines import DuplicatePolicy, ExcludeRule, ReturnRules
from segmint.io._mapping import (
    ColumnMatch,
    derives_amount,
    guess_role,
    map_columns,
    mapping_warnings,
)
from segmint.io._pii import (
    hash_identifiers,
    identifier_columns,
    personal_columns,
    protect_quarantine,
)
from segmint.io._role_fields import IDENTIFIER_FIELDS, ROLE_FIELDS
from segmint.io._sources import FORMATS, RawSource, quote_ident, read_source
from segmint.io._survey import load_survey
from segmint.io._transactions import describe_values, load_transactions

__all__ = [
    "FORMATS",
    "IDENTIFIER_FIELDS",
    "ROLE_FIELDS",
    "ColumnMatch",
    "DuplicatePolicy",
    "ExcludeRule",
    "RawSource",
    "ReturnRules",
    "SourceAccount",
    "check_enough_customers",
    "configure_connection",
    "derives_amount",
    "describe_values",
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
    "mapping_warnings",
    "personal_columns",
    "protect_quarantine",
    "quote_ident",
    "read_source",
]
