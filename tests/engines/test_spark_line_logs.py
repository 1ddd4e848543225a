"""Invoice-line logs on Spark as on DuckDB: line values, returns, exclusions, repeats, features.

The fixture is a small log shaped like UCI Online Retail (InvoiceNo with ``C`` cancellations,
StockCode, Quantity with negatives, InvoiceDate, UnitPrice, CustomerID with gaps, an exact
repeat line, a POST line), written as Parquet (typed) and as CSV (text).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmint.config import ExcludeConfig
from segmint.exceptions import ConfigError

pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)

# InvoiceNo, StockCode, Quantity, InvoiceDate, UnitPrice, CustomerID
LINES = [
    ("536365", "85123A", 6, "2010-12-01 08:26:00", 2.55, 17850),  # 15.30
    ("536365", "71053", 6, "2010-12-01 08:26:00", 3.39, 17850),  # 20.34
    ("536365", "71053", 6, "2010-12-01 08:26:00", 3.39, 17850),  # the same line again
    ("536366", "POST", 1, "2010-12-01 09:00:00", 18.00, 17850),  # postage: not a product
    ("C536379", "85123A", -2, "2010-12-02 10:00:00", 2.55, 17850),  # cancellation -5.10
    ("536370", "22728", 24, "2010-12-01 08:45:00", 3.75, 12583),  # 90.00
    ("536370", "22727", 12, "2010-12-01 08:45:00", 3.75, 12583),  # 45.00
    ("536371", "22086", 80, "2010-12-03 09:00:00", 2.55, None),  # 204.00, no customer
    ("536372", "22632", 6, "2010-12-05 11:00:00", 1.85, 12583),  # 11.10
    ("536373", "21730", -3, "2010-12-06 12:00:00", 4.25, 13047),  # adjustment -12.75
    ("536374", "22752", 2, "2010-12-06 12:30:00", 7.65, 13047),  # 15.30
    ("536375", "84029G", 6, "2010-12-07 13:00:00", 3.39, 13047),  # 20.34
    ("C536380", "22632", -1, "2010-12-08 14:00:00", 1.85, None),  # -1.85, no customer
    ("536376", "21754", 3, "2011-01-10 15:00:00", 5.95, 17850),  # 17.85
    ("536377", "22111", 8, "2011-02-10 16:00:00", 4.25, 12583),  # 34.00
]
COLUMNS = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]
POSTAGE = ExcludeConfig(name="postage", column="StockCode", values=["POST"])


def _frame() -> pd.DataFrame:
    frame = pd.DataFrame(LINES, columns=COLUMNS)
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    frame["CustomerID"] = frame["CustomerID"].astype("Int64")
    return frame


@pytest.fixture(params=["parquet", "csv"])
def line_log(request, tmp_path: Path) -> Path:
    path = tmp_path / f"invoice_lines.{request.param}"
    if request.param == "parquet":
        _frame().to_parquet(path, index=False)
    else:
        _frame().to_csv(path, index=False, date_format="%Y-%m-%d %H:%M:%S")
    return path


def _config(config_for, engine: str, **io):
    config = config_for(engine)
    config.snapshot_date = date(2011, 3, 1)
    config.features.clv = False
    config.io = config.io.model_copy(update=io)
    return config


def test_line_log_accounting_is_the_same_on_both_engines(
    config_for, both_engines, line_log
) -> None:
    accounts = {}
    for engine in both_engines:
        config = _config(config_for, engine.name, exclude=[POSTAGE])
        loaded = engine.ingest(line_log, config)
        accounts[engine.name] = loaded.account.to_dict()
        if engine.name == "duckdb":
            duck_rows = loaded.transactions
        else:
            spark_rows = loaded.transactions
    duck, on_spark = accounts["duckdb"], accounts["spark"]
    assert on_spark == duck
    assert (duck["read"], duck["used"], duck["quarantined"]) == (15, 11, 4)
    assert duck["quarantined_by_reason"] == {
        "duplicate_row": 1,
        "excluded_line": 1,
        "missing_customer_id": 2,
    }
    assert duck["mapping"]["amount"] == "Quantity × UnitPrice"
    assert duck["value"] == {
        "purchase_lines": 9,
        "purchases": 269.23,
        "return_lines": 2,
        "returns": -17.85,
        "net": 251.38,
    }
    assert duck["duplicates"] == {
        "rows": 1,
        "value": 20.34,
        "proven": True,
        "proof": "product column 'StockCode'",
        "policy": "drop",
        "action": "quarantined",
    }
    assert duck["excluded"] == {"postage": {"lines": 1, "value": 18.0}}
    assert duck["missing_customer_id"] == {
        "lines": 2,
        "value": 202.15,
        "value_share": round(202.15 / 491.87, 6),
    }
    assert any(
        "2 line(s) whose InvoiceNo starts with 'C' read as cancellations" in n
        for n in duck["notes"]
    )
    # the same rows, columns and values (returns negative, is_return set)
    assert list(spark_rows.columns) == list(duck_rows.columns)
    assert spark_rows["_row"].tolist() == [1, 2, 5, 6, 7, 9, 10, 11, 12, 14, 15]
    assert spark_rows["_row"].tolist() == duck_rows["_row"].tolist()
    assert spark_rows["is_return"].tolist() == duck_rows["is_return"].tolist()
    np.testing.assert_allclose(spark_rows["amount"], duck_rows["amount"], rtol=1e-12)
    assert spark_rows.loc[spark_rows["_row"] == 10, "amount"].item() == pytest.approx(-12.75)


@pytest.mark.parametrize(
    ("policy", "used", "flagged", "action"),
    [("keep", 12, {}, "kept"), ("flag", 12, {"duplicate_row": 1}, "kept and flagged")],
)
def test_duplicate_policies_agree(
    config_for, both_engines, tmp_path, policy, used, flagged, action
) -> None:
    path = tmp_path / "invoice_lines.parquet"
    _frame().to_parquet(path, index=False)
    accounts = {}
    for engine in both_engines:
        config = _config(config_for, engine.name, exclude=[POSTAGE], duplicates=policy)
        accounts[engine.name] = engine.ingest(path, config).account.to_dict()
    assert accounts["spark"] == accounts["duckdb"]
    account = accounts["spark"]
    assert account["used"] == used
    assert account["flagged"] == flagged
    assert account["possible_duplicates"] == 1
    assert account["duplicates"]["action"] == action
    assert account["value"]["net"] == pytest.approx(251.38 + 20.34)


def test_repeats_in_a_log_without_products_are_kept_and_flagged(
    config_for, both_engines, tmp_path
) -> None:
    path = tmp_path / "no_products.parquet"
    _frame().drop(columns="StockCode").to_parquet(path, index=False)
    accounts = {}
    for engine in both_engines:
        accounts[engine.name] = engine.ingest(path, _config(config_for, engine.name)).account
    assert accounts["spark"].to_dict() == accounts["duckdb"].to_dict()
    account = accounts["spark"]
    assert account.flagged == {"possible_duplicate": 1}
    assert account.duplicates["proven"] is False
    assert (account.n_read, account.n_used) == (15, 13)  # the POST line is kept: no rule


def test_per_customer_features_agree(config_for, spark, tmp_path) -> None:
    from segmint.engines import SparkRun
    from segmint.features._behavioural import build_features, plan_features
    from segmint.io import ingest_source

    path = tmp_path / "invoice_lines.parquet"
    _frame().to_parquet(path, index=False)
    config = _config(config_for, "duckdb", exclude=[POSTAGE])
    con = duckdb.connect()
    ingest_source(con, path, "transactions", **config.io.transaction_options())
    spec = plan_features(con, config.snapshot_date)
    spec.features = [f for f in spec.features if f.basis in config.bases]
    build_features(con, spec)
    duck = con.sql("SELECT * FROM features ORDER BY customer_id").df()

    config = _config(config_for, "spark", exclude=[POSTAGE])
    con = duckdb.connect()
    run = SparkRun(config.spark, tmp_path / "spark", spark=spark)
    run.ingest(con, path, customers=None, config=config)
    _, features = run.features(con, config)
    assert list(features.columns) == list(duck.columns)
    assert features["customer_id"].tolist() == ["12583", "13047", "17850"]
    assert features["customer_id"].tolist() == duck["customer_id"].tolist()
    for column in duck.columns.drop("customer_id"):
        np.testing.assert_allclose(
            features[column].to_numpy(float),
            duck[column].to_numpy(float),
            rtol=1e-9,
            atol=1e-9,
            equal_nan=True,
            err_msg=column,
        )
    monetary = dict(zip(features["customer_id"], features["monetary"], strict=True))
    # 17850: 15.30 + 20.34 + 17.85 bought, 5.10 cancelled
    assert monetary["17850"] == pytest.approx(15.30 + 20.34 + 17.85 - 5.10)


def test_an_exclude_rule_on_a_missing_column_is_one_config_error(
    config_for, both_engines, tmp_path
) -> None:
    path = tmp_path / "invoice_lines.parquet"
    _frame().to_parquet(path, index=False)
    rule = ExcludeConfig(column="ProductCode", values=["POST"])
    with pytest.raises(ConfigError, match="names column 'ProductCode'"):
        both_engines[1].ingest(path, _config(config_for, "spark", exclude=[rule]))
