"""Impact by segment: campaign uplift, and brand-tracking metrics across survey waves.

Campaign uplift
    Per segment, the difference between the mean outcome of treated and control customers
    (a difference in proportions for a 0/1 outcome, in means otherwise). The confidence interval
    is the normal approximation ``uplift ± z · SE`` with the unpooled standard error
    ``SE = sqrt(s_t²/n_t + s_c²/n_c)`` (Wald for proportions, with ``s² = p(1-p)``; Welch for
    means), or, with ``method="bootstrap"``, the percentile interval of ``n_boot`` resamples
    drawn within each group. The p-value is the two-sided normal test of zero uplift.

Brand tracking
    Respondents of each survey wave are assigned to segments by the model's typing tool (or an
    existing ``segment_id``). Every 0/1 brand metric is reported per segment and wave, and each
    change between consecutive waves is tested with the pooled two-proportion z-test; the
    p-values are adjusted for the number of tests with Holm's step-down method (Holm 1979),
    which controls the family-wise error rate.

References
----------
Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian
Journal of Statistics*, 6(2), 65-70.
Efron, B., & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from segmint.exceptions import InputError

TREATED = {"treated", "treatment", "test", "target", "1", "true", "yes", "t", "y"}
CONTROL = {"control", "holdout", "hold-out", "0", "false", "no", "f", "n"}
_NOT_METRICS = {"respondent_id", "customer_id", "wave", "segment_id", "segment_name", "weight"}


def _group(values: pd.Series) -> np.ndarray:
    text = values.astype(str).str.strip().str.lower()
    treated = text.isin(TREATED).to_numpy()
    control = text.isin(CONTROL).to_numpy()
    bad = ~(treated | control)
    if bad.any():
        raise InputError(
            f"Campaign group values {sorted(set(text[bad]))[:5]} are neither treated nor control.",
            hint="Use treated/control (or 1/0) in the group column.",
        )
    return treated


def _find(frame: pd.DataFrame, options: tuple[str, ...], what: str) -> str:
    lower = {c.lower(): c for c in frame.columns}
    for name in options:
        if name in lower:
            return lower[name]
    raise InputError(
        f"The campaign data has no {what} column (looked for {', '.join(options)}).",
        hint="Name the columns customer_id, group and outcome.",
    )


def campaign_uplift(
    campaign: pd.DataFrame,
    segments: pd.DataFrame,
    *,
    confidence: float = 0.95,
    method: str = "normal",
    n_boot: int = 2000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Uplift of a campaign per segment, with confidence intervals.

    Parameters
    ----------
    campaign : pandas.DataFrame
        ``customer_id``, ``group`` (treated/control) and ``outcome`` (0/1 or a number).
    segments : pandas.DataFrame
        ``customer_id, segment_id[, segment_name]`` of the customers.
    method : {"normal", "bootstrap"}
        Interval: normal approximation or bootstrap percentile.

    Returns
    -------
    pandas.DataFrame
        One row per segment plus ``all``: ``segment_id, segment_name, n_treated, n_control,
        mean_treated, mean_control, uplift, ci_low, ci_high, p_value, outcome_kind, method``.
    """
    if method not in ("normal", "bootstrap"):
        raise InputError(f"Unknown interval method {method!r}.", hint="normal or bootstrap")
    cid = _find(campaign, ("customer_id", "customer", "id"), "customer id")
    grp = _find(campaign, ("group", "arm", "treatment", "variant"), "group")
    out = _find(campaign, ("outcome", "converted", "response", "revenue", "value"), "outcome")
    data = pd.DataFrame(
        {
            "customer_id": campaign[cid].astype(str),
            "treated": _group(campaign[grp]),
            "outcome": pd.to_numeric(campaign[out], errors="coerce"),
        }
    ).dropna(subset=["outcome"])
    seg = segments.astype({"customer_id": str})
    data = data.merge(seg, on="customer_id", how="inner")
    if data.empty:
        raise InputError(
            "No campaign customer has a segment.",
            hint="Use the customer ids of the run the model was built on.",
        )
    binary = bool(data["outcome"].isin([0, 1]).all())
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    rng = np.random.default_rng(random_state)
    names = (
        dict(zip(seg["segment_id"], seg["segment_name"], strict=False))
        if "segment_name" in seg
        else {}
    )
    rows = []
    groups = [(int(s), g) for s, g in data.groupby("segment_id")] + [("all", data)]
    for sid, g in groups:
        t = g.loc[g["treated"], "outcome"].to_numpy(dtype=float)
        c = g.loc[~g["treated"], "outcome"].to_numpy(dtype=float)
        row: dict[str, Any] = {
            "segment_id": sid,
            "segment_name": names.get(sid, "all customers" if sid == "all" else str(sid)),
            "n_treated": len(t),
            "n_control": len(c),
            "mean_treated": float(t.mean()) if len(t) else np.nan,
            "mean_control": float(c.mean()) if len(c) else np.nan,
        }
        uplift = row["mean_treated"] - row["mean_control"]
        lo = hi = p = np.nan
        if len(t) >= 2 and len(c) >= 2:
            if binary:
                var_t, var_c = t.mean() * (1 - t.mean()), c.mean() * (1 - c.mean())
            else:
                var_t, var_c = t.var(ddof=1), c.var(ddof=1)
            se = float(np.sqrt(var_t / len(t) + var_c / len(c)))
            p = float(2 * stats.norm.sf(abs(uplift) / se)) if se > 0 else np.nan
            if method == "normal":
                lo, hi = uplift - z * se, uplift + z * se
            else:
                boot_t = t[rng.integers(0, len(t), (n_boot, len(t)))].mean(axis=1)
                boot_c = c[rng.integers(0, len(c), (n_boot, len(c)))].mean(axis=1)
                alpha = (1 - confidence) / 2
                lo, hi = np.quantile(boot_t - boot_c, [alpha, 1 - alpha])
        row.update(
            uplift=uplift,
            ci_low=float(lo),
            ci_high=float(hi),
            p_value=p,
            outcome_kind="proportion" if binary else "mean",
            method=method,
        )
        rows.append(row)
    return pd.DataFrame(rows)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN stays NaN)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def two_proportion_z(x1: float, n1: float, x2: float, n2: float) -> tuple[float, float]:
    """Pooled two-proportion z statistic and two-sided p-value."""
    if n1 == 0 or n2 == 0:
        return np.nan, np.nan
    pooled = (x1 + x2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x2 / n2 - x1 / n1) / se
    return float(z), float(2 * stats.norm.sf(abs(z)))


def brand_by_segment(
    waves: pd.DataFrame,
    *,
    typing_tool: Any | None = None,
    names: dict[int, str] | None = None,
    metrics: list[str] | None = None,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Brand metrics by segment and wave, and the significance of changes between waves.

    Parameters
    ----------
    waves : pandas.DataFrame
        One row per respondent: ``wave``, the 0/1 brand metrics, and either ``segment_id`` or
        the typing tool's variables.
    typing_tool : TypingTool, optional
        Classifies respondents when ``segment_id`` is absent.
    metrics : list of str, optional
        Metric columns; default: every other column holding only 0/1.

    Returns
    -------
    (levels, changes) : tuple of pandas.DataFrame
        ``levels``: ``segment_id, segment_name, wave, metric, respondents, share``.
        ``changes``: ``segment_id, segment_name, metric, wave_from, wave_to, share_from,
        share_to, change, z, p_value, p_adjusted (Holm), significant``.
    """
    names = names or {}
    if "wave" not in waves.columns:
        raise InputError("The survey waves have no 'wave' column.", hint="Add the wave number.")
    frame = waves.copy()
    if "segment_id" not in frame.columns:
        if typing_tool is None:
            raise InputError(
                "The survey waves have no segment_id and the model has no typing tool.",
                hint="Classify the respondents first, or use a model with a typing tool.",
            )
        frame["segment_id"] = np.asarray(typing_tool.predict(frame[typing_tool.variables_]))
    skip = _NOT_METRICS | set(getattr(typing_tool, "variables_", []) or [])
    if metrics is None:
        metrics = [
            c
            for c in frame.columns
            if c not in skip
            and pd.api.types.is_numeric_dtype(frame[c])
            and frame[c].dropna().isin([0, 1]).all()
        ]
    if not metrics:
        raise InputError("No 0/1 brand metric column in the survey waves.", hint="e.g. aware")
    long = frame.melt(id_vars=["segment_id", "wave"], value_vars=metrics, var_name="metric")
    long = long.dropna(subset=["value"])
    levels = (
        long.groupby(["segment_id", "wave", "metric"], as_index=False)
        .agg(respondents=("value", "size"), hits=("value", "sum"))
        .sort_values(["segment_id", "metric", "wave"], ignore_index=True)
    )
    levels["share"] = levels["hits"] / levels["respondents"]
    levels.insert(1, "segment_name", [names.get(int(s), str(s)) for s in levels["segment_id"]])
    rows = []
    for (sid, metric), g in levels.groupby(["segment_id", "metric"], sort=True):
        g = g.sort_values("wave")
        for a, b in zip(g.iloc[:-1].itertuples(), g.iloc[1:].itertuples(), strict=True):
            z, p = two_proportion_z(a.hits, a.respondents, b.hits, b.respondents)
            rows.append(
                {
                    "segment_id": int(sid),
                    "segment_name": names.get(int(sid), str(sid)),
                    "metric": metric,
                    "wave_from": a.wave,
                    "wave_to": b.wave,
                    "share_from": a.share,
                    "share_to": b.share,
                    "change": b.share - a.share,
                    "z": z,
                    "p_value": p,
                }
            )
    changes = pd.DataFrame(
        rows,
        columns=[
            "segment_id",
            "segment_name",
            "metric",
            "wave_from",
            "wave_to",
            "share_from",
            "share_to",
            "change",
            "z",
            "p_value",
        ],
    )
    changes["p_adjusted"] = holm(changes["p_value"].to_numpy()) if len(changes) else []
    changes["significant"] = changes["p_adjusted"] < alpha
    return levels.drop(columns="hits"), changes
