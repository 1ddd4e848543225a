"""Fixtures of the data-in tests: a real PostgreSQL server, demo data as files, CLI helpers."""

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
from dataclasses import dataclass
from pathlib import Path

import pytest

from segmint.datasets import make_retail

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback TCP port nobody listens on (bound and released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_segmint(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m segmint ARGS`` in a subprocess, wide terminal so no line is wrapped."""
    env = {**os.environ, "COLUMNS": "1000", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", "segmint", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=timeout,
    )


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    pytest.fail(
        f"PostgreSQL server binaries not found ({name} is neither on PATH nor in "
        f"/usr/lib/postgresql/*/bin). Install the Debian package 'postgresql' "
        f"(scripts/setup-system.sh does so as part of 'make test').",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def segmint_cli():
    """``segmint_cli("run", ...)``: the real command line in a subprocess (no line wrapping)."""
    return run_segmint


@pytest.fixture(scope="session")
def closed_port():
    """A function giving a loopback port where nothing listens."""
    return free_port


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL server on the loopback interface, user ``segmint`` (trust)."""

    port: int
    base: Path

    def url(self, database: str = "shop") -> str:
        return f"postgresql://segmint@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "shop"):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="segmint", dbname=database, autocommit=True
        )


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *cmd]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]


def _create_orders(server: PostgresServer, csv_path: Path) -> None:
    """Table ``orders`` in database ``shop``: the demo transactions, parsed by PostgreSQL."""
    header = csv_path.read_text().splitlines()[0].split(",")
    types = {"order_date": "date", "amount": "numeric", "discount": "numeric", "cost": "numeric"}
    types["quantity"] = "integer"
    columns = ", ".join(f"{c} {types.get(c, 'text')}" for c in header)
    with server.connect() as pg:
        pg.execute(f"CREATE TABLE orders ({columns})")
        with pg.cursor().copy("COPY orders FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            copy.write(csv_path.read_bytes())


@pytest.fixture(scope="session")
def pg_server(demo_files: dict[str, Path]) -> Iterator[PostgresServer]:
    """initdb + pg_ctl start on a free port, database ``shop`` with the demo transactions as
    table ``orders``; stopped and removed at the end of the session."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="segmint-pg-"))
    base.chmod(0o755)
    data, sock = base / "data", base / "sock"
    data.mkdir()
    sock.mkdir()
    if os.geteuid() == 0:
        try:
            shutil.chown(data, "postgres", "postgres")
            shutil.chown(sock, "postgres", "postgres")
        except (LookupError, PermissionError) as exc:
            pytest.fail(f"cannot hand the PostgreSQL data folder to user postgres: {exc}")
    log = base / "server.log"
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(log, "postgres", "postgres")
    init = subprocess.run(
        _as_postgres_user(
            [initdb, "-D", str(data), "-U", "segmint", "-A", "trust", "-E", "UTF8", "--no-sync"]
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed: {init.stderr or init.stdout}", pytrace=False)
    port = free_port()
    options = (
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
        f"-c full_page_writes=off -c synchronous_commit=off"
    )
    start = subprocess.run(
        _as_postgres_user([pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if start.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {start.stderr} {log.read_text()}", pytrace=False)
    server = PostgresServer(port, base)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with server.connect("postgres") as conn:
                    conn.execute("CREATE DATABASE shop")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        _create_orders(server, demo_files["transactions"])
        yield server
    finally:
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small generated retailer written as CSV (customers, transactions, events, survey)."""
    return make_retail(300, seed=1).write(tmp_path_factory.mktemp("demo-data"))
