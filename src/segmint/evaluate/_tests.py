"""Statistical tests behind the scorecard: do segments differ in what their members do?

Overall, every outcome is tested across all segments at once (Kruskal-Wallis for amounts and
counts, chi-square for yes/no outcomes); then every segment is tested against the rest of the
customers (Mann-Whitney U with Cohen's d as effect size, or a 2×2 chi-square with Cramér's V),
and the p-values of each family are corrected for multiple testing (Benjamini-Hochberg or Holm).

References
----------
.. [1] Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate: a practical
   and powerful approach to multiple testing. *JRSS B*, 57(1), 289-300.
.. [2] Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian
   Journal of Statistics*, 6(2), 65-70.
.. [3] Cohen, J. (1988). *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "bh_adjust",
    "cohens_d",
    "cramers_v",
    "distinctness",
    "eta_squared",
    "holm_adjust",
]

Correction = Literal["bh", "holm"]

_TEST_COLUMNS = [
    "outcome",
    "kind",
    "segment_id",
    "test",
    "statistic",
    "p_value",
    "p_adjusted",
    "effect_name",
    "effect",
    "segment_value",
    "rest_value",
]
_OVERALL_COLUMNS = [
    c for c in _TEST_COLUMNS if c not in ("segment_id", "segment_value", "rest_value")
]


def bh_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate); NaN stays NaN.

    ``p_adj(i) = min over j >= i of (m / j) p(j)`` for the p-values sorted ascending, capped
    at 1, where ``m`` is the number of non-missing p-values.

    Examples
    --------
    >>> bh_adjust([0.01, 0.04, 0.03, 0.20]).round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.2]
    """

    def step_up(ordered: np.ndarray) -> np.ndarray:
        m = len(ordered)
        scaled = ordered * m / np.arange(1, m + 1)
        return np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)

    return _adjust_sorted(p_values, step_up)


def holm_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error rate); NaN stays NaN.

    ``p_adj(i) = max over j <= i of min(1, (m - j + 1) p(j))`` for the p-values sorted
    ascending.

    Examples
    --------
    >>> holm_adjust([0.01, 0.04, 0.03, 0.20]).round(4).tolist()
    [0.04, 0.09, 0.09, 0.2]
    """

    def step_down(ordered: np.ndarray) -> np.ndarray:
        m = len(ordered)
        return np.maximum.accumulate(np.minimum(ordered * (m - np.arange(m)), 1.0))

    return _adjust_sorted(p_values, step_down)


def _adjust_sorted(
    p_values: Sequence[float] | np.ndarray, rule: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Apply ``rule`` to the non-missing p-values sorted ascending (stable), put the adjusted
    values back in their places; NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out
    values = p[ok]
    order = np.argsort(values, kind="stable")
    result = np.empty(len(values))
    result[order] = rule(values[order])
    out[ok] = result
    return out


def adjust(p_values: Sequence[float] | np.ndarray, method: Correction) -> np.ndarray:
    """Adjust ``p_values`` with ``"bh"`` (Benjamini-Hochberg) or ``"holm"``."""
    return bh_adjust(p_values) if method == "bh" else holm_adjust(p_values)


def eta_squared(values: Sequence[float] | np.ndarray, labels: Sequence | np.ndarray) -> float:
    """Share of the variance of ``values`` explained by the groups in ``labels``.

    ``eta² = SS_between / SS_total`` with ``SS_between = Σ n_g (mean_g - mean)²``; NaN when the
    values do not vary.

    Examples
    --------
    >>> eta_squared([1.0, 3.0, 5.0, 7.0], [0, 0, 1, 1])
    0.8
    """
    y = np.asarray(values, dtype=float)
    codes, inverse = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.bincount(inverse, minlength=codes.size)
    means = np.bincount(inverse, weights=y, minlength=codes.size) / np.maximum(counts, 1)
    total = float(((y - y.mean()) ** 2).sum())
    if total <= 0:
        return float("nan")
    between = float((counts * (means - y.mean()) ** 2).sum())
    return between / total


def cohens_d(inside: np.ndarray, outside: np.ndarray) -> float:
    """Standardised mean difference with the pooled standard deviation (Cohen's d)."""
    n1, n2 = inside.size, outside.size
    if n1 < 2 or n2 < 2:
        return float("nan")
    v1, v2 = inside.var(ddof=1), outside.var(ddof=1)
    pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
    if pooled <= 0:
        return 0.0 if inside.mean() == outside.mean() else float("inf")
    return float((inside.mean() - outside.mean()) / pooled)


def cramers_v(table: np.ndarray) -> tuple[float, float, float]:
    """Chi-square test of independence of a contingency table and Cramér's V.

    Returns ``(chi2, p_value, v)``; without continuity correction, so for a 2×2 table V is the
    absolute phi coefficient. Degenerate tables (a row or column of zeros) give ``(0, 1, 0)``.
    """
    table = np.asarray(table, dtype=float)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if min(table.shape) < 2:
        return 0.0, 1.0, 0.0
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    n = table.sum()
    v = float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))
    return float(chi2), float(p), v


def _kruskal(groups: list[np.ndarray]) -> tuple[float, float]:
    groups = [g for g in groups if g.size]
    if len(groups) < 2 or np.ptp(np.concatenate(groups)) == 0:
        return 0.0, 1.0
    result = stats.kruskal(*groups)
    return float(result.statistic), float(result.pvalue)


def _mannwhitney_each(
    y: np.ndarray, codes: np.ndarray, n_segments: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Whitney U of every segment against the rest, from one ranking of all values.

    Each test pools a segment with the rest of the customers, which is every customer: the
    pooled ranks and ties are the same for all segments, so ``y`` is ranked once instead of
    once per segment. The result equals ``scipy.stats.mannwhitneyu(inside, outside,
    alternative="two-sided", method="asymptotic")`` (continuity correction, tie-corrected
    variance): the statistic is U of the segment, the p-value two-sided. Segments that are
    empty or all customers, and constant ``y``, give ``(nan, 1)``.
    """
    n = y.size
    stat = np.full(n_segments, np.nan)
    p = np.ones(n_segments)
    if n == 0 or np.ptp(y) == 0:
        return stat, p
    rank_sums = np.bincount(codes, weights=stats.rankdata(y), minlength=n_segments)
    n1 = np.bincount(codes, minlength=n_segments).astype(float)
    n2 = n - n1
    ties = np.unique(y, return_counts=True)[1].astype(float)
    tie_term = float((ties**3 - ties).sum()) / (n * (n - 1.0))
    ok = (n1 > 0) & (n2 > 0)
    u1 = rank_sums - n1 * (n1 + 1) / 2
    u = np.maximum(u1, n1 * n2 - u1)
    sd = np.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (u - n1 * n2 / 2 - 0.5) / sd
    stat[ok] = u1[ok]
    p[ok] = np.clip(2 * stats.norm.sf(z[ok]), 0.0, 1.0)
    return stat, p


def distinctness(
    outcomes: pd.DataFrame,
    labels: np.ndarray,
    *,
    binary: Sequence[str] = (),
    correction: Correction = "bh",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test whether segments differ in each outcome, overall and segment by segment.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        One row per customer, one column per outcome (amounts, counts, or 0/1 for yes/no).
    labels : ndarray of shape (n_customers,)
        Segment id of each row.
    binary : sequence of str
        The yes/no outcomes (chi-square, Cramér's V); the others are continuous
        (Kruskal-Wallis and Mann-Whitney U, Cohen's d).
    correction : {"bh", "holm"}
        Multiple-testing correction, applied separately to the overall tests (one per outcome)
        and to the segment-vs-rest tests (one per segment and outcome).

    Returns
    -------
    overall : pandas.DataFrame
        One row per outcome: ``outcome, kind, test, statistic, p_value, p_adjusted,
        effect_name, effect`` (eta² for continuous outcomes, Cramér's V for yes/no).
    pairwise : pandas.DataFrame
        One row per segment and outcome: ``outcome, kind, segment_id, test, statistic, p_value,
        p_adjusted, effect_name, effect, segment_value, rest_value``.
    """
    labels = np.asarray(labels)
    segments = np.unique(labels)
    overall_rows, pair_rows = [], []
    for column in outcomes.columns:
        y = outcomes[column].to_numpy(dtype=float)
        ok = ~np.isnan(y)
        y, lab = y[ok], labels[ok]
        is_binary = column in binary
        if is_binary:
            yes = y > 0
            table = np.stack(
                [
                    np.bincount(np.searchsorted(segments, lab[m]), minlength=segments.size)
                    for m in (yes, ~yes)
                ],
                axis=1,
            )
            chi2, p, v = cramers_v(table)
            overall_rows.append(
                {
                    "outcome": column,
                    "kind": "binary",
                    "test": "chi-square",
                    "statistic": chi2,
                    "p_value": p,
                    "effect_name": "Cramér's V",
                    "effect": v,
                }
            )
        else:
            h, p = _kruskal([y[lab == s] for s in segments])
            overall_rows.append(
                {
                    "outcome": column,
                    "kind": "continuous",
                    "test": "Kruskal-Wallis",
                    "statistic": h,
                    "p_value": p,
                    "effect_name": "eta²",
                    "effect": eta_squared(y, lab),
                }
            )
        if not is_binary:
            codes = np.searchsorted(segments, lab)
            u_stat, u_p = _mannwhitney_each(y, codes, segments.size)
        for i, s in enumerate(segments):
            inside = lab == s
            a, b = y[inside], y[~inside]
            if is_binary:
                table = np.array([[(a > 0).sum(), (a <= 0).sum()], [(b > 0).sum(), (b <= 0).sum()]])
                chi2, p, v = cramers_v(table)
                stat, effect, name, test = chi2, v, "Cramér's V", "chi-square"
            else:
                stat, p = float(u_stat[i]), float(u_p[i])
                effect, name, test = cohens_d(a, b), "Cohen's d", "Mann-Whitney U"
            pair_rows.append(
                {
                    "outcome": column,
                    "kind": "binary" if is_binary else "continuous",
                    "segment_id": int(s),
                    "test": test,
                    "statistic": stat,
                    "p_value": p,
                    "effect_name": name,
                    "effect": effect,
                    "segment_value": float(a.mean()) if a.size else np.nan,
                    "rest_value": float(b.mean()) if b.size else np.nan,
                }
            )
    overall = pd.DataFrame(overall_rows)
    pairwise = pd.DataFrame(pair_rows)
    for frame in (overall, pairwise):
        if len(frame):
            frame["p_adjusted"] = adjust(frame["p_value"].to_numpy(), correction)
    overall = overall.reindex(columns=_OVERALL_COLUMNS)
    pairwise = pairwise.reindex(columns=_TEST_COLUMNS)
    return overall, pairwise
