"""Every segmentation method through the real pipeline, and the typing tool through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmint.config import Config, RuleConfig
from segmint.datasets import make_retail
from segmint.pipeline import run_segmentation


@pytest.fixture(scope="module")
def retail(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_retail(1500, seed=5).write(tmp_path_factory.mktemp("retail"))


def _config(**segmentation: object) -> Config:
    config = Config(seed=3)
    for key, value in segmentation.items():
        setattr(config.segmentation, key, value)
    config.segmentation.stability_resamples = 5
    return config


def _recovery(out: Path, truth: Path) -> float:
    found = pd.read_parquet(out / "segments.parquet")
    planted = pd.read_csv(truth, dtype={"customer_id": str})
    merged = found.merge(planted, on="customer_id")
    return adjusted_rand_score(merged["segment"], merged["segment_id"])


@pytest.mark.parametrize("method", ["kmeans", "gmm", "ensemble"])
def test_statistical_methods_recover_the_planted_segments(
    method: str, retail: dict[str, Path], tmp_path: Path
) -> None:
    config = _config(method=method, k=5 if method != "kmeans" else None)
    result = run_segmentation(retail["transactions"], tmp_path, config=config)
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["method"] == method
    assert result.n_segments == 5
    assert _recovery(tmp_path, retail["truth"]) > 0.85
    stability = run["stability"]
    assert stability["n_resamples"] == 5
    assert sorted(r["segment_id"] for r in stability["per_segment"]) == list(range(5))
    assert all(0 <= r["jaccard_mean"] <= 1 for r in stability["per_segment"])


def test_auto_is_kmeans_for_numeric_behavioural_features(
    retail: dict[str, Path], tmp_path: Path
) -> None:
    run_segmentation(retail["transactions"], tmp_path, config=_config(method="auto"))
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["method"] == "kmeans"
    evidence = pd.read_csv(tmp_path / "evidence.csv")
    assert {"silhouette", "calinski_harabasz", "stability_ari", "admissible"} <= set(evidence)
    assert evidence["chosen"].sum() == 1


def test_mixed_uses_categorical_customer_columns(retail: dict[str, Path], tmp_path: Path) -> None:
    config = _config(method="mixed", k=4)
    result = run_segmentation(
        retail["transactions"], tmp_path, customers=retail["customers"], config=config
    )
    model = json.loads((tmp_path / "model.json").read_text())
    assert result.n_segments == 4
    assert "country" in json.dumps(model["segmenter"])


def test_rules_take_their_names_and_order_from_the_config(
    retail: dict[str, Path], tmp_path: Path
) -> None:
    rules = [
        RuleConfig(name="Lapsed", when="recency_days > 365"),
        RuleConfig(name="Big spenders", when="monetary > 1000"),
    ]
    result = run_segmentation(
        retail["transactions"], tmp_path, config=_config(method="rules", rules=rules)
    )
    features = pd.read_parquet(tmp_path / "features.parquet")
    segments = pd.read_parquet(tmp_path / "segments.parquet").merge(features, on="customer_id")
    expected = np.where(
        segments["recency_days"] > 365, 0, np.where(segments["monetary"] > 1000, 1, 2)
    )
    np.testing.assert_array_equal(segments["segment_id"], expected)
    assert result.names == {0: "Lapsed", 1: "Big spenders", 2: "Other"}


def test_rfm_gives_the_named_segments(retail: dict[str, Path], tmp_path: Path) -> None:
    result = run_segmentation(retail["transactions"], tmp_path, config=_config(method="rfm"))
    assert {"Champions", "Lost", "At Risk"} <= set(result.names.values())
    segments = pd.read_parquet(tmp_path / "segments.parquet")
    champions = segments[segments["segment_name"] == "Champions"]["customer_id"]
    features = pd.read_parquet(tmp_path / "features.parquet").set_index("customer_id")
    # champions bought more recently and more often than the average customer
    assert features.loc[champions, "recency_days"].mean() < features["recency_days"].mean()
    assert features.loc[champions, "frequency"].mean() > features["frequency"].mean()


def test_rules_without_rules_is_a_config_error(
    retail: dict[str, Path], tmp_path: Path, cli
) -> None:
    config = tmp_path / "segmint.yaml"
    config.write_text("segmentation:\n  method: rules\n")
    result = cli(
        "run",
        "--transactions",
        str(retail["transactions"]),
        "--out",
        str(tmp_path / "o"),
        "--config",
        str(config),
    )
    assert result.returncode == 2
    assert "needs rules" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_typing_tool_sql_reproduces_the_assignment_at_the_reported_accuracy(
    retail: dict[str, Path], tmp_path: Path, cli
) -> None:
    run_segmentation(retail["transactions"], tmp_path, config=_config(method="kmeans"))
    result = cli("typing-tool", "--model", str(tmp_path / "model.json"), "--max-vars", "3")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "typing_tool.json").read_text())
    assert 1 <= len(report["variables"]) <= 3
    sql = (tmp_path / "typing_tool.sql").read_text()
    con = duckdb.connect()
    con.execute(f"CREATE TABLE features AS SELECT * FROM '{tmp_path / 'features.parquet'}'")
    con.execute(f"CREATE TABLE segments AS SELECT * FROM '{tmp_path / 'segments.parquet'}'")
    typed = con.sql(f"SELECT customer_id, segment_id AS typed FROM ({sql})").df()
    merged = typed.merge(con.sql("SELECT * FROM segments").df(), on="customer_id")
    accuracy = float((merged["typed"] == merged["segment_id"]).mean())
    assert accuracy == pytest.approx(report["accuracy_all_customers"], abs=1e-12)
    assert accuracy >= 0.8
    assert f"{report['accuracy_held_out']:.3f}" in result.stdout


def test_method_option_on_the_command_line(retail: dict[str, Path], tmp_path: Path, cli) -> None:
    out = tmp_path / "rfm"
    result = cli(
        "run", "--transactions", str(retail["transactions"]), "--out", str(out), "--method", "rfm"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "run.json").read_text())["method"] == "rfm"
    bad = cli(
        "run",
        "--transactions",
        str(retail["transactions"]),
        "--out",
        str(tmp_path / "x"),
        "--method",
        "dbscan",
    )
    assert bad.returncode == 2 and "Unknown --method 'dbscan'" in bad.stderr
