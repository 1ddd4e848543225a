"""The typing tool: the few questions that reproduce a segmentation ("golden questions").

A segmentation is usually fitted on many variables, but to *recognise* a new customer (or survey
respondent) a handful of variables and a short rule set are enough. :class:`TypingTool` finds them:
greedy forward selection of variables with a shallow decision tree, the accuracy-versus-number-of-
variables curve, and exports of the final tree as portable SQL, JSON and a short questionnaire.

Here live the estimator (its parameters, :meth:`~TypingTool.fit` and
:meth:`~TypingTool.predict`) and :func:`fit_typing_tool`, the typing tool of a run. Its parts:
the input and its encoding in :mod:`segmint.profile._typing_values`, the fitted tree in
:mod:`segmint.profile._typing_tree`, the choice of variables by cross-validation in
:mod:`segmint.profile._typing_selection`, the rules, SQL and questionnaire in
:mod:`segmint.profile._typing_export` and the JSON artefact in
:mod:`segmint.profile._typing_json`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
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

from segmint._logging import logger
from segmint.exceptions import InputError, SegmintError
from segmint.profile._typing_export import _RuleExports
from segmint.profile._typing_json import _TypingArtefact
from segmint.profile._typing_selection import (
    _EPS,
    _holdout_split,
    _training_folds,
    _VariableSelection,
    _warn_float32_disagreement,
)
from segmint.profile._typing_tree import _Tree
from segmint.profile._typing_values import (
    _convert,
    _describe,
    _design,
    _encode,
    _py,
    _subset,
    _Variable,
)

__all__ = ["TypingTool"]


class TypingTool(_TypingArtefact, _RuleExports, _VariableSelection, ClassifierMixin, BaseEstimator):
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
        columns, col_vars, Z = _design(variables, values, n)
        classes, y_idx = np.unique(y, return_inverse=True)
        n_classes = len(classes)

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        train_idx, test_idx = _holdout_split(y_idx, n_classes, self.test_size, seed)
        y_train = y_idx[train_idx]
        folds = _training_folds(y_train, self.cv, seed)
        selected, rows, fits = self._forward_selection(
            Z[train_idx],
            y_train,
            folds,
            seed,
            variables=variables,
            columns=columns,
            col_vars=col_vars,
            test_values=_subset(values, test_idx),
            y_test=y_idx[test_idx],
        )
        cv_scores = np.asarray([r["cv_accuracy"] for r in rows])
        chosen_step = int(np.flatnonzero(cv_scores >= cv_scores.max() - self.tol - _EPS)[0])
        sk_tree, cols, tree = fits[chosen_step]
        _warn_float32_disagreement(sk_tree, tree, Z[:, cols], values)
        self._set_fitted(
            classes,
            variables,
            values,
            selected,
            rows,
            fits[chosen_step],
            chosen_step,
            y_train,
            test_idx,
        )
        logger.info(
            "TypingTool: %d variable(s) %s reproduce the segmentation with held-out accuracy %.3f",
            len(self.variables_),
            self.variables_,
            self.accuracy_,
        )
        return self

    def _set_fitted(
        self,
        classes: np.ndarray,
        variables: Sequence[_Variable],
        values: Mapping[str, np.ndarray],
        selected: Sequence[int],
        rows: list[dict[str, Any]],
        chosen: tuple[DecisionTreeClassifier, list[int], _Tree],
        chosen_step: int,
        y_train: np.ndarray,
        test_idx: np.ndarray,
    ) -> None:
        """The fitted attributes, from the fit ``chosen`` of ``chosen_step`` on the curve."""
        sk_tree, _, tree = chosen
        n_classes = len(classes)
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
        self.rules_ = self._rules(n_train=len(y_train))

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
