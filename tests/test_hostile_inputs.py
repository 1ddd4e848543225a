"""Hostile input through the command line and the scoring API (issue 19, item 8).

Command line: each case writes real small files into its own folder and runs the real entry
point (``segmint.cli.main``, all cases in one interpreter through ``run_cli_batch`` of the bad-file
corpus, with ``SEGMINT_MODEL_KEY`` set). Each must exit with code 2 and one ``error:`` line (plus
its hint) naming the file and, where there is one, the row or column; print no traceback; and
leave its folder exactly as it was (no output, no half-written run, no staging leftovers; an
earlier run given as ``--out`` unchanged). One run folder and its data are shared by every case.

API: the real FastAPI app (``create_app``) on that run's model, through Starlette's TestClient.
Each hostile request must get its 4xx status, never a 5xx, with a strict-JSON body holding a
``detail``.

Cases covered elsewhere and not repeated here: for ``segmint run``, the empty file, a binary
file named .csv and an unparseable date column (``tests/io/test_bad_files.py``, into a new and a
used folder); a history store of random bytes and a bare model.json resealed while a key is set
(``tests/test_hostile_outputs.py``); NaN and Infinity feature values, a 17 MB body, 10,001
customers, a missing feature and missing or wrong tokens over the live server
(``tests/activate/test_service.py``). Here their variants: other commands, a truncated real store,
a forged model inside a run folder whose manifest was recomputed, streamed bodies, the
transactions route, unknown features, wrong types, nesting and bad UTF-8.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from segmint.activate import write_manifest
from segmint.activate._model import content_hash, content_hmac

from .io.test_bad_files import CliResult, run_cli_batch
from .test_cli_errors import lines_of

KEY = "hostile-suite-signing-key-0123456789"
TOKEN = "hostile-suite-token-0123456789abcdef"
N_CUSTOMERS = 80
K = 5
HOSTILE_DATE = "date'); DROP TABLE raw_transactions; --"
HOSTILE_AMOUNT = 'amount" OR 1=1; SELECT 1 --'


@dataclass(frozen=True)
class Shared:
    """The data and run folder every case starts from (never written to by a case)."""

    root: Path
    tx: Path
    customers: Path
    run: Path


@dataclass(frozen=True)
class Case:
    """A command line and what its one error line must say and name."""

    args: list[str]
    says: str  # what is wrong
    names: tuple[str, ...]  # the file (folder), row, column the line must name


def _tx_rows() -> list[list[str]]:
    """240 lines of 80 customers: ``customer_id, order_id, order_date, amount``."""
    rows = []
    for i in range(N_CUSTOMERS):
        for j in range(1 + i % 5):
            day = 1 + (i * 7 + j * 11) % 28
            month = 1 + (i + j * 3) % 12
            amount = 5 + (i * 13 + j * 29) % 190 + 0.25 * (i % 4)
            rows.append([f"C{i:03d}", f"O{i}_{j}", f"2023-{month:02d}-{day:02d}", f"{amount:.2f}"])
    return rows


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


HEADER = ["customer_id", "order_id", "order_date", "amount"]


# --- the cases: each builds its files in its own folder and returns its command line ---


def _huge_amounts(case: Path) -> Path:
    rows = [[*r[:3], "1e28" if n % 2 else "3.5e30"] for n, r in enumerate(_tx_rows())]
    return _write_csv(case / "huge.csv", HEADER, rows)


def run_huge_amounts(shared: Shared, case: Path) -> Case:
    path = _huge_amounts(case)
    args = ["run", "--transactions", str(path), "--out", str(case / "out")]
    return Case(args, "none of the 240 rows could be used", (str(path), "implausible_amount"))


def clv_huge_amounts(shared: Shared, case: Path) -> Case:
    path = _huge_amounts(case)
    args = ["clv", "--transactions", str(path), "--calibration-end", "2023-09-30"]
    return Case(args, "none of the 240 rows could be used", (str(path), "implausible_amount"))


def run_k_over_customers(shared: Shared, case: Path) -> Case:
    args = ["run", "--transactions", str(shared.tx), "--out", str(case / "out"), "--k", "500"]
    # the line counts the customers of the transaction file; it does not name the file
    return Case(args, "500 segments need at least 501", (f"only {N_CUSTOMERS} customer(s)",))


def history_truncated_store(shared: Shared, case: Path) -> Case:
    store = case / "segmint.duckdb"
    data = (shared.run / "segmint.duckdb").read_bytes()
    store.write_bytes(data[: len(data) // 2])
    return Case(
        ["history", "--store", str(store)], "not a readable segmint run store", (str(store),)
    )


def typing_tool_without_run_json(shared: Shared, case: Path) -> Case:
    run = case / "run"
    shutil.copytree(shared.run, run)
    (run / "run.json").unlink()
    args = ["typing-tool", "--model", str(run), "--out", str(case / "tt")]
    return Case(args, "incomplete run", (str(run), "run.json listed in manifest.json is missing"))


def _model(shared: Shared) -> dict[str, Any]:
    return json.loads((shared.run / "model.json").read_text(encoding="utf-8"))


def _reseal(doc: dict[str, Any], *, hmac_of: dict[str, Any] | None = None) -> dict[str, Any]:
    """``doc`` with its SHA-256 recomputed and the HMAC of ``hmac_of`` (default: of ``doc``)."""
    body = {k: v for k, v in doc.items() if k != "integrity"}
    integrity = {"algorithm": "sha256", "content_sha256": content_hash(body)}
    integrity["hmac_sha256"] = content_hmac(hmac_of or body, KEY.encode())
    return body | {"integrity": integrity}


def score_forged_model_in_run(shared: Shared, case: Path) -> Case:
    """An edited model.json with its SHA-256 and the run's manifest recomputed: only the HMAC
    (SEGMINT_MODEL_KEY is set) can tell."""
    run = case / "run"
    shutil.copytree(shared.run, run)
    doc = _model(shared)
    forged = dict(doc, segments=[dict(s, name=f"Forged {s['id']}") for s in doc["segments"]])
    signature = {k: v for k, v in doc.items() if k != "integrity"}  # the original's signature
    (run / "model.json").write_text(json.dumps(_reseal(forged, hmac_of=signature)))
    write_manifest(run)
    args = ["score", "--model", str(run), "--input", str(shared.tx), "--out", str(case / "s.csv")]
    return Case(args, "signature check failed", (str(run / "model.json"),))


def score_cut_centres(shared: Shared, case: Path) -> Case:
    """Centres cut to one row for five declared segments, correctly hashed and signed."""
    doc = _model(shared)
    assert len(doc["segments"]) == K
    doc["segmenter"]["cluster_centers"] = doc["segmenter"]["cluster_centers"][:1]
    model = case / "model.json"
    model.write_text(json.dumps(_reseal(doc)))
    args = ["score", "--model", str(model), "--input", str(shared.tx), "--out", str(case / "s.csv")]
    return Case(args, f"1 segment centre(s), the model declares {K} segments", (str(model),))


def run_config_unknown_key(shared: Shared, case: Path) -> Case:
    config = case / "segmint.yaml"
    config.write_text("segmentation:\n  k: 3\n  n_segmentz: 4\n", encoding="utf-8")
    args = ["run", "--transactions", str(shared.tx), "--config", str(config)]
    args += ["--out", str(case / "out")]
    return Case(args, "Extra inputs are not permitted", (str(config), "'segmentation.n_segmentz'"))


def run_mapping_missing_column(shared: Shared, case: Path) -> Case:
    config = case / "segmint.yaml"
    config.write_text("mapping:\n  transactions:\n    amount: revenue\n", encoding="utf-8")
    args = ["run", "--transactions", str(shared.tx), "--config", str(config)]
    args += ["--out", str(case / "out")]
    return Case(args, "but the file has no such column", (str(shared.tx), "'revenue'"))


def clv_unparseable_dates(shared: Shared, case: Path) -> Case:
    rows = [[*r[:2], f"31/31/{2020 + n % 4}", r[3]] for n, r in enumerate(_tx_rows())]
    path = _write_csv(case / "dates.csv", HEADER, rows)
    args = ["clv", "--transactions", str(path), "--calibration-end", "2023-09-30"]
    return Case(args, "holds no recognisable dates", (str(path), "column 'order_date'"))


def run_unterminated_quote_over_a_run(shared: Shared, case: Path) -> Case:
    """A quote opened on data row 101 and never closed; --out is an earlier complete run."""
    rows = [",".join(r) for r in _tx_rows()]
    rows.insert(100, 'C009,"O9x,2023-05-01,12.50')
    path = case / "quote.csv"
    path.write_text(",".join(HEADER) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = case / "out"
    shutil.copytree(shared.run, out)
    args = ["run", "--transactions", str(path), "--out", str(out)]
    # DuckDB's sniffer cannot tell where the quote opened: the line names no row
    return Case(args, "cannot be read as a delimited text file", (str(path),))


def score_empty_file(shared: Shared, case: Path) -> Case:
    path = case / "empty.csv"
    path.write_bytes(b"")
    args = ["score", "--model", str(shared.run), "--input", str(path), "--out", str(case / "s.csv")]
    return Case(args, "the file is empty", (str(path),))


def score_binary_named_csv(shared: Shared, case: Path) -> Case:
    path = case / "orders.csv"
    path.write_bytes(bytes(range(256)) * 40 + hashlib.sha512(b"x").digest() * 60)
    args = ["score", "--model", str(shared.run), "--input", str(path), "--out", str(case / "s.csv")]
    return Case(args, "is a binary file", (str(path),))


def run_sql_in_column_names(shared: Shared, case: Path) -> Case:
    """Column names that close a SQL string or identifier; the date column holds no date."""
    rows = [[r[0], r[1], "soon", r[3]] for r in _tx_rows()]
    path = _write_csv(
        case / "sql.csv", ["customer_id", "order_id", HOSTILE_DATE, HOSTILE_AMOUNT], rows
    )
    config = case / "segmint.yaml"
    config.write_text(
        json.dumps(
            {"mapping": {"transactions": {"order_date": HOSTILE_DATE, "amount": HOSTILE_AMOUNT}}}
        ),
        encoding="utf-8",
    )
    args = ["run", "--transactions", str(path), "--config", str(config)]
    args += ["--out", str(case / "out")]
    return Case(args, "holds no recognisable dates", (str(path), f"column '{HOSTILE_DATE}'"))


def run_sql_in_out_path(shared: Shared, case: Path) -> Case:
    """An --out that closes a SQL string and appends a COPY (relative: into the working folder,
    which must stay empty)."""
    out = case / "x'; COPY (SELECT 42) TO 'pwned.csv'; SELECT '-- ;"
    args = ["run", "--transactions", str(shared.tx), "--out", str(out), "--k", "500"]
    return Case(args, "500 segments need at least 501", (f"only {N_CUSTOMERS} customer(s)",))


def export_sql_in_table_name(shared: Shared, case: Path) -> Case:
    target = f"duckdb:///{case}/audience.duckdb#t'; DROP TABLE x; --"
    args = ["export", "--run", str(shared.run), "--to", target]
    return Case(args, "Invalid table name", ('"t\'; DROP TABLE x; --"', f"{case}/audience.duckdb"))


CLI_CASES: dict[str, Callable[[Shared, Path], Case]] = {
    "run: every amount >= 1e28": run_huge_amounts,
    "clv: every amount >= 1e28": clv_huge_amounts,
    "run: --k larger than the customers": run_k_over_customers,
    "history: a truncated run store": history_truncated_store,
    "typing-tool: a run folder without run.json": typing_tool_without_run_json,
    "score: model.json edited, SHA-256 and manifest recomputed, key set": score_forged_model_in_run,
    "score: centres cut to one row for five segments": score_cut_centres,
    "run: a config file with an unknown key": run_config_unknown_key,
    "run: a mapping to a missing column": run_mapping_missing_column,
    "clv: an unparseable date column": clv_unparseable_dates,
    "run: an unterminated quote, over an earlier run": run_unterminated_quote_over_a_run,
    "score: an empty file": score_empty_file,
    "score: a binary file named .csv": score_binary_named_csv,
    "run: SQL in column names": run_sql_in_column_names,
    "run: SQL in the --out path": run_sql_in_out_path,
    "export: SQL in the --to table name": export_sql_in_table_name,
}


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder below ``folder`` (hidden ones too), files with their SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "/"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, cli) -> Iterator[Shared]:
    """80 customers, their transactions and one signed run (k = 5) through the real CLI."""
    root = tmp_path_factory.mktemp("hostile-inputs")
    tx = _write_csv(root / "tx.csv", HEADER, _tx_rows())
    ids = [[f"C{i:03d}", f"u{i}@example.com", "true"] for i in range(N_CUSTOMERS)]
    customers = _write_csv(root / "customers.csv", ["customer_id", "email", "email_consent"], ids)
    run = root / "run"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SEGMINT_MODEL_KEY", KEY)
        result = cli(
            "run", "--transactions", str(tx), "--customers", str(customers),
            "--out", str(run), "--k", str(K),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((run / "model.json").read_text())["integrity"]["hmac_sha256"]
    yield Shared(root, tx, customers, run)


@pytest.fixture(scope="module")
def outcomes(shared: Shared) -> dict[str, tuple[Case, CliResult, dict[str, str], dict[str, str]]]:
    """Every case through the command line: ``id -> (case, result, before, after)``."""
    cases, folders = {}, {}
    for n, (name, build) in enumerate(CLI_CASES.items()):
        folders[name] = shared.root / "cases" / f"{n:02d}"
        folders[name].mkdir(parents=True)
        cases[name] = build(shared, folders[name])
    before = {name: _snapshot(folder) for name, folder in folders.items()}
    run_before = _snapshot(shared.run)
    workdir = shared.root / "cwd"  # the commands' working folder: nothing may land there
    workdir.mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SEGMINT_MODEL_KEY", KEY)
        env.chdir(workdir)
        results = run_cli_batch([c.args for c in cases.values()], shared.root)
    assert _snapshot(shared.run) == run_before, "a case wrote into the shared run"
    assert _snapshot(workdir) == {}, "a case wrote into the working folder"
    return {
        name: (cases[name], result, before[name], _snapshot(folders[name]))
        for name, result in zip(cases, results, strict=True)
    }


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_hostile_input_is_one_error_line_exit_2_and_nothing_written(
    outcomes: dict[str, tuple[Case, CliResult, dict[str, str], dict[str, str]]], name: str
) -> None:
    case, result, before, after = outcomes[name]
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown, shown
    assert result.returncode == 2, shown
    assert result.stdout.strip() == "", result.stdout
    lines = lines_of(result.stderr)
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and all(line.startswith(("error: ", "hint: ")) for line in lines), lines
    assert case.says in errors[0], errors[0]
    for named in case.names:
        assert named in errors[0], (named, errors[0])
    assert after == before, "the case's folder changed: output written or half-written"


# --- the scoring API ---


def _body(value: Any) -> bytes:
    return json.dumps(value).encode()


def _customer(names: list[str], **features: Any) -> dict[str, Any]:
    return {"customer_id": "X1", "features": {n: 1.0 for n in names} | features}


def _line(customer: str, amount: Any = 10.0) -> dict[str, Any]:
    return {"customer_id": customer, "order_date": "2023-03-01", "amount": amount}


def _streamed(data: bytes) -> Iterator[bytes]:
    """A body sent in chunks, without Content-Length (the middleware counts as it reads)."""
    for start in range(0, len(data), 8192):
        yield data[start : start + 8192]


AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
MAX_CUSTOMERS = 50
MAX_BODY = 64 * 1024


def _api_cases(names: list[str]) -> dict[str, tuple[str, Any, dict[str, str], int]]:
    """``id -> (path, body, headers, status)``; a body of None is a GET."""
    tx_nan = _body({"transactions": [_line("A")]}).replace(b"10.0", b"NaN")
    return {
        "a transaction amount NaN": ("/v1/score", tx_nan, AUTH, 422),
        "a feature 1e999 (Infinity once parsed)": (
            "/v1/score",
            _body({"customers": [_customer(names)]}).replace(b"1.0", b"1e999", 1),
            AUTH,
            422,
        ),
        "a streamed body over the limit": (
            "/v1/score",
            _streamed(b'{"customers": [' + b" " * (MAX_BODY + 1) + b"]}"),
            AUTH,
            413,
        ),
        "more customers than the limit, as transactions": (
            "/v1/score",
            _body({"transactions": [_line(f"C{i}") for i in range(MAX_CUSTOMERS + 1)]}),
            AUTH,
            413,
        ),
        "a Basic instead of a Bearer token": (
            "/v1/score",
            _body({"customers": [_customer(names)]}),
            {**AUTH, "Authorization": "Basic dXNlcjpwYXNz"},
            401,
        ),
        "a token one character off": (
            "/v1/segments",
            None,
            {"Authorization": f"Bearer {TOKEN[:-1]}x"},
            403,
        ),
        "an unknown feature name": (
            "/v1/score",
            _body({"customers": [_customer(names, loyalty_tier=2.0)]}),
            AUTH,
            422,
        ),
        "features as text": (
            "/v1/score",
            _body({"customers": [_customer(names, **{names[0]: "high"})]}),
            AUTH,
            422,
        ),
        "a numeric customer id": (
            "/v1/score",
            _body({"customers": [{**_customer(names), "customer_id": 123}]}),
            AUTH,
            422,
        ),
        "customers as an object": ("/v1/score", _body({"customers": {"X1": 1}}), AUTH, 422),
        "a JSON array as the body": ("/v1/score", _body([1, 2]), AUTH, 422),
        "JSON nested 20,000 deep": (
            "/v1/score",
            b'{"customers": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
            AUTH,
            400,
        ),
        "invalid UTF-8 in a string": (
            "/v1/score",
            b'{"customers": [{"customer_id": "\xc3\x28", "features": {}}]}',
            AUTH,
            400,
        ),
        "a segment id beyond any integer": (
            "/v1/segments/99999999999999999999",
            None,
            {"Authorization": f"Bearer {TOKEN}"},
            422,
        ),
    }


@pytest.fixture(scope="module")
def api(shared: Shared) -> Iterator[tuple[Any, list[str]]]:
    """The real app on the shared run's model (small limits), and the model's feature names."""
    with warnings.catch_warnings():
        # starlette's notice that its TestClient should move to httpx2, at import
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    from segmint.activate import create_app, load_model

    with pytest.MonkeyPatch.context() as env:
        env.setenv("SEGMINT_MODEL_KEY", KEY)
        model = load_model(shared.run)
    app = create_app(model, TOKEN, max_customers=MAX_CUSTOMERS, max_body_bytes=MAX_BODY)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, list(model.spec.names)


API_CASES = list(_api_cases(["f"]))


@pytest.mark.parametrize("name", API_CASES)
def test_hostile_request_is_its_4xx_with_a_json_detail(
    api: tuple[Any, list[str]], name: str
) -> None:
    client, names = api
    path, body, headers, status = _api_cases(names)[name]
    if body is None:
        response = client.get(path, headers=headers)
    else:
        response = client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = json.loads(response.text, parse_constant=lambda t: pytest.fail(f"{t} in body"))
    assert detail.get("detail"), response.text


def test_the_api_answers_a_good_request(api: tuple[Any, list[str]]) -> None:
    """The hostile requests are refused for what they hold: the same app scores a good one."""
    client, names = api
    response = client.post(
        "/v1/score", content=_body({"customers": [_customer(names)]}), headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["segment_id"] in range(K)
