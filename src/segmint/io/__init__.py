"""Data in: sources, column mapping, validation and quarantine."""

from segmint.io._mapping import ROLE_FIELDS, ColumnMatch, map_columns
from segmint.io._sources import RawSource, quote_ident, read_source
from segmint.io._validate import SourceAccount, load_customers, load_transactions

__all__ = [
    "ROLE_FIELDS",
    "ColumnMatch",
    "RawSource",
    "SourceAccount",
    "load_customers",
    "load_transactions",
    "map_columns",
    "quote_ident",
    "read_source",
]
