"""Privacy by default in quarantine.parquet, and --hash-ids covering phone numbers (issue 19.5).

Real files in tmp_path, the real command line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from segmint.io import personal_columns


def _files(tmp_path: Path) -> tuple[Path, Path]:
    tx = ["customer_id,date,amount"]
    for i in range(1, 41):
        tx += [f"C{i},2024-0{1 + i % 5}-1{j},{10 + i * j}.50" for j in range(1 + i % 4)]
    tx += ["C999,2024-03-01,10.00", "C1,2024-03-01,10.00,extra,ann@x.org"]
    (tmp_path / "tx.csv").write_text("\n".join(tx) + "\n")
    rows = ["customer_id,email,Phone Number,first_name,last_name,street_address,city"]
    rows += [
        f"C{i},p{i}@mail.com,+44 20 7946 {i:04d},Ann{i},Smith{i},{i} High St,London"
        for i in range(1, 41)
    ]
    rows += [
        ",lost@mail.com,+44 20 7946 9999,Bob,Jones,1 Low St,Leeds",
        "C5,dup@mail.com,+44 (20) 7946-8888,Carl,Dup,2 Low St,Leeds",
    ]
    (tmp_path / "cust.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "tx.csv", tmp_path / "cust.csv"


def _run(cli, tmp_path: Path, *extra: str) -> pd.DataFrame:
    tx, cust = _files(tmp_path)
    out = tmp_path / "out"
    args = ["run", "--transactions", str(tx), "--customers", str(cust), "--out", str(out)]
    result = cli(*args, "--method", "rfm", *extra)
    assert result.returncode == 0, result.stderr
    return pd.read_parquet(out / "quarantine.parquet")


def _records(q: pd.DataFrame, role: str) -> list[dict]:
    return [json.loads(r) for r in q.loc[q["role"] == role, "record"]]


def test_pii_scanner_names_personal_columns() -> None:
    personal = ["email", "Phone Number", "mobile", "first_name", "LastName", "name"]
    other = ["product_name", "city", "hotel", "amount", "customer_id"]
    found = personal_columns([*personal, "street_address", "zip", *other])
    assert found == {
        "email": "email",
        "Phone Number": "phone",
        "mobile": "phone",
        "first_name": "name",
        "LastName": "name",
        "name": "name",
        "street_address": "address",
        "zip": "address",
    }


def test_quarantine_hashes_personal_data_by_default(cli, tmp_path: Path) -> None:
    q = _run(cli, tmp_path)
    assert sorted(q["reason"]) == [
        "duplicate_customer_id",
        "malformed_line",
        "missing_customer_id",
        "unknown_customer",
    ]
    text = q.to_json()
    for raw in ("lost@mail.com", "dup@mail.com", "9999", "Bob", "Jones", "Low St", "ann@x.org"):
        assert raw not in text
    customers = _records(q, "customers")
    assert len(customers) == 2
    for record in customers:
        for column in ("email", "Phone Number", "first_name", "last_name", "street_address"):
            assert len(record[column]) == 64  # a SHA-256 in hex
        assert record["city"] == "Leeds"  # not identifying: kept as read
    # source, row, reason and column stay
    assert q[["source", "row", "reason"]].notna().all().all()
    malformed = q[q["reason"] == "malformed_line"]
    assert "line_sha256" in json.loads(malformed["record"].iloc[0])


def test_keep_raw_quarantine_keeps_the_records(cli, tmp_path: Path) -> None:
    q = _run(cli, tmp_path, "--keep-raw-quarantine")
    by_email = {r["email"]: r for r in _records(q, "customers")}
    assert by_email["lost@mail.com"]["first_name"] == "Bob"
    assert by_email["dup@mail.com"]["Phone Number"] == "+44 (20) 7946-8888"
    assert "ann@x.org" in q.to_json()


def test_hash_ids_hashes_phone_numbers_with_the_salt(cli, tmp_path: Path) -> None:
    q = _run(cli, tmp_path, "--hash-ids", "--salt", "s3cret")
    salted = hashlib.sha256(b"s3cret+442079468888").hexdigest()  # digits and + only
    phones = {r["Phone Number"] for r in _records(q, "customers")}
    assert salted in phones
    assert "C5" not in q.to_json()  # ids hashed too
    customers = pd.read_parquet(tmp_path / "out" / "segments.parquet")["customer_id"]
    assert customers.str.fullmatch("[0-9a-f]{64}").all()
