"""The survey loader: needs or psychographic answers, one row per respondent."""

from __future__ import annotations

import duckdb

from segmint.io._accounting import SourceAccount
from segmint.io._entities import _Entity, _entity_load
from segmint.io._mapping import ColumnMatch
from segmint.io._scales import flag_out_of_scale
from segmint.io._sources import RawSource, quote_ident

__all__ = ["load_survey"]


def load_survey(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    matches: dict[str, ColumnMatch],
    *,
    known_customers: str | None = None,
    role: str = "survey",
    scales: dict[str, tuple[float, float]] | None = None,
) -> SourceAccount:
    """Load survey responses into the table ``role`` (one row per respondent).

    ``role`` names the table and the accounting: ``survey`` (needs) or ``psychographic``
    (attitudes/lifestyle), which are the same kind of file.

    ``customer_id`` is the respondent (or customer) id; a mapped ``weight`` is a DOUBLE of at
    least 0 (``invalid_weight`` otherwise, including a missing weight: blank means unknown, not
    1). Answers with SPSS value labels become ENUM categories with the labels in code order
    (``RawSource.value_labels``); other items are typed like customer attributes (Likert codes
    become DOUBLE). Reasons: ``malformed_line``, ``missing_customer_id``,
    ``duplicate_customer_id``, ``invalid_weight``, ``unparseable_value``, ``unknown_customer``
    (when ``known_customers`` is given).

    Numeric answers outside their item's scale (``scales``, ``{item: (low, high)}``, or the
    scale detected, e.g. 1–5: :mod:`segmint.io._scales`) are set to missing and flagged
    ``out_of_scale_answer`` with the column and the value (the respondent is kept).
    """
    spec = _Entity(
        role,
        role,
        "customer_id",
        numeric={"weight": (0.0, "invalid_weight")},
        references={"customer_id": (known_customers, "customer_id", "unknown_customer")}
        if known_customers
        else {},
    )
    account = _entity_load(con, raw, matches, spec, categories=raw.value_labels)
    types = con.execute(f"DESCRIBE {quote_ident(role)}").fetchall()
    items = [c for c, kind, *_ in types if kind == "DOUBLE" and c not in ("customer_id", "weight")]
    flag_out_of_scale(con, raw, account, role, items, scales)
    return account
