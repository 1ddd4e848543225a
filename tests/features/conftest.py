"""Shared fixtures of the feature tests: DuckDB connections with real (generated) tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmint.datasets import make_b2b, make_retail
from segmint.features import build_feature_table

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CDNOW_SAMPLE = SHARED_DATA / "cdnow" / "CDNOW_sample.txt"
RETAIL_TABLES = ("transactions", "events", "survey", "campaigns", "psychographic")


def duck(**frames: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """A fresh DuckDB connection with one table per DataFrame."""
    con = duckdb.connect()
    for name, frame in frames.items():
        con.register("_frame", frame)
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _frame')
        con.unregister("_frame")
    return con


@pytest.fixture(scope="session")
def retail():
    """A small demo retailer (every table the generator writes)."""
    return make_retail(2500, seed=21)


@pytest.fixture(scope="session")
def retail_dir(retail, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return retail.write(tmp_path_factory.mktemp("retail"))


@pytest.fixture(scope="session")
def retail_con(retail, retail_dir) -> duckdb.DuckDBPyConnection:
    """The demo tables in DuckDB; customers and transactions through the real loaders.

    Shared by the tests (loading takes seconds): they may add tables but never change these.
    """
    from segmint.io import load_customers, load_transactions, map_columns, read_source

    con = duck(**{name: getattr(retail, name) for name in RETAIL_TABLES if name != "transactions"})
    raw_c = read_source(con, retail_dir["customers"], "raw_customers")
    load_customers(con, raw_c, map_columns(raw_c.columns, "customers"))
    raw_t = read_source(con, retail_dir["transactions"], "raw_transactions")
    load_transactions(con, raw_t, map_columns(raw_t.columns, "transactions"))
    # the loader keeps the canonical columns only; the cost column joins by row
    cost = pd.DataFrame(
        {"_row": np.arange(1, len(retail.transactions) + 1), "cost": retail.transactions["cost"]}
    )
    con.register("_tx", cost)
    con.execute(
        "CREATE OR REPLACE TABLE transactions AS SELECT t.*, x.cost "
        "FROM transactions t JOIN _tx x USING (_row) ORDER BY _row"
    )
    con.unregister("_tx")
    yield con
    con.close()


@pytest.fixture(scope="session")
def b2b():
    return make_b2b(300, seed=5)


@pytest.fixture(scope="session")
def b2b_con(b2b) -> duckdb.DuckDBPyConnection:
    con = duck(accounts=b2b.accounts, contacts=b2b.contacts, orders=b2b.orders)
    yield con
    con.close()


@pytest.fixture(scope="session")
def cdnow_sample() -> Path:
    if not CDNOW_SAMPLE.exists():
        pytest.fail(f"shared data missing: {CDNOW_SAMPLE} (../shared beside the repo)")
    return CDNOW_SAMPLE


ALL_RETAIL_BASES = [
    "demographic",
    "geographic",
    "psychographic",
    "behavioural",
    "technographic",
    "needs",
    "value",
]


@pytest.fixture(scope="session")
def retail_all_bases(retail_con):
    """Every retail basis as of 2024-07-01: (feature table, spec)."""
    return build_feature_table(
        retail_con,
        bases=ALL_RETAIL_BASES,
        snapshot="2024-07-01",
        tables_available=["customers", *RETAIL_TABLES],
        into=None,
    )
