"""Likert answers outside their item's scale are flagged and kept out of the needs factors
(issue 19.6): real survey files, a real DuckDB, the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from segmint.activate._scoring import load_source_table
from segmint.datasets import make_retail
from segmint.io._scales import detect_scale

BAD = {3: "9", 10: "-3", 20: "2.5", 30: "99"}  # data row -> answer of price_matters_most


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    files = make_retail(600, seed=3).write(tmp_path_factory.mktemp("retail") / "data")
    survey = pd.read_csv(files["survey"], dtype=str)
    for row, value in BAD.items():
        survey.loc[row - 1, "price_matters_most"] = value
    survey["income"] = [str(20_000 + 37 * i) for i in range(len(survey))]  # not a scale
    survey.to_csv(files["survey"], index=False)
    return files


def test_detect_scale() -> None:
    likert = {1.0: 40, 2.0: 60, 3.0: 80, 4.0: 50, 5.0: 30}
    assert detect_scale({**likert, 9.0: 2, -3.0: 1, 2.5: 1, 99.0: 1}) == (1, 5)
    assert detect_scale({**likert, 6.0: 4, 7.0: 2}) == (1, 7)  # rare top answers are in scale
    assert detect_scale({float(v): 1 for v in range(0, 11)}) == (0, 10)
    assert detect_scale({20_000.0 + i: 1 for i in range(100)}) is None  # no Likert item
    assert detect_scale({1.0: 50, 2.0: 50, 7.0: 40}) is None  # no run holds 95 %


def test_out_of_scale_answers_are_flagged_and_set_missing(data) -> None:
    con = duckdb.connect()
    account = load_source_table(con, "survey", data["survey"])
    assert account.n_used == account.n_read  # respondents kept
    assert account.flagged == {"out_of_scale_answer": 4}
    flags = con.execute(
        "SELECT row, reason, column_name, value FROM flagged ORDER BY row"
    ).fetchall()
    assert flags == [
        (row, "out_of_scale_answer", "price_matters_most", value) for row, value in BAD.items()
    ]
    answers = dict(con.execute("SELECT _row, price_matters_most FROM survey").fetchall())
    assert all(answers[row] is None for row in BAD)
    assert set(v for v in answers.values() if v is not None) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert any(
        "price_matters_most (scale 1–5): 4 answer(s) -3, 2.5, 9, 99 set to missing" in w
        for w in account.warnings
    )
    income = "SELECT count(*) FROM flagged WHERE column_name = 'income'"
    assert con.execute(income).fetchall() == [(0,)]


def test_the_run_summary_names_the_item_and_values(cli, data, tmp_path: Path) -> None:
    config = tmp_path / "segmint.yaml"
    config.write_text(
        "bases: [behavioural, needs]\nsegmentation:\n  k: 3\n  stability_resamples: 0\n"
    )
    out = tmp_path / "out"
    result = cli(
        "run", "--transactions", str(data["transactions"]), "--survey", str(data["survey"]),
        "--config", str(config), "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "4 answers outside its item's scale: price_matters_most (scale 1–5)" in text
    run = json.loads((out / "run.json").read_text())
    survey = next(a for a in run["row_accounting"] if a["role"] == "survey")
    assert survey["flagged"] == {"out_of_scale_answer": 4}
