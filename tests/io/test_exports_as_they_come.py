"""Exports as tools write them (UTC offsets, Excel serial days, mixed line endings), inputs too
small to segment, inspect's column types, and every ``io:`` option honoured by a DuckDB run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmint.config import Config, load_config
from segmint.exceptions import InputError
from segmint.io import (
    check_enough_customers,
    inspect_source,
    load_transactions,
    map_columns,
    read_source,
)
from segmint.pipeline import run_segmentation


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _load(con, path: Path, **kw):
    raw = read_source(con, path, "raw_transactions", typed=True)
    account = load_transactions(con, raw, map_columns(raw.columns, "transactions"), **kw)
    assert account.n_read == account.n_used + account.n_quarantined
    return account


def _dates(con) -> list[str]:
    rows = con.execute("SELECT order_date::VARCHAR FROM transactions ORDER BY _row").fetchall()
    return [r[0] for r in rows]


def test_iso_timestamps_with_offsets_are_stored_in_utc(con, tmp_path: Path) -> None:
    path = tmp_path / "offsets.csv"
    path.write_text(
        "customer_id,order_date,amount\n"
        "C1,2024-06-01T10:15:00+02:00,10\n"
        "C1,2024-06-01T23:30:00-05:00,11\n"
        "C2,2024-06-02T07:00:00.250+0530,12\n"
        "C2,2024-06-03T09:00:00Z,13\n"
        "C3,2024-06-03T25:00:00+02:00,14\n"  # no such hour
    )
    account = _load(con, path)
    assert account.date_format == "%Y-%m-%dT%H:%M:%S%z"
    assert _dates(con) == [
        "2024-06-01 08:15:00",
        "2024-06-02 04:30:00",
        "2024-06-02 01:30:00.25",
        "2024-06-03 09:00:00",
    ]
    assert account.quarantined == {"unparseable_date": 1}
    assert any("UTC offsets" in n for n in account.notes)


def test_excel_serial_day_numbers_are_dates_and_the_log_says_so(
    con, tmp_path: Path, caplog
) -> None:
    caplog.set_level("INFO", logger="segmint")
    path = tmp_path / "serial.csv"
    path.write_text("customer_id,order_date,amount\nC1,45444,10\nC1,45444.5,11\nC2,45500,12\n")
    account = _load(con, path)
    epoch = datetime(1899, 12, 30)
    assert _dates(con) == [
        str(epoch + timedelta(days=45444)),
        str(epoch + timedelta(days=45444.5)),
        str(epoch + timedelta(days=45500)),
    ]
    assert _dates(con)[0] == "2024-06-01 00:00:00"
    assert account.date_format == "excel serial"
    assert any("Excel serial day numbers" in w for w in account.warnings)
    assert "Excel serial day numbers" in caplog.text
    # typed integers in a Parquet file (a workbook saved as Parquet) are read the same way
    table = pa.table(
        {"customer_id": ["C1", "C2"], "order_date": [45444, 45445], "amount": [1.0, 2]}
    )
    pq.write_table(table, tmp_path / "serial.parquet")
    _load(con, tmp_path / "serial.parquet")
    assert _dates(con) == ["2024-06-01 00:00:00", "2024-06-02 00:00:00"]


def test_numbers_outside_the_serial_range_are_not_dates(con, tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("customer_id,order_date,amount\nC1,45444,10\nC1,123,11\n")
    with pytest.raises(InputError, match="holds no recognisable dates"):
        _load(con, path)


def test_a_header_in_lf_and_rows_in_crlf_are_read(con, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b"customer_id,order_date,amount\nC1,2024-01-01,5\r\nC2,2024-01-02,6\r\nC3,2024-01-03,7\r\n"
    )
    raw = read_source(con, path, "raw")
    assert raw.columns == ["customer_id", "order_date", "amount"]
    assert con.execute("SELECT _row, amount FROM raw ORDER BY _row").fetchall() == [
        (1, "5"),
        (2, "6"),
        (3, "7"),
    ]
    assert any("LF and CRLF" in n for n in raw.notes)


def test_inspect_calls_a_decimal_column_a_number_with_decimals(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text("customer_id,order_date,quantity,unit_price\nC1,2024-01-01,6,2.55\n")
    types = {c["name"]: c["type"] for c in inspect_source(path)["columns"]}
    assert types["unit_price"] == "double" and types["quantity"] == "integer"
    table = pa.table(
        {
            "customer_id": pa.array([17850, 13047], pa.int64()),
            "order_date": pa.array([datetime(2024, 1, 1), datetime(2024, 1, 2)]),
            "price": pa.array([Decimal("2.55"), Decimal("3.00")], pa.decimal128(10, 2)),
            "quantity": pa.array([6, 2], pa.int32()),
            "invoice": ["536365", "C536379"],
        }
    )
    pq.write_table(table, tmp_path / "typed.parquet")
    result = inspect_source(tmp_path / "typed.parquet")
    types = {c["name"]: c["type"] for c in result["columns"]}
    assert types == {
        "customer_id": "integer",
        "order_date": "timestamp",
        "price": "decimal",
        "quantity": "integer",
        "invoice": "text",
    }
    assert result["mapping"]["amount"]["source"] == "derived"


def test_too_few_customers_is_one_line_saying_how_many_are_needed() -> None:
    check_enough_customers(3)
    with pytest.raises(InputError, match="need at least 3 customers") as info:
        check_enough_customers(2, snapshot="2024-07-01")
    assert "only 2 customer(s) with a purchase before 2024-07-01" in info.value.message
    with pytest.raises(InputError, match="4 segments need at least 5"):
        check_enough_customers(4, k=4)
    check_enough_customers(1, method="rules")


def _fast(**io) -> Config:
    config = Config()
    config.segmentation.k = 2
    config.segmentation.n_init = 1
    config.segmentation.stability_resamples = 0
    config.features.clv = False
    return config.model_copy(update={"io": config.io.model_copy(update=io)})


def _orders(n_customers: int) -> str:
    rows = []
    for c in range(n_customers):
        for j in range(1 + c % 3):
            rows.append(f"K{c},B{c}-{j},2024-0{1 + j}-{10 + c % 15},{12 + 7 * (c % 5) + j}.50")
    return "customer_id,order_id,order_date,amount\n" + "\n".join(rows) + "\n"


def _run(path: Path, out: Path, config: Config) -> dict:
    run_segmentation(path, out, config=config)
    return json.loads((out / "run.json").read_text())


def test_a_log_with_one_or_two_customers_ends_before_the_segmenter(tmp_path: Path, cli) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text(_orders(2))
    with pytest.raises(InputError, match="only 2 customer"):
        run_segmentation(path, tmp_path / "out", config=_fast())
    result = cli("run", "--transactions", str(path), "--out", str(tmp_path / "out2"))
    assert result.returncode == 2, result.stderr
    assert "need at least 3 customers" in result.stderr
    assert "Traceback" not in result.stderr and "ValueError" not in result.stderr


def test_duckdb_runs_honour_outliers_and_outlier_factor(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text(_orders(30).rstrip("\n") + "\nK1,BIG,2024-02-11,250000\n")
    flagged = _run(path, tmp_path / "a", _fast())["row_accounting"][0]
    assert flagged["flagged"] == {"outlier_amount": 1} and flagged["quarantined"] == 0
    moved = _run(path, tmp_path / "b", _fast(outliers="quarantine"))["row_accounting"][0]
    assert moved["quarantined_by_reason"] == {"outlier_amount": 1}
    strict = _run(path, tmp_path / "c", _fast(outlier_factor=1.5))["row_accounting"][0]
    assert strict["flagged"]["outlier_amount"] > 1


def test_duckdb_runs_honour_date_formats(tmp_path: Path) -> None:
    rows = "".join(f"K{c},B{c},0{1 + c % 9}/0{1 + c % 3}/2024,{10 + c}\n" for c in range(20))
    path = tmp_path / "ambiguous.csv"
    path.write_text("customer_id,order_id,order_date,amount\n" + rows)
    day_first = _run(path, tmp_path / "a", _fast())
    month_first = _run(path, tmp_path / "b", _fast(date_formats={"transactions": "%m/%d/%Y"}))
    assert day_first["row_accounting"][0]["date_format"] == "%d/%m/%Y"
    assert month_first["row_accounting"][0]["date_format"] == "%m/%d/%Y"
    assert (day_first["snapshot_date"], month_first["snapshot_date"]) == (
        "2024-03-10",
        "2024-09-04",
    )


def test_duckdb_runs_honour_encoding_and_delimiter(tmp_path: Path) -> None:
    text = _orders(12).replace("K", "K€")
    path = tmp_path / "cp1252.csv"
    path.write_bytes(text.encode("cp1252"))
    detected = _run(path, tmp_path / "a", _fast())
    assert detected["row_accounting"][0]["used"] == 24
    ids = pd.read_parquet(tmp_path / "a" / "segments.parquet")["customer_id"]
    assert ids.str.startswith("K€").all()
    latin = _run(path, tmp_path / "b", _fast(encoding="latin-1"))
    ids = pd.read_parquet(tmp_path / "b" / "segments.parquet")["customer_id"]
    assert latin["row_accounting"][0]["used"] == 24 and ids.str.startswith("K\x80").all()
    # a delimiter the sniffer does not try: refused without the setting, read with it
    tilde = tmp_path / "tilde.csv"
    tilde.write_text(_orders(12).replace(",", "~"))
    with pytest.raises(InputError, match="only one column"):
        run_segmentation(tilde, tmp_path / "c", config=_fast())
    read = _run(tilde, tmp_path / "d", _fast(delimiter="~"))
    assert read["row_accounting"][0]["used"] == 24


def test_a_run_reports_returns_repeats_and_exclusions(tmp_path: Path) -> None:
    lines = [
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID",
        *(  # two invoices of two products per customer
            f"{536000 + 2 * c + i},P{p},{1 + c % 4},2011-0{1 + i}-1{c % 9} 10:00:00,"
            f"{2 + c % 3}.50,{17000 + c}"
            for c in range(12)
            for i in range(2)
            for p in range(2)
        ),
        "536000,P0,1,2011-01-10 10:00:00,2.50,17000",  # a repeat of the first line
        "537000,POST,1,2011-02-01 10:00:00,18.00,17001",
        "C538000,P1,-1,2011-03-01 10:00:00,3.50,17001",
    ]
    path = tmp_path / "lines.csv"
    path.write_text("\n".join(lines) + "\n")
    config_file = tmp_path / "segmint.yaml"
    config_file.write_text(
        "io:\n  exclude:\n    - {name: postage, column: StockCode, values: [POST]}\n"
    )
    config = load_config(config_file)
    config.segmentation.k = 2
    config.segmentation.stability_resamples = 0
    config.features.clv = False
    account = _run(path, tmp_path / "out", config)["row_accounting"][0]
    assert account["quarantined_by_reason"] == {"duplicate_row": 1, "excluded_line": 1}
    assert account["duplicates"]["value"] == 2.5 and account["duplicates"]["proven"] is True
    assert account["excluded"] == {"postage": {"lines": 1, "value": 18.0}}
    assert account["value"]["return_lines"] == 1 and account["value"]["returns"] == -3.5
    features = pd.read_parquet(tmp_path / "out" / "features.parquet").set_index("customer_id")
    assert {"products_per_order", "basket_size", "return_rate"} <= set(features.columns)
    assert features.loc["17001", "return_rate"] == pytest.approx(1 / 2)
    assert features.loc["17001", "frequency"] == 2  # the cancellation is not a purchase
    assert features.loc["17000", "products_per_order"] == 2.0
    quarantine = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    assert sorted(quarantine["reason"]) == ["duplicate_row", "excluded_line"]
    assert json.loads(quarantine.set_index("reason").loc["excluded_line", "record"])[
        "StockCode"
    ] == ("POST")
