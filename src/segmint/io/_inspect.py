"""``segmint inspect``: what segmint sees in a source, without writing anything.

The source is read into a private in-memory DuckDB, its columns typed by what their values hold,
its role guessed (or taken as given), its columns mapped with confidences, and the role's loader
run as a dry validation so the problems are counted per reason exactly as a run would count
them. No output file is written; nothing of the data's values is returned except counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import duckdb

from segmint.exceptions import InputError
from segmint.io._accounting import SourceAccount
from segmint.io._dates import guess_date_format
from segmint.io._entities import load_accounts, load_contacts, load_customers
from segmint.io._events import load_events
from segmint.io._mapping import (
    ColumnMatch,
    _candidate,
    derives_amount,
    guess_role,
    map_columns,
    mapping_warnings,
)
from segmint.io._raw import RawSource, quote_ident
from segmint.io._role_fields import ROLE_FIELDS
from segmint.io._sources import read_source
from segmint.io._survey import load_survey
from segmint.io._transactions import load_transactions
from segmint.io._values import _decimal_comma

LOADERS: dict[str, Callable[..., SourceAccount]] = {
    "transactions": load_transactions,
    "customers": load_customers,
    "events": load_events,
    "survey": load_survey,
    "accounts": load_accounts,
    "contacts": load_contacts,
}


# types a file declares (Parquet, a database), as inspect names them
_DECLARED = (
    (re.compile(r"^U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$"), "integer"),
    (re.compile(r"^(FLOAT|REAL|DOUBLE)$"), "double"),
    (re.compile(r"^DECIMAL\(\d+,\s*\d+\)$"), "decimal"),
    (re.compile(r"^DATE$"), "date"),
    (re.compile(r"^TIMESTAMP"), "timestamp"),
    (re.compile(r"^BOOLEAN$"), "boolean"),
    (re.compile(r"^VARCHAR$"), "text"),
)


def _declared(raw: RawSource, column: str) -> str | None:
    kind = raw.source_types.get(column, "")
    return next((name for pattern, name in _DECLARED if pattern.match(kind)), None)


def _column_types(con: duckdb.DuckDBPyConnection, raw: RawSource) -> list[dict[str, Any]]:
    """Per column: type, non-empty and distinct counts (and the SPSS label).

    The type is the one the file declares where it declares one (Parquet: ``integer``,
    ``double``, ``decimal``, ``date``, ``timestamp``, ``boolean``, ``text``); otherwise it is
    inferred from the values (98 % of the non-empty ones): ``boolean``, ``integer`` (whole
    numbers written without a decimal point: ``2.55`` is not an integer), ``double``, ``double
    (decimal comma)``, ``date`` / ``timestamp`` with the format found, else ``text``.
    """
    out = []
    table = quote_ident(raw.table)
    for column in raw.columns:
        col = quote_ident(column)
        n, empty, distinct, n_bool, n_int, n_num, lo, hi = con.execute(f"""
            SELECT count(v), count(*) - count(v), approx_count_distinct(v),
                   count(*) FILTER (lower(v) IN ('true','false','yes','no','y','n','t','f')),
                   count(*) FILTER (regexp_full_match(v, '[-+]?[0-9]+')),
                   count(TRY_CAST(v AS DOUBLE)),
                   min(TRY_CAST(v AS DOUBLE)), max(TRY_CAST(v AS DOUBLE))
            FROM (SELECT nullif(trim({col}), '') AS v FROM {table})
        """).fetchall()[0]
        kind = "text"
        date_format = None
        declared = _declared(raw, column)
        if column in raw.value_labels:
            kind = "category"
        elif n == 0:
            kind = "empty"
        elif declared is not None:
            kind = declared
        elif n_bool >= 0.98 * n:
            kind = "boolean"
        elif n_int >= 0.98 * n:
            kind = "integer"
        elif n_num >= 0.98 * n:
            kind = "double"
        elif _decimal_comma(con, raw.table, column):
            kind = "double (decimal comma)"
        else:
            guess = guess_date_format(con, raw.table, column)
            if guess is not None and not guess.serial:
                fmts = ", ".join(f"'{f}'" for f in guess.formats)
                hits = con.execute(
                    f"SELECT count(try_strptime(trim({col}), [{fmts}])) FROM {table}"
                ).fetchall()[0][0]
                if hits >= 0.98 * n:
                    kind = "timestamp" if "%H" in guess.format else "date"
                    date_format = guess.format
        entry: dict[str, Any] = {
            "name": column,
            "type": kind,
            "non_empty": int(n),
            "empty": int(empty),
            "distinct": int(distinct or 0),
        }
        if date_format:
            entry["date_format"] = date_format
        if kind == "integer" and lo is not None:  # for the survey hint only; never returned
            entry["_small_scale"] = float(lo) >= 0 and float(hi) <= 11
        if column in raw.variable_labels:
            entry["label"] = raw.variable_labels[column]
        out.append(entry)
    return out


def _likert_share(columns: list[dict[str, Any]]) -> float:
    """Share of columns holding small whole numbers (answers on a 0-11 scale) or labels."""
    if not columns:
        return 0.0
    items = [
        c
        for c in columns
        if c["type"] == "category" or (c["type"] == "integer" and c.get("_small_scale", False))
    ]
    return len(items) / len(columns)


def _explicit_for(mapping: Mapping[str, Any] | None, role: str) -> dict[str, str]:
    if not mapping:
        return {}
    if any(key in ROLE_FIELDS for key in mapping):
        return dict(mapping.get(role) or {})
    return dict(mapping)


def _choose_role(
    columns: list[str],
    mapping: Mapping[str, Any] | None,
    guessed: str | None,
    scores: dict[str, float],
) -> tuple[str | None, str]:
    """A role whose configured mapping fits the file wins over the guess from names."""
    if mapping and any(key in ROLE_FIELDS for key in mapping):
        fitting = []
        for role, fields in mapping.items():
            if role not in ROLE_FIELDS or not fields:
                continue
            if all(col in columns for col in dict(fields).values()):
                try:
                    map_columns(columns, role, explicit=dict(fields))
                except InputError:
                    continue
                fitting.append(role)
        if fitting:
            return max(fitting, key=lambda r: scores.get(r, 0.0)), "config"
    return guessed, "guessed"


def inspect_source(
    path: str | Path,
    role: str | None = None,
    mapping: Mapping[str, Any] | None = None,
    *,
    sheet: str | int | None = None,
    header: bool | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    date_formats: Mapping[str, str] | None = None,
    io_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Describe a source as segmint would read it, and count its problems; writes nothing.

    Parameters
    ----------
    path : str or Path
        File or database URL, as for :func:`segmint.io.read_source`.
    role : str, optional
        ``transactions``, ``customers``, ``events``, ``survey``, ``accounts`` or ``contacts``;
        guessed from the columns (and the mapping) when ``None``.
    mapping : dict, optional
        Explicit mapping, either ``field -> column`` for the role or ``role -> {field ->
        column}`` as in ``segmint.yaml``.
    date_formats : dict, optional
        ``role -> strptime format`` (``io.date_formats``).
    io_options : dict, optional
        For transactions, the loader's policies as a run applies them
        (:meth:`segmint.config.IOConfig.transaction_options`: returns, exclusions, duplicates,
        outliers); the defaults otherwise.

    Returns
    -------
    dict
        ``source, format, encoding, delimiter, header, sheet, rows, notes`` (what was read),
        ``columns`` (name, type, counts), ``role``, ``role_source`` (``given``, ``config`` or
        ``guessed``), ``role_scores``, ``mapping`` (field -> column, confidence, source,
        required, alternatives; a transaction log's amount derived from quantity × unit price
        has source ``derived``), ``missing_required``, ``date_format``, ``problems`` (read,
        used, quarantined per reason, first rows per reason, flagged, possible duplicates and,
        for transactions, value, missing_customer_id, duplicates, excluded) and ``warnings``
        (every mapping below :data:`~segmint.io._mapping.MIN_CONFIDENCE` with its alternatives
        and the ``segmint.yaml`` line that overrides it, then the loader's); ``error`` and
        ``hint`` when the role cannot be mapped or loaded.

    Raises
    ------
    InputError
        The source cannot be read at all (missing, empty, damaged, unknown type).
    """
    con = duckdb.connect()
    try:
        raw = read_source(
            con,
            path,
            "raw_inspect",
            header=header,
            sheet=sheet,
            encoding=encoding,
            delimiter=delimiter,
        )
        result: dict[str, Any] = raw.describe()
        columns = _column_types(con, raw)
        result["columns"] = columns
        guessed, scores = guess_role(raw.columns, likert_share=_likert_share(columns))
        for column in columns:
            column.pop("_small_scale", None)
        if role is not None:
            if role not in ROLE_FIELDS:
                raise InputError(
                    f"unknown role '{role}'.", hint=f"Roles: {', '.join(ROLE_FIELDS)}."
                )
            chosen, how = role, "given"
        else:
            chosen, how = _choose_role(raw.columns, mapping, guessed, scores)
        result.update(
            role=chosen,
            role_source=how,
            role_scores=scores,
            mapping={},
            missing_required=[],
            date_format=None,
            problems=None,
            warnings=[],
        )
        if chosen is None:
            result["error"] = "no role fits the column names."
            result["hint"] = (
                "Give --role and name the columns in segmint.yaml, e.g. mapping: "
                "{transactions: {customer_id: <column>, order_date: <column>, amount: <column>}}."
            )
            return result
        explicit = _explicit_for(mapping, chosen)
        try:
            matches = map_columns(raw.columns, chosen, explicit=explicit, path=str(raw.path))
        except InputError as exc:
            partial = map_columns_partial(raw.columns, chosen, explicit)
            result["mapping"] = partial
            result["missing_required"] = [
                f for f, (req, _) in ROLE_FIELDS[chosen].items() if req and f not in partial
            ]
            result["error"], result["hint"] = exc.message, exc.hint
            return result
        result["mapping"] = {f: _entry(chosen, m) for f, m in matches.items()}
        if chosen == "transactions" and derives_amount(matches):
            quantity, price = matches["quantity"], matches["unit_price"]
            result["mapping"]["amount"] = {
                "column": f"{quantity.column} × {price.column}",
                "confidence": min(quantity.confidence, price.confidence),
                "source": "derived",
                "required": True,
                "alternatives": [],
            }
        warnings = mapping_warnings(matches, chosen)
        result["warnings"] = list(warnings)
        kwargs: dict[str, Any] = {}
        if chosen == "transactions":
            kwargs.update(io_options or {})
        fmt = (date_formats or {}).get(chosen)
        if fmt and chosen in ("transactions", "events"):
            kwargs["date_format"] = fmt
        try:
            account = LOADERS[chosen](con, raw, matches, **kwargs)
        except InputError as exc:
            result["error"], result["hint"] = exc.message, exc.hint
            result["problems"] = _problems_from_quarantine(con, raw)
            return result
        result["date_format"] = account.date_format
        result["warnings"] += [w for w in account.warnings if w not in warnings]
        result["notes"] = [*result.get("notes", []), *account.notes]
        result["problems"] = {
            "read": account.n_read,
            "used": account.n_used,
            "quarantined": account.n_quarantined,
            "quarantined_by_reason": dict(sorted(account.quarantined.items())),
            "first_rows": _first_rows(con, raw, chosen),
            "flagged": dict(account.flagged),
            "possible_duplicates": account.possible_duplicates,
        }
        if chosen == "transactions":
            details = account.to_dict()
            for key in ("value", "missing_customer_id", "duplicates", "excluded"):
                result["problems"][key] = details[key]
        return result
    finally:
        con.close()


def _entry(role: str, match: ColumnMatch) -> dict[str, Any]:
    return {
        "column": match.column,
        "confidence": match.confidence,
        "source": match.source,
        "required": ROLE_FIELDS[role].get(match.field, (False, ()))[0],
        "alternatives": list(match.alternatives),
    }


def map_columns_partial(
    columns: list[str], role: str, explicit: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The fields that can be matched, even when a required one is missing."""
    fields = ROLE_FIELDS[role]
    found: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for field_name, (_, synonyms) in fields.items():
        best: ColumnMatch | None = None
        if field_name in explicit and explicit[field_name] in columns:
            best = ColumnMatch(field_name, explicit[field_name], 1.0, "config")
        for column in columns if best is None else []:
            if column in taken:
                continue
            candidate = _candidate(field_name, column, synonyms)
            if candidate is not None and (best is None or candidate.confidence > best.confidence):
                best = candidate
        if best is not None:
            taken.add(best.column)
            found[field_name] = _entry(role, best)
    return found


def _first_rows(con: duckdb.DuckDBPyConnection, raw: RawSource, role: str) -> dict[str, list]:
    rows = con.execute(
        """
        SELECT reason, list(row ORDER BY row)[1:5] FROM quarantine
        WHERE source = ? AND role = ? GROUP BY reason ORDER BY reason
        """,
        [str(raw.path), role],
    ).fetchall()
    return {reason: [int(r) for r in first] for reason, first in rows}


def _problems_from_quarantine(con: duckdb.DuckDBPyConnection, raw: RawSource) -> dict | None:
    try:
        rows = con.execute(
            "SELECT reason, count(*) FROM quarantine WHERE source = ? GROUP BY reason",
            [str(raw.path)],
        ).fetchall()
    except duckdb.Error:
        return None
    quarantined = {k: int(v) for k, v in rows}
    return {
        "read": raw.n_read,
        "used": 0,
        "quarantined": sum(quarantined.values()),
        "quarantined_by_reason": quarantined,
    }
