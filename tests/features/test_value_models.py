"""Value basis: the purchase model chosen from the data, the holdout curve, and the fallbacks
when a lifetime-value model cannot be used (nothing NaN, the reason recorded, scoring agrees)."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmint.features import (
    FeatureSpec,
    _value,
    build_feature_table,
    compute_feature_table,
    value_model_summary,
)
from segmint.features._catalogue import FeatureOptions
from segmint.features.clv import BetaGeoModel, GammaGammaModel, ParetoNBDModel, rfm_summary

from .conftest import duck

SNAPSHOT = "1997-10-01"  # calibration period 1997-01-01 .. 1997-09-30, as in FHL (2005)


def _strict_json(data: object) -> object:
    """A JSON round trip that refuses NaN and infinity."""
    return json.loads(json.dumps(data, allow_nan=False))


@pytest.fixture(scope="module")
def cdnow_con(cdnow_sample):
    from segmint.io import load_transactions, map_columns, read_source

    con = duckdb.connect()
    raw = read_source(con, cdnow_sample, "raw_transactions")
    mapping = {"customer_id": "column_2", "order_date": "column_3", "amount": "column_5"}
    load_transactions(con, raw, map_columns(raw.columns, "transactions", explicit=mapping))
    yield con
    con.close()


@pytest.fixture(scope="module")
def cdnow_raw(cdnow_sample) -> pd.DataFrame:
    """The CDNOW sample read with pandas only (columns: customer, date, amount)."""
    raw = pd.read_csv(cdnow_sample, sep=r"\s+", header=None, dtype={1: str, 2: str})
    return pd.DataFrame(
        {
            "customer": raw[1],
            "date": pd.to_datetime(raw[2], format="%Y%m%d"),
            "amount": raw[4].astype(float),
        }
    )


@pytest.fixture(scope="module")
def cdnow_auto(cdnow_con):
    return build_feature_table(
        cdnow_con,
        bases=["value"],
        snapshot=SNAPSHOT,
        tables_available=["transactions"],
        into=None,
    )


def _poisson_log(n: int = 250, days: int = 364, seed: int = 11) -> pd.DataFrame:
    """Customers who buy at a constant Poisson rate and never drop out, with gamma spend."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        first = int(rng.integers(0, days // 3))
        rate = rng.gamma(4.0, 0.25) / 7.0  # orders per day
        t = np.cumsum(rng.exponential(1.0 / rate, 60)) + first
        for d in [first, *t[t < days].astype(int)]:
            rows.append((f"c{i:04d}", d, round(float(rng.gamma(3.0, 12.0)), 2)))
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    frame["order_date"] = pd.Timestamp("2023-01-02") + pd.to_timedelta(frame["day"], unit="D")
    return frame[["customer_id", "order_date", "amount"]]


# -- the choice, on the CDNOW sample -----------------------------------------------------------


def test_model_choice_on_cdnow_is_recorded_with_its_criterion(cdnow_auto) -> None:
    _, spec = cdnow_auto
    state = spec.models["value"]
    sel = state["selection"]
    assert sel["requested"] == "auto"
    assert sel["criterion"] == _value.CRITERION
    cands = {c["key"]: c for c in sel["candidates"]}
    assert set(cands) == {"bgnbd", "pareto_nbd"}
    assert all(c["converged"] for c in cands.values())
    # the rule of the module docstring, applied to the recorded values
    bg, pnbd, noise = (
        cands["bgnbd"]["mae_cumulative"],
        cands["pareto_nbd"]["mae_cumulative"],
        sel["noise"],
    )
    expected = "pareto_nbd" if bg - pnbd > noise else "bgnbd"
    assert sel["chosen"] == sel["used"] == state["purchase_model"] == expected
    # on CDNOW the two forecasts differ by less than the counting noise: BG/NBD is kept
    assert expected == "bgnbd" and abs(bg - pnbd) < noise
    assert f"{bg:.1f}" in sel["reason"] and f"{pnbd:.1f}" in sel["reason"]
    assert f"{noise:.1f}" in sel["reason"]
    # the holdout: last 25 % of the 273-day calibration period = 10 weeks from 1997-07-23
    hold = state["holdout"]
    assert (hold["fit_end"], hold["end"], hold["n_periods"]) == ("1997-07-22", "1997-09-30", 10)
    assert hold["model"] == "BG/NBD" and hold["mae_cumulative"] == bg
    actual = np.array([w["actual_cumulative"] for w in hold["periods"]])
    predicted = np.array([w["predicted_cumulative"] for w in hold["periods"]])
    assert bg == pytest.approx(np.mean(np.abs(predicted - actual)), rel=1e-12)
    assert noise == pytest.approx(np.mean(np.sqrt(actual)), rel=1e-12)
    assert hold["actual_total"] == actual[-1] and hold["predicted_total"] == predicted[-1]
    # the chosen model refitted on the whole period is the published BG/NBD
    assert state["bgnbd"]["params"]["r"] == pytest.approx(0.243, abs=5e-4)
    assert state["fits"]["purchase"]["converged"] is True
    assert state["fits"]["purchase"]["fallback"] is None
    assert set(_value.CLV_COLUMNS) <= set(spec.names)
    _strict_json(state)


def test_holdout_curve_matches_an_independent_pandas_count(cdnow_auto, cdnow_raw) -> None:
    hold = cdnow_auto[1].models["value"]["holdout"]
    fit_end, end = pd.Timestamp(hold["fit_end"]), pd.Timestamp(hold["end"])
    days = cdnow_raw.loc[cdnow_raw["amount"] >= 0, ["customer", "date"]].drop_duplicates()
    first = days.groupby("customer")["date"].transform("min")
    inside = days[(first <= fit_end) & (days["date"] > fit_end) & (days["date"] <= end)]
    week = np.ceil((inside["date"] - fit_end).dt.days / 7).astype(int)
    counts = week.value_counts().reindex(range(1, hold["n_periods"] + 1), fill_value=0)
    assert [w["actual"] for w in hold["periods"]] == counts.tolist()
    assert [w["actual_cumulative"] for w in hold["periods"]] == counts.cumsum().tolist()
    assert hold["actual_total"] == len(inside) == 572
    # the forecast: BG/NBD fitted on the data up to fit_end, summed over the cohort
    log = cdnow_raw.rename(columns={"customer": "customer_id"})
    s = rfm_summary(log[log["amount"] >= 0], calibration_end=fit_end.date())
    bg = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    for w in hold["periods"]:
        k = w["period"]
        cum = float(np.sum(bg.expected_purchases(k, s["frequency"], s["recency"], s["T"])))
        assert w["predicted_cumulative"] == pytest.approx(cum, rel=1e-9)
        assert w["start"] == (fit_end + timedelta(days=7 * k - 6)).date().isoformat()
    assert hold["n_customers"] == len(s) == 2357


def test_pareto_on_request_is_used_and_scored_from_the_saved_spec(cdnow_con) -> None:
    frame, spec = build_feature_table(
        cdnow_con,
        bases=["value"],
        snapshot=SNAPSHOT,
        tables_available=["transactions"],
        options=FeatureOptions(clv_model="pareto"),
        into=None,
    )
    state = spec.models["value"]
    assert state["purchase_model"] == "pareto_nbd" and state["bgnbd"] is None
    assert [c["key"] for c in state["selection"]["candidates"]] == ["pareto_nbd"]
    assert state["selection"]["reason"] == "Pareto/NBD, as set in features.clv_model."
    assert state["holdout"]["model"] == "Pareto/NBD"
    assert "(Pareto/NBD)" in spec.feature("p_alive").description
    saved = FeatureSpec.from_dict(_strict_json(spec.to_dict()))
    again = compute_feature_table(cdnow_con, saved)
    np.testing.assert_array_equal(
        again[spec.names].to_numpy(dtype=float), frame[spec.names].to_numpy(dtype=float)
    )
    tx = cdnow_con.sql(
        "SELECT customer_id, CAST(order_date AS DATE) AS date, amount FROM transactions"
    ).df()
    s = rfm_summary(tx, calibration_end="1997-09-30")
    model = ParetoNBDModel.from_dict(state["pareto_nbd"])
    p_alive = model.probability_alive(s["frequency"], s["recency"], s["T"])
    np.testing.assert_allclose(
        frame.set_index("customer_id")["p_alive"].loc[s.index], p_alive, rtol=1e-12
    )


def test_the_log_shape_is_detected_and_a_discrete_log_says_what_it_got(cdnow_con) -> None:
    continuous = _value.detect_data_shape(
        cdnow_con, "transactions", date(1997, 10, 1), date(1997, 1, 1)
    )
    assert continuous["shape"] == "continuous" and continuous["note"] is None
    assert continuous["evidence"]["distinct_purchase_dates"] == 273
    # a yearly appeal: gifts only on six dates, one per donor and date
    rng = np.random.default_rng(4)
    appeals = pd.to_datetime([f"{y}-03-01" for y in range(2015, 2021)])
    gifts = pd.DataFrame(
        [(f"d{i}", day, 25.0) for i in range(200) for day in appeals[rng.random(6) < 0.5]],
        columns=["customer_id", "order_date", "amount"],
    )
    con = duck(transactions=gifts)
    shape = _value.detect_data_shape(con, "transactions", date(2021, 1, 1), date(2015, 3, 1))
    assert shape["shape"] == shape["model_family"] == "discrete" and shape["note"] is None
    assert shape["evidence"]["distinct_purchase_dates"] == 6
    assert shape["evidence"]["buyers_per_purchase_date"] == pytest.approx(len(gifts) / 6)
    # the same few dates with one buyer each is a sparse continuous log, not occasions
    sparse = gifts.drop_duplicates("order_date")
    con = duck(transactions=sparse)
    shape = _value.detect_data_shape(con, "transactions", date(2021, 1, 1), date(2015, 3, 1))
    assert shape["shape"] == "continuous"


def _bgbb_log(n: int = 3000, seed: int = 5) -> pd.DataFrame:
    """Donors drawn from the BG/BB process: ten yearly appeals, all born at the first one."""
    rng = np.random.default_rng(seed)
    appeals = pd.to_datetime([f"{y}-03-01" for y in range(2012, 2022)])
    p, theta = rng.beta(1.2, 0.75, n), rng.beta(0.66, 2.78, n)
    rows = []
    for i in range(n):
        rows.append((f"d{i:05d}", appeals[0], round(float(rng.gamma(4.0, 10.0)), 2)))
        for day in appeals[1:]:
            if rng.random() < theta[i]:
                break
            if rng.random() < p[i]:
                rows.append((f"d{i:05d}", day, round(float(rng.gamma(4.0, 10.0)), 2)))
    return pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])


def test_a_discrete_log_is_fitted_with_bgbb_and_scored_from_the_saved_spec() -> None:
    from segmint.features.clv import BetaGeoBetaBinomModel, bgbb_summary

    log = _bgbb_log()
    con = duck(transactions=log)
    frame, spec = build_feature_table(
        con, bases=["value"], snapshot="2022-01-01", tables_available=["transactions"], into=None
    )
    state = _strict_json(spec.models["value"])
    assert state["data_shape"]["shape"] == "discrete"
    assert state["purchase_model"] == "bgbb" and state["selection"]["label"] == "BG/BB"
    assert "BG/BB, the model of discrete purchase opportunities" in state["selection"]["reason"]
    fit = state["fits"]["purchase"]
    assert fit["converged"] is True
    truth = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.78}
    for name, value in truth.items():  # within 3 standard errors of the planted value
        assert abs(fit["params"][name] - value) < 3 * fit["std_errors"][name], name
    occ = state["occasions"]
    assert (occ["n"], occ["first"], occ["last"], occ["n_future"]) == (
        10,
        "2012-03-01",
        "2021-03-01",
        1,
    )
    # holdout: the last 25 % of the 10 occasions (2 appeals), counted here with pandas
    hold = state["holdout"]
    assert (hold["unit"], hold["n_periods"], hold["fit_end"]) == ("occasion", 2, "2020-02-29")
    later = log[log["order_date"] >= "2020-03-01"]
    counts = later.groupby("order_date")["customer_id"].nunique()
    assert [w["actual"] for w in hold["periods"]] == counts.tolist()
    assert [w["end"] for w in hold["periods"]] == ["2020-03-01", "2021-03-01"]
    # features: BG/BB predictions for the next appeal, from the model's own summary
    s = bgbb_summary(log.rename(columns={"order_date": "date"}), opportunities="year")
    model = BetaGeoBetaBinomModel.from_dict(state["bgbb"])
    cols = (s["frequency"], s["recency"], s["n_opportunities"])
    got = frame.set_index("customer_id").loc[s.index]
    np.testing.assert_allclose(got["expected_purchases"], model.expected_purchases(1, *cols))
    np.testing.assert_allclose(got["p_alive"], model.probability_alive(*cols, 0))
    assert "next 1 purchase occasions" in spec.feature("expected_purchases").description
    # one occasion ahead, 52.14 weeks away: clv = spend x E[purchases] / (1 + d)^52.14
    weekly = 1.10 ** (7 / 365.25) - 1
    np.testing.assert_allclose(
        got["clv"],
        got["expected_spend"] * got["expected_purchases"] / (1 + weekly) ** (365 / 7),
        rtol=1e-12,
    )
    assert np.isfinite(frame.select_dtypes("number").to_numpy(dtype=float)).all()
    again = compute_feature_table(con, FeatureSpec.from_dict(_strict_json(spec.to_dict())))
    np.testing.assert_array_equal(
        again[spec.names].to_numpy(dtype=float), frame[spec.names].to_numpy(dtype=float)
    )


# -- fallbacks ---------------------------------------------------------------------------------


def test_a_purchase_model_that_does_not_converge_is_left_out_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # nobody ever drops out: BG/NBD cannot identify its dropout process
    con = duck(transactions=_poisson_log())
    frame, spec = build_feature_table(
        con,
        bases=["value"],
        snapshot="2024-01-01",
        tables_available=["transactions"],
        options=FeatureOptions(clv_model="bgnbd"),
        into=None,
    )
    state = _strict_json(spec.models["value"])
    purchase = state["fits"]["purchase"]
    assert purchase["model"] == "BG/NBD" and purchase["converged"] is False
    assert purchase["reason"].startswith("BG/NBD: ") and len(purchase["reason"]) > 40
    assert purchase["fallback"].startswith("expected_purchases, p_alive and clv left out")
    assert state["purchase_model"] is None and state["holdout"] is None
    assert "No purchase model is usable" in state["selection"]["reason"]
    assert not {"expected_purchases", "p_alive", "clv"} & set(spec.names)
    assert np.isfinite(frame.select_dtypes("number").to_numpy(dtype=float)).all()
    summary = value_model_summary(state)
    assert summary["purchase_model"] is None and summary["features"] == state["features"]
    assert summary["fits"][0]["reason"] == purchase["reason"]
    # the saved spec is scored as the fit decided, without refitting
    monkeypatch.setattr(BetaGeoModel, "fit", lambda *a: pytest.fail("refitted"))
    monkeypatch.setattr(GammaGammaModel, "fit", lambda *a: pytest.fail("refitted"))
    again = compute_feature_table(con, FeatureSpec.from_dict(_strict_json(spec.to_dict())))
    assert list(again.columns) == list(frame.columns)
    np.testing.assert_array_equal(
        again[spec.names].to_numpy(dtype=float), frame[spec.names].to_numpy(dtype=float)
    )


def test_a_purchase_fit_that_raises_does_not_stop_the_run(monkeypatch) -> None:
    def boom(self, *args):
        raise FloatingPointError("overflow in the likelihood")

    monkeypatch.setattr(BetaGeoModel, "fit", boom)
    monkeypatch.setattr(ParetoNBDModel, "fit", boom)
    con = duck(transactions=_poisson_log(n=120))
    state = _value.fit_value_models(con, "transactions", date(2024, 1, 1))
    purchase = state["fits"]["purchase"]
    assert purchase["converged"] is False
    assert "BG/NBD: the fit failed (overflow in the likelihood)" in purchase["reason"]
    assert "tried instead: Pareto/NBD: the fit failed" in purchase["reason"]
    assert "No purchase model is usable" in state["selection"]["reason"]
    assert state["features"] == ["expected_spend"]


def test_gamma_gamma_not_converged_falls_back_to_the_historical_mean_spend(
    monkeypatch: pytest.MonkeyPatch, cdnow_con, cdnow_raw
) -> None:
    real_fit = GammaGammaModel.fit

    def unconverged(self, *args):
        real_fit(self, *args)
        self.converged_ = False
        self.convergence_reason_ = "Gamma-Gamma: forced not to converge for the test"
        return self

    monkeypatch.setattr(GammaGammaModel, "fit", unconverged)
    frame, spec = build_feature_table(
        cdnow_con,
        bases=["value"],
        snapshot=SNAPSHOT,
        tables_available=["transactions"],
        options=FeatureOptions(clv_model="bgnbd"),
        into=None,
    )
    state = spec.models["value"]
    spend = state["fits"]["spend"]
    assert spend["converged"] is False and "forced" in spend["reason"]
    assert "historical mean value per purchase day" in spend["fallback"]
    assert state["gamma_gamma"] is None and state["spend_fallback"] == "historical_mean"
    assert {"expected_spend", "clv"} <= set(spec.names)
    assert "historical mean" in spec.feature("expected_spend").description
    # expected spend = mean of the daily purchase totals, computed here with pandas
    before = cdnow_raw[(cdnow_raw["date"] < SNAPSHOT) & (cdnow_raw["amount"] >= 0)]
    mean = before.groupby(["customer", "date"])["amount"].sum().groupby(level=0).mean()
    got = frame.set_index("customer_id")
    np.testing.assert_allclose(got["expected_spend"], mean.loc[got.index], rtol=1e-12)
    # clv = that spend x the discounted expected purchases of BG/NBD (monthly steps)
    log = before.rename(columns={"customer": "customer_id"})
    s = rfm_summary(log, calibration_end="1997-09-30")
    bg = BetaGeoModel.from_dict(state["bgnbd"])
    weekly = 1.10 ** (7 / 365.25) - 1
    edges = np.minimum(np.arange(1, 13 + 1) * 52 / 12, 52.0)
    x, tx, T = (s[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    cum = np.array([np.asarray(bg.expected_purchases(e, x, tx, T)) for e in edges])
    steps = np.diff(np.vstack([np.zeros_like(x), cum]), axis=0)
    discounted = (steps / (1 + weekly) ** edges[:, None]).sum(axis=0)
    np.testing.assert_allclose(
        got["clv"].loc[s.index], discounted * mean.loc[s.index].to_numpy(), rtol=1e-9
    )
    assert np.isfinite(frame.select_dtypes("number").to_numpy(dtype=float)).all()
    saved = FeatureSpec.from_dict(_strict_json(spec.to_dict()))
    again = compute_feature_table(cdnow_con, saved)
    np.testing.assert_array_equal(
        again[spec.names].to_numpy(dtype=float), frame[spec.names].to_numpy(dtype=float)
    )


def test_nobody_bought_twice_still_gives_a_value_basis_and_says_why() -> None:
    one_each = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(40)],
            "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(np.arange(40) * 3, "D"),
            "amount": np.linspace(5.0, 80.0, 40),
        }
    )
    con = duck(transactions=one_each)
    frame, spec = build_feature_table(
        con, bases=["value"], snapshot="2023-06-01", tables_available=["transactions"], into=None
    )
    state = _strict_json(spec.models["value"])
    for role in ("purchase", "spend"):
        fit = state["fits"][role]
        assert (
            fit["converged"] is False and "nobody bought twice before 2023-06-01" in fit["reason"]
        )
    assert state["selection"]["reason"].startswith("No purchase model can be fitted")
    # each customer's single purchase is their historical mean spend
    np.testing.assert_allclose(
        frame.set_index("customer_id")["expected_spend"].loc[one_each["customer_id"]],
        one_each["amount"],
    )


def test_a_state_saved_before_the_model_choice_still_scores(cdnow_con, cdnow_auto) -> None:
    frame, spec = cdnow_auto
    new = spec.models["value"]
    old = {
        k: new[k]
        for k in (
            "calibration_end",
            "time_unit_days",
            "horizon_weeks",
            "annual_discount_rate",
            "discounting_steps_weeks",
            "bgnbd",
            "gamma_gamma",
            "note",
            "n_customers",
            "n_repeat_buyers",
        )
    }
    scores = _value.score_value(cdnow_con, "transactions", date(1997, 10, 1), old)
    assert list(scores.columns) == ["customer_id", *_value.CLV_COLUMNS]
    by_id = frame.set_index("customer_id")
    np.testing.assert_array_equal(
        scores.set_index("customer_id")[list(_value.CLV_COLUMNS)].to_numpy(),
        by_id.loc[scores["customer_id"], list(_value.CLV_COLUMNS)].to_numpy(),
    )
    summary = value_model_summary(old)
    assert summary["purchase_model"] == "BG/NBD" and summary["holdout"] is None
    assert math.isclose(summary["fits"][0]["params"][0]["value"], new["bgnbd"]["params"]["r"])
