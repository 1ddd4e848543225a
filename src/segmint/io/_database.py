"""The database reader: a table or a query result from any database SQLAlchemy can reach.

* :func:`is_database_url` / :func:`restore_database_url` / :func:`split_database_spec` -- a
  source given as ``dialect://...#table`` or ``dialect://...#SELECT ...``;
* :func:`read_sql` -- the rows streamed with a server-side cursor into DuckDB, in chunks;
* :class:`DatabaseName` -- the source's name (the URL without its password), usable where a
  path is.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.io._formats import CHUNK_ROWS
from segmint.io._raw import RawSource, TextTableWriter, _first_line, to_text, unique_names

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
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    url, frag_table, frag_query = split_database_spec(url)
    sql_table = sql_table or frag_table
    query = query or frag_query
    parsed = _parse_url(url)
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
        raise _query_error(exc, shown, what) from exc
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


def _parse_url(url: str) -> Any:
    """The SQLAlchemy URL of ``url``, with the installed psycopg driver for PostgreSQL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

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
    return parsed


def _query_error(exc: Exception, shown: str, what: str) -> InputError:
    """The error for a database that could not be reached (``shown``) or refused the query."""
    orig = getattr(exc, "orig", None) or exc
    kind = type(exc).__name__
    if kind == "OperationalError" and not _executed(exc):
        return InputError(
            f"{shown}: cannot connect to the database ({_first_line(orig)}).",
            hint="Check host, port, user and password, and that the server is running.",
        )
    return InputError(
        f"{what}: the database refused the query ({_first_line(orig)}).",
        hint="Check the table name or the query.",
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
