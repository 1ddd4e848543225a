"""Customers of the customer table with no purchase before the snapshot are reported, not lost
silently (issue 19.6): run.json's counts and reconciliation, the CLI summary, the report."""

from __future__ import annotations

import json
from pathlib import Path


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    tx = ["customer_id,date,amount"]
    for i in range(1, 61):  # purchases before the snapshot: segmented
        tx += [f"C{i},2024-0{1 + i % 4}-1{j},{10 + i * j}.50" for j in range(1 + i % 4)]
    tx += [f"C{i},2024-05-1{i % 10},20.00" for i in range(61, 66)]  # only after the snapshot
    (tmp_path / "tx.csv").write_text("\n".join(tx) + "\n")
    rows = ["customer_id,region"] + [f"C{i},r{i % 3}" for i in range(1, 81)]  # 66-80: none
    (tmp_path / "cust.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "segmint.yaml").write_text("snapshot_date: 2024-05-01\n")
    return tmp_path / "tx.csv", tmp_path / "cust.csv", tmp_path / "segmint.yaml"


def test_customers_without_purchase_are_counted_and_said(cli, tmp_path: Path) -> None:
    tx, cust, config = _files(tmp_path)
    out = tmp_path / "out"
    result = cli(
        "run", "--transactions", str(tx), "--customers", str(cust), "--config", str(config),
        "--out", str(out), "--method", "rfm",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["customers_segmented"] == 60
    assert run["counts"]["customers_without_purchase"] == 20
    rec = run["revenue_reconciliation"]
    assert rec["customers_without_purchase"] == 20
    assert rec["customers_without_transaction"] == 15
    sentence = (
        "20 customers of the customer table have no purchase before 2024-05-01 and are not "
        "segmented (15 of them have no transaction at all)."
    )
    assert sentence in " ".join(result.stdout.split())
    assert sentence in (out / "report.html").read_text()
    customers = next(a for a in run["row_accounting"] if a["role"] == "customers")
    assert customers["used"] == 80  # used rows, of which 20 appear in no segment


def test_no_customer_table_no_count(cli, tmp_path: Path) -> None:
    tx, _, _ = _files(tmp_path)
    out = tmp_path / "out"
    result = cli("run", "--transactions", str(tx), "--out", str(out), "--method", "rfm")
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["customers_without_purchase"] is None
    assert "customer table" not in result.stdout
