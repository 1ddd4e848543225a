"""Bounded loopback load test of the scoring service.

Starts ``segmint serve`` as a real process on a free 127.0.0.1 port with a small generated
model, sends a fixed number of ``POST /v1/score`` requests (each a batch of customers with their
feature values) from a few concurrent httpx clients, stops the server, and reports p50/p99
latency and throughput. Loopback only; it stops by itself.
Run: ``python benchmarks/bench_api.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import _model

TOKEN = "bench-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(
    n_requests: int = 2000,
    clients: int = 8,
    batch: int = 100,
    workers: int = 2,
    timeout_s: float = 300.0,
) -> list[dict]:
    """Send ``n_requests`` (split over ``clients`` threads) of ``batch`` customers each.

    The server runs ``workers`` processes. The request body is encoded once (a real client
    sends from its own machine; here the load generator shares the two cores with the server).
    """
    with tempfile.TemporaryDirectory() as tmp:
        model, features = _model(Path(tmp))
        names = model.spec.names
        customers = [
            {"customer_id": str(r["customer_id"]), "features": {k: float(r[k]) for k in names}}
            for r in features.head(batch).to_dict(orient="records")
        ]
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "serve.log"
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "segmint",
                    "serve",
                    "--model",
                    str(model.path),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                ],
                env={**os.environ, "SEGMINT_TOKEN": TOKEN},
                stdout=sink,
                stderr=sink,
            )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {log.read_text()}")
                time.sleep(0.2)
            latencies: list[float] = []
            errors: list[int] = []
            lock = threading.Lock()
            stop_at = time.monotonic() + timeout_s
            per_client = [
                n_requests // clients + (i < n_requests % clients) for i in range(clients)
            ]

            body = json.dumps({"customers": customers}).encode()
            json_type = {"Content-Type": "application/json"}

            def worker(count: int) -> None:
                # the standard library's HTTP client, one kept-alive connection per client:
                # the load generator shares the two cores with the server, and httpx costs
                # about as much CPU per request as the server's own work
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                headers = {"Authorization": f"Bearer {TOKEN}", **json_type}
                try:
                    for _ in range(count):
                        if time.monotonic() > stop_at:
                            return
                        start = time.perf_counter()
                        connection.request("POST", "/v1/score", body=body, headers=headers)
                        response = connection.getresponse()
                        response.read()
                        elapsed = time.perf_counter() - start
                        with lock:
                            latencies.append(elapsed)
                            if response.status != 200:
                                errors.append(response.status)
                finally:
                    connection.close()

            started = time.perf_counter()
            threads = [threading.Thread(target=worker, args=(c,)) for c in per_client]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - started
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    lat = np.asarray(latencies) * 1000
    return [
        {
            "benchmark": "api: POST /v1/score (loopback)",
            "requests": len(lat),
            "errors": len(errors),
            "clients": clients,
            "server_workers": workers,
            "customers_per_request": batch,
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "target": "p99 <= 50 ms (issue 19)",
            "target_met": bool(np.percentile(lat, 99) <= 50),
            "requests_per_second": round(len(lat) / wall, 1),
            "customers_per_second": round(len(lat) * batch / wall, 1),
        }
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
