"""A base too large for the driver: fitted on a stratified sample, every customer assigned."""

from __future__ import annotations

import json
import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmint.activate import load_model
from segmint.engines._spark_run import allocate

# pyspark warns about pandas >= 3 when it converts (segmint itself converts through Arrow);
# it is pyspark's own notice about its support matrix, not a problem of the code under test
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)

LIMIT = 500


def _bins(values: pd.Series, thresholds: list[float]) -> np.ndarray:
    """Bin b holds the values in (t[b-1], t[b]]: the number of thresholds below the value."""
    return (values.to_numpy(float)[:, None] > np.asarray(thresholds)[None, :]).sum(axis=1)


def _cells(features: pd.DataFrame, record: dict) -> pd.Series:
    """Each customer's stratum, computed here from the recorded thresholds."""
    bins = [_bins(features[name], record["thresholds"][name]) for name in record["by"]]
    return pd.Series(list(zip(*bins, strict=True)), index=features["customer_id"])


def _recorded(record: dict, key: str) -> dict[tuple, int]:
    return {tuple(s["bins"][n] for n in record["by"]): s[key] for s in record["strata"]}


@pytest.fixture(scope="module")
def everyone(runs) -> pd.DataFrame:
    """The 2,000 customers' features (equal on both engines: test_equivalence)."""
    return pd.read_parquet(runs["duckdb"] / "features.parquet")


@pytest.fixture(scope="module")
def draw(spark, everyone):
    """``draw(seed)``: the sample's ids and record, from a fresh Spark DataFrame each time."""
    import pyarrow as pa

    from segmint.engines._spark import from_arrow, to_arrow
    from segmint.engines._spark_run import stratified_sample

    def sample(seed: int) -> tuple[list[str], dict]:
        frame = from_arrow(spark, pa.Table.from_pandas(everyone, preserve_index=False))
        kept, record = stratified_sample(frame, LIMIT, seed)
        ids = to_arrow(kept.select("customer_id")).column("customer_id").to_pylist()
        return sorted(ids), record

    return sample


def _run_sampled(files, config, out) -> dict:
    """The pipeline with ``config``; the fit's own labels kept (per sampled customer)."""
    from segmint import pipeline
    from segmint.pipeline import _segment

    fits = []
    fit_segmenter = _segment.fit_segmenter

    def fit_and_keep(*args, **kwargs):
        fits.append(fit_segmenter(*args, **kwargs))
        return fits[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_segment, "fit_segmenter", fit_and_keep)
        result = pipeline.run_segmentation(
            files["transactions_parquet"], out, customers=files["customers"], config=config
        )
    features = pd.read_parquet(out / "features.parquet")
    fitted = pd.Series(np.asarray(fits[0].labels_), index=features["customer_id"].astype(str))
    return {"out": out, "result": result, "fitted": fitted, "features": features}


def _sampled_config(config_for, method: str = "auto"):
    from segmint.config import SparkConfig

    config = config_for("spark")
    config.spark = SparkConfig(master="local[2]", conf=config.spark.conf, sample_customers=LIMIT)
    config.segmentation.method = method
    return config


@pytest.fixture(scope="module")
def sampled_run(retail_files, config_for, spark, tmp_path_factory) -> dict:
    """The pipeline on Spark with sample_customers=500 of 2,000 (k-means)."""
    out = tmp_path_factory.mktemp("run-spark-sampled") / "out"
    return _run_sampled(retail_files, _sampled_config(config_for), out)


def test_allocation_is_proportional_and_adds_up_exactly() -> None:
    population = {"a": 7, "b": 3, "c": 3, "d": 987}
    quota = allocate(population, 100)
    assert quota == {"a": 1, "b": 0, "c": 0, "d": 99}  # remainders .7, .3, .3, .7: a then d
    assert sum(allocate({i: 1 + i % 5 for i in range(97)}, 50).values()) == 50
    assert allocate({"a": 2, "b": 3}, 10) == {"a": 2, "b": 3}  # not more than there are


def test_sample_is_exactly_the_limit_with_each_stratum_at_its_population_share(
    draw, everyone
) -> None:
    ids, record = draw(7)
    assert len(ids) == len(set(ids)) == LIMIT
    assert set(ids) <= set(everyone["customer_id"])
    assert record["by"] == {"monetary": 5, "recency_days": 3}
    # thresholds are the quintiles / terciles (rank error <= 1 customer of 2,000)
    for name, bins in record["by"].items():
        below = [(everyone[name] <= t).mean() for t in record["thresholds"][name]]
        ties = [(everyone[name] == t).mean() for t in record["thresholds"][name]]
        for j, (share, tied) in enumerate(zip(below, ties, strict=True)):
            assert (j + 1) / bins - 1 / 2000 <= share <= (j + 1) / bins + tied + 1 / 2000, name
    assert len(record["strata"]) == 15
    cells = _cells(everyone, record)
    population = _recorded(record, "population")
    assert population == cells.value_counts().to_dict()  # counted per stratum, exactly
    assert sum(population.values()) == 2000
    in_sample = cells.loc[ids].value_counts().to_dict()
    assert in_sample == _recorded(record, "sample")
    for cell, n in population.items():
        assert abs(in_sample.get(cell, 0) - LIMIT * n / 2000) < 1, cell
    # the smallest stratum (top value, longest recency) is kept at its share, not left to chance
    smallest = min(population, key=population.get)
    assert (smallest, population[smallest], in_sample[smallest]) == ((4, 2), 63, 16)


def test_same_seed_same_sample_another_seed_another(draw) -> None:
    ids, record = draw(7)
    again, record_again = draw(7)
    other, record_other = draw(8)
    assert again == ids and record_again == record
    assert len(other) == LIMIT and other != ids
    # the strata and their sizes do not depend on the seed; the customers drawn do
    assert record_other == record
    overlap = len(set(other) & set(ids))
    assert 60 < overlap < 200  # about 500 x 500 / 2000 = 125 by chance


def test_every_customer_of_the_population_gets_a_segment(sampled_run, runs, draw) -> None:
    segments = pd.read_parquet(sampled_run["out"] / "segments.parquet")
    full = pd.read_parquet(runs["duckdb"] / "segments.parquet")
    assert len(segments) == 2000
    assert segments["customer_id"].tolist() == full["customer_id"].tolist()
    assert segments.dtypes.to_dict() == full.dtypes.to_dict()
    assert segments.notna().all().all()
    assert segments["segment_id"].nunique() == 4
    csv = pd.read_csv(sampled_run["out"] / "segments.csv", dtype={"customer_id": str})
    assert csv["segment_id"].tolist() == segments["segment_id"].tolist()
    names = json.loads((sampled_run["out"] / "model.json").read_text())["segments"]
    expected = {s["id"]: s["name"] for s in names}
    assert (segments["segment_id"].map(expected) == segments["segment_name"]).all()
    # the fitted model, applied to everyone, agrees closely with a fit on everyone
    assert adjusted_rand_score(full["segment_id"], segments["segment_id"]) > 0.8
    with duckdb.connect(str(sampled_run["out"] / "segmint.duckdb"), read_only=True) as store:
        assert store.sql("SELECT count(*) FROM assignments").fetchall() == [(2000,)]


def test_sampled_customers_keep_the_segment_the_fit_gave_them(sampled_run, draw) -> None:
    segments = pd.read_parquet(sampled_run["out"] / "segments.parquet").set_index("customer_id")
    fitted = sampled_run["fitted"]
    assert len(fitted) == LIMIT
    assigned = segments.loc[fitted.index, "segment_id"]
    assert (assigned.to_numpy() == fitted.to_numpy()).all()
    # the run fitted on the stratified sample drawn by the same seed
    ids, _ = draw(7)
    assert sorted(fitted.index) == ids


def test_run_record_and_report_say_what_was_fitted_on_the_sample(sampled_run, runs, draw) -> None:
    out, result = sampled_run["out"], sampled_run["result"]
    run = json.loads((out / "run.json").read_text())
    _, record = draw(7)
    assert run["counts"]["customers_segmented"] == result.n_customers == 2000
    assert len(result.segments) == 2000
    sample = run["sample"]
    assert (sample["customers"], sample["population"], sample["assigned"]) == (500, 2000, 2000)
    assert (sample["seed"], sample["fitted_segment_kept"]) == (7, 500)
    assert sample["by"] == record["by"] and sample["strata"] == record["strata"]
    for name, thresholds in record["thresholds"].items():
        assert sample["thresholds"][name] == pytest.approx(thresholds, rel=1e-9)
    assert "profiles.csv" in sample["describe_the_sample"]
    # the stages on the sample still ran
    assert run["stability"] is not None
    scorecard = pd.read_csv(out / "scorecard.csv")
    assert len(scorecard) > 0
    # model.json counts every customer assigned; run.json keeps the sample's counts
    model = load_model(out)  # still sealed: the integrity hash covers the new counts
    entries = model.document["segments"]
    population = pd.read_parquet(out / "segments.parquet")["segment_id"].value_counts()
    assert {s["id"]: s["customers"] for s in entries} == population.to_dict()
    assert sum(s["customers"] for s in entries) == 2000
    assert sum(s["share"] for s in entries) == pytest.approx(1.0)
    fitted = sampled_run["fitted"].value_counts()
    assert sample["fitted_segment_counts"] == {str(i): int(n) for i, n in fitted.items()}
    assert sum(sample["fitted_segment_counts"].values()) == 500
    assert len(sampled_run["features"]) == 500
    report = (out / "report.html").read_text()
    assert "stratified sample of 500 of 2,000 customers" in report
    assert "<b>2,000</b><span>customers segmented</span>" in report
    # the revenue shown is the population's, as in the run on every customer
    full = (runs["duckdb"] / "report.html").read_text()
    revenue = re.compile(r"<b>([^<]+)</b><span>net revenue before")
    assert revenue.findall(report) == revenue.findall(full) != []


def test_segmenters_without_a_spark_form_assign_everyone_on_the_driver(
    retail_files, config_for, spark, tmp_path
) -> None:
    # k-prototypes on the features plus the customers' categories: batches from the kept
    # Parquet, each with its customers' categories, predicted by the fitted segmenter
    run = _run_sampled(retail_files, _sampled_config(config_for, "mixed"), tmp_path / "out")
    segments = pd.read_parquet(run["out"] / "segments.parquet").set_index("customer_id")
    assert len(segments) == 2000 and segments["segment_id"].notna().all()
    fitted = run["fitted"]
    assert (segments.loc[fitted.index, "segment_id"].to_numpy() == fitted.to_numpy()).all()
    sample = json.loads((run["out"] / "run.json").read_text())["sample"]
    assert (sample["customers"], sample["assigned"], sample["fitted_segment_kept"]) == (
        500,
        2000,
        500,
    )
