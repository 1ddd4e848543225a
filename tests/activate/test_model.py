"""model.json: integrity, versioning, schema; scoring reproduces the run's assignment."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from segmint.activate import load_model, save_model, score, score_features
from segmint.activate._model import build_model_document, content_hash, seal
from segmint.activate._scoring import compute_features
from segmint.activate._service import create_app
from segmint.exceptions import ModelError
from segmint.features._prepare import FeaturePreparer
from segmint.segmenters._gmm import GaussianMixtureSegmenter


@pytest.fixture
def model_copy(retail_run: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "model.json"
    shutil.copyfile(retail_run["run"] / "model.json", target)
    return target


def test_model_json_is_sealed_with_the_hash_of_its_content(retail_run):
    doc = json.loads((retail_run["run"] / "model.json").read_text())
    assert doc["format"] == "segmint-model" and doc["format_version"] == 2
    assert doc["integrity"]["content_sha256"] == content_hash(doc)
    assert doc["typing_tool"] is not None and doc["reference"]["feature_quantiles"]


def test_scoring_the_training_data_reproduces_the_run_assignment(retail_run):
    model = load_model(retail_run["run"])
    scored = score(model, retail_run["transactions"])
    saved = pd.read_parquet(retail_run["run"] / "segments.parquet")
    merged = saved.merge(scored, on="customer_id", suffixes=("_run", "_scored"))
    assert len(merged) == len(saved) == len(scored)
    assert (merged["segment_id_run"] == merged["segment_id_scored"]).all()
    assert (merged["segment_name_run"] == merged["segment_name_scored"]).all()
    assert "probabilities" not in scored.columns  # k-means: no invented soft membership


def test_score_features_is_the_same_assignment_as_score(retail_run):
    model = load_model(retail_run["run"] / "model.json")
    features = compute_features(model, retail_run["transactions"])
    fast = score_features(model, features)
    full = score(model, retail_run["transactions"])
    assert fast["segment_id"].tolist() == full["segment_id"].tolist()


def test_as_of_moves_the_snapshot_for_fresh_data(retail_run):
    model = load_model(retail_run["run"])
    early = score(model, retail_run["transactions"], as_of="2023-03-01")
    full = score(model, retail_run["transactions"])
    assert 0 < len(early) < len(full)


def test_customers_table_gives_every_customer_a_row(retail_run, tmp_path):
    customers = pd.read_csv(retail_run["customers"])
    customers.iloc[:50].to_csv(tmp_path / "few.csv", index=False)
    model = load_model(retail_run["run"])
    scored = score(model, retail_run["transactions"], tmp_path / "few.csv", as_of="2023-02-01")
    assert len(scored) == 50
    assert scored["segment_id"].isna().any()  # customers without a purchase yet
    assert set(scored["customer_id"]) == set(customers["customer_id"].iloc[:50])


def test_a_changed_number_is_refused(model_copy):
    text = model_copy.read_text()
    match = re.search(r'"cluster_centers": \[\s*\[\s*(-?[0-9.e+-]+)', text)
    assert match is not None
    number = match.group(1)
    tampered = text[: match.start(1)] + str(float(number) + 0.001) + text[match.end(1) :]
    model_copy.write_text(tampered)
    with pytest.raises(ModelError, match="integrity check failed") as info:
        load_model(model_copy)
    assert info.value.hint


def test_a_wrong_format_version_is_refused(model_copy):
    doc = json.loads(model_copy.read_text())
    doc["format_version"] = 99
    model_copy.write_text(json.dumps(seal(doc)))
    with pytest.raises(ModelError, match="format version 99 is not supported"):
        load_model(model_copy)


def test_a_resealed_invalid_document_fails_the_schema(model_copy):
    doc = json.loads(model_copy.read_text())
    doc["preparation"]["mean"] = doc["preparation"]["mean"][:-1]
    model_copy.write_text(json.dumps(seal(doc)))
    with pytest.raises(ModelError, match="preparation"):
        load_model(model_copy)


def test_a_file_that_is_not_json_is_refused(tmp_path):
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(tmp_path / "model.json")  # a folder without manifest.json: incomplete run


def test_a_missing_model_is_refused(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nothing")


def test_a_mixture_model_scores_with_probabilities(retail_run, tmp_path):
    """The registry rebuilds any segmenter from model.json; GMM gives probabilities."""
    run = load_model(retail_run["run"])
    features = compute_features(run, retail_run["transactions"])
    preparer = FeaturePreparer({f.name: f.transform for f in run.spec.features})
    X = preparer.fit_transform(features[run.spec.names])
    gmm = GaussianMixtureSegmenter(3, covariance_type="diag", n_init=1, random_state=0).fit(X)
    labels = gmm.labels_
    summary = pd.DataFrame({"segment_id": range(3), "customers": np.bincount(labels)})
    summary["share"] = summary["customers"] / summary["customers"].sum()
    doc = build_model_document(
        spec=run.spec,
        preparer=preparer,
        segmenter=gmm,
        segments=summary,
        names={0: "a", 1: "b", 2: "c"},
        data_fingerprint="0" * 64,
        config_hash="1" * 64,
        created_at="2026-01-01T00:00:00",
        id_rule="test",
    )
    model = load_model(save_model(doc, tmp_path))
    assert model.method == "gmm" and model.has_probabilities
    scored = score_features(model, features)
    proba = np.vstack(scored["probabilities"].to_numpy())
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert (proba.argmax(axis=1) == scored["segment_id"].to_numpy()).all()
    assert (scored["segment_id"].to_numpy() == labels).all()
    # the scoring service gives the same probabilities, keyed by segment id
    names = list(model.spec.names)
    body = {
        "customers": [
            {"customer_id": str(r["customer_id"]), "features": {k: float(r[k]) for k in names}}
            for r in features.head(20).to_dict(orient="records")
        ]
    }

    async def post() -> httpx.Response:
        app = create_app(model, "a-test-token-of-some-length")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.post(
                "/v1/score",
                json=body,
                headers={"Authorization": "Bearer a-test-token-of-some-length"},
            )

    response = asyncio.run(post())
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    served = np.array([[r["probabilities"][str(j)] for j in range(3)] for r in results])
    np.testing.assert_allclose(served, proba[:20], atol=1e-6)
    assert [r["segment_id"] for r in results] == scored["segment_id"].head(20).tolist()
    assert [r["segment_name"] for r in results] == scored["segment_name"].head(20).tolist()


def test_cli_score_writes_an_atomic_file(cli, retail_run, tmp_path):
    out = tmp_path / "scores.parquet"
    result = cli(
        "score",
        "--model",
        str(retail_run["run"]),
        "--input",
        str(retail_run["transactions"]),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["customer_id", "segment_id", "segment_name"]
    assert len(scored) == 3000
    assert not list(tmp_path.glob(".*partial"))


def test_cli_score_refuses_a_tampered_model_with_exit_code_2(cli, retail_run, model_copy):
    doc = json.loads(model_copy.read_text())
    doc["segments"][0]["name"] = "Renamed by hand"
    model_copy.write_text(json.dumps(doc))
    result = cli(
        "score",
        "--model",
        str(model_copy),
        "--input",
        str(retail_run["transactions"]),
        "--out",
        str(model_copy.parent / "x.csv"),
    )
    assert result.returncode == 2
    assert "integrity check failed" in result.stderr
    assert not (model_copy.parent / "x.csv").exists()
