"""The SQL plumbing of :class:`~segmint.segmenters._rules.RuleSegmenter`.

* :func:`_quote_ident` / :func:`_quote_table` / :func:`_sql_string` -- identifiers, table
  names and string literals quoted for DuckDB and PostgreSQL;
* :func:`_connect` -- a fresh in-memory DuckDB connection that cannot touch files, extensions
  or settings;
* :func:`_register_input` -- the data registered as the view the rules are evaluated on
  (:data:`_INPUT_VIEW`).
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from segmint.exceptions import ConfigError, InputError

_INPUT_VIEW = "segmint_input"


def _quote_ident(name: str) -> str:
    """Quote an identifier with double quotes (SQL standard, DuckDB and PostgreSQL)."""
    return '"' + str(name).replace('"', '""') + '"'


def _quote_table(table_name: str) -> str:
    """Quote a possibly schema-qualified table name part by part (``schema.table``)."""
    if not isinstance(table_name, str) or not table_name.strip():
        raise ConfigError(
            f"Table name {table_name!r} is not a non-empty string.",
            hint='Pass the table to select from, e.g. "customers" or "analytics.customers".',
        )
    parts = table_name.split(".")
    if any(not p for p in parts):
        raise ConfigError(
            f"Table name {table_name!r} has an empty part.",
            hint='Write schema-qualified names as "schema.table".',
        )
    return ".".join(_quote_ident(p) for p in parts)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _connect() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection that cannot touch files, extensions or settings."""
    con = duckdb.connect(
        ":memory:",
        config={"enable_external_access": False, "preserve_insertion_order": True},
    )
    con.execute("SET enable_progress_bar = false")
    return con


def _register_input(con: duckdb.DuckDBPyConnection, X: Any) -> list[str]:
    """Register ``X`` as the view ``segmint_input``; return its column names."""
    if isinstance(X, pd.DataFrame):
        data: Any = X
    elif isinstance(X, pa.Table):
        data = X
    elif isinstance(X, pa.RecordBatch):
        data = pa.Table.from_batches([X])
    else:
        raise InputError(
            f"RuleSegmenter needs a pandas DataFrame or a pyarrow Table, got {type(X).__name__}.",
            hint="Wrap the data in pandas.DataFrame(...) with named columns.",
        )
    con.register(_INPUT_VIEW, data)
    return [str(c) for c in con.sql(f"SELECT * FROM {_INPUT_VIEW} LIMIT 0").columns]
