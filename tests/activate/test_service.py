"""The scoring service, as a real `segmint serve` process called over loopback HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from segmint.activate import load_model, score_features
from segmint.activate._scoring import compute_features

from .conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def features(retail_run) -> pd.DataFrame:
    model = load_model(retail_run["run"])
    return compute_features(model, retail_run["transactions"])


def _customers(features: pd.DataFrame, n: int) -> list[dict]:
    names = [c for c in features.columns if c != "customer_id"]
    return [
        {"customer_id": str(r["customer_id"]), "features": {k: float(r[k]) for k in names}}
        for r in features.head(n).to_dict(orient="records")
    ]


def test_healthz_needs_no_token_and_names_the_model(service, retail_run):
    body = httpx.get(f"{service}/healthz").json()
    assert body["status"] == "ok"
    assert body["model"] == load_model(retail_run["run"]).fingerprint


def test_missing_token_is_401_and_wrong_token_is_403(service):
    assert httpx.get(f"{service}/v1/segments").status_code == 401
    wrong = httpx.get(f"{service}/v1/segments", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403


def test_score_by_features_matches_the_library(service, retail_run, features):
    response = httpx.post(
        f"{service}/v1/score", json={"customers": _customers(features, 200)}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    results = pd.DataFrame(response.json()["results"])
    expected = score_features(load_model(retail_run["run"]), features.head(200))
    assert results["segment_id"].tolist() == expected["segment_id"].tolist()
    assert results["segment_name"].tolist() == expected["segment_name"].tolist()
    assert results["probabilities"].isna().all()


def test_score_by_raw_transactions(service, retail_run):
    tx = pd.read_csv(retail_run["transactions"])
    some = tx[tx["customer_id"].isin(["C000001", "C000002", "C000003"])]
    rows = [
        {
            "customer_id": r.customer_id,
            "order_date": str(r.order_date)[:10],
            "amount": float(r.amount),
            "order_id": r.order_id,
            "category": r.category,
            "channel": r.channel,
            "discount": float(r.discount),
            "quantity": float(r.quantity),
        }
        for r in some.itertuples()
    ] + [
        {
            "customer_id": "LATE",
            "order_date": "2030-01-01",
            "amount": 5.0,
            "order_id": "X1",
            "category": "home",
            "channel": "web",
            "discount": 0.0,
            "quantity": 1,
        }
    ]
    response = httpx.post(f"{service}/v1/score", json={"transactions": rows}, headers=AUTH)
    assert response.status_code == 200, response.text
    by_id = {r["customer_id"]: r for r in response.json()["results"]}
    saved = pd.read_parquet(retail_run["run"] / "segments.parquet").set_index("customer_id")
    for cid in ("C000001", "C000002", "C000003"):
        assert by_id[cid]["segment_id"] == int(saved.loc[cid, "segment_id"])
    assert by_id["LATE"]["segment_id"] is None  # no purchase before the snapshot


def test_transactions_without_a_needed_column_are_a_clear_422(service):
    rows = [{"customer_id": "A", "order_date": "2024-01-01", "amount": 3.0}]
    response = httpx.post(f"{service}/v1/score", json={"transactions": rows}, headers=AUTH)
    assert response.status_code == 422
    assert "lack the column" in response.json()["detail"]


def test_missing_feature_is_a_clear_422(service, features):
    customer = _customers(features, 1)[0]
    customer["features"].pop("frequency")
    response = httpx.post(f"{service}/v1/score", json={"customers": [customer]}, headers=AUTH)
    assert response.status_code == 422
    assert "frequency" in response.json()["detail"]


def test_invalid_bodies_are_422(service):
    for body in ({}, {"customers": [], "transactions": []}, {"customers": [{"customer_id": ""}]}):
        response = httpx.post(f"{service}/v1/score", json=body, headers=AUTH)
        assert response.status_code == 422, body


def test_more_than_10000_customers_is_413(service, features):
    one = _customers(features, 1)[0]
    many = [{**one, "customer_id": f"X{i}"} for i in range(10_001)]
    response = httpx.post(f"{service}/v1/score", json={"customers": many}, headers=AUTH, timeout=60)
    assert response.status_code == 413


def test_a_body_over_the_limit_is_413(service):
    blob = b'{"customers": [' + b" " * (17 * 1024 * 1024) + b"]}"
    response = httpx.post(
        f"{service}/v1/score",
        content=blob,
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413


def test_segments_and_segment_detail(service):
    segments = httpx.get(f"{service}/v1/segments", headers=AUTH).json()
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert abs(sum(s["share"] for s in segments) - 1) < 1e-9
    detail = httpx.get(f"{service}/v1/segments/0", headers=AUTH).json()
    assert detail["profile"]["customers"] == segments[0]["customers"]
    assert detail["card"]["how_to_recognise"]
    assert httpx.get(f"{service}/v1/segments/99", headers=AUTH).status_code == 404


def test_openapi_documents_the_operations(service):
    spec = httpx.get(f"{service}/openapi.json").json()
    assert {"/v1/score", "/v1/segments", "/v1/segments/{segment_id}", "/healthz"} <= set(
        spec["paths"]
    )
    assert "413" in spec["paths"]["/v1/score"]["post"]["responses"]


def test_schemathesis_finds_no_server_error(service, tmp_path: Path):
    """Property-based requests generated from the OpenAPI spec, against the live server."""
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{service}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--max-examples",
            "50",
            "--seed",
            "7",
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_cli_serve_without_token_exits_2(cli, retail_run):
    env_name = "SEGMINT_TEST_TOKEN_THAT_IS_NOT_SET"
    result = cli("serve", "--model", str(retail_run["run"]), "--token-env", env_name)
    assert result.returncode == 2
    assert env_name in result.stderr


def test_non_finite_numbers_are_422_with_a_json_body(service, features):
    customer = _customers(features, 1)[0]
    name = next(iter(customer["features"]))
    for token in ("NaN", "Infinity", "-Infinity"):
        text = json.dumps({"customers": [customer]}).replace(
            f'"{name}": {json.dumps(customer["features"][name])}', f'"{name}": {token}'
        )
        assert token in text
        response = httpx.post(
            f"{service}/v1/score",
            content=text,
            headers={**AUTH, "content-type": "application/json"},
        )
        assert response.status_code == 422, (token, response.text)
        detail = json.loads(response.text, parse_constant=lambda t: pytest.fail(t))["detail"]
        assert any(name in map(str, d["loc"]) for d in detail), detail


def test_docs_need_no_cdn(service):
    page = httpx.get(f"{service}/docs")
    assert page.status_code == 404 or "cdn" not in page.text.lower()
    assert httpx.get(f"{service}/openapi.json").status_code == 200


def test_serve_runs_one_worker_per_usable_core(service):
    """`segmint serve` without --workers starts min(4, usable cores) worker processes."""
    port = service.rsplit(":", 1)[1]
    parents = [
        p
        for p in Path("/proc").iterdir()
        if p.name.isdigit()
        and (p / "cmdline").exists()
        and b"serve" in (cmdline := (p / "cmdline").read_bytes())
        and b"\0" + port.encode() + b"\0" in cmdline
    ]
    assert len(parents) == 1
    pid = parents[0].name
    children = (parents[0] / "task" / pid / "children").read_text().split()
    workers = [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    expected = min(4, len(os.sched_getaffinity(0)))
    # with one worker uvicorn serves in its own process and starts no child
    assert len(workers) == (expected if expected > 1 else 0)
    for _ in range(8):  # every worker answers
        assert httpx.get(f"{service}/healthz").status_code == 200
