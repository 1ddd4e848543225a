"""Fixtures for activation tests: a real segmentation run, a real PostgreSQL server, a real
scoring service process. Everything on loopback, everything stopped in teardown."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from segmint.config import Config
from segmint.datasets import make_retail
from segmint.pipeline import run_segmentation

# one k, few starts, no resampling: the run is a fixture, not the subject of these tests
FAST = {"method": "kmeans", "k": 5, "n_init": 3, "stability_resamples": 0}
TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def retail_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """3,000 generated customers segmented by the real pipeline: data paths and run folder."""
    root = tmp_path_factory.mktemp("retail")
    paths = make_retail(3000, seed=7).write(root / "data")
    run_segmentation(
        paths["transactions"],
        root / "run",
        customers=paths["customers"],
        config=Config(seed=7, segmentation=FAST),
    )
    return {**paths, "run": root / "run"}


def _pg_binaries() -> Path:
    candidates = [Path("/usr/local/bin")] + [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    ]
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/local/bin or "
        "/usr/lib/postgresql/*/bin: install the postgresql package (scripts/setup-system.sh)."
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on a free loopback port, in a temporary data directory."""
    bindir = _pg_binaries()
    root = Path(tempfile.mkdtemp(prefix="segmint-activate-pg-"))
    data, log = root / "data", root / "server.log"
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    os.chmod(root, 0o755)
    if as_root:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    init = subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "segmint",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed: {init.stderr or init.stdout}")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    if start.returncode != 0:
        text = log.read_text() if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {start.stderr}\n{text}")
    try:
        yield f"postgresql://segmint@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def service(retail_run: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`segmint serve` as a real process on a free loopback port; yields the base URL."""
    port = free_port()
    env = {**os.environ, "SEGMINT_TOKEN": TOKEN}
    log = tmp_path_factory.mktemp("service") / "serve.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "segmint",
                "serve",
                "--model",
                str(retail_run["run"]),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"segmint serve exited: {log.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"segmint serve did not answer /healthz within 90 s: {log.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
