"""Scale: segmint on DuckDB and on Spark (local) against what users write today, by size.

For each size (synthetic transactions from :func:`segmint.datasets.make_transactions_at_scale`,
about ``n / 20`` customers, planted behaviour), ``benchmarks/run.py`` runs each case below in a
fresh process, which reports its wall time and its own peak resident memory:

- ``generate``: writes the Parquet file once (bounded memory);
- ``run_baseline``: pandas ``read_parquet`` + ``groupby`` RFM features (recency, frequency,
  monetary, order value) + scikit-learn ``KMeans(5)``, in two styles: ``tutorial`` (recency by a
  lambda per customer, as the widely copied RFM tutorials write it) and ``vectorised`` (named
  aggregations only, what a pandas expert writes);
- ``run_segmint``: the whole pipeline (``run_segmentation``, default settings) on ``duckdb`` or
  ``spark`` (``local[2]``), with the time of every stage from ``run.json``, then batch scoring
  of every customer (DuckDB: ``score_features``; Spark: ``assign_spark``, written to Parquet).
  For Spark the JVM's own peak memory (``VmHWM``) is reported too;
- ``summarise``: the ratios segmint / baseline of this run.

A case whose memory estimate (from the row count) exceeds 80 % of the physical memory is
skipped and says so; a Spark case whose time, extrapolated from the smaller sizes of the same
run, would exceed ``BENCH_SPARK_BUDGET_S`` (default 3000 s) is skipped likewise.

    .venv/bin/python benchmarks/bench_scale.py 1000000     # one size, every case, in-process
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 7
K = 5
# bytes per transaction row while the baseline runs (pandas frame, groupby codes and copies),
# and per customer in segmint's driver-side tables; measured at 1M rows on pandas 3 / pyarrow
BASELINE_BYTES_PER_ROW = 260
SEGMINT_BYTES_PER_CUSTOMER = 6_000
SPARK_DRIVER_MEMORY_GB = 6


def _results_dir(workdir: str | Path) -> Path:
    folder = Path(workdir) / "scale"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _data_path(workdir: str | Path, n: int) -> Path:
    return _results_dir(workdir) / f"transactions_{n}_{SEED}.parquet"


def _save(workdir: str | Path, name: str, rows: list[dict]) -> list[dict]:
    (_results_dir(workdir) / f"{name}.json").write_text(json.dumps(rows, indent=1, default=str))
    return rows


def _load(workdir: str | Path, name: str) -> list[dict] | None:
    path = _results_dir(workdir) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _size(n: int) -> str:
    return f"{n:,} tx / ~{n // 20:,} customers"


def _physical() -> int:
    from segmint.engines import physical_memory

    return physical_memory() or 0


def _skip(workdir, name: str, n: int, label: str, need: float, why: str) -> list[dict]:
    return _save(
        workdir,
        name,
        [
            {
                "benchmark": f"{label}: skipped",
                "size": _size(n),
                "wall_s": "skipped",
                "skipped": f"{why} (needs ~{need / 2**30:.1f} GiB of "
                f"{_physical() / 2**30:.1f} GiB physical)"
                if need
                else why,
            }
        ],
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(n_transactions: int, workdir: str) -> list[dict]:
    """Write the ``n_transactions`` log once (kept for the other cases of the run)."""
    from segmint.datasets import make_transactions_at_scale

    path = _data_path(workdir, n_transactions)
    start = time.perf_counter()
    if not path.exists():
        make_transactions_at_scale(n_transactions, SEED, path)
    return [
        {
            "benchmark": "generate (DuckDB SQL from range(n), chunked Parquet)",
            "size": _size(n_transactions),
            "wall_s": round(time.perf_counter() - start, 2),
            "file_mb": round(path.stat().st_size / 2**20, 1),
        }
    ]


def run_baseline(n_transactions: int, workdir: str, style: str = "vectorised") -> list[dict]:
    """pandas + scikit-learn RFM segmentation, as users write it today."""
    name = f"baseline-{style}-{n_transactions}"
    label = f"baseline ({style}: pandas + scikit-learn)"
    need = BASELINE_BYTES_PER_ROW * n_transactions
    if need > 0.8 * _physical():
        return _skip(workdir, name, n_transactions, label, need, "would not fit in memory")
    import numpy as np
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    path = _data_path(workdir, n_transactions)
    t0 = time.perf_counter()
    df = pd.read_parquet(path)
    t1 = time.perf_counter()
    df["order_date"] = pd.to_datetime(df["order_date"])
    snapshot = df["order_date"].max() + pd.Timedelta(days=1)
    if style == "tutorial":
        rfm = df.groupby("customer_id").agg(
            recency=("order_date", lambda x: (snapshot - x.max()).days),
            frequency=("order_id", "nunique"),
            monetary=("amount", "sum"),
        )
    else:
        rfm = df.groupby("customer_id").agg(
            last=("order_date", "max"),
            frequency=("order_id", "nunique"),
            monetary=("amount", "sum"),
        )
        rfm["recency"] = (snapshot - rfm.pop("last")).dt.days
    rfm["avg_order_value"] = rfm["monetary"] / rfm["frequency"]
    t2 = time.perf_counter()
    X = StandardScaler().fit_transform(np.sign(rfm) * np.log1p(np.abs(rfm)))
    labels = KMeans(n_clusters=K, random_state=SEED, n_init="auto").fit_predict(X)
    t3 = time.perf_counter()
    rows = [
        {
            "benchmark": f"{label}: total",
            "size": _size(n_transactions),
            "wall_s": round(t3 - t0, 2),
            "read_s": round(t1 - t0, 2),
            "features_s": round(t2 - t1, 2),
            "kmeans_s": round(t3 - t2, 2),
            "customers": len(rfm),
            "features": rfm.shape[1],
            "segments": len(np.unique(labels)),
            "peak_rss_mb": round(_peak_mb()),
        }
    ]
    return _save(workdir, name, rows)


def run_duckdb_rfm(n_transactions: int, workdir: str) -> list[dict]:
    """The baseline's four RFM features as one DuckDB query over the Parquet file (no k-means):
    what "a single DuckDB query" gives, next to the whole validated catalogue of segmint."""
    import duckdb

    path = _data_path(workdir, n_transactions)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    start = time.perf_counter()
    n = con.execute(
        f"""
        CREATE TABLE rfm AS
        WITH t AS (SELECT * FROM read_parquet('{path}')),
        s AS (SELECT max(order_date) + INTERVAL 1 DAY AS snapshot FROM t)
        SELECT customer_id,
               date_diff('day', max(order_date), any_value(s.snapshot)) AS recency,
               count(DISTINCT order_id) AS frequency,
               sum(amount) AS monetary,
               sum(amount) / count(DISTINCT order_id) AS avg_order_value
        FROM t, s GROUP BY customer_id
        """
    ).fetchall()
    wall = time.perf_counter() - start
    customers = con.execute("SELECT count(*) FROM rfm").fetchall()[0][0]
    del n
    return _save(
        workdir,
        f"duckdb-rfm-{n_transactions}",
        [
            {
                "benchmark": "single DuckDB query: the baseline's 4 RFM features from the file",
                "size": _size(n_transactions),
                "wall_s": round(wall, 2),
                "customers": customers,
                "peak_rss_mb": round(_peak_mb()),
            }
        ],
    )


def _jvm_peak_mb(spark) -> float | None:
    """Peak resident memory of the Spark JVM (``VmHWM``), read before it stops."""
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    if proc is None:
        return None
    try:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _spark_over_budget(workdir, n: int) -> float | None:
    """Seconds a Spark run of ``n`` would take, extrapolated from the largest smaller run."""
    done = sorted(
        (int(p.stem.rsplit("-", 1)[1]), json.loads(p.read_text()))
        for p in _results_dir(workdir).glob("segmint-spark-*.json")
    )
    done = [
        (m, rows)
        for m, rows in done
        if m < n and rows and isinstance(rows[0].get("wall_s"), int | float)
    ]
    if not done:
        return None
    m, rows = done[-1]
    estimate = rows[0]["wall_s"] * n / m
    budget = float(os.environ.get("BENCH_SPARK_BUDGET_S", "3000"))
    return estimate if estimate > budget else None


def run_segmint(n_transactions: int, workdir: str, engine: str = "duckdb") -> list[dict]:
    """The whole pipeline on ``engine``, every stage timed, then batch scoring."""
    name = f"segmint-{engine}-{n_transactions}"
    label = f"segmint ({engine}{' local[2]' if engine == 'spark' else ''})"
    n_customers = n_transactions // 20
    need = SEGMINT_BYTES_PER_CUSTOMER * n_customers
    if engine == "spark":
        need += SPARK_DRIVER_MEMORY_GB * 2**30
        over = _spark_over_budget(workdir, n_transactions)
        if over:
            return _skip(
                workdir,
                name,
                n_transactions,
                label,
                0,
                f"would take ~{over / 60:.0f} min on this machine (extrapolated from the "
                f"smaller size in this run; budget BENCH_SPARK_BUDGET_S)",
            )
    if need > 0.8 * _physical():
        return _skip(workdir, name, n_transactions, label, need, "would not fit in memory")
    import shutil

    import pandas as pd

    from segmint.activate import load_model, score_features
    from segmint.config import Config, SparkConfig
    from segmint.engines import default_memory_limit
    from segmint.pipeline import run_segmentation

    out = _results_dir(workdir) / f"out-{engine}-{n_transactions}"
    shutil.rmtree(out, ignore_errors=True)
    config = Config(
        seed=SEED,
        engine=engine,
        spark=SparkConfig(
            master="local[2]", conf={"spark.driver.memory": f"{SPARK_DRIVER_MEMORY_GB}g"}
        ),
    )
    start = time.perf_counter()
    result = run_segmentation(_data_path(workdir, n_transactions), out, config=config)
    wall = time.perf_counter() - start
    timings = json.loads((out / "run.json").read_text())["timings_seconds"]
    model = load_model(out)
    features = pd.read_parquet(out / "features.parquet")
    jvm = None
    if engine == "spark":
        from segmint.engines import assign_spark, spark_session

        spark = spark_session(config.spark)
        frame = spark.read.parquet(str(out / "features.parquet"))
        t0 = time.perf_counter()
        assign_spark(model, frame).write.mode("overwrite").parquet(str(out / "scored"))
        scoring = time.perf_counter() - t0
        jvm = _jvm_peak_mb(spark)
        spark.stop()
    else:
        t0 = time.perf_counter()
        score_features(model, features)
        scoring = time.perf_counter() - t0
    stages = ["ingest", "features", "segment", "profile", "evaluate", "report", "outputs"]
    rows = [
        {
            "benchmark": f"{label}: total",
            "size": _size(n_transactions),
            "wall_s": round(wall, 2),
            "customers": result.n_customers,
            "segments": result.n_segments,
            "peak_rss_mb": round(_peak_mb()),
            **({"jvm_peak_rss_mb": round(jvm)} if jvm else {}),
            "memory_limit": config.io.memory_limit or default_memory_limit(),
        }
    ]
    rows += [
        {"benchmark": f"{label}: {stage}", "size": _size(n_transactions), "wall_s": timings[stage]}
        for stage in stages
        if stage in timings
    ]
    rows.append(
        {
            "benchmark": f"{label}: scoring (all customers)",
            "size": _size(n_transactions),
            "wall_s": round(scoring, 3),
            "customers_per_second": round(len(features) / scoring) if scoring else None,
        }
    )
    shutil.rmtree(out, ignore_errors=True)
    return _save(workdir, name, rows)


def _stage(rows: list[dict] | None, suffix: str) -> float | None:
    """Wall seconds of the first row whose name ends with ``suffix`` (None if not timed)."""
    wall = _row(rows, suffix).get("wall_s")
    return float(wall) if isinstance(wall, int | float) else None


def _ratio(a: float | None, b: float | None) -> str:
    """``a / b`` with how many times faster (or slower) ``a`` is."""
    if not a or not b:
        return "n/a"
    if a <= b:
        return f"{a / b:.3f} ({b / a:.1f}x faster)"
    return f"{a / b:.2f} ({a / b:.1f}x slower)"


def summarise(sizes: list[int], workdir: str) -> list[dict]:
    """segmint / baseline ratios of this run, per size (time; < 1 means segmint is faster)."""
    rows = []
    for n in sizes:
        base = {s: _load(workdir, f"baseline-{s}-{n}") for s in ("tutorial", "vectorised")}
        for engine in ("duckdb", "spark"):
            seg = _load(workdir, f"segmint-{engine}-{n}")
            if seg is None or _stage(seg, ": total") is None:
                continue
            raw_to_features = (_stage(seg, ": ingest") or 0) + (_stage(seg, ": features") or 0)
            row = {
                "benchmark": f"ratio segmint ({engine}) / baseline, same run",
                "size": _size(n),
                "wall_s": "",
            }
            for style, b in base.items():
                if b is None or _stage(b, ": total") is None:
                    row[f"vs {style}"] = "baseline skipped"
                    continue
                b_features = b[0]["read_s"] + b[0]["features_s"]
                row[f"pipeline vs {style}"] = _ratio(_stage(seg, ": total"), _stage(b, ": total"))
                row[f"raw->features vs {style}"] = _ratio(raw_to_features, b_features)
                row[f"features-only vs {style} groupby"] = _ratio(
                    _stage(seg, ": features"), b[0]["features_s"]
                )
            rows.append(row)
    rows += _targets(workdir)
    return _save(workdir, "summary", rows)


def _row(rows: list[dict] | None, suffix: str) -> dict:
    return next((r for r in rows or [] if r["benchmark"].endswith(suffix)), {})


def _targets(workdir: str | Path) -> list[dict]:
    """The issue's targets, each with the figure measured in this run and met / not met."""
    out = []

    def target(name: str, size: str, measured: str, met: bool | None) -> None:
        verdict = "not measured" if met is None else ("met" if met else "NOT met")
        out.append(
            {
                "benchmark": f"target: {name}",
                "size": size,
                "wall_s": "",
                "measured": measured,
                "verdict": verdict,
            }
        )

    n = 10_000_000
    seg = _load(workdir, f"segmint-duckdb-{n}")
    for style in ("tutorial", "vectorised"):
        base = _load(workdir, f"baseline-{style}-{n}")
        if seg and base and _stage(seg, ": features") and _stage(base, ": total"):
            features = _stage(seg, ": features")
            raw = features + (_stage(seg, ": ingest") or 0)
            b_feat, b_raw = base[0]["features_s"], base[0]["features_s"] + base[0]["read_s"]
            single = _stage(_load(workdir, f"duckdb-rfm-{n}"), "from the file")
            target(
                f"features >= 20x faster than pandas ({style}) at 10M rows",
                _size(n),
                f"features stage {b_feat / features:.1f}x (segmint {features:.1f} s vs pandas "
                f"groupby {b_feat:.1f} s); raw file to features {b_raw / raw:.1f}x (segmint "
                f"ingest+validation+features {raw:.1f} s vs pandas read+groupby {b_raw:.1f} s)"
                + (
                    f"; one DuckDB query for the same 4 RFM features from the file: "
                    f"{b_raw / single:.1f}x ({single:.1f} s)"
                    if single
                    else ""
                ),
                b_feat / features >= 20,
            )
        else:
            target(f"features >= 20x faster than pandas ({style}) at 10M rows", _size(n), "", None)
    n = 20_000_000
    total = _stage(_load(workdir, f"segmint-duckdb-{n}"), ": total")
    target(
        "full pipeline on 1M customers / 20M transactions <= 180 s",
        _size(n),
        f"{total:.1f} s" if total else "",
        None if total is None else total <= 180,
    )
    speeds = [
        _row(_load(workdir, f"segmint-duckdb-{m}"), ": scoring (all customers)").get(
            "customers_per_second"
        )
        for m in (1_000_000, 10_000_000, 20_000_000, 50_000_000)
    ]
    speeds = [s for s in speeds if s]
    target(
        "batch scoring >= 1M customers/s",
        "largest size run",
        f"{speeds[-1]:,} customers/s" if speeds else "",
        None if not speeds else speeds[-1] >= 1_000_000,
    )
    n = 50_000_000
    run = _load(workdir, f"segmint-duckdb-{n}")
    peak = _row(run, ": total").get("peak_rss_mb")
    target(
        "segmint on DuckDB, 50M transactions within 8 GiB peak RSS",
        _size(n),
        f"{peak:,} MiB peak (memory_limit {_row(run, ': total').get('memory_limit')})"
        if peak
        else (_row(run, "skipped").get("skipped", "") if run else ""),
        None if not peak else peak <= 8 * 1024,
    )
    return out


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    work = str(HERE / "work")
    for job in (
        lambda: generate(size, work),
        lambda: run_baseline(size, work, "vectorised"),
        lambda: run_baseline(size, work, "tutorial"),
        lambda: run_duckdb_rfm(size, work),
        lambda: run_segmint(size, work, "duckdb"),
        lambda: run_segmint(size, work, "spark"),
        lambda: summarise([size], work),
    ):
        for row in job():
            print(row)
