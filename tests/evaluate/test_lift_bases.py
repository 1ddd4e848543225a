"""Out-of-time lift for runs on other bases than the transaction ones (events, survey): the
run's bases recomputed by the catalogue at the cut-off, with only the events before it, the
RFM baseline from the transactions before it, and the technographic features of mixed runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

import segmint.evaluate._lift as lift_module
import segmint.strategy._deliverables as deliverables_module
from segmint.activate._scoring import load_source_table
from segmint.config import load_config
from segmint.datasets import make_retail
from segmint.evaluate._baselines import RFM_BASELINE, SEGMENTS
from segmint.evaluate._lift_result import LiftResult
from segmint.features._table import build_feature_table
from segmint.io import load_transactions, map_columns, read_source
from segmint.pipeline import run_segmentation

FAST = "segmentation:\n  k: 4\n  n_init: 3\n  stability_resamples: 0\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_retail(2000, seed=7).write(tmp_path_factory.mktemp("lift_bases") / "data")


def _run(root: Path, data: dict[str, Path], bases: str, roles: tuple[str, ...]) -> dict:
    """A real run; the LiftResult and the lift's cut-off feature tables are kept as they pass."""
    config = root / "segmint.yaml"
    config.write_text(f"bases: [{bases}]\n{FAST}", encoding="utf-8")
    seen: dict = {"tables": [], "lift": None}

    def build(*args, **kwargs):
        frame, spec = build_feature_table(*args, **kwargs)
        seen["tables"].append((kwargs, frame.copy(), spec))
        return frame, spec

    def lift(*args, **kwargs) -> LiftResult:
        seen["lift"] = result = lift_module.out_of_time_lift(*args, **kwargs)
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lift_module, "build_feature_table", build)
        mp.setattr(deliverables_module, "out_of_time_lift", lift)
        run_segmentation(
            data["transactions"],
            root / "run",
            config=load_config(config),
            sources={role: data[role] for role in roles},
        )
    seen["out"] = root / "run"
    return seen


@pytest.fixture(scope="module")
def needs_run(data, tmp_path_factory) -> dict:
    return _run(
        tmp_path_factory.mktemp("tech_needs"), data, "technographic, needs", ("events", "survey")
    )


@pytest.fixture(scope="module")
def mixed_run(data, tmp_path_factory) -> dict:
    return _run(
        tmp_path_factory.mktemp("mixed"), data, "behavioural, value, technographic", ("events",)
    )


def _load(data: dict[str, Path], roles: tuple[str, ...]) -> duckdb.DuckDBPyConnection:
    """The same files loaded into a fresh connection, as ``segmint run`` loads them."""
    con = duckdb.connect()
    raw = read_source(con, data["transactions"], "raw_transactions", typed=True)
    load_transactions(con, raw, map_columns(raw.columns, "transactions", path=str(raw.path)))
    for role in roles:
        load_source_table(con, role, data[role])
    return con


def test_lift_csv_has_the_segments_and_the_rfm_baseline(needs_run) -> None:
    path = needs_run["out"] / "lift.csv"
    assert path.exists()
    table = pd.read_csv(path)
    lift = needs_run["lift"]
    segment_rows = table[table["table"] == "segment"]
    assert set(segment_rows["segment_id"]) == set(lift.per_segment["segment_id"])
    assert len(segment_rows) == 4 * len(lift.per_segment)
    compared = set(table.loc[table["table"] == "comparison", "segmentation"])
    assert {SEGMENTS, RFM_BASELINE, "technographic basis alone", "needs basis alone"} <= compared
    assert table["cutoff"].nunique() == 1 and table["cutoff"].iloc[0] == lift.cutoff


def test_cutoff_features_use_only_events_before_the_cutoff(needs_run, data) -> None:
    lift = needs_run["lift"]
    cutoff = date.fromisoformat(lift.cutoff)
    # the lift's own call: the run's bases and tables, the cut-off as snapshot
    (kwargs, frame, _), *_ = needs_run["tables"]
    assert list(kwargs["bases"]) == ["technographic", "needs"]
    assert kwargs["snapshot"] == cutoff
    assert {"transactions", "events", "survey"} <= set(kwargs["tables_available"])

    con = _load(data, ("events", "survey"))
    mine, _ = build_feature_table(
        con,
        bases=["technographic", "needs"],
        snapshot=cutoff,
        tables_available={"transactions": "transactions", "events": "events", "survey": "survey"},
        into=None,
    )
    mine = mine.sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        frame[["customer_id", "events", "days_since_last_event"]].reset_index(drop=True),
        mine[["customer_id", "events", "days_since_last_event"]],
    )

    events = pd.read_csv(data["events"], parse_dates=["event_time"])
    before = events[events["event_time"] < pd.Timestamp(cutoff)]
    assert len(before) < len(events)  # the data go on after the cut-off
    expected = before.groupby("customer_id").agg(
        events=("event_time", "size"), last=("event_time", "max")
    )
    expected["days"] = (pd.Timestamp(cutoff) - expected["last"].dt.normalize()).dt.days
    got = frame.set_index("customer_id")
    active = got.index.intersection(expected.index)
    assert len(active) > 100
    np.testing.assert_array_equal(
        got.loc[active, "events"].to_numpy(float), expected.loc[active, "events"].to_numpy(float)
    )
    np.testing.assert_array_equal(
        got.loc[active, "days_since_last_event"].to_numpy(float),
        expected.loc[active, "days"].to_numpy(float),
    )
    # customers whose events all came after the cut-off have none at it
    later_only = set(events["customer_id"]) - set(before["customer_id"])
    for customer in sorted(later_only & set(got.index))[:20]:
        assert not got.loc[customer, "events"] > 0
    # the customers followed are the catalogue's population at the cut-off
    assert lift.n_customers == len(mine)
    assert set(lift.outcomes["customer_id"]) == set(mine["customer_id"])


def test_figures_are_finite_and_the_verdict_names_the_bases(needs_run) -> None:
    lift = needs_run["lift"]
    assert np.isfinite(lift.per_segment[[f"lift_{o}" for o in lift_module.OUTCOMES]]).all().all()
    eta = lift.comparison[[f"eta2_{o}" for o in lift_module.OUTCOMES]].to_numpy(float)
    assert np.isfinite(eta).all() and ((eta >= 0) & (eta <= 1)).all()
    assert np.isfinite(lift.eta2(RFM_BASELINE))
    assert "technographic and needs bases" in lift.verdict
    assert "survey answers have no date" in lift.verdict
    assert any("survey answers have no date" in note for note in lift.notes)
    assert set(lift.features_used) >= {"events", "days_since_last_event", "needs_factor_1"}
    assert "recency_days" not in lift.features_used  # RFM only for the baseline
    report = (needs_run["out"] / "report.html").read_text(encoding="utf-8")
    assert "technographic and needs bases" in report
    assert "lift not computed" not in report
    # who was followed, in the method line: not "who had bought" (survey respondents count)
    assert lift.population == "customers with data of the technographic and needs bases by then"
    assert f"{lift.n_customers:,} {lift.population}" in report
    assert "who had bought by then" not in report


def test_mixed_run_uses_the_technographic_features_at_the_cutoff(mixed_run) -> None:
    lift = mixed_run["lift"]
    assert lift is not None and (mixed_run["out"] / "lift.csv").exists()
    (kwargs, _, spec), *_ = mixed_run["tables"]
    assert kwargs["snapshot"] == date.fromisoformat(lift.cutoff)
    basis = {f.name: f.basis for f in spec.features}
    used = {basis[name] for name in lift.features_used}
    assert used == {"behavioural", "value", "technographic"}
    assert {"events", "days_since_last_event"} <= set(lift.features_used)
    compared = set(lift.comparison["segmentation"])
    assert "technographic basis alone" in compared and RFM_BASELINE in compared
    assert np.isfinite(lift.eta2()) and np.isfinite(lift.eta2(RFM_BASELINE))
