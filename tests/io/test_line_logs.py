"""Transaction logs as they come: invoice lines, cancellations, non-product lines, repeats.

Small files shaped like the UCI Online Retail log (written here, loaded by the real loader into a
real DuckDB), and the real log itself for the figures its README states.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from segmint.config import load_config
from segmint.exceptions import ConfigError
from segmint.io import (
    guess_role,
    inspect_source,
    load_transactions,
    map_columns,
    mapping_warnings,
    read_source,
)

SHARED = Path(
    os.environ.get("SEGMINT_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
ONLINE_RETAIL = SHARED / "online_retail" / "online_retail.parquet"

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
LINES = [
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",  # 15.30
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom",  # 20.34
    "536365,84406B,CREAM CUPID HEARTS,8,2010-12-01 08:26:00,2.75,17850,United Kingdom",  # 22.00
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom",  # repeat
    "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,17850,United Kingdom",  # 11.10
    "536366,22632,HAND WARMER RED POLKA,6,2010-12-01 08:28:00,1.85,17850,United Kingdom",  # 11.10
    "536366,22633,HAND WARMER UNION JACK,3,2010-12-01 08:28:00,1.85,17850,United Kingdom",  # 5.55
    "536367,POST,POSTAGE,1,2010-12-01 08:34:00,18.00,13047,United Kingdom",  # 18.00
    "536367,84879,ASSORTED BIRD ORNAMENT,32,2010-12-01 08:34:00,1.69,13047,United Kingdom",  # 54.08
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527,United Kingdom",  # -27.50
    "536381,22139,RETROSPOT TEA SET,4,2010-12-01 09:45:00,4.95,14527,United Kingdom",  # 19.80
    "536414,22139,,56,2010-12-01 11:52:00,0.00,,United Kingdom",  # no customer, 0.00
    "536544,21773,DECORATIVE ROSE BATHROOM,1,2010-12-01 14:32:00,2.51,,United Kingdom",  # 2.51
    "C536383,35004C,SET OF 3 FLYING DUCKS,-1,2010-12-01 09:49:00,4.65,15311,United Kingdom",
    "536384,82484,WOOD BLACK BOARD,6,2010-12-01 09:53:00,6.45,13047,United Kingdom",  # 38.70
]
ALL_VALUE = 206.67  # every line, the repeat included, cancellations netted


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _load(con, path: Path, mapping: dict | None = None, **kw):
    raw = read_source(con, path, "raw_transactions", typed=True)
    matches = map_columns(raw.columns, "transactions", explicit=mapping, path=str(path))
    account = load_transactions(con, raw, matches, **kw)
    assert account.n_read == account.n_used + account.n_quarantined
    return account


@pytest.fixture
def invoice_lines(tmp_path: Path) -> Path:
    return _write(tmp_path, "lines.csv", HEADER + "\n".join(LINES) + "\n")


@pytest.fixture
def without_products(tmp_path: Path) -> Path:
    """The same log exported without StockCode and Description (a common extract)."""
    rows = []
    for line in LINES:
        f = line.split(",")
        rows.append(",".join([f[0], *f[3:]]))
    header = "InvoiceNo,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    return _write(tmp_path, "extract.csv", header + "\n".join(rows) + "\n")


def test_an_invoice_line_log_is_mapped_and_valued_quantity_times_unit_price(
    con, invoice_lines
) -> None:
    columns = HEADER.strip().split(",")
    assert guess_role(columns)[0] == "transactions"
    matches = map_columns(columns, "transactions")
    assert {f: m.column for f, m in matches.items()} == {
        "customer_id": "CustomerID",
        "order_date": "InvoiceDate",
        "unit_price": "UnitPrice",
        "order_id": "InvoiceNo",
        "quantity": "Quantity",
        "product": "StockCode",
    }
    assert "amount" not in matches  # a unit price is never taken for the line's value
    account = _load(con, invoice_lines)
    assert account.mapping["amount"] == "Quantity × UnitPrice"
    assert any("line value = Quantity × UnitPrice" in n for n in account.notes)
    assert account.warnings == []
    rows = con.execute(
        "SELECT _row, customer_id, order_id, product, quantity, unit_price, round(amount, 2), "
        "is_return FROM transactions ORDER BY _row"
    ).fetchall()
    assert rows[0] == (1, "17850", "536365", "85123A", 6.0, 2.55, 15.3, False)
    assert rows[8] == (10, "14527", "C536379", "D", -1.0, 27.5, -27.5, True)
    assert account.quarantined == {"missing_customer_id": 2, "duplicate_row": 1}
    assert account.value == {
        "purchase_lines": 10,
        "purchases": 215.97,
        "return_lines": 2,
        "returns": -32.15,
        "net": 183.82,
    }
    assert account.missing_customer_id == {
        "lines": 2,
        "value": 2.51,
        "value_share": round(2.51 / ALL_VALUE, 6),
    }
    assert any("2 line(s) whose InvoiceNo starts with 'C'" in n for n in account.notes)


def test_a_line_total_is_the_value_when_the_log_has_one(con, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "totals.csv",
        "order_id,sku,customer_id,order_date,quantity,unit_price,line_total\n"
        "A1,P1,C1,2024-03-01,3,2.00,5.40\n"  # 10 % off: the total is what was paid
        "A1,P2,C1,2024-03-01,1,9.99,9.99\n",
    )
    account = _load(con, path)
    assert account.mapping["amount"] == "line_total"
    assert account.mapping["unit_price"] == "unit_price"
    assert con.execute("SELECT amount FROM transactions ORDER BY _row").fetchall() == [
        (5.4,),
        (9.99,),
    ]


def test_weak_and_partial_mappings_warn_with_alternatives_and_the_override(tmp_path) -> None:
    # a bare "price" next to a quantity is a unit price, but only weakly so
    matches = map_columns(["customer_id", "order_date", "price", "quantity"], "transactions")
    assert (matches["unit_price"].column, matches["unit_price"].confidence) == ("price", 0.7)
    assert "amount" not in matches
    (warning,) = mapping_warnings(matches, "transactions")
    assert warning.startswith("unit_price <- 'price' (confidence 0.7, weak name match")
    assert "mapping: {transactions: {unit_price: <column>}}" in warning
    # without a quantity the price is the amount: said, with the other candidates
    matches = map_columns(["customer_id", "order_date", "price"], "transactions")
    assert (matches["amount"].column, matches["amount"].confidence) == ("price", 0.6)
    matches = map_columns(
        ["customer_id", "order_date", "order_total", "sales_total"], "transactions"
    )
    assert matches["amount"].column == "order_total"
    assert matches["amount"].alternatives == ("sales_total",)
    (warning,) = mapping_warnings(matches, "transactions")
    assert "other candidates: 'sales_total'" in warning
    # inspect shows the warning and the mapping's alternatives
    path = _write(
        tmp_path,
        "orders.csv",
        "customer_id,order_date,order_total,sales_total\nC1,2024-01-01,5,6\n",
    )
    result = inspect_source(path)
    assert result["mapping"]["amount"]["alternatives"] == ["sales_total"]
    assert any("amount <- 'order_total'" in w and "segmint.yaml" in w for w in result["warnings"])


def test_cancellations_by_prefix_status_and_sign_never_count_as_purchases(
    con, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "status.csv",
        "customer_id,order_id,order_date,amount,quantity,status\n"
        "K1,B1,2024-01-05,40,2,paid\n"
        "K1,B2,2024-01-09,30,1,Returned\n"  # a return with a positive amount: status says so
        "K1,B3,2024-01-12,25,-1,paid\n"  # a negative quantity
        "K2,B4,2024-01-12,-5,1,paid\n",  # a negative amount
    )
    account = _load(con, path)
    assert con.execute("SELECT amount, is_return FROM transactions ORDER BY _row").fetchall() == [
        (40.0, False),
        (-30.0, True),
        (-25.0, True),
        (-5.0, True),
    ]
    assert account.value["purchases"] == 40.0 and account.value["returns"] == -60.0
    # every rule can be switched off
    account = _load(
        con,
        path,
        returns={"status_values": [], "negative_quantity": False, "negative_amount": False},
    )
    assert con.execute("SELECT amount, is_return FROM transactions ORDER BY _row").fetchall() == [
        (40.0, False),
        (30.0, False),
        (25.0, False),
        (-5.0, False),
    ]
    assert account.value["return_lines"] == 0


def test_a_prefix_most_order_ids_carry_is_not_a_cancellation_mark(con, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "c_ids.csv",
        "customer_id,order_id,order_date,amount\nK1,C1001,2024-01-05,40\nK1,C1002,2024-01-09,30\n",
    )
    account = _load(con, path)
    assert account.value["return_lines"] == 0
    assert any("prefix rule not applied" in n for n in account.notes)
    # an order-level log keeps its columns (returns go by the sign of the amount)
    assert "is_return" not in {r[0] for r in con.execute("DESCRIBE transactions").fetchall()}


def test_non_product_lines_are_excluded_by_a_rule_and_reported(con, invoice_lines) -> None:
    account = _load(
        con,
        invoice_lines,
        exclude=[
            {"name": "postage and discounts", "column": "StockCode", "values": ["POST", "D"]},
            {"column": "Description", "pattern": "(?i).*flying ducks"},
        ],
    )
    assert account.quarantined == {
        "missing_customer_id": 2,
        "duplicate_row": 1,
        "excluded_line": 3,
    }
    assert account.excluded == {
        "postage and discounts": {"lines": 2, "value": -9.5},
        "Description ~ (?i).*flying ducks": {"lines": 1, "value": -4.65},
    }
    assert con.execute(
        "SELECT row, column_name, value FROM quarantine WHERE reason = 'excluded_line' ORDER BY row"
    ).fetchall() == [
        (8, "StockCode", "POST"),
        (10, "StockCode", "D"),
        (14, "Description", "SET OF 3 FLYING DUCKS"),
    ]
    assert account.value["purchases"] == 197.97 and account.value["return_lines"] == 0


def test_a_bad_exclusion_rule_is_one_config_error(con, invoice_lines, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="names column 'SKU'"):
        _load(con, invoice_lines, exclude=[{"column": "SKU", "values": ["POST"]}])
    with pytest.raises(ConfigError, match="not a valid pattern"):
        _load(con, invoice_lines, exclude=[{"column": "StockCode", "pattern": "(["}])
    config = tmp_path / "segmint.yaml"
    config.write_text("io:\n  exclude:\n    - {column: StockCode}\n")
    with pytest.raises(ConfigError, match="needs values or a pattern"):
        load_config(config)


def test_repeats_are_dropped_only_where_the_log_proves_them(
    con, invoice_lines, without_products
) -> None:
    account = _load(con, invoice_lines)
    assert account.duplicates == {
        "rows": 1,
        "value": 20.34,
        "proven": True,
        "proof": "product column 'StockCode'",
        "policy": "drop",
        "action": "quarantined",
    }
    assert con.execute("SELECT row FROM quarantine WHERE reason = 'duplicate_row'").fetchall() == [
        (4,)
    ]
    # the extract without products: the repeat and two hand warmers that now look alike
    account = _load(con, without_products)
    assert account.quarantined == {"missing_customer_id": 2}
    assert account.n_used == 13 and account.possible_duplicates == 2
    assert account.duplicates["rows"] == 2 and account.duplicates["value"] == 31.44
    assert account.duplicates["proven"] is False
    assert account.duplicates["action"] == "kept and flagged"
    assert account.flagged == {"possible_duplicate": 2}
    assert con.execute(
        "SELECT row FROM flagged WHERE reason = 'possible_duplicate' ORDER BY row"
    ).fetchall() == [(4,), (6,)]
    assert account.value["purchases"] == 236.31


def test_the_duplicate_policy_is_a_setting(con, invoice_lines) -> None:
    account = _load(con, invoice_lines, duplicates="keep")
    assert account.n_used == 13 and account.possible_duplicates == 1 and account.flagged == {}
    assert account.duplicates["action"] == "kept" and account.duplicates["value"] == 20.34
    account = _load(con, invoice_lines, duplicates="flag")
    assert account.n_used == 13 and account.flagged == {"duplicate_row": 1}
    with pytest.raises(ConfigError, match=r"io\.duplicates"):
        _load(con, invoice_lines, duplicates="remove")


def test_one_row_per_order_proves_repeats_and_no_order_id_does_not(con, tmp_path: Path) -> None:
    orders = _write(
        tmp_path,
        "orders.csv",
        "customer_id,order_id,order_date,amount\n"
        "C1,O1,2024-01-01,10\nC1,O2,2024-01-02,12\nC1,O1,2024-01-01,10\n",
    )
    account = _load(con, orders)
    assert account.quarantined == {"duplicate_row": 1}
    assert account.duplicates["proof"].startswith("one row per order")
    days = _write(
        tmp_path,
        "days.csv",
        "customer_id,order_date,amount\nC1,2024-01-01,10\nC1,2024-01-01,10\n",
    )
    account = _load(con, days)
    assert account.n_used == 2 and account.duplicates["proven"] is False
    assert account.duplicates["proof"].startswith("none: no order id")


def test_a_line_log_through_segmint_yaml(invoice_lines, tmp_path: Path) -> None:
    config = tmp_path / "segmint.yaml"
    config.write_text(
        "io:\n"
        "  duplicates: keep\n"
        "  returns: {order_prefix: null, negative_quantity: false}\n"
        "  exclude:\n"
        "    - {name: postage, column: StockCode, values: [POST]}\n"
    )
    options = load_config(config).io.transaction_options()
    con = duckdb.connect()
    account = _load(con, invoice_lines, **options)
    assert account.duplicates["action"] == "kept"
    assert account.excluded == {"postage": {"lines": 1, "value": 18.0}}
    # C536379 still a return: its value is negative (the prefix alone no longer says so)
    assert account.value["return_lines"] == 2
    assert not any("starts with 'C'" in n for n in account.notes)


def test_online_retail_figures_of_its_readme(tmp_path: Path) -> None:
    if not ONLINE_RETAIL.exists():
        pytest.fail(f"shared data missing: {ONLINE_RETAIL} (CI has ../shared beside the repo)")
    con = duckdb.connect()
    account = _load(con, ONLINE_RETAIL, duplicates="keep")
    assert account.n_read == 541_909
    assert account.quarantined == {"missing_customer_id": 135_080}
    assert account.value == {
        "purchase_lines": 397_924,
        "purchases": 8_911_407.90,
        "return_lines": 8_905,
        "returns": -611_342.09,
        "net": 8_300_065.81,
    }
    assert account.duplicates["rows"] == 5_225 and account.duplicates["proven"] is True
    assert account.missing_customer_id["value"] == round(9_747_747.93 - 8_300_065.81, 2)
    account = _load(con, ONLINE_RETAIL)  # default: proven repeats quarantined
    assert account.quarantined == {"missing_customer_id": 135_080, "duplicate_row": 5_225}
    # the same log without its product columns keeps its lines: flagged, not dropped
    extract = tmp_path / "extract.parquet"
    con.execute(
        f"COPY (SELECT * EXCLUDE (StockCode, Description) FROM read_parquet('{ONLINE_RETAIL}')) "
        f"TO '{extract}' (FORMAT parquet)"
    )
    account = _load(con, extract)
    assert account.quarantined == {"missing_customer_id": 135_080}
    assert account.n_used == 406_829 and account.possible_duplicates == 151_429
    assert account.duplicates["proven"] is False
    assert account.value["net"] == 8_300_065.81
