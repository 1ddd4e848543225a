"""Hostile text in paths and identifiers: no SQL injection, no live formulas in CSV outputs.

Issue 19 items 1 and 2. A run into a folder whose name closes a SQL string and appends a
statement must write its outputs there and run nothing else; identifiers that a spreadsheet
would run as formulas (``=HYPERLINK(...)``, ``+1+1``, ``@SUM(...)``) are written to every CSV as
text (prefixed ``'``), while plain numbers such as ``-123`` and the Parquet files are unchanged.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

HOSTILE_IDS = ['=HYPERLINK("http://x.example","click")', "+1+1", "@SUM(1,2)", "-123", "\tTAB"]


def _log(tmp: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(4)
    n = 240
    ids = np.array([f"c{i:03d}" for i in range(n)], dtype=object)
    ids[: len(HOSTILE_IDS)] = HOSTILE_IDS
    orders = 1 + rng.poisson(3.0, n)
    who = np.repeat(np.arange(n), orders)
    day = rng.integers(0, 700, who.size)
    tx = pd.DataFrame(
        {
            "customer_id": ids[who],
            "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(day, unit="D"),
            "amount": rng.gamma(2.0, 40.0, who.size).round(2),
        }
    )
    customers = pd.DataFrame(
        {"customer_id": ids, "email": [f"u{i}@example.com" for i in range(n)]}
    ).assign(email_consent=True)
    tx_path, cust_path = tmp / "tx.csv", tmp / "customers.csv"
    tx.to_csv(tx_path, index=False)
    customers.to_csv(cust_path, index=False)
    return tx_path, cust_path


def _csv_ids(path: Path) -> set[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["customer_id"] for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, cli) -> dict:
    tmp = tmp_path_factory.mktemp("hostile")
    tx, customers = _log(tmp)
    out = tmp / "x'; COPY (SELECT 42) TO 'pwned.csv'; SELECT '-- ;"
    result = cli(
        "run",
        "--transactions",
        str(tx),
        "--customers",
        str(customers),
        "--out",
        str(out),
        "--k",
        "3",
        cwd=tmp,
    )
    return {"tmp": tmp, "out": out, "result": result, "tx": tx, "customers": customers}


def test_an_output_path_cannot_inject_sql(hostile_run: dict) -> None:
    result, tmp, out = hostile_run["result"], hostile_run["tmp"], hostile_run["out"]
    assert result.returncode == 0, result.stderr
    assert (out / "run.json").is_file() and (out / "segments.csv").is_file()
    assert not list(tmp.rglob("pwned.csv")), "the injected COPY ran"
    assert not list(Path.cwd().glob("pwned.csv"))


def test_run_csvs_are_spreadsheet_safe(hostile_run: dict) -> None:
    out = hostile_run["out"]
    ids = _csv_ids(out / "segments.csv")
    assert '\'=HYPERLINK("http://x.example","click")' in ids
    assert {"'+1+1", "'@SUM(1,2)", "'\tTAB"} <= ids
    assert "-123" in ids  # a plain number is not a formula
    assert not {i for i in ids if i.startswith(("=", "+", "@", "\t"))}
    # Parquet keeps the identifiers exactly
    assert set(HOSTILE_IDS) <= set(pd.read_parquet(out / "segments.parquet")["customer_id"])


def test_export_and_score_csvs_are_safe_unless_raw(hostile_run: dict, cli) -> None:
    out, tmp = hostile_run["out"], hostile_run["tmp"]
    safe, raw = tmp / "audience.csv", tmp / "audience_raw.csv"
    for target, extra in ((safe, []), (raw, ["--raw-csv"])):
        result = cli("export", "--run", str(out), "--channel", "email", "--to", str(target), *extra)
        assert result.returncode == 0, result.stderr
    assert "'+1+1" in _csv_ids(safe) and "+1+1" not in _csv_ids(safe)
    assert "+1+1" in _csv_ids(raw) and "'+1+1" not in _csv_ids(raw)
    scored = tmp / "scored.csv"
    result = cli(
        "score", "--model", str(out), "--input", str(hostile_run["tx"]), "--out", str(scored)
    )
    assert result.returncode == 0, result.stderr
    ids = _csv_ids(scored)
    assert "'@SUM(1,2)" in ids and "-123" in ids


def _one_line_error(result, *expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for text in expected:
        assert text in errors[0], errors[0]


def test_history_on_a_damaged_store_is_one_line(hostile_run: dict, cli, tmp_path: Path) -> None:
    damaged = tmp_path / "segmint.duckdb"
    damaged.write_bytes(np.random.default_rng(0).bytes(8192))
    _one_line_error(cli("history", "--store", str(damaged)), "not a readable segmint run store")
    _one_line_error(cli("history", "--store", str(tmp_path / "none.duckdb")), "run store not found")
    # a real DuckDB file without the run tables
    import duckdb

    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    _one_line_error(cli("history", "--store", str(other)), "not a readable segmint run store")
    # the real store still answers
    assert cli("history", "--store", str(hostile_run["out"])).returncode == 0


def _reseal_sha256(doc: dict) -> dict:
    """What an attacker without the key can do: edit, then recompute the plain SHA-256."""
    from segmint.activate._model import content_hash

    doc = {k: v for k, v in doc.items() if k != "integrity"} | {"integrity": {}}
    integrity = {"algorithm": "sha256", "content_sha256": content_hash(doc)}
    return doc | {"integrity": integrity}


def test_a_resealed_model_with_cut_centres_is_refused(hostile_run: dict, tmp_path: Path) -> None:
    from segmint.activate._model import load_model
    from segmint.exceptions import ModelError

    doc = json.loads((hostile_run["out"] / "model.json").read_text())
    assert len(doc["segments"]) == 3
    doc["segmenter"]["cluster_centers"] = doc["segmenter"]["cluster_centers"][:1]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(_reseal_sha256(doc)))
    with pytest.raises(ModelError, match="1 segment centre"):
        load_model(path)


def test_models_signed_with_a_key_refuse_forgeries(
    hostile_run: dict, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segmint.activate._model import load_model, save_model
    from segmint.exceptions import ModelError

    content = json.loads((hostile_run["out"] / "model.json").read_text())
    unsigned = tmp_path / "unsigned.json"
    unsigned.write_text(json.dumps(content))
    monkeypatch.setenv("SEGMINT_MODEL_KEY", "k" * 32)
    signed = save_model(content, tmp_path / "signed.json")
    doc = json.loads(signed.read_text())
    assert len(doc["integrity"]["hmac_sha256"]) == 64
    assert load_model(signed).names  # the right key verifies
    forged = dict(doc, segments=[dict(s, name=f"Forged {s['id']}") for s in doc["segments"]])
    forged = _reseal_sha256(forged) | {
        "integrity": _reseal_sha256(forged)["integrity"]
        | {"hmac_sha256": doc["integrity"]["hmac_sha256"]}
    }
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    with pytest.raises(ModelError, match="signature check failed"):
        load_model(tmp_path / "forged.json")
    with pytest.raises(ModelError, match="not signed"):
        load_model(unsigned)
    monkeypatch.setenv("SEGMINT_MODEL_KEY", "another-key-of-32-characters!!!!")
    with pytest.raises(ModelError, match="signature check failed"):
        load_model(signed)
    # the command line refuses it in one line
    result = cli(
        "score",
        "--model",
        str(tmp_path / "forged.json"),
        "--input",
        str(hostile_run["tx"]),
        "--out",
        str(tmp_path / "s.csv"),
    )
    _one_line_error(result, "signature check failed")
    assert not (tmp_path / "s.csv").exists()
    monkeypatch.delenv("SEGMINT_MODEL_KEY")
    assert load_model(signed).names  # without the key: the SHA-256 is checked, with a warning


def test_monitor_reads_new_data_with_the_runs_io_settings(cli, tmp_path: Path) -> None:
    """A run made with io: encoding/delimiter; monitor reads the new log the same way."""
    tx, _ = _log(tmp_path)
    frame = pd.read_csv(tx)
    # latin-1 text with more commas than the row has semicolons: sniffing would pick ","
    frame["note"] = "Grüße aus Köln, Bonn, Aachen, Essen, Düren, Jülich"
    german = tmp_path / "german.csv"
    german.write_bytes(frame.to_csv(sep=";", index=False).encode("latin-1"))
    config = tmp_path / "segmint.yaml"
    # the exclusion removes every line of the customers c000-c009 (a test account range)
    config.write_text(
        "io:\n  encoding: latin-1\n  delimiter: ';'\n"
        "  exclude:\n    - {column: customer_id, pattern: 'c00[0-9]', name: test accounts}\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    result = cli("run", "--transactions", str(german), "--config", str(config), "--out", str(out))
    assert result.returncode == 0, result.stderr
    # monitor without --config: the settings the run recorded in run.json
    result = cli("monitor", "--model", str(out), "--input", str(german), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "Traceback" not in result.stderr
    # 240 customers: c000-c004 carry the hostile ids, so the rule removes c005-c009
    assert report["current"]["customers"] == report["baseline"]["customers"] == 240 - 5
