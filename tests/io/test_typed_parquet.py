"""A typed Parquet transaction log is read in place and gives what the text path gives."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmint.io import load_transactions, map_columns, read_source

FUTURE = date.today() + timedelta(days=30)


@pytest.fixture
def messy_parquet(tmp_path: Path) -> Path:
    """Typed columns (DATE, DOUBLE, BIGINT ids) with one row per quarantine reason."""
    frame = pd.DataFrame(
        {
            "customer_id": pd.array([101, 102, None, 104, 105, 106, 101, 107], dtype="Int64"),
            "order_id": ["a", "b", "c", "d", "e", "f", "a", " g "],
            "order_date": [
                date(2024, 1, 5),
                date(2024, 2, 1),
                date(2024, 2, 2),
                None,
                FUTURE,
                date(2024, 3, 1),
                date(2024, 1, 5),
                date(2024, 3, 9),
            ],
            "amount": [10.5, -3.25, 7.0, 8.0, 9.0, np.nan, 10.5, 12.0],
            "quantity": pd.array([1, -1, 2, 1, 1, 1, 1, 3], dtype="Int32"),
            "channel": ["web", "app", "web", "web", "store", "app", "web", None],
        }
    )
    path = tmp_path / "tx.parquet"
    frame.to_parquet(path, index=False)
    return path


def _load(path: Path, typed: bool) -> tuple[duckdb.DuckDBPyConnection, object]:
    con = duckdb.connect()
    raw = read_source(con, path, "raw_transactions", typed=typed)
    matches = map_columns(raw.columns, "transactions", path=str(path))
    return con, (raw, load_transactions(con, raw, matches))


def test_typed_read_is_a_view_that_keeps_the_types(messy_parquet: Path) -> None:
    con, (raw, _) = _load(messy_parquet, typed=True)
    assert raw.types == {
        "customer_id": "BIGINT",
        "order_date": "DATE",
        "amount": "DOUBLE",
        "quantity": "INTEGER",
    }
    kinds = dict(
        con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_name IN ('raw_transactions', 'transactions')"
        ).fetchall()
    )
    assert kinds == {"raw_transactions": "VIEW", "transactions": "BASE TABLE"}


def test_typed_and_text_paths_give_the_same_rows_and_quarantine(messy_parquet: Path) -> None:
    typed_con, (_, typed) = _load(messy_parquet, typed=True)
    text_con, (_, text) = _load(messy_parquet, typed=False)
    assert (typed.n_read, typed.n_used, typed.quarantined) == (
        text.n_read,
        text.n_used,
        text.quarantined,
    )
    assert typed.quarantined == {
        "missing_customer_id": 1,
        "missing_date": 1,
        "future_date": 1,
        "missing_amount": 1,  # pandas writes NaN to Parquet as null
        "duplicate_row": 1,
    }
    assert typed.n_used == 3
    assert typed.date_format == text.date_format == "DATE (typed in the file)"
    query = "SELECT * FROM transactions ORDER BY _row"
    pd.testing.assert_frame_equal(typed_con.sql(query).df(), text_con.sql(query).df())
    assert typed_con.sql(query).df()["order_id"].tolist() == ["a", "b", "g"]  # trimmed
    cols = "source, role, row, reason, column_name, value"
    query = f"SELECT {cols} FROM quarantine ORDER BY row"
    pd.testing.assert_frame_equal(typed_con.sql(query).df(), text_con.sql(query).df())


def test_a_text_reader_replaces_the_typed_view(messy_parquet: Path, tmp_path: Path) -> None:
    con = duckdb.connect()
    read_source(con, messy_parquet, "raw_transactions", typed=True)
    csv = tmp_path / "tx.csv"
    csv.write_text("customer_id,order_date,amount\nc1,2024-01-01,5\n")
    raw = read_source(con, csv, "raw_transactions")
    assert raw.types == {}
    assert con.execute("SELECT count(*) FROM raw_transactions").fetchall() == [(1,)]
