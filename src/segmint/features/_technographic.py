"""Technographic features from web/app events: how customers connect.

From the ``events`` table (``customer_id, event_time, event_type, platform, device, os``, as the
demo generator writes it), events before the snapshot: the number of events and active days, the
days since the last event, and the share of events per platform (app vs web), device and
operating system (the most frequent levels, the rest as ``other``). Customers without events
before the snapshot have 0 events and missing shares.
"""

from __future__ import annotations

from segmint.exceptions import InputError
from segmint.features._catalogue import (
    Block,
    Feature,
    PlanContext,
    find_column,
    ident,
    level_condition,
    slug,
    top_levels,
)

RELATION = "tg_events"


def plan(ctx: PlanContext) -> tuple[list[Feature], list[Block]]:
    """Technographic features the events table supports (levels: those before the snapshot)."""
    cols = ctx.cols("events")
    when = find_column(cols, "event_time", "timestamp", "event_date", "time", "date", "ts")
    if when is None or "customer_id" not in cols:
        raise InputError(
            f"The events table needs customer_id and event_time (columns: {', '.join(cols)}).",
            hint="Name the event timestamp column event_time.",
        )
    features = [
        Feature(
            "events",
            "technographic",
            "Web/app events",
            "signed_log",
            "events",
            "count(*)",
            default=0.0,
        ),
        Feature(
            "active_days",
            "technographic",
            "Days with at least one web/app event",
            "signed_log",
            "events",
            f"count(DISTINCT CAST({ident(when)} AS DATE))",
            default=0.0,
        ),
        Feature(
            "days_since_last_event",
            "technographic",
            "Days since the last web/app event",
            "signed_log",
            "events",
            f"date_diff('day', CAST(max({ident(when)}) AS DATE), $snapshot)",
        ),
    ]
    levels: dict[str, list[str]] = {}
    relation_sql = ctx.before_snapshot("events", when)
    for aliases, name in (
        (("platform", "app_or_web", "client"), "platform"),
        (("device", "device_type", "device_category"), "device"),
        (("os", "operating_system", "os_name"), "os"),
    ):
        col = find_column(cols, *aliases)
        if col is None:
            continue
        levels[name] = lv = top_levels(ctx.con, relation_sql, col)
        for level in lv:
            cond = level_condition(col, level, lv)
            features.append(
                Feature(
                    f"share_{name}_{slug(level)}",
                    "technographic",
                    f"Share of events on {name} '{level}'",
                    "identity",
                    "events",
                    f"avg(CASE WHEN {cond} THEN 1.0 ELSE 0.0 END)",
                )
            )
    ctx.levels.update({f"events.{k}": v for k, v in levels.items()})
    block = Block(
        "tg_features",
        "events",
        ((RELATION, f"SELECT * FROM $events WHERE {ident(when)} < $snapshot"),),
        RELATION,
        True,
        tuple(f.name for f in features),
    )
    return features, [block]
