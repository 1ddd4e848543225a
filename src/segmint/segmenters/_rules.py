"""Rule-based segmentation: ordered SQL conditions evaluated in DuckDB.

A :class:`RuleSegmenter` assigns every customer to the first rule whose boolean SQL expression is
true, or to a default segment. The rules are evaluated as one vectorised ``CASE WHEN ... END``
query in DuckDB, and the same statement is what :meth:`RuleSegmenter.to_sql` hands to a
warehouse, so the Python result and the SQL result cannot drift apart.

Segment ids here follow the *rule order* (rule ``i`` is segment ``i``, the default segment is last),
not the size order of :mod:`segmint.segmenters._ids`: the user chose the order, and because it does
not depend on the data it is stable across refits by construction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils.validation import check_is_fitted

from segmint import _json
from segmint._logging import logger
from segmint.exceptions import ConfigError, InputError, ModelError

__all__ = ["RuleSegmenter"]

_FORMAT_VERSION = 1
_INPUT_VIEW = "segmint_input"
_RESULT_COL = "segment_id"

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


def _quote_ident(name: str) -> str:
    """Quote an identifier with double quotes (SQL standard, DuckDB and PostgreSQL)."""
    return '"' + str(name).replace('"', '""') + '"'


def _quote_table(table_name: str) -> str:
    """Quote a possibly schema-qualified table name part by part (``schema.table``)."""
    if not isinstance(table_name, str) or not table_name.strip():
        raise ConfigError(
            f"Table name {table_name!r} is not a non-empty string.",
            hint='Pass the table to select from, e.g. "customers" or "analytics.customers".',
        )
    parts = table_name.split(".")
    if any(not p for p in parts):
        raise ConfigError(
            f"Table name {table_name!r} has an empty part.",
            hint='Write schema-qualified names as "schema.table".',
        )
    return ".".join(_quote_ident(p) for p in parts)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _connect() -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection that cannot touch files, extensions or settings."""
    con = duckdb.connect(
        ":memory:",
        config={"enable_external_access": False, "preserve_insertion_order": True},
    )
    con.execute("SET enable_progress_bar = false")
    return con


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


def _register_input(con: duckdb.DuckDBPyConnection, X: Any) -> list[str]:
    """Register ``X`` as the view ``segmint_input``; return its column names."""
    if isinstance(X, pd.DataFrame):
        data: Any = X
    elif isinstance(X, pa.Table):
        data = X
    elif isinstance(X, pa.RecordBatch):
        data = pa.Table.from_batches([X])
    else:
        raise InputError(
            f"RuleSegmenter needs a pandas DataFrame or a pyarrow Table, got {type(X).__name__}.",
            hint="Wrap the data in pandas.DataFrame(...) with named columns.",
        )
    con.register(_INPUT_VIEW, data)
    return [str(c) for c in con.sql(f"SELECT * FROM {_INPUT_VIEW} LIMIT 0").columns]


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


class RuleSegmenter(BaseEstimator):
    """Segment customers with ordered SQL rules; the first rule that matches wins.

    Each rule is a segment name and a boolean SQL expression over the feature columns, written
    in the SQL expression syntax shared by DuckDB and PostgreSQL, for example
    ``"recency_days > 365 AND monetary > 500"``. A customer joins the segment of the first
    rule that is true for it; customers no rule matches join ``default``.

    Parameters
    ----------
    rules : dict[str, str] or sequence of (str, str)
        Ordered rules, ``{segment name: SQL expression}`` (dicts keep insertion order) or a list
        of ``(name, expression)`` pairs. Order matters: the first true rule wins.
    default : str, default="Other"
        Name of the segment for customers no rule matches.

    Attributes
    ----------
    segment_names_ : list of str
        Segment names by id: the rule names in rule order, then ``default``.
    labels_ : ndarray of shape (n_samples,), dtype int64
        Segment id of every row of the data passed to :meth:`fit`. Not serialised.
    segment_sizes_ : ndarray of shape (n_segments,), dtype int64
        Number of rows of the fitted data in each segment, aligned with ``segment_names_``.
    n_features_in_ : int
        Number of columns of the fitted data.
    feature_names_in_ : ndarray of shape (n_features_in_,), dtype object
        Column names of the fitted data.

    Notes
    -----
    **Ids.** Segment ``i`` is rule ``i`` (0-based, in the order given); the default segment is
    ``len(rules)``, always last. This deliberately differs from the size order of
    :mod:`segmint.segmenters._ids`: the ids are fixed by the configuration, so refits on new
    data keep them without any matching.

    **Evaluation.** The input (pandas DataFrame or pyarrow Table) is registered on a fresh
    in-memory ``duckdb.connect()`` with external access disabled, and all rules are evaluated
    as a single ``SELECT CASE WHEN (rule_0) THEN 0 WHEN (rule_1) THEN 1 ... ELSE k END`` query:
    vectorised, no per-row Python. SQL three-valued logic applies: a rule that evaluates to
    ``NULL`` (e.g. on a missing value) does not match, and the row falls through to the next
    rule.

    **Validation.** At :meth:`fit` (and again in :meth:`from_dict`) every expression is checked
    to be a single, pure, row-wise expression: a ``;``, an SQL comment, or any statement,
    subquery or window keyword (``SELECT``, ``FROM``, ``WITH``, ``DROP``, ``OVER``, ...) outside
    quoted identifiers and string literals is refused, using DuckDB's own tokenizer. The
    expression is then parsed by DuckDB and bound against the input in a ``LIMIT 0`` query that
    reads no rows; unknown columns, unknown functions, aggregates, syntax errors and non-boolean
    results raise :class:`~segmint.exceptions.ConfigError` naming the rule (and the column),
    never a raw DuckDB traceback.

    **Portability.** :meth:`to_sql` emits the expressions exactly as written, so rules that use
    only standard SQL (comparisons, ``AND``/``OR``/``NOT``, ``IN``, ``BETWEEN``, ``IS NULL``,
    ``CASE``, ``COALESCE``) run unchanged in DuckDB and PostgreSQL.

    References
    ----------
    .. [1] DuckDB documentation, "CASE Statement",
       https://duckdb.org/docs/sql/expressions/case.html

    Examples
    --------
    >>> import pandas as pd
    >>> from segmint.segmenters._rules import RuleSegmenter
    >>> X = pd.DataFrame({"recency_days": [10, 400, 500], "monetary": [900, 800, 50]})
    >>> seg = RuleSegmenter(
    ...     {"lapsed_vip": "recency_days > 365 AND monetary > 500", "lapsed": "recency_days > 365"}
    ... ).fit(X)
    >>> seg.segment_names_
    ['lapsed_vip', 'lapsed', 'Other']
    >>> seg.labels_.tolist()
    [2, 0, 1]
    """

    _parameter_constraints: ClassVar[dict] = {
        "rules": [Mapping, list, tuple],
        "default": [str],
    }

    def __init__(
        self, rules: Mapping[str, str] | Sequence[tuple[str, str]], *, default: str = "Other"
    ):
        self.rules = rules
        self.default = default

    # ------------------------------------------------------------------ validation helpers
    def _validated_rules(self) -> list[tuple[str, str]]:
        rules = _normalize_rules(self.rules)
        if not rules:
            raise ConfigError(
                "RuleSegmenter got no rules.",
                hint='Pass at least one rule, e.g. {"lapsed": "recency_days > 365"}.',
            )
        if not self.default.strip():
            raise ConfigError(
                "The default segment name is empty.",
                hint='Pass default="Other" or another non-empty name.',
            )
        if any(name == self.default for name, _ in rules):
            raise ConfigError(
                f"The default segment {self.default!r} is also the name of a rule.",
                hint="Rename the rule or pass another default=.",
            )
        for name, expr in rules:
            _screen_expression(name, expr)
        return rules

    def _case_sql(self, rules: list[tuple[str, str]], *, names: bool = False) -> str:
        whens = []
        for i, (name, expr) in enumerate(rules):
            value = _sql_string(name) if names else str(i)
            whens.append(f"    WHEN ({expr}) THEN {value}")
        default = _sql_string(self.default) if names else str(len(rules))
        return "CASE\n" + "\n".join(whens) + f"\n    ELSE {default}\n  END"

    def _evaluate(
        self, X: Any, rules: list[tuple[str, str]], *, at: str
    ) -> tuple[np.ndarray, list[str]]:
        con = _connect()
        try:
            columns = _register_input(con, X)
            if at == "fit":
                for name, expr in rules:
                    _check_rule_binds(con, name, expr, columns, at=at)
            query = f"SELECT {self._case_sql(rules)} AS {_RESULT_COL}\nFROM {_INPUT_VIEW}"
            try:
                result = con.execute(query).fetchnumpy()[_RESULT_COL]
            except duckdb.Error as exc:
                # Find the rule at fault so the message can name it.
                for name, expr in rules:
                    _check_rule_binds(con, name, expr, columns, at=at)
                raise InputError(
                    f"The rules could not be evaluated on the data passed to {at}: "
                    f"{_first_line(exc)}",
                    hint="Check the types of the columns the rules compare.",
                ) from None
        finally:
            con.close()
        return np.asarray(result, dtype=np.int64), columns

    # ------------------------------------------------------------------ estimator API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: pd.DataFrame | pa.Table, y: None = None) -> RuleSegmenter:
        """Validate the rules against ``X`` and assign its rows to segments.

        Parameters
        ----------
        X : pandas.DataFrame or pyarrow.Table
            Feature table with the columns the rules refer to.
        y : None
            Ignored; present for scikit-learn API consistency.

        Returns
        -------
        RuleSegmenter
            The fitted segmenter.
        """
        rules = self._validated_rules()
        labels, columns = self._evaluate(X, rules, at="fit")
        self.segment_names_ = [name for name, _ in rules] + [self.default]
        self.labels_ = labels
        self.segment_sizes_ = np.bincount(labels, minlength=len(self.segment_names_)).astype(
            np.int64
        )
        self.n_features_in_ = len(columns)
        self.feature_names_in_ = np.asarray(columns, dtype=object)
        self._rules = rules
        logger.debug(
            "RuleSegmenter fitted on %d rows: %s",
            len(labels),
            dict(zip(self.segment_names_, self.segment_sizes_.tolist(), strict=True)),
        )
        return self

    def predict(self, X: pd.DataFrame | pa.Table) -> np.ndarray:
        """Segment id of each row of ``X`` (rule order; the default segment is last).

        Parameters
        ----------
        X : pandas.DataFrame or pyarrow.Table
            Table with the columns the rules refer to.

        Returns
        -------
        ndarray of shape (n_samples,), dtype int64
            Segment ids, indexes into ``segment_names_``.
        """
        check_is_fitted(self, "segment_names_")
        return self._evaluate(X, self._rules, at="predict")[0]

    def predict_names(self, X: pd.DataFrame | pa.Table) -> np.ndarray:
        """Segment name of each row of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or pyarrow.Table
            Table with the columns the rules refer to.

        Returns
        -------
        ndarray of shape (n_samples,), dtype object
            Segment names.
        """
        ids = self.predict(X)
        return np.asarray(self.segment_names_, dtype=object)[ids]

    def fit_predict(self, X: pd.DataFrame | pa.Table, y: None = None) -> np.ndarray:
        """Fit on ``X`` and return ``labels_``.

        Parameters
        ----------
        X : pandas.DataFrame or pyarrow.Table
            Feature table.
        y : None
            Ignored.

        Returns
        -------
        ndarray of shape (n_samples,), dtype int64
            Segment ids of the rows of ``X``.
        """
        return self.fit(X).labels_

    # ------------------------------------------------------------------ exports
    def to_sql(
        self,
        table_name: str = "customers",
        *,
        segment_col: str = "segment_id",
        names: bool = False,
    ) -> str:
        """The segmentation as one ``SELECT ... CASE WHEN ... END`` statement.

        Parameters
        ----------
        table_name : str, default="customers"
            Table (or ``schema.table``) holding the feature columns; each part is
            double-quoted.
        segment_col : str, default="segment_id"
            Name of the output column.
        names : bool, default=False
            Emit segment names (string literals) instead of integer ids.

        Returns
        -------
        str
            ``SELECT *, CASE WHEN (...) THEN 0 ... ELSE k END AS "segment_id" FROM "table"``;
            runs in DuckDB, and in PostgreSQL when the rules use standard SQL only.
        """
        check_is_fitted(self, "segment_names_")
        case = self._case_sql(self._rules, names=names)
        return (
            f"SELECT\n  *,\n  {case} AS {_quote_ident(segment_col)}\n"
            f"FROM {_quote_table(table_name)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible description of the fitted segmenter (no pickle involved).

        Returns
        -------
        dict
            Rules, default name, segment names and sizes; ``json.dumps`` accepts it as is.
            ``labels_`` (one entry per training row) is not included.
        """
        check_is_fitted(self, "segment_names_")
        return {
            "estimator": "RuleSegmenter",
            "format_version": _FORMAT_VERSION,
            "params": {
                "rules": [{"name": n, "expression": e} for n, e in self._rules],
                "default": self.default,
            },
            "segment_names": list(self.segment_names_),
            "segment_sizes": [int(s) for s in self.segment_sizes_],
            "feature_names_in": [str(c) for c in self.feature_names_in_],
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as strict JSON (:func:`segmint._json.dumps`: NaN and inf as null).

        Keyword arguments pass through to :func:`json.dumps`.
        """
        return _json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSegmenter:
        """Rebuild a fitted segmenter from :meth:`to_dict` output.

        The expressions are screened again exactly as in :meth:`fit`, so a tampered file cannot
        smuggle a statement in (:class:`~segmint.exceptions.ModelError`); binding to columns
        happens at :meth:`predict`.

        Parameters
        ----------
        data : dict
            Output of :meth:`to_dict` (possibly after a JSON round trip).

        Returns
        -------
        RuleSegmenter
            A fitted segmenter; ``labels_`` is not restored.
        """
        if not isinstance(data, Mapping) or data.get("estimator") != "RuleSegmenter":
            raise ModelError(
                "This is not a saved RuleSegmenter.",
                hint="Pass the dict produced by RuleSegmenter.to_dict().",
            )
        if data.get("format_version") != _FORMAT_VERSION:
            raise ModelError(
                f"Unsupported RuleSegmenter format version {data.get('format_version')!r}.",
                hint=f"This segmint reads version {_FORMAT_VERSION}; re-export the model.",
            )
        try:
            params = data["params"]
            rules = [(r["name"], r["expression"]) for r in params["rules"]]
            default = params["default"]
            sizes = np.asarray(data["segment_sizes"], dtype=np.int64)
            features = [str(c) for c in data.get("feature_names_in", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"The saved RuleSegmenter is incomplete or malformed ({exc!r}).",
                hint="Re-export it with RuleSegmenter.to_dict().",
            ) from None
        est = cls(rules, default=default)
        try:
            est._validate_params()
            checked = est._validated_rules()
        except ValueError as exc:  # ConfigError or InvalidParameterError: a tampered file
            raise ModelError(
                f"The saved RuleSegmenter has invalid rules: {getattr(exc, 'message', exc)}",
                hint="Re-export it from a fitted RuleSegmenter; saved rules are re-checked.",
            ) from None
        names = [n for n, _ in checked] + [default]
        if list(data.get("segment_names", [])) != names or len(sizes) != len(names):
            raise ModelError(
                "The saved segment names or sizes do not match the saved rules.",
                hint="Re-export the model with RuleSegmenter.to_dict().",
            )
        est.segment_names_ = names
        est.segment_sizes_ = sizes
        est.n_features_in_ = len(features)
        est.feature_names_in_ = np.asarray(features, dtype=object)
        est._rules = checked
        return est

    @classmethod
    def from_json(cls, text: str) -> RuleSegmenter:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(
                f"The saved RuleSegmenter is not valid JSON ({exc.msg}).",
                hint="Re-export it with RuleSegmenter.to_json().",
            ) from None
        return cls.from_dict(data)
