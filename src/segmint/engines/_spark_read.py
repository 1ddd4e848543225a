"""Sources read on Spark as text: a temporary view of text columns plus ``_row``, as on DuckDB.

Sources: Parquet (a file or a folder of files), delimited text (delimiter and header sniffed by
DuckDB on the first lines; UTF-8, cp1252 or latin-1, optionally gzip), whitespace-separated text
(such as the CDNOW log) and tables of the Spark catalogue (``table:db.orders``). Records that do
not split into the source's columns keep their text in ``_corrupt_record`` (quarantined as
``malformed_line`` by the validation). ``_row`` is the record's position in the order Spark
reads it: the file order for one file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import duckdb
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from segmint._logging import logger
from segmint.engines._spark import persisted
from segmint.exceptions import InputError
from segmint.io._raw import RawSource, _sql_str, unique_names
from segmint.io._text import detect_text, sniff_whitespace

TABLE_PREFIX = "table:"
CORRUPT = "_corrupt_record"
_PARQUET = {".parquet", ".pq"}
_TEXT = {".csv", ".tsv", ".txt", ".dat", ".psv", ".tab", ""}
_SPARK_CHARSETS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1252": "windows-1252"}
_SPARK_CHARSETS["latin-1"] = "ISO-8859-1"
# cached raw sources by view name (freed by release_raw)
_CACHED: dict[str, DataFrame] = {}
# a Spark row id: partition index in the upper 31 bits, position in the partition below
_PARTITION_SHIFT = 33


def _col(name: str) -> Any:
    """A Spark column by its exact name (dots and spaces included)."""
    return F.col("`" + name.replace("`", "``") + "`")


def source_fingerprint(source: str | Path) -> dict[str, Any]:
    """Size and SHA-256 of a source: a file (as ``segmint run`` reports it), a folder of files
    (the digest of their names and digests) or a Spark table (its name only)."""
    text = str(source)
    if text.startswith(TABLE_PREFIX):
        return {"path": text, "bytes": None, "sha256": hashlib.sha256(text.encode()).hexdigest()}
    path = Path(source)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digests = []
    for file in files:
        digest = hashlib.sha256()
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digests.append((file, digest.hexdigest()))
    if not path.is_dir():
        sha = digests[0][1]
    else:
        listing = "".join(f"{f.relative_to(path)}\0{d}\n" for f, d in digests)
        sha = hashlib.sha256(listing.encode()).hexdigest()
    size = sum(f.stat().st_size for f in files)
    return {"path": str(path), "bytes": size, "sha256": sha}


def _numbered(frame: DataFrame, view: str) -> tuple[DataFrame, int]:
    """``frame`` cached, with ``_row`` = 1, 2, ... in read order; and its number of rows.

    No single-partition sort: the id of ``monotonically_increasing_id`` holds the partition
    index and the position in the partition, and one count per partition (which also fills the
    cache) gives each partition's offset (the zipWithIndex idea, in SQL).
    """
    cached = persisted(frame.withColumn("_id", F.monotonically_increasing_id()))
    _CACHED[view] = cached
    part = F.shiftright(F.col("_id"), _PARTITION_SHIFT)
    counts = dict(cached.groupBy(part.alias("p")).count().collect())
    offsets, total = [], 0
    for p in range(max(counts, default=-1) + 1):
        offsets.append(total)
        total += counts.get(p, 0)
    position = F.col("_id").bitwiseAND((1 << _PARTITION_SHIFT) - 1)
    offset = F.element_at(F.array(*[F.lit(o) for o in offsets or [0]]), (part + 1).cast("int"))
    row = (offset + position + 1).cast("long").alias("_row")
    return cached.select(row, *[_col(c) for c in frame.columns]), total


def release_raw(spark: SparkSession, view: str) -> None:
    """Free the cached raw source behind ``view`` and drop the view."""
    cached = _CACHED.pop(view, None)
    if cached is not None:
        cached.unpersist()
    spark.catalog.dropTempView(view)


def _read_text(
    spark: SparkSession, path: Path, *, encoding: str | None, delimiter: str | None
) -> tuple[DataFrame, list[str], str, dict[str, Any]]:
    info = detect_text(path, encoding)
    charset = _SPARK_CHARSETS.get(info.encoding)
    if charset is None:
        raise InputError(
            f"{path}: is {info.encoding} text, which the Spark engine does not read.",
            hint="Re-export it as UTF-8, or run with --engine duckdb.",
        )
    if delimiter is None and sniff_whitespace(info.head):
        lines = spark.read.option("encoding", charset).text(str(path))
        lines = lines.where(F.trim("value") != "")
        first = lines.first()
        tokens = first["value"].split() if first is not None else []
        header = not any(re.fullmatch(r"[-+]?[\d.,]+", t) for t in tokens)  # as on DuckDB
        names = unique_names(tokens, str(path)) if header else []
        names = names or [f"column_{i + 1}" for i in range(len(tokens))]
        fields = F.split(F.trim("value"), r"\s+")
        frame = lines.select(
            *[F.element_at(fields, i + 1).alias(n) for i, n in enumerate(names)],
            F.when(F.size(fields) != len(names), F.col("value")).alias(CORRUPT),
        )
        return frame, names, "whitespace", {"delimiter": " ", "header": header}
    sniff = duckdb.connect()
    try:
        options = "" if delimiter is None else f", delim={_sql_str(delimiter)}"
        delim, has_header, columns, escape = sniff.execute(
            f"SELECT Delimiter, HasHeader, Columns, Escape FROM sniff_csv({_sql_str(path)}, "
            f"ignore_errors=true{options})"
        ).fetchall()[0]
    except duckdb.Error as exc:
        raise InputError(
            f"{path}: cannot be read as a delimited text file ({exc}).",
            hint="Check that it is a complete CSV/TSV export.",
        ) from exc
    finally:
        sniff.close()
    if has_header:
        names = unique_names([str(c["name"]).lstrip("\ufeff") for c in columns], str(path))
    else:
        names = [f"column_{i + 1}" for i in range(len(columns))]
    schema = T.StructType(
        [T.StructField(n, T.StringType()) for n in names] + [T.StructField(CORRUPT, T.StringType())]
    )
    frame = (
        spark.read.schema(schema)
        .options(
            header=bool(has_header),
            sep=str(delim),
            encoding=charset,
            mode="PERMISSIVE",
            # the escape DuckDB's sniffer found (a backslash), else RFC 4180's doubled quote
            escape='"' if escape in ("", "(empty)") else str(escape),
            columnNameOfCorruptRecord=CORRUPT,
            enforceSchema=True,
            ignoreLeadingWhiteSpace=False,
            ignoreTrailingWhiteSpace=False,
        )
        .csv(str(path))
    )
    return frame, names, "csv", {"delimiter": str(delim), "header": has_header}


def read_raw_spark(
    spark: SparkSession,
    source: str | Path,
    view: str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> RawSource:
    """Read ``source`` into the temporary view ``view``: text columns plus ``_row``.

    Parameters
    ----------
    spark : SparkSession
    source : str or Path
        A Parquet file or folder, a delimited or whitespace-separated text file, or
        ``table:<name>`` for a table of the Spark catalogue.
    view : str
        Name of the temporary view to create (replaced if it exists). Records that do not
        split into the source's columns keep their text in the column ``_corrupt_record``.

    Returns
    -------
    RawSource
        With ``table`` = ``view``; ``n_read`` counts every record, malformed ones included.

    Raises
    ------
    InputError
        The source is missing, empty or of a format the Spark engine does not read.
    """
    text = str(source)
    extra: dict[str, Any] = {}
    if text.startswith(TABLE_PREFIX):
        name = text.removeprefix(TABLE_PREFIX)
        if not spark.catalog.tableExists(name):
            raise InputError(f"{text}: no such table in the Spark catalogue.", hint="Check it.")
        typed, fmt, path = spark.table(name), "table", Path(text)
        names = unique_names(typed.columns, text)
        frame = typed.toDF(*names)
    else:
        path = Path(source)
        if not path.exists():
            raise InputError(f"{path}: file not found.", hint="Check the path and the file name.")
        suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".gzip")]
        suffix = suffixes[-1] if suffixes else ""
        if path.is_dir() or suffix in _PARQUET:
            typed, fmt = spark.read.parquet(str(path)), "parquet"
            names = unique_names(typed.columns, str(path))
            frame = typed.toDF(*names)
        elif suffix in _TEXT:
            frame, names, fmt, extra = _read_text(
                spark, path, encoding=encoding, delimiter=delimiter
            )
        else:
            raise InputError(
                f"{path}: the Spark engine reads Parquet, CSV/TSV and whitespace-separated "
                f"text, not '{suffix}'.",
                hint="Convert it to Parquet, or run it with --engine duckdb.",
            )
    corrupt = [F.col(CORRUPT)] if CORRUPT in frame.columns else []
    release_raw(spark, view)
    raw, n_read = _numbered(
        frame.select(*[_col(n).cast("string").alias(n) for n in names], *corrupt), view
    )
    if fmt == "whitespace" and extra.get("header"):  # the header is the first non-blank line
        raw = raw.where("_row > 1").withColumn("_row", F.col("_row") - 1)
        n_read -= 1
    if n_read <= 0:
        release_raw(spark, view)
        raise InputError(f"{path}: the source has no rows.", hint="Export the data again.")
    raw.createOrReplaceTempView(view)
    logger.info("spark: read %s (%s): %d records", path, fmt, n_read)
    return RawSource(
        path,
        view,
        names,
        fmt,
        n_read,
        delimiter=extra.get("delimiter"),
        header=extra.get("header", True),
        source_types=_source_types(frame) if fmt in ("parquet", "table") else {},
    )


def _source_types(frame: DataFrame) -> dict[str, str]:
    """Dates and timestamps of a typed source, in DuckDB's spelling (for the row accounting)."""
    kinds = {"date": "DATE", "timestamp": "TIMESTAMP", "timestamp_ntz": "TIMESTAMP"}
    return {
        f.name: kinds[f.dataType.typeName()]
        for f in frame.schema.fields
        if f.dataType.typeName() in kinds
    }
