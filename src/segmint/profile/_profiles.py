"""Segment profiles: size, value, and how each segment differs from all customers."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass
class SegmentProfiles:
    """Profiles of a segmentation, as tables.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per segment: ``segment_id, customers, share, revenue, revenue_share,
        revenue_per_customer`` (and ``clv, clv_share, clv_per_customer`` when the attributes
        have a ``clv`` column).
    means : pandas.DataFrame
        Mean of every attribute per segment (index ``segment_id``) and for all customers (last
        row, index ``"all"``).
    index : pandas.DataFrame
        ``100 * segment mean / overall mean`` (100 = average; NaN where the overall mean is 0).
    effect : pandas.DataFrame
        Standardised difference ``(segment mean - overall mean) / overall std``.
    p_value : pandas.DataFrame
        Welch t-test of the segment against all other customers, Bonferroni-adjusted over
        all segment-attribute pairs.
    medians : pandas.DataFrame or None
        Median of every attribute per segment and for all customers (last row, ``"all"``),
        laid out like ``means``: the absolute figures segment names are checked against
        (:mod:`segmint.profile._names`). ``None`` for profiles built without it.
    """

    summary: pd.DataFrame
    means: pd.DataFrame
    index: pd.DataFrame
    effect: pd.DataFrame
    p_value: pd.DataFrame
    medians: pd.DataFrame | None = None

    def wide(self, names: dict[int, str] | None = None) -> pd.DataFrame:
        """One row per segment with the summary and the attribute means (``profiles.csv``)."""
        table = self.summary.merge(
            self.means.drop(index="all").rename_axis("segment_id").reset_index(),
            on="segment_id",
        )
        if names is not None:
            table.insert(1, "segment_name", table["segment_id"].map(names))
        return table

    def attribute_table(self, segment_id: int, alpha: float = 0.05) -> pd.DataFrame:
        """Every attribute of one segment: segment value, overall value, index, effect, p-value
        and whether the difference is significant at ``alpha`` (after the Bonferroni
        adjustment of ``p_value``)."""
        columns = list(self.index.columns)
        p = self.p_value.loc[segment_id, columns].to_numpy(dtype=float)
        return pd.DataFrame(
            {
                "attribute": columns,
                "segment_value": self.means.loc[segment_id, columns].to_numpy(dtype=float),
                "overall_value": self.means.loc["all", columns].to_numpy(dtype=float),
                "index": self.index.loc[segment_id, columns].to_numpy(dtype=float),
                "effect": self.effect.loc[segment_id, columns].to_numpy(dtype=float),
                "p_value": p,
                "significant": p < alpha,
            }
        )

    def top_traits(self, segment_id: int, n: int = 3, min_effect: float = 0.3) -> pd.DataFrame:
        """The attributes on which a segment differs most (by absolute standardised effect)."""
        row = self.effect.loc[segment_id].dropna()
        row = row[(row.abs() >= min_effect) & (self.p_value.loc[segment_id, row.index] < 0.05)]
        order = row.abs().sort_values(ascending=False, kind="stable").index[:n]
        return pd.DataFrame(
            {
                "attribute": order,
                "segment_value": self.means.loc[segment_id, order].to_numpy(),
                "overall_value": self.means.loc["all", order].to_numpy(),
                "index": self.index.loc[segment_id, order].to_numpy(),
                "effect": row[order].to_numpy(),
            }
        )


def profile_segments(
    attributes: pd.DataFrame,
    labels: np.ndarray,
    *,
    revenue: str | None = "monetary",
    clv: str | None = "clv",
) -> SegmentProfiles:
    """Profile segments over numeric (and boolean) attributes.

    Parameters
    ----------
    attributes : pandas.DataFrame
        One row per customer, numeric or boolean columns (booleans become shares).
    labels : ndarray of shape (n_customers,)
        Segment id of each row.
    revenue : str or None, default="monetary"
        Column holding each customer's revenue, for the revenue shares.
    clv : str or None, default="clv"
        Column holding each customer's lifetime value, for the CLV shares (used only when
        present).

    Returns
    -------
    SegmentProfiles
    """
    labels = np.asarray(labels)
    values = attributes.astype(float)
    columns = list(values.columns)
    data = values.to_numpy()
    segments = np.unique(labels)

    grouped = values.groupby(labels)
    means = grouped.mean()
    overall_mean = np.nanmean(data, axis=0)
    overall_std = np.nanstd(data, axis=0)
    means.loc["all"] = overall_mean
    means.index.name = "segment_id"
    medians = grouped.median()
    medians.loc["all"] = values.median()
    medians.index.name = "segment_id"

    with np.errstate(divide="ignore", invalid="ignore"):
        index = 100.0 * means.drop(index="all") / np.where(overall_mean == 0, np.nan, overall_mean)
        effect = (means.drop(index="all") - overall_mean) / np.where(
            overall_std > 0, overall_std, np.nan
        )

    p_values = np.ones((len(segments), len(columns)))
    for i, seg in enumerate(segments):
        inside = labels == seg
        if inside.sum() > 1 and (~inside).sum() > 1:
            # an attribute that is constant within a segment (every member consented, none
            # buys in the app) is valid input; scipy warns about its variance and returns NaN
            with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                result = stats.ttest_ind(
                    data[inside], data[~inside], axis=0, equal_var=False, nan_policy="omit"
                )
            p_values[i] = np.nan_to_num(np.asarray(result.pvalue, dtype=float), nan=1.0)
    p_adj = np.minimum(p_values * p_values.size, 1.0)

    counts = pd.Series(labels).value_counts().reindex(segments).to_numpy()
    summary = pd.DataFrame({"segment_id": segments, "customers": counts})
    summary["share"] = summary["customers"] / summary["customers"].sum()
    if revenue is not None and revenue in values.columns:
        rev = grouped[revenue].sum().reindex(segments).to_numpy()
        summary["revenue"] = rev
        total = rev.sum()
        summary["revenue_share"] = rev / total if total else np.nan
        summary["revenue_per_customer"] = rev / counts
    if clv is not None and clv in values.columns:
        value = grouped[clv].sum().reindex(segments).to_numpy()
        summary["clv"] = value
        total = value.sum()
        summary["clv_share"] = value / total if total else np.nan
        summary["clv_per_customer"] = value / counts
    return SegmentProfiles(
        summary=summary,
        means=means,
        index=index,
        effect=effect,
        p_value=pd.DataFrame(p_adj, index=segments, columns=columns),
        medians=medians,
    )
