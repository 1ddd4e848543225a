"""The offline HTML report: a content model built from run results, rendered with Jinja.

The content is plain data (numbers and strings computed by earlier stages); the template only
lays it out. Charts are inline SVG and styles are inline, so the file works with no network.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape

from segmint.profile._profiles import SegmentProfiles
from segmint.report._charts import bar_chart, color, heat_color, line_chart


def _env() -> Environment:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["pct"] = lambda v: "–" if v is None or v != v else f"{v:.1%}"
    env.filters["num"] = _num
    env.filters["heat"] = heat_color
    return env


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    value = float(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def build_content(
    *,
    title: str,
    overview: dict[str, Any],
    accounting: list[dict[str, Any]],
    evidence: pd.DataFrame,
    chosen_k: int,
    profiles: SegmentProfiles,
    names: dict[int, str],
    descriptions: dict[str, str],
    bases: list[str],
    method: dict[str, Any],
) -> dict[str, Any]:
    """Assemble the report's content model from the run's results (all numbers computed)."""
    summary = profiles.summary
    ids = [int(s) for s in summary["segment_id"]]
    labels = [f"{i}: {names[i]}" for i in ids]
    charts = {
        "sizes": bar_chart(
            labels,
            summary["share"].tolist(),
            title="Share of customers",
            colors=[color(i) for i in ids],
        )
    }
    if "revenue_share" in summary:
        charts["revenue"] = bar_chart(
            labels,
            summary["revenue_share"].tolist(),
            title="Share of revenue",
            colors=[color(i) for i in ids],
        )
    if "silhouette" in evidence and len(evidence) > 1:
        charts["evidence"] = line_chart(
            evidence["k"].tolist(),
            evidence["silhouette"].tolist(),
            title="Silhouette by number of segments",
            x_label="number of segments (k)",
            y_label="silhouette",
            highlight=chosen_k,
        )
    attributes = list(profiles.index.columns)
    heatmap = {
        "attributes": [{"name": a, "description": descriptions.get(a, "")} for a in attributes],
        "overall": [profiles.means.loc["all", a] for a in attributes],
        "rows": [
            {
                "id": i,
                "name": names[i],
                "cells": [
                    {"index": profiles.index.loc[i, a], "mean": profiles.means.loc[i, a]}
                    for a in attributes
                ],
            }
            for i in ids
        ],
    }
    cards = []
    for _, row in summary.iterrows():
        i = int(row["segment_id"])
        traits = profiles.top_traits(i, n=5)
        cards.append(
            {
                "id": i,
                "name": names[i],
                "color": color(i),
                "customers": int(row["customers"]),
                "share": float(row["share"]),
                "revenue_share": float(row["revenue_share"]) if "revenue_share" in row else None,
                "revenue_per_customer": float(row["revenue_per_customer"])
                if "revenue_per_customer" in row
                else None,
                "traits": [
                    {
                        "attribute": t.attribute,
                        "description": descriptions.get(t.attribute, t.attribute),
                        "segment_value": t.segment_value,
                        "overall_value": t.overall_value,
                        "index": t.index,
                        "direction": "above" if t.effect > 0 else "below",
                    }
                    for t in traits.itertuples()
                ],
            }
        )
    return {
        "title": title,
        "overview": overview,
        "accounting": accounting,
        "evidence": evidence.to_dict(orient="records"),
        "evidence_columns": [c for c in evidence.columns if c not in ("admissible", "chosen")],
        "chosen_k": chosen_k,
        "charts": charts,
        "heatmap": heatmap,
        "cards": cards,
        "bases": bases,
        "method": method,
    }


def render_report(content: dict[str, Any]) -> str:
    """Render the content model to one self-contained HTML document."""
    template = files("segmint.report").joinpath("templates/report.html.j2").read_text("utf-8")
    return _env().from_string(template).render(**content)
