"""The feature catalogue: every feature declared once, as a DuckDB SQL expression.

A feature is an entry of the catalogue (:class:`Feature`): its name, its segmentation basis, the
source table role it is computed from, its definition (a DuckDB-dialect SQL expression), its type
(``numeric``, ``category`` or ``ordinal``) and how it is prepared for clustering. Features that
share a source are computed by one *block* (:class:`Block`): common table expressions that select
the rows before the snapshot date, and one ``SELECT customer_id, <definitions> FROM <relation>``
(grouped by customer when the relation has several rows per customer). The feature table is the
*population* (the customers to segment) left-joined to every block.

:func:`catalogue_sql` assembles that query from a :class:`FeatureSpec` and transpiles it with
``sqlglot`` to another dialect (``spark``), so the same definitions run on Spark. Placeholders in
the templates: ``$snapshot`` (the snapshot date literal) and ``$<role>`` (the quoted name of the
table holding that role, e.g. ``$transactions``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import duckdb

from segmint.exceptions import InputError

KINDS = ("numeric", "category", "ordinal")
ROLES = (
    "transactions",
    "customers",
    "events",
    "campaigns",
    "survey",
    "psychographic",
    "accounts",
    "contacts",
)
MAX_LEVELS = 10


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB (and, through sqlglot, other dialects)."""
    return '"' + name.replace('"', '""') + '"'


def _sql_str(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


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
        ``"rank"`` for very skewed values, ``"identity"`` for shares and bounded values.
    source : str
        Role of the table it is computed from (``transactions``, ``customers``, ``events``,
        ``campaigns``, ``survey``, ``psychographic``, ``accounts``, ``contacts``).
    definition : str
        DuckDB-dialect SQL expression over the relation of its block (an aggregate when the
        block is grouped by customer).
    kind : str
        ``numeric``, ``category`` (nominal, one-hot encoded) or ``ordinal`` (ordered bands,
        encoded by rank).
    levels : tuple of str
        For ``ordinal`` features: the levels in order.
    default : float or None
        Value for customers with no row in the source (e.g. 0 events); ``None`` leaves them
        missing.
    """

    name: str
    basis: str
    description: str
    transform: str = "identity"
    source: str = "transactions"
    definition: str = ""
    kind: str = "numeric"
    levels: tuple[str, ...] = ()
    default: float | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "basis": self.basis,
            "description": self.description,
            "transform": self.transform,
            "source": self.source,
            "definition": self.definition,
            "kind": self.kind,
            "levels": list(self.levels),
            "default": self.default,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Feature:
        data = dict(data)
        data["levels"] = tuple(data.get("levels", ()))
        return cls(**data)


@dataclass(frozen=True)
class Block:
    """The SQL around a group of features computed from one relation.

    Attributes
    ----------
    name : str
        Name of the block's result in the assembled query (unique per spec).
    source : str
        Role of the table read.
    ctes : tuple of (name, sql)
        Common table expressions (DuckDB SQL with ``$snapshot`` and ``$<role>`` placeholders),
        in order; their names must be unique across blocks.
    relation : str
        The CTE or table the feature definitions are evaluated over.
    grouped : bool
        Whether the relation has several rows per customer (definitions are aggregates,
        ``GROUP BY customer_id``).
    features : tuple of str
        Names of the features this block computes.
    """

    name: str
    source: str
    ctes: tuple[tuple[str, str], ...]
    relation: str
    grouped: bool
    features: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "ctes": [list(c) for c in self.ctes],
            "relation": self.relation,
            "grouped": self.grouped,
            "features": list(self.features),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Block:
        return cls(
            name=data["name"],
            source=data["source"],
            ctes=tuple((c[0], c[1]) for c in data["ctes"]),
            relation=data["relation"],
            grouped=bool(data["grouped"]),
            features=tuple(data["features"]),
        )


def slug(value: str) -> str:
    """A lower-case identifier fragment for a category or channel value."""
    text = re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")
    return text or "blank"


@dataclass
class FeatureSpec:
    """What was computed, so new customers get exactly the same columns (saved in model.json).

    ``features``, ``levels`` and ``has_order_id`` are the behavioural plan of
    :func:`~segmint.features.plan_features`; ``blocks``, ``population``, ``tables`` and
    ``models`` (fitted factor models, CLV parameters, levels learned from other tables) are
    filled by :func:`~segmint.features.build_feature_table`. Specs saved before those existed
    load with them empty, and their SQL is rebuilt from ``levels``.
    """

    snapshot_date: str
    features: list[Feature]
    levels: dict[str, list[str]]
    has_order_id: bool
    blocks: list[Block] = field(default_factory=list)
    population: str = ""
    tables: dict[str, str] = field(default_factory=dict)
    models: dict[str, dict] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "snapshot_date": self.snapshot_date,
            "features": [f.to_dict() for f in self.features],
            "levels": self.levels,
            "has_order_id": self.has_order_id,
            "blocks": [b.to_dict() for b in self.blocks],
            "population": self.population,
            "tables": dict(self.tables),
            "models": self.models,
            "columns": {k: list(v) for k, v in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        return cls(
            snapshot_date=data["snapshot_date"],
            features=[Feature.from_dict(f) for f in data["features"]],
            levels={k: list(v) for k, v in data["levels"].items()},
            has_order_id=bool(data["has_order_id"]),
            blocks=[Block.from_dict(b) for b in data.get("blocks", [])],
            population=data.get("population", ""),
            tables=dict(data.get("tables", {})),
            models=dict(data.get("models", {})),
            columns={k: list(v) for k, v in data.get("columns", {}).items()},
        )

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def bases(self) -> list[str]:
        """The bases of the features, in catalogue order, without repeats."""
        return list(dict.fromkeys(f.basis for f in self.features))

    def feature(self, name: str) -> Feature:
        return next(f for f in self.features if f.name == name)


@dataclass
class FeatureOptions:
    """Settings of the feature bases (``features:`` in ``segmint.yaml``).

    Attributes
    ----------
    clv : bool
        Whether the value basis includes the model-based features (expected purchases,
        P(alive), expected spend, CLV); without, it has revenue, order value and margin only.
    clv_horizon_weeks : float
        Horizon of the customer lifetime value and of the expected purchases.
    clv_annual_discount_rate : float
        Yearly discount rate of the lifetime value (0.10 = 10 %).
    clv_model : {"auto", "bgnbd", "pareto"}
        Purchase model of the value basis; ``auto`` chooses by a holdout check.
    contract_period : {"week", "month", "quarter", "year"}
        Renewal cycle of contracts (customer table with contract start and end dates: sBG).
    n_factors : dict
        ``basis -> number of factors`` for the survey bases; by default the number of
        eigenvalues of the weighted item correlation matrix above 1 (Kaiser).
    survey_items : dict
        ``basis -> item columns`` for the survey bases; by default every numeric column of the
        basis' table other than the id, weight and date.
    """

    clv: bool = True
    clv_horizon_weeks: float = 52.0
    clv_annual_discount_rate: float = 0.10
    clv_model: str = "auto"
    contract_period: str = "month"
    n_factors: dict[str, int] = field(default_factory=dict)
    survey_items: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, settings: object) -> FeatureOptions:
        """Options from the ``features:`` section of ``segmint.yaml`` (``Config.features``)."""
        return cls(
            clv=bool(getattr(settings, "clv", True)),
            clv_horizon_weeks=float(getattr(settings, "clv_horizon_weeks", 52.0)),
            clv_annual_discount_rate=float(getattr(settings, "clv_annual_discount_rate", 0.10)),
            clv_model=str(getattr(settings, "clv_model", "auto")),
            contract_period=str(getattr(settings, "contract_period", "month")),
            n_factors=dict(getattr(settings, "n_factors", {}) or {}),
            survey_items={
                k: list(v) for k, v in (getattr(settings, "survey_items", {}) or {}).items()
            },
        )


@dataclass
class PlanContext:
    """What a basis module needs to plan its features, and where it records what it learned."""

    con: duckdb.DuckDBPyConnection
    tables: dict[str, str]
    snapshot: date
    options: FeatureOptions
    levels: dict[str, list[str]] = field(default_factory=dict)
    models: dict[str, dict] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)

    def cols(self, role: str) -> dict[str, str]:
        """``column -> type`` of the table of ``role`` (recorded in the spec)."""
        cols = table_columns(self.con, self.tables[role])
        self.columns[role] = sorted(cols)
        return cols

    def before_snapshot(self, role: str, column: str) -> str:
        """SQL of the rows of ``role`` before the snapshot (to learn levels at plan time)."""
        return (
            f"SELECT * FROM {quote_ident(self.tables[role])} "
            f"WHERE {quote_ident(column)} < {date_literal(self.snapshot)}"
        )


# --------------------------------------------------------------------------------------------
# helpers for the basis modules
# --------------------------------------------------------------------------------------------


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """``column -> DuckDB type`` of ``table`` (the loaders' ``_row`` column left out)."""
    rows = con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()
    return {r[0]: r[1] for r in rows if r[0] != "_row"}


def find_column(columns: Iterable[str], *aliases: str) -> str | None:
    """The first column whose normalised name is one of ``aliases`` (case and ``_ -`` ignored)."""
    norm = {re.sub(r"[^0-9a-z]", "", c.lower()): c for c in columns}
    for alias in aliases:
        hit = norm.get(re.sub(r"[^0-9a-z]", "", alias.lower()))
        if hit is not None:
            return hit
    return None


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def is_numeric(duckdb_type: str) -> bool:
    """Whether a DuckDB column type holds numbers."""
    return duckdb_type.upper().lstrip("U").startswith(_NUMERIC)


def ident(name: str) -> str:
    """Quote a column name for the catalogue SQL."""
    return quote_ident(name)


def literal(value: str) -> str:
    """A SQL string literal."""
    return _sql_str(value)


def number(value: float) -> str:
    """A SQL DOUBLE literal that round-trips exactly (scientific notation reads as DOUBLE)."""
    text = repr(float(value))
    if text in ("nan", "inf", "-inf"):
        raise ValueError(f"cannot write {text} as a SQL literal")
    return text if "e" in text else text + "e0"


def date_literal(value: date | str) -> str:
    return f"DATE {_sql_str(str(value))}"


def band_case(expr: str, edges: list[float], labels: list[str]) -> str:
    """``CASE`` that puts ``expr`` into the band ``labels[i]`` for ``edges[i-1] <= x < edges[i]``.

    ``len(labels) == len(edges) + 1``; missing values stay missing.
    """
    if len(labels) != len(edges) + 1:
        raise ValueError("band_case needs one label more than edges")
    parts = [f"WHEN {expr} IS NULL THEN NULL"]
    parts += [
        f"WHEN {expr} < {number(edge)} THEN {literal(lab)}"
        for edge, lab in zip(edges, labels, strict=False)
    ]
    parts.append(f"ELSE {literal(labels[-1])}")
    return "CASE " + " ".join(parts) + " END"


def level_order(labels: Iterable[str]) -> tuple[str, ...]:
    """Order band labels such as ``'<20k'``, ``'20-40k'``, ``'100k+'`` by their first number."""
    scale = {"k": 1e3, "m": 1e6, "b": 1e9}

    def key(label: str) -> tuple[float, str]:
        text = label.lower().replace(",", "")
        found = re.search(r"(\d+(?:\.\d+)?)\s*([kmb]?)", text)
        if not found:
            return (float("inf"), label)
        # "20-35k": the unit written after the last number applies to the first one too
        unit = found.group(2) or next(iter(re.findall(r"\d\s*([kmb])\b", text)), "")
        value = float(found.group(1)) * scale.get(unit, 1.0)
        if text.lstrip().startswith(("<", "under", "below", "less")):
            value -= 0.5
        return (value, label)

    return tuple(sorted({str(x) for x in labels}, key=key))


def top_levels(
    con: duckdb.DuckDBPyConnection, relation_sql: str, column: str, weight: str = "count(*)"
) -> list[str]:
    """The ``MAX_LEVELS`` most important values of ``column`` (plus ``(other)`` beyond them)."""
    rows = con.execute(
        f"SELECT coalesce(CAST({ident(column)} AS VARCHAR), '(missing)') AS level, "
        f"{weight} AS w FROM ({relation_sql}) GROUP BY ALL "
        f"ORDER BY w DESC, level LIMIT {MAX_LEVELS + 1}"
    ).fetchall()
    levels = [r[0] for r in rows[:MAX_LEVELS]]
    if len(rows) > MAX_LEVELS:
        levels.append("(other)")
    return levels


def level_condition(column: str, level: str, levels: list[str]) -> str:
    """SQL condition: ``column`` (missing as ``'(missing)'``) is ``level``.

    The level ``(other)`` matches every value that is none of the other levels.
    """
    value = f"coalesce(CAST({ident(column)} AS VARCHAR), '(missing)')"
    if level == "(other)":
        listed = ", ".join(literal(v) for v in levels if v != "(other)")
        return f"{value} NOT IN ({listed})"
    return f"{value} = {literal(level)}"


# --------------------------------------------------------------------------------------------
# assembling the query
# --------------------------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"\$(snapshot|" + "|".join((*ROLES, "clv_scores")) + r")\b")


def substitute(sql: str, snapshot: str | date, tables: Mapping[str, str]) -> str:
    """Replace ``$snapshot`` by the date literal and ``$<role>`` by the quoted table name."""

    def table(match: re.Match[str]) -> str:
        role = match.group(1)
        if role == "snapshot":
            return date_literal(snapshot)
        if role not in tables:
            raise InputError(
                f"The feature definitions need the {role} table, which is not available.",
                hint=f"Load the {role} data or remove the bases that need it.",
            )
        return quote_ident(tables[role])

    return _PLACEHOLDER.sub(table, sql)


def _final_column(feature: Feature, block: str) -> str:
    value = f"{block}.{ident(feature.name)}"
    if feature.default is not None:
        value = f"coalesce({value}, {number(feature.default)})"
    kind = "VARCHAR" if feature.kind in ("category", "ordinal") else "DOUBLE"
    return f"CAST({value} AS {kind}) AS {ident(feature.name)}"


def duckdb_sql(spec: FeatureSpec) -> str:
    """The feature query of ``spec`` in DuckDB SQL (placeholders substituted)."""
    if not spec.blocks:
        raise ValueError("this spec has no SQL blocks; plan it with plan_features first")
    selected = {f.name: f for f in spec.features}
    ctes = [("population", spec.population)]
    joins: list[str] = []
    columns: dict[str, str] = {}
    seen: set[str] = set()
    for block in spec.blocks:
        names = [n for n in block.features if n in selected]
        if not names:
            continue
        for name, sql in block.ctes:
            if name not in seen:
                ctes.append((name, sql))
                seen.add(name)
        defs = ",\n           ".join(f"{selected[n].definition} AS {ident(n)}" for n in names)
        group = "\n    GROUP BY customer_id" if block.grouped else ""
        ctes.append(
            (
                block.name,
                f"SELECT customer_id,\n           {defs}\n    FROM {block.relation}{group}",
            )
        )
        joins.append(f"LEFT JOIN {block.name} USING (customer_id)")
        columns.update({n: _final_column(selected[n], block.name) for n in names})
    missing = [n for n in selected if n not in columns]
    if missing:
        raise ValueError(f"features without a block: {', '.join(missing)}")
    with_sql = ",\n".join(f"{name} AS (\n    {sql.strip()}\n)" for name, sql in ctes)
    ordered = [columns[n] for n in selected]
    select_cols = ",\n       ".join(["population.customer_id", *ordered])
    sql = (
        f"WITH {with_sql}\nSELECT {select_cols}\nFROM population\n"
        + "\n".join(joins)
        + "\nORDER BY population.customer_id"
    )
    return substitute(sql, spec.snapshot_date, spec.tables)


def catalogue_sql(spec: FeatureSpec, dialect: str = "duckdb") -> str:
    """The one query that computes ``spec`` per customer, in ``dialect``.

    Parameters
    ----------
    spec : FeatureSpec
        A planned spec (from :func:`~segmint.features.build_feature_table` or
        :func:`~segmint.features.plan_features`).
    dialect : str, default "duckdb"
        Any dialect ``sqlglot`` writes, e.g. ``"spark"``; the DuckDB definitions are transpiled
        with ``sqlglot.transpile(sql, read="duckdb", write=dialect)``.

    Returns
    -------
    str
        One ``SELECT`` with a row per customer of the population, ordered by ``customer_id``.
    """
    sql = duckdb_sql(spec)
    if dialect == "duckdb":
        return sql
    import sqlglot

    return sqlglot.transpile(
        sql, read="duckdb", write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE
    )[0]


def resolve_tables(tables_available: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    """``role -> table`` from a mapping, or from table names that are the roles themselves."""
    if isinstance(tables_available, Mapping):
        return {str(k): str(v) for k, v in tables_available.items()}
    return {str(t): str(t) for t in tables_available}
