"""Spreadsheet-safe CSV: text cells that a spreadsheet would run as a formula are neutralised.

Excel, LibreOffice and Google Sheets treat a cell that begins with ``=``, ``+``, ``-`` or ``@``
(and, in some versions, a tab or carriage return) as a formula, so a customer id such as
``=HYPERLINK("http://evil","click")`` or ``+1+1`` in a CSV becomes a live formula when an analyst
opens the file (CSV or formula injection). Following OWASP's rule [1]_, every CSV segmint
writes prefixes such a text cell with a single quote (``'``), which spreadsheets show as text.
Number columns are never touched, nor are text cells that are plain numbers (``-12``,
``+3.5e2``: a spreadsheet reads those as numbers, not formulas), so identifiers like ``-123``
keep their value. Machine-to-machine files can opt out (``spreadsheet_safe=False``; the
``--raw-csv`` option of ``segmint score`` and ``segmint export``).

References
----------
.. [1] OWASP, *CSV Injection*, https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

__all__ = ["FORMULA_PREFIXES", "spreadsheet_safe"]

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as spreadsheet formulas.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table about to be written as CSV.

    Returns
    -------
    pandas.DataFrame
        The same table, with every text cell that starts with one of :data:`FORMULA_PREFIXES`
        and is not a plain number prefixed by ``'``; other cells, and numeric, boolean and date
        columns, unchanged. The column names are neutralised the same way.

    Examples
    --------
    >>> frame = pd.DataFrame({"id": ["=1+1", "-12", "a"], "n": [-1, 2, 3]})
    >>> spreadsheet_safe(frame)["id"].tolist()
    ["'=1+1", '-12', 'a']
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if is_numeric_dtype(values) or is_bool_dtype(values):
            continue
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        text = values.astype("string")
        risky = text.str.startswith(FORMULA_PREFIXES).fillna(False) & ~text.str.match(
            _PLAIN_NUMBER
        ).fillna(False)
        hit = risky.to_numpy(dtype=bool)
        if hit.any():
            out[column] = values.astype(object).where(~hit, "'" + text.astype(object))
    out.columns = [_safe_name(c) for c in out.columns]
    return out


def _safe_name(name: object) -> object:
    if isinstance(name, str) and name.startswith(FORMULA_PREFIXES):
        return "'" + name
    return name
