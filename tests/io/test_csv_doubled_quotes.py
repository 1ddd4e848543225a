"""RFC 4180 doubled quotes parse even when the sniffer's sample holds no quote (issue 19.6)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from segmint.io import read_source


def _log(path: Path, plain_lines: int) -> Path:
    lines = ["customer_id,date,amount,note"]
    lines += [f"C{i % 50},2024-01-0{1 + i % 9},10.00,plain" for i in range(plain_lines)]
    lines += [
        'C1,2024-01-01,10.00,"He said ""hi"", then left"',
        'C2,2024-01-02,11.00,"a, b"',
        'C3,2024-01-03,12.00,5" screen',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_doubled_quotes_after_the_sniffed_sample_parse(tmp_path: Path) -> None:
    con = duckdb.connect()
    raw = read_source(con, _log(tmp_path / "log.csv", 30_000), "raw_transactions")
    assert raw.rejects == []
    assert raw.n_read == 30_003
    notes = con.execute(
        "SELECT _row, note FROM raw_transactions WHERE _row > 30000 ORDER BY _row"
    ).fetchall()
    assert notes == [(30001, 'He said "hi", then left'), (30002, "a, b"), (30003, '5" screen')]


def test_doubled_quotes_in_a_small_file_parse(tmp_path: Path) -> None:
    con = duckdb.connect()
    raw = read_source(con, _log(tmp_path / "log.csv", 3), "raw_transactions")
    assert raw.rejects == []
    note = con.execute("SELECT note FROM raw_transactions WHERE _row = 4").fetchall()
    assert note == [('He said "hi", then left',)]


def test_inspect_quarantines_no_line(cli, tmp_path: Path) -> None:
    result = cli("inspect", str(_log(tmp_path / "log.csv", 30_000)))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "read 30,003 = used 30,003 + quarantined 0" in text
    assert "malformed_line" not in text
