"""The typing tool's fitted tree as plain arrays, and its leaves as simple conditions.

:class:`_Tree` holds a fitted decision tree as node arrays, evaluated in float64 exactly like
the exported SQL, and (de)serialised for the JSON artefact; :func:`_simplify` merges the tests
of a root-to-leaf path into the conditions of a rule, written as SQL by :func:`_condition_sql`
and checked against an answer by :func:`_holds`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from segmint.profile._typing_values import _Column, _quote_ident, _sql_literal


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
