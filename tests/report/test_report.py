"""The report: content model, charts, sections, offline and printable."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from segmint.profile._profiles import profile_segments
from segmint.report._charts import bar_chart, bubble_chart
from segmint.report._html import SECTIONS, build_content, render_report

SECTION_NAMES = [name for name, _ in SECTIONS]


def n_segments(out: Path) -> int:
    return pd.read_csv(out / "profiles.csv").shape[0]


def test_bubble_chart_area_follows_customers_and_muted_bubbles_are_hollow() -> None:
    svg = bubble_chart(
        [
            {"label": "a", "x": 0.2, "y": 10.0, "size": 400},
            {"label": "b", "x": 0.9, "y": 50.0, "size": 100, "muted": True},
        ],
        title="t",
        x_label="reachable share",
        y_label="value",
    )
    circles = re.findall(r'<circle class="mark"[^>]*r="([\d.]+)"([^>]*)>', svg)
    assert len(circles) == 2
    radii = sorted(float(r) for r, _ in circles)
    assert radii[1] / radii[0] == pytest.approx(2.0, rel=0.01)  # area 4× -> radius 2×
    assert sum('fill="none"' in rest for _, rest in circles) == 1
    assert "reachable share" in svg and svg.count('class="mark"') == 2


def test_bar_chart_keeps_zero_bars_visible_and_draws_a_reference_line() -> None:
    svg = bar_chart(["a", "b"], [0.0, 2.0], title="lift", reference=1.0, reference_label="avg")
    widths = [float(w) for w in re.findall(r'<rect class="mark"[^>]*width="([\d.]+)"', svg)]
    assert widths[0] == 1.0 and widths[1] > 100
    assert "stroke-dasharray" in svg and ">avg<" in svg


def test_content_model_without_deliverables_keeps_the_existing_keys() -> None:
    labels = np.repeat([0, 1], 20)
    attributes = pd.DataFrame({"monetary": np.where(labels == 0, 10.0, 90.0) + np.arange(40)})
    profiles = profile_segments(attributes, labels)
    evidence = pd.DataFrame({"k": [2], "silhouette": [0.5], "admissible": [True], "chosen": [True]})
    content = build_content(
        title="t",
        overview={
            "customers": 40,
            "segments": 2,
            "k_forced": False,
            "transactions_used": 40,
            "revenue": 1.0,
            "snapshot_date": "2024-01-01",
            "first_date": "2023-01-01",
            "last_date": "2023-12-31",
            "run_id": "r",
            "segmint_version": "0",
        },
        accounting=[],
        evidence=evidence,
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
    )
    for key in ("title", "overview", "accounting", "evidence", "charts", "heatmap", "cards"):
        assert key in content
    assert content["scorecard"] is None and content["lift"] is None
    html = render_report(content)
    for name in SECTION_NAMES:
        assert f'data-section="{name}"' in html, name
    assert "No scorecard in this run." in html


def test_demo_report_has_every_section_once_in_order(demo_run: Path) -> None:
    html = (demo_run / "report.html").read_text()
    found = re.findall(r'data-section="([a-z]+)"', html)
    assert found == SECTION_NAMES
    for name in SECTION_NAMES:
        assert f'href="#{name}"' in html


def test_demo_report_is_offline(demo_run: Path) -> None:
    html = (demo_run / "report.html").read_text()
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    for token in ("<script", "<link", "@import", "url(", "@font-face", "<iframe", "<img"):
        assert token not in html, token


def test_demo_report_prints_one_card_per_page(demo_run: Path) -> None:
    html = (demo_run / "report.html").read_text()
    print_css = html[html.index("@media print") :]
    assert re.search(r"\.persona \{[^}]*break-before: page", print_css)
    assert html.count('class="card persona"') == n_segments(demo_run)


def test_demo_report_shows_the_deliverables(demo_run: Path) -> None:
    html = (demo_run / "report.html").read_text()
    scorecard = pd.read_csv(demo_run / "scorecard.csv")
    # every grade of the scorecard is in the report with its figure
    for figure in scorecard["figure"]:
        assert str(escape(figure)) in html, figure
    priorities = pd.read_csv(demo_run / "priorities.csv")
    top = priorities.loc[priorities["rank"] == 1].iloc[0]
    assert f"Most attractive segment: <b>{top['segment_id']}: " in html
    assert html.count('class="rec"') >= n_segments(demo_run)
    assert "Because:" in html


def test_demo_writes_the_deliverable_tables(demo_run: Path) -> None:
    scorecard = pd.read_csv(demo_run / "scorecard.csv")
    assert list(scorecard.columns) == [
        "segment_id",
        "segment_name",
        "criterion",
        "status",
        "value",
        "pass_at",
        "warn_at",
        "figure",
    ]
    assert len(scorecard) == 6 * (n_segments(demo_run) + 1)
    priorities = pd.read_csv(demo_run / "priorities.csv")
    assert {"rank", "attractiveness", "potential_score", "reachability", "relevance"} <= set(
        priorities.columns
    )
    lift = pd.read_csv(demo_run / "lift.csv")
    assert set(lift["outcome"]) == {"repeat_purchase", "retained", "revenue", "orders"}
