"""The Excel reader: one worksheet of an ``.xlsx`` workbook, streamed with openpyxl.

:func:`read_excel` picks the sheet (by name or 1-based position, the first by default);
:func:`_excel_rows` finds the header under any title rows (:func:`_excel_head`,
:func:`_header_start`, :func:`_is_header`) and writes the rows in chunks of
:data:`CHUNK_ROWS`, rejecting a row with values beyond the header's columns.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from segmint.exceptions import InputError
from segmint.io._formats import CHUNK_ROWS
from segmint.io._raw import (
    RawSource,
    TextTableWriter,
    _first_line,
    reject_record,
    to_text,
    unique_names,
)


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


def _excel_head(
    rows: Iterator[tuple[Any, ...]], path: Path, sheet: Any
) -> tuple[list[tuple[int, list[Any]]], int]:
    """The first (up to 20) non-empty rows of ``rows`` with their sheet row numbers, and the
    number of the last row read; the rest of ``rows`` is left to read."""
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
    return head, last_row


def _header_start(head: list[tuple[int, list[Any]]]) -> int:
    """Position in ``head`` of the header: rows above it are title rows."""
    widths = [sum(not _blank(v) for v in values) for _, values in head]
    # the header is the first row as wide as the rows usually are (the most common width)
    typical = max(set(widths), key=lambda w: (widths.count(w), w))
    return next(i for i, w in enumerate(widths) if w >= typical)


def _is_header(values: list[Any]) -> bool:
    """Whether a row reads as a header: every value in it is text, and none a number."""
    texts = [v for v in values if not _blank(v)]
    return all(isinstance(v, str) and not re.fullmatch(r"[-+]?[\d.,]+", v.strip()) for v in texts)


def _excel_rows(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, sheet: Any, header: bool | None
) -> RawSource:
    rows = sheet.iter_rows(values_only=True)
    head, last_row = _excel_head(rows, path, sheet)
    start = _header_start(head) if header is not False else 0
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
        header = _is_header(first)
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
