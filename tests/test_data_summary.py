"""What an analyst reads about the data of a run: the CLI summary, the report's data section and
``run.json``, on a small invoice-line log written here (shaped like the UCI Online Retail log),
through the real command line.

Every expected figure is summed here from the rows as written (exact decimals), independently of
segmint: lines without a customer id and their value, exact repeats, returns and cancellations,
non-product lines, customers with returns only, and the net value that becomes the overview's
revenue. Also: ``io.currency``, ``--map COLUMN=ROLE`` on ``run`` and ``inspect``, and ``segmint
score`` reading its extra tables with the run's ``io:`` settings.
"""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from segmint.datasets import make_retail

FAST = "segmentation:\n  k: 3\n  n_init: 2\n  stability_resamples: 0\n"
HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice"]
HEADER += ["CustomerID", "Country"]
SKUS = ["85123A", "71053", "84406B", "22633", "22632", "84879", "22139", "21773", "82484"]
PRICES = ["0.85", "1.25", "2.55", "3.39", "4.95", "12.75"]
MINUS = "−"


def _make_log() -> list[list[str]]:
    """Invoice lines of 60 customers, cancellations, 2 customers with returns only, 10 lines
    without a customer id, 3 exact repeats and 4 postage lines."""
    rng = random.Random(11)
    start = datetime(2011, 1, 3, 9, 0)
    rows: list[list[str]] = []
    invoice = 540000
    for c in range(60):
        customer = str(12000 + c)
        for _ in range(rng.randint(1, 5)):
            invoice += 1
            when = start + timedelta(days=rng.randint(0, 320), minutes=rng.randint(0, 600))
            for sku in rng.sample(SKUS, rng.randint(1, 3)):
                rows.append(
                    [
                        str(invoice),
                        sku,
                        f"ITEM {sku}",
                        str(rng.randint(1, 12)),
                        when.strftime("%Y-%m-%d %H:%M:%S"),
                        rng.choice(PRICES),
                        customer,
                        "UK",
                    ]
                )
        if c % 7 == 0:  # a cancellation of this customer's last line
            last = rows[-1]
            rows.append(
                ["C" + last[0], last[1], last[2], "-" + last[3], last[4], last[5], customer, "UK"]
            )
    for customer, lines in (("99001", 2), ("99002", 1)):  # returns only, never a purchase
        for i in range(lines):
            rows.append(
                [
                    f"C{560000 + i}",
                    SKUS[i],
                    f"ITEM {SKUS[i]}",
                    "-2",
                    "2011-06-01 10:00:00",
                    "4.95",
                    customer,
                    "UK",
                ]
            )
    for i in range(10):  # no customer id
        rows.append(
            [
                str(570000 + i),
                SKUS[i % 9],
                "X",
                str(i + 1),
                "2011-07-01 10:00:00",
                PRICES[i % 6],
                "",
                "UK",
            ]
        )
    for i in (3, 10, 25):  # exact repeats of lines of customers
        rows.append(list(rows[i]))
    for i in range(4):  # postage
        rows.append(
            [
                str(580000 + i),
                "POST",
                "POSTAGE",
                "1",
                "2011-08-01 10:00:00",
                "18.00",
                str(12000 + i),
                "UK",
            ]
        )
    return rows


ROWS = _make_log()


def _value(row: list[str]) -> Decimal:
    value = Decimal(row[3]) * Decimal(row[5])
    return -abs(value) if row[0].startswith("C") or value < 0 else value


def _expected(exclude_post: bool = False) -> dict:
    seen: set[tuple[str, ...]] = set()
    missing, dups, post, used = [], [], [], []
    for row in ROWS:
        if not row[6]:
            missing.append(row)
        elif exclude_post and row[1] == "POST":
            post.append(row)
        elif tuple(row) in seen:
            dups.append(row)
        else:
            used.append(row)
        seen.add(tuple(row))
    returns = [r for r in used if _value(r) < 0]
    customers: dict[str, list[list[str]]] = {}
    for r in used:
        customers.setdefault(r[6], []).append(r)
    returns_only = {c: rs for c, rs in customers.items() if all(_value(r) < 0 for r in rs)}
    total = sum(_value(r) for r in ROWS)
    return {
        "read": len(ROWS),
        "used": len(used),
        "missing": (len(missing), sum(_value(r) for r in missing)),
        "missing_share": sum(_value(r) for r in missing) / total,
        "dups": (len(dups), sum((_value(r) for r in dups), Decimal(0))),
        "post": (len(post), sum((_value(r) for r in post), Decimal(0))),
        "returns": (len(returns), sum(_value(r) for r in returns)),
        "purchases": (len(used) - len(returns), sum(_value(r) for r in used if _value(r) >= 0)),
        "net": sum(_value(r) for r in used),
        "returns_only": (
            len(returns_only),
            sum(len(rs) for rs in returns_only.values()),
            sum(_value(r) for rs in returns_only.values() for r in rs),
        ),
        "segmented": len(customers) - len(returns_only),
    }


def _compact(value: Decimal, symbol: str = "") -> str:
    amount = abs(float(value))
    text = f"{amount / 1e3:,.1f}k" if amount >= 1000 else f"{amount:,.2f}"
    return (MINUS if value < 0 else "") + symbol + text


def _exact(value: Decimal, symbol: str = "") -> str:
    return (MINUS if value < 0 else "") + symbol + f"{abs(value):,.2f}"


def _write_log(path: Path, rows: list[list[str]] = ROWS, header: list[str] = HEADER) -> Path:
    pd.DataFrame(rows, columns=header).to_csv(path, index=False)
    return path


class _Section(HTMLParser):
    """The text of the report's data section, one line per paragraph, list item or row."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.parts = False, []

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.inside = dict(attrs).get("data-section") == "data"
        if self.inside and tag in ("p", "li", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "section":
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.parts.append(data)


def data_section(report: Path) -> list[str]:
    parser = _Section()
    parser.feed(report.read_text(encoding="utf-8"))
    text = re.sub(r"[ \t]+", " ", "".join(parser.parts))
    return [line.strip() for line in text.splitlines() if line.strip()]


def _overview_revenue(report: Path) -> str:
    html = report.read_text(encoding="utf-8")
    return re.search(r"<b>([^<]*)</b><span>net revenue before", html).group(1)


@pytest.fixture(scope="module")
def plain_run(cli, tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("plain")
    log = _write_log(root / "lines.csv")
    (root / "segmint.yaml").write_text(FAST, encoding="utf-8")
    out = root / "out"
    result = cli(
        "run", "--transactions", str(log), "--config", str(root / "segmint.yaml"), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_the_summary_states_each_quarantine_reason_with_its_value(plain_run) -> None:
    out, stdout = plain_run
    e = _expected()
    lines = stdout.splitlines()
    n_q = e["read"] - e["used"]
    assert f"transactions: read {e['read']:,} lines = used {e['used']:,} + quarantined {n_q:,}" in (
        lines
    )
    n, value = e["missing"]
    share = f"{float(e['missing_share']) * 100:.1f} %"
    assert (
        f"  {n} lines without a customer id ({_compact(value)}, {share} of the net value read) "
        "quarantined" in lines
    )
    n, value = e["dups"]
    assert (
        f"  {n} duplicate lines ({_compact(value)}) quarantined (io.duplicates: drop): each "
        "repeats an earlier line in every column, and the log can tell lines apart (product "
        "column 'StockCode')" in lines
    )
    (n_ret, v_ret), (n_buy, v_buy) = e["returns"], e["purchases"]
    assert (
        f"  {n_ret} return or cancellation lines among the lines used ({_compact(v_ret)}) netted "
        f"out: gross purchases {_compact(v_buy)} ({n_buy:,} lines) − returns "
        f"{_compact(-v_ret)} = net value {_compact(e['net'])}" in lines
    )
    assert not re.search("[£€$]", stdout), "no currency is guessed"
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))["row_accounting"][0]
    assert record["quarantined_by_reason"] == {"duplicate_row": 3, "missing_customer_id": 10}
    assert record["missing_customer_id"]["value"] == float(e["missing"][1])
    assert record["duplicates"]["value"] == float(e["dups"][1])
    assert record["value"]["net"] == float(e["net"])
    assert record["value"]["return_lines"] == n_ret


def test_the_net_value_of_the_lines_reconciles_with_the_overview_revenue(plain_run) -> None:
    out, stdout = plain_run
    e = _expected()
    n_ro, l_ro, v_ro = e["returns_only"]
    assert n_ro == 2 and v_ro < 0
    segmented = e["net"] - v_ro
    sentence = (
        f"Net value of the {e['used']:,} lines used, {_exact(e['net'])} = {_exact(segmented)} "
        f"net revenue of the {e['segmented']} segmented customers (the overview's figure) − "
        f"{_exact(-v_ro)} of the {l_ro} lines of {n_ro} customers who only returned goods (no "
        "purchase) and are not segmented."
    )
    assert sentence in stdout.splitlines()
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    rec = run["revenue_reconciliation"]
    assert rec["returns_only"] == {"customers": 2, "lines": l_ro, "value": float(v_ro)}
    assert rec["segmented_value"] == float(segmented) and rec["unexplained"] == 0.0
    features = pd.read_parquet(out / "features.parquet")
    assert len(features) == e["segmented"] == run["counts"]["customers_segmented"]
    assert round(features["monetary"].sum(), 2) == float(segmented)
    section = data_section(out / "report.html")
    assert sentence in section
    assert f"{_overview_revenue(out / 'report.html')}" == f"{round(segmented):,}"


def test_the_report_data_section_states_the_duplicate_policy_of_the_run(plain_run) -> None:
    out, _ = plain_run
    e = _expected()
    section = data_section(out / "report.html")
    text = "\n".join(section)
    assert "identical rows kept" not in text and "no order id" not in text
    n, value = e["dups"]
    assert (
        f"{n} duplicate lines ({_exact(value)}) quarantined (io.duplicates: drop): each repeats "
        "an earlier line in every column, and the log can tell lines apart (product column "
        "'StockCode')" in section
    )
    n, value = e["missing"]
    assert any(
        line.startswith(f"{n} lines without a customer id ({_exact(value)}, ") for line in section
    )
    assert "Money as plain numbers: no currency set (io.currency, e.g. GBP); values are net " in (
        text
    )


def test_currency_exclusions_and_kept_duplicates_are_stated(cli, tmp_path: Path) -> None:
    log = _write_log(tmp_path / "lines.csv")
    config = tmp_path / "segmint.yaml"
    config.write_text(
        FAST + "io:\n  currency: eur\n  duplicates: keep\n  exclude:\n"
        "    - {name: postage, column: StockCode, values: [POST]}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = cli("run", "--transactions", str(log), "--config", str(config), "--out", str(out))
    assert result.returncode == 0, result.stderr
    e = _expected(exclude_post=True)
    lines = result.stdout.splitlines()
    n, value = e["post"]
    assert n == 4
    assert (
        f"  4 non-product lines ({_compact(value, '€')}) quarantined by io.exclude: postage: "
        f"4 lines ({_compact(value, '€')})" in lines
    )
    n, value = e["dups"]
    assert (
        f"  {n} lines repeating an earlier line in every column ({_compact(value, '€')}) kept and "
        "counted as purchases (io.duplicates: keep): the log can tell lines apart (product "
        "column 'StockCode')" in lines
    )
    n, value = e["missing"]
    assert any(line.startswith(f"  {n} lines without a customer id (€") for line in lines)
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["config"]["io"]["currency"] == "EUR"
    assert run["row_accounting"][0]["excluded"] == {"postage": {"lines": 4, "value": 72.0}}
    section = data_section(out / "report.html")
    assert "Money in EUR (io.currency); values are net (returns count negative)." in section
    assert _overview_revenue(out / "report.html").startswith("€")


def test_a_currency_that_is_no_iso_code_is_one_config_error(cli, tmp_path: Path) -> None:
    config = tmp_path / "segmint.yaml"
    config.write_text("io:\n  currency: pounds\n", encoding="utf-8")
    log = _write_log(tmp_path / "lines.csv")
    result = cli(
        "run", "--transactions", str(log), "--config", str(config), "--out", str(tmp_path / "out")
    )
    assert result.returncode == 2
    error = next(line for line in result.stderr.splitlines() if line.strip())
    assert error.startswith("error: ") and "io.currency" in error and "ISO 4217" in error
    assert not (tmp_path / "out").exists()


# --- --map COLUMN=ROLE ---------------------------------------------------------------------

ODD = ["doc", "sku", "text", "n", "ts", "p", "buyer", "land"]  # no name segmint recognises
MAPS = [
    "doc=order_id",
    "sku=product",
    "n=quantity",
    "ts=order_date",
    "p=unit_price",
    "buyer=customer_id",
]


def _map_args() -> list[str]:
    return [arg for m in MAPS for arg in ("--map", m)]


def _usage_error(result) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("Usage: ")
    assert len(lines) == 3 and lines[2].startswith("hint: Try ")
    return lines[1]


def test_map_options_map_the_columns_as_segmint_yaml_does(cli, tmp_path: Path) -> None:
    odd = _write_log(tmp_path / "odd.csv", header=ODD)
    without = cli("run", "--transactions", str(odd), "--out", str(tmp_path / "no"))
    assert without.returncode == 2 and "no column found for customer_id" in without.stderr
    config = tmp_path / "segmint.yaml"
    config.write_text(FAST, encoding="utf-8")
    by_cli = cli(
        "run",
        "--transactions",
        str(odd),
        "--config",
        str(config),
        *_map_args(),
        "--out",
        str(tmp_path / "cli"),
    )
    assert by_cli.returncode == 0, by_cli.stderr
    yaml = tmp_path / "mapped.yaml"
    fields = ", ".join(f"{m.split('=')[1]}: {m.split('=')[0]}" for m in MAPS)
    yaml.write_text(FAST + f"mapping:\n  transactions: {{{fields}}}\n", encoding="utf-8")
    by_yaml = cli(
        "run", "--transactions", str(odd), "--config", str(yaml), "--out", str(tmp_path / "yaml")
    )
    assert by_yaml.returncode == 0, by_yaml.stderr
    a, b = (
        json.loads((tmp_path / d / "run.json").read_text(encoding="utf-8"))["row_accounting"][0]
        for d in ("cli", "yaml")
    )
    assert (
        a["mapping"]
        == b["mapping"]
        == {
            "order_id": "doc",
            "product": "sku",
            "quantity": "n",
            "order_date": "ts",
            "unit_price": "p",
            "customer_id": "buyer",
            "amount": "n × p",
        }
    )
    e = _expected()
    assert a["used"] == b["used"] == e["used"] and a["value"] == b["value"]
    assert a["value"]["net"] == float(e["net"])


def test_map_overrides_the_mapping_of_the_config(cli, tmp_path: Path) -> None:
    log = _write_log(tmp_path / "lines.csv", header=ODD)
    config = tmp_path / "segmint.yaml"
    # the config maps the customer id to the wrong column; --map corrects it
    config.write_text(
        "mapping:\n  transactions: {customer_id: land, order_date: ts}\n", encoding="utf-8"
    )
    result = cli("inspect", str(log), "--config", str(config), *_map_args(), "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["role"] == "transactions"
    assert found["mapping"]["customer_id"]["column"] == "buyer"
    assert found["problems"]["quarantined_by_reason"] == {
        "duplicate_row": 3,
        "missing_customer_id": 10,
    }


def test_a_bad_map_role_or_column_is_a_usage_error(cli, tmp_path: Path) -> None:
    log = _write_log(tmp_path / "lines.csv")
    out = tmp_path / "out"
    error = _usage_error(
        cli("run", "--transactions", str(log), "--out", str(out), "--map", "Quantity=qty")
    )
    assert error.startswith("error: Invalid value for '--map': 'Quantity=qty': unknown role")
    assert "roles: customer_id, order_date" in error and "unit_price" in error
    error = _usage_error(cli("inspect", str(log), "--map", "Quantity"))
    assert error.startswith("error: Invalid value for '--map': 'Quantity' is not COLUMN=ROLE")
    error = _usage_error(
        cli("run", "--transactions", str(log), "--out", str(out), "--map", "Qty=quantity")
    )
    assert error.startswith("error: Invalid value for '--map': 'Qty=quantity': ")
    assert "has no column 'Qty' (columns: InvoiceNo, StockCode," in error
    assert not out.exists(), "nothing is written"
    error = _usage_error(cli("inspect", str(log), "--map", "Qty=quantity"))
    assert "has no column 'Qty'" in error


def test_the_low_confidence_warning_names_map(cli, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("customer,date,Price\n1,2011-01-02,10.5\n2,2011-01-03,7.25\n", encoding="utf-8")
    result = cli("inspect", str(path))
    assert "if that is wrong, pass --map <column>=amount or set mapping:" in result.stdout


# --- segmint score reads its extra tables with the run's io: settings -----------------------


def _latin1_semicolon_events(events: pd.DataFrame, path: Path) -> Path:
    """Events as a German export: semicolons, latin-1, and an address with more commas than
    the semicolons that delimit it (so that sniffing alone takes the comma)."""
    columns = ["customer_id", "event_time", "event_type", "platform"]
    frame = events[columns].assign(address="Hauptstraße 1, 50667, Köln, NRW, Deutschland")
    frame.columns = [*columns, "address, postcode, city, region, country"]
    path.write_bytes(frame.to_csv(sep=";", index=False).encode("latin-1"))
    return path


def test_score_reads_extra_tables_with_the_runs_encoding_and_delimiter(cli, tmp_path: Path) -> None:
    paths = make_retail(400, seed=3).write(tmp_path / "data")
    transactions = tmp_path / "transactions.parquet"
    pd.read_csv(paths["transactions"]).to_parquet(transactions, index=False)
    events = _latin1_semicolon_events(pd.read_csv(paths["events"]), tmp_path / "events.csv")
    assert b"Hauptstra\xdfe" in events.read_bytes()
    config = tmp_path / "segmint.yaml"
    config.write_text(
        "bases: [behavioural, technographic]\n"
        + FAST
        + "io:\n  encoding: latin-1\n  delimiter: ';'\n",
        encoding="utf-8",
    )
    plain = tmp_path / "plain.yaml"
    plain.write_text("bases: [behavioural, technographic]\n" + FAST, encoding="utf-8")
    refused = cli(
        "run",
        "--transactions",
        str(transactions),
        "--events",
        str(events),
        "--config",
        str(plain),
        "--out",
        str(tmp_path / "plain"),
    )
    assert refused.returncode == 2, "sniffed alone, the file is read on its commas"
    out = tmp_path / "run"
    run = cli(
        "run",
        "--transactions",
        str(transactions),
        "--events",
        str(events),
        "--config",
        str(config),
        "--out",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    accounting = json.loads((out / "run.json").read_text(encoding="utf-8"))["row_accounting"]
    assert [a["role"] for a in accounting] == ["transactions", "events"]
    assert accounting[1]["read"] == len(pd.read_csv(paths["events"]))
    scored_path = tmp_path / "scored.csv"
    scored = cli(
        "score",
        "--model",
        str(out),
        "--input",
        str(transactions),
        "--events",
        str(events),
        "--out",
        str(scored_path),
    )
    assert scored.returncode == 0, scored.stderr
    segments = pd.read_parquet(out / "segments.parquet")
    got = pd.read_csv(scored_path, dtype={"customer_id": str})
    merged = segments.merge(got, on="customer_id", suffixes=("_run", "_score"))
    assert len(merged) == len(segments)
    assert (merged["segment_id_run"] == merged["segment_id_score"]).all()
    # --config without the io: settings reads the file on its commas again: refused
    wrong = cli(
        "score",
        "--model",
        str(out),
        "--input",
        str(transactions),
        "--events",
        str(events),
        "--config",
        str(plain),
        "--out",
        str(tmp_path / "s2.csv"),
    )
    assert wrong.returncode == 2 and "customer_id" in wrong.stderr
