"""The report's "Lifetime value model" part and the value models in run.json: which model and
why, parameters with standard errors, the holdout chart, and the reason when not estimated."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmint.features._value import fit_value_models
from segmint.features._value_report import value_model_summary
from segmint.profile._profiles import profile_segments
from segmint.report._html import build_content, render_report

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _report(value_model: dict | None) -> str:
    labels = np.repeat([0, 1], 20)
    profiles = profile_segments(pd.DataFrame({"monetary": labels * 50.0 + np.arange(40)}), labels)
    content = build_content(
        title="t",
        overview={
            "customers": 40,
            "segments": 2,
            "k_forced": False,
            "transactions_used": 40,
            "revenue": 1.0,
            "snapshot_date": "1997-10-01",
            "first_date": "1997-01-01",
            "last_date": "1997-09-30",
            "run_id": "r",
            "segmint_version": "0",
        },
        accounting=[],
        evidence=pd.DataFrame(
            {"k": [2], "silhouette": [0.5], "admissible": [True], "chosen": [True]}
        ),
        chosen_k=2,
        profiles=profiles,
        names={0: "Low", 1: "High"},
        descriptions={},
        bases=["value"],
        method={
            "selection_rule": "s",
            "ids": "i",
            "features": ["monetary"],
            "preparation": "p",
            "segmenter": "k",
            "seed": 1,
            "config_hash": "c" * 20,
            "data_fingerprint": "d" * 20,
        },
        value_model=value_model,
    )
    return render_report(content)


def _part(html: str) -> str:
    """The lifetime-value part of the method section."""
    start = html.index('data-testid="value-model"')
    return html[start : html.index("</section>", start)]


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


@pytest.fixture(scope="module")
def cdnow_state() -> dict:
    path = SHARED / "cdnow" / "CDNOW_sample.txt"
    raw = pd.read_csv(path, sep=r"\s+", header=None, dtype={1: str, 2: str})
    tx = pd.DataFrame(
        {
            "customer_id": raw[1],
            "order_date": pd.to_datetime(raw[2], format="%Y%m%d"),
            "amount": raw[4].astype(float),
        }
    )
    con = duckdb.connect()
    con.register("tx", tx)
    con.execute("CREATE TABLE transactions AS SELECT * FROM tx")
    try:
        return fit_value_models(con, "transactions", date(1997, 10, 1))
    finally:
        con.close()


def test_the_method_section_shows_the_chosen_model_and_its_holdout_chart(cdnow_state) -> None:
    summary = value_model_summary(cdnow_state)
    part = _part(_report(summary))
    text = _text(re.sub(r"<svg.*?</svg>", "", part, flags=re.S))
    assert "Lifetime value model" in text
    assert "Purchases: BG/NBD (chosen from the data)" in text
    assert summary["reason"] in text
    # parameters with their standard errors, as computed
    bg = next(f for f in summary["fits"] if f["model"] == "BG/NBD")
    r = next(p for p in bg["params"] if p["name"] == "r")
    assert f"r = {r['value']:,.3g} ({r['std_error']:,.2g})" in text
    hold = summary["holdout"]
    assert f"forecast {hold['predicted_total']:,.1f} repeat transactions" in text
    assert f"they made {hold['actual_total']:,}" in text
    # the chart: actual and forecast, one marker per holdout week each
    svg = re.search(
        r"<svg[^>]*aria-label=\"Cumulative repeat transactions[^\"]*\".*?</svg>", part, re.S
    )
    assert svg is not None
    assert svg.group(0).count('<circle class="mark"') == 2 * hold["n_periods"]
    assert svg.group(0).count('<path class="mark"') == 2
    last = hold["periods"][-1]
    assert f"actual, {hold['n_periods']}: {last['actual_cumulative']:,.1f}" in svg.group(0)
    forecast = f"BG/NBD forecast, {hold['n_periods']}: {last['predicted_cumulative']:,.1f}"
    assert forecast in svg.group(0)


def test_a_model_not_estimated_is_shown_with_its_reason_and_fallback(cdnow_state) -> None:
    state = json.loads(json.dumps(cdnow_state))
    reason = "BG/NBD: the data cannot identify dropout yet; use a longer calibration period"
    state.update(purchase_model=None, bgnbd=None, holdout=None)
    state["fits"]["purchase"] = {
        "model": "BG/NBD",
        "converged": False,
        "reason": reason,
        "fallback": "expected_purchases, p_alive and clv left out",
    }
    state["selection"]["used"] = state["selection"]["label"] = None
    part = _text(_part(_report(value_model_summary(state))))
    assert "Purchases: not estimated" in part
    assert f"BG/NBD not estimated {reason}" in part
    assert "Fallback: expected_purchases, p_alive and clv left out." in part
    assert "No holdout curve: no purchase model was estimated." in part
    assert "Features from these models: expected_spend;" in part


def test_no_value_models_no_part() -> None:
    assert 'data-testid="value-model"' not in _report(None)


@pytest.mark.slow
def test_a_run_with_the_value_basis_writes_its_models_to_run_json_and_the_report(
    tmp_path: Path,
) -> None:
    from segmint.config import Config
    from segmint.datasets import make_retail
    from segmint.pipeline import run_segmentation

    paths = make_retail(600, seed=3).write(tmp_path / "data")
    config = Config.model_validate(
        {
            "bases": ["behavioural", "value", "technographic"],
            "features": {"clv_model": "bgnbd"},
            "segmentation": {"k": 3, "n_init": 2, "stability_resamples": 0},
        }
    )
    out = tmp_path / "out"
    run_segmentation(paths["transactions"], out, config=config, sources={"events": paths["events"]})

    def refuse(token: str) -> float:
        raise AssertionError(f"non-finite JSON token {token}")

    run = json.loads((out / "run.json").read_text(), parse_constant=refuse)
    model = json.loads((out / "model.json").read_text(), parse_constant=refuse)
    vm = run["value_model"]
    assert vm["requested"] == "bgnbd" and vm["calibration_end"] < run["snapshot_date"]
    for fit in vm["fits"]:
        assert isinstance(fit["converged"], bool)
        if not fit["converged"]:
            assert len(fit["reason"]) > 20 and fit["fallback"]
    state = model["features"]["models"]["value"]
    assert state["fits"]["purchase"]["reason"] == vm["fits"][0]["reason"]
    assert vm["features"] == state["features"]
    features = pd.read_parquet(out / "features.parquet")
    assert set(vm["features"]) <= set(features.columns)
    assert np.isfinite(features.select_dtypes("number").to_numpy(dtype=float)).all()
    html = (out / "report.html").read_text()
    assert 'data-testid="value-model"' in html and "Lifetime value model" in html
    if vm["holdout"] is not None:
        assert vm["holdout"]["actual_total"] == vm["holdout"]["periods"][-1]["actual_cumulative"]
        assert 'aria-label="Cumulative repeat transactions' in html
