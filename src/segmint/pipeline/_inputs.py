"""What a run is asked to do, checked before anything is read: tables, bases, engine, salt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from segmint.activate._scoring import EXTRA_ROLES, check_roles
from segmint.config import Config
from segmint.exceptions import ConfigError
from segmint.features import check_bases

#: The bases computed from the transaction log alone (the default feature stage).
TRANSACTION_BASES = frozenset({"behavioural", "value"})


@dataclass
class RunInputs:
    """The tables of a run and how its features are built.

    ``tables`` maps each role to its table in the run's connection; ``catalogue`` is true when
    the features come from the feature catalogue over every table (any table besides the
    transactions and customers, or a basis beyond the transaction bases), false for the
    transaction features alone.
    """

    transactions: Path
    customers: Path | None
    sources: dict[str, Path]
    config: Config
    hash_salt: str | None
    tables: dict[str, str]
    catalogue: bool

    @property
    def files(self) -> list[Path]:
        """Every input file, transactions first."""
        customers = [self.customers] if self.customers is not None else []
        return [self.transactions, *customers, *self.sources.values()]


def check_inputs(
    transactions: str | Path,
    customers: str | Path | None,
    config: Config,
    sources: Mapping[str, str | Path] | None,
    hash_salt: str | None,
) -> RunInputs:
    """The run's inputs, or a :class:`ConfigError` for a combination that cannot run."""
    given = {role: Path(path) for role, path in (sources or {}).items()}
    check_roles(given)
    given = {role: given[role] for role in EXTRA_ROLES if role in given}
    catalogue = bool(given) or not set(config.bases) <= TRANSACTION_BASES
    if config.engine == "spark" and (catalogue or hash_salt is not None):
        extra = [*given, *(b for b in config.bases if b not in TRANSACTION_BASES)]
        raise ConfigError(
            "The Spark engine computes the transaction bases only; "
            + (
                f"{', '.join(extra)} need the DuckDB engine."
                if extra
                else "hashing identifiers needs the DuckDB engine."
            ),
            hint="Run with --engine duckdb, or keep bases to behavioural and value without "
            "extra tables.",
        )
    if hash_salt is not None and not hash_salt:
        raise ConfigError(
            "hashing identifiers needs a non-empty salt.",
            hint="Pass --salt or set SEGMINT_SALT (keep it to make later runs match).",
        )
    tables = {
        "transactions": "transactions",
        **({"customers": "customers"} if customers is not None else {}),
        **{role: role for role in given},
    }
    if catalogue:
        check_bases(config.bases, tables)  # a basis without its table: refused before loading
    return RunInputs(
        transactions=Path(transactions),
        customers=Path(customers) if customers is not None else None,
        sources=given,
        config=config,
        hash_salt=hash_salt,
        tables=tables,
        catalogue=catalogue,
    )
