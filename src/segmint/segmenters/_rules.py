"""Rule-based segmentation: ordered SQL conditions evaluated in DuckDB.

A :class:`RuleSegmenter` assigns every customer to the first rule whose boolean SQL expression is
true, or to a default segment. The rules are evaluated as one vectorised ``CASE WHEN ... END``
query in DuckDB, and the same statement is what :meth:`RuleSegmenter.to_sql` hands to a
warehouse, so the Python result and the SQL result cannot drift apart.

Segment ids here follow the *rule order* (rule ``i`` is segment ``i``, the default segment is last),
not the size order of :mod:`segmint.segmenters._ids`: the user chose the order, and because it does
not depend on the data it is stable across refits by construction.

What makes a rule valid (and the errors when it is not) is in
:mod:`segmint.segmenters._rule_checks`; the quoting and the sandboxed DuckDB connection are in
:mod:`segmint.segmenters._rule_sql`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
from segmint.segmenters._rule_checks import (
    _check_rule_binds,
    _first_line,
    _normalize_rules,
    _screen_expression,
)
from segmint.segmenters._rule_sql import (
    _INPUT_VIEW,
    _connect,
    _quote_ident,
    _quote_table,
    _register_input,
    _sql_string,
)

__all__ = ["RuleSegmenter"]

_FORMAT_VERSION = 1
_RESULT_COL = "segment_id"


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
