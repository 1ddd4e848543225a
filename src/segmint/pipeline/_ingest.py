"""The ingest stage: every input table read, validated and accounted for, and fingerprinted."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from segmint import engines
from segmint.activate._scoring import load_source_table
from segmint.io import (
    SourceAccount,
    configure_connection,
    describe_values,
    hash_identifiers,
    identifier_columns,
    load_customers,
    load_transactions,
    map_columns,
    read_source,
)
from segmint.pipeline._inputs import RunInputs


@dataclass
class Ingested:
    """The loaded tables' accounting and the fingerprint of the data they came from.

    ``distributed`` is the engine session that holds the tables when they live outside the
    run's DuckDB connection (Spark); ``None`` when they were loaded into it.
    """

    accounting: list[SourceAccount]
    fingerprints: list[dict[str, Any]]
    data_fingerprint: str
    distributed: Any | None = None

    @property
    def transactions(self) -> SourceAccount:
        """The transaction log's accounting."""
        return next(a for a in self.accounting if a.role == "transactions")


def file_fingerprint(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a file, streamed in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def ingest(con: duckdb.DuckDBPyConnection, inputs: RunInputs, staging: Path) -> Ingested:
    """Read every table of ``inputs`` into ``con`` (or the configured engine) and account rows.

    Memory stays bounded: beyond the limit DuckDB spills to ``staging`` (quoted as a SQL
    string: an output path may hold any character).
    """
    config = inputs.config
    configure_connection(
        con,
        memory_limit=config.io.memory_limit or engines.default_memory_limit(),
        temp_directory=staging,
    )
    if config.engine == "spark":
        session = engines.SparkRun(config.spark, Path(staging) / "spark")
        accounting = session.ingest(
            con, inputs.transactions, customers=inputs.customers, config=config
        )
        describe_values(con, next(a for a in accounting if a.role == "transactions"))
        fingerprints = [engines.source_fingerprint(p) for p in inputs.files]
    else:
        session = None
        accounting = _load_tables(con, inputs)
        fingerprints = [file_fingerprint(p) for p in inputs.files]
    digest = hashlib.sha256("".join(f["sha256"] for f in fingerprints).encode()).hexdigest()
    return Ingested(accounting, fingerprints, digest, session)


def _load_tables(con: duckdb.DuckDBPyConnection, inputs: RunInputs) -> list[SourceAccount]:
    """Customers, transactions and the further tables, loaded into ``con`` by their loaders."""
    config = inputs.config
    accounting: list[SourceAccount] = []
    known = None
    if inputs.customers is not None:
        raw_c = read_source(con, inputs.customers, "raw_customers", **config.io.read_options())
        matches = map_columns(
            raw_c.columns, "customers", explicit=config.mapping.customers, path=str(raw_c.path)
        )
        accounting.append(load_customers(con, raw_c, matches))
        known = "customers"
    raw_t = read_source(
        con, inputs.transactions, "raw_transactions", typed=True, **config.io.read_options()
    )
    matches = map_columns(
        raw_t.columns, "transactions", explicit=config.mapping.transactions, path=str(raw_t.path)
    )
    accounting.append(
        load_transactions(
            con, raw_t, matches, known_customers=known, **config.io.transaction_options()
        )
    )
    for role, path in inputs.sources.items():
        accounting.append(
            load_source_table(
                con,
                role,
                path,
                mapping=getattr(config.mapping, role, None) if role != "psychographic" else None,
                known_customers=known,
                known_accounts="accounts" if "accounts" in inputs.sources else None,
                read_options=config.io.read_options(),
            )
        )
    if inputs.hash_salt is not None:  # the quarantine's records: protect_quarantine
        names = [*inputs.tables.values(), *(f"raw_{role}" for role in inputs.tables)]
        hash_identifiers(
            con, names, identifier_columns(accounting), inputs.hash_salt, quarantine=False
        )
    return accounting
