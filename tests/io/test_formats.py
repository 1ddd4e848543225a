"""Every source format with real files written in tmp_path, read into a real DuckDB."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

from segmint.io import (
    load_customers,
    load_survey,
    load_transactions,
    map_columns,
    read_source,
)

ORDERS = [
    ("C1", "O1", "2024-03-01", "19.90", "Müller & Söhne"),
    ("C2", "O2", "2024-03-02", "1250.00", "Café Zoë"),
    ("C1", "O3", "2024-03-05", "-5.00", "Straße"),
]


def _table(con: duckdb.DuckDBPyConnection, table: str = "raw") -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} ORDER BY _row").fetchall()


def _load_tx(con: duckdb.DuckDBPyConnection, path: Path | str, **read: object):
    raw = read_source(con, path, "raw", **read)  # type: ignore[arg-type]
    matches = map_columns(raw.columns, "transactions", path=str(raw.path))
    return raw, load_transactions(con, raw, matches)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


# --- delimited text --------------------------------------------------------------------------


def test_semicolon_decimal_comma_and_day_first_dates(tmp_path: Path, con) -> None:
    path = tmp_path / "umsatz.csv"
    path.write_text(
        "Kundennummer;Bestellnummer;Datum;Betrag\n"
        "K1;B1;13.01.2024;1.234,50\n"
        "K2;B2;02.02.2024;12,99\n"
        "K1;B3;28.02.2024;-3,00\n",
        encoding="utf-8",
    )
    raw, account = _load_tx(con, path)
    assert (raw.format, raw.delimiter, raw.header, raw.encoding) == ("csv", ";", True, "utf-8")
    assert account.date_format == "%d.%m.%Y"
    assert account.mapping == {
        "customer_id": "Kundennummer",
        "order_date": "Datum",
        "amount": "Betrag",
        "order_id": "Bestellnummer",
    }
    rows = con.execute(
        "SELECT customer_id, CAST(order_date AS DATE)::VARCHAR, amount FROM transactions "
        "ORDER BY _row"
    ).fetchall()
    assert rows == [
        ("K1", "2024-01-13", 1234.5),
        ("K2", "2024-02-02", 12.99),
        ("K1", "2024-02-28", -3.0),
    ]
    assert account.n_used == 3 and account.quarantined == {}


def test_tab_separated(tmp_path: Path, con) -> None:
    path = tmp_path / "orders.tsv"
    path.write_text(
        "customer_id\torder_id\torder_date\tamount\tnote\n"
        + "".join(f"{c}\t{o}\t{d}\t{a}\t{n}\n" for c, o, d, a, n in ORDERS)
    )
    raw, account = _load_tx(con, path)
    assert raw.delimiter == "\t" and raw.columns[-1] == "note"
    assert account.n_used == 3
    assert _table(con)[1][1:] == ORDERS[1]


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-16", "utf-16"),
        ("utf-16-le", "utf-16-le"),  # no BOM: found from the NUL pattern
        ("utf-8-sig", "utf-8-sig"),
        ("cp1252", "cp1252"),
    ],
)
def test_encodings_are_detected_and_text_arrives_intact(
    tmp_path: Path, con, encoding: str, expected: str
) -> None:
    path = tmp_path / f"orders-{encoding}.csv"
    text = "customer_id,order_id,order_date,amount,note\n" + "".join(
        f'{c},{o},{d},{a},"{n}"\n' for c, o, d, a, n in ORDERS
    )
    path.write_bytes(text.encode(encoding))
    raw, account = _load_tx(con, path)
    assert raw.encoding == expected
    assert raw.columns == ["customer_id", "order_id", "order_date", "amount", "note"]
    assert [r[1:] for r in _table(con)] == ORDERS
    assert account.n_used == 3


def test_cp1252_after_a_plain_ascii_head_is_still_found(tmp_path: Path, con) -> None:
    # the first 64 KiB are ASCII; the umlauts and the euro sign come late, as in many exports
    lines = [f"C{i},O{i},2024-01-01,1.00,plain" for i in range(4000)]
    lines.append("C9,O9,2024-01-02,2.00,Grüße €")
    path = tmp_path / "late.csv"
    path.write_bytes(
        ("customer_id,order_id,order_date,amount,note\n" + "\n".join(lines) + "\n").encode("cp1252")
    )
    raw, account = _load_tx(con, path)
    assert raw.encoding == "cp1252"
    assert con.execute("SELECT note FROM raw WHERE _row = 4001").fetchall() == [("Grüße €",)]
    assert account.n_used == 4001


def test_gzip_compressed_csv(tmp_path: Path, con) -> None:
    path = tmp_path / "orders.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("customer_id,order_id,order_date,amount\n")
        handle.writelines(f"{c},{o},{d},{a}\n" for c, o, d, a, _ in ORDERS)
    raw, account = _load_tx(con, path)
    assert raw.format == "csv" and account.n_used == 3


def test_row_is_the_data_row_of_the_file_around_rejects_and_blank_lines(
    tmp_path: Path, con
) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text(
        "customer_id,order_id,order_date,amount\n"
        "C1,O1,2024-01-01,1\n"  # row 1
        "C2,O2,2024-01-01\n"  # row 2: a field short
        "\n"  # blank: not a row
        'C3,"O3\nsecond line",2024-01-01,3\n'  # row 3, spans two lines
        "C4,O4,2024-01-01,4,extra\n"  # row 4: a field too many
        "C5,O5,2024-01-01,5\n"  # row 5
    )
    raw, account = _load_tx(con, path)
    assert [r["row"] for r in raw.rejects] == [2, 4]
    assert con.execute("SELECT _row, customer_id FROM raw ORDER BY _row").fetchall() == [
        (1, "C1"),
        (3, "C3"),
        (5, "C5"),
    ]
    quarantined = con.execute("SELECT row, reason, record FROM quarantine ORDER BY row").fetchall()
    assert [(r, why) for r, why, _ in quarantined] == [(2, "malformed_line"), (4, "malformed_line")]
    assert json.loads(quarantined[1][2]) == {"_row": 4, "line": "C4,O4,2024-01-01,4,extra"}
    assert account.n_read == 5 == account.n_used + account.n_quarantined


def test_whitespace_text_without_header(tmp_path: Path, con) -> None:
    path = tmp_path / "log.txt"
    path.write_text(" 00004 0001 19970101  2   29.33\n 00021 0002 19970101  3   63.34\n")
    raw = read_source(con, path, "raw")
    assert raw.format == "whitespace" and raw.header is False
    assert raw.columns == [f"column_{i}" for i in range(1, 6)]


# --- Parquet, Excel, JSON --------------------------------------------------------------------


def test_parquet(tmp_path: Path, con) -> None:
    frame = pd.DataFrame(
        ORDERS, columns=["customer_id", "order_id", "order_date", "amount", "note"]
    )
    frame["amount"] = frame["amount"].astype(float)
    frame["order_date"] = pd.to_datetime(frame["order_date"])
    path = tmp_path / "orders.parquet"
    frame.to_parquet(path, index=False)
    raw, account = _load_tx(con, path)
    assert raw.format == "parquet" and [r[0] for r in _table(con)] == [1, 2, 3]
    assert con.execute("SELECT sum(amount) FROM transactions").fetchall()[0][0] == pytest.approx(
        1264.9
    )
    assert account.n_used == 3


def _workbook(path: Path) -> None:
    book = openpyxl.Workbook()
    first = book.active
    first.title = "Customers"
    first.append(["customer_id", "age", "email"])
    first.append(["C1", 34, "ann@example.org"])
    first.append(["C2", 51, "not-an-email"])
    orders = book.create_sheet("Orders")
    orders.append(["Orders export 2024"])  # a title row above the table
    orders.append([])
    orders.append(["customer_id", "order_id", "order_date", "amount"])
    import datetime as dt

    orders.append(["C1", "O1", dt.datetime(2024, 3, 1), 19.9])
    orders.append([None, None, None, None])  # an empty row in the middle
    orders.append(["C2", "O2", dt.datetime(2024, 3, 2, 14, 30), 1250])
    orders.append(["C1", "O3", dt.datetime(2024, 3, 5), -5, "stray value"])
    book.save(path)


def test_xlsx_with_two_sheets(tmp_path: Path, con) -> None:
    path = tmp_path / "crm.xlsx"
    _workbook(path)
    raw = read_source(con, path, "raw")
    assert (raw.format, raw.sheet, raw.columns) == (
        "xlsx",
        "Customers",
        ["customer_id", "age", "email"],
    )
    assert raw.notes and "Orders" in raw.notes[0]
    account = load_customers(con, raw, map_columns(raw.columns, "customers"))
    assert account.n_used == 2 and account.flagged == {"invalid_email": 1}

    raw = read_source(con, path, "raw_orders", sheet="Orders")
    assert raw.sheet == "Orders"
    # the title row above the table is skipped (and said so); the header is sheet row 3
    assert raw.columns == ["customer_id", "order_id", "order_date", "amount"]
    assert raw.notes == ["skipped 1 title row(s) above the table (sheet rows 1)"]
    assert [r[:2] for r in _table(con, "raw_orders")] == [(1, "C1"), (3, "C2")]
    assert [r["row"] for r in raw.rejects] == [4]
    raw = read_source(con, f"{path}#Orders", "raw_orders", sheet=None)
    assert raw.sheet == "Orders" and raw.n_read == 3
    raw = read_source(con, path, "raw_orders", sheet=2)
    assert raw.sheet == "Orders"


def test_xlsx_table_with_header_row(tmp_path: Path, con) -> None:
    path = tmp_path / "orders.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["customer_id", "order_id", "order_date", "amount"])
    import datetime as dt

    sheet.append(["C1", "O1", dt.datetime(2024, 3, 1), 19.9])
    sheet.append([None, None, None, None])
    sheet.append(["C2", "O2", dt.datetime(2024, 3, 2, 14, 30), 1250])
    sheet.append(["C1", "O3", dt.datetime(2024, 3, 5), -5, "stray value"])
    book.save(path)
    raw, account = _load_tx(con, path)
    # _row is the sheet row minus the header row; the empty sheet row 3 is skipped
    assert [r[:2] for r in _table(con)] == [(1, "C1"), (3, "C2")]
    assert [r["row"] for r in raw.rejects] == [4]
    assert _table(con)[1][3:] == ("2024-03-02 14:30:00", "1250")
    assert account.n_read == 3 and account.n_used == 2
    assert account.quarantined == {"malformed_line": 1}


def test_json_array_and_ndjson_give_the_same_rows(tmp_path: Path, con) -> None:
    records = [
        {"customer_id": c, "order_id": o, "order_date": d, "amount": float(a), "meta": {"n": n}}
        for c, o, d, a, n in ORDERS
    ]
    array = tmp_path / "orders.json"
    array.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    lines = tmp_path / "orders.ndjson"
    lines.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8"
    )
    raw_a, _ = _load_tx(con, array)
    rows_a = con.execute("SELECT * FROM transactions ORDER BY _row").fetchall()
    raw_n, _ = _load_tx(con, lines)
    rows_n = con.execute("SELECT * FROM transactions ORDER BY _row").fetchall()
    assert (raw_a.format, raw_n.format) == ("json", "ndjson")
    assert (
        raw_a.columns
        == raw_n.columns
        == ["customer_id", "order_id", "order_date", "amount", "meta"]
    )
    assert rows_a == rows_n and len(rows_a) == 3
    assert json.loads(con.execute("SELECT meta FROM raw WHERE _row = 2").fetchall()[0][0]) == {
        "n": "Café Zoë"
    }


def test_ndjson_bad_line_is_quarantined_with_its_row(tmp_path: Path, con) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"customer_id": "C1", "order_date": "2024-01-01", "amount": 1}\n'
        '{"customer_id": "C2", "order_date": \n'
        "\n"
        '{"customer_id": "C3", "order_date": "2024-01-02", "amount": 2}\n'
    )
    raw, account = _load_tx(con, path)
    assert raw.rejects[0]["row"] == 2 and raw.rejects[0]["detail"] == "not valid JSON"
    assert account.n_read == 3 and account.n_used == 2


# --- SPSS ------------------------------------------------------------------------------------


def test_spss_value_labels_arrive_as_categories(tmp_path: Path, con) -> None:
    import pyreadstat

    frame = pd.DataFrame(
        {
            "respondent_id": ["R1", "R2", "R3", "R4"],
            "q_price": [1.0, 3.0, None, 2.0],
            "q_quality": [2.0, 9.0, 1.0, 1.0],
            "weight": [1.2, 0.8, 1.0, 0.5],
        }
    )
    path = tmp_path / "needs.sav"
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels={"q_price": "Price matters most", "q_quality": "Quality over price"},
        variable_value_labels={
            "q_price": {1.0: "Disagree", 2.0: "Neutral", 3.0: "Agree"},
            "q_quality": {1.0: "No", 2.0: "Yes"},
        },
    )
    raw = read_source(con, path, "raw")
    assert raw.format == "sav"
    assert raw.variable_labels == {
        "q_price": "Price matters most",
        "q_quality": "Quality over price",
    }
    assert con.execute("SELECT q_price, q_quality FROM raw ORDER BY _row").fetchall() == [
        ("Disagree", "Yes"),
        ("Agree", "9"),  # a code without a label stays as it is
        (None, "No"),
        ("Neutral", "No"),
    ]
    account = load_survey(con, raw, map_columns(raw.columns, "survey"))
    assert account.mapping == {"customer_id": "respondent_id", "weight": "weight"}
    survey = con.sql("SELECT * FROM survey ORDER BY _row").df()
    assert isinstance(survey["q_price"].dtype, pd.CategoricalDtype)
    assert list(survey["q_price"].cat.categories) == ["Disagree", "Neutral", "Agree"]
    assert list(survey["q_quality"].cat.categories) == ["No", "Yes", "9"]
    assert survey["weight"].tolist() == [1.2, 0.8, 1.0, 0.5]


# --- PostgreSQL ------------------------------------------------------------------------------


def test_postgres_gives_the_same_transactions_as_the_csv(pg_server, demo_files, con) -> None:
    csv_path = demo_files["transactions"]
    header = csv_path.read_text().splitlines()[0].split(",")
    _, from_csv = _load_tx(con, csv_path)
    csv_rows = con.execute(
        "SELECT * EXCLUDE (_row) FROM transactions ORDER BY order_id, customer_id, amount"
    ).fetchall()
    raw, from_pg = _load_tx(con, f"{pg_server.url()}#orders")
    pg_rows = con.execute(
        "SELECT * EXCLUDE (_row) FROM transactions ORDER BY order_id, customer_id, amount"
    ).fetchall()
    assert raw.format == "sql" and raw.columns == header
    assert from_pg.n_read == from_csv.n_read == len(csv_rows) + from_csv.n_quarantined
    assert from_pg.mapping == from_csv.mapping
    assert pg_rows == csv_rows and len(pg_rows) > 1000
    # a query instead of a table, read in small chunks
    raw = read_source(
        con,
        pg_server.url(),
        "raw_q",
        query="SELECT customer_id, amount FROM orders WHERE amount > 100",
    )
    expected = sum(1 for r in csv_rows if r[2] > 100)
    assert raw.n_read == expected


def test_postgres_read_is_chunked(pg_server, con) -> None:
    from segmint.io._database import read_sql

    with pg_server.connect() as pg:
        pg.execute("DROP TABLE IF EXISTS numbers")
        pg.execute(
            "CREATE TABLE numbers AS "
            "SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 2345) g"
        )
    raw = read_sql(con, f"{pg_server.url()}#public.numbers", "raw", chunk_size=500)
    assert raw.n_read == 2345
    assert con.execute("SELECT min(_row), max(_row), count(DISTINCT n) FROM raw").fetchall() == [
        (1, 2345, 2345)
    ]
    assert "segmint" not in str(raw.path).split("@")[0].split("//")[0]


@pytest.mark.parametrize("n_bad", [3, 5000])
def test_row_numbers_stay_exact_with_many_rejects(tmp_path: Path, con, n_bad: int) -> None:
    total = 2 * n_bad + 9
    bad = set(range(2, 2 * n_bad + 2, 2))
    lines = ["customer_id,order_date,amount"] + [
        f"C{row},2024-01-01,1" + (",surplus" if row in bad else "") for row in range(1, total + 1)
    ]
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n")
    raw = read_source(con, path, "raw")
    assert sorted(r["row"] for r in raw.rejects) == sorted(bad)
    rows = con.execute("SELECT _row, customer_id FROM raw ORDER BY _row").fetchall()
    assert rows == [(r, f"C{r}") for r in range(1, total + 1) if r not in bad]
