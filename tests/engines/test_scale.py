"""The scalable generator: bounded chunks, about n / 20 customers, planted behaviour."""

from __future__ import annotations

import duckdb
import pytest

from segmint.datasets import _scale, make_transactions_at_scale


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("scale") / "tx.parquet"
    return make_transactions_at_scale(60_000, 3, path)


def test_writes_every_row_in_chunks_with_about_one_customer_per_twenty_rows(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(_scale, "CHUNK_ROWS", 7_000)  # several chunks, one file
    path = make_transactions_at_scale(20_000, 3, tmp_path / "tx.parquet")
    n, customers, orders = duckdb.sql(
        f"SELECT count(*), count(DISTINCT customer_id), count(DISTINCT order_id) FROM '{path}'"
    ).fetchall()[0]
    assert n == orders == 20_000
    assert 900 <= customers <= 1000
    assert not list(tmp_path.glob(".*partial"))


def test_same_seed_same_file(log, tmp_path) -> None:
    again = make_transactions_at_scale(60_000, 3, tmp_path / "again.parquet")
    assert duckdb.sql(
        f"SELECT count(*) FROM (SELECT * FROM '{log}' EXCEPT ALL SELECT * FROM '{again}')"
    ).fetchall() == [(0,)]


def test_segments_are_planted_in_behaviour(log) -> None:
    # customers are numbered by segment: the first ~18% are the app loyalists, the lapsed big
    # spenders stop buying early, the new explorers only buy in the last months
    rows = duckdb.sql(f"""
        SELECT CAST(substr(customer_id, 2) AS INTEGER) * 1.0 / 3000 AS position,
               order_date, amount, channel FROM '{log}'
    """)
    loyal_app = rows.filter("position < 0.18").aggregate("avg((channel = 'app')::INT)")
    lapsed = rows.filter("position BETWEEN 0.43 AND 0.55").aggregate("max(order_date)")
    new = rows.filter("position BETWEEN 0.57 AND 0.71").aggregate("min(order_date)")
    assert loyal_app.fetchall()[0][0] > 0.7
    assert str(lapsed.fetchall()[0][0]) < "2023-08-10"
    assert str(new.fetchall()[0][0]) > "2024-08-01"
    assert rows.aggregate("avg((amount < 0)::INT)").fetchall()[0][0] < 0.1


def test_refuses_an_empty_log(tmp_path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        make_transactions_at_scale(0, 1, tmp_path / "x.parquet")
