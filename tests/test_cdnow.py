"""The pipeline on real data: the CDNOW transaction log, read in place."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def cdnow_run(cdnow_master: Path, tmp_path_factory: pytest.TempPathFactory, cli) -> Path:
    out = tmp_path_factory.mktemp("cdnow") / "out"
    result = cli("run", "--transactions", str(cdnow_master), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_row_counts_match_the_file(cdnow_run: Path, cdnow_master: Path) -> None:
    lines = [line.split() for line in cdnow_master.read_text().splitlines()[1:] if line.strip()]
    customers_in_file = {fields[0] for fields in lines}
    run = json.loads((cdnow_run / "run.json").read_text())
    tx = run["row_accounting"][0]
    assert tx["read"] == len(lines) == 69_659
    assert tx["used"] + tx["quarantined"] == tx["read"]
    assert tx["quarantined"] == 0
    assert tx["mapping"] == {
        "customer_id": "customer_id",
        "order_date": "date",
        "amount": "dollar_value",
        "quantity": "number_of_cds",
    }
    assert tx["date_format"] == "%Y%m%d"
    segments = pd.read_parquet(cdnow_run / "segments.parquet")
    assert len(segments) == len(customers_in_file) == 23_570
    assert set(segments["customer_id"]) == customers_in_file


def test_report_describes_segments_that_differ_in_value(cdnow_run: Path) -> None:
    profiles = pd.read_csv(cdnow_run / "profiles.csv")
    assert profiles["customers"].sum() == 23_570
    assert profiles["share"].sum() == pytest.approx(1.0)
    assert profiles["revenue_share"].sum() == pytest.approx(1.0)
    # a sensible segmentation of CDNOW separates repeat buyers from one-off buyers
    assert profiles["frequency"].max() > 2 * profiles["frequency"].min()
    html = (cdnow_run / "report.html").read_text()
    assert "69,659" in html and "23,570" in html
    assert "1997-01-01" in html and "1998-06-30" in html
