"""The tests behind the scorecard, checked against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from segmint.evaluate._tests import (
    bh_adjust,
    cohens_d,
    cramers_v,
    distinctness,
    eta_squared,
    holm_adjust,
)


def test_benjamini_hochberg_matches_the_step_up_by_hand() -> None:
    # sorted: 0.01 (rank 1) -> 0.04; 0.03 (2) -> 0.06; 0.04 (3) -> 0.0533; 0.20 (4) -> 0.20;
    # then the running minimum from the top: 0.04, 0.0533, 0.0533, 0.20
    adjusted = bh_adjust([0.01, 0.04, 0.03, 0.20])
    assert adjusted == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.20])


def test_benjamini_hochberg_caps_at_one_and_keeps_missing_values() -> None:
    adjusted = bh_adjust([0.9, np.nan, 0.6])
    assert adjusted[0] == pytest.approx(0.9) and adjusted[2] == pytest.approx(0.9)
    assert math.isnan(adjusted[1])
    assert bh_adjust([0.8, 0.9, 0.95]).max() <= 1.0


def test_holm_matches_the_step_down_by_hand() -> None:
    # sorted: 0.01*4 = 0.04; 0.03*3 = 0.09; 0.04*2 = 0.08 -> running max 0.09; 0.20*1 = 0.20
    assert holm_adjust([0.01, 0.04, 0.03, 0.20]) == pytest.approx([0.04, 0.09, 0.09, 0.20])


def test_holm_is_never_below_benjamini_hochberg() -> None:
    p = np.random.default_rng(0).uniform(0, 0.2, 30)
    assert np.all(holm_adjust(p) >= bh_adjust(p) - 1e-12)


def test_eta_squared_by_hand() -> None:
    # mean 4; SS_total = 9 + 1 + 1 + 9 = 20; group means 2 and 6: SS_between = 2*4 + 2*4 = 16
    assert eta_squared([1.0, 3.0, 5.0, 7.0], [0, 0, 1, 1]) == pytest.approx(0.8)
    assert eta_squared([1.0, 3.0, 5.0, 7.0], [0, 1, 0, 1]) == pytest.approx(0.2)
    assert math.isnan(eta_squared([2.0, 2.0, 2.0], [0, 1, 1]))


def test_cohens_d_uses_the_pooled_standard_deviation() -> None:
    # means 2 and 6, both variances 1 (ddof 1): pooled sd 1, d = -4
    assert cohens_d(np.array([1.0, 2.0, 3.0]), np.array([5.0, 6.0, 7.0])) == pytest.approx(-4.0)


def test_cramers_v_of_a_two_by_two_table_is_the_absolute_phi() -> None:
    table = np.array([[30, 10], [10, 30]])
    # phi = (ad - bc) / sqrt(row and column totals) = (900 - 100) / 1600 = 0.5
    chi2, p, v = cramers_v(table)
    assert v == pytest.approx(0.5)
    assert chi2 == pytest.approx(80 * 0.25)
    assert p < 0.001
    assert cramers_v(np.array([[5, 0], [7, 0]])) == (0.0, 1.0, 0.0)


def test_distinctness_tests_each_segment_against_the_rest() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1, 2], 200)
    revenue = np.where(labels == 2, 100.0, 10.0) + rng.normal(0, 5, labels.size)
    bought = (labels == 0).astype(float)
    outcomes = pd.DataFrame({"revenue": revenue, "bought": bought})
    overall, pairwise = distinctness(outcomes, labels, binary=["bought"], correction="holm")
    assert list(overall["test"]) == ["Kruskal-Wallis", "chi-square"]
    assert (overall["p_adjusted"] < 0.001).all()
    assert len(pairwise) == 6
    rev2 = pairwise[(pairwise["outcome"] == "revenue") & (pairwise["segment_id"] == 2)].iloc[0]
    assert rev2["effect_name"] == "Cohen's d" and rev2["effect"] > 5
    bought0 = pairwise[(pairwise["outcome"] == "bought") & (pairwise["segment_id"] == 0)].iloc[0]
    assert bought0["effect"] == pytest.approx(1.0)  # buying is exactly segment 0
    assert bought0["segment_value"] == 1.0 and bought0["rest_value"] == 0.0
    # Holm over the 6 pairwise tests: never below the raw p-value
    assert (pairwise["p_adjusted"] >= pairwise["p_value"] - 1e-15).all()


def test_distinctness_of_a_constant_outcome_is_not_significant() -> None:
    labels = np.array([0, 0, 1, 1])
    overall, pairwise = distinctness(pd.DataFrame({"x": [1.0, 1.0, 1.0, 1.0]}), labels)
    assert overall["p_value"].iloc[0] == 1.0
    assert (pairwise["p_value"] == 1.0).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segment_vs_rest_mann_whitney_equals_scipy_test_by_test(seed: int) -> None:
    """One ranking of all customers gives scipy's U and p for every segment against the rest."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, 3000)
    labels[labels == 3] = 4  # ids need not be contiguous
    # integer-valued amounts: many ties; a NaN that the test must drop
    y = np.round(rng.gamma(1.5 + labels, 20.0)).astype(float)
    y[7] = np.nan
    frame = pd.DataFrame({"revenue": y})
    _, pairwise = distinctness(frame, labels)
    ok = ~np.isnan(y)
    for _, row in pairwise.iterrows():
        inside = ok & (labels == row["segment_id"])
        expected = stats.mannwhitneyu(
            y[inside], y[ok & ~inside], alternative="two-sided", method="asymptotic"
        )
        assert row["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
        assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
