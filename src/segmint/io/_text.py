"""Delimited and whitespace-separated text: encoding, compression, rejects and row numbers.

The encoding is decided from a byte-order mark, the pattern of NUL bytes (UTF-16 without a BOM)
and trial decoding: a file that is valid UTF-8 all through is UTF-8 (checked in a streaming pass,
about a second per GB); a file that is plain ASCII at the start and not UTF-8 later is cp1252 (the
Windows export default, a superset of latin-1's printable characters), or latin-1 where cp1252
has no character. Anything other than UTF-8 is transcoded to a temporary UTF-8 file in 4 MiB
blocks, so memory stays flat, and DuckDB reads that.

Lines the CSV reader cannot split into the header's number of fields are kept as rejects, and
``_row`` stays the record's data row in the file: accepted rows are renumbered around the
rejects (an ASOF join on the number of accepted rows before each reject).
"""

from __future__ import annotations

import bisect
import codecs
import gzip
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb

from segmint.exceptions import InputError
from segmint.io._raw import (
    RawSource,
    _columns,
    _count,
    _first_line,
    _sql_str,
    quote_ident,
    reject_record,
    unique_names,
)

HEAD_BYTES = 1 << 16
BLOCK = 1 << 22
_RFC4180, _NONE = ", quote='\"', escape='\"'", ("", "(empty)")  # when the sample has no quote

# leading bytes of formats that are not text, with what to tell the user
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook?)", "Save it as .xlsx or export CSV."),
    (b"PAR1", "a Parquet file", "Give it the extension .parquet."),
    (b"$FL2", "an SPSS data file", "Give it the extension .sav."),
    (b"$FL3", "an SPSS data file", "Give it the extension .sav."),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls / OLE document", "Save it as .xlsx or CSV."),
    (b"%PDF", "a PDF document", "Export the data itself as CSV."),
    (b"\x89PNG", "a PNG image", "Name a data file."),
    (b"\xff\xd8\xff", "a JPEG image", "Name a data file."),
    (b"SQLite format 3\x00", "an SQLite database", "Read it with sqlite:///<path>#<table>."),
    (b"BZh", "a bzip2 archive", "Decompress it first."),
    (b"\xfd7zXZ\x00", "an xz archive", "Decompress it first."),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "Decompress it first."),
    (b"\x28\xb5\x2f\xfd", "a zstd archive", "Decompress it first."),
)


@dataclass
class TextInfo:
    """What the first bytes of a text file say about it.

    ``mixed_newlines``: the head ends some lines in LF and others in CRLF (a header written by
    one tool, rows by another); such a file is copied with every CRLF made LF before reading,
    which DuckDB's sniffer cannot do for a file that mixes them.
    """

    encoding: str
    compression: str | None
    head: str
    transcode: bool
    mixed_newlines: bool = False


def _open_binary(path: Path, compression: str | None) -> BinaryIO:
    if compression == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _is_gzip(path: Path) -> bool:
    if path.suffix.lower() in (".gz", ".gzip"):
        return True
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _read_head(path: Path, compression: str | None) -> bytes:
    try:
        with _open_binary(path, compression) as handle:
            return handle.read(HEAD_BYTES)
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(
            f"{path}: the compressed file is damaged or truncated ({_first_line(exc)}).",
            hint="Copy or download the file again; check it opens with gunzip.",
        ) from exc


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls > 0.02 * max(len(head), 1)


def _utf16_without_bom(head: bytes) -> str | None:
    sample = head[:4096]
    half = max(len(sample) // 2, 1)
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > 0.3 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.3 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


# a well-formed multi-byte UTF-8 sequence (two to four bytes)
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _first_invalid_utf8(data: bytes) -> int:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError as exc:
        return exc.start
    return len(data)


def _decodes(head: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def detect_text(path: Path, encoding: str | None = None) -> TextInfo:
    """Decide compression and encoding of a text file from its head (and, for UTF-8, all of it).

    Raises
    ------
    InputError
        The file is empty, binary, damaged, or not in the encoding given or detected.
    """
    compression = "gzip" if _is_gzip(path) else None
    head = _read_head(path, compression)
    if not head.strip():
        raise InputError(f"{path}: the file is empty.", hint="Export the data again.")
    if compression is None:
        for magic, what, hint in _MAGIC:
            if head.startswith(magic):
                raise InputError(f"{path}: is {what}, not a delimited text file.", hint=hint)
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise InputError(
                f"{path}: unknown encoding '{encoding}'.",
                hint="Use a name such as utf-8, utf-16, cp1252 or latin-1.",
            ) from exc
        name = codecs.lookup(encoding).name
        if name in ("utf-8", "utf-8-sig") and head.startswith(codecs.BOM_UTF8):
            name = "utf-8-sig"
        if name in ("utf-8", "utf-8-sig"):
            _check_utf8(path, compression, name, head_had_text=True)
        info = TextInfo(name, compression, "", name not in ("utf-8", "utf-8-sig"))
    elif head.startswith(codecs.BOM_UTF8):
        _check_utf8(path, compression, "utf-8-sig", head_had_text=True)
        info = TextInfo("utf-8-sig", compression, "", False)
    elif head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) and head[2:4] == b"\x00\x00":
        info = TextInfo("utf-32", compression, "", True)
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        info = TextInfo("utf-16", compression, "", True)
    elif (utf16 := _utf16_without_bom(head)) is not None:
        info = TextInfo(utf16, compression, "", True)
    elif _looks_binary(head):
        raise InputError(
            f"{path}: is a binary file, not delimited text.",
            hint="Export the data as CSV (or give a .parquet, .xlsx, .json or .sav file).",
        )
    elif _decodes(head, "utf-8"):
        non_ascii = any(b > 127 for b in head)
        bad = _check_utf8(path, compression, "utf-8", head_had_text=non_ascii)
        encoding = "cp1252" if bad else "utf-8"
        info = TextInfo(encoding, compression, "", bool(bad))
    else:
        bad = _first_invalid_utf8(head)
        if _UTF8_MULTIBYTE.search(head[:bad]):
            line = head[:bad].count(b"\n") + 1
            raise InputError(
                f"{path}: line {line} is not valid UTF-8, although the lines before are.",
                hint="The file mixes encodings: re-export it as UTF-8, or give its encoding "
                "(e.g. --encoding cp1252).",
            )
        name = "cp1252" if _decodes(head, "cp1252") else "latin-1"
        info = TextInfo(name, compression, "", True)
    try:
        info.head = codecs.getincrementaldecoder(info.encoding)().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, info.encoding, exc.start, head) from exc
    if info.encoding == "cp1252" and not _decodes(head, "cp1252"):
        info.encoding = "latin-1"
    if _mixed_newlines(info.head):
        info.mixed_newlines = True
        info.transcode = True
    return info


def _mixed_newlines(head: str) -> bool:
    """Whether ``head`` ends some lines in LF and others in CRLF (the last, maybe cut, line
    aside)."""
    text = head.rsplit("\n", 1)[0] + "\n" if "\n" in head else head
    crlf = text.count("\r\n")
    return 0 < crlf < text.count("\n")


def _decode_error(path: Path, encoding: str, offset: int, data: bytes | None) -> InputError:
    line = data[:offset].count(b"\n") + 1 if data is not None else None
    where = f"line {line}" if line is not None else f"byte {offset}"
    return InputError(
        f"{path}: {where} is not valid {encoding} text.",
        hint="Re-export the file as UTF-8, or give its encoding (e.g. --encoding cp1252).",
    )


def _check_utf8(path: Path, compression: str | None, encoding: str, head_had_text: bool) -> bool:
    """Stream the whole file through a UTF-8 decoder; True when it is not UTF-8 after all.

    A file whose head already holds non-ASCII UTF-8 but breaks later has mixed encodings: that
    is an error, because re-reading it as cp1252 would garble the UTF-8 part.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    newlines = 0
    with _open_binary(path, compression) as handle:
        while True:
            try:
                block = handle.read(BLOCK)
            except (EOFError, OSError, zlib.error) as exc:
                raise InputError(
                    f"{path}: the compressed file is damaged or truncated ({_first_line(exc)}).",
                    hint="Copy or download the file again; check it opens with gunzip.",
                ) from exc
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                if head_had_text:
                    line = newlines + block[: max(exc.start, 0)].count(b"\n") + 1
                    raise InputError(
                        f"{path}: line {line} is not valid UTF-8, although the lines before are.",
                        hint="The file mixes encodings: re-export it as UTF-8, or give its "
                        "encoding (e.g. --encoding cp1252).",
                    ) from exc
                return True
            if not block:
                return False
            newlines += block.count(b"\n")


@contextmanager
def utf8_file(path: Path, info: TextInfo) -> Iterator[Path]:
    """The file itself when it is UTF-8, else a temporary UTF-8 copy (streamed, removed after)."""
    if not info.transcode:
        yield path
        return
    tmpdir = Path(tempfile.mkdtemp(prefix="segmint-"))
    target = tmpdir / (path.stem.removesuffix(".csv") + ".utf8.csv")
    try:
        _transcode(path, info, target)
        yield target
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _transcode(path: Path, info: TextInfo, target: Path) -> None:
    """Stream ``path`` into ``target`` as UTF-8, in blocks; with ``info.mixed_newlines`` every
    CRLF becomes LF (a CR at the end of a block waits for the next one)."""
    decoder = codecs.getincrementaldecoder(info.encoding)()
    consumed, newlines = 0, 0
    carry = ""
    with _open_binary(path, info.compression) as src, target.open("wb") as dst:
        while True:
            try:
                block = src.read(BLOCK)
            except (EOFError, OSError, zlib.error) as exc:
                raise InputError(
                    f"{path}: the compressed file is damaged or truncated ({_first_line(exc)}).",
                    hint="Copy or download the file again; check it opens with gunzip.",
                ) from exc
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                if info.encoding == "cp1252":  # a byte cp1252 leaves undefined: latin-1 has all
                    info.encoding = "latin-1"
                    _transcode(path, info, target)
                    return
                line = newlines + block[: max(exc.start, 0)].count(b"\n") + 1
                if not block:
                    raise InputError(
                        f"{path}: ends in the middle of a character ({info.encoding}): the file "
                        f"is truncated.",
                        hint="Copy or export the file again.",
                    ) from exc
                raise InputError(
                    f"{path}: line {line} is not valid {info.encoding} text.",
                    hint="Give the file's encoding (e.g. --encoding cp1252) or re-export it "
                    "as UTF-8.",
                ) from exc
            if info.mixed_newlines:
                text = carry + text
                carry = "\r" if block and text.endswith("\r") else ""
                text = (text[:-1] if carry else text).replace("\r\n", "\n")
            dst.write(text.lstrip("\ufeff").encode("utf-8") if consumed == 0 else text.encode())
            if not block:
                return
            consumed += len(block)
            newlines += block.count(b"\n")


def sniff_whitespace(head: str) -> bool:
    """True for text whose fields are separated by runs of spaces (e.g. the CDNOW log)."""
    lines = [line.strip() for line in head.splitlines()[:-1] or head.splitlines()]
    lines = [line for line in lines if line][:20]
    if not lines:
        return False
    if any(ch in line for line in lines for ch in ",;\t|"):
        return False
    counts = {len(re.split(r"\s+", line)) for line in lines}
    return len(counts) == 1 and counts.pop() >= 2


def read_text(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    table: str,
    *,
    header: bool | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> RawSource:
    """Read delimited or whitespace-separated text (optionally gzip-compressed) into ``table``."""
    info = detect_text(path, encoding)
    with utf8_file(path, info) as source:
        compression = info.compression if source == path else None
        if delimiter is None and sniff_whitespace(info.head):
            raw = _read_whitespace(con, path, source, compression, table, header)
        else:
            raw = _read_csv(con, path, source, compression, table, header, delimiter)
    raw.encoding = info.encoding
    if info.mixed_newlines:
        raw.notes.append("lines end in both LF and CRLF: read with every CRLF as LF")
    return raw


def _sniff(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: Path,
    compression: str | None,
    header: bool | None,
    delimiter: str | None,
) -> tuple[str, bool, int, str]:
    """Delimiter, header, rows to skip and quoting (RFC 4180 when the sniffer saw no quote)."""
    options = ", ignore_errors=true, null_padding=false"
    if header is not None:
        options += f", header={str(header).lower()}"
    if delimiter is not None:
        options += f", delim={_sql_str(delimiter)}"
    if compression:
        options += f", compression={_sql_str(compression)}"
    try:
        found = con.execute(
            f"SELECT Delimiter, HasHeader, SkipRows, Columns, Quote "
            f"FROM sniff_csv({_sql_str(source)}{options})"
        ).fetchall()
    except duckdb.Error as exc:
        raise InputError(
            f"{path}: cannot be read as a delimited text file ({_first_line(exc)}).",
            hint="Check that it is a complete CSV/TSV export, not a binary or damaged file.",
        ) from exc
    delim, has_header, skip, columns, quote = found[0]
    if has_header:
        unique_names([c["name"] for c in columns], str(path))  # refuses a column named _row
    return str(delim), bool(has_header), int(skip or 0), _RFC4180 if quote in _NONE else ""


def _read_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: Path,
    compression: str | None,
    table: str,
    header: bool | None,
    delimiter: str | None,
) -> RawSource:
    delim, has_header, skip, quoting = _sniff(con, path, source, compression, header, delimiter)
    options = (
        "all_varchar=true, ignore_errors=true, store_rejects=true, null_padding=false, "
        "rejects_table='_segmint_rejects', rejects_scan='_segmint_scans', "
        f"delim={_sql_str(delim)}, header={str(has_header).lower()}, skip={skip}{quoting}"
    )
    options += f", compression={_sql_str(compression)}" if compression else ""
    try:
        con.execute("DROP TABLE IF EXISTS _segmint_rejects; DROP TABLE IF EXISTS _segmint_scans")
        con.execute(
            f"CREATE OR REPLACE TABLE {quote_ident(table)} AS "
            f"SELECT row_number() OVER () AS _row, * "
            f"FROM read_csv({_sql_str(source)}, {options})"
        )
        rejects = con.execute(
            "SELECT line, min(line_byte_position), min(error_type), min(error_message), "
            "min(csv_line) "
            "FROM _segmint_rejects GROUP BY line ORDER BY line"
        ).fetchall()
        con.execute("DROP TABLE IF EXISTS _segmint_rejects; DROP TABLE IF EXISTS _segmint_scans")
    except duckdb.Error as exc:
        message = _first_line(exc)
        if "_row" in message and "duplicate" in message.lower():
            message = "it has a column named _row, which segmint reserves"
        raise InputError(
            f"{path}: cannot be read as a delimited text file ({message}).",
            hint="Check that it is a complete CSV/TSV export, not a binary or damaged file.",
        ) from exc
    columns = [c for c in _columns(con, table) if c != "_row"]
    n_ok = _count(con, table)
    lead = skip + (1 if has_header else 0)
    reject_rows: list[dict] = []
    if rejects:
        blanks = _blank_line_offsets(source, compression)
        for line, byte_pos, kind, message, text in rejects:
            before = bisect.bisect_left(blanks, int(byte_pos or 0))
            row = int(line) - lead - before
            reject_rows.append(
                {
                    "row": row,
                    "reason": "malformed_line",
                    "detail": f"{str(kind).lower()}: {_first_line(Exception(message))}",
                    "record": reject_record(row, text),
                }
            )
        _renumber(con, table, [r["row"] for r in reject_rows])
    if n_ok == 0 and not reject_rows:
        raise InputError(
            f"{path}: has a header but no data rows.", hint="Export the data again with rows."
        )
    if n_ok == 0:
        first = reject_rows[0]
        raise InputError(
            f"{path}: none of the {len(reject_rows)} data rows has the {len(columns)} columns "
            f"of the header (row {first['row']}: {first['detail']}).",
            hint="The columns are inconsistent: check the delimiter and quoting of the export.",
        )
    if len(columns) == 1:
        raise InputError(
            f"{path}: only one column ('{columns[0]}') was found; the delimiter could not be "
            f"detected.",
            hint="segmint needs several columns separated by , ; | or tab; give the delimiter "
            "if it is another one.",
        )
    return RawSource(
        path,
        table,
        columns,
        "csv",
        n_ok + len(reject_rows),
        reject_rows,
        delimiter=delim,
        header=has_header,
    )


def _blank_line_offsets(source: Path, compression: str | None) -> list[int]:
    """Byte offsets of the empty lines in the file (DuckDB skips them but counts their lines)."""
    offsets: list[int] = []
    base = 0
    tail = b""
    with _open_binary(source, compression) as handle:
        while True:
            block = handle.read(BLOCK)
            if not block:
                break
            data = tail + block
            start = base - len(tail)
            for pattern in (b"\n\n", b"\n\r\n"):
                i = data.find(pattern)
                while i != -1:
                    offsets.append(start + i + 1)
                    i = data.find(pattern, i + 1)
            tail = data[-2:]
            base += len(block)
    return sorted(set(offsets))


def _renumber(con: duckdb.DuckDBPyConnection, table: str, reject_rows: list[int]) -> None:
    """Give accepted rows their data row in the file, around the rejected ones.

    Accepted row ``i`` (1-based, in file order) becomes ``i + k`` where ``k`` is the number of
    rejects before it. With up to 4096 runs of rejects the shift is a balanced tree of ``CASE``
    comparisons (a dozen per row) in one streaming, order-preserving projection; beyond that an
    ASOF join does it.
    """
    # accepted rows numbered above ``lo`` have (at least) ``k`` rejects before them
    runs: dict[int, int] = {}
    for k, row in enumerate(sorted(reject_rows), start=1):
        runs[row - k] = k
    los = sorted(runs)
    t = quote_ident(table)
    if len(los) <= 4096:

        def tree(a: int, b: int) -> str:
            if b - a == 1:
                return f"CASE WHEN _row > {los[a]} THEN {runs[los[a]]} ELSE {_below(a)} END"
            mid = (a + b) // 2
            return f"CASE WHEN _row > {los[mid]} THEN {tree(mid, b)} ELSE {tree(a, mid)} END"

        def _below(a: int) -> int:
            return runs[los[a - 1]] if a > 0 else 0

        con.execute(
            f"CREATE OR REPLACE TABLE {t} AS "
            f"SELECT _row + ({tree(0, len(los))}) AS _row, * EXCLUDE (_row) FROM {t}"
        )
        return
    con.execute("CREATE OR REPLACE TEMP TABLE _segmint_shift (lo BIGINT, k BIGINT)")
    con.executemany("INSERT INTO _segmint_shift VALUES (?, ?)", [(lo, runs[lo]) for lo in los])
    con.execute(f"""
        CREATE OR REPLACE TABLE {t} AS
        SELECT r._row + coalesce(s.k, 0) AS _row, r.* EXCLUDE (_row)
        FROM {t} r ASOF LEFT JOIN _segmint_shift s ON r._row > s.lo
        ORDER BY 1
    """)
    con.execute("DROP TABLE _segmint_shift")


def _read_whitespace(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: Path,
    compression: str | None,
    table: str,
    header: bool | None,
) -> RawSource:
    comp = f", compression={_sql_str(compression)}" if compression else ""
    lines = f"""
        SELECT row_number() OVER () AS _line,
               regexp_split_to_array(trim(line), '\\s+') AS fields, trim(line) AS text
        FROM read_csv({_sql_str(source)}, columns={{'line': 'VARCHAR'}}, header=false,
                      delim='\\x01', quote='', escape='', all_varchar=true{comp})
        WHERE trim(line) <> ''
    """
    try:
        found = con.execute(f"SELECT fields FROM ({lines}) WHERE _line = 1").fetchall()
    except duckdb.Error as exc:
        raise InputError(
            f"{path}: cannot be read as text ({_first_line(exc)}).",
            hint="Check that the file is complete and not damaged.",
        ) from exc
    if not found:
        raise InputError(f"{path}: the file is empty.", hint="Export the data again.")
    tokens = list(found[0][0])
    if header is None:
        header = not any(re.fullmatch(r"[-+]?[\d.,]+", t) for t in tokens)
    if header:
        names = unique_names(tokens, str(path))
    else:
        names = [f"column_{i + 1}" for i in range(len(tokens))]
    select = ", ".join(f"fields[{i + 1}] AS {quote_ident(n)}" for i, n in enumerate(names))
    skip = 1 if header else 0
    con.execute(
        f"CREATE OR REPLACE TABLE {quote_ident(table)} AS "
        f"SELECT _line - {skip} AS _row, {select} FROM ({lines}) "
        f"WHERE _line > {skip} AND len(fields) = {len(names)} ORDER BY _row"
    )
    bad = con.execute(
        f"SELECT _line - {skip}, len(fields), text FROM ({lines}) "
        f"WHERE _line > {skip} AND len(fields) <> {len(names)} ORDER BY 1"
    ).fetchall()
    rejects = [
        {
            "row": int(row),
            "reason": "malformed_line",
            "detail": f"expected {len(names)} fields, found {n}",
            "record": reject_record(int(row), text),
        }
        for row, n, text in bad
    ]
    n_ok = _count(con, table)
    if n_ok == 0 and not rejects:
        raise InputError(
            f"{path}: has a header but no data rows.", hint="Export the data again with rows."
        )
    if n_ok == 0:
        raise InputError(
            f"{path}: none of the {len(rejects)} data rows has the {len(names)} fields of the "
            f"first line (row {rejects[0]['row']}: {rejects[0]['detail']}).",
            hint="The columns are inconsistent: check the export.",
        )
    return RawSource(
        path,
        table,
        names,
        "whitespace",
        n_ok + len(rejects),
        rejects,
        delimiter=" ",
        header=header,
    )
