"""Tests for segmint.features.clv: RFM summary, BG/NBD, Pareto/NBD, Gamma-Gamma and CLV.

The acceptance tests fit the models to the CDNOW sample (read in place from ../shared/data) and
compare with the estimates published by Fader, Hardie & Lee (2005).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.optimize import check_grad
from scipy.special import hyp2f1
from sklearn.exceptions import NotFittedError

from segmint.exceptions import InputError, ModelError
from segmint.features.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    clv_report,
    customer_lifetime_value,
    rfm_summary,
)
from segmint.features.clv._base import _unique_rows
from segmint.features.clv._bgnbd import (
    _bgnbd_loglik,
    _bgnbd_uncond_part,
    _bgnbd_uncond_quadrature,
)
from segmint.features.clv._gamma_gamma import _gg_loglik
from segmint.features.clv._pareto import _pnbd_log_a0, _pnbd_loglik

CDNOW_SAMPLE = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "cdnow" / "CDNOW_sample.txt"
)
CAL_END = "1997-09-30"  # 39 weeks from 1997-01-01
OBS_END = "1998-06-30"  # 39 more weeks

# Fader, Hardie & Lee (2005), Marketing Science 24(2): BG/NBD and Pareto/NBD on CDNOW.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LL = -9582.4
PUBLISHED_PNBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
PUBLISHED_PNBD_LL = -9595.0
# Fader, Hardie & Lee (2005), JMR 42(4): Gamma-Gamma on the repeat buyers' mean spend.
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


def _sig3(value: float) -> str:
    return f"{value:.3g}"


def _state(model_cls: type, params: dict[str, float]) -> dict:
    """A to_dict()-style state with given parameters (to test formulas without fitting)."""
    return {
        "model": model_cls.__name__,
        "format_version": 1,
        "hyperparameters": {"penalizer_coef": 0.0, "max_iter": 1000},
        "params": params,
        "log_likelihood": 0.0,
        "n_customers": 1,
        "converged": True,
    }


# --------------------------------------------------------------------------------------------
# CDNOW fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    if not CDNOW_SAMPLE.exists():
        pytest.fail(f"CDNOW sample not found at {CDNOW_SAMPLE} (expected ../shared beside repo)")
    df = pd.read_csv(
        CDNOW_SAMPLE,
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "n_cds", "amount"],
    )
    df["date"] = pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
    return df


@pytest.fixture(scope="module")
def cdnow_summary(cdnow: pd.DataFrame) -> pd.DataFrame:
    return rfm_summary(cdnow, calibration_end=CAL_END, observation_end=OBS_END)


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow_summary: pd.DataFrame) -> BetaGeoModel:
    s = cdnow_summary
    return BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])


@pytest.fixture(scope="module")
def cdnow_gg(cdnow_summary: pd.DataFrame) -> GammaGammaModel:
    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    return GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])


@pytest.fixture(scope="module")
def cdnow_report(cdnow: pd.DataFrame) -> dict:
    return clv_report(cdnow, calibration_end=CAL_END, observation_end=OBS_END)


# --------------------------------------------------------------------------------------------
# Acceptance: published CDNOW results
# --------------------------------------------------------------------------------------------


def test_cdnow_data_shape(cdnow: pd.DataFrame, cdnow_summary: pd.DataFrame) -> None:
    assert len(cdnow) == 6919
    assert cdnow["customer_id"].nunique() == 2357
    assert len(cdnow_summary) == 2357
    assert int((cdnow_summary["frequency"] > 0).sum()) == 946
    assert int(cdnow_summary["frequency"].sum()) == 2457


def _assert_converged_with_standard_errors(model: object) -> None:
    assert model.converged_
    assert model.convergence_reason_ is None
    assert set(model.std_errors_) == set(model.params_)
    for name, se in model.std_errors_.items():
        assert se is not None and np.isfinite(se) and 0 < se < model.params_[name], name
    assert model.diagnostics_["params_at_bound"] == []
    assert model.diagnostics_["limits_reached"] == []
    assert model.diagnostics_["min_hessian_eigenvalue"] > 0


def test_cdnow_bgnbd_reproduces_published_estimates(cdnow_bgnbd: BetaGeoModel) -> None:
    _assert_converged_with_standard_errors(cdnow_bgnbd)
    assert cdnow_bgnbd.n_customers_ == 2357
    for name, published in PUBLISHED_BGNBD.items():
        assert _sig3(cdnow_bgnbd.params_[name]) == _sig3(published), name
    assert abs(cdnow_bgnbd.log_likelihood_ - PUBLISHED_BGNBD_LL) < 0.1


def test_cdnow_gamma_gamma_reproduces_published_estimates(cdnow_gg: GammaGammaModel) -> None:
    _assert_converged_with_standard_errors(cdnow_gg)
    assert cdnow_gg.n_customers_ == 946
    for name, published in PUBLISHED_GG.items():
        assert _sig3(cdnow_gg.params_[name]) == _sig3(published), name


def test_cdnow_pareto_nbd_reproduces_published_estimates(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    model = ParetoNBDModel().fit(s["frequency"], s["recency"], s["T"])
    _assert_converged_with_standard_errors(model)
    for name, published in PUBLISHED_PNBD.items():
        assert _sig3(model.params_[name]) == _sig3(published), name
    assert abs(model.log_likelihood_ - PUBLISHED_PNBD_LL) < 0.1
    # the log-likelihood is on the original (weeks) scale, not the rescaled one of the fit
    (x, tx, T), w = _unique_rows(*(s[c].to_numpy(float) for c in ("frequency", "recency", "T")))
    direct, _ = _pnbd_loglik(*model._values(), x, tx, T, w)
    assert model.log_likelihood_ == pytest.approx(direct, abs=1e-6)


def test_unique_rows_merge_identical_rows_and_sum_their_weights() -> None:
    x = np.array([1.0, 0.0, 1.0, 2.0, 1.0])
    t = np.array([3.0, 0.0, 3.0, 1.0, 3.0])
    (ux, ut), counts = _unique_rows(x, t)
    np.testing.assert_array_equal(ux, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(ut, [0.0, 3.0, 1.0])
    np.testing.assert_array_equal(counts, [1.0, 3.0, 1.0])
    # weights are summed per unique row; rows of weight 0 are dropped
    (ux, ut), w = _unique_rows(x, t, weights=np.array([2.0, 0.5, 1.5, 0.0, 1.0]))
    np.testing.assert_array_equal(ux, [0.0, 1.0])
    np.testing.assert_array_equal(ut, [0.0, 3.0])
    np.testing.assert_array_equal(w, [0.5, 4.5])


def test_models_without_a_diagnosis_keep_the_fit_reason(cdnow_bgnbd: BetaGeoModel) -> None:
    assert "data_diagnosis" not in cdnow_bgnbd.diagnostics_
    assert "fit_reason" not in cdnow_bgnbd.diagnostics_


def _hessian_standard_errors(loglik, params: np.ndarray) -> np.ndarray:
    """SEs from central differences of an analytic gradient in the natural parameters."""
    k = params.size
    hess = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * params[j]
        e = np.zeros(k)
        e[j] = h
        hess[:, j] = (loglik(params + e)[1] - loglik(params - e)[1]) / (2 * h)
    return np.sqrt(np.diag(np.linalg.inv(-0.5 * (hess + hess.T))))


def test_cdnow_standard_errors_match_the_original_scale_hessian(
    cdnow_summary: pd.DataFrame, cdnow_bgnbd: BetaGeoModel, cdnow_gg: GammaGammaModel
) -> None:
    # the fit works on rescaled log-parameters; its delta-method SEs must agree with the
    # inverse Hessian of the likelihood in the natural parameters on the original scale
    s = cdnow_summary
    (x, tx, T), w = _unique_rows(*(s[c].to_numpy(float) for c in ("frequency", "recency", "T")))
    bg = np.array(cdnow_bgnbd._values())
    assert cdnow_bgnbd.log_likelihood_ == pytest.approx(
        _bgnbd_loglik(*bg, x, tx, T, w)[0], abs=1e-6
    )
    se = _hessian_standard_errors(lambda p: _bgnbd_loglik(*p, x, tx, T, w), bg)
    for name, value in zip(cdnow_bgnbd._param_names, se, strict=True):
        assert cdnow_bgnbd.std_errors_[name] == pytest.approx(value, rel=1e-3), name
    # BG/NBD on CDNOW: r 0.0126, alpha 0.378, a 0.186, b 0.705
    assert _sig3(cdnow_bgnbd.std_errors_["alpha"]) == "0.378"

    repeat = s[s["frequency"] > 0]
    (xs, m), ws = _unique_rows(repeat["frequency"].to_numpy(float), repeat["monetary_value"])
    gg = np.array(cdnow_gg._values())
    assert cdnow_gg.log_likelihood_ == pytest.approx(_gg_loglik(*gg, xs, m, ws)[0], abs=1e-6)
    se = _hessian_standard_errors(lambda p: _gg_loglik(*p, xs, m, ws), gg)
    for name, value in zip(cdnow_gg._param_names, se, strict=True):
        assert cdnow_gg.std_errors_[name] == pytest.approx(value, rel=1e-3), name


def test_bgnbd_conditional_expectation_matches_paper_example() -> None:
    # Fader, Hardie & Lee (2005), section 5: x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases
    # expected in the next 39 weeks with the published parameters.
    model = BetaGeoModel.from_dict(_state(BetaGeoModel, PUBLISHED_BGNBD))
    assert model.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)


def test_rfm_summary_matches_pandas_on_cdnow(
    cdnow: pd.DataFrame, cdnow_summary: pd.DataFrame
) -> None:
    # Independent pandas computation of the same conventions.
    cal, obs = pd.Timestamp(CAL_END), pd.Timestamp(OBS_END)
    daily = cdnow.groupby(["customer_id", "date"], as_index=False)["amount"].sum()
    first = daily.groupby("customer_id")["date"].transform("min")
    in_cal = daily["date"] <= cal
    cal_days = daily[in_cal]
    repeat = daily[in_cal & (daily["date"] > first)]
    holdout = daily[(daily["date"] > cal) & (daily["date"] <= obs)]
    grouped = cal_days.groupby("customer_id")["date"]
    expected = pd.DataFrame(
        {
            "frequency": repeat.groupby("customer_id").size(),
            "recency": (grouped.max() - grouped.min()).dt.days / 7.0,
            "T": (cal - grouped.min()).dt.days / 7.0,
            "monetary_value": repeat.groupby("customer_id")["amount"].mean(),
            "frequency_holdout": holdout.groupby("customer_id").size(),
        }
    ).fillna({"frequency": 0, "monetary_value": 0.0, "frequency_holdout": 0})
    got = cdnow_summary
    assert list(got.index) == list(expected.index)
    np.testing.assert_array_equal(got["frequency"], expected["frequency"].astype(int))
    np.testing.assert_allclose(got["recency"], expected["recency"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["T"], expected["T"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["monetary_value"], expected["monetary_value"], atol=1e-9)
    np.testing.assert_array_equal(
        got["frequency_holdout"], expected["frequency_holdout"].astype(int)
    )
    assert (got["duration_holdout"] == 39.0).all()


def test_cdnow_report_holdout_comparison(
    cdnow: pd.DataFrame, cdnow_summary: pd.DataFrame, cdnow_report: dict
) -> None:
    report = json.loads(json.dumps(cdnow_report, allow_nan=False))  # strict JSON
    for section in ("bgnbd", "gamma_gamma"):
        assert report[section]["converged"] is True
        assert report[section]["reason"] is None
        assert all(v > 0 for v in report[section]["std_errors"].values())
        assert report[section]["diagnostics"]["n_starts"] >= 3
    assert report["n_customers"] == 2357
    assert report["n_repeat_buyers"] == 946
    for name, published in PUBLISHED_BGNBD.items():
        assert _sig3(report["bgnbd"]["params"][name]) == _sig3(published)
    for name, published in PUBLISHED_GG.items():
        assert _sig3(report["gamma_gamma"]["params"][name]) == _sig3(published)

    holdout = report["holdout"]
    assert holdout["duration_periods"] == 39.0
    # actual: distinct purchase days after 1997-09-30 up to 1998-06-30
    days = cdnow[["customer_id", "date"]].drop_duplicates()
    in_holdout = (days["date"] > pd.Timestamp(CAL_END)) & (days["date"] <= pd.Timestamp(OBS_END))
    assert holdout["actual_total"] == int(in_holdout.sum()) == 1882

    # expected: equation (10) of the paper evaluated directly (no Euler transformation)
    p = report["bgnbd"]["params"]
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    x = cdnow_summary["frequency"].to_numpy(float)
    tx = cdnow_summary["recency"].to_numpy()
    T = cdnow_summary["T"].to_numpy()
    t = 39.0
    z = t / (alpha + T + t)
    num = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    den = 1 + (x > 0) * a / (b + np.maximum(x, 1) - 1) * ((alpha + T) / (alpha + tx)) ** (r + x)
    naive = (a + b + x - 1) / (a - 1) * num / den
    assert holdout["expected_total"] == pytest.approx(naive.sum(), rel=1e-9)
    assert holdout["expected_total"] == pytest.approx(1653.4, abs=0.1)

    groups = holdout["by_frequency"]
    assert [g["frequency"] for g in groups] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert [g["n_customers"] for g in groups] == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert sum(g["actual_total"] for g in groups) == holdout["actual_total"]
    assert sum(g["expected_total"] for g in groups) == pytest.approx(holdout["expected_total"])
    # zero-repeat group: mean expected vs actual as in Figure 4 of the paper
    assert groups[0]["actual_mean"] == pytest.approx(334 / 1411)
    assert groups[0]["expected_mean"] == pytest.approx(naive[x == 0].mean(), rel=1e-9)
    group_7 = x >= 7
    assert groups[7]["expected_total"] == pytest.approx(naive[group_7].sum(), rel=1e-9)


def test_report_of_a_short_calibration_window_says_dropout_is_not_identified(
    cdnow: pd.DataFrame,
) -> None:
    # two weeks of CDNOW: 343 customers, 19 repeat buyers. The BG/NBD optimum runs off to
    # a -> 0, b -> infinity (an NBD without churn), which used to be reported as converged.
    report = clv_report(cdnow, calibration_end="1997-01-15")
    back = json.loads(json.dumps(report, allow_nan=False))
    assert back["n_customers"] == 343 and back["n_repeat_buyers"] == 19
    bg = back["bgnbd"]
    assert bg["converged"] is False
    assert bg["reason"].startswith("BG/NBD: the data cannot identify dropout yet (a → 0, b → ∞")
    assert bg["params"]["a"] < 1e-2 and bg["params"]["b"] > 1e2
    assert {"a": -1.0} in [c["direction"] for c in bg["diagnostics"]["limit_checks"]]
    assert back["gamma_gamma"]["converged"] is False
    assert back["gamma_gamma"]["reason"].startswith("Gamma-Gamma: spend barely varies")


def test_report_leaves_out_nonpositive_spend(cdnow: pd.DataFrame) -> None:
    # customer 1 has two repeat purchase days; make them free
    free = cdnow.copy()
    first_day = free.loc[free["customer_id"] == 1, "date"].min()
    free.loc[(free["customer_id"] == 1) & (free["date"] > first_day), "amount"] = 0.0
    report = clv_report(free, calibration_end=CAL_END)
    assert report["n_repeat_buyers"] == 946
    assert report["gamma_gamma"]["n_customers"] == 945
    assert report["gamma_gamma"]["n_excluded_nonpositive_spend"] == 1
    assert "holdout" not in report
    with pytest.raises(InputError, match="non-positive monetary_value"):
        GammaGammaModel().fit([1, 2], [10.0, 0.0])


# --------------------------------------------------------------------------------------------
# rfm_summary on hand-computed toy data
# --------------------------------------------------------------------------------------------


@pytest.fixture
def toy() -> pd.DataFrame:
    rows = [
        # A: two lines on 01-01 are one transaction (15); repeat days 01-08 (20), 01-15 (30);
        #    holdout 02-05 (7 + 3 = 10); 03-31 is after observation_end and ignored.
        ("A", "2020-01-01 10:00", 10.0),
        ("A", "2020-01-01 17:30", 5.0),
        ("A", "2020-01-08 12:00", 20.0),
        ("A", "2020-01-15 08:00", 30.0),
        ("A", "2020-02-05 09:00", 7.0),
        ("A", "2020-02-05 19:00", 3.0),
        ("A", "2020-03-31 09:00", 100.0),
        # B: one purchase only
        ("B", "2020-01-10 00:00", 50.0),
        # C: first purchase after calibration_end -> excluded
        ("C", "2020-02-01 00:00", 40.0),
        ("C", "2020-02-03 00:00", 40.0),
        # D: born on calibration_end (two lines, same day); holdout 02-10 and 02-26 (inclusive)
        ("D", "2020-01-29 11:00", 1.0),
        ("D", "2020-01-29 12:00", 2.0),
        ("D", "2020-02-10 12:00", 4.0),
        ("D", "2020-02-26 23:59", 6.0),
        # E: same-day pair, then one repeat three days later
        ("E", "2020-01-02 09:00", 8.0),
        ("E", "2020-01-02 18:00", 8.0),
        ("E", "2020-01-05 10:00", 12.5),
    ]
    df = pd.DataFrame(rows, columns=["cust", "ts", "value"])
    df["ts"] = pd.to_datetime(df["ts"])
    return df


def test_rfm_summary_toy_hand_computed(toy: pd.DataFrame) -> None:
    s = rfm_summary(
        toy,
        customer_col="cust",
        date_col="ts",
        amount_col="value",
        calibration_end="2020-01-29",
        observation_end=dt.date(2020, 2, 26),
    )
    assert list(s.index) == ["A", "B", "D", "E"]
    assert s.index.name == "cust"
    assert s["frequency"].tolist() == [2, 0, 0, 1]
    np.testing.assert_allclose(s["recency"], [14 / 7, 0, 0, 3 / 7])
    np.testing.assert_allclose(s["T"], [28 / 7, 19 / 7, 0, 27 / 7])
    np.testing.assert_allclose(s["monetary_value"], [25.0, 0.0, 0.0, 12.5])
    assert s["frequency_holdout"].tolist() == [1, 0, 2, 0]
    np.testing.assert_allclose(s["monetary_value_holdout"], [10.0, 0.0, 5.0, 0.0])
    np.testing.assert_allclose(s["duration_holdout"], [4.0] * 4)
    assert s["frequency"].dtype == np.int64


def test_rfm_summary_without_holdout_days_and_arrow(toy: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(toy.assign(ts=toy["ts"].dt.strftime("%Y-%m-%d %H:%M")))
    s = rfm_summary(
        table,
        customer_col="cust",
        date_col="ts",
        amount_col="value",
        calibration_end=pd.Timestamp("2020-01-29 08:00"),
        time_unit_days=1.0,
    )
    assert list(s.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert list(s.index) == ["A", "B", "D", "E"]
    assert s["frequency"].tolist() == [2, 0, 0, 1]
    np.testing.assert_allclose(s["recency"], [14, 0, 0, 3])
    np.testing.assert_allclose(s["T"], [28, 19, 0, 27])


# --------------------------------------------------------------------------------------------
# Model behaviour
# --------------------------------------------------------------------------------------------


def test_bgnbd_probability_alive(cdnow_bgnbd: BetaGeoModel) -> None:
    zero = cdnow_bgnbd.probability_alive([0, 0, 0], [0, 0, 0], [1.0, 38.86, 500.0])
    np.testing.assert_array_equal(zero, [1.0, 1.0, 1.0])
    p = cdnow_bgnbd.params_
    # x = 2, t_x = 30.43, T = 38.86, by the closed form
    by_hand = 1 / (
        1 + p["a"] / (p["b"] + 1) * ((p["alpha"] + 38.86) / (p["alpha"] + 30.43)) ** (p["r"] + 2)
    )
    assert cdnow_bgnbd.probability_alive(2, 30.43, 38.86) == pytest.approx(by_hand, rel=1e-12)
    # longer silence -> lower P(alive)
    series = cdnow_bgnbd.probability_alive(
        pd.Series([3, 3, 3], index=["u", "v", "w"]), [10.0, 10.0, 10.0], [10.0, 20.0, 40.0]
    )
    assert list(series.index) == ["u", "v", "w"]
    assert series.iloc[0] > series.iloc[1] > series.iloc[2] > 0


def test_bgnbd_expected_purchases_stable_for_heavy_buyers() -> None:
    model = BetaGeoModel.from_dict(_state(BetaGeoModel, PUBLISHED_BGNBD))
    r, alpha = PUBLISHED_BGNBD["r"], PUBLISHED_BGNBD["alpha"]
    x = np.array([0.0, 1.0, 5.0, 50.0, 1000.0, 5000.0])
    T = np.full_like(x, 38.86)
    tx = np.where(x > 0, T, 0.0)
    expected = model.expected_purchases(39.0, x, tx, T)
    assert np.all(np.isfinite(expected))
    assert np.all(np.diff(expected) > 0)
    # never above the "always alive" posterior-mean rate, and close to it for alive heavy buyers
    upper = 39.0 * (r + x) / (alpha + T)
    assert np.all(expected < upper)
    assert expected[-1] > 0.7 * upper[-1]
    # new customer = conditional expectation with an empty history
    assert model.expected_purchases_new_customer(39.0) == pytest.approx(
        model.expected_purchases(39.0, 0, 0, 0), rel=1e-15
    )


def test_bgnbd_expectation_continuous_at_a_equal_one() -> None:
    # (a + b + x - 1) / (a - 1) is singular at a = 1 but the expectation is not
    params = dict(PUBLISHED_BGNBD)
    values = []
    for a in (1.0 - 1e-4, 1.0, 1.0 + 1e-4):
        model = BetaGeoModel.from_dict(_state(BetaGeoModel, {**params, "a": a}))
        values.append(model.expected_purchases(39.0, [0, 3], [0.0, 20.0], [38.0, 38.0]))
    assert np.all(np.isfinite(values[1]))
    np.testing.assert_allclose(values[1], 0.5 * (values[0] + values[2]), rtol=1e-6)
    with pytest.raises(NotFittedError):
        BetaGeoModel().probability_alive(1, 1.0, 2.0)


def test_pareto_nbd_properties() -> None:
    model = ParetoNBDModel.from_dict(_state(ParetoNBDModel, PUBLISHED_PNBD))
    r, alpha, s, beta = (PUBLISHED_PNBD[k] for k in ("r", "alpha", "s", "beta"))
    # a purchase at the end of the calibration period -> certainly alive
    assert model.probability_alive(4, 38.86, 38.86) == pytest.approx(1.0, abs=1e-12)
    # new-customer expectation by the closed form
    t = 39.0
    by_hand = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
    assert model.expected_purchases_new_customer(t) == pytest.approx(by_hand, rel=1e-12)
    # no repeat purchase and 38.86 weeks of silence: P(alive) well below 1
    assert 0.1 < model.probability_alive(0, 0, 38.86) < 0.9


def test_gradients_match_finite_differences() -> None:
    x = np.array([0.0, 1.0, 3.0, 7.0])
    tx = np.array([0.0, 5.0, 20.0, 30.0])
    T = np.array([10.0, 30.0, 35.0, 38.0])
    w = np.array([3.0, 2.0, 1.0, 1.0])

    def bg_f(p: np.ndarray) -> float:
        return _bgnbd_loglik(*p, x, tx, T, w)[0]

    def bg_g(p: np.ndarray) -> np.ndarray:
        return _bgnbd_loglik(*p, x, tx, T, w)[1]

    point = np.array([0.5, 3.0, 0.8, 2.5])
    assert check_grad(bg_f, bg_g, point, epsilon=1e-7) < 1e-4

    xs, m, ws = np.array([1.0, 2.0, 5.0]), np.array([20.0, 35.0, 12.0]), np.ones(3)

    def gg_f(p: np.ndarray) -> float:
        return _gg_loglik(*p, xs, m, ws)[0]

    def gg_g(p: np.ndarray) -> np.ndarray:
        return _gg_loglik(*p, xs, m, ws)[1]

    assert check_grad(gg_f, gg_g, np.array([6.0, 3.5, 15.0]), epsilon=1e-7) < 1e-4

    def pnbd_f(p: np.ndarray) -> float:
        return _pnbd_loglik(*p, x, tx, T, w)[0]

    def pnbd_g(p: np.ndarray) -> np.ndarray:
        return _pnbd_loglik(*p, x, tx, T, w)[1]

    for point in ([0.55, 10.6, 0.61, 11.7], [0.3, 0.5, 40.0, 200.0]):
        assert check_grad(pnbd_f, pnbd_g, np.array(point), epsilon=1e-7) < 1e-4


def _pnbd_log_a0_closed_form(r, alpha, s, beta, x, tx, T):
    """A_0 by equation (22) of Fader & Hardie's note 009, with scipy's hyp2f1 (reference)."""
    if alpha >= beta:
        k, m_, b_ = alpha, beta, s + 1.0
    else:
        k, m_, b_ = beta, alpha, r + x
    c = r + s + x

    def g(y):
        return hyp2f1(c, b_, c + 1.0, (k - m_) / (k + y)) / (k + y) ** c

    return np.log(g(tx) - g(T))


def test_pareto_quadrature_matches_the_hypergeometric_closed_form() -> None:
    x = np.array([0.0, 1.0, 2.0, 5.0, 20.0, 60.0])
    tx = np.array([0.0, 3.0, 10.0, 30.0, 37.0, 38.5])
    T = np.array([20.0, 30.0, 38.0, 38.86, 39.0, 39.0])
    for params in ([0.553, 10.58, 0.606, 11.67], [0.24, 0.01, 5.0, 0.3], [2.0, 50.0, 0.1, 100.0]):
        np.testing.assert_allclose(
            _pnbd_log_a0(*params, x, tx, T),
            _pnbd_log_a0_closed_form(*params, x, tx, T),
            rtol=0,
            atol=1e-9,
        )
    # recency == T: no time to die unobserved
    assert (
        _pnbd_log_a0(0.5, 10.0, 0.6, 11.0, np.array([3.0]), np.array([5.0]), np.array([5.0]))[0]
        == -np.inf
    )
    # large s (nearly homogeneous dropout), where scipy's hyp2f1 returns inf or nan: finite
    with np.errstate(all="ignore"):
        broken = _pnbd_log_a0_closed_form(0.5, 3.0, 1e5, 5e4, x, tx, T)
    assert not np.all(np.isfinite(broken))
    assert np.all(np.isfinite(_pnbd_log_a0(0.5, 3.0, 1e5, 5e4, x[1:], tx[1:], T[1:])))


def test_bgnbd_expectation_quadrature_matches_the_closed_form() -> None:
    t = np.full(5, 39.0)
    x = np.array([0.0, 1.0, 2.0, 5.0, 20.0])
    T = np.array([30.0, 20.0, 35.0, 38.0, 39.0])
    for params in ([0.24, 4.4, 50.0, 150.0], [0.24, 4.4, 500.0, 1500.0], [0.24, 4.4, 5.0, 11.0]):
        np.testing.assert_allclose(
            _bgnbd_uncond_quadrature(*params, t, x, T),
            _bgnbd_uncond_part(*params, t, x, T),
            rtol=1e-10,
        )
    # a and b so large that hyp2f1 fails: the quadrature takes over and stays finite
    huge = _bgnbd_uncond_part(0.5, 8.0, 3000.0, 900.0, t, x, T)
    assert np.all(np.isfinite(huge))
    # dropout probability ~ 3000/3900: about 1/p = 1.3 purchases at most after T
    assert np.all((huge > 0) & (huge < 1.4))


def test_gamma_gamma_conditional_expected_spend(cdnow_gg: GammaGammaModel) -> None:
    p, q, v = (cdnow_gg.params_[k] for k in ("p", "q", "v"))
    spend = cdnow_gg.conditional_expected_spend([0, 2, 10_000], [0.0, 30.0, 30.0])
    assert spend[0] == pytest.approx(p * v / (q - 1))
    assert spend[1] == pytest.approx((p * v + p * 2 * 30.0) / (p * 2 + q - 1))
    assert spend[2] == pytest.approx(30.0, rel=1e-3)


def test_fit_is_deterministic_and_penalizer_shrinks(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    first = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    second = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    assert first.params_ == second.params_
    penalised = BetaGeoModel(penalizer_coef=0.1).fit(s["frequency"], s["recency"], s["T"])
    assert sum(v**2 for v in penalised.params_.values()) < sum(v**2 for v in first.params_.values())
    assert penalised.log_likelihood_ < first.log_likelihood_
    assert penalised.get_params() == {"penalizer_coef": 0.1, "max_iter": 1000}


def test_to_dict_from_dict_round_trip(
    cdnow_summary: pd.DataFrame, cdnow_bgnbd: BetaGeoModel, cdnow_gg: GammaGammaModel
) -> None:
    s = cdnow_summary
    pnbd = ParetoNBDModel.from_dict(_state(ParetoNBDModel, PUBLISHED_PNBD))
    for model in (cdnow_bgnbd, pnbd):
        restored = type(model).from_dict(json.loads(json.dumps(model.to_dict(), allow_nan=False)))
        assert restored.params_ == model.params_
        assert restored.log_likelihood_ == model.log_likelihood_
        assert restored.converged_ == model.converged_
        assert restored.convergence_reason_ == model.convergence_reason_
        assert restored.std_errors_ == model.std_errors_
        assert restored.diagnostics_ == model.diagnostics_
        args = (s["frequency"], s["recency"], s["T"])
        np.testing.assert_array_equal(
            restored.expected_purchases(39.0, *args), model.expected_purchases(39.0, *args)
        )
        np.testing.assert_array_equal(
            restored.probability_alive(*args), model.probability_alive(*args)
        )
    restored_gg = GammaGammaModel.from_dict(json.loads(json.dumps(cdnow_gg.to_dict())))
    np.testing.assert_array_equal(
        restored_gg.conditional_expected_spend(s["frequency"], s["monetary_value"]),
        cdnow_gg.conditional_expected_spend(s["frequency"], s["monetary_value"]),
    )
    assert restored_gg.n_customers_ == 946
    state = cdnow_bgnbd.to_dict()
    assert state["format_version"] == 2
    assert state["reason"] is None and state["std_errors"] == cdnow_bgnbd.std_errors_
    unfitted = BetaGeoModel.from_dict(json.loads(json.dumps(BetaGeoModel().to_dict())))
    assert not hasattr(unfitted, "params_")
    with pytest.raises(ModelError, match="cannot load a GammaGammaModel"):
        GammaGammaModel.from_dict(cdnow_bgnbd.to_dict())


def test_format_1_states_are_still_read() -> None:
    # the model.json files of earlier versions: no reason, std_errors or diagnostics
    old = _state(BetaGeoModel, PUBLISHED_BGNBD)
    assert old["format_version"] == 1
    model = BetaGeoModel.from_dict(old)
    assert model.converged_ is True and model.convergence_reason_ is None
    assert model.std_errors_ == dict.fromkeys(("r", "alpha", "a", "b"))
    assert model.diagnostics_ == {}
    assert model.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)
    resaved = model.to_dict()
    assert resaved["format_version"] == 2 and resaved["std_errors"]["a"] is None
    json.dumps(resaved, allow_nan=False)
    unconverged = {**_state(GammaGammaModel, PUBLISHED_GG), "converged": False}
    failed = GammaGammaModel.from_dict(unconverged)
    assert failed.converged_ is False
    assert failed.convergence_reason_ == (
        "Gamma-Gamma: the saved fit did not converge (no details were saved)"
    )
    with pytest.raises(ModelError, match="unsupported BetaGeoModel state format 3"):
        BetaGeoModel.from_dict({**old, "format_version": 3})


# --------------------------------------------------------------------------------------------
# CLV
# --------------------------------------------------------------------------------------------


def test_customer_lifetime_value_discretisation() -> None:
    bg = BetaGeoModel.from_dict(_state(BetaGeoModel, PUBLISHED_BGNBD))
    gg = GammaGammaModel.from_dict(_state(GammaGammaModel, PUBLISHED_GG))
    p, q, v = PUBLISHED_GG["p"], PUBLISHED_GG["q"], PUBLISHED_GG["v"]
    spend = (p * v + p * 2 * 30.0) / (p * 2 + q - 1)

    # one undiscounted step: expected purchases (paper: 1.226) times expected spend
    one_step = customer_lifetime_value(
        bg,
        gg,
        [2],
        [30.43],
        [38.86],
        [30.0],
        horizon_periods=39,
        discount_rate_per_period=0.0,
        periods_per_step=39,
    )
    assert one_step[0] == pytest.approx(1.226 * spend, rel=1e-3)

    # weekly steps with a partial last step: value step k at (1 + d) ** t_k
    d = 0.01
    clv = customer_lifetime_value(
        bg,
        gg,
        [2, 0],
        [30.43, 0.0],
        [38.86, 20.0],
        [30.0, 0.0],
        horizon_periods=2.5,
        discount_rate_per_period=d,
    )
    spends = np.array([spend, p * v / (q - 1)])
    cum = [bg.expected_purchases(t, [2, 0], [30.43, 0.0], [38.86, 20.0]) for t in (1, 2, 2.5)]
    by_hand = spends * (
        cum[0] / (1 + d) + (cum[1] - cum[0]) / (1 + d) ** 2 + (cum[2] - cum[1]) / (1 + d) ** 2.5
    )
    np.testing.assert_allclose(clv, by_hand, rtol=1e-12)
    assert np.all(clv < spends * cum[2])  # discounting lowers the value


# --------------------------------------------------------------------------------------------
# Errors a user can cause
# --------------------------------------------------------------------------------------------


def test_input_errors(toy: pd.DataFrame) -> None:
    kwargs = {"customer_col": "cust", "date_col": "ts", "amount_col": "value"}
    with pytest.raises(InputError, match=r"no column.*'amount'"):
        rfm_summary(toy, customer_col="cust", date_col="ts", calibration_end="2020-01-29")
    with pytest.raises(InputError, match="before the first transaction"):
        rfm_summary(toy, calibration_end="2019-12-31", **kwargs)
    with pytest.raises(InputError, match=r"observation_end .* must be after calibration_end"):
        rfm_summary(toy, calibration_end="2020-01-29", observation_end="2020-01-01", **kwargs)
    yyyymmdd = toy.assign(ts=toy["ts"].dt.strftime("%Y%m%d").astype(int))
    with pytest.raises(InputError, match="not a date"):
        rfm_summary(yyyymmdd, calibration_end="2020-01-29", **kwargs)
    with pytest.raises(InputError, match="not a number"):
        rfm_summary(toy.assign(value="x"), calibration_end="2020-01-29", **kwargs)
    with pytest.raises(InputError, match="no customer has a repeat purchase"):
        GammaGammaModel().fit([0, 0, 0], [0.0, 0.0, 0.0])
    with pytest.raises(InputError, match="recency exceeds T"):
        BetaGeoModel().fit([1, 2], [5.0, 40.0], [10.0, 30.0])
    with pytest.raises(InputError, match="different lengths"):
        BetaGeoModel().fit([1, 2], [5.0, 4.0], [10.0])
    with pytest.raises(InputError, match="is a number, not a date"):
        rfm_summary(toy, calibration_end=20200129, **kwargs)
    with pytest.raises(InputError, match="penalizer_coef must be a non-negative number"):
        BetaGeoModel(penalizer_coef=-1.0).fit([1, 0], [2.0, 0.0], [3.0, 3.0])
    single_purchases = toy.drop_duplicates("cust")
    with pytest.raises(InputError, match="no customer has a repeat purchase"):
        clv_report(single_purchases, calibration_end="2020-01-29", **kwargs)
