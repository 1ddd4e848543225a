"""Readers for the non-text files DuckDB or pyreadstat parse: Parquet, JSON/NDJSON and SPSS.

Each loads its source into DuckDB as text columns plus ``_row`` (see :class:`RawSource`), in
chunks (:data:`CHUNK_ROWS`) where the rows pass through Python, so memory stays bounded by the
chunk size. The other non-text readers follow the same rules: Excel workbooks in
:mod:`segmint.io._excel`, SQL databases in :mod:`segmint.io._database`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from segmint.exceptions import InputError
from segmint.io._raw import (
    RawSource,
    TextTableWriter,
    _count,
    _first_line,
    _sql_str,
    quote_ident,
    reject_record,
    to_text,
    unique_names,
)
from segmint.io._text import detect_text, utf8_file

CHUNK_ROWS = 50_000


# --- Parquet ---------------------------------------------------------------------------------


# Parquet types kept as they are by ``typed=True``: what the loaders read without parsing text
NATIVE_TYPES = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE"
    r"|DECIMAL\(\d+,\s*\d+\)|DATE|TIMESTAMP|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS)$"
)


def read_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, *, typed: bool = False
) -> RawSource:
    """Read a Parquet file; ``_row`` is the file row number.

    By default every column is cast to text and copied into ``table``, like every other format.
    With ``typed=True`` (for the transaction loader, which knows typed columns) ``table`` is a
    view over the file: numbers, dates and timestamps keep their type (listed in
    :attr:`RawSource.types`), the other columns are cast to text, and nothing is copied: the
    file is read where it lies, as the loader scans it.
    """
    src = f"read_parquet({_sql_str(path)}, file_row_number=true)"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({_sql_str(path)})").fetchall()
        names = [r[0] for r in described]
        unique_names(names, str(path))
        types = {r[0]: r[1] for r in described if typed and NATIVE_TYPES.match(r[1])}
        casts = ", ".join(
            (
                quote_ident(n)
                if n in types
                else f"CAST({quote_ident(n)} AS VARCHAR) AS {quote_ident(n)}"
            )
            for n in names
        )
        _drop_relation(con, table)
        if typed:
            con.execute(
                f"CREATE VIEW {quote_ident(table)} AS "
                f"SELECT file_row_number + 1 AS _row, {casts} FROM {src}"
            )
        else:
            con.execute(
                f"CREATE TABLE {quote_ident(table)} AS "
                f"SELECT file_row_number + 1 AS _row, {casts} FROM {src} ORDER BY _row"
            )
        n = _count(con, table)
    except duckdb.Error as exc:
        raise InputError(
            f"{path}: cannot be read as Parquet ({_first_line(exc)}).",
            hint="Check that the file is a complete Parquet file (not truncated).",
        ) from exc
    if n == 0:
        raise InputError(f"{path}: the Parquet file has no rows.", hint="Export the data again.")
    return RawSource(
        path,
        table,
        names,
        "parquet",
        n,
        header=True,
        types=types,
        source_types={r[0]: r[1] for r in described},
    )


def drop_view(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the view ``name`` if there is one (left by a typed Parquet read)."""
    _drop_relation(con, name, views_only=True)


def _drop_relation(con: duckdb.DuckDBPyConnection, name: str, *, views_only: bool = False) -> None:
    """Drop the table or view ``name`` if either exists (a reload may switch between them)."""
    kinds = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ? "
        "AND table_schema = current_schema()",
        [name],
    ).fetchall()
    for (kind,) in kinds:
        if kind == "VIEW":
            con.execute(f"DROP VIEW {quote_ident(name)}")
        elif not views_only:
            con.execute(f"DROP TABLE {quote_ident(name)}")


# --- JSON and NDJSON -------------------------------------------------------------------------


def read_json(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawSource:
    """Read a JSON array of records, or newline-delimited JSON (one record per line).

    The columns are the keys of all records, in order of first appearance; nested values are
    kept as JSON text. In NDJSON a line that is not a JSON object is rejected as
    ``malformed_line``; a damaged JSON array fails as a whole.
    """
    info = detect_text(path)
    start = info.head.lstrip("\ufeff \t\r\n")[:1]
    if start not in ("[", "{"):
        raise InputError(
            f"{path}: is not JSON records (it starts with neither '[' nor '{{').",
            hint="segmint reads a JSON array of objects or one JSON object per line (NDJSON).",
        )
    with utf8_file(path, info) as source:
        comp = (
            f", compression={_sql_str(info.compression)}"
            if info.compression and source == path
            else ""
        )
        if start == "[":
            fmt = "json"
            objects = (
                f"SELECT row_number() OVER () AS _n, json::VARCHAR AS j "
                f"FROM read_json_objects({_sql_str(source)}, format='array'{comp})"
            )
        else:
            fmt = "ndjson"
            objects = f"""
                SELECT row_number() OVER () AS _n, line AS j
                FROM read_csv({_sql_str(source)}, columns={{'line': 'VARCHAR'}}, header=false,
                              delim='\\x01', quote='', escape='', all_varchar=true{comp})
                WHERE trim(line) <> ''
            """
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _segmint_json AS {objects}")
        except duckdb.Error as exc:
            raise InputError(
                f"{path}: is not valid JSON ({_first_line(exc)}).",
                hint="Check that the file is complete (not truncated) and is a JSON array of "
                "objects or one object per line.",
            ) from exc
    try:
        return _json_table(con, path, table, fmt)
    finally:
        con.execute("DROP TABLE IF EXISTS _segmint_json; DROP TABLE IF EXISTS _segmint_json_obj")


def _json_table(con: duckdb.DuckDBPyConnection, path: Path, table: str, fmt: str) -> RawSource:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _segmint_json_kind AS SELECT _n, j, "
        "CASE WHEN json_valid(j) THEN json_type(j) ELSE 'invalid' END AS kind FROM _segmint_json"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _segmint_json_obj AS "
        "SELECT _n, j::JSON AS j FROM _segmint_json_kind WHERE kind = 'OBJECT'"
    )
    bad = con.execute(
        "SELECT _n, kind, j FROM _segmint_json_kind WHERE kind <> 'OBJECT' ORDER BY _n"
    ).fetchall()
    con.execute("DROP TABLE _segmint_json_kind")
    keys = [
        r[0]
        for r in con.execute("""
            SELECT k FROM (
                SELECT _n, unnest(json_keys(j)) AS k, unnest(range(len(json_keys(j)))) AS i
                FROM _segmint_json_obj
            ) GROUP BY k ORDER BY min(_n * 100000 + i)
        """).fetchall()
    ]
    if not keys and not bad:
        raise InputError(f"{path}: holds no records.", hint="Export the data again with rows.")
    columns = unique_names(keys, str(path)) if keys else []
    if not columns:
        raise InputError(
            f"{path}: none of the {len(bad)} records is a JSON object "
            f"(record {bad[0][0]} is {str(bad[0][1]).lower()}).",
            hint="segmint reads a JSON array of objects or one JSON object per line.",
        )
    selects = ", ".join(
        f"json_extract_string(j, {_sql_str(_json_path(k))}) AS {quote_ident(c)}"
        for k, c in zip(keys, columns, strict=True)
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {quote_ident(table)} AS "
        f"SELECT _n AS _row, {selects} FROM _segmint_json_obj ORDER BY _n"
    )
    rejects = [
        {
            "row": int(n),
            "reason": "malformed_line",
            "detail": "not valid JSON"
            if kind == "invalid"
            else f"a JSON {kind.lower()}, not an object",
            "record": reject_record(int(n), text),
        }
        for n, kind, text in bad
    ]
    n_ok = _count(con, table)
    return RawSource(path, table, columns, fmt, n_ok + len(rejects), rejects, encoding="utf-8")


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- SPSS ------------------------------------------------------------------------------------


def read_sav(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawSource:
    """Read an SPSS ``.sav``/``.zsav`` file with pyreadstat, in chunks.

    Values that have a value label are replaced by the label (the market-research convention:
    ``"Agree"``, not ``4``), so the raw table holds categories; codes without a label stay as
    they are. Variable labels and value labels are kept on the :class:`RawSource`. SPSS
    user-missing codes are read as missing.
    """
    import pyreadstat

    errors = (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError, ValueError)
    try:
        _, meta = pyreadstat.read_sav(str(path), metadataonly=True)
    except errors as exc:
        raise InputError(
            f"{path}: cannot be read as an SPSS file ({_first_line(exc)}).",
            hint="Check that the file is a complete .sav file (not truncated).",
        ) from exc
    columns = unique_names(list(meta.column_names), str(path))
    labels = {
        col: {_code(code): str(label) for code, label in mapping.items()}
        for col, mapping in (meta.variable_value_labels or {}).items()
    }
    writer = TextTableWriter(con, table, columns)
    try:
        chunks = pyreadstat.read_file_in_chunks(
            pyreadstat.read_sav, str(path), chunksize=CHUNK_ROWS, apply_value_formats=False
        )
        for frame, _ in chunks:
            values: list[list[str | None]] = []
            for name in meta.column_names:
                mapping = labels.get(name)
                texts = [to_text(v) for v in frame[name].tolist()]
                if mapping:
                    texts = [None if t is None else mapping.get(t, t) for t in texts]
                values.append(texts)
            start = writer.rows + 1
            writer.append(list(range(start, start + len(frame))), values)
    except errors as exc:
        raise InputError(
            f"{path}: cannot be read as an SPSS file ({_first_line(exc)}).",
            hint="Check that the file is a complete .sav file (not truncated).",
        ) from exc
    if writer.rows == 0:
        raise InputError(f"{path}: the SPSS file has no cases.", hint="Export the data again.")
    variable_labels = {
        col: str(label)
        for col, label in zip(columns, meta.column_labels or [], strict=False)
        if label
    }
    return RawSource(
        path,
        table,
        columns,
        "sav",
        writer.rows,
        header=True,
        variable_labels=variable_labels,
        value_labels={columns[meta.column_names.index(c)]: m for c, m in labels.items()},
    )


def _code(code: Any) -> str:
    text = to_text(code)
    return "" if text is None else text
