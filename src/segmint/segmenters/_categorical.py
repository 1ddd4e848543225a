"""Table input, column types and categorical encoding, shared by the mixed-type and
latent-class segmenters.

* :func:`_as_frame` -- ``X`` validated at the boundary and returned as a DataFrame with
  positional columns (DataFrames keep their dtypes; arrays get the narrowest inferred dtype);
* :func:`_is_categorical_dtype` -- which columns count as categorical by default;
* :func:`_fit_categories` / :func:`_encode` -- the observed levels of each categorical column
  (sorted, as JSON scalars, or keyed on ``str(value)``) and the integer codes of new data in
  them (-1 for missing or unseen values);
* :func:`_resolve_columns` / :func:`_numeric` -- which columns are numeric and which
  categorical, and the numeric ones as complete floats;
* :func:`_column_label` -- how an error message names a column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from segmint.exceptions import InputError

_JSON_SCALARS = (str, bool, int, float)


def _as_frame(estimator: BaseEstimator, X: Any, *, reset: bool) -> pd.DataFrame:
    """Validate ``X`` at the boundary and return it as a DataFrame with positional columns.

    DataFrames keep their column dtypes. Any other 2-D array-like goes through
    :func:`~sklearn.utils.check_array` (no sparse input, NaN allowed here and rejected later
    where it is not supported) and each column gets the narrowest dtype pandas infers, so an
    object array of numbers is numeric and an array of strings is categorical.
    """
    if isinstance(X, pd.DataFrame):
        validate_data(estimator, X, skip_check_array=True, reset=reset)
        frame = X
        if frame.shape[0] < 1 or frame.shape[1] < 1:
            raise ValueError(
                f"Found array with shape {frame.shape}; {type(estimator).__name__} needs at "
                "least 1 sample and 1 feature."
            )
    else:
        try:
            arr = check_array(
                X,
                dtype=None,
                ensure_all_finite=False,
                estimator=estimator,
                input_name="X",
            )
        except TypeError as exc:
            if "sparse" in str(exc).lower():
                raise
            raise TypeError(
                f"{type(estimator).__name__} could not read X ({exc}); every argument must be "
                "a string or a number (or missing)."
            ) from exc
        validate_data(estimator, arr, skip_check_array=True, reset=reset)
        frame = pd.DataFrame(arr).infer_objects()
    frame = frame.copy(deep=False)
    frame.columns = range(frame.shape[1])
    return frame.reset_index(drop=True)


def _is_categorical_dtype(dtype: Any) -> bool:
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _unique_levels(col: pd.Series, label: str) -> tuple[list[Any], bool]:
    """Observed levels of a categorical column, sorted, as JSON scalars.

    Returns the levels and whether the column must be keyed on ``str(value)`` because some
    values are not JSON scalars (dates, tuples, ...).
    """
    observed = col[col.notna()]
    try:
        uniques = pd.unique(observed.to_numpy(dtype=object))
    except TypeError as exc:
        raise TypeError(
            f"Categorical column {label} holds an unhashable value ({exc}); every argument "
            "must be a string or a number (or missing)."
        ) from exc
    values = [u.item() if isinstance(u, np.generic) else u for u in uniques]
    as_str = not all(isinstance(v, _JSON_SCALARS) for v in values)
    if as_str:
        values = sorted({str(v) for v in values})
    else:
        try:
            values = sorted(values)
        except TypeError:
            values = sorted(values, key=lambda v: (type(v).__name__, str(v)))
    return values, as_str


def _codes(col: pd.Series, levels: list[Any], as_str: bool) -> np.ndarray:
    """Integer codes of ``col`` in ``levels``; -1 for missing or unseen values."""
    values = col.astype(object)
    missing = values.isna().to_numpy()
    if as_str:
        values = values.where(missing, values.astype(str))
    try:
        codes = pd.Index(levels, dtype=object).get_indexer(values)
    except TypeError as exc:
        raise TypeError(
            f"Could not encode a categorical column ({exc}); every argument must be a string "
            "or a number (or missing)."
        ) from exc
    codes = np.asarray(codes, dtype=np.int64)
    codes[missing] = -1
    return codes


def _fit_categories(frame: pd.DataFrame, columns: list[int]) -> tuple[list[list], list[bool]]:
    levels, as_str = [], []
    for c in columns:
        lv, s = _unique_levels(frame.iloc[:, c], f"{c}")
        levels.append(lv)
        as_str.append(s)
    return levels, as_str


def _encode(
    frame: pd.DataFrame, columns: list[int], levels: list[list], as_str: list[bool]
) -> tuple[np.ndarray, np.ndarray]:
    """Codes (n_samples, len(columns)) and a mask of values unseen in training."""
    n = frame.shape[0]
    codes = np.empty((n, len(columns)), dtype=np.int64)
    unseen = np.zeros((n, len(columns)), dtype=bool)
    for i, c in enumerate(columns):
        col = frame.iloc[:, c]
        codes[:, i] = _codes(col, levels[i], as_str[i])
        unseen[:, i] = (codes[:, i] < 0) & col.notna().to_numpy()
    return codes, unseen


def _column_label(estimator: BaseEstimator, position: int) -> str:
    names = getattr(estimator, "feature_names_in_", None)
    return repr(str(names[position])) if names is not None else f"at position {position}"


def _resolve_columns(
    estimator: BaseEstimator, frame: pd.DataFrame, original: Any
) -> tuple[list[int], list[int]]:
    """Positions of the numeric and the categorical columns of ``frame``.

    The categorical ones are ``estimator.categorical_features`` (names, positions or a mask),
    or the columns of categorical dtype; every other column must be numeric.
    """
    p = frame.shape[1]
    names = list(original.columns) if isinstance(original, pd.DataFrame) else list(range(p))
    if estimator.categorical_features is None:
        cat = [c for c in range(p) if _is_categorical_dtype(frame.dtypes.iloc[c])]
    else:
        spec = np.asarray(estimator.categorical_features)
        if spec.dtype == bool:
            if spec.shape != (p,):
                raise ValueError(
                    f"categorical_features as a boolean mask must have length "
                    f"n_features={p}, got shape {spec.shape}. Pass one flag per column."
                )
            cat = [int(i) for i in np.flatnonzero(spec)]
        else:
            cat = []
            for item in np.atleast_1d(spec).tolist():
                if item in names:
                    cat.append(names.index(item))
                elif isinstance(item, int) and not isinstance(original, pd.DataFrame):
                    if not 0 <= item < p:
                        raise ValueError(
                            f"categorical_features holds position {item} but X has {p} "
                            "columns. Pass positions in 0..n_features-1."
                        )
                    cat.append(item)
                else:
                    raise ValueError(
                        f"categorical_features names column {item!r}, which is not in X "
                        f"(columns: {names[:10]}{'...' if p > 10 else ''}). Pass column "
                        "names of X."
                    )
            cat = sorted(set(cat))
    num = [c for c in range(p) if c not in cat]
    for c in num:
        dtype = frame.dtypes.iloc[c]
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
            raise InputError(
                f"Column {names[c]!r} has dtype {dtype}, which is neither numeric nor categorical.",
                hint="Convert it to numbers, or list it in categorical_features=.",
            )
    return num, cat


def _numeric(estimator: BaseEstimator, frame: pd.DataFrame, columns: list[int]) -> np.ndarray:
    """The numeric ``columns`` of ``frame`` as floats; refuses NaN and infinity."""
    if not columns:
        return np.zeros((frame.shape[0], 0))
    values = frame.iloc[:, columns].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"Input X contains NaN or infinity in numeric column "
            f"{_column_label(estimator, columns[col])} (row {row}); "
            f"{type(estimator).__name__} needs complete numeric columns.",
            hint="Impute or drop the missing numeric values, or declare the column "
            "categorical with categorical_features=.",
        )
    return values
