"""Segment names agree with the segments' own figures, and carry their evidence."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segmint.features._prepare import drop_uninformative
from segmint.profile._names import (
    RECENT_DAYS,
    describe_segments,
    name_evidence,
    trait_evidence,
)
from segmint.profile._profiles import profile_segments


def _lapsed_log(path: Path, n: int = 3000, seed: int = 11) -> Path:
    """A log whose customers nearly all stopped buying a year or more before its end.

    Half bought once, long ago; half bought several times, their last purchase 200-500 days
    before the end; one customer buys on the last day, so the log (and the snapshot) reaches
    to the end.
    """
    rng = np.random.default_rng(seed)
    end = date(2024, 12, 31)
    rows = []
    for i in range(n):
        loyal = i % 2 == 0
        last = int(rng.integers(200, 500)) if loyal else int(rng.integers(600, 900))
        orders = int(rng.integers(3, 8)) if loyal else 1
        for j in range(orders):
            day = end - timedelta(days=last + 30 * j)
            amount = float(rng.gamma(3.0, 40.0 if loyal else 15.0))
            rows.append((f"c{i}", f"o{i}-{j}", day.isoformat(), round(amount, 2)))
    rows.append(("c_last", "o_last", end.isoformat(), 20.0))
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_date", "amount"])
    out = path / "lapsed.csv"
    frame.to_csv(out, index=False)
    return out


@pytest.fixture(scope="module")
def lapsed_run(tmp_path_factory: pytest.TempPathFactory, cli) -> Path:
    folder = tmp_path_factory.mktemp("lapsed")
    log = _lapsed_log(folder)
    out = folder / "out"
    result = cli("run", "--transactions", str(log), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_nobody_is_called_recently_active_when_everybody_lapsed(lapsed_run: Path) -> None:
    features = pd.read_parquet(lapsed_run / "features.parquet")
    segments = pd.read_parquet(lapsed_run / "segments.parquet")
    table = features.merge(segments, on="customer_id")
    medians = table.groupby("segment_name")["recency_days"].median()
    # nearly everyone lapsed: every segment's median recency is far beyond 90 days
    assert (medians > 150).all(), medians
    assert not any("Recently active" in name for name in medians.index), medians
    # the segment that is less lapsed than average says so, not more
    assert any("Less lapsed" in name for name in medians.index), medians
    for name, median in medians.items():
        if "Recently active" in name:
            assert median <= RECENT_DAYS
        if "Lapsed" in name.split(" · "):
            assert median > RECENT_DAYS


def test_the_report_prints_the_figures_behind_every_name(lapsed_run: Path) -> None:
    html = (lapsed_run / "report.html").read_text()
    segments = pd.read_parquet(lapsed_run / "segments.parquet")
    features = pd.read_parquet(lapsed_run / "features.parquet").merge(segments, on="customer_id")
    cells = re.findall(r'data-testid="name-evidence">(.*?)</td>', html, re.S)
    assert len(cells) == segments["segment_id"].nunique()
    overall = features["recency_days"].median()
    for seg_id, group in features.groupby("segment_id"):
        name = group["segment_name"].iloc[0]
        cell = cells[int(seg_id)]
        # one line per word of the name, each with the segment's median and the overall one
        for word in name.split(" · "):
            assert cell.count(f"{word}:") == 1, (word, cell)
        if "lapsed" in name.lower():
            assert (
                f"median recency {group['recency_days'].median():,.0f} days vs {overall:,.0f}"
                " for all customers" in cell
            ), cell
    # the cards repeat it
    assert len(re.findall(r'data-testid="card-name-evidence"', html)) == len(cells)


def test_the_constant_return_rate_is_dropped_with_a_note(lapsed_run: Path) -> None:
    model = json.loads((lapsed_run / "model.json").read_text())
    html = (lapsed_run / "report.html").read_text()
    # no order is ever returned in this log: return_rate is 0 for every customer
    assert "Dropped before fitting: return_rate: constant (0 for every customer)" in html
    assert "return_rate" not in model["preparation"]["columns"]
    assert "recency_days" in model["preparation"]["columns"]


def test_absolute_rules_by_hand() -> None:
    # less lapsed than average, but 400 days: not "Recently active"
    assert trait_evidence("recency_days", -0.5, 400, 600, 410, 590).words == "Less lapsed"
    assert trait_evidence("recency_days", -0.5, 30, 600, 40, 590).words == "Recently active"
    # more lapsed than average but within 90 days: no word
    assert trait_evidence("recency_days", 0.5, 60, 20, 70, 30) is None
    # above-average frequency with a median of 1 order is not "Frequent buyers"
    assert trait_evidence("frequency", 0.8, 1, 1, 1.6, 1.2) is None
    assert trait_evidence("frequency", 0.8, 3, 1, 3.4, 1.2).words == "Frequent buyers"
    # a mean above average with a median below the overall median: no "High spenders"
    assert trait_evidence("monetary", 0.4, 80, 100, 300, 200) is None
    evidence = trait_evidence("monetary", 0.4, 180, 100, 300, 200)
    assert evidence.text == (
        "High spenders: median revenue 180 vs 100 for all customers"
        " (median above the overall median)"
    )
    assert trait_evidence("tenure_days", 0.5, 200, 150, 210, 160) is None
    assert trait_evidence("share_channel_app", 0.9, 0, 0, 0.4, 0.2) is None
    assert trait_evidence("share_channel_app", 0.9, 1, 0, 0.7, 0.2).words == "App-first"


def test_names_and_evidence_from_profiles() -> None:
    rng = np.random.default_rng(0)
    n = 600
    labels = np.repeat([0, 1], n // 2)
    attributes = pd.DataFrame(
        {
            # both segments lapsed; segment 1 less so
            "recency_days": np.where(labels == 0, 700, 300) + rng.integers(0, 50, n),
            "frequency": np.where(labels == 0, 1, 4) + rng.integers(0, 2, n),
            "monetary": np.where(labels == 0, 20.0, 200.0) * rng.uniform(0.8, 1.2, n),
        }
    )
    profiles = profile_segments(attributes, labels)
    names, evidence = describe_segments(profiles)
    assert not any("Recently active" in name for name in names.values())
    assert names[1].startswith("Less lapsed") or "Less lapsed" in names[1]
    line = next(e for e in evidence[1] if e.attribute == "recency_days")
    assert line.segment_value == attributes.loc[labels == 1, "recency_days"].median()
    assert line.overall_value == attributes["recency_days"].median()
    # a given name is marked as given, a derived one keeps its figures
    given = name_evidence(profiles, {0: "Champions", 1: names[1]})
    assert given[0][0].statistic == "given" and given[1] == evidence[1]


def test_drop_uninformative_features() -> None:
    frame = pd.DataFrame(
        {
            "a": np.arange(1000.0),
            "constant": np.zeros(1000),
            "nearly": np.r_[np.zeros(995), np.ones(5)],
            "some": np.r_[np.zeros(900), np.ones(100)],
        }
    )
    kept, dropped = drop_uninformative(frame, ["a", "constant", "nearly", "some"])
    assert kept == ["a", "some"]
    assert dropped == {
        "constant": "constant: constant (0 for every customer)",
        "nearly": "nearly: near-constant (99.5% of customers at 0)",
    }
    # never drops everything
    assert drop_uninformative(frame, ["constant"]) == (["constant"], {})
