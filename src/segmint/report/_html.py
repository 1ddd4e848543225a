"""The offline HTML report: a content model built from run results, rendered with Jinja.

The content is plain data (numbers and strings computed by earlier stages); the template only
lays it out. Charts are inline SVG and styles are inline, so the file works with no network.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape

from segmint._money import money
from segmint.evaluate._baselines import BASELINE_DEFINITIONS
from segmint.evaluate._scorecard import CRITERIA
from segmint.profile._names import LONG_DAYS, RECENT_DAYS, name_evidence
from segmint.profile._profiles import SegmentProfiles
from segmint.report._charts import (
    bar_chart,
    bubble_chart,
    color,
    heat_color,
    line_chart,
    series_chart,
)
from segmint.report._data import reconciliation_sentence, source_facts

if TYPE_CHECKING:
    from segmint.strategy._deliverables import Deliverables

#: The report's sections in order: (``data-section`` name, navigation label).
SECTIONS = (
    ("overview", "Overview"),
    ("data", "Data"),
    ("evidence", "Number of segments"),
    ("segments", "Segments"),
    ("stability", "Stability"),
    ("scorecard", "Scorecard"),
    ("lift", "Lift"),
    ("profiles", "Profiles"),
    ("cards", "Cards"),
    ("prioritisation", "Prioritisation"),
    ("recommendations", "Recommendations"),
    ("method", "Method"),
)


def _env() -> Environment:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["pct"] = lambda v: "–" if v is None or v != v else f"{v:.1%}"
    env.filters["num"] = _num
    env.filters["heat"] = heat_color
    env.filters["sig"] = lambda v, n=3: "–" if v is None or v != v else f"{v:,.{n}g}"
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
    deliverables: Deliverables | None = None,
    value_model: dict[str, Any] | None = None,
    reconciliation: dict[str, Any] | None = None,
    currency: str | None = None,
    duplicate_policy: str = "drop",
    selection: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the report's content model from the run's results (all numbers computed).

    ``selection`` (how k was decided, :func:`segmint.segmenters._factory.k_selection`: chosen
    k, runner-up, reason, the reasons per excluded k) becomes the key ``selection`` of the
    number-of-segments section, next to the evidence table.

    With ``deliverables`` (scorecard, lift, persona cards, priorities, recommendations) the
    model also gets the keys ``stability``, ``scorecard``, ``lift``, ``persona_cards``,
    ``priorities`` and ``recommendations``; each is ``None`` otherwise. ``value_model`` (the
    lifetime-value models of the value basis, as
    :func:`~segmint.features.value_model_summary` gives them) becomes the "Lifetime value
    model" part of the method section, with the holdout chart ``charts["value_holdout"]``.

    The data section says per source what happened to its rows
    (:func:`segmint.report._data.source_facts`: quarantined per reason with the value involved,
    returns netted, duplicates and their policy, exclusions) and, with ``reconciliation``
    (:func:`segmint.report._data.revenue_reconciliation`), how the net value of the lines used
    becomes the overview's revenue; money in ``currency`` (ISO 4217, ``io.currency``) or, without
    it, as plain numbers.
    """
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
    if "structure" in evidence and len(evidence) > 1 and evidence["structure"].notna().any():
        # the criterion the k-means rule decides by (after stability)
        charts["evidence"] = line_chart(
            evidence["k"].tolist(),
            evidence["structure"].tolist(),
            title="Explained variance beyond structureless data, by number of segments",
            x_label="number of segments (k)",
            y_label="structure",
            highlight=chosen_k,
        )
    elif "silhouette" in evidence and len(evidence) > 1:
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
                    {
                        "index": profiles.index.loc[i, a],
                        "mean": profiles.means.loc[i, a],
                        "significant": bool(profiles.p_value.loc[i, a] < 0.05),
                    }
                    for a in attributes
                ],
            }
            for i in ids
        ],
    }
    cards = []
    why_named = name_evidence(profiles, names)
    for _, row in summary.iterrows():
        i = int(row["segment_id"])
        traits = profiles.top_traits(i, n=5)
        cards.append(
            {
                "id": i,
                "name": names[i],
                "name_evidence": [e.to_dict() for e in why_named[i]],
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
    content = {
        "title": title,
        "overview": overview,
        "accounting": [
            {
                **a,
                "facts": source_facts(a, currency, duplicate_policy=duplicate_policy),
                "net_value": money(a["value"]["net"], currency) if a.get("value") else None,
            }
            for a in accounting
        ],
        "reconciliation": reconciliation_sentence(reconciliation, currency)
        if reconciliation
        else None,
        "currency": currency,
        "evidence": evidence.to_dict(orient="records"),
        "evidence_columns": [c for c in evidence.columns if c not in ("admissible", "chosen")],
        "selection": selection,
        "chosen_k": chosen_k,
        "charts": charts,
        "heatmap": heatmap,
        "cards": cards,
        "naming": {"recent_days": RECENT_DAYS, "long_days": LONG_DAYS},
        "bases": bases,
        "method": method,
        "sections": [{"name": n, "label": label} for n, label in SECTIONS],
        "stability": None,
        "scorecard": None,
        "lift": None,
        "persona_cards": None,
        "priorities": None,
        "recommendations": None,
        "value_model": _value_model_content(value_model, charts),
    }
    if deliverables is not None:
        content.update(_deliverables_content(deliverables, names, charts))
    return content


def _value_model_content(
    value_model: dict[str, Any] | None, charts: dict[str, str]
) -> dict[str, Any] | None:
    """The lifetime-value part of the method section; draws the holdout chart into ``charts``.

    The chart is the chosen model's cumulative repeat transactions per holdout period (week, or
    purchase occasion of a discrete log), or for sBG its contract renewals per period,
    predicted against actual (in the manner of Fader, Hardie & Lee, 2005, Figure 2).
    """
    if not value_model:
        return None
    holdout = value_model.get("holdout")
    if holdout and holdout.get("periods"):
        weekly = holdout["periods"]
        quantity = holdout.get("quantity", "repeat transactions")
        charts["value_holdout"] = series_chart(
            [w["period"] for w in weekly],
            [
                ("actual", [w["actual_cumulative"] for w in weekly], False),
                (
                    f"{holdout['model']} forecast",
                    [w["predicted_cumulative"] for w in weekly],
                    True,
                ),
            ],
            title=f"Cumulative {quantity}, {holdout['n_periods']}-{holdout['unit']} "
            f"holdout {weekly[0]['start']} to {holdout['end']}",
            x_label=f"{holdout['unit']} of the holdout",
            y_label=quantity,
        )
    return value_model


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with missing values as None (the template prints them as "–")."""
    return [
        {k: (None if v is pd.NA or (isinstance(v, float) and v != v) else v) for k, v in r.items()}
        for r in frame.to_dict(orient="records")
    ]


def _deliverables_content(
    d: Deliverables, names: dict[int, str], charts: dict[str, str]
) -> dict[str, Any]:
    """The content of the stability, scorecard, lift, cards, prioritisation and
    recommendations sections."""
    out: dict[str, Any] = {}
    ids = sorted(names)

    # stability
    if d.stability is not None and len(d.stability):
        table = d.stability.sort_values("segment_id")
        rows = _records(table.assign(name=[names.get(int(i), "") for i in table["segment_id"]]))
        charts["stability"] = bar_chart(
            [f"{int(r['segment_id'])}: {r['name']}" for r in rows],
            [float(r["jaccard_mean"]) for r in rows],
            title="Mean bootstrap Jaccard per segment",
            value_format="{:.2f}",
            colors=[color(int(r["segment_id"])) for r in rows],
            reference=d.scorecard.thresholds.stable_pass,
            reference_label=f"stable ≥ {d.scorecard.thresholds.stable_pass:g}",
        )
        out["stability"] = {"rows": rows, "ari": d.stability_ari}

    # scorecard
    table = d.scorecard.table
    score_rows = []
    for seg in [*ids, None]:
        part = (
            table[table["segment_id"].isna()] if seg is None else table[table["segment_id"] == seg]
        )
        cells = {r["criterion"]: r for r in _records(part)}
        score_rows.append(
            {
                "id": seg,
                "name": names.get(seg, "") if seg is not None else "All segments",
                "cells": [cells.get(c) for c in CRITERIA],
            }
        )
    thresholds = (
        table[table["segment_id"].isna()][["criterion", "pass_at", "warn_at"]]
        .set_index("criterion")
        .to_dict(orient="index")
    )
    out["scorecard"] = {
        "criteria": list(CRITERIA),
        "rows": score_rows,
        "thresholds": thresholds,
        "overall_tests": _records(d.scorecard.overall_tests),
        "correction": "Benjamini-Hochberg" if d.scorecard.thresholds.correction == "bh" else "Holm",
        "alpha": d.scorecard.thresholds.alpha,
    }

    # lift
    if d.lift is not None:
        lift = d.lift
        primary = lift.primary_outcome
        per_segment = lift.per_segment.sort_values("segment_id")
        charts["lift"] = bar_chart(
            [f"{int(r.segment_id)}: {r.name}" for r in per_segment.itertuples()],
            per_segment[f"lift_{primary}"].tolist(),
            title=f"Lift in next-period {primary} (1 = all customers)",
            value_format="{:.2f}×",
            colors=[color(int(i)) for i in per_segment["segment_id"]],
            reference=1.0,
            reference_label="average",
        )
        comparison = lift.comparison
        charts["lift_comparison"] = bar_chart(
            comparison["segmentation"].tolist(),
            comparison[f"eta2_{primary}"].tolist(),
            title=f"Variance of next-period {primary} explained (eta²)",
            colors=[
                color(0) if k == "segments" else "#9ca3af" if k == "baseline" else "#60a5fa"
                for k in comparison["kind"]
            ],
        )
        out["lift"] = {
            "verdict": lift.verdict,
            "cutoff": lift.cutoff,
            "end": lift.end,
            "horizon_days": lift.horizon_days,
            "method": lift.method,
            "n_customers": lift.n_customers,
            "population": lift.population,
            "primary": primary,
            "overall": lift.overall,
            "per_segment": [
                {
                    **r,
                    "current_name": names.get(int(r["segment_id"]))
                    if r["current_overlap"] is not None and r["current_overlap"] >= 0.5
                    else None,
                }
                for r in _records(per_segment)
            ],
            "comparison": _records(comparison),
            "baselines": BASELINE_DEFINITIONS,
            "outcomes": ["repeat_purchase", "retained", "revenue", "orders"],
        }
    elif d.lift_error:
        out["lift"] = {"error": d.lift_error}

    # persona cards, with the segment's grades and plays
    plays: dict[int, list[str]] = {}
    for rec in d.recommendations:
        plays.setdefault(rec.segment_id, []).append(rec.title)
    out["persona_cards"] = [
        {
            **card.to_dict(),
            "color": color(card.segment_id),
            "grades": [
                {"criterion": c, "status": d.scorecard.status(card.segment_id, c)} for c in CRITERIA
            ],
            "plays": plays.get(card.segment_id, []),
        }
        for card in d.cards
    ]

    # prioritisation
    pri = d.priorities
    charts["bubble"] = bubble_chart(
        [
            {
                "label": f"{int(r.segment_id)}: {r.name}",
                "x": float(r.reachability_used),
                "y": float(r.value_per_customer),
                "size": float(r.customers),
                "color": color(int(r.segment_id)),
                "muted": bool(r.knocked_out),
            }
            for r in pri.itertuples()
        ],
        title="Segments by reachability and value (bubble area = customers)",
        x_label="reachable share",
        y_label="revenue per customer",
    )
    out["priorities"] = {
        "rows": _records(d.priorities_frame()),
        "reach_known": bool(pri["reachability"].notna().any()) if "reachability" in pri else False,
    }

    # recommendations, by segment
    out["recommendations"] = [
        {
            "id": seg,
            "name": names.get(seg, ""),
            "color": color(seg),
            "items": [r.to_dict() for r in d.recommendations if r.segment_id == seg],
        }
        for seg in ids
    ]
    return out


def render_report(content: dict[str, Any]) -> str:
    """Render the content model to one self-contained HTML document."""
    template = files("segmint.report").joinpath("templates/report.html.j2").read_text("utf-8")
    env = _env()
    currency = content.get("currency")
    env.filters["money"] = lambda v: _money_num(v, currency)
    return env.from_string(template).render(**content)


def _money_num(value: Any, currency: str | None) -> str:
    """A money figure as :func:`_num` writes it, with the currency's symbol or code (none
    without ``io.currency``)."""
    text = _num(value)
    if text == "–" or not currency:
        return text
    amount = float(value)
    if abs(amount) >= 1000:
        return money(round(amount), currency).removesuffix(".00")
    return money(amount, currency)
