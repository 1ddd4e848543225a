"""Card sections computed from per-customer tables: who they are and why they buy.

Each section compares the segment's customers (the boolean mask ``inside``) with everyone:

* :func:`_who` -- the customer table: numeric attributes (:func:`_numeric_who`), categories
  and the largest country (:func:`_category_who`), and the hemisphere split
  (:func:`_hemisphere_who`, with :func:`hemisphere` and :func:`country_column`);
* :func:`_why` -- the survey answers (needs and attitudes), by Welch tests
  (:func:`_welch_p`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from segmint.profile._card_model import Statement, _pct, _words

# Countries (names and ISO 3166 alpha-2 codes) whose population lives mostly south of the
# equator, and those mostly within the tropics astride it (no winter to time a campaign by).
# Every other named country counts as northern.
SOUTHERN = frozenset(
    {
        "australia", "au", "new zealand", "nz", "south africa", "za", "argentina", "ar",
        "chile", "cl", "uruguay", "uy", "paraguay", "py", "bolivia", "bo", "peru", "pe",
        "brazil", "br", "namibia", "na", "botswana", "bw", "zimbabwe", "zw", "zambia", "zm",
        "mozambique", "mz", "madagascar", "mg", "malawi", "mw", "angola", "ao", "lesotho",
        "ls", "eswatini", "sz", "mauritius", "mu", "fiji", "fj", "samoa", "ws", "tonga", "to",
        "papua new guinea", "pg", "tanzania", "tz", "indonesia", "id",
    }
)  # fmt: skip
EQUATORIAL = frozenset(
    {
        "ecuador", "ec", "colombia", "co", "kenya", "ke", "uganda", "ug", "gabon", "ga",
        "congo", "cg", "democratic republic of the congo", "cd", "somalia", "so", "singapore",
        "sg", "kiribati", "ki", "sao tome and principe", "st",
    }
)  # fmt: skip
_COUNTRY_COLUMNS = ("country", "country_code", "land")
_DEVICE_COLUMNS = ("preferred_device", "device")
_MAX_LEVELS = 12


def hemisphere(country: pd.Series) -> pd.Series:
    """``southern``, ``northern`` or ``equatorial`` for each country name or ISO code.

    Missing countries stay missing. The southern and equatorial lists are
    :data:`SOUTHERN` and :data:`EQUATORIAL`; every other named country is northern.
    """
    key = country.astype("string").str.strip().str.lower()
    out = pd.Series("northern", index=country.index, dtype="string")
    out[key.isin(SOUTHERN).fillna(False).to_numpy(dtype=bool)] = "southern"
    out[key.isin(EQUATORIAL).fillna(False).to_numpy(dtype=bool)] = "equatorial"
    out[key.isna().to_numpy()] = pd.NA
    return out


def country_column(customers: pd.DataFrame | None) -> str | None:
    """The customer column holding the country, if any."""
    if customers is None:
        return None
    return next((c for c in _COUNTRY_COLUMNS if c in customers.columns), None)


def _welch_p(a: pd.Series, b: pd.Series) -> float:
    """Two-sided Welch t-test p-value; 1 when neither group varies and the means are equal."""
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if a.iloc[0] == b.iloc[0] else 0.0
    with warnings.catch_warnings():
        # a group of identical values (e.g. one answer by every respondent) is a valid
        # input; scipy warns about its "catastrophic cancellation" in the variance
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def _who(inside: np.ndarray, customers: pd.DataFrame | None, alpha: float) -> list[Statement]:
    """Demographics and geography: every numeric attribute that differs significantly (age
    always), the top country, any over-represented category (index >= 120, significant), and
    the hemisphere split."""
    if customers is None:
        return []
    out: list[Statement] = []
    country = country_column(customers)
    for column in customers.columns:
        if column.endswith("_consent") or column in _DEVICE_COLUMNS:
            continue
        values = customers[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        if pd.api.types.is_numeric_dtype(values):
            statement = _numeric_who(column, values, inside, alpha)
        else:
            statement = _category_who(column, values, inside, alpha, country)
        if statement is not None:
            out.append(statement)
    if country is not None:
        out += _hemisphere_who(inside, customers, country)
    return out


def _numeric_who(
    column: str, values: pd.Series, inside: np.ndarray, alpha: float
) -> Statement | None:
    """A numeric attribute of the segment against all customers, if it differs significantly
    (age always)."""
    x = values.astype(float)
    a, b = x[inside].dropna(), x[~inside].dropna()
    if len(a) < 2 or len(b) < 2:
        return None
    p = _welch_p(a, b)
    if p < alpha:
        direction = "higher" if a.mean() > b.mean() else "lower"
        text = (
            f"Average {_words(column)} {a.mean():.1f} vs {x.mean():.1f} across all"
            f" customers (significantly {direction})."
        )
    elif column == "age":
        text = (
            f"Average age {a.mean():.1f}, like the {x.mean():.1f} of all customers (no"
            " significant difference)."
        )
    else:
        return None
    return Statement(text, float(a.mean()), f"customers:{column}")


def _category_who(
    column: str, values: pd.Series, inside: np.ndarray, alpha: float, country: str | None
) -> Statement | None:
    """The segment's largest country, or its most over-represented level of a categorical
    attribute (index >= 120, significant)."""
    levels = values.astype("string")
    if not 2 <= levels.nunique() <= _MAX_LEVELS:
        return None
    seg_share = levels[inside].value_counts(normalize=True)
    all_share = levels.value_counts(normalize=True)
    if seg_share.empty:
        return None
    if column == country:
        top = str(seg_share.index[0])
        return Statement(
            f"Largest {_words(column)}: {top}, {_pct(seg_share.iloc[0])} of the segment vs"
            f" {_pct(all_share[top])} of all customers.",
            float(seg_share.iloc[0]),
            f"customers:{column}",
        )
    index = (seg_share / all_share.reindex(seg_share.index)).where(seg_share >= 0.1)
    if index.dropna().empty:
        return None
    level = str(index.idxmax())
    n_in, n_all = int(inside.sum()), int(levels.notna().sum())
    hits_in = int((levels[inside] == level).sum())
    hits_out = int((levels[~inside] == level).sum())
    table = np.array([[hits_in, n_in - hits_in], [hits_out, n_all - n_in - hits_out]])
    p = stats.chi2_contingency(table, correction=False)[1] if table.min() >= 0 else 1.0
    if index[level] >= 1.2 and p < alpha:
        return Statement(
            f"Over-represented {_words(column)}: {level}, {_pct(seg_share[level])} of the"
            f" segment vs {_pct(all_share[level])} of all customers.",
            float(seg_share[level]),
            f"customers:{column}",
        )
    return None


def _hemisphere_who(inside: np.ndarray, customers: pd.DataFrame, country: str) -> list[Statement]:
    """The segment's share in the southern hemisphere, against all customers."""
    sides = hemisphere(customers[country])
    known = sides.notna().to_numpy()
    if not (inside & known).any():
        return []
    south = float((sides[inside & known] == "southern").mean())
    south_all = float((sides[known] == "southern").mean())
    return [
        Statement(
            f"{_pct(south)} live in the southern hemisphere (all customers:"
            f" {_pct(south_all)}), {_pct(1 - south)} elsewhere.",
            south,
            f"customers:{country}",
        )
    ]


def _why(
    inside: np.ndarray, needs: pd.DataFrame | None, alpha: float, top: int = 3
) -> list[Statement]:
    if needs is None or needs.empty:
        return []
    answered = needs.notna().any(axis=1).to_numpy()
    n_resp = int((inside & answered).sum())
    if n_resp < 2:
        return []
    out = []
    rows = []
    for item in needs.columns:
        x = needs[item].astype(float)
        a, b = x[inside].dropna(), x[~inside].dropna()
        if len(a) < 2 or len(b) < 2:
            continue
        p = min(1.0, _welch_p(a, b) * needs.shape[1])
        rows.append((item, float(a.mean()), float(x.mean()), float(p)))
    ranked = sorted(rows, key=lambda r: r[1] - r[2], reverse=True)
    for item, seg, overall, p in ranked[:top]:
        if seg <= overall or p >= alpha:
            continue
        out.append(
            Statement(
                f"Rate ‘{_words(item)}’ {seg:.1f} on the 1–5 scale vs {overall:.1f} for all"
                f" respondents ({n_resp:,} respondents in the segment).",
                seg,
                f"survey:{item}",
            )
        )
    if ranked:
        item, seg, overall, p = ranked[-1]
        if seg < overall and p < alpha:
            out.append(
                Statement(
                    f"Care least about ‘{_words(item)}’: {seg:.1f} vs {overall:.1f} for all"
                    " respondents.",
                    seg,
                    f"survey:{item}",
                )
            )
    return out
