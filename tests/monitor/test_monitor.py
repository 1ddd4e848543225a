"""Monitoring: verdicts on demo data with and without a planted shift; PSI; migration."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest

from segmint.activate._model import content_hash
from segmint.config import Config, MonitoringConfig
from segmint.monitor import list_runs, migration_matrix, monitor_model, monitor_runs, psi
from segmint.monitor._drift import QUANTILE_LEVELS, cdf_from_quantiles, psi_table
from segmint.monitor._report import render_monitor


def test_psi_of_a_hand_computed_case():
    # (0.25-0.5)·ln(0.25/0.5) + (0.75-0.5)·ln(0.75/0.5) = 0.25·ln 2 + 0.25·ln 1.5
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * np.log(2) + 0.25 * np.log(1.5))
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_psi_from_quantile_summaries_matches_raw_data():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 20_000), rng.normal(0.5, 1, 20_000)
    summary = {
        "quantile_levels": QUANTILE_LEVELS.tolist(),
        "feature_quantiles": {"x": np.quantile(a, QUANTILE_LEVELS).tolist()},
    }
    current = {**summary, "feature_quantiles": {"x": np.quantile(b, QUANTILE_LEVELS).tolist()}}
    edges = np.quantile(a, np.arange(1, 10) / 10)
    expected = np.bincount(np.searchsorted(edges, a), minlength=10) / len(a)
    actual = np.bincount(np.searchsorted(edges, b), minlength=10) / len(b)
    exact = psi(expected, actual)
    assert psi_table(summary, current)["psi"].iloc[0] == pytest.approx(exact, rel=0.1)
    x = np.array([-10.0, 0.0, 10.0])
    q = np.quantile(a, QUANTILE_LEVELS)
    assert cdf_from_quantiles(QUANTILE_LEVELS, q, x) == pytest.approx([0.0, 0.5, 1.0], abs=0.01)


def test_planted_shift_between_runs_is_revalidate(periods):
    result = monitor_runs(periods["baseline"]["run"], periods["shift"]["run"])
    assert result.verdict == "REVALIDATE", result.summary_text()
    assert any(r.startswith("REVALIDATE") for r in result.reasons)
    print(result.summary_text())


def test_no_shift_between_runs_is_ok(periods):
    result = monitor_runs(periods["baseline"]["run"], periods["same"]["run"])
    assert result.verdict == "OK", result.summary_text()
    assert result.reasons == []
    assert result.psi["psi"].max() < 0.1
    assert result.typing_tool is not None and result.typing_tool["decay"] < 0.05
    print(result.summary_text())


def test_planted_shift_in_new_data_is_revalidate_for_the_model(periods):
    result = monitor_model(periods["baseline"]["run"], periods["shift"]["transactions"])
    assert result.verdict == "REVALIDATE", result.summary_text()
    assert result.typing_tool is not None


def test_no_shift_in_new_data_is_ok_for_the_model(periods):
    result = monitor_model(periods["baseline"]["run"], periods["same"]["transactions"])
    assert result.verdict == "OK", result.summary_text()
    assert result.typing_tool["decay"] < 0.05


def test_thresholds_come_from_config(periods):
    strict = MonitoringConfig(psi_watch=0.001, psi_revalidate=0.002)
    result = monitor_runs(periods["baseline"]["run"], periods["same"]["run"], config=strict)
    assert result.verdict == "REVALIDATE"
    assert result.thresholds["psi_revalidate"] == 0.002


def test_config_refuses_revalidate_below_watch():
    with pytest.raises(ValueError, match="psi_revalidate"):
        Config(monitoring={"psi_watch": 0.3, "psi_revalidate": 0.2})


def test_migration_matrix_counts_customers_in_both(periods):
    result = monitor_runs(periods["baseline"]["run"], periods["shift"]["run"])
    counts = result.migration["counts"]
    assert counts.to_numpy().sum() == result.migration["n_common"] == 3000
    assert np.trace(counts.to_numpy()) == result.migration["stayed"]
    np.testing.assert_allclose(result.migration["shares"].sum(axis=1), 1.0)


def test_migration_matrix_of_a_hand_made_case():
    import pandas as pd

    before = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "segment_id": [0, 0, 1, 1]})
    after = pd.DataFrame({"customer_id": ["a", "b", "c", "e"], "segment_id": [5, 6, 6, 0]})
    m = migration_matrix(before, after, {5: 0, 6: 1})
    assert m["n_common"] == 3 and m["stayed"] == 2
    assert m["counts"].loc[0, 1] == 1 and m["counts"].loc[1, 1] == 1


def test_store_records_summaries_and_the_sealed_model(history_store):
    runs = list_runs(history_store / "segmint.duckdb")
    assert len(runs) == 2
    con = duckdb.connect(str(history_store / "segmint.duckdb"), read_only=True)
    try:
        n_q = con.execute("SELECT count(*) FROM feature_quantiles").fetchall()[0][0]
        n_features = con.execute(
            "SELECT count(DISTINCT feature) FROM feature_quantiles"
        ).fetchall()[0][0]
        model = json.loads(
            con.execute("SELECT CAST(model AS VARCHAR) FROM run_models").fetchall()[0][0]
        )
        centres = con.execute("SELECT count(*) FROM segment_centres").fetchall()[0][0]
    finally:
        con.close()
    assert n_q == 2 * n_features * 101
    assert centres > 0
    assert model["integrity"]["content_sha256"] == content_hash(model)


def test_monitor_by_run_ids_in_one_store(history_store):
    runs = list_runs(history_store / "segmint.duckdb")
    newest, oldest = runs["run_id"].tolist()
    result = monitor_runs(oldest, newest, store=history_store)
    assert result.verdict == "REVALIDATE"


def test_unknown_run_id_is_a_clear_error(history_store):
    from segmint.exceptions import InputError

    with pytest.raises(InputError, match="no run 'nope'"):
        monitor_runs("nope", "nope", store=history_store)


def test_monitor_html_is_standalone_with_a_migration_chart(periods):
    result = monitor_runs(periods["baseline"]["run"], periods["shift"]["run"])
    page = render_monitor(result)
    assert page.startswith("<!doctype html>") and "REVALIDATE" in page
    assert '<svg class="chart migration"' in page and 'class="mark"' in page
    assert "<script" not in page and "https://" not in page
    fragment = render_monitor(result, standalone=False)
    assert fragment.lstrip().startswith('<section class="monitoring"')


def test_cli_history_and_monitor(cli, history_store, periods, tmp_path):
    listed = cli("history", "--store", str(history_store), "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert len(runs) == 2
    table = cli("history", "--store", str(history_store))
    assert table.returncode == 0 and runs[0]["run_id"][:10] in table.stdout
    html = tmp_path / "monitor.html"
    checked = cli(
        "monitor",
        "--baseline",
        runs[1]["run_id"],
        "--current",
        runs[0]["run_id"],
        "--store",
        str(history_store),
        "--html",
        str(html),
        "--json",
    )
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["verdict"] == "REVALIDATE"
    assert html.exists()
    by_model = cli(
        "monitor",
        "--model",
        str(periods["baseline"]["run"]),
        "--input",
        str(periods["same"]["transactions"]),
    )
    assert by_model.returncode == 0, by_model.stderr
    assert "OK" in by_model.stdout


def test_cli_monitor_without_inputs_exits_2(cli):
    result = cli("monitor")
    assert result.returncode == 2 and "Nothing to compare" in result.stderr
