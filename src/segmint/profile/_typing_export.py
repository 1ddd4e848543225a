"""The typing tool's rules and their exports: SQL and a short routed questionnaire.

:class:`_RuleExports` is mixed into :class:`~segmint.profile._typing_tool.TypingTool`: the
rules of the fitted tree (one per leaf), the answer options of every chosen variable, the rules
as one portable ``SELECT ... CASE`` statement (:meth:`~_RuleExports.to_sql`) and as a
questionnaire with routing (:meth:`~_RuleExports.to_questionnaire`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from segmint.profile._typing_tree import _condition_sql, _holds, _simplify, _Tree
from segmint.profile._typing_values import (
    _fmt_number,
    _py,
    _quote_ident,
    _quote_table,
    _sql_literal,
    _Variable,
)

_MAX_LISTED_VALUES = 20  # numeric variables with more distinct values are asked in bands


class _RuleExports:
    """The rules of a fitted typing tool and their exports (mixed into ``TypingTool``)."""

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
