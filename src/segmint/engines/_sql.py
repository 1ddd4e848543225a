"""DuckDB SQL to Spark SQL: ``sqlglot`` plus the few rewrites segmint's own SQL needs.

segmint writes its SQL once, in the DuckDB dialect (feature catalogue, validation, planning).
:func:`to_spark` turns a statement into Spark SQL with ``sqlglot.transpile`` after rewriting the
constructs sqlglot leaves as they are because Spark has no direct equivalent:

- ``try_strptime(v, fmt)`` (or a list of formats) becomes ``try_to_timestamp`` with the Java
  pattern of each strptime format (:func:`java_pattern`), the first that parses winning;
- ``regexp_full_match(v, p)`` becomes ``v RLIKE '^(?:p)$'``;
- ``isinf(x)`` becomes ``abs(x) = double('Infinity')``, ``isfinite(x)`` becomes
  ``NOT isnan(x) AND abs(x) <> double('Infinity')`` (NULL for NULL, as on DuckDB);
- ``a / b`` is computed in DOUBLE, as DuckDB does (Spark would keep a DECIMAL quotient of
  DECIMAL money, rounded to 6 places);
- ``quantile_cont(x, q)`` becomes Spark's exact ``percentile(x, q)`` (same interpolation);
- ``to_json(r)`` of a whole row becomes ``to_json(struct(r.*))``;
- a scalar subquery over a one-row derived table without ``FROM`` (DuckDB's way to name an
  intermediate value, ``(SELECT f(c) FROM (SELECT <expr> AS c))``) is inlined, since Spark
  refuses correlated scalar subqueries that do not aggregate;
- ``?`` placeholders are replaced by literals of the given parameters.

Nothing here imports pyspark: the translation is plain text and testable without a JVM.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlglot
from sqlglot import exp

__all__ = ["java_pattern", "to_spark", "with_duckdb_division"]

# strptime directive -> (variable-width Java letter, fixed-width Java letters)
_DIRECTIVES = {
    "Y": ("yyyy", "yyyy"),
    "y": ("yy", "yy"),
    "m": ("M", "MM"),
    "d": ("d", "dd"),
    "H": ("H", "HH"),
    "M": ("m", "mm"),
    "S": ("s", "ss"),
    "f": ("SSSSSS", "SSSSSS"),
}
_TOKEN = re.compile(r"%(.)|([A-Za-z]+)|([^%A-Za-z]+)")


def java_pattern(strptime_format: str) -> str:
    """The Spark (Java ``DateTimeFormatter``) pattern that parses what ``strptime_format`` does.

    Single letters (``d``, ``M``, ``H``) accept one or two digits, as ``%d`` and ``%m`` do;
    directives written next to each other (``%Y%m%d``) get fixed widths, the only way to split
    them. Literal letters (``T``, ``Z``) are quoted.

    >>> java_pattern("%d/%m/%Y %H:%M")
    'd/M/yyyy H:m'
    >>> java_pattern("%Y%m%d")
    'yyyyMMdd'
    >>> java_pattern("%Y-%m-%dT%H:%M:%SZ")
    "yyyy-M-d'T'H:m:s'Z'"
    """
    tokens = [m.groups() for m in _TOKEN.finditer(strptime_format)]
    out = []
    for i, (directive, letters, other) in enumerate(tokens):
        if directive is not None:
            if directive not in _DIRECTIVES:
                raise ValueError(f"strptime directive %{directive} has no Spark equivalent")
            packed = any(0 <= j < len(tokens) and tokens[j][0] is not None for j in (i - 1, i + 1))
            out.append(_DIRECTIVES[directive][1 if packed else 0])
        elif letters is not None:
            out.append("'" + letters + "'")
        else:
            out.append(other.replace("'", "''"))
    return "".join(out)


def _string(node: exp.Expression) -> str:
    if not (isinstance(node, exp.Literal) and node.is_string):
        raise ValueError(f"expected a string literal, got {node.sql('duckdb')}")
    return node.this


def _try_to_timestamp(value: exp.Expression, formats: Sequence[str]) -> exp.Expression:
    parsed = [
        exp.Anonymous(
            this="try_to_timestamp",
            expressions=[value.copy(), exp.Literal.string(java_pattern(f))],
        )
        for f in formats
    ]
    return parsed[0] if len(parsed) == 1 else exp.Coalesce(this=parsed[0], expressions=parsed[1:])


def _inline_scalar_subquery(node: exp.Subquery) -> exp.Expression | None:
    """``(SELECT f(c) FROM (SELECT e AS c))`` -> ``f(e)``; None when ``node`` is another shape."""
    select = node.this
    if not isinstance(select, exp.Select) or len(select.expressions) != 1:
        return None
    if any(select.args.get(k) for k in ("where", "group", "having", "order", "limit", "joins")):
        return None
    source = select.args.get("from_") or select.args.get("from")
    inner = source.this if source is not None else None
    if not isinstance(inner, exp.Subquery) or not isinstance(inner.this, exp.Select):
        return None
    inner_select = inner.this
    if inner_select.args.get("from_") or inner_select.args.get("from"):
        return None
    names = {}
    for item in inner_select.expressions:
        if not isinstance(item, exp.Alias):
            return None
        names[item.alias] = item.this
    body = select.expressions[0].copy()
    if isinstance(body, exp.Alias):
        body = body.this

    def replace(n: exp.Expression) -> exp.Expression:
        if isinstance(n, exp.Column) and not n.table and n.name in names:
            return names[n.name].copy()
        return n

    return body.transform(replace)


def _sub(node: exp.Expression) -> exp.Expression:
    """``node`` with its own subtree rewritten (a replaced node's children are not revisited)."""
    return node.transform(_rewrite)


def _double(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Cast) and node.to.is_type("double"):
        return node
    return exp.Cast(this=node, to=exp.DataType.build("double"))


def _double_division(node: exp.Div) -> exp.Expression:
    """``a / b`` as DuckDB computes it: in DOUBLE, whatever the operand types.

    DuckDB divides integers and DECIMALs in floating point; Spark keeps a DECIMAL quotient,
    rounded to 6 places when the operands are wide (``DECIMAL(38, 10)`` money sums).
    """
    return exp.Div(this=_double(_sub(node.this)), expression=_double(_sub(node.expression)))


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Subquery):
        inlined = _inline_scalar_subquery(node)
        if inlined is not None:
            return _sub(inlined)
        return node
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        args = node.expressions
        if name == "try_strptime" and len(args) == 2:
            fmt = args[1]
            formats = (
                [_string(e) for e in fmt.expressions]
                if isinstance(fmt, exp.Array)
                else [_string(fmt)]
            )
            return _try_to_timestamp(_sub(args[0]), formats)
        if name == "isfinite" and len(args) == 1:
            value = _sub(args[0])
            infinity = exp.Cast(
                this=exp.Literal.string("Infinity"), to=exp.DataType.build("double")
            )
            finite = exp.and_(
                exp.Not(this=exp.IsNan(this=value.copy())),
                exp.NEQ(this=exp.Abs(this=value.copy()), expression=infinity),
            )
            return exp.Paren(this=finite)
        if name == "to_json" and len(args) == 1 and isinstance(args[0], exp.Column):
            column = args[0]
            if not column.table:  # a table alias: the whole row
                row = exp.Star()
                star = exp.Column(this=row, table=exp.to_identifier(column.name))
                struct = exp.Anonymous(this="struct", expressions=[star])
                return exp.Anonymous(this="to_json", expressions=[struct])
        return node
    if isinstance(node, exp.RegexpFullMatch):
        pattern = "^(?:" + _string(node.expression) + r")\z"
        return exp.RegexpLike(this=_sub(node.this), expression=exp.Literal.string(pattern))
    if isinstance(node, exp.IsInf):
        infinity = exp.Cast(this=exp.Literal.string("Infinity"), to=exp.DataType.build("double"))
        return exp.EQ(this=exp.Abs(this=_sub(node.this)), expression=infinity)
    if isinstance(node, exp.Div) and not node.args.get("typed"):
        return _double_division(node)
    if isinstance(node, exp.PercentileCont):
        return exp.Anonymous(this="percentile", expressions=[_sub(node.this), node.expression])
    return node


def with_duckdb_division(spark_sql: str) -> str:
    """Spark SQL whose divisions are computed in DOUBLE, as DuckDB computes them.

    ``sqlglot`` transpiles syntax, not types: a quotient of two DECIMAL money sums is a DOUBLE
    on DuckDB and a DECIMAL rounded to 6 places on Spark. Applied to
    ``catalogue_sql(spec, dialect="spark")``, this makes the feature values agree to
    floating-point precision.
    """
    tree = sqlglot.parse_one(spark_sql, read="spark")
    tree = tree.transform(
        lambda n: _double_division(n) if isinstance(n, exp.Div) and not n.args.get("typed") else n
    )
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)


def to_spark(sql: str, params: Sequence[object] | None = None) -> str:
    """One DuckDB statement as Spark SQL (``?`` placeholders filled from ``params``).

    Raises
    ------
    sqlglot.errors.ParseError, sqlglot.errors.UnsupportedError
        The statement does not parse, or uses what Spark cannot express.
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    if params:
        tree = exp.replace_placeholders(tree, *params)
    tree = tree.transform(_rewrite)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
