"""Readers for the non-text sources: Parquet, Excel, JSON/NDJSON, SPSS and SQL databases.

Each loads its source into DuckDB as text columns plus ``_row`` (see :class:`RawSource`), in
chunks where the rows pass through Python, so memory stays bounded by the chunk size.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import duckdb

from segmint._logging import logger
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


# --- Excel -----------------------------------------------------------------------------------


def _excel_error(path: Path, exc: BaseException) -> InputError:
    return InputError(
        f"{path}: cannot be read as an Excel workbook ({_first_line(exc)}).",
        hint="Check that it is a complete .xlsx file (not truncated, not password-protected); "
        "or export the sheet as CSV.",
    )


def read_excel(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    *,
    sheet: str | int | None = None,
    header: bool | None = None,
) -> RawSource:
    """Read one worksheet of an ``.xlsx`` workbook (openpyxl, read-only, streamed).

    ``sheet`` is a sheet name or a 1-based position; the first sheet by default. The header is
    the first non-empty row. Fully empty rows are skipped; a row with values beyond the header's
    columns is rejected as ``malformed_line``. ``_row`` is the sheet row minus the header row.
    """
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    errors: tuple[type[BaseException], ...] = (
        zipfile.BadZipFile,
        InvalidFileException,
        KeyError,
        OSError,
        EOFError,
        ValueError,
        TypeError,
        zlib.error,
        SyntaxError,  # xml.etree ParseError derives from it
    )
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except errors as exc:
        raise _excel_error(path, exc) from exc
    notes: list[str] = []
    try:
        names = list(book.sheetnames)
        if sheet is None:
            index = 0
            if len(names) > 1:
                notes.append(
                    f"read the first sheet '{names[0]}'; the workbook also has "
                    + ", ".join(f"'{n}'" for n in names[1:])
                )
        elif str(sheet) in names:
            index = names.index(str(sheet))
        elif str(sheet).isdigit() and 1 <= int(sheet) <= len(names):
            index = int(sheet) - 1
        else:
            raise InputError(
                f"{path}: has no sheet '{sheet}'.",
                hint=f"Sheets in the workbook: {', '.join(names)}.",
            )
        try:
            raw = _excel_rows(con, path, table, book.worksheets[index], header)
        except errors as exc:
            raise _excel_error(path, exc) from exc
    finally:
        book.close()
    raw.sheet = names[index]
    raw.notes.extend(notes)
    return raw


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _excel_rows(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, sheet: Any, header: bool | None
) -> RawSource:
    rows = sheet.iter_rows(values_only=True)
    # look at the first non-empty rows: title lines above the table are narrower than the header
    head: list[tuple[int, list[Any]]] = []
    last_row = 0
    for last_row, values in enumerate(rows, start=1):
        if not all(_blank(v) for v in values):
            head.append((last_row, list(values)))
            if len(head) >= 20:
                break
    if not head:
        raise InputError(
            f"{path}: sheet '{sheet.title}' is empty.", hint="Choose the sheet with the data."
        )
    widths = [sum(not _blank(v) for v in values) for _, values in head]
    # the header is the first row as wide as the rows usually are (the most common width)
    typical = max(set(widths), key=lambda w: (widths.count(w), w))
    start = next(i for i, w in enumerate(widths) if w >= typical) if header is not False else 0
    notes = []
    if start:
        notes.append(
            f"skipped {start} title row(s) above the table (sheet rows "
            f"{', '.join(str(r) for r, _ in head[:start])})"
        )
    first_row, first = head[start]
    while first and _blank(first[-1]):
        first.pop()
    if header is None:
        texts = [v for v in first if not _blank(v)]
        header = all(
            isinstance(v, str) and not re.fullmatch(r"[-+]?[\d.,]+", v.strip()) for v in texts
        )
    where = f"{path} (sheet '{sheet.title}')"
    if header:
        columns = unique_names(first, where)
        header_row = first_row
        pending = head[start + 1 :]
    else:
        columns = [f"column_{i + 1}" for i in range(len(first))]
        header_row = first_row - 1
        pending = head[start:]
    width = len(columns)
    writer = TextTableWriter(con, table, columns)
    rejects: list[dict] = []
    batch_rows: list[int] = []
    batch: list[list[str | None]] = [[] for _ in columns]

    def flush() -> None:
        writer.append(batch_rows, batch)
        batch_rows.clear()
        for column in batch:
            column.clear()

    def take(sheet_row: int, values: Any) -> None:
        values = list(values)
        if all(_blank(v) for v in values):
            return
        extra = [v for v in values[width:] if not _blank(v)]
        if extra:
            rejects.append(
                {
                    "row": sheet_row - header_row,
                    "reason": "malformed_line",
                    "detail": f"values beyond the {width} columns of the header "
                    f"(sheet row {sheet_row})",
                    "record": reject_record(sheet_row - header_row, [to_text(v) for v in values]),
                }
            )
            return
        batch_rows.append(sheet_row - header_row)
        for i in range(width):
            batch[i].append(to_text(values[i]) if i < len(values) else None)
        if len(batch_rows) >= CHUNK_ROWS:
            flush()

    for sheet_row, values in pending:
        take(sheet_row, values)
    for sheet_row, values in enumerate(rows, start=last_row + 1):
        take(sheet_row, values)
    flush()
    if writer.rows == 0 and not rejects:
        raise InputError(
            f"{where}: has a header but no data rows.", hint="Choose the sheet with the data."
        )
    return RawSource(
        path,
        table,
        columns,
        "xlsx",
        writer.rows + len(rejects),
        rejects,
        header=header,
        notes=notes,
    )


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


# --- SQL databases ---------------------------------------------------------------------------

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


# dialects whose URLs name a host: a URL of theirs that went through pathlib (``Path`` turns
# ``postgresql://h/db`` into ``postgresql:/h/db``) can be restored unambiguously
_HOST_DIALECTS = frozenset(
    {
        "postgresql",
        "postgres",
        "mysql",
        "mariadb",
        "mssql",
        "oracle",
        "snowflake",
        "redshift",
        "trino",
        "clickhouse",
        "db2",
    }
)


def restore_database_url(spec: str) -> str:
    """``postgresql:/host/db`` (a URL passed through ``pathlib.Path``) back to ``postgresql://``."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*):/(?!/)(.*)$", spec)
    if match and match.group(1).split("+")[0].lower() in _HOST_DIALECTS:
        return f"{match.group(1)}://{match.group(2)}"
    return spec


def is_database_url(spec: str) -> bool:
    """True for ``dialect[+driver]://...`` strings (not for ``file://``)."""
    return bool(_URL.match(spec)) and not spec.lower().startswith("file://")


def split_database_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``url#table`` or ``url#SELECT ...`` into ``(url, table, query)``."""
    url, _, fragment = spec.partition("#")
    fragment = fragment.strip()
    if not fragment:
        return url, None, None
    if re.match(r"(?is)^\s*(select|with)\b", fragment):
        return url, None, fragment
    return url, fragment, None


def read_sql(
    con: duckdb.DuckDBPyConnection,
    url: str,
    table: str,
    *,
    sql_table: str | None = None,
    query: str | None = None,
    chunk_size: int = CHUNK_ROWS,
) -> RawSource:
    """Read a table or a query result from any database SQLAlchemy can reach, in chunks.

    Rows are streamed with a server-side cursor (``stream_results``) and appended to DuckDB
    ``chunk_size`` at a time, so memory stays bounded whatever the table size. ``_row`` is the
    position in the result; give a query with ``ORDER BY`` for a stable order.
    """
    from sqlalchemy import create_engine, literal_column, select, text
    from sqlalchemy import table as sa_table
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    url, frag_table, frag_query = split_database_spec(url)
    sql_table = sql_table or frag_table
    query = query or frag_query
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InputError(
            f"'{url.split('@')[-1]}': not a valid database URL.",
            hint="Use dialect://user:password@host:port/database#table, "
            "e.g. postgresql://me@localhost/shop#orders.",
        ) from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername=_postgres_driver())
    shown = parsed.render_as_string(hide_password=True)
    if not sql_table and not query:
        raise InputError(
            f"{shown}: no table or query given.",
            hint="Append #table or #SELECT ... to the URL, e.g. postgresql://host/db#orders.",
        )
    what = f"{shown}#{sql_table}" if sql_table else shown
    connect_args = {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}
    try:
        engine = create_engine(parsed, connect_args=connect_args)
    except (NoSuchModuleError, ImportError) as exc:
        raise InputError(
            f"{shown}: no database driver for '{parsed.drivername}'.",
            hint="Install the driver (e.g. psycopg for PostgreSQL, pymysql for MySQL).",
        ) from exc
    if query:
        statement: Any = text(query)
    else:
        assert sql_table is not None
        schema, _, name = sql_table.rpartition(".")
        statement = select(literal_column("*")).select_from(sa_table(name, schema=schema or None))
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(
                statement
            )
            columns = unique_names(list(result.keys()), what)
            writer = TextTableWriter(con, table, columns)
            for part in result.partitions(chunk_size):
                values = [[to_text(row[i]) for row in part] for i in range(len(columns))]
                start = writer.rows + 1
                writer.append(list(range(start, start + len(part))), values)
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        kind = type(exc).__name__
        if kind == "OperationalError" and not _executed(exc):
            raise InputError(
                f"{shown}: cannot connect to the database ({_first_line(orig)}).",
                hint="Check host, port, user and password, and that the server is running.",
            ) from exc
        raise InputError(
            f"{what}: the database refused the query ({_first_line(orig)}).",
            hint="Check the table name or the query.",
        ) from exc
    finally:
        engine.dispose()
    if writer.rows == 0:
        raise InputError(f"{what}: the query returned no rows.", hint="Check the table or query.")
    logger.info("read %d rows from a %s database", writer.rows, parsed.get_backend_name())
    return RawSource(
        DatabaseName(what),  # type: ignore[arg-type]
        table,
        columns,
        "sql",
        writer.rows,
        header=True,
    )


class DatabaseName(str):
    """A database source's name (URL without password, ``#table``), usable where a path is."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return self.rsplit("/", 1)[-1]


def _executed(exc: Exception) -> bool:
    """Whether an OperationalError came from running the statement (it names one)."""
    return bool(getattr(exc, "statement", None))


def _postgres_driver() -> str:
    import importlib.util

    if importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2"
    if importlib.util.find_spec("psycopg") is not None:
        return "postgresql+psycopg"
    return "postgresql"
