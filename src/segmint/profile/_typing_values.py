"""The typing tool's input: values as JSON/SQL scalars, the variables and their encoding.

Small value helpers (Python scalars, SQL literals and identifiers, numbers for labels), the
description of the input columns (:class:`_Variable`: numeric or categorical), their checked
conversion at fit and predict (:func:`_convert`) and the float64 design matrix the tree is
fitted on, categories one-hot (:func:`_design`, :func:`_encode`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from segmint.exceptions import ConfigError, InputError, ModelError


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


def _design(
    variables: Sequence[_Variable], values: Mapping[str, np.ndarray], n: int
) -> tuple[list[_Column], list[int], np.ndarray]:
    """The encoded matrix of ``variables``: its columns (a numeric variable, or one category of
    a categorical one), the variable of each column (index into ``variables``) and the matrix
    (:func:`_encode`)."""
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
    return columns, col_vars, _encode(values, columns, n)


def _subset(values: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: arr[rows] for name, arr in values.items()}
