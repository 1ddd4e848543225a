"""Typing values in SQL: numbers in either decimal convention, text, and inferred types.

:func:`_number` reads a text column as DOUBLE, the decimal comma or point detected on a sample
(thousands separators accepted only in their places, currency signs ignored);
:func:`_text_sql` and :func:`_blank_sql` read text with blanks as missing; :func:`_infer_type`
types a column that maps to no field (BOOLEAN, DOUBLE, DATE or text) by what at least 98 % of
its values hold.
"""

from __future__ import annotations

import duckdb

from segmint.io._dates import _date_sql, guess_date_format
from segmint.io._sources import RawSource, quote_ident

_CURRENCY = r"^[€$£¥]\s*|\s*[€$£¥]$|^(EUR|USD|GBP|CHF)\s*|\s*(EUR|USD|GBP|CHF)$"


def _decimal_comma(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    col = quote_ident(column)
    comma, dot = con.execute(
        f"SELECT count(*) FILTER (regexp_full_match(trim({col}), '-?[0-9.]*,[0-9]+')), "
        f"count(*) FILTER (regexp_full_match(trim({col}), '-?[0-9,]*\\.[0-9]+')) "
        f"FROM (SELECT {col} FROM {quote_ident(table)} LIMIT 20000)"
    ).fetchall()[0]
    return comma > dot


def _thousands_dots(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """Every dotted value looks like ``1.234`` (three digits after the dot): thousands?"""
    col = quote_ident(column)
    dotted, grouped = con.execute(
        f"SELECT count(*) FILTER (contains(trim({col}), '.')), "
        f"count(*) FILTER (regexp_full_match(trim({col}), '-?[0-9]{{1,3}}(\\.[0-9]{{3}})+')) "
        f"FROM (SELECT {col} FROM {quote_ident(table)} LIMIT 20000)"
    ).fetchall()[0]
    return dotted >= 3 and grouped == dotted


def _number_sql(expr: str, decimal_comma: bool) -> str:
    """SQL turning text into DOUBLE; NULL where the text is not a number in that convention.

    Thousands separators are accepted only in their places (``1,234.50`` / ``1.234,50``), so
    ``1,5`` in a dot-decimal column is not silently read as 15; a currency sign or code at
    either end and spaces between digit groups are ignored. Plain numbers take the first
    branch; the cleaning only runs on the rows that need it (CASE evaluates lazily).
    """
    v = f"trim({expr})"
    c = f"replace(replace(regexp_replace({v}, '{_CURRENCY}', '', 'g'), ' ', ''), '\u00a0', '')"
    plain_comma = "'[-+]?[0-9]+(,[0-9]+)?'"
    grouped_comma = "'[-+]?[0-9]{1,3}(\\.[0-9]{3})+(,[0-9]+)?'"
    grouped_dot = "'[-+]?[0-9]{1,3}(,[0-9]{3})+(\\.[0-9]+)?'"
    plain_dot = "'[-+]?[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?'"
    if decimal_comma:
        return (
            f"CASE WHEN regexp_full_match({v}, {plain_comma}) "
            f"THEN TRY_CAST(replace({v}, ',', '.') AS DOUBLE) "
            f"WHEN regexp_full_match({c}, {plain_comma}) "
            f"THEN TRY_CAST(replace({c}, ',', '.') AS DOUBLE) "
            f"WHEN regexp_full_match({c}, {grouped_comma}) "
            f"THEN TRY_CAST(replace(replace({c}, '.', ''), ',', '.') AS DOUBLE) END"
        )
    return (
        f"CASE WHEN TRY_CAST({v} AS DOUBLE) IS NOT NULL THEN TRY_CAST({v} AS DOUBLE) "
        f"WHEN regexp_full_match({c}, {plain_dot}) THEN TRY_CAST({c} AS DOUBLE) "
        f"WHEN regexp_full_match({c}, {grouped_dot}) "
        f"THEN TRY_CAST(replace({c}, ',', '') AS DOUBLE) END"
    )


def _number(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    warnings: list[str] | None = None,
    expr: str | None = None,
) -> str:
    comma = _decimal_comma(con, table, column)
    if not comma and warnings is not None and _thousands_dots(con, table, column):
        warnings.append(
            f"column '{column}': every value with a dot looks like 1.234; read with a decimal "
            f"point (1.234 = one point two three four). If the dot groups thousands, "
            f"re-export with a decimal comma or no grouping."
        )
    return _number_sql(expr or quote_ident(column), comma)


def _text_sql(raw: RawSource, column: str, expr: str) -> str:
    """A text value with blanks as NULL: trimmed text, or a typed value written as text."""
    if column in raw.types:
        return f"CAST({expr} AS VARCHAR)"
    return f"nullif(trim({expr}), '')"


def _blank_sql(raw: RawSource, column: str, expr: str) -> str:
    """SQL true where the raw value is missing (NULL, or blank text)."""
    if column in raw.types:
        return f"{expr} IS NULL"
    return f"{expr} IS NULL OR trim({expr}) = ''"


def _infer_type(
    con: duckdb.DuckDBPyConnection,
    table: str,
    column: str,
    warnings: list[str] | None = None,
) -> str:
    ref = f"r.{quote_ident(column)}"
    text = f"nullif(trim({ref}), '')"
    col = quote_ident(column)
    stats = con.execute(f"""
        SELECT count(v),
               count(*) FILTER (lower(v) IN ('true','false','yes','no','y','n','t','f')),
               count(TRY_CAST(v AS DOUBLE)),
               count(*) FILTER (regexp_full_match(v, '-?[0-9.]*,[0-9]+'))
        FROM (SELECT nullif(trim({col}), '') AS v FROM {quote_ident(table)})
    """).fetchall()[0]
    n, n_bool, n_num, n_comma = stats
    if n == 0:
        return text
    if n_bool >= 0.98 * n:
        return f"TRY_CAST({text} AS BOOLEAN)"
    if n_num >= 0.98 * n:
        return f"TRY_CAST({text} AS DOUBLE)"
    if n_comma and n_num + n_comma >= 0.98 * n:
        return _number(con, table, column, warnings, ref)
    guess = guess_date_format(con, table, column)
    if guess is not None:
        hits = con.execute(
            f"SELECT count({_date_sql(col, guess)}) FROM {quote_ident(table)}"
        ).fetchall()[0][0]
        if hits >= 0.98 * n:
            if guess.ambiguous_with and warnings is not None:
                warnings.append(
                    f"column '{column}': every date fits both {guess.format} and "
                    f"{guess.ambiguous_with}; read as {guess.format} (day first)."
                )
            return f"CAST({_date_sql(ref, guess)} AS DATE)"
    return text
