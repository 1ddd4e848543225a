"""Behavioural features of an invoice-line log: orders rolled up from lines, the basket, and
returns that never count as purchases (hand-computed values, through the real loader)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from segmint.features import build_features, plan_features
from segmint.io import load_transactions, map_columns, read_source

LOG = """InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID
536365,85123A,6,2010-12-01 08:26:00,2.55,17850
536365,71053,6,2010-12-01 08:26:00,3.39,17850
536365,71053,2,2010-12-01 08:26:00,3.39,17850
536366,22633,6,2010-12-03 08:28:00,1.85,17850
C536370,22633,-2,2010-12-05 09:00:00,1.85,17850
C536371,22634,-4,2010-12-06 09:00:00,0.00,17850
536372,22139,4,2010-12-07 09:45:00,4.95,14527
C536373,22139,-1,2010-12-08 09:45:00,0.00,15311
"""


def _features(tmp_path: Path, text: str) -> tuple[dict, list[str]]:
    path = tmp_path / "log.csv"
    path.write_text(text)
    con = duckdb.connect()
    raw = read_source(con, path, "raw_transactions")
    load_transactions(con, raw, map_columns(raw.columns, "transactions"))
    spec = plan_features(con)
    build_features(con, spec)
    frame = con.sql("SELECT * FROM features ORDER BY customer_id").df()
    return frame.set_index("customer_id").to_dict("index"), spec.names


def test_orders_are_rolled_up_from_lines_with_the_basket(tmp_path: Path) -> None:
    features, names = _features(tmp_path, LOG)
    assert names == [
        "recency_days",
        "frequency",
        "monetary",
        "tenure_days",
        "avg_order_value",
        "return_rate",
        "basket_size",
        "products_per_order",
    ]
    # 15311 returned a free line and bought nothing: not a customer to segment
    assert sorted(features) == ["14527", "17850"]
    a = features["17850"]
    assert a["frequency"] == 2  # two invoices; the two cancellations are not purchases
    first, second = 6 * 2.55 + 6 * 3.39 + 2 * 3.39, 6 * 1.85
    assert a["avg_order_value"] == pytest.approx((first + second) / 2)
    assert a["monetary"] == pytest.approx(first + second - 2 * 1.85)  # netted, free line 0
    assert a["return_rate"] == pytest.approx(2 / 2)  # C536371 is a return though free
    assert a["products_per_order"] == pytest.approx((2 + 1) / 2)
    assert a["basket_size"] == pytest.approx((14 + 6) / 2)
    assert a["recency_days"] == 6  # last purchase 2010-12-03, snapshot 2010-12-09
    assert features["14527"]["products_per_order"] == 1.0


def test_without_an_order_id_an_order_is_a_customer_at_one_timestamp(tmp_path: Path) -> None:
    log = LOG.replace("InvoiceNo,", "Ref,")  # not an order id by its name
    lines = [line.split(",", 1)[1] for line in log.splitlines()[1:]]
    text = "StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n" + "\n".join(lines) + "\n"
    text += "99999,1,2010-12-01 16:00:00,1.00,17850\n"  # the same day, later: another order
    features, names = _features(tmp_path, text)
    assert "products_per_order" in names
    a = features["17850"]
    assert a["frequency"] == 3
    assert a["products_per_order"] == pytest.approx((2 + 1 + 1) / 3)
