"""A corpus of malformed inputs: each fails with InputError naming the file and saying why.

Every case is checked twice: in process (exact exception class and message) and through the real
command line, ``python -m segmint run --transactions <case>`` in a subprocess: exit code 2, one
``error:`` line (plus its hint), no traceback, and nothing half-written in the output folder.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

from segmint.exceptions import InputError
from segmint.io import load_transactions, map_columns, read_source

GOOD = "customer_id,order_id,order_date,amount\nC1,O1,2024-01-01,10.50\nC2,O2,2024-01-02,3.20\n"


@dataclass
class Case:
    name: str
    source: str  # what is passed to read_source / --transactions
    message: str  # a part of the message that says what is wrong
    names: str  # what the message must name (the file, the row, the column)


def _xlsx_bytes() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["customer_id", "order_id", "order_date", "amount"])
    book.active.append(["C1", "O1", "2024-01-01", 1.5])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"customer_id": ["C1"] * 500, "amount": range(500)}).to_parquet(buffer)
    return buffer.getvalue()


def _sav_bytes(folder: Path) -> bytes:
    import pyreadstat

    path = folder / "_whole.sav"
    pyreadstat.write_sav(pd.DataFrame({"id": list(range(300)), "q": [1.0] * 300}), str(path))
    data = path.read_bytes()
    path.unlink()
    return data


def build_corpus(folder: Path, port: int) -> list[Case]:
    """Write the malformed files into ``folder``; return what each must fail with."""
    cases: list[Case] = []

    def add(name: str, content: bytes | None, message: str, names: str | None = None) -> None:
        path = folder / name
        if content is not None:
            path.write_bytes(content)
        cases.append(Case(name, str(path), message, names or name))

    add("empty.csv", b"", "the file is empty")
    add("blank_lines.csv", b"\n\n   \n\r\n", "the file is empty")
    add("header_only.csv", b"customer_id,order_id,order_date,amount\n", "no data rows")
    add("one_column.csv", b"customer_id\nC1\nC2\nC3\n", "only one column ('customer_id')")
    add("binary.csv", bytes(range(256)) * 40, "is a binary file")
    add("workbook_named.csv", _xlsx_bytes(), "is a zip archive")
    add(
        "inconsistent.csv",
        b"customer_id,order_date,amount\n" + b"C1,2024-01-01,1,x,y\n" * 5,
        "none of the 5 data rows has the 3 columns",
        "row 1",
    )
    add(
        "mixed_encoding.csv",
        (
            "customer_id,order_date,amount,note\nC1,2024-01-01,1,Müller\n".encode()
            + b"C2,2024-01-02,2,M\xfcller\n"
        ),
        "line 3 is not valid UTF-8",
    )
    add(
        "truncated_utf16.csv",
        GOOD.encode("utf-16")[:-1],
        "ends in the middle of a character",
    )
    add("truncated.csv.gz", gzip.compress(GOOD.encode() * 2000)[:300], "damaged or truncated")
    add("not_gzip.csv.gz", GOOD.encode(), "damaged or truncated")
    add("truncated.parquet", _parquet_bytes()[:-200], "cannot be read as Parquet")
    add("text.parquet", GOOD.encode(), "cannot be read as Parquet")
    empty = io.BytesIO()
    pd.DataFrame({"customer_id": pd.Series([], dtype="str")}).to_parquet(empty)
    add("no_rows.parquet", empty.getvalue(), "has no rows")
    xlsx = _xlsx_bytes()
    add("truncated.xlsx", xlsx[: len(xlsx) // 2], "cannot be read as an Excel workbook")
    add("corrupt_member.xlsx", _corrupt_member(xlsx), "cannot be read as an Excel workbook")
    blank_book = openpyxl.Workbook()
    blank_buffer = io.BytesIO()
    blank_book.save(blank_buffer)
    add("blank_sheet.xlsx", blank_buffer.getvalue(), "is empty")
    (folder / "sheets.xlsx").write_bytes(xlsx)
    cases.append(
        Case(
            "missing_sheet",
            str(folder / "sheets.xlsx") + "#Orders",
            "has no sheet 'Orders'",
            "sheets.xlsx",
        )
    )
    add("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old Excel .xls")
    add(
        "truncated.json",
        b'[{"customer_id": "C1", "amount": 1}, {"customer_id": "C2", "am',
        "not valid JSON",
    )
    add("numbers.json", b"[1, 2, 3]", "none of the 3 records is a JSON object")
    add("scalar.json", b'"just a string"', "is not JSON records")
    add("truncated.sav", _sav_bytes(folder)[:700], "cannot be read as an SPSS file")
    add("orders.xyz", GOOD.encode(), "unknown file type '.xyz'")
    add("reserved.csv", b"_row,customer_id,order_date,amount\n1,C1,2024-01-01,1\n", "_row")
    add(
        "no_amount.csv",
        b"customer_id,order_date,colour\nC1,2024-01-01,red\nC2,2024-01-02,blue\n",
        "no column found for amount",
        "amount (transactions)",
    )
    add(
        "no_dates.csv",
        b"customer_id,order_date,amount\nC1,soon,1\nC2,later,2\n",
        "column 'order_date' holds no recognisable dates",
    )
    (folder / "folder.csv").mkdir()
    cases.append(Case("folder.csv", str(folder / "folder.csv"), "is a folder", "folder.csv"))
    cases.append(Case("missing.csv", str(folder / "missing.csv"), "file not found", "missing.csv"))
    cases.append(
        Case(
            "db_refused",
            f"postgresql://segmint@127.0.0.1:{port}/shop#orders",
            "cannot connect to the database",
            f"127.0.0.1:{port}/shop",
        )
    )
    return cases


def _corrupt_member(xlsx: bytes) -> bytes:
    """The workbook with its sheet XML cut short (a valid zip around a broken sheet)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]
            dst.writestr(item, data)
    return out.getvalue()


CORPUS_NAMES = [
    "empty.csv", "blank_lines.csv", "header_only.csv", "one_column.csv", "binary.csv",
    "workbook_named.csv", "inconsistent.csv", "mixed_encoding.csv", "truncated_utf16.csv",
    "truncated.csv.gz", "not_gzip.csv.gz", "truncated.parquet", "text.parquet",
    "no_rows.parquet", "truncated.xlsx", "corrupt_member.xlsx", "blank_sheet.xlsx",
    "missing_sheet", "old.xls", "truncated.json", "numbers.json", "scalar.json",
    "truncated.sav", "orders.xyz", "reserved.csv", "no_amount.csv", "no_dates.csv",
    "folder.csv", "missing.csv", "db_refused",
]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, closed_port) -> dict[str, Case]:
    cases = build_corpus(tmp_path_factory.mktemp("corpus"), closed_port())
    assert [c.name for c in cases] == CORPUS_NAMES
    return {c.name: c for c in cases}


def _ingest(source: str) -> None:
    """What ``segmint run`` does with a transaction source, up to the typed table."""
    con = duckdb.connect()
    try:
        raw = read_source(con, source, "raw_transactions")
        matches = map_columns(raw.columns, "transactions", path=str(raw.path))
        load_transactions(con, raw, matches)
    finally:
        con.close()


def test_the_corpus_has_at_least_twenty_kinds_of_bad_input() -> None:
    assert len(CORPUS_NAMES) >= 20


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_bad_input_raises_input_error_naming_file_and_cause(
    corpus: dict[str, Case], name: str
) -> None:
    case = corpus[name]
    with pytest.raises(InputError) as caught:
        _ingest(case.source)
    assert type(caught.value) is InputError
    message = caught.value.message
    assert case.message in message, message
    assert case.names in message, message
    assert "\n" not in message
    assert caught.value.hint, "every input error carries a hint"
    assert "Traceback" not in str(caught.value)


# Runs each argument list through segmint.cli.main() -- what ``python -m segmint`` calls -- in
# one interpreter, recording exit code, stdout and stderr per invocation. Starting a fresh
# interpreter costs ~2.5 CPU-seconds of imports per ``run``; the true ``python -m segmint``
# entry point is exercised separately below for one case of each reader.
DRIVER = """
import contextlib, io, json, sys, traceback
from segmint import cli

args_path, out_path = sys.argv[1], sys.argv[2]
results = []
for args in json.load(open(args_path)):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        sys.argv = ["segmint", *args]
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = -1
    results.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
json.dump(results, open(out_path, "w"))
"""


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli_batch(invocations: list[list[str]], work: Path) -> list[CliResult]:
    (work / "driver.py").write_text(DRIVER)
    (work / "args.json").write_text(json.dumps(invocations))
    done = subprocess.run(
        [sys.executable, str(work / "driver.py"), str(work / "args.json"), str(work / "out.json")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "1000", "NO_COLOR": "1", "TERM": "dumb"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return [
        CliResult(r["code"], r["stdout"], r["stderr"])
        for r in json.loads((work / "out.json").read_text())
    ]


@pytest.fixture(scope="module")
def cli_results(
    corpus: dict[str, Case], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[CliResult, CliResult, Path, Path]]:
    """Every case through ``segmint run`` (into a new folder and into a used one) and
    ``segmint inspect``."""
    base = tmp_path_factory.mktemp("cli-out")
    invocations, folders = [], []
    for case in corpus.values():
        fresh, used = base / f"{case.name}-new", base / f"{case.name}-used"
        used.mkdir()
        (used / "report.html").write_text("an earlier run")
        folders.append((fresh, used))
        invocations.append(["run", "--transactions", case.source, "--out", str(fresh)])
        invocations.append(["run", "--transactions", case.source, "--out", str(used)])
        invocations.append(["inspect", case.source, "--role", "transactions"])
    results = run_cli_batch(invocations, base)
    out = {}
    for i, case in enumerate(corpus.values()):
        run_new, run_used, inspect = results[3 * i : 3 * i + 3]
        out[case.name] = (run_new, run_used, inspect, *folders[i])
    return out


def _assert_one_error_line(result: CliResult, case: Case) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert case.message in errors[0] and case.names in errors[0]
    assert all(line.startswith(("error:", "hint:")) for line in lines), result.stderr


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_cli_prints_one_error_line_exits_2_and_writes_nothing(
    corpus: dict[str, Case], cli_results, name: str
) -> None:
    case = corpus[name]
    run_new, run_used, inspect, fresh, used = cli_results[name]
    for result in (run_new, run_used, inspect):
        _assert_one_error_line(result, case)
    assert not fresh.exists() or not any(fresh.iterdir())
    assert sorted(p.name for p in used.iterdir()) == ["report.html"]
    assert (used / "report.html").read_text() == "an earlier run"


@pytest.mark.parametrize(
    "name",
    [
        "inconsistent.csv",
        "truncated.parquet",
        "corrupt_member.xlsx",
        "db_refused",
    ],
)
def test_python_m_segmint_run_exits_2_with_one_line(
    corpus: dict[str, Case], segmint_cli, tmp_path: Path, name: str
) -> None:
    case = corpus[name]
    out = tmp_path / "out"
    result = segmint_cli("run", "--transactions", case.source, "--out", str(out))
    _assert_one_error_line(CliResult(result.returncode, result.stdout, result.stderr), case)
    assert not out.exists()


def _without_file_read_override() -> Callable[[list[str]], list[str]] | None:
    """How to run a command that cannot read a chmod-000 file: root bypasses file modes, so
    as root the capabilities that do so (DAC override / read-search) are dropped with setpriv;
    None when neither applies."""
    if os.geteuid() != 0:
        return lambda cmd: cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return lambda cmd: [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]


def test_unreadable_file_is_permission_denied(tmp_path: Path) -> None:
    wrap = _without_file_read_override()
    if wrap is None:
        pytest.skip("running as root without setpriv: root reads a chmod-000 file regardless")
    path = tmp_path / "locked.csv"
    path.write_text(GOOD)
    path.chmod(0)
    try:
        result = subprocess.run(
            wrap([sys.executable, "-m", "segmint", "inspect", str(path)]),
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "1000"},
            timeout=120,
        )
    finally:
        path.chmod(0o644)
    assert result.returncode == 2, result.stderr
    assert f"error: {path}: permission denied." in result.stderr
    assert "Traceback" not in result.stderr


def test_a_messy_but_readable_file_is_not_an_error(tmp_path: Path) -> None:
    # rows with problems are quarantined, not fatal: only unreadable sources raise
    path = tmp_path / "messy.csv"
    path.write_text(GOOD + "C3,O3,not a date,1\nC4,O4,2024-01-03\n")
    con = duckdb.connect()
    raw = read_source(con, path, "raw")
    account = load_transactions(con, raw, map_columns(raw.columns, "transactions"))
    assert account.quarantined == {"malformed_line": 1, "unparseable_date": 1}
    assert (
        json.loads(
            con.execute(
                "SELECT record FROM quarantine WHERE reason = 'unparseable_date'"
            ).fetchall()[0][0]
        )["order_date"]
        == "not a date"
    )
