"""Atomic runs: a run folder is complete (its manifest.json vouches for every file) or refused.

``segmint run`` is started in a real subprocess on a small generated log and killed with
SIGKILL at several moments: at random delays (fixed seed) and in the middle of the move of its
files into the folder (``os.replace`` slowed down in the child, so the kill lands there). After
each kill every reader (score, export, monitor, typing-tool, serve) must either see one complete
run (valid manifest; run.json, model.json and manifest.json of one run id) or refuse the folder
with the one ``incomplete run`` line and exit code 2. A normal run afterwards succeeds and
removes the leftovers; a second run into a folder that is being written is refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segmint.activate import MANIFEST_NAME, OutputFolder, check_run_folder, write_manifest
from segmint.exceptions import InputError, ModelError

INCOMPLETE = "incomplete run"
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "SEGMINT_TOKEN": "t" * 32}

# `python -m segmint` with os.replace slowed down (test only): the move of the run's files into
# its folder takes long enough to be killed in the middle of it
SLOW_MOVE = (
    "import os, sys, time\n"
    "_replace = os.replace\n"
    "def slow(a, b, **kw):\n"
    "    time.sleep(float(os.environ['SLOW_REPLACE']))\n"
    "    return _replace(a, b, **kw)\n"
    "os.replace = slow\n"
    "from segmint.cli import main\n"
    "sys.argv[0] = 'segmint'\n"
    "main()\n"
)

# every reader, through the real entry point, each in a forked child of one process (the
# imports are paid once): prints {reader: {"code": ..., "stderr": ...}} as JSON
PROBE = r"""
import json, os, sys, tempfile
from pathlib import Path
import segmint.activate._service as service
from segmint.activate import create_app
from segmint.cli import main

folder, tx, customers, scratch = sys.argv[1:5]
# serve: the real command, with the HTTP server replaced by building the app
service.serve = lambda model, token, **kw: create_app(model, token)
readers = {
    "score": ["score", "--model", folder, "--input", tx, "--out", f"{scratch}/scores.csv"],
    "export": ["export", "--run", folder, "--channel", "email", "--customers", customers,
               "--to", f"{scratch}/audience.csv"],
    "monitor": ["monitor", "--baseline", folder, "--current", folder, "--json"],
    "typing-tool": ["typing-tool", "--model", folder, "--out", f"{scratch}/typing"],
    "serve": ["serve", "--model", folder],
}
results = {}
for name, args in readers.items():
    err = tempfile.NamedTemporaryFile(delete=False)
    pid = os.fork()
    if pid == 0:
        os.dup2(err.fileno(), 2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 99
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    results[name] = {
        "code": os.waitstatus_to_exitcode(status),
        "stderr": Path(err.name).read_text(errors="replace"),
    }
    os.unlink(err.name)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """~300 customers: a transaction log and a customer table with email consent."""
    root = tmp_path_factory.mktemp("log")
    rng = np.random.default_rng(19)
    n = 300
    orders = rng.integers(1, 12, size=n)
    ids = np.repeat([f"C{i:04d}" for i in range(n)], orders)
    start = np.datetime64("2023-01-01")
    days = np.concatenate([rng.integers(0, 700, size=k) for k in orders])
    tx = pd.DataFrame(
        {
            "customer_id": ids,
            "order_date": (start + days.astype("timedelta64[D]")).astype(str),
            "amount": rng.gamma(2.0, 30.0, size=len(ids)).round(2),
        }
    )
    customers = pd.DataFrame(
        {"customer_id": [f"C{i:04d}" for i in range(n)], "email_consent": rng.random(n) < 0.7}
    )
    tx.to_csv(root / "transactions.csv", index=False)
    customers.to_csv(root / "customers.csv", index=False)
    return root / "transactions.csv", root / "customers.csv"


def start_run(tx: Path, out: Path, *, slow: float = 0.0) -> subprocess.Popen[str]:
    args = ["run", "--transactions", str(tx), "--out", str(out)]
    command = (
        [sys.executable, "-c", SLOW_MOVE, *args]
        if slow
        else [sys.executable, "-m", "segmint", *args]
    )
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**ENV, "SLOW_REPLACE": str(slow)},
    )


def run(tx: Path, out: Path) -> subprocess.CompletedProcess[str]:
    proc = start_run(tx, out)
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def kill(proc: subprocess.Popen[str]) -> bool:
    """SIGKILL; True when the run was still going (not finished before the kill)."""
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    return alive


def probe(folder: Path, tx: Path, customers: Path, scratch: Path) -> dict[str, dict]:
    scratch.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder), str(tx), str(customers), str(scratch)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def consistent_run_id(folder: Path) -> str:
    """The run id of a complete folder: its manifest, run.json and model.json agree on it."""
    manifest = check_run_folder(folder)
    run_id = json.loads((folder / "run.json").read_text())["run_id"]
    model_run = json.loads((folder / "model.json").read_text())["run_id"]
    assert manifest["run_id"] == run_id == model_run
    return run_id


def assert_complete_or_refused(folder: Path, seen: dict[str, dict]) -> str:
    """'complete' (every reader read one consistent run) or 'refused' (every reader refused)."""
    if not folder.exists():
        return "nothing written (killed before the folder was made)"
    try:
        check_run_folder(folder)
        complete = True
    except ModelError as exc:
        assert str(exc).startswith(f"{folder}: {INCOMPLETE} ("), exc
        complete = False
    for reader, outcome in seen.items():
        assert "Traceback" not in outcome["stderr"], (reader, outcome["stderr"])
        if complete:
            assert outcome["code"] == 0, (reader, outcome["stderr"])
        else:
            lines = [line for line in outcome["stderr"].splitlines() if line.strip()]
            assert outcome["code"] == 2, (reader, outcome)
            assert lines == [
                f"error: {folder}: {INCOMPLETE} (no manifest.json: the run was interrupted or is "
                "still being written); re-run segmint run"
            ], (reader, lines)
    if complete:
        consistent_run_id(folder)
    return "complete" if complete else "refused"


def staging_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".staging-*")) if folder.exists() else []


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.mark.slow
def test_a_killed_run_is_complete_or_refused_by_every_reader(log, tmp_path):
    tx, customers = log
    out = tmp_path / "out"
    rng = np.random.default_rng(4)
    outcomes = []
    # 1-3: killed after random delays (the first into an empty folder, the others over the
    # leftovers of a killed run)
    for delay in sorted(rng.uniform(0.2, 4.0, size=3)):
        proc = start_run(tx, out)
        time.sleep(delay)
        killed = kill(proc)
        seen = probe(out, tx, customers, tmp_path / "probe")
        outcomes.append((f"random {delay:.2f}s", killed, assert_complete_or_refused(out, seen)))

    leftovers = staging_folders(out)
    first = run(tx, out)
    assert first.returncode == 0, first.stderr
    if leftovers:  # the staging folders of the killed runs: removed, and said so
        assert f"removed {len(leftovers)} leftover(s) of an interrupted run" in first.stderr
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    consistent_run_id(out)

    # 4-6: killed in the middle of moving its files over the complete earlier run
    for step in (0, 3, 8):
        proc = start_run(tx, out, slow=0.15)
        wait_for(lambda p=proc: not (out / MANIFEST_NAME).exists() or p.poll() is not None)
        time.sleep(0.15 * step + 0.05)
        killed = kill(proc)
        seen = probe(out, tx, customers, tmp_path / "probe")
        outcomes.append((f"mid-move +{step} files", killed, assert_complete_or_refused(out, seen)))
    # 7-8: random delays over a complete run (usually before the move: the earlier run stays)
    leftovers = staging_folders(out)
    # the last mid-move kill's (each killed run removed the one before it on its start)
    assert len(leftovers) == 1
    run_ok = run(tx, out)
    assert run_ok.returncode == 0, run_ok.stderr
    assert f"removed 1 leftover(s) of an interrupted run: {leftovers[0]}" in run_ok.stderr
    assert not staging_folders(out)
    for delay in rng.uniform(0.2, 4.0, size=2):
        proc = start_run(tx, out)
        time.sleep(delay)
        killed = kill(proc)
        seen = probe(out, tx, customers, tmp_path / "probe")
        outcomes.append(
            (f"random {delay:.2f}s over a run", killed, assert_complete_or_refused(out, seen))
        )

    print("\n".join(f"{when}: killed={killed}, readers {what}" for when, killed, what in outcomes))
    assert sum(killed for _, killed, _ in outcomes) >= 5
    # the mid-move kills left folders with no manifest, refused by every reader
    assert [what for when, _, what in outcomes if when.startswith("mid-move")] == ["refused"] * 3

    leftovers = staging_folders(out)
    last = run(tx, out)
    assert last.returncode == 0, last.stderr
    if leftovers:
        assert f"removed {len(leftovers)} leftover(s) of an interrupted run" in last.stderr
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging, no lock
    consistent_run_id(out)
    seen = probe(out, tx, customers, tmp_path / "probe")
    assert assert_complete_or_refused(out, seen) == "complete"


def test_a_second_run_into_the_same_folder_is_refused(log, tmp_path):
    tx, _ = log
    out = tmp_path / "out"
    first = start_run(tx, out, slow=0.4)  # holds the lock for a few seconds
    try:
        wait_for(lambda: (out / ".segmint.lock").exists() or first.poll() is not None)
        second = run(tx, out)
        assert second.returncode == 2, second.stderr
        assert "Traceback" not in second.stderr
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert lines == [
            f"error: {out}: another segmint run (pid {first.pid}) is writing to this folder; "
            "wait for it to finish, or write to another folder with --out"
        ]
    finally:
        _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    consistent_run_id(out)


def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path, caplog):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".segmint.lock").write_text(f"{dead.pid}\n")
    (out / ".staging-0123456789ab").mkdir()
    (out / ".staging-0123456789ab" / "report.html").write_text("half")
    with caplog.at_level("WARNING", logger="segmint"), OutputFolder(out) as folder:
        folder.write_text("a.txt", "a")
        folder.commit(run_id="r1", created_at="2026-01-01T00:00:00+00:00")
    assert f"taking over the lock of run pid {dead.pid}" in caplog.text
    assert "removed 1 leftover(s) of an interrupted run: .staging-0123456789ab" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", MANIFEST_NAME]


def test_an_open_output_folder_refuses_another(tmp_path):
    with OutputFolder(tmp_path) as folder:
        with pytest.raises(InputError, match=rf"another segmint run \(pid {os.getpid()}\)"):
            OutputFolder(tmp_path).__enter__()
        folder.commit(run_id="r1", created_at=None)
    with OutputFolder(tmp_path) as folder:  # released: a later one may write
        folder.commit(run_id="r2", created_at=None)


def test_a_run_replaces_the_files_of_the_earlier_run(tmp_path):
    """A file the earlier run listed and this run does not write is removed with its manifest."""
    with OutputFolder(tmp_path) as folder:
        folder.write_text("run.json", json.dumps({"run_id": "r1"}))
        folder.write_text("lift.csv", "old")
        folder.commit(run_id="r1", created_at=None)
    (tmp_path / "audience_email.csv").write_text("not a run file")
    with OutputFolder(tmp_path) as folder:
        folder.write_text("run.json", json.dumps({"run_id": "r2"}))
        folder.commit(run_id="r2", created_at=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "audience_email.csv",
        MANIFEST_NAME,
        "run.json",
    ]
    assert check_run_folder(tmp_path)["run_id"] == "r2"


def test_files_added_to_a_complete_run_join_its_manifest(tmp_path):
    """typing-tool writes into the run folder: the manifest lists its files, same run id."""
    (tmp_path / "run.json").write_text(json.dumps({"run_id": "r1", "created_at": "x"}))
    write_manifest(tmp_path)
    with OutputFolder(tmp_path) as folder:
        folder.write_text("typing_tool.json", "{}")
        folder.commit()
    manifest = check_run_folder(tmp_path)
    assert manifest["run_id"] == "r1"
    assert [f["name"] for f in manifest["files"]] == ["run.json", "typing_tool.json"]


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda d: (d / MANIFEST_NAME).unlink(), "no manifest.json"),
        (lambda d: (d / MANIFEST_NAME).write_text("{"), "manifest.json is not a valid manifest"),
        (
            lambda d: (d / "segments.csv").unlink(),
            "segments.csv listed in manifest.json is missing",
        ),
        (lambda d: (d / "segments.csv").write_text("a,b\n"), "segments.csv has 4 bytes"),
        (
            lambda d: (d / "run.json").write_text(json.dumps({"run_id": "r2", "pad": "x"})),
            "run.json differs from the one manifest.json lists",
        ),
    ],
)
def test_a_damaged_run_folder_is_refused(tmp_path, damage, why):
    (tmp_path / "run.json").write_text(json.dumps({"run_id": "r1", "pad": "x"}))
    (tmp_path / "segments.csv").write_text("customer_id\n1\n")
    write_manifest(tmp_path)
    check_run_folder(tmp_path)
    damage(tmp_path)
    with pytest.raises(ModelError, match=f"incomplete run \\({why}"):
        check_run_folder(tmp_path)
