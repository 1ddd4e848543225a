"""``segmint clv`` on the CDNOW sample, through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MAPPING = """\
mapping:
  transactions: {customer_id: column_2, order_date: column_3, amount: column_5}
"""


def _sig3(value: float) -> str:
    return f"{value:.3g}"


def test_clv_command_prints_the_paper_estimates_as_json(cli, cdnow_sample, tmp_path: Path) -> None:
    config = tmp_path / "segmint.yaml"
    config.write_text(MAPPING)
    result = cli(
        "clv",
        "--transactions",
        str(cdnow_sample),
        "--calibration-end",
        "1997-09-30",
        "--observation-end",
        "1998-06-30",
        "--config",
        str(config),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    params = report["bgnbd"]["params"]
    assert {k: _sig3(v) for k, v in params.items()} == {
        "r": "0.243",
        "alpha": "4.41",
        "a": "0.793",
        "b": "2.43",
    }
    assert report["bgnbd"]["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    gg = report["gamma_gamma"]["params"]
    assert {k: _sig3(v) for k, v in gg.items()} == {"p": "6.25", "q": "3.74", "v": "15.4"}
    hold = report["holdout"]
    assert hold["duration_periods"] == 39.0
    assert hold["actual_total"] == 1882.0
    assert hold["expected_total"] == pytest.approx(1653.4, abs=0.1)
    assert sum(g["n_customers"] for g in hold["by_frequency"]) == report["n_customers"] == 2357
    assert report["input"]["rows_read"] == report["input"]["rows_used"] == 6919
    assert report["input"]["mapping"]["amount"] == "column_5"


def test_clv_command_without_a_mapping_says_what_to_do(cli, cdnow_sample) -> None:
    result = cli(
        "clv", "--transactions", str(cdnow_sample), "--calibration-end", "1997-09-30", "--json"
    )
    assert result.returncode == 2
    assert "no column found" in result.stderr and "mapping" in result.stderr


def test_clv_command_human_output(cli, cdnow_sample, tmp_path: Path) -> None:
    config = tmp_path / "segmint.yaml"
    config.write_text(MAPPING)
    result = cli(
        "clv",
        "--transactions",
        str(cdnow_sample),
        "--calibration-end",
        "1997-09-30",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    assert "BG/NBD" in result.stdout and "2,357 customers" in result.stdout
