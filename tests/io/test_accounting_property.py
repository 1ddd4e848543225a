"""Property: whatever a messy CSV holds, read = used + quarantined, and nothing is lost.

Hypothesis writes transaction files with missing values, bad dates, bad numbers, exact
duplicates, ragged lines, quoted delimiters and line breaks, and blank lines. Every generated
record must end either in ``transactions`` or in the ``quarantine`` (with a reason and its raw
record), under its own data row, and for the reason its defect implies.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.io import load_transactions, map_columns, read_source

HEADER = ["customer_id", "order_id", "order_date", "amount", "category"]

# kind -> the reason the row must get (None: used)
KINDS = {
    "good": None,
    "quoted": None,  # a category with the delimiter and a line break inside quotes
    "missing_id": "missing_customer_id",
    "missing_date": "missing_date",
    "bad_date": "unparseable_date",
    "missing_amount": "missing_amount",
    "bad_amount": "unparseable_amount",
    "short": "malformed_line",
    "long": "malformed_line",
}

ids = st.sampled_from(["C1", "C2", "C3", "C4"])
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2023, 12, 31))
amounts = st.decimals(min_value=-500, max_value=5000, places=2, allow_nan=False)
bad_dates = st.sampled_from(["2023-02-30", "yesterday", "31/31/2023", "2023-13-01", "?"])
bad_amounts = st.sampled_from(["abc", "1.2.3", "--5", "12a", "n/a", "€"])


@st.composite
def rows(draw: st.DrawFn) -> tuple[str, list[str]]:
    kind = draw(st.sampled_from(sorted(KINDS)))
    fields = [
        draw(ids),
        f"O{draw(st.integers(0, 10_000))}",
        draw(dates).isoformat(),
        str(draw(amounts)),
        draw(st.sampled_from(["books", "music", "toys"])),
    ]
    if kind == "quoted":
        fields[4] = '"gifts, cards\nand wrap"'
    elif kind == "missing_id":
        fields[0] = draw(st.sampled_from(["", "  "]))
    elif kind == "missing_date":
        fields[2] = ""
    elif kind == "bad_date":
        fields[2] = draw(bad_dates)
    elif kind == "missing_amount":
        fields[3] = ""
    elif kind == "bad_amount":
        fields[3] = draw(bad_amounts)
    elif kind == "short":
        fields = fields[: draw(st.integers(2, 4))]
    elif kind == "long":
        fields = [*fields, "extra"]
    return kind, fields


@st.composite
def files(draw: st.DrawFn) -> list[tuple[str, list[str]]]:
    records = [("good", ["C1", "O-first", "2021-06-01", "10.00", "books"])]
    for kind, fields in draw(st.lists(rows(), min_size=0, max_size=40)):
        records.append((kind, fields))
        if draw(st.integers(0, 9)) == 0:  # an exact copy of the row just written
            records.append(("copy", list(fields)))
    return records


def _write(path: Path, records: list[tuple[str, list[str]]], blank_after: set[int]) -> None:
    lines = [",".join(HEADER)]
    for i, (_, fields) in enumerate(records):
        lines.append(",".join(fields))
        if i in blank_after:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _expected(records: list[tuple[str, list[str]]]) -> dict[int, str | None]:
    """Data row -> the reason it must get (None: used); a copy repeats its original's fate.

    A copy of a usable row is a ``duplicate_row`` when the log proves it one: one usable row
    per order id. Where an order id has two different usable rows the log is one of lines, and
    a copy may be a second purchase: it is kept (and flagged).
    """
    rows_of_order: dict[str, set[tuple[str, ...]]] = {}
    for kind, fields in records:
        if kind != "copy" and KINDS[kind] is None:
            rows_of_order.setdefault(fields[1], set()).add(tuple(fields))
    proven = all(len(rows) == 1 for rows in rows_of_order.values())
    expected: dict[int, str | None] = {}
    seen: dict[tuple[str, ...], str | None] = {}
    for row, (kind, fields) in enumerate(records, start=1):
        key = tuple(fields)
        if kind == "copy" or key in seen:
            first = seen.get(key)
            if first == "malformed_line":
                expected[row] = "malformed_line"
            elif first is None:
                expected[row] = "duplicate_row" if proven else None
            else:
                expected[row] = first  # the same defect is found first
        else:
            reason = KINDS[kind]
            # trimmed to nothing is missing too
            expected[row] = reason
            seen[key] = reason
    return expected


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(records=files(), blanks=st.sets(st.integers(0, 40), max_size=3))
def test_every_row_is_used_or_quarantined_with_reason_and_record(
    records: list[tuple[str, list[str]]], blanks: set[int]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "messy.csv"
        _write(path, records, blanks)
        con = duckdb.connect()
        try:
            raw = read_source(con, path, "raw", header=True, delimiter=",")
            matches = map_columns(raw.columns, "transactions", path=str(path))
            account = load_transactions(con, raw, matches, date_format="%Y-%m-%d")
            quarantine = con.execute(
                "SELECT row, reason, record FROM quarantine ORDER BY row"
            ).fetchall()
            used = con.execute("SELECT _row, customer_id FROM transactions").fetchall()
        finally:
            con.close()

    # the invariant, per source and per reason
    assert account.n_read == len(records)
    assert account.n_read == account.n_used + account.n_quarantined
    assert sum(account.quarantined.values()) == len(quarantine)
    for reason, count in account.quarantined.items():
        assert count == sum(1 for _, r, _ in quarantine if r == reason)

    # every record lands exactly once, under its own data row, for the reason it deserves
    expected = _expected(records)
    got = {row: None for row, _ in used}
    for row, reason, record in quarantine:
        assert row not in got, f"row {row} is both used and quarantined, or twice quarantined"
        got[row] = reason
        assert reason and record, (row, reason)
        data = json.loads(record)
        assert data["_row"] == row
    assert got == expected
    for row, customer in used:
        assert customer == records[row - 1][1][0].strip()
    assert [row for row, _ in used] == sorted(row for row, _ in used)  # kept in file order
