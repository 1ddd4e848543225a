"""What a valid rule of :class:`~segmint.segmenters._rules.RuleSegmenter` is, and the errors
that say why one is not.

* :func:`_normalize_rules` -- the ``rules`` parameter as ordered, unique ``(name, expression)``
  pairs;
* :func:`_screen_expression` -- one single, pure, row-wise SQL expression: no ``;``, comment,
  statement, subquery or window keyword (:data:`_FORBIDDEN_WORDS`), balanced parentheses, as
  DuckDB's own tokenizer and parser read it (no data needed);
* :func:`_check_rule_binds` / :func:`_bind_error` -- the rule bound against the input in a
  ``LIMIT 0`` query, with DuckDB's errors turned into ones that name the rule and the column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb

from segmint.exceptions import ConfigError, InputError
from segmint.segmenters._rule_sql import _INPUT_VIEW

# Words that only make sense in statements, subqueries or window clauses. A rule is a pure,
# row-wise boolean expression, so none of them can appear outside a quoted identifier or a string.
_FORBIDDEN_WORDS = frozenset(
    {
        "ALTER",
        "ATTACH",
        "BEGIN",
        "CALL",
        "CHECKPOINT",
        "COMMIT",
        "COPY",
        "CREATE",
        "DEALLOCATE",
        "DELETE",
        "DESCRIBE",
        "DETACH",
        "DROP",
        "EXECUTE",
        "EXPLAIN",
        "EXPORT",
        "FROM",
        "GRANT",
        "IMPORT",
        "INSERT",
        "INSTALL",
        "INTERSECT",
        "LOAD",
        "MERGE",
        "OVER",
        "PIVOT",
        "PRAGMA",
        "PREPARE",
        "QUALIFY",
        "RESET",
        "REVOKE",
        "ROLLBACK",
        "SELECT",
        "SET",
        "SHOW",
        "SUMMARIZE",
        "TABLE",
        "TRUNCATE",
        "UNION",
        "UNPIVOT",
        "UPDATE",
        "USE",
        "VACUUM",
        "VALUES",
        "WINDOW",
        "WITH",
    }
)

_MISSING_COLUMN = re.compile(r'Referenced column "(?P<col>(?:[^"]|"")+)" not found')


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _normalize_rules(rules: Any) -> list[tuple[str, str]]:
    """Turn the ``rules`` parameter into an ordered list of ``(name, expression)`` pairs."""
    if isinstance(rules, Mapping):
        pairs: Iterable[Any] = list(rules.items())
    else:
        pairs = rules
    out: list[tuple[str, str]] = []
    for i, pair in enumerate(pairs):
        if isinstance(pair, Mapping) and set(pair) == {"name", "expression"}:
            pair = (pair["name"], pair["expression"])
        if not isinstance(pair, Sequence) or isinstance(pair, str | bytes) or len(pair) != 2:
            raise ConfigError(
                f"Rule #{i + 1} ({pair!r}) is not a (name, expression) pair.",
                hint='Pass rules as {"name": "SQL expression", ...} or [("name", "expr"), ...].',
            )
        name, expr = pair
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                f"Rule #{i + 1} has name {name!r}; rule names must be non-empty strings.",
                hint="Name every rule after the segment it defines.",
            )
        if not isinstance(expr, str) or not expr.strip():
            raise ConfigError(
                f"Rule {name!r} has expression {expr!r}; expressions must be non-empty strings.",
                hint='Write a boolean SQL expression, e.g. "recency_days > 365".',
            )
        out.append((name, expr))
    names = [n for n, _ in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(
            f"Rule names must be unique; repeated: {', '.join(map(repr, duplicates))}.",
            hint="Merge the conditions with OR, or give each rule its own name.",
        )
    return out


def _screen_expression(name: str, expr: str) -> None:
    """Refuse anything that is not a single, pure SQL expression (no data needed).

    Uses DuckDB's own tokenizer, so string literals of every flavour (``'...'``, ``E'...'``,
    ``$$...$$``) and quoted identifiers are recognised exactly as the engine will read them.
    """
    if ";" in expr:
        raise ConfigError(
            f"Rule {name!r} contains ';'; a rule must be a single SQL expression.",
            hint="Remove the ';' (and anything after it). Statements are never run.",
        )
    try:
        tokens = duckdb.tokenize(expr)
    except Exception as exc:  # pragma: no cover - the tokenizer accepts almost anything
        raise ConfigError(
            f"Rule {name!r} cannot be read as SQL: {_first_line(exc)}",
            hint="Check quotes and parentheses.",
        ) from None
    depth = 0
    for i, (start, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(expr)
        text = expr[start:end].strip()
        kind_name = str(kind).rsplit(".", 1)[-1]
        if kind_name == "comment":
            raise ConfigError(
                f"Rule {name!r} contains an SQL comment ({text[:20]!r}).",
                hint="Remove the comment; describe the rule in its name instead.",
            )
        if kind_name in {"keyword", "identifier"} and not text.startswith('"'):
            word = text.upper()
            if word in _FORBIDDEN_WORDS:
                raise ConfigError(
                    f"Rule {name!r} uses the SQL keyword {word}; a rule must be a pure,"
                    " row-wise expression (no statements, subqueries or window functions).",
                    hint="Compare columns of the input only, e.g. "
                    '"recency_days > 365 AND monetary > 500". '
                    'Double-quote a column that is really named like a keyword ("from").',
                )
        if kind_name == "operator":
            for ch in text:
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth < 0:
                        raise ConfigError(
                            f"Rule {name!r} closes a parenthesis it never opened.",
                            hint="Balance the parentheses inside the rule.",
                        )
    if depth != 0:
        raise ConfigError(
            f"Rule {name!r} has unbalanced parentheses.",
            hint="Balance the parentheses inside the rule.",
        )
    try:
        duckdb.SQLExpression(expr)
    except Exception as exc:
        raise ConfigError(
            f"Rule {name!r} is not a valid SQL expression: {_first_line(exc)}",
            hint='Write one boolean SQL expression, e.g. "recency_days > 365 AND monetary > 500".',
        ) from None


def _bind_error(name: str, exc: BaseException, columns: list[str], *, at: str) -> ConfigError:
    """Translate a DuckDB bind/catalog error for one rule into a user-facing error."""
    message = str(exc)
    available = ", ".join(columns) if columns else "(none)"
    match = _MISSING_COLUMN.search(message)
    error_cls = ConfigError if at == "fit" else InputError
    if match:
        column = match.group("col").replace('""', '"')
        return error_cls(
            f"Rule {name!r} refers to column {column!r}, which is not in the data passed to {at}.",
            hint=f"Columns available: {available}. Double-quote names with capitals or spaces.",
        )
    if "GROUP BY" in message or "aggregate" in message.lower():
        return error_cls(
            f"Rule {name!r} uses an aggregate; a rule must be evaluated row by row.",
            hint="Compute the aggregate as a feature column first, then compare to it.",
        )
    return error_cls(
        f"Rule {name!r} cannot be evaluated on the data passed to {at}: {_first_line(exc)}",
        hint=f"Columns available: {available}. Check function names and types.",
    )


def _check_rule_binds(
    con: duckdb.DuckDBPyConnection, name: str, expr: str, columns: list[str], *, at: str
) -> None:
    """Parse-check one rule against the registered input (``LIMIT 0``: no row is read)."""
    query = f"SELECT ({expr}) AS __segmint_rule, * FROM {_INPUT_VIEW} LIMIT 0"
    try:
        rel = con.sql(query)
        types = [str(t) for t in rel.types]
    except duckdb.Error as exc:
        raise _bind_error(name, exc, columns, at=at) from None
    if types[0] != "BOOLEAN":
        error_cls = ConfigError if at == "fit" else InputError
        raise error_cls(
            f"Rule {name!r} evaluates to {types[0]}, not to a boolean.",
            hint='Use a comparison, e.g. "monetary > 500" rather than "monetary".',
        )
