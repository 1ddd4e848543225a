"""Choosing the number of segments of a partitioning segmentation from its evidence table.

:func:`choose_k` is the rule; :func:`null_explained_variance` computes the structureless
reference its structure criterion compares with. The rule and its justification are in the
docstring of :func:`choose_k`.

References
----------
.. [1] Dolnicar, S., Grün, B. and Leisch, F. (2018). *Market Segmentation Analysis:
   Understanding It, Doing It, and Making It Useful*, ch. 7 (global and segment-level
   stability across numbers of segments). Springer. https://doi.org/10.1007/978-981-10-8818-6
.. [2] Hennig, C. (2007). Cluster-wise assessment of cluster stability. *Computational Statistics
   & Data Analysis*, 52(1), 258-271.
.. [3] Liu, Y., Hayes, D. N., Nobel, A. and Marron, J. S. (2008). Statistical significance of
   clustering for high-dimension, low-sample size data. *Journal of the American Statistical
   Association*, 103(483), 1281-1293 (SigClust: the Gaussian null with the data's covariance).
.. [4] Tibshirani, R., Walther, G. and Hastie, T. (2001). Estimating the number of clusters in a
   data set via the gap statistic. *Journal of the Royal Statistical Society B*, 63(2), 411-423.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state

from segmint.segmenters._base import SEED_MAX
from segmint.segmenters._stability import PATTERNS_AT

__all__ = ["RULE", "choose_k", "forced_selection", "null_explained_variance", "structure"]

RULE = (
    "Admissible k: every segment holds at least the minimum share of customers, k-means "
    "converged, and (with bootstrap stability) the mean adjusted Rand index is at least the "
    "minimum stability and every segment is at least a pattern (mean Jaccard >= 0.6). Among "
    "them, the candidates are the k whose bootstrap-ARI 95 % interval overlaps that of the most "
    "stable k. Structure of a k = log of the within-segment variance k-means leaves in a "
    "structureless Gaussian sample with the data's covariance over the within-segment variance "
    "it leaves in the data (a gap statistic); the smallest candidate whose structure is within "
    "the tolerance (0.05, about 5 % of within-segment variance) of the best candidate's is "
    "chosen, so splitting stops where more segments add no structure. The runner-up is the k the "
    "rule picks without the chosen one."
)
"""The rule of :func:`choose_k` in words (for ``selection_["rule"]`` and the report)."""


def null_explained_variance(
    X: np.ndarray,
    ks: list[int],
    *,
    sample_weight: np.ndarray | None = None,
    n_references: int = 3,
    max_samples: int = 5000,
    n_init: int = 3,
    max_iter: int = 300,
    random_state: int | np.random.RandomState | None = None,
) -> dict[int, float]:
    """Share of variance k-means explains in structureless data with the covariance of ``X``.

    Each reference sample is drawn from the multivariate normal distribution with the (weighted)
    covariance matrix of ``X`` (the null model of SigClust, Liu et al. 2008): one elongated
    cloud without segments, whose principal axes and variances are those of the data. k-means
    on it still explains variance, by cutting the cloud along its long axes; that is what any k
    explains without structure. The mean over the reference samples is returned per k.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data the segments were fitted on.
    ks : list of int
        Numbers of segments.
    sample_weight : ndarray of shape (n_samples,), optional
        Weights for the covariance.
    n_references : int, default=3
        Reference samples drawn.
    max_samples : int, default=5000
        Rows per reference sample (at most ``n_samples``).
    n_init : int, default=3
        k-means starts per k and reference sample.
    max_iter : int, default=300
        Iterations per start.
    random_state : int, RandomState instance or None, default=None
        Seed of the reference samples and of the k-means starts.

    Returns
    -------
    dict of int to float
        Mean explained share of variance (``1 - within / total`` sum of squares) per k.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(500, 3)) * [3.0, 1.0, 0.5]
    >>> ev = null_explained_variance(X, [2, 3], random_state=0)
    >>> 0.5 < ev[2] < ev[3] < 0.9
    True
    """
    rng = check_random_state(random_state)
    X = np.asarray(X, dtype=np.float64)
    cov = np.atleast_2d(np.cov(X, rowvar=False, aweights=sample_weight))
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    scale = np.sqrt(np.clip(eigenvalues, 0.0, None))
    m = min(max_samples, X.shape[0])
    explained: dict[int, list[float]] = {k: [] for k in ks}
    for _ in range(n_references):
        Z = (rng.standard_normal((m, X.shape[1])) * scale) @ eigenvectors.T
        total = float(((Z - Z.mean(axis=0)) ** 2).sum())
        seed = int(rng.randint(SEED_MAX))
        for k in ks:
            if total == 0.0 or k >= m:
                explained[k].append(0.0)
                continue
            model = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=seed)
            explained[k].append(1.0 - float(model.fit(Z).inertia_) / total)
    return {k: float(np.mean(v)) for k, v in explained.items()}


def structure(
    explained_variance: float | np.ndarray | pd.Series,
    null_explained_variance: float | np.ndarray | pd.Series,
) -> float | np.ndarray | pd.Series:
    """Structure of a segmentation beyond structureless data (a Gaussian-reference gap).

    ``log((1 - null) / (1 - explained))``: the log ratio of the within-segment variance k-means
    leaves in structureless data (:func:`null_explained_variance`) to the one it leaves in the
    data. 0 means no more structure than a Gaussian cloud; 0.05 means about 5 % less
    within-segment variance than there. It is the gap statistic of Tibshirani et al. (2001)
    with a Gaussian reference of the data's covariance (their log within-cluster dispersion,
    expected under the reference minus observed).

    Parameters
    ----------
    explained_variance : float or array-like
        Share of the variance the segments explain in the data (``1 - within / total``).
    null_explained_variance : float or array-like
        The same for k-means on structureless data.

    Returns
    -------
    float or array-like
        The structure, same shape as the inputs.

    Examples
    --------
    >>> round(float(structure(0.6, 0.5)), 3)
    0.223
    """
    tiny = 1e-12
    return np.log(np.maximum(1.0 - null_explained_variance, tiny)) - np.log(
        np.maximum(1.0 - explained_variance, tiny)
    )


def _has(row: pd.Series, column: str) -> bool:
    return column in row and row[column] is not None and not pd.isna(row[column])


def _exclusions(
    row: pd.Series, min_segment_share: float, min_stability: float, min_segment_jaccard: float
) -> list[str]:
    """Why the k of ``row`` is not admissible (empty when it is)."""
    why = []
    if row["min_segment_share"] < min_segment_share:
        why.append(
            f"smallest segment {row['min_segment_share']:.1%} < {min_segment_share:.0%} of "
            "customers"
        )
    if _has(row, "converged") and not bool(row["converged"]):
        why.append("k-means did not converge within max_iter iterations")
    if _has(row, "stability_ari") and row["stability_ari"] < min_stability:
        why.append(f"stability {row['stability_ari']:.3f} < {min_stability:.2f}")
    if _has(row, "min_segment_jaccard") and row["min_segment_jaccard"] < min_segment_jaccard:
        why.append(
            f"a segment dissolves in the resamples, Jaccard {row['min_segment_jaccard']:.2f} "
            f"< {min_segment_jaccard:.2f}"
        )
    return why


def _stability_text(row: pd.Series) -> str:
    return (
        f"{row['stability_ari']:.3f} [{row['stability_ari_low']:.3f}, "
        f"{row['stability_ari_high']:.3f}]"
    )


def _pick(
    pool: pd.DataFrame, stability_margin: float, structure_tolerance: float
) -> tuple[int, int | None, pd.DataFrame]:
    """The k the rule picks from ``pool``, the most stable k and the candidate rows."""
    pool = pool.sort_values("k", kind="stable")
    best = None
    candidates = pool
    if "stability_ari" in pool and pool["stability_ari"].notna().any():
        best = pool.loc[pool["stability_ari"].idxmax()]  # first (smallest k) of ties
        reaches = pool["stability_ari_high"] + stability_margin >= best["stability_ari_low"]
        candidates = pool[reaches | (pool["k"] == best["k"])]
    if "structure" in candidates and candidates["structure"].notna().any():
        top = candidates["structure"].max()
        near = candidates[candidates["structure"] >= top - structure_tolerance]
        chosen = int(near["k"].min())
    else:
        chosen = int(candidates["k"].min())
    return chosen, None if best is None else int(best["k"]), candidates


def _compared(gap: float) -> str:
    """A structure (log ratio) as how much lower within-segment variance is than without it."""
    change = 1.0 - math.exp(-gap)
    if change >= 0:
        return f"within-segment variance {change:.0%} below structureless data"
    return f"within-segment variance {-change:.0%} above structureless data"


def _describe(row: pd.Series, best: pd.Series | None) -> str:
    """Stability, segment Jaccard and structure of one k, in words."""
    parts = []
    if best is not None and _has(row, "stability_ari"):
        if int(row["k"]) == int(best["k"]):
            parts.append(f"stability {_stability_text(row)}, the most stable k")
        else:
            parts.append(
                f"stability {_stability_text(row)}, within the interval of the most stable "
                f"k = {int(best['k'])} ({_stability_text(best)})"
            )
    if _has(row, "min_segment_jaccard"):
        parts.append(
            f"every segment at least a pattern (smallest Jaccard {row['min_segment_jaccard']:.2f})"
        )
    if _has(row, "explained_variance") and _has(row, "structure"):
        parts.append(
            f"explains {row['explained_variance']:.1%} of the variance, structure "
            f"{row['structure']:.3f} ({_compared(row['structure'])})"
        )
    return "; ".join(parts)


def choose_k(
    evidence: pd.DataFrame,
    *,
    min_segment_share: float = 0.05,
    min_stability: float = 0.6,
    min_segment_jaccard: float = PATTERNS_AT,
    stability_margin: float = 0.01,
    structure_tolerance: float = 0.05,
) -> dict[str, Any]:
    """Choose the number of segments from an evidence table, and say why.

    1. **Admissible k.** A k is excluded, with the reason recorded, when its smallest segment
       holds less than ``min_segment_share`` of the customers, when k-means did not converge
       (column ``converged``), and, when bootstrap stability was measured, when its mean
       adjusted Rand index (ARI) is below ``min_stability`` or a segment's mean Jaccard is below
       ``min_segment_jaccard`` (the segment dissolves: it is not even a "pattern" in Hennig's
       sense). When no k is admissible, every k is considered and the reason says so.
    2. **Stability-equivalent candidates.** The most stable admissible k has the highest mean
       bootstrap ARI (ties: the smaller k). Candidates are the admissible k whose ARI interval
       (2.5-97.5 percentiles over the resamples) reaches that k's lower bound, less
       ``stability_margin``: their stability cannot be told apart from the best on this
       evidence. The margin only matters for near-perfect stabilities, whose intervals shrink
       to a few thousandths.
    3. **Structure.** The structure of a k (column ``structure``, :func:`structure`) is the log
       ratio of the within-segment variance k-means leaves in a structureless Gaussian sample
       with the data's covariance (:func:`null_explained_variance`) to the one it leaves in
       the data. Cutting any elongated cloud "explains" variance (k = 2 halves it along its
       long axis); only the excess is structure. The chosen k is the smallest candidate whose
       structure is within ``structure_tolerance`` of the best candidate's, so splitting
       stops once more segments add no structure.
    4. **Runner-up.** The k the same rule picks when the chosen k is left out.

    Every step is a deterministic function of the table (ties go to the smaller k).

    Parameters
    ----------
    evidence : pandas.DataFrame
        One row per k with ``k`` and ``min_segment_share``; optionally ``converged``,
        ``stability_ari``, ``stability_ari_low``, ``stability_ari_high``,
        ``min_segment_jaccard``, ``explained_variance`` and ``structure``. Without stability
        columns step 2 keeps every admissible k; without ``structure`` the smallest candidate
        is chosen.
    min_segment_share : float, default=0.05
        Smallest share of customers every segment of an admissible k holds.
    min_stability : float, default=0.6
        Smallest mean bootstrap ARI of an admissible k.
    min_segment_jaccard : float, default=0.6
        Smallest mean bootstrap Jaccard of every segment of an admissible k (Hennig's lower
        bound of a "pattern").
    stability_margin : float, default=0.01
        Slack of the interval comparison of step 2.
    structure_tolerance : float, default=0.05
        How far (in log units: 0.05 is about 5 % of the within-segment variance) below the best
        candidate's structure a smaller candidate may be and still be preferred. 0.04-0.07 all
        recover the planted k of the test data sets; smaller values let noise in the k-means
        optima decide, larger ones merge real segments.

    Returns
    -------
    dict
        ``chosen`` (int), ``runner_up`` (int or None), ``most_stable`` (int or None),
        ``candidates`` (list of int), ``excluded`` (dict of k, as str, to its reasons),
        ``reason`` and ``runner_up_reason`` (why the chosen k and the runner-up, in words,
        without "k = ..." in front) and ``rule`` (str, :data:`RULE`).

    Notes
    -----
    Dolnicar, Grün and Leisch (2018, ch. 7) choose the number of segments of a partitioning
    method by its global stability across k, from bootstrap refits, and check that each
    segment of the chosen solution is reproduced (segment-level stability); Hennig (2007)
    calls a segment with mean bootstrap Jaccard >= 0.75 stable, 0.6-0.75 a pattern and one
    below 0.5 dissolved. On customer data without sharp clusters the most stable solution is
    nearly always k = 2, because halving the data along its longest axis reproduces well;
    that is not evidence of two segments. Hence step 2 treats every k whose stability is
    indistinguishable from the best as equally good, and step 3 decides between them by
    structure beyond a null model. The null is the one SigClust (Liu et al. 2008) tests
    k = 2 against, a Gaussian with the data's covariance; comparing within-cluster dispersion
    with a reference distribution across k is the idea of the gap statistic (Tibshirani,
    Walther and Hastie 2001), and taking the smallest k within a tolerance of the best is
    their one-standard-error rule in spirit.

    References
    ----------
    .. [1] Dolnicar, S., Grün, B. and Leisch, F. (2018). *Market Segmentation Analysis*, ch. 7.
       Springer.
    .. [2] Hennig, C. (2007). Cluster-wise assessment of cluster stability. *Computational
       Statistics & Data Analysis*, 52(1), 258-271.
    .. [3] Liu, Y., Hayes, D. N., Nobel, A. and Marron, J. S. (2008). Statistical significance
       of clustering for high-dimension, low-sample size data. *JASA*, 103(483), 1281-1293.
    .. [4] Tibshirani, R., Walther, G. and Hastie, T. (2001). Estimating the number of clusters
       in a data set via the gap statistic. *JRSS B*, 63(2), 411-423.

    Examples
    --------
    >>> table = pd.DataFrame({
    ...     "k": [2, 3, 4], "min_segment_share": [0.4, 0.2, 0.03],
    ...     "stability_ari": [0.95, 0.93, 0.9], "stability_ari_low": [0.9, 0.88, 0.8],
    ...     "stability_ari_high": [0.99, 0.97, 0.95], "min_segment_jaccard": [0.97, 0.9, 0.8],
    ...     "explained_variance": [0.3, 0.45, 0.55], "structure": [0.0, 0.2, 0.25]})
    >>> selection = choose_k(table)
    >>> selection["chosen"], selection["runner_up"], selection["excluded"]["4"]
    (3, 2, ['smallest segment 3.0% < 5% of customers'])
    """
    table = evidence.sort_values("k", kind="stable").reset_index(drop=True)
    excluded = {}
    for _, row in table.iterrows():
        why = _exclusions(row, min_segment_share, min_stability, min_segment_jaccard)
        if why:
            excluded[int(row["k"])] = why
    pool = table[~table["k"].isin(list(excluded))]
    fallback = pool.empty
    if fallback:
        pool = table
    chosen, best_k, candidates = _pick(pool, stability_margin, structure_tolerance)
    rest = pool[pool["k"] != chosen]
    runner_up = None
    if not rest.empty:
        runner_up, _, _ = _pick(rest, stability_margin, structure_tolerance)

    rows = table.set_index("k", drop=False)
    best = None if best_k is None else rows.loc[best_k]
    reason = _describe(rows.loc[chosen], best)
    if fallback:
        reason = f"no k met every requirement, so all were compared; {reason}"
    others = candidates[candidates["k"] != chosen]
    has_structure = "structure" in candidates and candidates["structure"].notna().any()
    if has_structure:
        larger = others[others["k"] > chosen]
        if not larger.empty:
            gain = larger["structure"].max() - rows.loc[chosen, "structure"]
            shown = ", ".join(str(int(k)) for k in larger["k"])
            if gain <= 0:
                reason += f"; the larger candidates (k = {shown}) add no structure"
            else:
                reason += (
                    f"; the larger candidates (k = {shown}) add at most {gain:.3f} "
                    f"(tolerance {structure_tolerance:g})"
                )
        elif not others.empty:
            reason += "; no larger k is admissible and as stable"
    if best is not None:
        beyond = table[(table["k"] > chosen) & ~table["k"].isin(candidates["k"])]
        unstable = [int(k) for k in beyond["k"] if int(k) not in excluded]
        if unstable:
            reason += (
                f"; k = {', '.join(map(str, unstable))} less stable (interval below "
                f"{best['stability_ari_low']:.3f})"
            )
    if excluded and not fallback:
        reason += "; excluded: " + "; ".join(
            f"k = {k} ({', '.join(why)})" for k, why in excluded.items()
        )
    runner_up_reason = ""
    if runner_up is not None:
        runner_up_reason = _describe(rows.loc[runner_up], best)
        if has_structure and int(runner_up) in set(candidates["k"]):
            diff = rows.loc[runner_up, "structure"] - rows.loc[chosen, "structure"]
            runner_up_reason += f" (structure {diff:+.3f} against k = {chosen})"
    return {
        "chosen": chosen,
        "runner_up": runner_up,
        "most_stable": best_k,
        "candidates": [int(k) for k in candidates["k"]],
        "excluded": {str(k): why for k, why in excluded.items()},
        "reason": reason,
        "runner_up_reason": runner_up_reason,
        "rule": RULE,
    }


def forced_selection(k: int) -> dict[str, Any]:
    """The ``selection_`` of a segmenter whose number of segments was set, not chosen.

    Parameters
    ----------
    k : int
        The number of segments that was set.

    Returns
    -------
    dict
        The keys of :func:`choose_k`'s result, with ``runner_up`` None.
    """
    return {
        "chosen": int(k),
        "runner_up": None,
        "most_stable": None,
        "candidates": [int(k)],
        "excluded": {},
        "reason": "set by n_segments (--k, segmentation.k); no other k was tried",
        "runner_up_reason": "",
        "rule": "forced",
    }
