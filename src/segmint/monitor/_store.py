"""The run store: a DuckDB file in the output folder recording every run.

Tables: ``runs`` (one row per run: ids, hashes, counts, metrics as JSON), ``assignments``
(run_id, customer_id, segment_id, segment_name), ``segment_profiles`` (run_id, segment_id,
name, customers, share, revenue_share), and for drift monitoring ``feature_quantiles`` (run_id,
feature, quantile, value: the quantile bins of every feature), ``segment_centres`` (run_id,
segment_id, feature, centre, scale: segment means on the transform scale and the feature's
standard deviation) and ``run_models`` (run_id, the sealed model document). Later runs into the
same folder append, so segments can be compared over time.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from segmint.activate._outputs import dumps
from segmint.exceptions import InputError

STORE_NAME = "segmint.duckdb"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, segmint_version VARCHAR,
    config_hash VARCHAR, data_fingerprint VARCHAR, snapshot_date DATE,
    n_customers BIGINT, n_segments INTEGER, method VARCHAR, metrics JSON, config JSON
);
CREATE TABLE IF NOT EXISTS assignments (
    run_id VARCHAR, customer_id VARCHAR, segment_id INTEGER, segment_name VARCHAR
);
CREATE TABLE IF NOT EXISTS segment_profiles (
    run_id VARCHAR, segment_id INTEGER, segment_name VARCHAR, customers BIGINT,
    share DOUBLE, revenue_share DOUBLE
);
CREATE TABLE IF NOT EXISTS feature_quantiles (
    run_id VARCHAR, feature VARCHAR, quantile DOUBLE, value DOUBLE
);
CREATE TABLE IF NOT EXISTS segment_centres (
    run_id VARCHAR, segment_id INTEGER, feature VARCHAR, centre DOUBLE, scale DOUBLE
);
CREATE TABLE IF NOT EXISTS run_models (run_id VARCHAR, model JSON);
"""


def record_run(
    staged_store: Path,
    existing_store: Path,
    run: dict[str, Any],
    assignments: pd.DataFrame,
    segment_table: pd.DataFrame,
    *,
    summary: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
) -> None:
    """Write ``existing_store`` plus this run into ``staged_store`` (moved into place later).

    ``summary`` is the run's feature summary (:func:`segmint.monitor.feature_summary`) and
    ``model`` its sealed model document; both are kept for drift monitoring.
    """
    if existing_store.exists():
        shutil.copyfile(existing_store, staged_store)
    con = duckdb.connect(str(staged_store))
    try:
        con.execute(_SCHEMA)
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run["run_id"],
                run["created_at"],
                run["segmint_version"],
                run["config_hash"],
                run["data_fingerprint"],
                run["snapshot_date"],
                run["n_customers"],
                run["n_segments"],
                run["method"],
                dumps(run["metrics"]),
                dumps(run["config"]),
            ],
        )
        frame = assignments.assign(run_id=run["run_id"])[
            ["run_id", "customer_id", "segment_id", "segment_name"]
        ]
        con.register("_assign", frame)
        con.execute("INSERT INTO assignments SELECT * FROM _assign")
        seg = segment_table.assign(run_id=run["run_id"])[
            ["run_id", "segment_id", "segment_name", "customers", "share", "revenue_share"]
        ]
        con.register("_seg", seg)
        con.execute("INSERT INTO segment_profiles SELECT * FROM _seg")
        if summary is not None:
            _insert_summary(con, run["run_id"], summary)
        if model is not None:
            con.execute("INSERT INTO run_models VALUES (?, ?)", [run["run_id"], dumps(model)])
    finally:
        con.close()


def open_store(store: Path) -> duckdb.DuckDBPyConnection:
    """Open a run store read-only; a file that is not one is a one-line :class:`InputError`."""
    if not Path(store).is_file():
        raise InputError(
            f"{store}: no run store here.",
            hint="Point --store at a run folder or its segmint.duckdb (written by segmint run).",
        )
    try:
        con = duckdb.connect(str(store), read_only=True)
        con.execute("SELECT count(*) FROM runs").fetchall()
    except duckdb.Error as exc:
        raise _unreadable(store, exc) from None
    return con


def _unreadable(store: Path, exc: duckdb.Error) -> InputError:
    return InputError(
        f"{store}: not a readable segmint run store "
        f"({str(exc).splitlines()[0].split(': ', 1)[-1]})",
        hint="The file is damaged or is not a run store; re-run 'segmint run' into a fresh "
        "folder, or restore the store from a backup.",
    )


@contextmanager
def read_store(store: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The run store open read-only for the ``with`` block, closed after it.

    A damaged store is the one-line :class:`InputError` of :func:`open_store`, whether the damage
    shows on opening or only when a query reaches it (a truncated file opens, and its first
    blocks answer).

    Parameters
    ----------
    store : Path
        The run store file (``segmint.duckdb``).

    Yields
    ------
    duckdb.DuckDBPyConnection
        A read-only connection to the store.
    """
    con = open_store(store)
    try:
        yield con
    except duckdb.Error as exc:
        raise _unreadable(store, exc) from None
    finally:
        con.close()


def list_runs(store: Path) -> pd.DataFrame:
    """The runs recorded in a store, newest first."""
    with read_store(store) as con:
        return con.sql(
            "SELECT run_id, created_at, snapshot_date, n_customers, n_segments, method, "
            "config_hash, data_fingerprint FROM runs ORDER BY created_at DESC"
        ).df()


def _insert_summary(con: duckdb.DuckDBPyConnection, run_id: str, summary: dict[str, Any]) -> None:
    levels = summary["quantile_levels"]
    quantiles = pd.DataFrame(
        [
            (run_id, feature, float(q), float(v))
            for feature, values in summary["feature_quantiles"].items()
            for q, v in zip(levels, values, strict=True)
        ],
        columns=["run_id", "feature", "quantile", "value"],
    )
    con.register("_fq", quantiles)
    con.execute("INSERT INTO feature_quantiles SELECT * FROM _fq")
    scale = summary["transform_scale"]
    centres = pd.DataFrame(
        [
            (run_id, int(seg), feature, float(value), float(scale[feature]))
            for seg, row in summary["transform_centres"].items()
            for feature, value in row.items()
        ],
        columns=["run_id", "segment_id", "feature", "centre", "scale"],
    )
    con.register("_sc", centres)
    con.execute("INSERT INTO segment_centres SELECT * FROM _sc")
