"""`segmint run` with further tables (events, survey, ...) and non-transaction bases, through
the real command line: row accounting per source, features of the chosen bases, a model that
`segmint score` reproduces with the same tables, clear refusals, and --hash-ids."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from segmint.datasets import make_retail

FAST = "segmentation:\n  k: 4\n  n_init: 3\n  stability_resamples: 0\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_retail(2000, seed=7).write(tmp_path_factory.mktemp("sources") / "data")


def _rows(path: Path) -> int:
    """Data rows of a CSV, counted independently of segmint."""
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def _config(folder: Path, bases: str, extra: str = FAST) -> Path:
    path = folder / "segmint.yaml"
    path.write_text(f"bases: [{bases}]\n{extra}", encoding="utf-8")
    return path


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert lines and lines[0].startswith("error:"), stderr
    return lines[0]


@pytest.fixture(scope="module")
def tech_needs_run(cli, data, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tech_needs")
    config = _config(root, "behavioural, value, technographic, needs")
    out = root / "run"
    result = cli(
        "run",
        "--transactions",
        str(data["transactions"]),
        "--events",
        str(data["events"]),
        "--survey",
        str(data["survey"]),
        "--config",
        str(config),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    return out


def test_features_of_the_chosen_bases(tech_needs_run):
    model = json.loads((tech_needs_run / "model.json").read_text())
    bases = {f["name"]: f["basis"] for f in model["features"]["features"]}
    features = pd.read_parquet(tech_needs_run / "features.parquet")
    assert {"technographic", "needs", "behavioural", "value"} <= set(bases.values())
    for basis in ("technographic", "needs"):
        names = [n for n, b in bases.items() if b == basis]
        assert names and set(names) <= set(features.columns)
    assert features.drop(columns="customer_id").notna().all().all()
    assert len(features) == len(pd.read_csv(tech_needs_run / "segments.csv"))


def test_every_source_accounted(tech_needs_run, data):
    run = json.loads((tech_needs_run / "run.json").read_text())
    accounts = {a["role"]: a for a in run["row_accounting"]}
    assert set(accounts) == {"transactions", "events", "survey"}
    for role, account in accounts.items():
        assert account["read"] == _rows(data[role]), role
        assert account["read"] == account["used"] + account["quarantined"], role
    report = (tech_needs_run / "report.html").read_text(encoding="utf-8")
    assert "events.csv" in report and "survey.csv" in report


def test_score_reproduces_the_run(cli, tech_needs_run, data, tmp_path):
    out = tmp_path / "scored.csv"
    result = cli(
        "score",
        "--model",
        str(tech_needs_run),
        "--input",
        str(data["transactions"]),
        "--events",
        str(data["events"]),
        "--survey",
        str(data["survey"]),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    run = pd.read_csv(tech_needs_run / "segments.csv", dtype={"customer_id": str})
    scored = pd.read_csv(out, dtype={"customer_id": str})
    assert sorted(scored["customer_id"]) == sorted(run["customer_id"])
    both = run.merge(scored, on="customer_id", suffixes=("_run", "_score"))
    assert len(both) == len(run)
    assert (both["segment_id_run"] == both["segment_id_score"]).all()


def test_score_without_a_table_the_model_needs(cli, tech_needs_run, data, tmp_path):
    result = cli(
        "score",
        "--model",
        str(tech_needs_run),
        "--input",
        str(data["transactions"]),
        "--events",
        str(data["events"]),
        "--out",
        str(tmp_path / "scored.csv"),
    )
    assert result.returncode == 2
    line = _error_line(result.stderr)
    assert "survey" in line and "not given" in line
    assert "--survey" in result.stderr
    assert not (tmp_path / "scored.csv").exists()


def test_basis_without_its_table(cli, data, tmp_path):
    config = _config(tmp_path, "technographic")
    result = cli(
        "run",
        "--transactions",
        str(data["transactions"]),
        "--config",
        str(config),
        "--out",
        str(tmp_path / "run"),
    )
    assert result.returncode == 2
    line = _error_line(result.stderr)
    assert "technographic" in line and "events" in line
    assert not (tmp_path / "run" / "segments.csv").exists()


def test_spark_refuses_other_bases(cli, data, tmp_path):
    config = _config(tmp_path, "behavioural, value, technographic")
    result = cli(
        "run",
        "--transactions",
        str(data["transactions"]),
        "--events",
        str(data["events"]),
        "--config",
        str(config),
        "--engine",
        "spark",
        "--out",
        str(tmp_path / "run"),
    )
    assert result.returncode == 2
    assert "Spark engine computes the transaction bases only" in _error_line(result.stderr)


def test_kmeans_with_categorical_features_is_refused(cli, data, tmp_path):
    config = _config(tmp_path, "behavioural, demographic", FAST + "  method: kmeans\n")
    result = cli(
        "run",
        "--transactions",
        str(data["transactions"]),
        "--customers",
        str(data["customers"]),
        "--config",
        str(config),
        "--out",
        str(tmp_path / "run"),
    )
    assert result.returncode == 2
    line = _error_line(result.stderr)
    assert "kmeans" in line and "categorical" in line


def test_hash_ids_without_salt(cli, data, tmp_path, monkeypatch):
    monkeypatch.delenv("SEGMINT_SALT", raising=False)
    result = cli(
        "run",
        "--transactions",
        str(data["transactions"]),
        "--hash-ids",
        "--out",
        str(tmp_path / "run"),
    )
    assert result.returncode == 2
    assert "salt" in _error_line(result.stderr)


def test_hash_ids_no_raw_id_in_any_output(cli, data, tmp_path):
    config = _config(tmp_path, "behavioural, value, technographic, needs")
    out = tmp_path / "run"
    result = cli(
        "run",
        "--transactions",
        str(data["transactions"]),
        "--customers",
        str(data["customers"]),
        "--events",
        str(data["events"]),
        "--survey",
        str(data["survey"]),
        "--config",
        str(config),
        "--hash-ids",
        "--salt",
        "s3cret-salt",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    ids = pd.read_csv(data["customers"], dtype=str)["customer_id"]
    sample = ids.sample(50, random_state=1).tolist() + ids.head(5).tolist()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"segments.csv", "features.parquet", "run.json"}
    for path in files:
        content = path.read_bytes()
        for raw in sample:
            assert raw.encode() not in content, f"{raw} in {path.name}"
    segments = pd.read_csv(out / "segments.csv", dtype=str)
    assert segments["customer_id"].str.fullmatch(r"[0-9a-f]{64}").all()


def test_segments_on_other_bases_are_still_judged_by_behaviour(cli, data, tmp_path):
    """Without the behavioural and value bases, segments still get revenue shares and are
    tested on what their members do (revenue, orders, recency), not only on what built them."""
    config = _config(tmp_path, "technographic, needs")
    out = tmp_path / "run"
    result = cli(
        "run",
        "--transactions",
        str(data["transactions"]),
        "--events",
        str(data["events"]),
        "--survey",
        str(data["survey"]),
        "--config",
        str(config),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    model = json.loads((out / "model.json").read_text())
    bases = {f["basis"] for f in model["features"]["features"]}
    assert bases == {"technographic", "needs"}
    features = pd.read_parquet(out / "features.parquet")
    segments = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    # revenue per segment equals the net revenue before the snapshot, summed from the file
    tx = pd.read_csv(data["transactions"], dtype={"customer_id": str}, parse_dates=["order_date"])
    run = json.loads((out / "run.json").read_text())
    before = tx[tx["order_date"] < pd.Timestamp(run["snapshot_date"])]
    per_customer = before.groupby("customer_id")["amount"].sum()
    expected = (
        segments.assign(revenue=per_customer.reindex(segments["customer_id"]).fillna(0).to_numpy())
        .groupby("segment_id")["revenue"]
        .sum()
    )
    profiles = pd.read_csv(out / "profiles.csv").set_index("segment_id")
    assert profiles["revenue"].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-9)
    assert profiles["revenue_share"].sum() == pytest.approx(1.0)
    assert {"monetary", "frequency", "recency_days"} <= set(features.columns)
    scorecard = pd.read_csv(out / "scorecard.csv")
    assert "distinct" in set(scorecard["criterion"])


def test_mixed_model_on_customer_attributes_is_scorable(cli, data, tmp_path):
    """method: mixed with --customers segments on the customer table's categories too; score
    rebuilds them from --customers (every customer keeps the run's segment) and refuses
    cleanly without it."""
    config = _config(tmp_path, "behavioural, value", FAST + "  method: mixed\n")
    run = tmp_path / "run"
    common = ["--transactions", str(data["transactions"]), "--config", str(config)]
    result = cli("run", *common, "--customers", str(data["customers"]), "--out", str(run))
    assert result.returncode == 0, result.stderr
    model = json.loads((run / "model.json").read_text())
    assert model["segmenter"]["method"] == "mixed"
    out = tmp_path / "scored.csv"
    result = cli(
        "score",
        "--model",
        str(run),
        "--input",
        str(data["transactions"]),
        "--customers",
        str(data["customers"]),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    segments = pd.read_csv(run / "segments.csv", dtype={"customer_id": str})
    scored = pd.read_csv(out, dtype={"customer_id": str})
    both = segments.merge(scored, on="customer_id", suffixes=("_run", "_score"))
    assert len(both) == len(segments) == len(scored)
    assert (both["segment_id_run"] == both["segment_id_score"]).all()

    result = cli(
        "score",
        "--model",
        str(run),
        "--input",
        str(data["transactions"]),
        "--out",
        str(tmp_path / "no-customers.csv"),
    )
    assert result.returncode == 2
    assert "--customers" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "no-customers.csv").exists()
