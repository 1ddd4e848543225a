"""Behavioural features from a transaction log, in SQL, as of a snapshot date.

Every feature is computed from transactions strictly before the snapshot date, so later stages
can measure what segments predict about the period after it. An *order* is one ``order_id``, or,
when the log has none, one customer-day (the convention of Fader & Hardie for the CDNOW log).
Amounts are net: returns and credits (negative amounts) reduce ``monetary``; ``avg_order_value``
and the mix shares use purchases only (amount >= 0: a free order is still an order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb

from segmint.exceptions import InputError
from segmint.io._sources import _sql_str, quote_ident

MAX_LEVELS = 10


@dataclass(frozen=True)
class Feature:
    """One entry of the feature catalogue.

    Attributes
    ----------
    name : str
        Column name in the feature table, in the user's words.
    basis : str
        Segmentation basis: ``behavioural``, ``value``, ``demographic``, ...
    description : str
        What the number means, as shown in the report.
    transform : str
        How it is prepared for clustering: ``"signed_log"`` for skewed money and counts,
        ``"identity"`` for shares and bounded values.
    """

    name: str
    basis: str
    description: str
    transform: str = "identity"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "basis": self.basis,
            "description": self.description,
            "transform": self.transform,
        }


CORE_FEATURES: tuple[Feature, ...] = (
    Feature("recency_days", "behavioural", "Days since the last purchase", "signed_log"),
    Feature("frequency", "behavioural", "Number of orders", "signed_log"),
    Feature("monetary", "value", "Net revenue (purchases minus returns)", "signed_log"),
    Feature("tenure_days", "behavioural", "Days since the first purchase", "signed_log"),
    Feature("avg_order_value", "value", "Average value of an order", "signed_log"),
)
OPTIONAL_FEATURES: dict[str, Feature] = {
    "discount": Feature("discount_share", "behavioural", "Share of orders with a discount"),
    "returns": Feature("return_rate", "behavioural", "Returned orders per order"),
}


def slug(value: str) -> str:
    """A lower-case identifier fragment for a category or channel value."""
    text = re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")
    return text or "blank"


@dataclass
class FeatureSpec:
    """What was computed, so new customers get exactly the same columns (saved in model.json)."""

    snapshot_date: str
    features: list[Feature]
    levels: dict[str, list[str]]
    has_order_id: bool

    def to_dict(self) -> dict:
        return {
            "snapshot_date": self.snapshot_date,
            "features": [f.to_dict() for f in self.features],
            "levels": self.levels,
            "has_order_id": self.has_order_id,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        return cls(
            snapshot_date=data["snapshot_date"],
            features=[Feature(**f) for f in data["features"]],
            levels={k: list(v) for k, v in data["levels"].items()},
            has_order_id=bool(data["has_order_id"]),
        )

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]


def default_snapshot(con: duckdb.DuckDBPyConnection, table: str = "transactions") -> date:
    """The day after the last transaction: the natural "as of" for a full log."""
    last = con.execute(f"SELECT max(order_date) FROM {quote_ident(table)}").fetchall()[0][0]
    if last is None:
        raise InputError("The transaction table is empty.", hint="Check the input file.")
    return (last.date() if isinstance(last, datetime) else last) + timedelta(days=1)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()}


def _top_levels(
    con: duckdb.DuckDBPyConnection, table: str, column: str, snapshot: date
) -> list[str]:
    rows = con.execute(
        f"SELECT coalesce({column}, '(missing)') AS level, sum(amount) AS spend "
        f"FROM {quote_ident(table)} WHERE amount > 0 AND order_date < ? "
        f"GROUP BY ALL ORDER BY spend DESC, level LIMIT {MAX_LEVELS + 1}",
        [snapshot],
    ).fetchall()
    levels = [r[0] for r in rows[:MAX_LEVELS]]
    if len(rows) > MAX_LEVELS:
        levels.append("(other)")
    return levels


def plan_features(
    con: duckdb.DuckDBPyConnection,
    snapshot: date | None = None,
    *,
    table: str = "transactions",
) -> FeatureSpec:
    """Decide which behavioural features the data supports, and the category/channel levels."""
    snapshot = snapshot or default_snapshot(con, table)
    cols = _columns(con, table)
    first = con.execute(f"SELECT min(order_date) FROM {quote_ident(table)}").fetchall()[0][0]
    if first is None or (first.date() if isinstance(first, datetime) else first) >= snapshot:
        raise InputError(
            f"No transactions before the snapshot date {snapshot}.",
            hint="Choose a later snapshot_date in segmint.yaml.",
        )
    features = list(CORE_FEATURES)
    levels: dict[str, list[str]] = {}
    for column in ("category", "channel"):
        if column in cols:
            levels[column] = _top_levels(con, table, column, snapshot)
            features += [
                Feature(
                    f"share_{column}_{slug(level)}",
                    "behavioural",
                    f"Share of purchase value in {column} '{level}'",
                )
                for level in levels[column]
            ]
    if "discount" in cols:
        features.append(OPTIONAL_FEATURES["discount"])
    features.append(OPTIONAL_FEATURES["returns"])
    return FeatureSpec(str(snapshot), features, levels, "order_id" in cols)


def feature_sql(spec: FeatureSpec, table: str = "transactions") -> str:
    """The one SELECT that computes ``spec`` per customer from ``table``."""
    snap = f"DATE {_sql_str(spec.snapshot_date)}"
    order_key = "order_id" if spec.has_order_id else "CAST(order_date AS DATE)"
    discount_flag = (
        "max(CASE WHEN coalesce(discount, 0) > 0 THEN 1 ELSE 0 END)"
        if "discount_share" in spec.names
        else "0"
    )
    share_cols = []
    for column, levels in spec.levels.items():
        named = [lv for lv in levels if lv != "(other)"]
        for level in levels:
            if level == "(other)":
                listed = ", ".join(_sql_str(v) for v in named)
                cond = f"coalesce({column}, '(missing)') NOT IN ({listed})"
            else:
                cond = f"coalesce({column}, '(missing)') = {_sql_str(level)}"
            share_cols.append(
                f"coalesce(sum(amount) FILTER ({cond}) / nullif(sum(amount), 0), 0) "
                f"AS share_{column}_{slug(level)}"
            )
    shares = ",\n               ".join(share_cols)
    return f"""
    WITH tx AS (
        SELECT *, {order_key} AS _order FROM {quote_ident(table)} WHERE order_date < {snap}
    ),
    orders AS (
        SELECT customer_id, _order, min(order_date) AS ordered_at, sum(amount) AS value,
               {discount_flag} AS discounted
        FROM tx WHERE amount >= 0 GROUP BY customer_id, _order
    ),
    per_order AS (
        SELECT customer_id,
               date_diff('day', CAST(max(ordered_at) AS DATE), {snap}) AS recency_days,
               count(*) AS frequency,
               date_diff('day', CAST(min(ordered_at) AS DATE), {snap}) AS tenure_days,
               avg(value) AS avg_order_value,
               avg(discounted) AS discount_share
        FROM orders GROUP BY customer_id
    ),
    net AS (
        SELECT customer_id, sum(amount) AS monetary,
               count(DISTINCT _order) FILTER (amount < 0) AS returned_orders
        FROM tx GROUP BY customer_id
    ),
    mix AS (
        SELECT customer_id{("," + chr(10) + "               " + shares) if shares else ""}
        FROM tx WHERE amount >= 0 GROUP BY customer_id
    )
    SELECT p.customer_id,
           {", ".join(_final(f.name) for f in spec.features)}
    FROM per_order p JOIN net n USING (customer_id) JOIN mix m USING (customer_id)
    ORDER BY p.customer_id
    """


def _final(name: str) -> str:
    if name == "return_rate":
        return "CAST(n.returned_orders AS DOUBLE) / p.frequency AS return_rate"
    if name == "monetary":
        return "n.monetary"
    if name.startswith("share_"):
        return f"m.{name}"
    return f"CAST(p.{name} AS DOUBLE) AS {name}"


def build_features(
    con: duckdb.DuckDBPyConnection,
    spec: FeatureSpec,
    *,
    table: str = "transactions",
    into: str = "features",
) -> int:
    """Compute ``spec`` into the table ``into``; returns the number of customers.

    Customers with no purchase before the snapshot date get no row: there is nothing to
    segment them on yet.
    """
    con.execute(f"CREATE OR REPLACE TABLE {quote_ident(into)} AS {feature_sql(spec, table)}")
    return int(con.execute(f"SELECT count(*) FROM {quote_ident(into)}").fetchall()[0][0])
