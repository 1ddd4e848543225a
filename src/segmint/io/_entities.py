"""The entity loaders: one row per id, for customers, B2B accounts and contacts.

:func:`_entity_load` does the work for every entity role (and for survey answers,
:mod:`segmint.io._survey`), described by an :class:`_Entity`: the id is validated, mapped
fields get their names and types, every other column is typed by what its values hold, and the
first failing check of a row quarantines it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from segmint.io._accounting import (
    SourceAccount,
    _account,
    _clear_previous,
    _insert_rejects,
    _scalar,
    ensure_quarantine,
)
from segmint.io._dates import _date_sql, _resolve_date
from segmint.io._mapping import ColumnMatch
from segmint.io._sources import RawSource, _sql_str, quote_ident
from segmint.io._values import _infer_type, _number

__all__ = ["load_accounts", "load_contacts", "load_customers"]


@dataclass
class _Entity:
    """How one entity role is typed and checked."""

    role: str
    table: str
    id_field: str
    numeric: dict[str, tuple[float | None, str]] = field(default_factory=dict)  # min, reason
    dates: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    required: dict[str, str] = field(default_factory=dict)  # field -> reason when missing
    references: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    emails: tuple[str, ...] = ()


def _entity_load(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    spec: _Entity,
    *,
    categories: dict[str, dict[str, str]] | None = None,
    date_formats: dict[str, str] | None = None,
) -> SourceAccount:
    """Load an entity table: one row per id, other columns typed, first failing check quarantines.

    Columns mapped to a field of the role get the field's name and type; every other column
    keeps its name and becomes BOOLEAN, DOUBLE or DATE when at least 98 % of its non-empty values
    parse as such (the rows that do not parse are quarantined as ``unparseable_value``).
    Columns with value labels (SPSS) become ENUM categories, levels in code order.
    """
    ensure_quarantine(con)
    _clear_previous(con, raw, spec.role)
    table = quote_ident(raw.table)
    warnings: list[str] = []
    id_col = matches[spec.id_field].column
    by_column = {m.column: f for f, m in matches.items()}
    categories = categories or {}
    taken = {spec.id_field}
    # (output name, typed expression, raw column, check-reason or None)
    typed: list[tuple[str, str, str, str | None]] = []
    for column in raw.columns:
        if column == id_col:
            continue
        fld = by_column.get(column)
        name = fld if fld and fld not in taken else column
        if name in taken:
            name = column
        taken.add(name)
        ref = f"r.{quote_ident(column)}"
        text = f"nullif(trim({ref}), '')"
        if fld in spec.numeric:
            typed.append((name, _number(con, raw.table, column, warnings, ref), column, fld))
        elif fld in spec.dates:
            guess = _resolve_date(
                con, raw, column, (date_formats or {}).get(fld), warnings, required=False
            )
            expr = f"CAST({_date_sql(ref, guess)} AS DATE)" if guess else "CAST(NULL AS DATE)"
            typed.append((name, expr, column, fld))
        elif fld in spec.text or fld in spec.references or fld in spec.required:
            typed.append((name, text, column, None))
        elif column in categories:
            typed.append(
                (name, _enum_sql(con, raw.table, column, categories[column]), column, None)
            )
        else:
            typed.append((name, _infer_type(con, raw.table, column, warnings), column, None))
    checks: list[str] = [
        f"WHEN nullif(trim(r.{quote_ident(id_col)}), '') IS NULL THEN 'missing_{spec.id_field}'"
    ]
    reason_column: dict[str, str] = {f"missing_{spec.id_field}": id_col}
    for fld, reason in spec.required.items():
        if fld in matches:
            column = matches[fld].column
            checks.append(f"WHEN nullif(trim(r.{quote_ident(column)}), '') IS NULL THEN '{reason}'")
            reason_column[reason] = column
    for _name, expr, column, fld in typed:
        raw_ref = f"r.{quote_ident(column)}"
        present = f"nullif(trim({raw_ref}), '') IS NOT NULL"
        if fld in spec.numeric:
            minimum, reason = spec.numeric[fld]
            bound = f" OR ({expr}) < {minimum!r}" if minimum is not None else ""
            missing = f"NOT {present} OR " if reason == "invalid_weight" else ""
            checks.append(
                f"WHEN {missing}({present} AND (({expr}) IS NULL OR isnan({expr}) "
                f"OR isinf({expr}){bound})) THEN '{reason}'"
            )
            reason_column[reason] = column
        elif fld in spec.dates:
            checks.append(f"WHEN {present} AND ({expr}) IS NULL THEN 'unparseable_value:{column}'")
            checks.append(f"WHEN ({expr}) > current_date + INTERVAL 1 DAY THEN 'future_date'")
            reason_column["future_date"] = column
        elif expr not in (f"nullif(trim({raw_ref}), '')",) and column not in categories:
            checks.append(f"WHEN {present} AND ({expr}) IS NULL THEN 'unparseable_value:{column}'")
    age = next((t for t in typed if t[0].lower() == "age" and "DOUBLE" in t[1]), None)
    if age is not None:
        checks.append(f"WHEN ({age[1]}) NOT BETWEEN 0 AND 120 THEN 'impossible_age'")
        reason_column["impossible_age"] = age[2]
    for fld, (ref_table, ref_col, reason) in spec.references.items():
        if fld in matches and ref_table:
            column = quote_ident(matches[fld].column)
            checks.append(
                f"WHEN trim(r.{column}) NOT IN (SELECT {quote_ident(ref_col)} "
                f"FROM {quote_ident(ref_table)} WHERE {quote_ident(ref_col)} IS NOT NULL) "
                f"THEN '{reason}'"
            )
            reason_column[reason] = matches[fld].column
    selects = "".join(f", {expr} AS {quote_ident(name)}" for name, expr, _, _ in typed)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ent AS
        SELECT r._row, nullif(trim(r.{quote_ident(id_col)}), '') AS _id,
               CASE {" ".join(checks)} END AS reason0
               {selects}
        FROM {table} r
    """)
    dup = f"duplicate_{spec.id_field}"
    reason_column[dup] = id_col
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ent2 AS
        SELECT *, coalesce(reason0, CASE WHEN row_number() OVER (
                    PARTITION BY _id, reason0 IS NULL ORDER BY _row) > 1
                    THEN '{dup}' END) AS reason
        FROM _ent
    """)
    column_case = (
        "CASE WHEN c.reason LIKE 'unparseable_value:%' THEN substr(c.reason, 19) "
        + " ".join(
            f"WHEN c.reason = {_sql_str(k)} THEN {_sql_str(v)}" for k, v in reason_column.items()
        )
        + " END"
    )
    value_case = (
        "CASE "
        + " ".join(
            f"WHEN c.reason = {_sql_str(k)} THEN r.{quote_ident(v)}"
            for k, v in reason_column.items()
            if not k.startswith("missing_")
        )
        + (
            " WHEN c.reason LIKE 'unparseable_value:%' "
            "THEN json_extract_string(to_json(r), '$.\"' || substr(c.reason, 19) || '\"') END"
        )
    )
    con.execute(f"""
        INSERT INTO quarantine
        SELECT {_sql_str(raw.path)}, {_sql_str(spec.role)}, c._row,
               split_part(c.reason, ':', 1), {column_case}, {value_case}, to_json(r)::VARCHAR
        FROM _ent2 c JOIN {table} r ON r._row = c._row
        WHERE c.reason IS NOT NULL
    """)
    _insert_rejects(con, raw, spec.role)
    flagged: dict[str, int] = {}
    for fld in spec.emails:
        if fld in matches:
            col_name = matches[fld].column
            out = next(n for n, _, c, _ in typed if c == col_name)
            con.execute(f"""
                INSERT INTO flagged
                SELECT {_sql_str(raw.path)}, {_sql_str(spec.role)}, c._row, 'invalid_email',
                       {_sql_str(col_name)}, NULL, NULL
                FROM _ent2 c WHERE c.reason IS NULL AND c.{quote_ident(out)} IS NOT NULL
                  AND NOT regexp_full_match(c.{quote_ident(out)},
                                            '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')
            """)
            n = _scalar(
                con,
                "SELECT count(*) FROM flagged WHERE source = ? AND role = ? "
                "AND reason = 'invalid_email'",
                [str(raw.path), spec.role],
            )
            if n:
                flagged["invalid_email"] = n
    names = "".join(", " + quote_ident(n) for n, _, _, _ in typed)
    con.execute(f"""
        CREATE OR REPLACE TABLE {quote_ident(spec.table)} AS
        SELECT _id AS {quote_ident(spec.id_field)}{names}, _row
        FROM _ent2 WHERE reason IS NULL ORDER BY _row
    """)
    con.execute("DROP TABLE _ent; DROP TABLE _ent2")
    account = _account(con, raw, spec.role, spec.table, matches, None)
    account.flagged = flagged
    account.warnings = warnings
    return account


def _enum_sql(
    con: duckdb.DuckDBPyConnection, table: str, column: str, labels: dict[str, str]
) -> str:
    """ENUM of the labels in code order, plus any other value found (never loses a value)."""

    def order(code: str) -> tuple[int, float | str]:
        try:
            return (0, float(code))
        except ValueError:
            return (1, code)

    levels: list[str] = []
    for code in sorted(labels, key=order):
        if labels[code] not in levels:
            levels.append(labels[code])
    col = quote_ident(column)
    found = con.execute(
        f"SELECT DISTINCT trim({col}) FROM {quote_ident(table)} "
        f"WHERE {col} IS NOT NULL AND trim({col}) <> '' ORDER BY 1"
    ).fetchall()
    levels += [v for (v,) in found if v not in levels]
    if not levels:
        return f"nullif(trim(r.{col}), '')"
    return f"CAST(nullif(trim(r.{col}), '') AS ENUM({', '.join(_sql_str(v) for v in levels)}))"


_CUSTOMERS = _Entity(
    "customers",
    "customers",
    "customer_id",
    numeric={"weight": (0.0, "invalid_weight")},
    text=("email",),
    emails=("email",),
)


def load_customers(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    date_formats: dict[str, str] | None = None,
) -> SourceAccount:
    """Load a customer table: ids validated, other columns typed by what their values hold.

    A column becomes BOOLEAN, DOUBLE or DATE when at least 98 % of its non-empty values parse
    as such; the rows whose value does not parse are quarantined as ``unparseable_value``.
    Other reasons: ``malformed_line``, ``missing_customer_id``, ``duplicate_customer_id`` (the
    first usable row of an id is kept), ``impossible_age`` (an ``age`` outside 0-120),
    ``invalid_weight`` (a mapped ``weight`` that is missing, not a number or negative: weights
    are DOUBLE and at least 0). A mapped ``email`` is kept as text; malformed addresses are
    flagged (``invalid_email``), not dropped.
    """
    return _entity_load(con, raw, matches, _CUSTOMERS, date_formats=date_formats)


def load_accounts(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    date_formats: dict[str, str] | None = None,
) -> SourceAccount:
    """Load B2B accounts into the table ``accounts`` (one row per account).

    Mapped fields get their canonical names and types: ``account_id``, ``name``, ``industry``,
    ``country`` (text), ``employees`` and ``annual_revenue`` (DOUBLE, at least 0, else
    ``invalid_value``), ``created_date`` (DATE; after today: ``future_date``). Other reasons:
    ``malformed_line``, ``missing_account_id``, ``duplicate_account_id``,
    ``unparseable_value``.
    """
    spec = _Entity(
        "accounts",
        "accounts",
        "account_id",
        numeric={"employees": (0.0, "invalid_value"), "annual_revenue": (0.0, "invalid_value")},
        dates=("created_date",),
        text=("name", "industry", "country"),
    )
    return _entity_load(con, raw, matches, spec, date_formats=date_formats)


def load_contacts(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    known_accounts: str | None = None,
    date_formats: dict[str, str] | None = None,
) -> SourceAccount:
    """Load B2B contacts (the decision-making unit) into the table ``contacts``.

    Fields: ``contact_id``, ``account_id`` (required: ``missing_account_id``; with
    ``known_accounts`` an id not in that table is ``unknown_account``), ``role`` (job title or
    buying role), ``email`` (malformed addresses flagged ``invalid_email``), ``created_date``.
    Other reasons: ``malformed_line``, ``missing_contact_id``, ``duplicate_contact_id``,
    ``unparseable_value``.
    """
    spec = _Entity(
        "contacts",
        "contacts",
        "contact_id",
        dates=("created_date",),
        text=("role", "email", "name"),
        required={"account_id": "missing_account_id"},
        references={"account_id": (known_accounts or "", "account_id", "unknown_account")},
        emails=("email",),
    )
    return _entity_load(con, raw, matches, spec, date_formats=date_formats)
