"""Reading user files into DuckDB, untouched, with every physical record accounted for.

A source is first loaded as text (every column ``VARCHAR``) into a raw table with a ``_row``
column: the 1-based data row in the file. Types are applied later, in validation, so that a value
that does not parse quarantines one row with a reason instead of failing the whole file. Lines the
CSV reader cannot split into the right number of fields are kept too, as rejects with their line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from segmint.exceptions import InputError

_CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".dat", ".psv"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass
class RawSource:
    """A file loaded into DuckDB as text.

    Attributes
    ----------
    path : Path
        The file read.
    table : str
        Name of the raw table in the DuckDB connection (columns as in the file, plus ``_row``).
    columns : list of str
        Column names as found in the file (or ``column_1 ...`` when it has no header).
    format : str
        ``"csv"``, ``"whitespace"`` or ``"parquet"``.
    n_read : int
        Records read, including rejected lines.
    rejects : list of dict
        Lines that could not be split into the file's columns: ``row``, ``reason``, ``detail``.
    """

    path: Path
    table: str
    columns: list[str]
    format: str
    n_read: int
    rejects: list[dict] = field(default_factory=list)


def _sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB and PostgreSQL."""
    return '"' + name.replace('"', '""') + '"'


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found.", hint="Check the path and the file name.")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file.", hint="Name a data file.")
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except PermissionError as exc:
        raise InputError(
            f"{path}: permission denied.", hint="Make the file readable by this user."
        ) from exc
    if not head.strip():
        raise InputError(f"{path}: the file is empty.", hint="Export the data again.")


def _sniff_whitespace(path: Path) -> bool:
    """True for files whose fields are separated by runs of spaces (e.g. the CDNOW log)."""
    with path.open("rb") as handle:
        lines = [line.decode("utf-8", "replace").strip() for line in handle.readlines(65536)]
    lines = [line for line in lines if line][:20]
    if len(lines) < 1:
        return False
    if any(ch in line for line in lines for ch in ",;\t|"):
        return False
    counts = {len(re.split(r"\s+", line)) for line in lines}
    return len(counts) == 1 and counts.pop() >= 2


def read_source(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    table: str,
    *,
    header: bool | None = None,
) -> RawSource:
    """Load a file into ``table`` on ``con`` as text columns plus ``_row``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection to load into.
    path : str or Path
        CSV/TSV (delimiter sniffed), whitespace-separated text, or Parquet.
    table : str
        Name of the raw table to create (replaced if it exists).
    header : bool, optional
        Whether the first line holds column names; sniffed when ``None``.

    Returns
    -------
    RawSource

    Raises
    ------
    InputError
        The file is missing, unreadable, empty, or of a format segmint cannot read.
    """
    path = Path(path)
    _check_readable(path)
    suffix = path.suffix.lower()
    if suffix in _PARQUET_SUFFIXES:
        return _read_parquet(con, path, table)
    if suffix in _CSV_SUFFIXES or suffix == "":
        if _sniff_whitespace(path):
            return _read_whitespace(con, path, table, header)
        return _read_csv(con, path, table, header)
    raise InputError(
        f"{path}: unknown file type '{suffix}'.",
        hint="segmint reads .csv, .tsv, .txt (delimited or whitespace-separated) and .parquet.",
    )


def _read_csv(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, header: bool | None
) -> RawSource:
    options = "all_varchar=true, ignore_errors=true, store_rejects=true, null_padding=false"
    if header is not None:
        options += f", header={str(header).lower()}"
    try:
        con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
        con.execute(
            f"CREATE OR REPLACE TABLE {quote_ident(table)} AS "
            f"SELECT row_number() OVER () AS _row, * "
            f"FROM read_csv({_sql_str(path)}, {options})"
        )
        rejects = con.execute(
            "SELECT line, error_type, error_message FROM reject_errors ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        raise InputError(
            f"{path}: cannot be read as a delimited text file ({_first_line(exc)}).",
            hint="Check that it is a CSV/TSV export in UTF-8, not a binary or compressed file.",
        ) from exc
    columns = [c for c in _columns(con, table) if c != "_row"]
    n_ok = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0]
    has_header = header if header is not None else _scan_had_header(con)
    reject_rows = [
        {
            "row": int(line) - (1 if has_header else 0),
            "reason": "malformed_line",
            "detail": f"{kind.lower()}: {message}",
        }
        for line, kind, message in rejects
    ]
    if n_ok == 0 and not reject_rows:
        raise InputError(
            f"{path}: has a header but no data rows.", hint="Export the data again with rows."
        )
    return RawSource(path, table, columns, "csv", int(n_ok) + len(reject_rows), reject_rows)


def _scan_had_header(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute("SELECT has_header FROM reject_scans LIMIT 1").fetchall()
    return bool(rows[0][0]) if rows else True


def _read_whitespace(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, header: bool | None
) -> RawSource:
    lines = f"""
        SELECT row_number() OVER () AS _line,
               regexp_split_to_array(trim(line), '\\s+') AS fields
        FROM read_csv({_sql_str(path)}, columns={{'line': 'VARCHAR'}}, header=false,
                      delim='\\x01', quote='', escape='', all_varchar=true)
        WHERE trim(line) <> ''
    """
    found = con.execute(f"SELECT fields FROM ({lines}) WHERE _line = 1").fetchall()
    if not found:
        raise InputError(f"{path}: the file is empty.", hint="Export the data again.")
    tokens = list(found[0][0])
    if header is None:
        header = not any(re.fullmatch(r"[-+]?[\d.,]+", t) for t in tokens)
    names = tokens if header else [f"column_{i + 1}" for i in range(len(tokens))]
    select = ", ".join(f"fields[{i + 1}] AS {quote_ident(n)}" for i, n in enumerate(names))
    skip = 1 if header else 0
    con.execute(
        f"CREATE OR REPLACE TABLE {quote_ident(table)} AS "
        f"SELECT _line - {skip} AS _row, {select} FROM ({lines}) "
        f"WHERE _line > {skip} AND len(fields) = {len(names)}"
    )
    bad = con.execute(
        f"SELECT _line - {skip}, len(fields) FROM ({lines}) "
        f"WHERE _line > {skip} AND len(fields) <> {len(names)} ORDER BY 1"
    ).fetchall()
    rejects = [
        {
            "row": int(row),
            "reason": "malformed_line",
            "detail": f"expected {len(names)} fields, found {n}",
        }
        for row, n in bad
    ]
    n_ok = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0]
    return RawSource(path, table, names, "whitespace", int(n_ok) + len(rejects), rejects)


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> RawSource:
    try:
        names = [
            r[0]
            for r in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({_sql_str(path)})"
            ).fetchall()
        ]
        casts = ", ".join(f"CAST({quote_ident(n)} AS VARCHAR) AS {quote_ident(n)}" for n in names)
        con.execute(
            f"CREATE OR REPLACE TABLE {quote_ident(table)} AS "
            f"SELECT row_number() OVER () AS _row, {casts} FROM read_parquet({_sql_str(path)})"
        )
    except duckdb.Error as exc:
        raise InputError(
            f"{path}: cannot be read as Parquet ({_first_line(exc)}).",
            hint="Check that the file is a complete Parquet file (not truncated).",
        ) from exc
    n_ok = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchall()[0][0]
    return RawSource(path, table, names, "parquet", int(n_ok))


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200]
