"""JSON text the project writes: strict (no ``NaN``/``Infinity`` tokens) and numpy-aware.

Every JSON document segmint writes or prints (``run.json``, ``model.json``, the ``clv`` and
``inspect`` output, saved estimators) goes through :func:`dumps`, which writes non-finite numbers
as ``null`` and serialises with ``allow_nan=False``, so a document that other tools parse with a
strict JSON parser never holds a token they reject. A number that is not finite carries no
information a reader can use; where it has a cause, the producer records the cause beside it
(for instance a model's ``reason`` when a fit did not converge).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["dumps", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Return ``value`` with numpy/pandas scalars made plain and non-finite floats made ``None``.

    Parameters
    ----------
    value : Any
        Nested dicts, lists and tuples of scalars, numpy values, dates and paths.

    Returns
    -------
    Any
        The same structure with dict keys as strings, tuples as lists, numpy integers, floats
        and booleans as Python values, arrays as lists, dates as ISO strings, paths as strings,
        and NaN, +inf and -inf as ``None``.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "isoformat") and not isinstance(value, str):
        try:
            import pandas as pd

            if value is pd.NaT:
                return None
        except ImportError:  # pragma: no cover - pandas is a dependency
            pass
        return value.isoformat()
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Serialise ``value`` as strict JSON: :func:`to_jsonable`, then ``allow_nan=False``.

    Parameters
    ----------
    value : Any
        What to serialise.
    **kwargs
        Passed to :func:`json.dumps` (``indent``, ``sort_keys``, ``ensure_ascii``, ...);
        ``allow_nan`` cannot be switched back on.

    Returns
    -------
    str
        JSON text without ``NaN`` or ``Infinity``.
    """
    kwargs.pop("allow_nan", None)
    return json.dumps(to_jsonable(value), allow_nan=False, **kwargs)
