"""Choosing the typing tool's golden questions: held-out split, folds, forward selection.

The rows are split once into a training part and a held-out part (which takes no part in any
choice, :func:`_holdout_split`); cross-validation folds on the training part
(:func:`_training_folds`) score every candidate variable of the greedy forward selection
(:class:`_VariableSelection`), whose steps make the golden questions curve with the held-out
accuracy of each. :func:`_warn_float32_disagreement` checks the float64 rules against
scikit-learn's float32 predictions on the fitted data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.tree import DecisionTreeClassifier

from segmint._logging import logger
from segmint.profile._typing_tree import _Tree
from segmint.profile._typing_values import _Column, _encode, _Variable

_EPS = 1e-12


class _VariableSelection:
    """The golden questions curve: greedy forward selection of variables by cross-validation.

    Mixed into :class:`~segmint.profile._typing_tool.TypingTool`, whose parameters
    (``max_depth``, ``min_samples_leaf``, ``max_vars``) it reads.
    """

    max_depth: int
    min_samples_leaf: int | float
    max_vars: int | None

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

    def _forward_selection(
        self,
        Z_train: np.ndarray,
        y_train: np.ndarray,
        folds: Sequence[tuple[np.ndarray, np.ndarray]],
        seed: int,
        *,
        variables: Sequence[_Variable],
        columns: Sequence[_Column],
        col_vars: Sequence[int],
        test_values: Mapping[str, np.ndarray],
        y_test: np.ndarray,
    ) -> tuple[
        list[int], list[dict[str, Any]], list[tuple[DecisionTreeClassifier, list[int], _Tree]]
    ]:
        """Add, step by step, the variable whose addition gives the best cross-validated accuracy.

        Stops after ``max_vars`` variables or once cross-validated accuracy reaches 1. Returns
        the variables in the order added (indices into ``variables``), the curve's rows
        (``n_vars, variable, variables, cv_accuracy, accuracy``: the last on the held-out
        ``test_values``) and per step the fitted tree, its encoded columns and its
        :class:`~segmint.profile._typing_tree._Tree`.
        """
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
            test_pred = tree.segment[tree.apply(_encode(test_values, tree.columns, len(y_test)))]
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
        return selected, rows, fits


def _holdout_split(
    y_idx: np.ndarray, n_classes: int, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted positions of the training and the held-out rows (``test_size`` of them, at least
    one each), stratified when every segment can appear on both sides."""
    n = len(y_idx)
    n_test = max(1, min(n - 1, math.ceil(test_size * n)))
    counts = np.bincount(y_idx, minlength=n_classes)
    can_stratify = counts.min() >= 2 and n_classes <= min(n_test, n - n_test)
    train_idx, test_idx = train_test_split(
        np.arange(n),
        test_size=n_test,
        random_state=seed,
        stratify=y_idx if can_stratify else None,
    )
    return np.sort(train_idx), np.sort(test_idx)


def _training_folds(y_train: np.ndarray, cv: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``cv`` folds on the training part, shared by every candidate: stratified when every
    segment present has two members, none for a single training row."""
    present = np.bincount(y_train)[np.bincount(y_train) > 0]
    dummy = np.zeros(len(y_train))
    if present.min() >= 2:
        splitter: Any = StratifiedKFold(
            n_splits=min(cv, int(present.min())), shuffle=True, random_state=seed
        )
        folds = list(splitter.split(dummy, y_train))
    elif len(y_train) >= 2:
        splitter = KFold(n_splits=min(cv, len(y_train)), shuffle=True, random_state=seed)
        folds = list(splitter.split(dummy))
    else:
        folds = []
    return folds


def _warn_float32_disagreement(
    sk_tree: DecisionTreeClassifier,
    tree: _Tree,
    Z: np.ndarray,
    values: Mapping[str, np.ndarray],
) -> None:
    """Log the rows where scikit-learn's float32 prediction differs from the SQL/predict
    semantics (float64) on the fitted data (``Z``: all rows, the tree's encoded columns)."""
    n = len(Z)
    disagree = int(
        np.sum(sk_tree.predict(Z) != tree.segment[tree.apply(_encode(values, tree.columns, n))])
    )
    if disagree:
        logger.warning(
            "TypingTool: %d rows lie within float32 rounding of a threshold; predict() and"
            " the SQL follow the float64 comparison.",
            disagree,
        )
