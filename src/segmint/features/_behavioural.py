"""Behavioural features from a transaction log, in SQL, as of a snapshot date.

Every feature is computed from transactions strictly before the snapshot date, so later stages
can measure what segments predict about the period after it. An *order* is one ``order_id``, or,
when the log has none, one customer-day (the convention of Fader & Hardie for the CDNOW log; in
an invoice-line log, the lines of a customer at one timestamp). Amounts are net: returns and
credits (negative amounts) reduce ``monetary``; ``avg_order_value``, recency, frequency and the
mix shares use purchases only (amount >= 0: a free order is still an order; in a line log the
loader's ``is_return`` decides, so a returned free line is no purchase either).

The definitions live in the catalogue (:mod:`segmint.features._catalogue`): one block over the
orders (recency, frequency, monetary, tenure, order value, discount share, return rate and, in the
extended plan, inter-purchase time, basket size and margin), one over the purchase lines (category
and channel mix) and, when a campaign table is given, one over the campaigns sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta

import duckdb

from segmint.exceptions import InputError
from segmint.features._catalogue import (
    MAX_LEVELS,
    Block,
    Feature,
    FeatureSpec,
    duckdb_sql,
    find_column,
    ident,
    level_condition,
    quote_ident,
    slug,
)

__all__ = [
    "CORE_FEATURES",
    "MAX_LEVELS",
    "OPTIONAL_FEATURES",
    "Feature",
    "FeatureSpec",
    "build_features",
    "default_snapshot",
    "feature_sql",
    "plan_features",
    "slug",
]

# Money is summed as exact decimals: floating-point sums depend on the order in which parallel
# threads combine them (seen: 8,377 feature values differing by up to 3e-12 between two runs),
# and the same data and seed must give the same segments. 10 decimal places keep every cent.
EXACT_MONEY = "DECIMAL(38, 10)"
MONEY_COLUMNS = ("amount", "discount", "cost", "cogs", "cost_of_goods", "margin", "gross_margin")


def _exact_money(cols: set[str], has_order_id: bool, levels: dict[str, list[str]]) -> str:
    """The transaction columns the features read, with money columns as exact decimals.

    Only those columns are listed, so that new data with other extra columns (or without the
    loader's ``_row``) is scored with the same definitions.
    """
    used = {"customer_id", "order_date", "amount", "discount", "quantity", *MONEY_COLUMNS}
    used |= {"is_return", "product", "unit_price"}
    used |= set(levels) | ({"order_id"} if has_order_id else set())
    return ", ".join(
        f"CAST({ident(c)} AS {EXACT_MONEY}) AS {ident(c)}" if c in MONEY_COLUMNS else ident(c)
        for c in sorted(cols & used)
    )


_ORDERS = "bh_orders"
_LINES = "bh_lines"


def _f(name: str, basis: str, description: str, transform: str, definition: str) -> Feature:
    return Feature(name, basis, description, transform, "transactions", definition)


CORE_FEATURES: tuple[Feature, ...] = (
    _f(
        "recency_days",
        "behavioural",
        "Days since the last purchase",
        "signed_log",
        "date_diff('day', CAST(max(ordered_at) AS DATE), $snapshot)",
    ),
    _f(
        "frequency",
        "behavioural",
        "Number of orders",
        "signed_log",
        "count(*) FILTER (WHERE is_purchase)",
    ),
    _f(
        "monetary",
        "value",
        "Net revenue (purchases minus returns)",
        "signed_log",
        "sum(net_value)",
    ),
    _f(
        "tenure_days",
        "behavioural",
        "Days since the first purchase",
        "signed_log",
        "date_diff('day', CAST(min(ordered_at) AS DATE), $snapshot)",
    ),
    _f(
        "avg_order_value",
        "value",
        "Average value of an order",
        "signed_log",
        "avg(order_value) FILTER (WHERE is_purchase)",
    ),
)
OPTIONAL_FEATURES: dict[str, Feature] = {
    "discount": _f(
        "discount_share",
        "behavioural",
        "Share of orders with a discount",
        "identity",
        "avg(discounted) FILTER (WHERE is_purchase)",
    ),
    "returns": _f(
        "return_rate",
        "behavioural",
        "Returned orders per order",
        "identity",
        "CAST(count(*) FILTER (WHERE has_return) AS DOUBLE) / count(*) FILTER (WHERE is_purchase)",
    ),
}
# only in the extended plan (build_feature_table): they leave the walking skeleton unchanged
EXTENDED_FEATURES: dict[str, Feature] = {
    "ipt_mean": _f(
        "ipt_mean_days",
        "behavioural",
        "Mean days between consecutive orders (missing with a single order)",
        "signed_log",
        "avg(gap_days)",
    ),
    "ipt_cv": _f(
        "ipt_cv",
        "behavioural",
        "Regularity of the buying cycle: coefficient of variation of the days between orders "
        "(0 = perfectly regular; missing with fewer than three orders)",
        "identity",
        # sample standard deviation from exact integer sums (stddev_samp's parallel merge is
        # order-dependent in floating point, and segments must not depend on thread timing)
        "CASE WHEN count(gap_days) >= 2 THEN sqrt(CAST(count(gap_days) * sum(gap_days * gap_days)"
        " - sum(gap_days) * sum(gap_days) AS DOUBLE) / (count(gap_days) * (count(gap_days) - 1)))"
        " / nullif(avg(gap_days), 0) END",
    ),
    "quantity": _f(
        "basket_size",
        "behavioural",
        "Items per order",
        "signed_log",
        "avg(items) FILTER (WHERE is_purchase)",
    ),
    "lines": _f(
        "lines_per_order",
        "behavioural",
        "Lines per order: the invoice lines of an order, returns not counted",
        "signed_log",
        "avg(n_lines) FILTER (WHERE is_purchase)",
    ),
    "products": _f(
        "products_per_order",
        "behavioural",
        "Distinct products per order, returns not counted",
        "signed_log",
        "avg(n_products) FILTER (WHERE is_purchase)",
    ),
    "margin": _f(
        "margin",
        "value",
        "Net margin: revenue minus cost of goods, returns netted",
        "signed_log",
        "sum(net_margin)",
    ),
    "margin_rate": _f(
        "margin_rate",
        "value",
        "Margin as a share of net revenue",
        "identity",
        "sum(net_margin) / nullif(sum(net_value), 0)",
    ),
}


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
        f"SELECT coalesce({column}, '(missing)') AS level, "
        f"sum(CAST(amount AS {EXACT_MONEY})) AS spend "
        f"FROM {quote_ident(table)} WHERE amount > 0 AND order_date < ? "
        f"GROUP BY ALL ORDER BY spend DESC, level LIMIT {MAX_LEVELS + 1}",
        [snapshot],
    ).fetchall()
    levels = [r[0] for r in rows[:MAX_LEVELS]]
    if len(rows) > MAX_LEVELS:
        levels.append("(other)")
    return levels


def _share_feature(column: str, level: str, levels: list[str]) -> Feature:
    cond = level_condition(column, level, levels)
    return _f(
        f"share_{column}_{slug(level)}",
        "behavioural",
        f"Share of purchase value in {column} '{level}'",
        "identity",
        f"coalesce(sum(amount) FILTER (WHERE {cond}) / nullif(sum(amount), 0), 0)",
    )


def is_line_log(cols: Iterable[str]) -> bool:
    """Whether a transaction table holds invoice lines (a product or unit-price column)."""
    return bool({"product", "unit_price"} & set(cols))


def purchase_condition(cols: Iterable[str]) -> str:
    """SQL true for a purchase line: not ``is_return`` where the loader marked returns (a line
    log), else a non-negative amount (returns are stored negative)."""
    return "NOT is_return" if "is_return" in set(cols) else "amount >= 0"


def purchasers(cols: Iterable[str]) -> str:
    """The population query: customers with a purchase line before the snapshot date."""
    if "is_return" not in set(cols):
        return PURCHASERS
    return (
        "SELECT DISTINCT customer_id FROM $transactions WHERE order_date < $snapshot "
        "AND NOT is_return"
    )


def transaction_blocks(
    cols: set[str], has_order_id: bool, levels: dict[str, list[str]]
) -> tuple[list[Feature], list[Block]]:
    """Every transaction feature the columns support, and the two blocks that compute them.

    ``cols`` are the columns of the transactions table; ``levels`` the category/channel levels.
    An order is an ``order_id``; without one, a customer-day, or in a line log (a product or
    unit-price column) the lines of a customer at one timestamp. Purchases and returns are told
    apart by :func:`purchase_condition`. A line log adds the basket features: lines and
    distinct products per order.
    """
    buy = purchase_condition(cols)
    back = "is_return" if "is_return" in cols else "amount < 0"
    line_log = is_line_log(cols)
    if has_order_id:
        order_key = "order_id"
    else:
        order_key = "order_date" if line_log else "CAST(order_date AS DATE)"
    extra = []
    if "discount" in cols:
        extra.append(
            f"max(CASE WHEN {buy} AND coalesce(discount, 0) > 0 THEN 1 ELSE 0 END) AS discounted"
        )
    if "quantity" in cols:
        extra.append(f"sum(quantity) FILTER (WHERE {buy}) AS items")
    if line_log:
        extra.append(f"count(*) FILTER (WHERE {buy}) AS n_lines")
        if "product" in cols:
            extra.append(f"count(DISTINCT product) FILTER (WHERE {buy}) AS n_products")
    cost = find_column(cols, "cost", "cogs", "cost_of_goods")
    margin = find_column(cols, "margin", "gross_margin")
    if margin is not None:
        extra.append(f"sum({ident(margin)}) AS net_margin")
    elif cost is not None:
        extra.append(f"sum(amount - coalesce({ident(cost)}, 0)) AS net_margin")
    extra_sql = "".join(f",\n           {e}" for e in extra)
    ctes = (
        (
            "bh_tx",
            f"SELECT {_exact_money(cols, has_order_id, levels)}, {order_key} AS _order "
            "FROM $transactions "
            "WHERE order_date < $snapshot",
        ),
        (
            "bh_orders0",
            "SELECT customer_id, _order,\n"
            f"           count(*) FILTER (WHERE {buy}) > 0 AS is_purchase,\n"
            f"           min(order_date) FILTER (WHERE {buy}) AS ordered_at,\n"
            f"           coalesce(sum(amount) FILTER (WHERE {buy}), 0) AS order_value,\n"
            "           sum(amount) AS net_value,\n"
            f"           count(*) FILTER (WHERE {back}) > 0 AS has_return"
            f"{extra_sql}\n    FROM bh_tx GROUP BY customer_id, _order",
        ),
        (
            _ORDERS,
            "SELECT *, CASE WHEN is_purchase THEN date_diff('day', "
            "CAST(lag(ordered_at) OVER (PARTITION BY customer_id, is_purchase "
            "ORDER BY ordered_at, _order) AS DATE), CAST(ordered_at AS DATE)) END AS gap_days\n"
            "    FROM bh_orders0",
        ),
    )
    features = list(CORE_FEATURES)
    shares: list[Feature] = []
    for column, lv in levels.items():
        shares += [_share_feature(column, level, lv) for level in lv]
    if "discount" in cols:
        features.append(OPTIONAL_FEATURES["discount"])
    features.append(OPTIONAL_FEATURES["returns"])
    features += [EXTENDED_FEATURES["ipt_mean"], EXTENDED_FEATURES["ipt_cv"]]
    if "quantity" in cols:
        features.append(EXTENDED_FEATURES["quantity"])
    if line_log:
        features.append(EXTENDED_FEATURES["lines"])
        if "product" in cols:
            features.append(EXTENDED_FEATURES["products"])
    if margin is not None or cost is not None:
        features += [EXTENDED_FEATURES["margin"], EXTENDED_FEATURES["margin_rate"]]
    blocks = [
        Block(
            "bh_order_features",
            "transactions",
            ctes,
            _ORDERS,
            True,
            tuple(f.name for f in features),
        )
    ]
    if shares:
        lines = ((_LINES, f"SELECT * FROM bh_tx WHERE {buy}"),)
        blocks.append(
            Block(
                "bh_mix_features",
                "transactions",
                (ctes[0], *lines),
                _LINES,
                True,
                tuple(f.name for f in shares),
            )
        )
    # catalogue order of the walking skeleton: core, shares, discount, returns, then the rest
    ordered = features[: len(CORE_FEATURES)] + shares + features[len(CORE_FEATURES) :]
    return ordered, blocks


PURCHASERS = (
    "SELECT DISTINCT customer_id FROM $transactions WHERE order_date < $snapshot AND amount >= 0"
)


def campaign_block(cols: dict[str, str]) -> tuple[list[Feature], Block]:
    """Campaign response from a table of campaigns sent: one row per customer and campaign."""
    sent = find_column(cols, "sent_date", "sent_at", "send_date", "date")
    responded = find_column(cols, "responded", "response", "converted")
    if sent is None or responded is None:
        raise InputError(
            "The campaigns table needs a sent date and a responded flag "
            f"(columns found: {', '.join(cols)}).",
            hint="Name them sent_date and responded.",
        )
    answered = find_column(cols, "response_date", "responded_at", "responded_date")
    flag = f"CAST({ident(responded)} AS BOOLEAN)"
    if answered is not None:
        # a response after the snapshot is not known at the snapshot
        flag = f"{flag} AND ({ident(answered)} IS NULL OR {ident(answered)} < $snapshot)"
    ctes = (
        (
            "bh_campaigns",
            f"SELECT * FROM $campaigns WHERE {ident(sent)} < $snapshot",
        ),
    )
    features = [
        Feature(
            "campaigns_received",
            "behavioural",
            "Campaigns sent to the customer",
            "signed_log",
            "campaigns",
            "count(*)",
            default=0.0,
        ),
        Feature(
            "campaign_response_rate",
            "behavioural",
            "Share of the campaigns sent that the customer responded to",
            "identity",
            "campaigns",
            f"avg(CASE WHEN {flag} THEN 1.0 ELSE 0.0 END)",
        ),
    ]
    block = Block(
        "bh_campaign_features",
        "campaigns",
        ctes,
        "bh_campaigns",
        True,
        tuple(f.name for f in features),
    )
    return features, block


def _legacy_names(
    features: list[Feature], has_discount: bool, line_log: bool = False
) -> list[Feature]:
    keep = {f.name for f in CORE_FEATURES} | {"return_rate"}
    if has_discount:
        keep.add("discount_share")
    if line_log:
        # the basket of an invoice-line log: its breadth (distinct products per order where
        # the log names products, else lines per order: the two are nearly the same number,
        # and both would weigh breadth twice) and its units per order
        names = {f.name for f in features}
        breadth = "products_per_order" if "products_per_order" in names else "lines_per_order"
        keep |= {breadth, "basket_size"}
    return [f for f in features if f.name in keep or f.name.startswith("share_")]


def plan_features(
    con: duckdb.DuckDBPyConnection,
    snapshot: date | None = None,
    *,
    table: str = "transactions",
    extended: bool = False,
) -> FeatureSpec:
    """Decide which behavioural features the data supports, and the category/channel levels.

    With ``extended=False`` (the walking skeleton's plan) the features are recency, frequency,
    monetary, tenure, average order value, the category and channel shares, the discount share
    and the return rate, and for an invoice-line log (a product or unit-price column) the
    basket: distinct products (or, without a product column, lines) and units
    (``basket_size``) per order; ``extended=True`` adds inter-purchase time, basket size, lines
    and products per order and margin.
    """
    snapshot = snapshot or default_snapshot(con, table)
    cols = _columns(con, table)
    first = con.execute(f"SELECT min(order_date) FROM {quote_ident(table)}").fetchall()[0][0]
    if first is None or (first.date() if isinstance(first, datetime) else first) >= snapshot:
        raise InputError(
            f"No transactions before the snapshot date {snapshot}.",
            hint="Choose a later snapshot_date in segmint.yaml.",
        )
    levels: dict[str, list[str]] = {}
    for column in ("category", "channel"):
        if column in cols:
            levels[column] = _top_levels(con, table, column, snapshot)
    has_order_id = "order_id" in cols
    features, blocks = transaction_blocks(cols, has_order_id, levels)
    if not extended:
        features = _legacy_names(features, "discount" in cols, is_line_log(cols))
    return FeatureSpec(
        str(snapshot),
        features,
        levels,
        has_order_id,
        blocks=blocks,
        population=purchasers(cols),
        tables={"transactions": table},
        columns={"transactions": sorted(cols - {"_row"})},
    )


def _with_blocks(spec: FeatureSpec, table: str) -> FeatureSpec:
    """A spec saved before the catalogue existed gets its blocks back from its features."""
    if spec.blocks:
        if table != spec.tables.get("transactions", table):
            return replace(spec, tables={**spec.tables, "transactions": table})
        return spec
    names = set(spec.names)
    cols = {"customer_id", "order_date", "amount"}
    if "discount_share" in names:
        cols.add("discount")
    if "basket_size" in names:
        cols.add("quantity")
    if "lines_per_order" in names:
        cols |= {"unit_price", "is_return"}
    if "products_per_order" in names:
        cols |= {"product", "is_return"}
    cols |= set(spec.levels)  # category / channel, read by the mix shares
    if spec.has_order_id:
        cols.add("order_id")
    catalogue, blocks = transaction_blocks(cols, spec.has_order_id, spec.levels)
    by_name = {f.name: f for f in catalogue}
    features = [
        by_name[f.name] if f.name in by_name and not f.definition else f for f in spec.features
    ]
    return replace(
        spec,
        features=features,
        blocks=blocks,
        population=purchasers(cols),
        tables={"transactions": table},
    )


def feature_sql(spec: FeatureSpec, table: str = "transactions") -> str:
    """The one SELECT that computes ``spec`` per customer from ``table`` (DuckDB SQL)."""
    return duckdb_sql(_with_blocks(spec, table))


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
