"""The typing tool: the few questions that reproduce a segmentation ("golden questions").

A segmentation is usually fitted on many variables, but to *recognise* a new customer (or survey
respondent) a handful of variables and a short rule set are enough. :class:`TypingTool` finds them:
greedy forward selection of variables with a shallow decision tree, the accuracy-versus-number-of-
variables curve, and exports of the final tree as portable SQL, JSON and a short questionnaire.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils._param_validation import Interval, RealNotInt
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from segmint import _json
from segmint._logging import logger
from segmint.exceptions import ConfigError, InputError, ModelError, SegmintError

__all__ = ["TypingTool"]

_FORMAT_VERSION = 1
_MAX_LISTED_VALUES = 20  # numeric variables with more distinct values are asked in bands
_EPS = 1e-12


# ---------------------------------------------------------------------- small value helpers
def _py(value: Any) -> Any:
    """A numpy scalar as the equivalent Python scalar (JSON-friendly)."""
    return value.item() if isinstance(value, np.generic) else value


def _family(value: Any) -> str | None:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, Integral):
        return "int"
    if isinstance(value, str):
        return "str"
    return None


def _quote_ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _quote_table(table: str) -> str:
    if not isinstance(table, str) or not table.strip() or any(not p for p in table.split(".")):
        raise ConfigError(
            f"Table name {table!r} is not a valid table name.",
            hint='Pass e.g. "customers" or "analytics.customers".',
        )
    return ".".join(_quote_ident(part) for part in table.split("."))


def _sql_literal(value: Any) -> str:
    """A portable SQL literal (DuckDB and PostgreSQL) for a threshold, category or segment id."""
    value = _py(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        number = float(value)
        if not math.isfinite(number):
            raise ModelError(f"Cannot write the non-finite number {number!r} as SQL.")
        # repr is the shortest decimal that reads back as exactly this double.
        return repr(number)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise ModelError(
        f"Cannot write {value!r} ({type(value).__name__}) as an SQL literal.",
        hint="Use integer or string segment ids and categories.",
    )


def _fmt_number(value: float) -> str:
    """Human-readable number for questionnaire labels (not used for SQL)."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return np.format_float_positional(value, precision=10, unique=False, trim="-")


# ---------------------------------------------------------------------- data description
@dataclass(frozen=True)
class _Variable:
    """One input column: numeric (compared with ``<=``) or categorical (compared with ``=``)."""

    name: str
    kind: str  # "numeric" | "categorical"
    family: str | None = None  # categorical values are all "str", "int" or "bool"
    categories: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "categorical":
            out["family"] = self.family
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _Variable:
        kind = data["kind"]
        if kind == "numeric":
            return cls(str(data["name"]), "numeric")
        if kind != "categorical" or data["family"] not in {"str", "int", "bool"}:
            raise ValueError(f"unknown variable kind {kind!r}")
        cats = tuple(data["categories"])
        if any(_family(c) != data["family"] for c in cats):
            raise ValueError(f"categories of {data['name']!r} do not match their family")
        return cls(str(data["name"]), "categorical", data["family"], cats)


@dataclass(frozen=True)
class _Column:
    """One column of the encoded matrix: a numeric variable, or one category of a variable."""

    variable: str
    kind: str  # "numeric" | "category"
    category: Any = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"variable": self.variable, "kind": self.kind}
        if self.kind == "category":
            out["category"] = self.category
        return out


def _categorical_values(name: str, series: pd.Series, *, at: str) -> tuple[np.ndarray, str]:
    """Values of a categorical column as an object array of Python scalars, and their family."""
    if series.isna().any():
        raise InputError(
            f"Column {name!r} has {int(series.isna().sum())} missing values in the data passed"
            f" to {at}.",
            hint="Fill them, e.g. with an explicit 'unknown' category.",
        )
    values = np.asarray([_py(v) for v in series.astype(object).to_numpy()], dtype=object)
    families = {_family(v) for v in values}
    if None in families or len(families) > 1:
        raise InputError(
            f"Column {name!r} mixes value types ({sorted(str(f) for f in families)}); categories"
            " must all be strings, all integers or all booleans.",
            hint=f"Convert the column to strings: X[{name!r}] = X[{name!r}].astype(str).",
        )
    family = families.pop() if families else "str"
    return values, family


def _describe(frame: pd.DataFrame) -> list[_Variable]:
    out = []
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series):
            out.append(_Variable(name, "categorical", "bool", (False, True)))
        elif pd.api.types.is_numeric_dtype(series):
            out.append(_Variable(name, "numeric"))
        else:
            values, family = _categorical_values(name, series, at="fit")
            cats = tuple(sorted(set(values.tolist())))
            out.append(_Variable(name, "categorical", family, cats))
    return out


def _convert(
    frame: pd.DataFrame, variables: Sequence[_Variable], *, at: str
) -> dict[str, np.ndarray]:
    """Column arrays for ``variables``: float64 for numeric, Python scalars for categorical."""
    missing = [v.name for v in variables if v.name not in frame.columns]
    if missing:
        raise InputError(
            f"The data passed to {at} lacks the column(s) {', '.join(map(repr, missing))}.",
            hint="The typing tool needs the variables it chose: "
            f"{', '.join(v.name for v in variables)}.",
        )
    out: dict[str, np.ndarray] = {}
    for var in variables:
        series = frame[var.name]
        if var.kind == "numeric":
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                raise InputError(
                    f"Column {var.name!r} was numeric at fit but has dtype {series.dtype} in the"
                    f" data passed to {at}.",
                    hint="Convert it back to numbers.",
                )
            arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~np.isfinite(arr)
            if bad.any():
                raise InputError(
                    f"Column {var.name!r} has {int(bad.sum())} missing or infinite values in the"
                    f" data passed to {at}.",
                    hint="Impute them first; the typing tool does not route missing answers.",
                )
            out[var.name] = arr
        else:
            values, family = _categorical_values(var.name, series, at=at)
            if len(values) and family != var.family:
                raise InputError(
                    f"Column {var.name!r} held {var.family} values at fit but {family} values in"
                    f" the data passed to {at}.",
                    hint="Use the same coding as at fit.",
                )
            out[var.name] = values
    return out


def _encode(values: Mapping[str, np.ndarray], columns: Sequence[_Column], n: int) -> np.ndarray:
    """The float64 design matrix: numeric values as they are, categories one-hot (0/1)."""
    Z = np.zeros((n, len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        v = values[col.variable]
        Z[:, j] = v if col.kind == "numeric" else (v == col.category)
    return Z


# ---------------------------------------------------------------------- the fitted tree
@dataclass
class _Tree:
    """A fitted tree as plain arrays; evaluated in float64 exactly like the exported SQL."""

    left: np.ndarray
    right: np.ndarray
    column: np.ndarray  # index into ``columns``; -1 for leaves
    threshold: np.ndarray
    segment: np.ndarray  # index into classes_ (majority of the node's training samples)
    n_samples: np.ndarray
    purity: np.ndarray
    columns: list[_Column]

    @classmethod
    def from_sklearn(cls, tree: DecisionTreeClassifier, columns: Sequence[_Column]) -> _Tree:
        t = tree.tree_
        feature = np.asarray(t.feature, dtype=np.int64)
        used = sorted({int(f) for f in feature if f >= 0})
        remap = {old: new for new, old in enumerate(used)}
        value = np.asarray(t.value[:, 0, :], dtype=np.float64)
        is_leaf = np.asarray(t.children_left) < 0
        return cls(
            left=np.asarray(t.children_left, dtype=np.int64),
            right=np.asarray(t.children_right, dtype=np.int64),
            column=np.asarray(
                [-1 if leaf else remap[int(f)] for f, leaf in zip(feature, is_leaf, strict=True)],
                dtype=np.int64,
            ),
            threshold=np.where(is_leaf, 0.0, np.asarray(t.threshold, dtype=np.float64)),
            segment=np.asarray(tree.classes_, dtype=np.int64)[np.argmax(value, axis=1)],
            n_samples=np.asarray(t.n_node_samples, dtype=np.int64),
            purity=value.max(axis=1) / value.sum(axis=1),
            columns=[columns[i] for i in used],
        )

    def apply(self, Z: np.ndarray) -> np.ndarray:
        """Leaf id of every row of ``Z`` (columns aligned with ``self.columns``)."""
        node = np.zeros(Z.shape[0], dtype=np.int64)
        for _ in range(len(self.left)):
            active = np.flatnonzero(self.left[node] >= 0)
            if not len(active):
                break
            current = node[active]
            go_left = Z[active, self.column[current]] <= self.threshold[current]
            node[active] = np.where(go_left, self.left[current], self.right[current])
        return node

    def variables(self) -> list[str]:
        return list(dict.fromkeys(c.variable for c in self.columns))

    def leaf_paths(self) -> list[tuple[int, list[tuple[_Column, bool, float]]]]:
        """Every leaf with its path: ``(column, went_left, threshold)`` from the root down."""
        out: list[tuple[int, list[tuple[_Column, bool, float]]]] = []
        stack: list[tuple[int, list[tuple[_Column, bool, float]]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if self.left[node] < 0:
                out.append((node, path))
                continue
            col = self.columns[int(self.column[node])]
            thr = float(self.threshold[node])
            stack.append((int(self.right[node]), [*path, (col, False, thr)]))
            stack.append((int(self.left[node]), [*path, (col, True, thr)]))
        return out

    def to_dict(self) -> dict[str, Any]:
        nodes = []
        for i in range(len(self.left)):
            node: dict[str, Any] = {
                "segment": int(self.segment[i]),
                "n_samples": int(self.n_samples[i]),
                "purity": float(self.purity[i]),
            }
            if self.left[i] >= 0:
                node.update(
                    left=int(self.left[i]),
                    right=int(self.right[i]),
                    column=int(self.column[i]),
                    threshold=float(self.threshold[i]),
                )
            nodes.append(node)
        return {"columns": [c.to_dict() for c in self.columns], "nodes": nodes}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], n_classes: int) -> _Tree:
        columns = []
        for c in data["columns"]:
            if c["kind"] not in {"numeric", "category"}:
                raise ValueError(f"unknown column kind {c['kind']!r}")
            columns.append(_Column(str(c["variable"]), c["kind"], c.get("category")))
        nodes = data["nodes"]
        n = len(nodes)
        left = np.full(n, -1, dtype=np.int64)
        right = np.full(n, -1, dtype=np.int64)
        column = np.full(n, -1, dtype=np.int64)
        threshold = np.zeros(n, dtype=np.float64)
        for i, node in enumerate(nodes):
            if "left" in node:
                left[i], right[i] = int(node["left"]), int(node["right"])
                column[i], threshold[i] = int(node["column"]), float(node["threshold"])
                # Children come after their parent (depth-first numbering): no cycles.
                if not (i < left[i] < n and i < right[i] < n and 0 <= column[i] < len(columns)):
                    raise ValueError(f"node {i} points outside the tree")
                if not math.isfinite(threshold[i]):
                    raise ValueError(f"node {i} has a non-finite threshold")
        segment = np.asarray([int(node["segment"]) for node in nodes], dtype=np.int64)
        if n == 0 or segment.min() < 0 or segment.max() >= n_classes:
            raise ValueError("node segments are outside the saved classes")
        return cls(
            left=left,
            right=right,
            column=column,
            threshold=threshold,
            segment=segment,
            n_samples=np.asarray([int(node["n_samples"]) for node in nodes], dtype=np.int64),
            purity=np.asarray([float(node["purity"]) for node in nodes], dtype=np.float64),
            columns=columns,
        )


def _simplify(path: Sequence[tuple[_Column, bool, float]]) -> list[dict[str, Any]]:
    """Merge the tests of a root-to-leaf path into at most two conditions per numeric variable
    (``> low``, ``<= high``) and one ``=`` or a few ``!=`` per categorical variable."""
    order: list[str] = []
    bounds: dict[str, list[float | None]] = {}
    equal: dict[str, Any] = {}
    not_equal: dict[str, list[Any]] = {}
    for col, went_left, thr in path:
        if col.variable not in order:
            order.append(col.variable)
        if col.kind == "numeric":
            lo, hi = bounds.setdefault(col.variable, [None, None])
            if went_left:
                bounds[col.variable][1] = thr if hi is None else min(hi, thr)
            else:
                bounds[col.variable][0] = thr if lo is None else max(lo, thr)
        elif went_left:  # one-hot column <= 0.5: the value is not this category
            not_equal.setdefault(col.variable, []).append(col.category)
        else:
            equal[col.variable] = col.category
    conditions: list[dict[str, Any]] = []
    for var in order:
        if var in bounds:
            lo, hi = bounds[var]
            if lo is not None:
                conditions.append({"variable": var, "op": ">", "value": lo})
            if hi is not None:
                conditions.append({"variable": var, "op": "<=", "value": hi})
        elif var in equal:  # "= a" implies every "!= b" on the same variable
            conditions.append({"variable": var, "op": "=", "value": equal[var]})
        else:
            for cat in sorted(set(not_equal[var]), key=lambda c: (str(type(c)), c)):
                conditions.append({"variable": var, "op": "!=", "value": cat})
    return conditions


def _condition_sql(cond: Mapping[str, Any]) -> str:
    op = {"<=": "<=", ">": ">", "=": "=", "!=": "<>"}[cond["op"]]
    return f"{_quote_ident(cond['variable'])} {op} {_sql_literal(cond['value'])}"


def _holds(cond: Mapping[str, Any], value: Any) -> bool:
    op, ref = cond["op"], cond["value"]
    if op == "<=":
        return float(value) <= ref
    if op == ">":
        return float(value) > ref
    if op == "=":
        return value == ref
    return value != ref


# ---------------------------------------------------------------------- the estimator
class TypingTool(ClassifierMixin, BaseEstimator):
    """Learn the shortest rule set ("golden questions") that reproduces a segmentation.

    Given the features of customers (or survey respondents) and the segment each was assigned
    by a fitted segmentation, the typing tool selects a few variables by greedy forward
    selection and fits a shallow decision tree on them. The result is a short set of rules that
    recognises the segment of new customers from those variables alone, exported as SQL, JSON
    or a questionnaire.

    Parameters
    ----------
    max_depth : int, default=3
        Maximum depth of the tree (a rule has at most ``max_depth`` tests).
    max_vars : int, default=None
        Maximum number of distinct variables the rules may use; also the length of the golden
        questions curve. ``None`` allows every variable.
    min_samples_leaf : int or float, default=1
        Minimum number (int) or fraction (float) of training samples per leaf; larger values
        give fewer, better-supported rules.
    test_size : float, default=0.25
        Fraction of the samples held out to report ``accuracy_`` (and the curve's
        ``accuracy``); never used to choose variables or fit the tree.
    cv : int, default=5
        Number of folds of the cross-validation, on the training part, that chooses variables.
    tol : float, default=0.01
        The final number of variables is the smallest whose cross-validated accuracy is within
        ``tol`` of the best on the curve.
    random_state : int, RandomState instance or None, default=None
        Controls the held-out split, the folds and the tree's tie-breaking.

    Attributes
    ----------
    classes_ : ndarray of shape (n_segments,)
        The segment ids seen at fit, sorted.
    variables_ : list of str
        The variables the final tree uses ("golden questions"), in the order the forward
        selection added them.
    curve_ : pandas.DataFrame
        The golden questions curve, one row per selection step: ``n_vars``, ``variable`` (the
        variable added), ``variables`` (all variables so far, a tuple), ``cv_accuracy`` (the
        selection criterion) and ``accuracy`` (held-out accuracy of a tree on those variables).
    accuracy_ : float
        Accuracy of the final rules on the held-out split (``test_size`` of the data, stratified
        when every segment has at least two members), computed with :meth:`predict` semantics.
    tree_ : sklearn.tree.DecisionTreeClassifier or None
        The final tree, fitted on the training split over the encoded chosen variables
        (categorical variables one-hot). ``None`` after :meth:`from_dict`.
    rules_ : list of dict
        One rule per leaf, depth first: ``conditions`` (list of ``{"variable", "op", "value"}``
        with ``op`` in ``<=``, ``>``, ``=``, ``!=``), ``segment``, ``n_samples`` (training
        samples in the leaf), ``support`` (their fraction of the training split), ``purity``
        (fraction of them in ``segment``) and ``sql`` (the conditions as SQL).
    default_segment_ : object
        The most frequent segment of the training split: the SQL ``ELSE`` branch.
    holdout_indices_ : ndarray of int
        Positions (0-based rows of ``X``) of the held-out samples, sorted.
    n_features_in_ : int
        Number of input columns at fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names at fit; only defined when ``X`` was a DataFrame with string names.

    Notes
    -----
    **Variable selection.** Greedy forward selection [2]_: starting from no variable, each step
    adds the variable whose addition gives the tree (``max_depth``, ``min_samples_leaf``) the
    highest mean accuracy in ``cv``-fold cross-validation on the training split (stratified
    folds when possible; ties go to the earlier column). It stops after ``max_vars`` variables
    or once cross-validated accuracy reaches 1. A categorical variable counts as one variable
    however many categories it has. The final rule set uses the shortest prefix of the curve
    within ``tol`` of its best cross-validated accuracy; the tree fitted on the whole training
    split for that prefix is ``tree_``. ``accuracy_`` is measured on the held-out rows only,
    which took no part in any choice.

    **Encoding and exact reproduction.** Numeric variables are compared with ``<=`` to the
    tree's float64 thresholds; categorical variables (string, integer-coded ``object``/category
    or boolean columns) are one-hot encoded for the tree, and a split on category ``c`` is
    written ``"col" = c`` / ``"col" <> c`` on the original column. :meth:`predict` evaluates
    these conditions on the float64 values exactly as :meth:`to_sql` writes them, and
    thresholds are printed with the shortest decimal that reads back as the same double, so the
    SQL reproduces :meth:`predict` row for row. (scikit-learn's own ``tree_.predict`` first
    rounds inputs to float32, so it can only differ for a value within float32 rounding of a
    threshold; :meth:`fit` logs a warning if that happens on the training data.)

    **Missing values** are refused (:class:`~segmint.exceptions.InputError`); in SQL a ``NULL``
    fails every ``WHEN`` and gets ``default_segment_``. Unseen categories follow the ``<>``
    branches.

    References
    ----------
    .. [1] L. Breiman, J. Friedman, R. Olshen and C. Stone, "Classification and Regression
       Trees", Wadsworth, 1984.
    .. [2] I. Guyon and A. Elisseeff, "An Introduction to Variable and Feature Selection",
       Journal of Machine Learning Research 3:1157-1182, 2003.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from segmint.profile._typing_tool import TypingTool
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"age": rng.integers(18, 80, 400), "noise": rng.normal(size=400),
    ...                   "channel": rng.choice(["web", "store"], 400)})
    >>> segments = np.where(X["age"] < 40, 0, np.where(X["channel"] == "web", 1, 2))
    >>> tool = TypingTool(max_depth=2, random_state=0).fit(X, segments)
    >>> tool.variables_
    ['age', 'channel']
    >>> print(tool.to_sql("customers"))  # doctest: +NORMALIZE_WHITESPACE
    SELECT
      CASE
        WHEN "age" <= 39.5 THEN 0
        WHEN "age" > 39.5 AND "channel" = 'store' THEN 2
        ELSE 1
      END AS "segment_id"
    FROM "customers"
    """

    _parameter_constraints: ClassVar[dict] = {
        "max_depth": [Interval(Integral, 1, None, closed="left")],
        "max_vars": [Interval(Integral, 1, None, closed="left"), None],
        "min_samples_leaf": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0.0, 1.0, closed="neither"),
        ],
        "test_size": [Interval(RealNotInt, 0.0, 1.0, closed="neither")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "tol": [Interval(Real, 0.0, 1.0, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        max_depth: int = 3,
        *,
        max_vars: int | None = None,
        min_samples_leaf: int | float = 1,
        test_size: float = 0.25,
        cv: int = 5,
        tol: float = 0.01,
        random_state: int | np.random.RandomState | None = None,
    ):
        self.max_depth = max_depth
        self.max_vars = max_vars
        self.min_samples_leaf = min_samples_leaf
        self.test_size = test_size
        self.cv = cv
        self.tol = tol
        self.random_state = random_state

    # ------------------------------------------------------------------ input handling
    def _frame(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """``X`` as a DataFrame with string column names (arrays get ``x0, x1, ...``)."""
        if hasattr(X, "to_pandas") and not isinstance(X, pd.DataFrame | np.ndarray):
            X = X.to_pandas()  # pyarrow Table
        if isinstance(X, pd.DataFrame):
            if reset:
                validate_data(self, X, reset=True, skip_check_array=True)
                self._input_columns = [str(c) for c in X.columns]
            frame = X.rename(columns=str)
            if frame.columns.has_duplicates:
                raise InputError(
                    "The feature table has duplicated column names.",
                    hint="Give every column a unique name.",
                )
            return frame
        categorical = not reset and any(v.kind == "categorical" for v in self._variables)
        arr = validate_data(
            self,
            X,
            reset=reset,
            dtype=None if categorical else np.float64,
            ensure_all_finite=not categorical,
        )
        if reset:
            self._input_columns = [f"x{i}" for i in range(arr.shape[1])]
        return pd.DataFrame(arr, columns=self._input_columns)

    def _make_tree(self, seed: int) -> DecisionTreeClassifier:
        return DecisionTreeClassifier(
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            random_state=seed,
        )

    def _cv_accuracy(
        self,
        Z: np.ndarray,
        y: np.ndarray,
        folds: Sequence[tuple[np.ndarray, np.ndarray]],
        seed: int,
    ) -> float:
        if not folds:  # a single training sample: nothing to validate on
            return float(np.mean(self._make_tree(seed).fit(Z, y).predict(Z) == y))
        scores = [
            np.mean(self._make_tree(seed).fit(Z[tr], y[tr]).predict(Z[va]) == y[va])
            for tr, va in folds
        ]
        return float(np.mean(scores))

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: pd.DataFrame | np.ndarray, segments: Any) -> TypingTool:
        """Choose the golden questions and fit the rules that reproduce ``segments``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Features (a DataFrame may mix numeric and categorical columns; arrays must be
            numeric, their columns are named ``x0, x1, ...``).
        segments : array-like of shape (n_samples,)
            Segment id of each row, from the segmentation to reproduce.

        Returns
        -------
        TypingTool
            The fitted typing tool.
        """
        if segments is None:
            raise InputError(
                "TypingTool requires y to be passed, but the target y is None.",
                hint="Pass the segment id of every row as `segments`.",
            )
        frame = self._frame(X, reset=True)
        y = column_or_1d(segments, warn=True)
        if y.dtype.kind in "fc":
            assert_all_finite(y, input_name="y")
        check_classification_targets(y)
        check_consistent_length(frame, y)
        n = len(y)
        if n < 2:
            raise InputError(
                f"TypingTool needs at least 2 samples to hold some out, got n_samples={n}.",
                hint="Fit on the whole segmented customer base.",
            )
        variables = _describe(frame)
        values = _convert(frame, variables, at="fit")
        columns: list[_Column] = []
        col_vars: list[int] = []
        for k, var in enumerate(variables):
            if var.kind == "numeric":
                columns.append(_Column(var.name, "numeric"))
                col_vars.append(k)
            else:
                for cat in var.categories:
                    columns.append(_Column(var.name, "category", cat))
                    col_vars.append(k)
        Z = _encode(values, columns, n)
        classes, y_idx = np.unique(y, return_inverse=True)
        n_classes = len(classes)

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))

        # Held-out split (stratified when every segment can appear on both sides).
        n_test = max(1, min(n - 1, math.ceil(self.test_size * n)))
        counts = np.bincount(y_idx, minlength=n_classes)
        can_stratify = counts.min() >= 2 and n_classes <= min(n_test, n - n_test)
        train_idx, test_idx = train_test_split(
            np.arange(n),
            test_size=n_test,
            random_state=seed,
            stratify=y_idx if can_stratify else None,
        )
        train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
        y_train, y_test = y_idx[train_idx], y_idx[test_idx]
        Z_train = Z[train_idx]

        # Folds on the training part, shared by every candidate.
        present = np.bincount(y_train)[np.bincount(y_train) > 0]
        dummy = np.zeros(len(train_idx))
        if present.min() >= 2:
            splitter: Any = StratifiedKFold(
                n_splits=min(self.cv, int(present.min())), shuffle=True, random_state=seed
            )
            folds = list(splitter.split(dummy, y_train))
        elif len(train_idx) >= 2:
            splitter = KFold(n_splits=min(self.cv, len(train_idx)), shuffle=True, random_state=seed)
            folds = list(splitter.split(dummy))
        else:
            folds = []

        # Greedy forward selection: the golden questions curve.
        limit = len(variables) if self.max_vars is None else min(self.max_vars, len(variables))
        selected: list[int] = []
        remaining = list(range(len(variables)))
        rows: list[dict[str, Any]] = []
        fits: list[tuple[DecisionTreeClassifier, list[int], _Tree]] = []
        for step in range(1, limit + 1):
            best_score, best_var = -1.0, -1
            for k in remaining:
                chosen = {*selected, k}
                cols = [j for j, v in enumerate(col_vars) if v in chosen]
                score = self._cv_accuracy(Z_train[:, cols], y_train, folds, seed)
                if score > best_score + _EPS:
                    best_score, best_var = score, k
            selected.append(best_var)
            remaining.remove(best_var)
            cols = [j for j, v in enumerate(col_vars) if v in set(selected)]
            sk_tree = self._make_tree(seed).fit(Z_train[:, cols], y_train)
            tree = _Tree.from_sklearn(sk_tree, [columns[j] for j in cols])
            test_pred = tree.segment[
                tree.apply(_encode(_subset(values, test_idx), tree.columns, len(test_idx)))
            ]
            rows.append(
                {
                    "n_vars": step,
                    "variable": variables[best_var].name,
                    "variables": tuple(variables[k].name for k in selected),
                    "cv_accuracy": best_score,
                    "accuracy": float(np.mean(test_pred == y_test)),
                }
            )
            fits.append((sk_tree, cols, tree))
            logger.debug("TypingTool step %d: %s", step, rows[-1])
            if best_score >= 1.0 - _EPS:
                break

        cv_scores = np.asarray([r["cv_accuracy"] for r in rows])
        chosen_step = int(np.flatnonzero(cv_scores >= cv_scores.max() - self.tol - _EPS)[0])
        sk_tree, cols, tree = fits[chosen_step]

        # The SQL/predict semantics (float64) versus scikit-learn's float32 on the fitted data.
        disagree = int(
            np.sum(
                sk_tree.predict(Z[:, cols])
                != tree.segment[tree.apply(_encode(values, tree.columns, n))]
            )
        )
        if disagree:
            logger.warning(
                "TypingTool: %d rows lie within float32 rounding of a threshold; predict() and"
                " the SQL follow the float64 comparison.",
                disagree,
            )

        used = set(tree.variables())
        self.classes_ = classes
        self.curve_ = pd.DataFrame(
            rows, columns=["n_vars", "variable", "variables", "cv_accuracy", "accuracy"]
        )
        self.variables_ = [
            variables[k].name for k in selected[: chosen_step + 1] if variables[k].name in used
        ]
        self.tree_ = sk_tree
        self.accuracy_ = float(rows[chosen_step]["accuracy"])
        self.holdout_indices_ = test_idx
        self.default_segment_ = _py(
            classes[int(np.argmax(np.bincount(y_train, minlength=n_classes)))]
        )
        self._default_index = int(np.argmax(np.bincount(y_train, minlength=n_classes)))
        self._tree = tree
        by_name = {v.name: v for v in variables}
        self._variables = [by_name[name] for name in self.variables_]
        self._answer_options = {
            var.name: self._options_for(var, values[var.name], tree) for var in self._variables
        }
        self.rules_ = self._rules(n_train=len(train_idx))
        logger.info(
            "TypingTool: %d variable(s) %s reproduce the segmentation with held-out accuracy %.3f",
            len(self.variables_),
            self.variables_,
            self.accuracy_,
        )
        return self

    @staticmethod
    def _options_for(var: _Variable, values: np.ndarray, tree: _Tree) -> dict[str, Any]:
        if var.kind == "categorical":
            return {"kind": "values", "values": list(var.categories)}
        distinct = np.unique(values)
        if len(distinct) <= _MAX_LISTED_VALUES:
            listed = [float(v) for v in distinct]
            if all(v.is_integer() for v in listed):
                return {"kind": "values", "values": [int(v) for v in listed]}
            return {"kind": "values", "values": listed}
        cuts = sorted(
            {
                float(tree.threshold[i])
                for i in range(len(tree.left))
                if tree.left[i] >= 0 and tree.columns[int(tree.column[i])].variable == var.name
            }
        )
        return {"kind": "bands", "cuts": cuts}

    def _rules(self, *, n_train: int | None) -> list[dict[str, Any]]:
        tree = self._tree
        rules = []
        for leaf, path in sorted(tree.leaf_paths()):
            conditions = _simplify(path)
            count = int(tree.n_samples[leaf])
            rules.append(
                {
                    "conditions": conditions,
                    "segment": _py(self.classes_[int(tree.segment[leaf])]),
                    "n_samples": count,
                    "support": count / n_train if n_train else float("nan"),
                    "purity": float(tree.purity[leaf]),
                    "sql": " AND ".join(_condition_sql(c) for c in conditions) or "TRUE",
                }
            )
        return rules

    # ------------------------------------------------------------------ predict
    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Segment of each row, from the chosen variables only.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            A DataFrame needs only the columns in ``variables_`` (matched by name); an array
            must have the columns of the data passed to :meth:`fit`, in order.

        Returns
        -------
        ndarray of shape (n_samples,)
            Segment ids (values of ``classes_``).
        """
        check_is_fitted(self)
        frame = self._frame(X, reset=False)
        values = _convert(frame, self._variables, at="predict")
        Z = _encode(values, self._tree.columns, len(frame))
        return self.classes_[self._tree.segment[self._tree.apply(Z)]]

    # ------------------------------------------------------------------ exports
    def to_sql(self, table: str = "customers", id_col: str | None = None) -> str:
        """The rules as one ``SELECT ... CASE WHEN ... END AS segment_id`` statement.

        Runs unchanged in DuckDB and PostgreSQL: identifiers are double-quoted, strings
        single-quoted, thresholds are the shortest decimals that read back as the tree's
        float64 thresholds, and only ``<=``, ``>``, ``=``, ``<>``, ``AND`` and ``CASE`` are
        used. Leaves predicting ``default_segment_`` are folded into the ``ELSE`` branch.

        Parameters
        ----------
        table : str, default="customers"
            Table (or ``schema.table``) with the chosen variables as columns.
        id_col : str, optional
            Column to select alongside the segment id (e.g. the customer id).

        Returns
        -------
        str
            The SQL statement.
        """
        check_is_fitted(self)
        default = _sql_literal(self.default_segment_)
        leaves = sorted(leaf for leaf, _ in self._tree.leaf_paths())
        whens = [
            f"    WHEN {rule['sql']} THEN {_sql_literal(rule['segment'])}"
            for leaf, rule in zip(leaves, self.rules_, strict=True)
            if int(self._tree.segment[leaf]) != self._default_index
        ]
        case = "CASE\n" + "\n".join(whens) + f"\n    ELSE {default}\n  END" if whens else default
        select = f"  {_quote_ident(id_col)},\n" if id_col is not None else ""
        return f'SELECT\n{select}  {case} AS "segment_id"\nFROM {_quote_table(table)}'

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible description of the fitted typing tool (no pickle involved).

        Returns
        -------
        dict
            Parameters, classes, chosen variables, the tree as node arrays, the curve, the rules
            and the answer options; ``json.dumps`` accepts it as is. ``tree_`` (the
            scikit-learn object) and ``holdout_indices_`` are not included.
        """
        check_is_fitted(self)
        params = self.get_params()
        if not (params["random_state"] is None or isinstance(params["random_state"], Integral)):
            params["random_state"] = None
        curve = [
            {**row, "variables": list(row["variables"])}
            for row in self.curve_.to_dict(orient="records")
        ]
        return {
            "estimator": "TypingTool",
            "format_version": _FORMAT_VERSION,
            "params": {k: _py(v) for k, v in params.items()},
            "classes": [_py(c) for c in self.classes_],
            "default_segment": int(self._default_index),
            "n_features_in": int(self.n_features_in_),
            "input_columns": list(self._input_columns),
            "feature_names_in": (
                [str(c) for c in self.feature_names_in_]
                if hasattr(self, "feature_names_in_")
                else None
            ),
            "variables": [v.to_dict() for v in self._variables],
            "tree": self._tree.to_dict(),
            "accuracy": float(self.accuracy_),
            "curve": [{k: _py(v) for k, v in row.items()} for row in curve],
            "rules": self.rules_,
            "answer_options": self._answer_options,
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as strict JSON (:func:`segmint._json.dumps`: NaN and inf as null).

        Keyword arguments pass through to :func:`json.dumps`.
        """
        return _json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TypingTool:
        """Rebuild a fitted typing tool from :meth:`to_dict` output.

        Parameters
        ----------
        data : dict
            Output of :meth:`to_dict` (possibly after a JSON round trip).

        Returns
        -------
        TypingTool
            A typing tool that predicts, exports SQL and questionnaires exactly like the
            original; ``tree_`` is ``None``.
        """
        if not isinstance(data, Mapping) or data.get("estimator") != "TypingTool":
            raise ModelError(
                "This is not a saved TypingTool.",
                hint="Pass the dict produced by TypingTool.to_dict().",
            )
        if data.get("format_version") != _FORMAT_VERSION:
            raise ModelError(
                f"Unsupported TypingTool format version {data.get('format_version')!r}.",
                hint=f"This segmint reads version {_FORMAT_VERSION}; re-export the model.",
            )
        try:
            est = cls(**dict(data["params"]))
            est._validate_params()
            classes = np.asarray(data["classes"])
            tree = _Tree.from_dict(data["tree"], len(classes))
            variables = [_Variable.from_dict(v) for v in data["variables"]]
            names = [v.name for v in variables]
            if sorted(set(tree.variables())) != sorted(names):
                raise ValueError("the tree's variables differ from the saved variables")
            default_index = int(data["default_segment"])
            if not 0 <= default_index < len(classes):
                raise ValueError("default segment outside the saved classes")
            curve = pd.DataFrame(
                [{**row, "variables": tuple(row["variables"])} for row in data["curve"]],
                columns=["n_vars", "variable", "variables", "cv_accuracy", "accuracy"],
            )
            est.classes_ = classes
            est.variables_ = names
            est.curve_ = curve
            est.accuracy_ = float(data["accuracy"])
            est.tree_ = None
            est.default_segment_ = _py(classes[default_index])
            est.n_features_in_ = int(data["n_features_in"])
            if data.get("feature_names_in") is not None:
                est.feature_names_in_ = np.asarray(data["feature_names_in"], dtype=object)
            est._input_columns = [str(c) for c in data["input_columns"]]
            est._default_index = default_index
            est._tree = tree
            est._variables = variables
            est._answer_options = {str(k): dict(v) for k, v in data["answer_options"].items()}
            est.rules_ = est._rules(n_train=None)
            for mine, saved in zip(est.rules_, data["rules"], strict=True):
                mine["support"] = float(saved["support"])  # the training size is not saved
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ModelError(
                f"The saved TypingTool is incomplete or malformed ({exc}).",
                hint="Re-export it with TypingTool.to_dict().",
            ) from None
        return est

    @classmethod
    def from_json(cls, text: str) -> TypingTool:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(
                f"The saved TypingTool is not valid JSON ({exc.msg}).",
                hint="Re-export it with TypingTool.to_json().",
            ) from None
        return cls.from_dict(data)

    # ------------------------------------------------------------------ questionnaire
    def _answers(self, var: _Variable, labels: Mapping[Any, str]) -> list[dict[str, Any]]:
        options = self._answer_options[var.name]
        if options["kind"] == "values":
            out = []
            for value in options["values"]:
                default = _fmt_number(value) if var.kind == "numeric" else str(value)
                out.append({"value": value, "label": labels.get(value, default)})
            return out
        cuts = options["cuts"]
        edges: list[float | None] = [None, *cuts, None]
        out = []
        for lo, hi in itertools.pairwise(edges):
            if lo is None:
                default = f"<= {_fmt_number(hi)}"
            elif hi is None:
                default = f"> {_fmt_number(lo)}"
            else:
                default = f"> {_fmt_number(lo)} and <= {_fmt_number(hi)}"
            out.append({"value": [lo, hi], "label": labels.get(default, default)})
        return out

    @staticmethod
    def _allowed(
        var: _Variable, answers: Sequence[Mapping[str, Any]], conds: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        allowed = []
        for answer in answers:
            value = answer["value"]
            if isinstance(value, list):  # a band (low, high]: inside or outside every condition
                lo, hi = value
                ok = all(
                    (c["op"] == ">" and lo is not None and lo >= c["value"])
                    or (c["op"] == "<=" and hi is not None and hi <= c["value"])
                    for c in conds
                )
            else:
                ok = all(_holds(c, value) for c in conds)
            if ok:
                allowed.append(value)
        return allowed

    def to_questionnaire(
        self,
        question_text: dict[str, str] | None = None,
        answer_labels: dict[str, dict] | None = None,
    ) -> list[dict[str, Any]]:
        """A short questionnaire: the chosen items in order, their answers and the routing.

        Parameters
        ----------
        question_text : dict[str, str], optional
            Wording of each item, by variable name (default: the variable name).
        answer_labels : dict[str, dict], optional
            Answer labels by variable, then by answer value (for categorical items and numeric
            items listed value by value) or by the default band label (``"<= 39.5"``) for
            numeric items asked in bands.

        Returns
        -------
        list of dict
            One item per variable of ``variables_``, in that order, with ``number`` (1-based),
            ``variable``, ``question``, ``kind`` (``"numeric"``/``"categorical"``), ``answers``
            (list of ``{"value", "label"}``: the distinct values seen at fit, or the categories,
            or for numeric variables with more than 20 distinct values the bands between the
            tree's thresholds, ``value`` being ``[low, high]`` meaning ``low < x <= high``,
            ``None`` for an open end), ``routing`` and ``next``.

            Routing: after answering item ``k``, check its ``routing`` rules in order; each is
            ``{"if": [{"number", "variable", "answers"}], "segment", "text"}`` and matches when
            every listed item's answer is among ``answers``. The first match ends the
            questionnaire with that segment; otherwise continue with item ``next`` (``None``
            after the last item, where some rule always matches). The rules are the tree's
            leaves, each attached to the last item it needs.
        """
        check_is_fitted(self)
        question_text = dict(question_text or {})
        answer_labels = dict(answer_labels or {})
        numbers = {name: i + 1 for i, name in enumerate(self.variables_)}
        items: list[dict[str, Any]] = []
        for var in self._variables:
            items.append(
                {
                    "number": numbers[var.name],
                    "variable": var.name,
                    "question": question_text.get(var.name, var.name),
                    "kind": var.kind,
                    "answers": self._answers(var, answer_labels.get(var.name, {})),
                    "routing": [],
                    "next": numbers[var.name] + 1 if numbers[var.name] < len(numbers) else None,
                }
            )
        if not items:
            return items
        by_name = {item["variable"]: item for item in items}
        var_by_name = {v.name: v for v in self._variables}
        for rule in self.rules_:
            per_var: dict[str, list[Mapping[str, Any]]] = {}
            for cond in rule["conditions"]:
                per_var.setdefault(cond["variable"], []).append(cond)
            ordered = sorted(per_var, key=numbers.__getitem__)
            clauses, texts = [], []
            for name in ordered:
                item = by_name[name]
                allowed = self._allowed(var_by_name[name], item["answers"], per_var[name])
                clauses.append({"number": item["number"], "variable": name, "answers": allowed})
                labels = [a["label"] for a in item["answers"] if a["value"] in allowed]
                texts.append(f"Q{item['number']} is " + " or ".join(map(repr, labels)))
            target = by_name[ordered[-1]] if ordered else items[0]
            target["routing"].append(
                {
                    "if": clauses,
                    "segment": rule["segment"],
                    "text": f"If {' and '.join(texts) or 'always'}: segment {rule['segment']!r}",
                }
            )
        return items


def _subset(values: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: arr[rows] for name, arr in values.items()}


GOLDEN_SAMPLE = 5000


def fit_typing_tool(
    features: pd.DataFrame, labels: np.ndarray, *, seed: int, max_rows: int = GOLDEN_SAMPLE
) -> TypingTool | None:
    """The typing tool of a run: at most 4 golden questions, depth 3.

    Fitted on a seeded sample of at most ``max_rows`` customers (the rules need few rows and
    the run stays quick on large bases). Returns ``None`` when there is nothing to type
    (one segment) or the features have gaps the tree cannot route.
    """
    X = features.reset_index(drop=True)
    labels = np.asarray(labels)
    if len(X) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), max_rows, replace=False))
        X, labels = X.iloc[rows].reset_index(drop=True), labels[rows]
    if X.isna().any(axis=None) or len(np.unique(labels)) < 2:
        return None
    try:
        return TypingTool(3, max_vars=4, cv=3, random_state=seed).fit(X, labels)
    except SegmintError as exc:
        logger.warning("typing tool not fitted: %s", exc)
        return None
