"""``inspect_source`` and ``segmint inspect``: what segmint sees in a file, writing nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from segmint.io import inspect_source

SHARED = Path(
    os.environ.get("SEGMINT_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
CDNOW_SAMPLE = SHARED / "cdnow" / "CDNOW_sample.txt"

CDNOW_CONFIG = """\
mapping:
  transactions: {customer_id: column_1, order_date: column_3, quantity: column_4, amount: column_5}
"""


@pytest.fixture(scope="module")
def cdnow_sample() -> Path:
    if not CDNOW_SAMPLE.exists():
        pytest.fail(f"shared data missing: {CDNOW_SAMPLE} (CI has ../shared beside the repo)")
    return CDNOW_SAMPLE


def test_cdnow_sample_is_mapped_with_the_config(cdnow_sample: Path, tmp_path: Path) -> None:
    lines = [line.split() for line in cdnow_sample.read_text().splitlines() if line.strip()]
    result = inspect_source(
        cdnow_sample,
        mapping={
            "transactions": {
                "customer_id": "column_1",
                "order_date": "column_3",
                "quantity": "column_4",
                "amount": "column_5",
            }
        },
    )
    assert (result["format"], result["header"], result["rows"]) == ("whitespace", False, len(lines))
    assert [c["name"] for c in result["columns"]] == [f"column_{i}" for i in range(1, 6)]
    assert (result["role"], result["role_source"]) == ("transactions", "config")
    assert {f: m["column"] for f, m in result["mapping"].items()} == {
        "customer_id": "column_1",
        "order_date": "column_3",
        "quantity": "column_4",
        "amount": "column_5",
    }
    assert all(
        m["confidence"] == 1.0 and m["source"] == "config" for m in result["mapping"].values()
    )
    assert result["date_format"] == "%Y%m%d"
    problems = result["problems"]
    assert problems["read"] == len(lines) == problems["used"] + problems["quarantined"]
    assert problems["quarantined"] == 0
    # without the mapping no role fits the generic column names, and inspect says so
    bare = inspect_source(cdnow_sample)
    assert bare["role"] is None and "no role fits" in bare["error"]


def test_segmint_inspect_cli_on_cdnow(cdnow_sample: Path, tmp_path: Path, segmint_cli) -> None:
    config = tmp_path / "segmint.yaml"
    config.write_text(CDNOW_CONFIG)
    before = sorted(os.listdir(tmp_path))
    result = segmint_cli("inspect", str(cdnow_sample), "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["role"] == "transactions" and data["mapping"]["amount"]["column"] == "column_5"
    assert data["problems"]["quarantined_by_reason"] == {}
    table = segmint_cli("inspect", str(cdnow_sample), "--config", str(config))
    assert table.returncode == 0, table.stderr
    assert "customer_id" in table.stdout and "1.0 config" in table.stdout
    assert "read 6,919 = used 6,919 + quarantined 0" in table.stdout
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


def test_inspect_counts_problems_per_reason_with_first_rows(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "Kunde;Bestellnummer;Datum;Umsatz\n"
        "K1;B1;01.02.2024;10,50\n"
        "K2;B2;kein Datum;3,20\n"
        ";B3;03.02.2024;1,00\n"
        "K3;B4;04.02.2024;abc\n"
        "K4;B5;05.02.2024\n"
        "K5;B6;06.02.2024;7,70\n"
    )
    result = inspect_source(path)
    assert (result["delimiter"], result["role"], result["role_source"]) == (
        ";",
        "transactions",
        "guessed",
    )
    assert result["mapping"]["customer_id"] == {
        "column": "Kunde",
        "confidence": 0.9,
        "source": "synonym",
        "required": True,
        "alternatives": [],
    }
    problems = result["problems"]
    assert problems["read"] == 6 and problems["used"] == 2
    assert problems["quarantined_by_reason"] == {
        "malformed_line": 1,
        "missing_customer_id": 1,
        "unparseable_amount": 1,
        "unparseable_date": 1,
    }
    assert problems["first_rows"]["unparseable_date"] == [2]
    assert problems["first_rows"]["malformed_line"] == [5]
    types = {c["name"]: c["type"] for c in result["columns"]}
    assert types["Umsatz"] == "double (decimal comma)"
    assert result["date_format"] == "%d.%m.%Y"


def test_inspect_missing_required_field_names_it(tmp_path: Path, segmint_cli) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,order_date,colour\nC1,2024-01-01,red\n")
    result = inspect_source(path, role="transactions")
    assert result["missing_required"] == ["amount"]
    assert "no column found for amount" in result["error"]
    cli = segmint_cli("inspect", str(path), "--role", "transactions")
    assert cli.returncode == 2
    assert cli.stderr.startswith("error: ") and "no column found for amount" in cli.stderr


def test_inspect_postgres_table(pg_server, segmint_cli) -> None:
    with pg_server.connect() as pg:
        pg.execute("DROP TABLE IF EXISTS crm")
        pg.execute("CREATE TABLE crm (customer_id text, age int, email text)")
        pg.execute(
            "INSERT INTO crm VALUES ('C1', 30, 'a@example.org'), ('C2', 200, 'b@example.org')"
        )
    result = segmint_cli("inspect", f"{pg_server.url()}#crm", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["format"] == "sql" and data["role"] == "customers"
    assert data["problems"]["quarantined_by_reason"] == {"impossible_age": 1}
