"""The feature table for the bases a user chose: one call for the pipeline.

:func:`build_feature_table` plans the features of every chosen basis from the tables present
(fitting the factor and CLV models on the data before the snapshot), computes them with the
catalogue's one SQL query and returns them per customer, with the :class:`FeatureSpec` that
reproduces them. :func:`compute_feature_table` applies a saved spec to new data (same
definitions, same fitted models, no refit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

import duckdb
import pandas as pd

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.features import (
    _demographic,
    _firmographic,
    _geographic,
    _survey,
    _technographic,
    _value,
)
from segmint.features._behavioural import (
    PURCHASERS,
    campaign_block,
    default_snapshot,
    plan_features,
)
from segmint.features._catalogue import (
    Block,
    Feature,
    FeatureOptions,
    FeatureSpec,
    PlanContext,
    duckdb_sql,
    quote_ident,
    resolve_tables,
)
from segmint.features._demographic import customer_relation

BASES = (
    "demographic",
    "geographic",
    "psychographic",
    "behavioural",
    "technographic",
    "needs",
    "value",
    "firmographic",
)
# basis -> the table role it cannot do without
REQUIRED_SOURCE = {
    "demographic": "customers",
    "geographic": "customers",
    "psychographic": "psychographic",
    "behavioural": "transactions",
    "technographic": "events",
    "needs": "survey",
    "value": "transactions",
    "firmographic": "accounts",
}
_HINT = {
    "customers": "a customer table (--customers)",
    "transactions": "a transaction log (--transactions)",
    "events": "a web/app events table (customer_id, event_time, platform, device, os)",
    "survey": "a needs survey (customer_id, one column per Likert item, optional weight)",
    "psychographic": "an attitudes/lifestyle survey (customer_id, one column per Likert item)",
    "accounts": "an accounts table (account_id, industry, employees, annual_revenue, ...)",
}


def check_bases(bases: Iterable[str], tables: Mapping[str, str]) -> list[str]:
    """The chosen bases, in order, or a :class:`InputError` naming an unknown basis or the
    table a basis needs and ``tables`` (role -> table) lacks."""
    chosen = list(dict.fromkeys(bases))
    unknown = [b for b in chosen if b not in BASES]
    if unknown:
        raise InputError(
            f"Unknown segmentation basis: {', '.join(unknown)}.",
            hint=f"Choose from {', '.join(BASES)}.",
        )
    if not chosen:
        raise InputError("No segmentation basis chosen.", hint="Set bases in segmint.yaml.")
    for basis in chosen:
        role = REQUIRED_SOURCE[basis]
        if basis == "psychographic" and role not in tables and "survey" in tables:
            continue  # the items may come from the one survey (features.survey_items)
        if role not in tables:
            raise InputError(
                f"The {basis} basis needs {_HINT[role]}, which was not given.",
                hint=f"Provide the {role} data, or remove {basis} from bases in segmint.yaml.",
            )
    return chosen


def _snapshot(con: duckdb.DuckDBPyConnection, snapshot, tables: Mapping[str, str]) -> date:
    if snapshot is not None:
        if isinstance(snapshot, datetime):
            return snapshot.date()
        return snapshot if isinstance(snapshot, date) else date.fromisoformat(str(snapshot))
    if "transactions" in tables:
        return default_snapshot(con, tables["transactions"])
    raise InputError(
        "Without a transaction log the snapshot date cannot be inferred.",
        hint="Set snapshot_date in segmint.yaml.",
    )


def _population(ctx: PlanContext, chosen: list[str], blocks: list[Block]) -> str:
    if "firmographic" in chosen:
        return _firmographic.population_sql(ctx)
    if {"behavioural", "value"} & set(chosen):
        return PURCHASERS
    if {"demographic", "geographic"} & set(chosen):
        name, sql = customer_relation(ctx.cols("customers"), "pop_customers")
        return f"SELECT DISTINCT customer_id FROM ({sql}) AS {name}"
    # technographic / survey bases alone: whoever has data in them before the snapshot
    parts = [f"SELECT customer_id FROM {block.relation}" for block in blocks]
    ctes = {name: sql for block in blocks for name, sql in block.ctes}
    with_sql = ", ".join(f"{n} AS ({s})" for n, s in ctes.items())
    return f"WITH {with_sql} SELECT DISTINCT customer_id FROM ({' UNION '.join(parts)}) AS pop"


def build_feature_table(
    con: duckdb.DuckDBPyConnection,
    *,
    bases: Iterable[str],
    snapshot: date | str | None,
    tables_available: Mapping[str, str] | Iterable[str],
    options: FeatureOptions | None = None,
    into: str | None = "features",
) -> tuple[pd.DataFrame, FeatureSpec]:
    """Compute the features of the chosen ``bases`` per customer, as of ``snapshot``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding the typed tables.
    bases : iterable of str
        Any of ``demographic, geographic, psychographic, behavioural, technographic, needs,
        value, firmographic``.
    snapshot : date, str or None
        Features use only data before this day; ``None``: the day after the last transaction.
    tables_available : mapping or iterable of str
        ``role -> table name`` (roles: transactions, customers, events, campaigns, survey,
        psychographic, accounts, contacts), or table names equal to their roles.
    options : FeatureOptions, optional
        CLV horizon and discount rate, survey items and numbers of factors.
    into : str or None, default "features"
        Also write the table into DuckDB under this name (``None``: don't).

    Returns
    -------
    (pandas.DataFrame, FeatureSpec)
        One row per customer of the population (``customer_id`` first, then the features;
        categories as pandas categoricals, ordered for bands), and the spec that reproduces it.

    Raises
    ------
    InputError
        A basis is unknown or lacks its source table, a source lacks what the basis needs, or
        no customer is left as of the snapshot.
    """
    tables = resolve_tables(tables_available)
    chosen = check_bases(bases, tables)
    options = options or FeatureOptions()
    if "psychographic" in chosen and "psychographic" not in tables:
        # one survey with both batteries: the items must say which questions are which
        if not options.survey_items.get("psychographic"):
            raise InputError(
                "The psychographic basis needs an attitudes/lifestyle survey, or the names of "
                "its items in the needs survey.",
                hint="Provide the psychographic table, or list the items under "
                "features.survey_items.psychographic in segmint.yaml.",
            )
        tables["psychographic"] = tables["survey"]
    snap = _snapshot(con, snapshot, tables)
    ctx = PlanContext(con, tables, snap, options)
    features: list[Feature] = []
    blocks: list[Block] = []
    levels: dict[str, list[str]] = {}
    has_order_id = False

    def take(found: tuple[list[Feature], list[Block]]) -> None:
        features.extend(found[0])
        blocks.extend(found[1])

    for basis in BASES:
        if basis not in chosen:
            continue
        if basis in ("behavioural", "value") and not any(
            b.source == "transactions" and b.name.startswith("bh_") for b in blocks
        ):
            tx = plan_features(con, snap, table=tables["transactions"], extended=True)
            ctx.columns["transactions"] = tx.columns["transactions"]
            levels.update(tx.levels)
            has_order_id = tx.has_order_id
            wanted = {"behavioural", "value"} & set(chosen)
            take(([f for f in tx.features if f.basis in wanted], tx.blocks))
        if basis == "behavioural" and "campaigns" in tables:
            found, block = campaign_block(ctx.cols("campaigns"))
            take((found, [block]))
        elif basis == "value" and ctx.options.clv:
            take(_value.plan(ctx))
        elif basis == "demographic":
            take(_demographic.plan(ctx))
        elif basis == "geographic":
            take(_geographic.plan(ctx))
        elif basis == "technographic":
            take(_technographic.plan(ctx))
        elif basis in ("needs", "psychographic"):
            take(_survey.plan(ctx, basis))
        elif basis == "firmographic":
            take(_firmographic.plan(ctx))
    if ctx.levels:
        # levels of other tables (transactions' are in spec.levels, as the scorer expects)
        ctx.models["levels"] = dict(ctx.levels)
    spec = FeatureSpec(
        snapshot_date=snap.isoformat(),
        features=features,
        levels=levels,
        has_order_id=has_order_id,
        blocks=blocks,
        population=_population(ctx, chosen, blocks),
        tables=dict(tables),
        models=ctx.models,
        columns=ctx.columns,
    )
    frame = compute_feature_table(con, spec, into=into)
    logger.info(
        "features: %d customers x %d features from bases %s as of %s",
        len(frame),
        len(spec.features),
        ", ".join(chosen),
        spec.snapshot_date,
    )
    return frame, spec


def compute_feature_table(
    con: duckdb.DuckDBPyConnection,
    spec: FeatureSpec,
    *,
    into: str | None = None,
    tables: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Compute a planned (or saved) ``spec`` on the tables of ``con``; models are not refitted.

    ``tables`` overrides the spec's ``role -> table`` names (e.g. to score another load).
    """
    if tables:
        spec = FeatureSpec.from_dict({**spec.to_dict(), "tables": {**spec.tables, **tables}})
    if "value" in spec.models and any(
        "clv_scores" in sql for b in spec.blocks for _, sql in b.ctes
    ):
        _value.materialise_scores(
            con,
            spec.tables["transactions"],
            date.fromisoformat(spec.snapshot_date),
            spec.models["value"],
            into=spec.tables.get("clv_scores", _value.SCORES_TABLE),
            tables=dict(spec.tables),
        )
    sql = duckdb_sql(spec)
    if into:
        con.execute(f"CREATE OR REPLACE TABLE {quote_ident(into)} AS {sql}")
        frame = con.sql(f"SELECT * FROM {quote_ident(into)} ORDER BY customer_id").df()
    else:
        frame = con.sql(sql).df()
    if frame.empty:
        raise InputError(
            f"No customer to segment as of {spec.snapshot_date}.",
            hint="Choose a later snapshot_date, or check the inputs.",
        )
    return as_categories(frame, spec)


def as_categories(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Category and band columns as pandas categoricals (bands ordered by their levels)."""
    frame = frame.copy()
    frame["customer_id"] = frame["customer_id"].astype(str)
    for feature in spec.features:
        if feature.kind == "ordinal":
            frame[feature.name] = pd.Categorical(
                frame[feature.name], categories=list(feature.levels), ordered=True
            )
        elif feature.kind == "category":
            values = frame[feature.name]
            frame[feature.name] = pd.Categorical(
                values, categories=sorted(values.dropna().unique())
            )
    return frame
