"""Out-of-time lift: outcomes after the cut-off, lift and eta², the verdict, the demo."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmint.evaluate._baselines import RFM_BASELINE, RFM_NAMED_BASELINE, rfm_score_groups
from segmint.evaluate._lift_stats import segment_lift
from segmint.evaluate._outcomes import period_outcomes, revenue_trend
from segmint.evaluate._verdict import lift_verdict


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """A hand-made log around a cut-off of 2024-01-01 with a 10-day window (to 2024-01-10)."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE transactions (customer_id VARCHAR, order_id VARCHAR, order_date DATE,"
        " amount DOUBLE)"
    )
    con.execute(
        """INSERT INTO transactions VALUES
        ('A', 'o1', '2023-12-30', 40),   -- before the cut-off: not an outcome
        ('A', 'o2', '2024-01-02', 50),   -- first half of the window
        ('A', 'o3', '2024-01-08', 30),   -- second half: A is retained
        ('A', 'o3', '2024-01-09', -10),  -- a return on o3: net revenue, not an extra order
        ('B', 'o4', '2024-01-03', 20),
        ('B', 'o0', '2024-01-04', -5),   -- return of an order from before the window
        ('C', 'o5', '2023-12-24', 15),
        ('C', 'o6', '2024-01-11', 99),   -- the day after the window: not counted
        ('D', 'o7', '2024-01-05', 70)    -- not among the followed customers
        """
    )
    con.execute("CREATE TABLE followed AS SELECT * FROM (VALUES ('A'), ('B'), ('C')) t(id)")
    con.execute("ALTER TABLE followed RENAME COLUMN id TO customer_id")
    return con


def test_period_outcomes_count_orders_revenue_repeat_and_retention_in_the_window(con) -> None:
    out = period_outcomes(
        con, date(2024, 1, 1), 10, has_order_id=True, customers="followed"
    ).set_index("customer_id")
    assert list(out.index) == ["A", "B", "C"]
    assert out.loc["A"].tolist() == [1, 1, 70.0, 2]  # repeat, retained, revenue, orders
    assert out.loc["B"].tolist() == [1, 0, 15.0, 1]
    assert out.loc["C"].tolist() == [0, 0, 0.0, 0]


def test_period_outcomes_without_order_ids_count_customer_days(con) -> None:
    out = period_outcomes(
        con, date(2024, 1, 1), 10, has_order_id=False, customers="followed"
    ).set_index("customer_id")
    # A bought on 2 days (the return day has no purchase); B on 1
    assert out.loc["A", "orders"] == 2 and out.loc["B", "orders"] == 1


def test_revenue_trend_compares_recent_with_earlier_revenue(con) -> None:
    segments = pd.DataFrame({"customer_id": ["A", "B", "C"], "segment_id": [0, 0, 1]})
    # snapshot 2024-01-11, horizon 10: recent = Jan 1-10, earlier = Dec 22-31
    trend = revenue_trend(con, segments, date(2024, 1, 11), 10).set_index("segment_id")
    assert trend.loc[0, "revenue_recent"] == pytest.approx(85.0)  # A 70 + B 15
    assert trend.loc[0, "revenue_earlier"] == pytest.approx(40.0)  # A's o1
    assert trend.loc[0, "growth"] == pytest.approx(85 / 40)
    assert trend.loc[1, "revenue_recent"] == 0 and trend.loc[1, "revenue_earlier"] == 15
    assert trend.loc[1, "growth"] == 0


def test_segment_lift_and_eta_squared_by_hand() -> None:
    outcomes = pd.DataFrame({"revenue": [0.0, 10.0, 20.0, 50.0], "orders": [0, 1, 1, 2]})
    lift = segment_lift(outcomes, np.array([0, 0, 1, 1])).set_index("segment_id")
    # overall revenue mean 20: segment 0 mean 5 -> lift 0.25; segment 1 mean 35 -> 1.75
    assert lift.loc[0, "lift_revenue"] == pytest.approx(0.25)
    assert lift.loc[1, "lift_revenue"] == pytest.approx(1.75)
    assert lift.loc[1, "lift_orders"] == pytest.approx(1.5 / 1.0)
    assert lift["customers"].tolist() == [2, 2] and lift["share"].tolist() == [0.5, 0.5]


def _comparison(segments: float, rfm: float, identity: float | None = None) -> pd.DataFrame:
    rows = [
        {"segmentation": "segments", "kind": "segments", "n_segments": 4, "eta2_revenue": segments},
        {"segmentation": RFM_BASELINE, "kind": "baseline", "n_segments": 4, "eta2_revenue": rfm},
        {
            "segmentation": RFM_NAMED_BASELINE,
            "kind": "baseline",
            "n_segments": 11,
            "eta2_revenue": rfm / 2,
        },
    ]
    if identity is not None:
        rows.append({"segmentation": "identity", "kind": "identity", "eta2_revenue": identity})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("segments", "rfm", "ending"),
    [
        (0.31, 0.18, ": they predict behaviour better than a simple RFM grouping."),
        (0.20, 0.18, "only a little better than a simple RFM grouping (an RFM score in 4 groups)."),
        (
            0.18,
            0.18,
            "a simple RFM grouping (an RFM score in 4 groups) predicts it as well as the segments.",
        ),
        (0.05, 0.18, "predicts it as well as the segments or better."),
        (0.01, 0.005, "they describe customers but do not predict what they do next."),
    ],
)
def test_verdict_is_derived_from_the_figures(segments: float, rfm: float, ending: str) -> None:
    text = lift_verdict(_comparison(segments, rfm, identity=0.02), "revenue", window="w")
    assert f"{segments:.1%}" in text
    assert f"{rfm:.1%} for an RFM score in 4 groups" in text
    assert f"{rfm / 2:.1%} for the 11 named RFM segments" in text
    assert ending in text
    assert "(w)" in text and "customer identity alone explain 2.0%" in text


def test_rfm_score_groups_have_the_segmentation_granularity() -> None:
    rng = np.random.default_rng(3)
    n = 1000
    rfm = pd.DataFrame(
        {
            "recency_days": rng.integers(1, 400, n),
            "frequency": rng.integers(1, 4, n),  # heavy ties
            "monetary": rng.gamma(2.0, 50.0, n),
        }
    )
    for k in (2, 5, 10):
        groups = rfm_score_groups(rfm, k)
        counts = np.bincount(groups, minlength=k)
        assert counts.size == k and (counts > 0).all()
        assert counts.max() - counts.min() <= 0.05 * n  # equal-count groups up to ties
    # the top group is the most recent, most frequent, biggest spenders
    top, bottom = rfm_score_groups(rfm, 2) == 1, rfm_score_groups(rfm, 2) == 0
    assert rfm.loc[top, "recency_days"].median() < rfm.loc[bottom, "recency_days"].median()
    assert rfm.loc[top, "monetary"].median() > rfm.loc[bottom, "monetary"].median()
    # by hand: score ranks of 4 customers
    small = pd.DataFrame(
        {"recency_days": [5, 300, 40, 200], "frequency": [9, 1, 4, 2], "monetary": [9, 1, 3, 2]}
    )
    assert rfm_score_groups(small, 4).tolist() == [3, 0, 2, 1]


def _lift_table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "lift.csv")


def test_demo_segments_beat_the_rfm_quintile_baseline_out_of_time(demo_run: Path) -> None:
    lift = _lift_table(demo_run)
    comparison = lift[lift["table"] == "comparison"].pivot(
        index="segmentation", columns="outcome", values="eta_squared"
    )
    segments, rfm = comparison.loc["segments"], comparison.loc[RFM_BASELINE]
    # the planted segments differ in persistent behaviour: the refit at the cut-off must predict
    # next-period revenue and orders clearly better than an RFM score in as many groups
    assert segments["revenue"] > rfm["revenue"] + 0.10, (segments["revenue"], rfm["revenue"])
    assert segments["orders"] > rfm["orders"], (segments["orders"], rfm["orders"])
    assert segments["repeat_purchase"] > rfm["repeat_purchase"]
    assert segments["revenue"] > 0.5
    # and far better than segments on customer identity alone
    identity = comparison.loc[[i for i in comparison.index if "identity" in i]].iloc[0]
    assert segments["revenue"] > 2 * identity["revenue"]
    # the outcome window lies inside the data: cut-off = snapshot 2025-01-01 minus 180 days
    assert set(lift["cutoff"]) == {"2024-07-05"} and set(lift["window_end"]) == {"2025-01-01"}


def test_demo_lift_per_segment_separates_high_and_low_value(demo_run: Path) -> None:
    lift = _lift_table(demo_run)
    revenue = lift[(lift["table"] == "segment") & (lift["outcome"] == "revenue")]
    assert revenue["lift"].max() > 3.0  # the high spenders
    assert revenue["lift"].min() < 0.1  # the lapsed
    # lifts average back to 1 when weighted by segment size
    assert (revenue["lift"] * revenue["customers"]).sum() / revenue["customers"].sum() == (
        pytest.approx(1.0)
    )


def test_demo_report_states_the_verdict_with_its_figures(demo_run: Path) -> None:
    lift = _lift_table(demo_run)
    rows = lift[(lift["table"] == "comparison") & (lift["outcome"] == "revenue")]
    eta = rows.set_index("segmentation")["eta_squared"]
    html = (demo_run / "report.html").read_text()
    verdict = re.search(r'data-testid="lift-verdict">(.*?)</p>', html, re.S).group(1)
    assert f"{eta['segments']:.1%}" in verdict and f"{eta[RFM_BASELINE]:.1%}" in verdict
    assert f"{eta[RFM_NAMED_BASELINE]:.1%} for the " in verdict
    assert "they predict behaviour" in verdict


def test_verdict_names_the_other_outcomes_an_rfm_grouping_predicts_better() -> None:
    table = _comparison(0.20, 0.18)
    table["eta2_retained"] = [0.135, 0.161, 0.150]  # segments, RFM score, named RFM
    table["eta2_orders"] = [0.25, 0.23, 0.229]
    text = lift_verdict(table, "revenue")
    assert text.endswith(
        "A simple RFM grouping predicts next-period retention (an RFM score in 4 groups: "
        "16.1% vs. 13.5%) better than the segments."
    )
    assert "orders" not in text  # the segments predict orders better: not named
    table["eta2_retained"] = [0.17, 0.161, 0.150]
    assert "A simple RFM grouping predicts next-period" not in lift_verdict(table, "revenue")
