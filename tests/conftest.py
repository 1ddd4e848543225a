"""Shared fixtures: real files, real DuckDB, the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEGMINT_SHARED_DATA", REPO.parent / "shared" / "data"))
CDNOW_MASTER = SHARED_DATA / "cdnow" / "CDNOW_master.txt"
CDNOW_SAMPLE = SHARED_DATA / "cdnow" / "CDNOW_sample.txt"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m segmint ARGS`` as a user would, capturing output."""
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "segmint", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="session")
def cli():
    """The real command line, run in a subprocess: ``cli("run", "--out", ...)``."""
    return run_cli


@pytest.fixture(scope="session")
def cdnow_master() -> Path:
    if not CDNOW_MASTER.exists():
        pytest.fail(f"shared data missing: {CDNOW_MASTER} (CI has ../shared beside the repo)")
    return CDNOW_MASTER


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo, once, through the real CLI: ``segmint demo --customers 20000 --seed 7``."""
    out = tmp_path_factory.mktemp("demo") / "out"
    result = run_cli("demo", "--out", str(out), "--customers", "20000", "--seed", "7")
    assert result.returncode == 0, result.stderr
    return out
