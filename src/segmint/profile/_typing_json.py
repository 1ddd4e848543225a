"""The typing tool as a JSON artefact: saved with every fitted attribute, loaded exactly.

:class:`_TypingArtefact` is mixed into :class:`~segmint.profile._typing_tool.TypingTool`:
:meth:`~_TypingArtefact.to_dict` / :meth:`~_TypingArtefact.to_json` write the parameters,
classes, chosen variables, the tree as node arrays, the curve, the rules and the answer options
(no pickle); :meth:`~_TypingArtefact.from_dict` / :meth:`~_TypingArtefact.from_json` rebuild a
typing tool that predicts and exports exactly like the original.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from segmint import _json
from segmint.exceptions import ModelError
from segmint.profile._typing_tree import _Tree
from segmint.profile._typing_values import _py, _Variable

if TYPE_CHECKING:  # pragma: no cover
    from segmint.profile._typing_tool import TypingTool

_FORMAT_VERSION = 1


class _TypingArtefact:
    """Saving and loading a fitted typing tool as JSON (mixed into ``TypingTool``)."""

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
