"""``segmint.run``: the command line's run from Python, returning the tables it writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import segmint
from segmint.exceptions import SegmintError


def _log(path: Path, n: int = 300, seed: int = 2) -> Path:
    rng = np.random.default_rng(seed)
    orders = 1 + rng.poisson(3.0, n)
    who = np.repeat(np.arange(n), orders)
    pd.DataFrame(
        {
            "customer_id": np.char.add("c", who.astype(str)),
            "order_date": pd.Timestamp("2023-01-01")
            + pd.to_timedelta(rng.integers(0, 600, who.size), unit="D"),
            "amount": rng.gamma(2.0, 30.0, who.size).round(2),
        }
    ).to_csv(path, index=False)
    return path


def test_run_returns_the_tables_the_command_writes(tmp_path: Path) -> None:
    log = _log(tmp_path / "tx.csv")
    result = segmint.run(log, tmp_path / "out", config={"seed": 3, "segmentation": {"k": 3}})
    written = pd.read_parquet(tmp_path / "out" / "segments.parquet")
    assert result.n_segments == 3 and result.n_customers == 300 == len(written)
    pd.testing.assert_frame_equal(
        result.segments[written.columns].reset_index(drop=True), written, check_dtype=False
    )
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["run_id"] == result.run_id
    assert sorted(result.names) == [0, 1, 2]


def test_run_takes_a_config_file_and_gives_one_line_errors(tmp_path: Path) -> None:
    log = _log(tmp_path / "tx.csv")
    config = tmp_path / "segmint.yaml"
    config.write_text("seed: 3\nsegmentation: {k: 2}\n", encoding="utf-8")
    assert segmint.run(log, tmp_path / "a", config=config).n_segments == 2
    with pytest.raises(SegmintError, match="not found"):
        segmint.run(tmp_path / "missing.csv", tmp_path / "b")
