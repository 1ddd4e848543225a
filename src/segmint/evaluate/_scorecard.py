"""The validity scorecard: is every segment worth acting on?

Six criteria of a good segment (Kotler's measurable, substantial, accessible, differentiable and
actionable, plus stability), each graded **pass / warn / fail** per segment with the figure
behind the grade and the thresholds used (``ScorecardConfig``; ``n.a.``, not assessed, when the
data cannot answer the question):

============  ===========================================================================
measurable    share of the segment's feature values that are present
substantial   share of customers and count, against a minimum share and count
reachable     share of members with a consented channel (``*_consent`` columns) or who are
              app users (``share_channel_app`` at or above ``app_user_min_share``)
stable        mean bootstrap Jaccard of the segment (:func:`bootstrap_stability`, Hennig 2007)
distinct      the strongest significant difference in outcomes against the other customers:
              Cohen's d (Mann-Whitney U) or Cramér's V (chi-square), p-values corrected by
              Benjamini-Hochberg or Holm (:mod:`segmint.evaluate._tests`); in a run the
              outcomes are those of the *next* period (the out-of-time lift's window, segments
              refitted at its cut-off), not the recency, frequency and revenue the segments
              were built from -- those differ by construction
actionable    the strongest significant difference on something a marketer can change
              (channel mix, category mix, discount share, consent: ``levers``), as Cohen's d
              against the other customers (Mann-Whitney U, corrected); fixed identity such as
              age does not count
============  ===========================================================================

The overall row of a criterion has the worst grade of the segments and the overall figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from segmint.config import ScorecardConfig
from segmint.evaluate._tests import distinctness

__all__ = ["CRITERIA", "Scorecard", "reach_flags", "validity_scorecard"]

CRITERIA = ("measurable", "substantial", "reachable", "stable", "distinct", "actionable")
STATUSES = ("pass", "warn", "fail", "n.a.")
_RANK = {"pass": 0, "warn": 1, "fail": 2}
_CHANNEL_NAMES = {"email": "e-mail", "sms": "SMS", "app": "app", "push": "push", "post": "post"}


def channel_label(channel: str) -> str:
    """How a channel is written in the report: ``email`` → ``e-mail``."""
    return _CHANNEL_NAMES.get(channel, channel.replace("_", " "))


def grade(value: float | None, pass_at: float, warn_at: float) -> str:
    """``pass`` at or above ``pass_at``, ``warn`` at or above ``warn_at``, else ``fail``."""
    if value is None or value != value:
        return "n.a."
    return "pass" if value >= pass_at else "warn" if value >= warn_at else "fail"


def worst(statuses: list[str]) -> str:
    """The worst grade among ``statuses`` (``n.a.`` ignored; all ``n.a.`` gives ``n.a.``)."""
    graded = [s for s in statuses if s in _RANK]
    return max(graded, key=_RANK.__getitem__) if graded else "n.a."


def _p_text(p: float) -> str:
    return "p_adj < 0.001" if p < 0.001 else f"p_adj = {p:.3f}"


def _lever_family(attribute: str) -> str:
    for prefix, family in (
        ("share_channel_", "channel mix"),
        ("share_category_", "category mix"),
        ("discount", "discounts"),
    ):
        if attribute.startswith(prefix):
            return family
    return "consent" if attribute.endswith("_consent") else attribute


def reach_flags(attributes: pd.DataFrame, *, app_user_min_share: float = 0.5) -> pd.DataFrame:
    """Per customer, whether each channel can reach them.

    Consent columns are those named ``<channel>_consent`` (``email_consent``,
    ``sms_consent``, ...) holding booleans or 0/1; a missing consent counts as no consent.
    App users are customers with ``share_channel_app >= app_user_min_share``.

    Returns
    -------
    pandas.DataFrame
        One boolean column per channel (``email``, ``sms``, ``app``, ...), same index as
        ``attributes``; no columns when the data has no consent or app information.
    """
    flags = {}
    for column in attributes.columns:
        if column.endswith("_consent"):
            values = pd.to_numeric(attributes[column], errors="coerce").astype(float)
            flags[column[: -len("_consent")]] = values.fillna(0.0).to_numpy() > 0
    if "share_channel_app" in attributes.columns:
        app = attributes["share_channel_app"].astype(float).fillna(0.0).to_numpy()
        flags["app"] = app >= app_user_min_share
    return pd.DataFrame(flags, index=attributes.index)


@dataclass
class Scorecard:
    """The graded criteria per segment and overall.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per segment and criterion, then the overall rows (``segment_id`` missing):
        ``segment_id, criterion, status, value, pass_at, warn_at, figure``.
    overall_tests : pandas.DataFrame
        The omnibus test of every outcome across segments (see :func:`distinctness`).
    pairwise_tests : pandas.DataFrame
        Every segment-vs-rest test with its effect size and corrected p-value.
    lever_tests : pandas.DataFrame
        Every segment-vs-rest test of a lever attribute (the basis of *actionable*).
    reach : pandas.DataFrame
        Per segment, the share reachable through each channel and through any (``any``).
    thresholds : ScorecardConfig
        The thresholds used.
    """

    table: pd.DataFrame
    overall_tests: pd.DataFrame
    pairwise_tests: pd.DataFrame
    lever_tests: pd.DataFrame
    reach: pd.DataFrame
    thresholds: ScorecardConfig = field(default_factory=ScorecardConfig)

    def status(self, segment_id: int | None, criterion: str) -> str:
        """The grade of ``criterion`` for a segment (``None``: overall)."""
        rows = self.table[self.table["criterion"] == criterion]
        if segment_id is None:
            rows = rows[rows["segment_id"].isna()]
        else:
            rows = rows[rows["segment_id"] == segment_id]
        return str(rows["status"].iloc[0])

    def row(self, segment_id: int, criterion: str) -> dict[str, Any]:
        """The full row of ``criterion`` for a segment."""
        rows = self.table[
            (self.table["criterion"] == criterion) & (self.table["segment_id"] == segment_id)
        ]
        return rows.iloc[0].to_dict()

    def statuses(self) -> pd.DataFrame:
        """Segments × criteria table of grades (overall last, as ``"all"``)."""
        table = self.table.assign(
            segment=self.table["segment_id"]
            .astype(object)
            .where(self.table["segment_id"].notna(), "all")
        )
        wide = table.pivot(index="segment", columns="criterion", values="status")
        return wide.reindex(columns=list(CRITERIA))

    def failed(self, criteria: list[str] | tuple[str, ...] = CRITERIA) -> dict[int, list[str]]:
        """Segment id → the criteria among ``criteria`` it fails."""
        rows = self.table[
            self.table["segment_id"].notna()
            & self.table["criterion"].isin(criteria)
            & (self.table["status"] == "fail")
        ]
        out: dict[int, list[str]] = {}
        for seg, crit in zip(rows["segment_id"], rows["criterion"], strict=True):
            out.setdefault(int(seg), []).append(str(crit))
        return out

    def to_frame(self, names: Mapping[int, str] | None = None) -> pd.DataFrame:
        """The table with segment names (``scorecard.csv``)."""
        table = self.table.copy()
        if names is not None:
            table.insert(
                1,
                "segment_name",
                [
                    names.get(int(s), "") if pd.notna(s) else "all segments"
                    for s in table["segment_id"]
                ],
            )
        return table


def validity_scorecard(
    labels: np.ndarray,
    *,
    attributes: pd.DataFrame,
    outcomes: pd.DataFrame,
    binary_outcomes: tuple[str, ...] = (),
    stability: pd.DataFrame | None = None,
    stability_ari: float | None = None,
    reach: pd.DataFrame | None = None,
    thresholds: ScorecardConfig | None = None,
    outcome_labels: np.ndarray | None = None,
    outcome_window: str = "",
    outcome_missing: str = "",
) -> Scorecard:
    """Grade every segment on the six validity criteria.

    Parameters
    ----------
    labels : ndarray of shape (n_customers,)
        Segment id of each customer.
    attributes : pandas.DataFrame
        The customers' features (and customer attributes), row-aligned with ``labels``: the
        basis of *measurable*; its lever columns (``thresholds.levers``) are tested for
        *actionable* (Mann-Whitney U, Cohen's d, segment vs rest, corrected).
    outcomes : pandas.DataFrame
        What customers did (revenue, orders, yes/no outcomes), row-aligned: *distinct*.
    binary_outcomes : tuple of str
        The yes/no columns of ``outcomes``.
    stability : pandas.DataFrame, optional
        ``segment_id, jaccard_mean`` (and ``n_evaluated``) per segment, from
        :func:`~segmint.segmenters._stability.bootstrap_stability` translated to these ids.
    stability_ari : float, optional
        Mean adjusted Rand index of the resamples, for the overall row.
    reach : pandas.DataFrame, optional
        Per-customer channel flags from :func:`reach_flags`; ``None`` or no columns makes
        *reachable* ``n.a.``.
    thresholds : ScorecardConfig, optional
        Pass / warn thresholds; defaults when omitted.
    outcome_labels : ndarray, optional
        Segment ids row-aligned with ``outcomes`` when those are not the customers of
        ``labels`` -- the next-period outcomes of the segments refitted at the lift's cut-off,
        with the current segments' ids. A segment without customers there is ``n.a.``.
    outcome_window : str, default=""
        Where the outcomes come from, written into every *distinct* figure (e.g. "next period
        1998-01-02 to 1998-06-30").
    outcome_missing : str, default=""
        When not empty, no outcomes could be measured (``outcomes`` is ignored): *distinct* is
        ``n.a.`` with this reason.

    Returns
    -------
    Scorecard
    """
    cfg = thresholds or ScorecardConfig()
    labels = np.asarray(labels)
    segments = [int(s) for s in np.unique(labels)]
    n = labels.size
    rows: list[dict[str, Any]] = []

    def add(
        seg: int | None,
        criterion: str,
        status: str,
        value: float,
        pass_at: Any,
        warn_at: Any,
        figure: str,
    ) -> None:
        rows.append(
            {
                "segment_id": seg,
                "criterion": criterion,
                "status": status,
                "value": float(value) if value is not None else np.nan,
                "pass_at": f"{pass_at:g}" if isinstance(pass_at, float | int) else str(pass_at),
                "warn_at": f"{warn_at:g}" if isinstance(warn_at, float | int) else str(warn_at),
                "figure": figure,
            }
        )

    # --- measurable: share of feature values present
    present = attributes.notna().to_numpy()
    n_features = attributes.shape[1]
    present_by_seg = pd.DataFrame(present).groupby(labels).mean().mean(axis=1)
    for s in segments:
        value = float(present_by_seg.loc[s])
        add(
            s,
            "measurable",
            grade(value, cfg.measurable_pass, cfg.measurable_warn),
            value,
            cfg.measurable_pass,
            cfg.measurable_warn,
            f"{value:.1%} of {n_features} feature values present",
        )

    # --- substantial: share and count
    counts = pd.Series(labels).value_counts().reindex(segments).fillna(0).astype(int)
    for s in segments:
        share = counts[s] / n
        status = grade(share, cfg.substantial_pass, cfg.substantial_warn)
        if counts[s] < cfg.min_customers:
            status = "fail"
        add(
            s,
            "substantial",
            status,
            share,
            cfg.substantial_pass,
            cfg.substantial_warn,
            f"{counts[s]:,} customers, {share:.1%} of all (minimum {cfg.substantial_pass:.0%}"
            f" and {cfg.min_customers:,} customers)",
        )

    # --- reachable: consented channel or app user
    channels = [] if reach is None else list(reach.columns)
    if channels:
        flags = reach.to_numpy(dtype=bool)
        per_channel = pd.DataFrame(flags, columns=channels).groupby(labels).mean()
        per_channel["any"] = pd.Series(flags.any(axis=1)).groupby(labels).mean()
        per_channel.loc["all"] = [*flags.mean(axis=0), flags.any(axis=1).mean()]
    else:
        per_channel = pd.DataFrame(index=[*segments, "all"], columns=["any"], dtype=float)
    per_channel.index.name = "segment_id"
    for s in segments:
        value = per_channel.loc[s, "any"]
        if channels:
            detail = ", ".join(f"{channel_label(c)} {per_channel.loc[s, c]:.1%}" for c in channels)
            figure = f"{value:.1%} reachable ({detail})"
        else:
            figure = "no consent columns or app usage in the data"
        add(
            s,
            "reachable",
            grade(value, cfg.reachable_pass, cfg.reachable_warn),
            value,
            cfg.reachable_pass,
            cfg.reachable_warn,
            figure,
        )

    # --- stable: bootstrap Jaccard
    jaccard = stability.set_index("segment_id")["jaccard_mean"] if stability is not None else None
    for s in segments:
        value = float(jaccard.get(s, np.nan)) if jaccard is not None else np.nan
        figure = (
            f"mean Jaccard {value:.2f} when refitted on bootstrap resamples"
            if value == value
            else "stability not measured"
        )
        add(
            s,
            "stable",
            grade(value, cfg.stable_pass, cfg.stable_warn),
            value,
            cfg.stable_pass,
            cfg.stable_warn,
            figure,
        )

    # --- distinct: outcomes tested segment vs rest
    correction = "Benjamini-Hochberg" if cfg.correction == "bh" else "Holm"
    judged = labels if outcome_labels is None else np.asarray(outcome_labels)
    where = f", {outcome_window}" if outcome_window else ""
    if outcome_missing:
        # no columns: the empty tables, with their columns
        overall_tests, pairwise = distinctness(pd.DataFrame(index=range(0)), np.array([]))
    else:
        overall_tests, pairwise = distinctness(
            outcomes, judged, binary=binary_outcomes, correction=cfg.correction
        )
    for s in segments:
        if outcome_missing or not (judged == s).any():
            add(
                s,
                "distinct",
                "n.a.",
                np.nan,
                f"d {cfg.distinct_d_pass} / V {cfg.distinct_v_pass}",
                f"d {cfg.distinct_d_warn} / V {cfg.distinct_v_warn}",
                outcome_missing or f"no segment {s} among the segments refitted{where}",
            )
            continue
        tests = pairwise[pairwise["segment_id"] == s].copy()
        is_d = tests["effect_name"] == "Cohen's d"
        tests["size"] = tests["effect"].abs()
        tests["grade"] = [
            grade(v, cfg.distinct_d_pass, cfg.distinct_d_warn)
            if d
            else grade(v, cfg.distinct_v_pass, cfg.distinct_v_warn)
            for v, d in zip(tests["size"], is_d, strict=True)
        ]
        significant = tests[tests["p_adjusted"] < cfg.alpha]
        if len(significant):
            significant = significant.assign(rank=significant["grade"].map(_RANK))
            best = significant.sort_values(["rank", "size"], ascending=[True, False]).iloc[0]
            status = str(best["grade"])
            symbol = "d" if best["effect_name"] == "Cohen's d" else "V"
            figure = (
                f"{best['outcome']}: {best['segment_value']:,.2f} vs {best['rest_value']:,.2f}"
                f" for the rest ({symbol} = {best['effect']:.2f}, {_p_text(best['p_adjusted'])},"
                f" {best['test']}, {correction}{where})"
            )
            value = float(best["size"])
        else:
            status, value = "fail", float(tests["size"].max()) if len(tests) else np.nan
            figure = f"no outcome differs significantly ({correction}, alpha {cfg.alpha}{where})"
        add(
            s,
            "distinct",
            status,
            value,
            f"d {cfg.distinct_d_pass} / V {cfg.distinct_v_pass}",
            f"d {cfg.distinct_d_warn} / V {cfg.distinct_v_warn}",
            figure,
        )

    # --- actionable: levers a marketer can change, tested like the outcomes
    levers = [
        c
        for c in attributes.columns
        if any(c == lever or (lever.endswith("_") and c.startswith(lever)) for lever in cfg.levers)
    ]
    lever_tests = (
        distinctness(attributes[levers], labels, correction=cfg.correction)[1]
        if levers
        else pd.DataFrame(columns=pairwise.columns)
    )
    for s in segments:
        if not levers:
            add(
                s,
                "actionable",
                "n.a.",
                np.nan,
                cfg.actionable_pass,
                cfg.actionable_warn,
                "no marketer-controllable attribute in the data (channel, category, discount,"
                " consent)",
            )
            continue
        tests = lever_tests[
            (lever_tests["segment_id"] == s) & (lever_tests["p_adjusted"] < cfg.alpha)
        ].dropna(subset=["effect"])
        if tests.empty:
            add(
                s,
                "actionable",
                "fail",
                0.0,
                cfg.actionable_pass,
                cfg.actionable_warn,
                "differs significantly on no lever (channel, category, discount, consent)",
            )
            continue
        best = tests.loc[tests["effect"].abs().idxmax()]
        value = float(abs(best["effect"]))
        add(
            s,
            "actionable",
            grade(value, cfg.actionable_pass, cfg.actionable_warn),
            value,
            cfg.actionable_pass,
            cfg.actionable_warn,
            f"{best['outcome']}: {best['segment_value']:.2f} vs {best['rest_value']:.2f} for the"
            f" rest (d = {best['effect']:+.2f}, {_p_text(best['p_adjusted'])})",
        )

    # --- overall rows: worst grade, overall figure
    table = pd.DataFrame(rows)
    overall_figures = {
        "measurable": (
            float(present.mean()),
            f"{present.mean():.1%} of all feature values present",
        ),
        "substantial": (
            float(counts.min() / n),
            f"smallest segment: {counts.min():,} customers ({counts.min() / n:.1%})",
        ),
        "reachable": (
            float(per_channel.loc["all", "any"]) if channels else np.nan,
            f"{per_channel.loc['all', 'any']:.1%} of all customers reachable"
            if channels
            else "no consent columns or app usage in the data",
        ),
        "stable": (
            stability_ari if stability_ari is not None else np.nan,
            f"mean adjusted Rand index {stability_ari:.2f} over the resamples"
            if stability_ari is not None
            else "stability not measured",
        ),
        "distinct": (
            float((overall_tests["p_adjusted"] < cfg.alpha).mean())
            if len(overall_tests)
            else np.nan,
            f"{int((overall_tests['p_adjusted'] < cfg.alpha).sum())} of {len(overall_tests)}"
            f" outcomes differ across segments (Kruskal-Wallis / chi-square, {correction}{where})"
            if not outcome_missing
            else outcome_missing,
        ),
        "actionable": (
            np.nan,
            f"{len(levers)} levers tested ("
            + ", ".join(sorted({_lever_family(c) for c in levers}))
            + ")"
            if levers
            else "no marketer-controllable attribute in the data",
        ),
    }
    for criterion in CRITERIA:
        part = table[table["criterion"] == criterion]
        value, figure = overall_figures[criterion]
        add(
            None,
            criterion,
            worst(part["status"].tolist()),
            value,
            part["pass_at"].iloc[0],
            part["warn_at"].iloc[0],
            figure,
        )
    table = pd.DataFrame(rows)
    table["segment_id"] = table["segment_id"].astype("Int64")
    reach_table = per_channel.copy()
    return Scorecard(
        table=table,
        overall_tests=overall_tests,
        pairwise_tests=pairwise,
        lever_tests=lever_tests,
        reach=reach_table,
        thresholds=cfg,
    )
