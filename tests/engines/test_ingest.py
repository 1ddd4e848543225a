"""Every engine reads, types and validates a transaction log by the same rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# pyspark warns about pandas >= 3 when it converts (segmint itself converts through Arrow);
# it is pyspark's own notice about its support matrix, not a problem of the code under test
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)

DEFECTS = """customer_id,order_id,order_date,amount,quantity,category,channel
C1,O1,2024-01-05,10.50,1,books,web
,O2,2024-01-06,5,1,books,web
C2,O3,,7,1,books,web
C2,O4,2024-13-45,7,1,books,web
C2,O5,2999-01-01,7,1,books,web
C3,O6,2024-02-01,,1,books,web
C3,O7,2024-02-01,abc,1,books,web
C1,O1,2024-01-05,10.50,1,books,web
C4,O9,2024-03-01,"1,234.50",2,toys,app
C4,O10,2024-03-02,-3.5,1,toys,app
C5,O11,2024-03-03,12,1,toys,store,surplus
C5,O12,2024-03-04,20,1,toys,store
C6,O13,2024-03-05,8.25,3,games,web
C6,O14,2024-03-06,1e29,1,games,web
"""
EXPECTED_REASONS = {
    2: "missing_customer_id",
    3: "missing_date",
    4: "unparseable_date",
    5: "future_date",
    6: "missing_amount",
    7: "unparseable_amount",
    8: "duplicate_row",
    11: "malformed_line",
    14: "implausible_amount",
}


@pytest.fixture
def defects(tmp_path: Path) -> Path:
    path = tmp_path / "defects.csv"
    path.write_text(DEFECTS)
    return path


def test_every_row_is_used_or_quarantined_with_its_reason(engine, config_for, defects) -> None:
    loaded = engine.ingest(defects, config_for(engine.name))
    account = loaded.account
    assert account.n_read == 14
    assert account.n_read == account.n_used + account.n_quarantined
    assert dict(zip(loaded.quarantine["row"], loaded.quarantine["reason"], strict=True)) == (
        EXPECTED_REASONS
    )
    assert loaded.transactions["_row"].tolist() == [1, 9, 10, 12, 13]


def test_quarantine_names_the_column_and_value_of_the_problem(engine, config_for, defects) -> None:
    quarantine = engine.ingest(defects, config_for(engine.name)).quarantine.set_index("row")
    assert quarantine.loc[4, ["column_name", "value"]].tolist() == ["order_date", "2024-13-45"]
    assert quarantine.loc[7, ["column_name", "value"]].tolist() == ["amount", "abc"]
    assert quarantine.loc[2, "column_name"] == "customer_id"


def test_amounts_are_typed_with_thousands_separators_in_their_place(
    engine, config_for, defects
) -> None:
    tx = engine.ingest(defects, config_for(engine.name)).transactions
    np.testing.assert_array_equal(tx["amount"].to_numpy(), [10.5, 1234.5, -3.5, 20.0, 8.25])
    assert tx["quantity"].tolist() == [1.0, 2.0, 1.0, 1.0, 3.0]
    assert str(tx["order_date"].iloc[0]) == "2024-01-05 00:00:00"


def test_day_first_dates_and_decimal_commas_are_detected(
    engine, config_for, tmp_path: Path
) -> None:
    path = tmp_path / "european.csv"
    path.write_text(
        "customer_id;Datum;Umsatz\nK1;24.12.2023;12,50\nK1;03.01.2024;7,25\nK2;13.02.2024;-1,5\n"
    )
    loaded = engine.ingest(path, config_for(engine.name))
    assert loaded.account.date_format == "%d.%m.%Y"
    tx = loaded.transactions
    assert [str(d.date()) for d in tx["order_date"]] == ["2023-12-24", "2024-01-03", "2024-02-13"]
    np.testing.assert_array_equal(tx["amount"].to_numpy(), [12.5, 7.25, -1.5])


def test_ids_missing_from_the_customer_table_are_unknown_customers(
    engine, config_for, defects, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,age\nC1,30\nC4,41\nC5,52\n")
    loaded = engine.ingest(defects, config_for(engine.name), customers=customers)
    quarantine = loaded.quarantine.set_index("row")
    assert quarantine.loc[13, "reason"] == "unknown_customer"
    assert quarantine.loc[13, "value"] == "C6"
    assert loaded.account.n_read == loaded.account.n_used + loaded.account.n_quarantined


def test_outliers_can_be_quarantined(engine, config_for, tmp_path: Path) -> None:
    rows = "".join(f"C{i % 7},O{i},2024-01-{1 + i % 28:02d},{10 + i % 5}\n" for i in range(60))
    path = tmp_path / "outliers.csv"
    path.write_text("customer_id,order_id,order_date,amount\n" + rows + "C1,O99,2024-02-01,99999\n")
    config = config_for(engine.name)
    config.io.outliers = "quarantine"
    loaded = engine.ingest(path, config)
    assert loaded.account.quarantined == {"outlier_amount": 1}
    assert loaded.quarantine["value"].tolist() == ["99999"]


def test_whitespace_log_without_header_reads_like_on_duckdb(engine, config_for, cdnow_sample):
    config = config_for(engine.name)
    config.mapping.transactions = {
        "customer_id": "column_1",
        "order_date": "column_3",
        "quantity": "column_4",
        "amount": "column_5",
    }
    loaded = engine.ingest(cdnow_sample, config)
    account = loaded.account
    assert (account.format, account.date_format) == ("whitespace", "%Y%m%d")
    assert (account.n_read, account.n_used, account.n_quarantined) == (6919, 6919, 0)
    assert account.possible_duplicates == 21  # identical lines, kept: no order id
    tx = loaded.transactions
    assert tx["customer_id"].nunique() == 2357
    assert round(tx["amount"].sum(), 2) == 244091.94
    assert str(tx["order_date"].max().date()) == "1998-06-30"


def test_doubled_quotes_in_quoted_fields_read_as_on_duckdb(
    both_engines, config_for, tmp_path: Path
) -> None:
    """RFC 4180: ``""`` inside a quoted field is one quote, and the field's commas are text."""
    path = tmp_path / "quoted.csv"
    path.write_text(
        "customer_id,order_id,order_date,amount,category\n"
        'C1,O1,2024-01-05,10.50,"He said ""hi"", then left"\n'
        'C2,O2,2024-01-06,5,"a, b"\n'
        'C3,O3,2024-01-07,7,5" screen\n'
        'C3,O4,2024-01-08,8,"""quoted"""\n'
    )
    expected = ['He said "hi", then left', "a, b", '5" screen', '"quoted"']
    for engine in both_engines:
        loaded = engine.ingest(path, config_for(engine.name))
        assert loaded.quarantine.empty, (engine.name, loaded.quarantine)
        assert loaded.transactions["category"].tolist() == expected, engine.name
        np.testing.assert_array_equal(loaded.transactions["amount"].to_numpy(), [10.5, 5, 7, 8])
