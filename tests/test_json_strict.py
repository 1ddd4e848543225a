"""No JSON the project writes holds NaN or Infinity: strict parsers (JavaScript, Go, Postgres
``jsonb``) reject those tokens, and a non-finite number tells a reader nothing."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segmint import _json

SRC = Path(__file__).resolve().parents[1] / "src" / "segmint"


def _strict_loads(text: str) -> object:
    def refuse(token: str) -> float:
        raise ValueError(f"non-finite JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_dumps_writes_non_finite_numbers_as_null() -> None:
    value = {
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": -np.inf,
        "np": np.float32("nan"),
        "arr": np.array([1.0, np.nan, np.inf]),
        "nested": [{"x": (np.float64(2.5), np.int64(3), np.bool_(True))}],
        "when": pd.Timestamp("2024-06-01 10:15"),
        "nat": pd.NaT,
        "path": Path("/tmp/x"),
        1: "key made a string",
    }
    text = _json.dumps(value, sort_keys=True)
    data = _strict_loads(text)
    assert data == {
        "nan": None,
        "inf": None,
        "ninf": None,
        "np": None,
        "arr": [1.0, None, None],
        "nested": [{"x": [2.5, 3, True]}],
        "when": "2024-06-01T10:15:00",
        "nat": None,
        "path": "/tmp/x",
        "1": "key made a string",
    }


def test_dumps_cannot_switch_allow_nan_back_on() -> None:
    assert _json.dumps([math.nan], allow_nan=True) == "[null]"


def _json_calls_without_strict_flag() -> list[str]:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            func = node.func
            if not (isinstance(func.value, ast.Name) and func.value.id == "json"):
                continue
            if func.attr not in {"dump", "dumps"}:
                continue
            strict = any(
                kw.arg == "allow_nan"
                and isinstance(kw.value, ast.Constant)
                and kw.value.value is False
                for kw in node.keywords
            )
            if not strict:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return offenders


def test_every_json_writer_in_the_package_is_strict() -> None:
    """json.dump(s) anywhere in src/ must pass allow_nan=False (or go through _json.dumps)."""
    assert _json_calls_without_strict_flag() == []


def test_the_static_check_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "segmint"
    bad.mkdir()
    (bad / "m.py").write_text("import json\njson.dumps({'x': 1})\njson.dumps(1, allow_nan=False)\n")
    monkeypatch.setattr(__import__(__name__), "SRC", bad, raising=False)
    monkeypatch.setitem(globals(), "SRC", bad)
    assert _json_calls_without_strict_flag() == ["m.py:2"]


def test_every_json_file_of_a_run_is_strict(demo_run: Path) -> None:
    files = sorted(demo_run.rglob("*.json"))
    assert {"run.json", "model.json"} <= {f.name for f in files}
    for path in files:
        _strict_loads(path.read_text(encoding="utf-8"))
