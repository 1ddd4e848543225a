"""Counts equal what was produced: no more segments than distinct customers, and library
warnings in the log, not on stderr (issue 19.6). Real files, the real CLI and library."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from segmint._logging import library_warnings_to_log


def _log(path: Path, profiles: int, n: int = 500) -> Path:
    lines = ["customer_id,date,amount"]
    for i in range(n):
        g = i % profiles
        lines += [f"C{i},2024-0{g + 1}-0{j + 1},{10 * (g + 1)}.00" for j in range(g + 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_identical_customers_refused_in_one_line(cli, tmp_path: Path) -> None:
    log = _log(tmp_path / "same.csv", profiles=1)
    out = tmp_path / "out"
    result = cli("run", "--transactions", str(log), "--out", str(out), "--k", "3")
    assert result.returncode == 2, result.stdout
    first = result.stderr.strip().splitlines()[0]
    assert first == (
        "error: the data have only 1 distinct customer(s) among 500 (the others identical in "
        "every feature), fewer than the 3 segments asked for."
    )
    assert "Warning" not in result.stderr  # no scikit-learn warning reaches stderr
    assert not (out / "run.json").exists()


def test_reported_segments_equal_segments_produced(cli, tmp_path: Path) -> None:
    log = _log(tmp_path / "four.csv", profiles=4)
    out = tmp_path / "out"
    result = cli("run", "--transactions", str(log), "--out", str(out), "--k", "4")
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
    run = json.loads((out / "run.json").read_text())
    model = json.loads((out / "model.json").read_text())
    produced = pd.read_parquet(out / "segments.parquet")["segment_id"].nunique()
    assert produced == run["counts"]["segments"] == model["segmenter"]["n_segments"] == 4
    assert f"{produced} segments of 500 customers" in result.stdout


def test_library_warnings_go_to_the_log(caplog, capsys) -> None:
    with caplog.at_level(logging.INFO, logger="segmint"), library_warnings_to_log() as seen:
        for _ in range(30):
            warnings.warn("Number of distinct clusters (1) found", ConvergenceWarning, stacklevel=1)
    assert capsys.readouterr().err == ""
    assert seen == {"ConvergenceWarning: Number of distinct clusters (1) found": 30}
    logged = [r.getMessage() for r in caplog.records if "ConvergenceWarning" in r.getMessage()]
    assert len(logged) == 1  # once, not 30 times


def test_run_captures_warnings_of_the_fit(tmp_path: Path, monkeypatch, caplog) -> None:
    import segmint.pipeline._segment as stage
    from segmint.pipeline import run_segmentation

    real = stage.fit_segmenter

    def noisy(*args, **kwargs):
        warnings.warn("did not converge", ConvergenceWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(stage, "fit_segmenter", noisy)
    log = _log(tmp_path / "four.csv", profiles=4)
    with (
        warnings.catch_warnings(record=True) as outside,
        caplog.at_level(logging.INFO, logger="segmint"),
    ):
        warnings.simplefilter("always")
        run_segmentation(log, tmp_path / "out")
    assert not [w for w in outside if issubclass(w.category, ConvergenceWarning)]
    assert any("ConvergenceWarning: did not converge" in r.getMessage() for r in caplog.records)
