"""Likert scales of survey items: answers outside an item's scale are flagged and set to missing.

A survey item answered on a scale (1–5, 1–7, 0–10) must not feed the needs factors with a 9, a
−3, a 2.5 or a 99 (codes for "don't know", typing slips). Each numeric item's scale is the one
given (``scales``, ``{item: (low, high)}``) or else detected: the longest run of consecutive
integers all present among the answers, 2 to 11 points wide, holding at least 95 % of them. An
item with no such run (a continuous number, a sparse answer set) has no scale and is left alone.

Every answer outside its item's scale (not an integer, or beyond its ends) is set to missing in
the survey table (the respondent and the other answers are kept; the factor model imputes the
item's mean) and its row is flagged ``out_of_scale_answer`` in the ``flagged`` table with the
column and the value; the account's ``warnings`` say per item the scale and the values.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from segmint.io._accounting import SourceAccount
from segmint.io._sources import RawSource, _sql_str, quote_ident

__all__ = ["detect_scale", "flag_out_of_scale"]

#: Share of an item's answers its detected scale must hold.
MIN_SHARE = 0.95
#: Widest scale detected (0–10 has 11 points).
MAX_POINTS = 11


def detect_scale(counts: Mapping[float, int]) -> tuple[int, int] | None:
    """``(low, high)`` of the longest run of consecutive integer answers holding ≥ 95 % of
    all answers, 2 to :data:`MAX_POINTS` points wide; None when there is none."""
    total = sum(counts.values())
    integers = sorted(int(v) for v in counts if float(v).is_integer())
    if not total or not integers:
        return None
    best: tuple[int, int, int] | None = None  # (answers, low, high)
    start = integers[0]
    for i, value in enumerate(integers):
        if i + 1 < len(integers) and integers[i + 1] == value + 1:
            continue
        held = sum(n for v, n in counts.items() if float(v).is_integer() and start <= v <= value)
        if best is None or held > best[0]:
            best = (held, start, value)
        if i + 1 < len(integers):
            start = integers[i + 1]
    if best is None:
        return None
    held, low, high = best
    if not 2 <= high - low + 1 <= MAX_POINTS or held < MIN_SHARE * total:
        return None
    return low, high


def flag_out_of_scale(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    account: SourceAccount,
    table: str,
    items: list[str],
    scales: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, tuple[float, float]]:
    """Flag and set to missing the answers of ``items`` outside their scale; returns the
    scales used (``item -> (low, high)``)."""
    t = quote_ident(table)
    used: dict[str, tuple[float, float]] = {}
    n_flagged = 0
    for item in items:
        col = quote_ident(item)
        counts = dict(
            con.execute(
                f"SELECT {col}, count(*) FROM {t} WHERE {col} IS NOT NULL GROUP BY 1"
            ).fetchall()
        )
        scale = (scales or {}).get(item) or detect_scale(counts)
        if scale is None:
            continue
        low, high = float(scale[0]), float(scale[1])
        used[item] = (low, high)
        x = f"s.{col}"
        outside = f"{x} IS NOT NULL AND ({x} <> round({x}) OR {x} NOT BETWEEN {low} AND {high})"
        bad = con.execute(f"SELECT DISTINCT {x} FROM {t} s WHERE {outside} ORDER BY 1").fetchall()
        if not bad:
            continue
        # the value as written in the file (the typed one for a renamed column)
        value = f"trim(r.{col})" if item in raw.columns else f"CAST({x} AS VARCHAR)"
        con.execute(f"""
            INSERT INTO flagged
            SELECT {_sql_str(raw.path)}, {_sql_str(account.role)}, s._row, 'out_of_scale_answer',
                   {_sql_str(item)}, {value}, NULL
            FROM {t} s JOIN {quote_ident(raw.table)} r ON r._row = s._row WHERE {outside}
        """)
        n = con.execute(f"SELECT count(*) FROM {t} s WHERE {outside}").fetchall()[0][0]
        con.execute(f"UPDATE {t} AS s SET {col} = NULL WHERE {outside}")
        n_flagged += int(n)
        values = ", ".join(f"{v:g}" for (v,) in bad[:10]) + (", ..." if len(bad) > 10 else "")
        account.warnings.append(
            f"{item} (scale {low:g}–{high:g}): {n:,} answer(s) {values} set to missing, the "
            "respondents kept and flagged (out_of_scale_answer)"
        )
    if n_flagged:
        account.flagged["out_of_scale_answer"] = n_flagged
    return used
