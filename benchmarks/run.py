"""Run every benchmark, each in a fresh process, and write benchmarks/results.md and .json.

Each case runs in its own Python process, which reports its wall time and its own peak resident
memory (``ru_maxrss``), so one case's memory never hides another's. ``BENCH_QUICK=1`` runs small
sizes only (a smoke run); the default sizes are the ones the targets are stated for.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = os.environ.get("BENCH_QUICK") == "1"
WORK = HERE / "work"

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {here!r})
module = __import__({module!r})
start = time.perf_counter()
rows = getattr(module, {function!r})(**{kwargs!r})
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("BENCH-RESULT " + json.dumps({{"rows": rows, "process_wall_s": wall, "peak_rss_mb": peak}}))
"""


def cases() -> list[tuple[str, str, dict]]:
    """(module, function, keyword arguments) of every case, at full or quick sizes."""
    n = 20_000 if QUICK else 1_000_000
    baselines = ("vectorised", "tutorial")
    # bench_scale: per size baseline (two styles), segmint on DuckDB and on Spark, then the
    # ratios; 20M transactions (~1M customers) runs DuckDB only, for its pipeline target
    scale: list[tuple[str, str, dict]] = []
    for size in [100_000, 200_000] if QUICK else [1_000_000, 10_000_000, 20_000_000, 50_000_000]:
        args = {"n_transactions": size, "workdir": str(WORK)}
        scale.append(("bench_scale", "generate", args))
        if size != 20_000_000:
            scale += [("bench_scale", "run_baseline", {**args, "style": s}) for s in baselines]
            scale.append(("bench_scale", "run_duckdb_rfm", args))
        scale.append(("bench_scale", "run_segmint", {**args, "engine": "duckdb"}))
        if size != 20_000_000:
            scale.append(("bench_scale", "run_segmint", {**args, "engine": "spark"}))
    sizes = sorted({c[2]["n_transactions"] for c in scale})
    scale.append(("bench_scale", "summarise", {"sizes": sizes, "workdir": str(WORK)}))
    return [
        ("bench_segment", "run_segmint", {"n_customers": n}),
        ("bench_segment", "run_baseline", {"n_customers": n}),
        ("bench_scoring", "run", {"n_customers": n}),
        (
            "bench_ingest",
            "run",
            {"sizes": [200_000 if QUICK else 20_000_000], "workdir": str(WORK / "ingest")},
        ),
        ("bench_api", "run", {"n_requests": 200 if QUICK else 2000}),
        *scale,
    ]


def run_case(module: str, function: str, kwargs: dict) -> dict:
    code = CHILD.format(here=str(HERE), module=module, function=function, kwargs=kwargs)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=3600
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH-RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return {
            "case": f"{module}.{function}",
            "error": proc.stderr.strip()[-2000:],
            "wall_s": round(time.perf_counter() - start, 2),
        }
    result = json.loads(line.removeprefix("BENCH-RESULT "))
    result["case"] = f"{module}.{function}"
    return result


def markdown(results: list[dict]) -> str:
    lines = [
        "# segmint benchmarks",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{'quick sizes' if QUICK else 'full sizes'}; written {time.strftime('%Y-%m-%d %H:%M')}.",
        "Peak RSS is the case's own process (`ru_maxrss`).",
        "",
        "| case | benchmark | size | wall (s) | peak RSS (MiB) | details |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        if "error" in result:
            lines.append(
                f"| {result['case']} | failed | | {result['wall_s']} | | "
                f"{result['error'].splitlines()[-1] if result['error'] else ''} |"
            )
            continue
        for row in result["rows"]:
            row = dict(row)
            name = row.pop("benchmark", result["case"])
            size = row.pop("size", row.pop("rows", ""))
            wall = row.pop("wall_s", round(result["process_wall_s"], 2))
            details = ", ".join(f"{k}={v}" for k, v in row.items())
            lines.append(
                f"| {result['case']} | {name} | {size} | {wall} | "
                f"{result['peak_rss_mb']:.0f} | {details} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    results = []
    for module, function, kwargs in cases():
        print(f"running {module}.{function} {kwargs}", flush=True)
        results.append(run_case(module, function, kwargs))
        print(json.dumps(results[-1])[:400], flush=True)
    suffix = "-quick" if QUICK else ""
    (HERE / f"results{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / f"results{suffix}.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
