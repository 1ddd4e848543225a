"""Scoring throughput: features -> segment ids with a saved k-means model.

The model is built from a small generated retailer (feature SQL in DuckDB, preparer, k-means,
``model.json`` saved and loaded back, integrity checked); the timed part is
:func:`segmint.activate.score_features` on ``n_customers`` feature rows resampled from the
real ones, and the bare ``predict_ids``. Run: ``python benchmarks/bench_scoring.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from segmint.activate import load_model, save_model, score_features
from segmint.activate._model import build_model_document
from segmint.activate._scoring import predict_ids
from segmint.datasets import make_retail
from segmint.features._behavioural import build_features, plan_features
from segmint.features._prepare import FeaturePreparer
from segmint.segmenters._kmeans import KMeansSegmenter


def _model(folder: Path, seed: int = 7):
    retail = make_retail(2000, seed=seed)
    con = duckdb.connect()
    tx = retail.transactions
    con.register("_tx", tx)
    con.execute("CREATE TABLE transactions AS SELECT * FROM _tx")
    spec = plan_features(con)
    build_features(con, spec)
    features = con.sql("SELECT * FROM features").df()
    con.close()
    preparer = FeaturePreparer({f.name: f.transform for f in spec.features})
    X = preparer.fit_transform(features[spec.names])
    segmenter = KMeansSegmenter(5, n_init=2, random_state=seed).fit(X)
    labels = segmenter.labels_
    summary = pd.DataFrame({"segment_id": range(5), "customers": np.bincount(labels, minlength=5)})
    summary["share"] = summary["customers"] / summary["customers"].sum()
    doc = build_model_document(
        spec=spec,
        preparer=preparer,
        segmenter=segmenter,
        segments=summary,
        names={i: f"segment {i}" for i in range(5)},
        data_fingerprint="0" * 64,
        config_hash="0" * 64,
        created_at="2026-01-01T00:00:00",
        id_rule="benchmark",
    )
    return load_model(save_model(doc, folder)), features


def run(n_customers: int = 1_000_000, repeats: int = 3, seed: int = 7) -> list[dict]:
    """Time scoring of ``n_customers`` feature rows; best of ``repeats``."""
    with tempfile.TemporaryDirectory() as tmp:
        model, features = _model(Path(tmp), seed)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(features), n_customers)
    big = features.iloc[rows].reset_index(drop=True)
    names = model.spec.names
    noise = rng.normal(1.0, 0.02, (n_customers, len(names)))
    big[names] = big[names].to_numpy() * noise
    results = []
    for label, job in (
        ("score_features (ids + names)", lambda: score_features(model, big)),
        ("predict_ids (ids only)", lambda: predict_ids(model, big)),
    ):
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            job()
            best = min(best, time.perf_counter() - start)
        results.append(
            {
                "benchmark": f"scoring: {label}",
                "customers": n_customers,
                "features": len(names),
                "segments": len(model.names),
                "seconds": round(best, 4),
                "customers_per_second": round(n_customers / best),
            }
        )
    return results


if __name__ == "__main__":
    for row in run():
        print(row)
