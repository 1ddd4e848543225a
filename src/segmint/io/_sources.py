"""Reading user data into DuckDB, untouched, with every physical record accounted for.

A source is first loaded as text (every column ``VARCHAR``) into a raw table with a ``_row``
column: the 1-based data row in the source. Types are applied later, in validation, so that a
value that does not parse quarantines one row with a reason instead of failing the whole file.
Records the reader cannot split into the right number of fields are kept too, as rejects with
their row.

Sources: delimited text (CSV/TSV/PSV, delimiter and encoding detected, optionally gzip),
whitespace-separated text, Parquet, Excel ``.xlsx``, JSON and NDJSON, SPSS ``.sav`` and any SQL
database SQLAlchemy reaches (``postgresql://user@host/db#table``).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from segmint.exceptions import InputError
from segmint.io._database import is_database_url, read_sql, restore_database_url
from segmint.io._excel import read_excel
from segmint.io._formats import drop_view, read_json, read_parquet, read_sav
from segmint.io._raw import (
    RawSource,
    _columns,
    _first_line,
    _sql_str,
    quote_ident,
)
from segmint.io._text import read_text

__all__ = [
    "FORMATS",
    "RawSource",
    "_columns",
    "_first_line",
    "_sql_str",
    "quote_ident",
    "read_source",
    "source_format",
]

_TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".dat", ".psv", ".tab", ""}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_JSON_SUFFIXES = {".json", ".ndjson", ".jsonl"}
_SAV_SUFFIXES = {".sav", ".zsav"}

FORMATS = {
    "csv": "delimited text (.csv .tsv .txt .dat .psv .tab, optionally .gz): delimiter, encoding "
    "and header detected",
    "whitespace": "text with fields separated by runs of spaces (such as the CDNOW log)",
    "parquet": ".parquet / .pq",
    "xlsx": "Excel workbook .xlsx / .xlsm (one sheet: file.xlsx#Sheet or sheet=...)",
    "json": "a JSON array of objects (.json)",
    "ndjson": "one JSON object per line (.ndjson / .jsonl / .json)",
    "sav": "SPSS .sav / .zsav (value labels as categories)",
    "sql": "a database URL with a table or query: postgresql://user@host:5432/db#orders",
}


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found.", hint="Check the path and the file name.")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a file.", hint="Name a data file.")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied.", hint="Make the file readable by this user.")
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except PermissionError as exc:
        raise InputError(
            f"{path}: permission denied.", hint="Make the file readable by this user."
        ) from exc
    except OSError as exc:
        raise InputError(
            f"{path}: cannot be read ({exc.strerror or exc}).", hint="Check the file."
        ) from exc
    if not head.strip():
        raise InputError(f"{path}: the file is empty.", hint="Export the data again.")


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        return suffixes[-2] if len(suffixes) > 1 else ""
    return path.suffix.lower()


def source_format(path: str | Path) -> str:
    """The reader a path goes to: ``text``, ``parquet``, ``xlsx``, ``json``, ``sav`` or ``sql``.

    Raises
    ------
    InputError
        The extension is not one segmint reads.
    """
    spec = str(path)
    if not Path(spec).exists():
        spec = restore_database_url(spec)
    if is_database_url(spec) and not Path(spec).exists():
        return "sql"
    suffix = _suffix(Path(spec))
    if suffix in _TEXT_SUFFIXES:
        return "text"
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    if suffix in _EXCEL_SUFFIXES:
        return "xlsx"
    if suffix in _JSON_SUFFIXES:
        return "json"
    if suffix in _SAV_SUFFIXES:
        return "sav"
    if suffix == ".xls":
        raise InputError(
            f"{spec}: is an old Excel .xls workbook, which segmint does not read.",
            hint="Open it in Excel or LibreOffice and save it as .xlsx (or export CSV).",
        )
    raise InputError(
        f"{spec}: unknown file type '{suffix}'.",
        hint="segmint reads .csv .tsv .txt (delimited or whitespace-separated, optionally .gz), "
        ".parquet, .xlsx, .json/.ndjson, .sav and database URLs (postgresql://...#table).",
    )


def read_source(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    table: str,
    *,
    header: bool | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    sql_table: str | None = None,
    query: str | None = None,
    typed: bool = False,
) -> RawSource:
    """Load a source into ``table`` on ``con`` as text columns plus ``_row``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection to load into.
    path : str or Path
        A file (CSV/TSV, whitespace text, optionally gzip; Parquet; ``.xlsx``; JSON/NDJSON;
        SPSS ``.sav``) or a database URL. ``file.xlsx#Sheet2`` names a sheet;
        ``postgresql://user@host/db#orders`` a table and ``...#SELECT ...`` a query.
    table : str
        Name of the raw table to create (replaced if it exists).
    header : bool, optional
        Whether the first line holds column names; sniffed when ``None`` (text and Excel).
    sheet : str or int, optional
        Excel sheet name or 1-based position (default: the first sheet).
    encoding : str, optional
        Text encoding; detected when ``None`` (UTF-8 with or without BOM, UTF-16, cp1252).
    delimiter : str, optional
        Field delimiter of delimited text; sniffed when ``None``.
    sql_table, query : str, optional
        For a database URL: the table (``schema.table``) or the query to read.
    typed : bool, default False
        Parquet only: keep numbers, dates and timestamps in their type and read the file in
        place (a view, see :func:`~segmint.io._formats.read_parquet`); for loaders that
        accept typed columns (:func:`~segmint.io.load_transactions`).

    Returns
    -------
    RawSource

    Raises
    ------
    InputError
        The source is missing, unreadable, empty, damaged, or of a format segmint cannot read;
        the message names the file (and the row or column where it applies) and has a hint.
    """
    spec = str(path)
    drop_view(con, table)  # a typed Parquet read leaves a view; any reader may replace it
    if not Path(spec).exists():
        spec = restore_database_url(spec)
    if is_database_url(spec) and not Path(spec).exists():
        return read_sql(con, spec, table, sql_table=sql_table, query=query)
    file = Path(spec)
    if not file.exists() and "#" in file.name:
        base, _, fragment = spec.rpartition("#")
        if Path(base).exists():
            file, sheet = Path(base), sheet if sheet is not None else fragment
    if not file.exists() or file.is_dir():
        _check_readable(file)
    kind = source_format(file)
    _check_readable(file)
    if kind == "parquet":
        return read_parquet(con, file, table, typed=typed)
    if kind == "xlsx":
        return read_excel(con, file, table, sheet=sheet, header=header)
    if kind == "json":
        return read_json(con, file, table)
    if kind == "sav":
        return read_sav(con, file, table)
    return read_text(con, file, table, header=header, encoding=encoding, delimiter=delimiter)
