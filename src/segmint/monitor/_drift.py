"""Drift of the customer base against a baseline: feature summaries, PSI and centre shifts.

A *feature summary* is what a run keeps of its features for later comparison (in the run store
and in ``model.json``): per feature, the quantiles at levels 0, 0.01, ..., 1 (the quantile bins),
its standard deviation on the transform scale, and per segment the mean of every feature on the
transform scale (``sign(x)·log1p(|x|)`` for money and counts, the raw value for shares): the
segment centre in units that do not depend on a run's own standardisation.

Population stability index (PSI)
    ``PSI = Σ_b (a_b − e_b) · ln(a_b / e_b)`` over bins ``b`` cut at the baseline's deciles
    (ties merged), with ``e_b`` the baseline's and ``a_b`` the current share of customers in the
    bin, each floored at 0.0001 so an empty bin counts as a large but finite change. Shares are
    read from each run's quantile function (percentiles, linear in between), so two runs
    compare without their raw data. The customary reading, from credit scoring, is < 0.10 no
    significant change, 0.10-0.25 a moderate shift to watch, > 0.25 a significant shift that
    calls for re-validation (Siddiqi 2006, ch. 8; Yurdakul 2018); these are the default
    thresholds in ``segmint.yaml`` ``monitoring:``.

Centre drift
    The largest absolute difference between a matched segment's centres, over features, in
    units of the baseline's standard deviation of that feature (transform scale).

References
----------
Siddiqi, N. (2006). *Credit Risk Scorecards: Developing and Implementing Intelligent Credit
Scoring*. Wiley.
Yurdakul, B. (2018). *Statistical Properties of Population Stability Index*. Dissertation,
Western Michigan University.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from segmint.features._prepare import _apply

QUANTILE_LEVELS = np.round(np.linspace(0.0, 1.0, 101), 2)
SHARE_FLOOR = 1e-4


def feature_summary(
    features: pd.DataFrame, labels: np.ndarray, transforms: dict[str, str]
) -> dict[str, Any]:
    """Summarise features for drift monitoring (stored per run and in ``model.json``).

    Parameters
    ----------
    features : pandas.DataFrame
        One row per customer, the feature columns named in ``transforms``.
    labels : ndarray
        Segment id per row.
    transforms : dict
        Feature -> ``"identity"`` or ``"signed_log"``.

    Returns
    -------
    dict
        ``quantile_levels``, ``feature_quantiles`` (feature -> 101 values), ``transform_centres``
        (segment id as text -> feature -> mean on the transform scale), ``transform_scale``
        (feature -> standard deviation on the transform scale), ``segment_shares``,
        ``n_customers``.
    """
    labels = np.asarray(labels)
    names = list(transforms)
    values = features[names].to_numpy(dtype=float)
    quantiles = np.quantile(values, QUANTILE_LEVELS, axis=0) if len(values) else None
    transformed = np.column_stack(
        [_apply(transforms[c], values[:, j]) for j, c in enumerate(names)]
    )
    segments, counts = np.unique(labels, return_counts=True)
    centres = {}
    for seg in segments:
        mean = transformed[labels == seg].mean(axis=0)
        centres[str(int(seg))] = {c: float(v) for c, v in zip(names, mean, strict=True)}
    scale = transformed.std(axis=0)
    return {
        "quantile_levels": QUANTILE_LEVELS.tolist(),
        "feature_quantiles": {
            c: ([] if quantiles is None else quantiles[:, j].tolist()) for j, c in enumerate(names)
        },
        "transform_centres": centres,
        "transform_scale": {c: float(s) for c, s in zip(names, scale, strict=True)},
        "segment_shares": {
            str(int(s)): float(n / counts.sum()) for s, n in zip(segments, counts, strict=True)
        },
        "n_customers": len(labels),
    }


def cdf_from_quantiles(levels: np.ndarray, quantiles: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Share of customers with a value <= ``x``, read from a quantile function.

    Linear between distinct quantiles; at a tied value (a mass point, such as many zeros) the
    share jumps to the last level holding that value.
    """
    q = np.asarray(quantiles, dtype=float)
    lv = np.asarray(levels, dtype=float)
    x = np.asarray(x, dtype=float)
    idx = np.searchsorted(q, x, side="right")  # quantiles <= x
    inner = (idx > 0) & (idx < len(q))
    i = np.clip(idx - 1, 0, len(q) - 2)
    lo, hi = q[i], q[i + 1]
    step = np.where(hi > lo, (x - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)
    interpolated = lv[i] + np.clip(step, 0.0, 1.0) * (lv[i + 1] - lv[i])
    return np.where(idx == 0, 0.0, np.where(inner, interpolated, 1.0))


def psi_bins(levels: np.ndarray, quantiles: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Inner bin edges: the baseline's ``n_bins``-quantiles, ties merged."""
    cut_levels = np.arange(1, n_bins) / n_bins
    edges = np.interp(cut_levels, levels, quantiles)
    return np.unique(edges)


def bin_shares(levels: np.ndarray, quantiles: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares in the bins ``(-inf, e1], (e1, e2], ..., (ek, inf)``."""
    cdf = cdf_from_quantiles(levels, quantiles, edges)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=float), SHARE_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_table(baseline: dict[str, Any], current: dict[str, Any], n_bins: int = 10) -> pd.DataFrame:
    """PSI per feature present in both summaries: ``feature, psi, bins``."""
    b_levels = np.asarray(baseline["quantile_levels"])
    c_levels = np.asarray(current["quantile_levels"])
    rows = []
    for feature, b_q in baseline["feature_quantiles"].items():
        c_q = current["feature_quantiles"].get(feature)
        if c_q is None or not len(b_q) or not len(c_q):
            continue
        edges = psi_bins(b_levels, np.asarray(b_q), n_bins)
        expected = bin_shares(b_levels, np.asarray(b_q), edges)
        actual = bin_shares(c_levels, np.asarray(c_q), edges)
        rows.append({"feature": feature, "psi": psi(expected, actual), "bins": len(edges) + 1})
    return pd.DataFrame(rows, columns=["feature", "psi", "bins"])


def centre_vectors(summary: dict[str, Any], features: list[str]) -> tuple[list[int], np.ndarray]:
    """Segment ids and their centres (rows) over ``features``, transform scale."""
    ids = sorted(int(s) for s in summary["transform_centres"])
    matrix = np.array(
        [[summary["transform_centres"][str(i)][f] for f in features] for i in ids], dtype=float
    ).reshape(len(ids), len(features))
    return ids, matrix


def standardiser(baseline: dict[str, Any], features: list[str]) -> np.ndarray:
    """Baseline standard deviation per feature (transform scale), 1 where it is zero."""
    scale = np.array([baseline["transform_scale"][f] for f in features], dtype=float)
    return np.where(scale > 1e-12, scale, 1.0)


def centre_shift(
    baseline: dict[str, Any], current: dict[str, Any], mapping: dict[int, int]
) -> pd.DataFrame:
    """Centre drift of matched segments.

    ``mapping`` is current id -> baseline id. Returns ``segment_id`` (baseline id),
    ``max_shift`` (largest |difference| in baseline standard deviations), ``feature`` (where it
    is largest) and ``rms_shift`` (root mean square over features).
    """
    features = [f for f in baseline["transform_scale"] if f in current["transform_scale"]]
    scale = standardiser(baseline, features)
    b_ids, b_c = centre_vectors(baseline, features)
    c_ids, c_c = centre_vectors(current, features)
    rows = []
    for ci, cur in enumerate(c_ids):
        base = mapping.get(cur)
        if base is None or base not in b_ids:
            continue
        diff = np.abs(c_c[ci] - b_c[b_ids.index(base)]) / scale
        j = int(np.argmax(diff)) if len(diff) else 0
        rows.append(
            {
                "segment_id": int(base),
                "max_shift": float(diff[j]) if len(diff) else 0.0,
                "feature": features[j] if features else "",
                "rms_shift": float(np.sqrt(np.mean(diff**2))) if len(diff) else 0.0,
            }
        )
    return pd.DataFrame(rows, columns=["segment_id", "max_shift", "feature", "rms_shift"])
