"""Hard cases for the lifetime-value fits: data that cannot identify every parameter.

Each case is generated with a seeded numpy generator (BG/NBD and Gamma-Gamma data are
simulated from the models themselves). Every fit must leave no warning, give finite
parameters and predictions and JSON-safe state, and either converge with sane parameters or
say it did not, with a reason -- never "converged" with a parameter at a bound.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from segmint.exceptions import InputError
from segmint.features.clv import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    clv_report,
)

TRUE_BGNBD = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.4}
TRUE_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


def simulate_bgnbd(
    n: int, r: float, alpha: float, a: float | None, b: float | None, T: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequency, recency, T) of n BG/NBD customers; ``a=None`` means no dropout (an NBD).

    A customer buys at Poisson rate lambda ~ Gamma(r, alpha) and drops out right after the
    K-th repeat purchase, K ~ Geometric(p), p ~ Beta(a, b). Given N(T) purchases, their times
    are uniform order statistics, so the time of the x-th is T * Beta(x, N - x + 1).
    """
    rng = np.random.default_rng(seed)
    T = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    if a is None:
        k = np.full(n, np.iinfo(np.int64).max)
    else:
        k = rng.geometric(rng.beta(a, b, n))
    n_t = rng.poisson(lam * T)
    x = np.minimum(n_t, k)
    tx = np.zeros(n)
    repeat = x > 0
    tx[repeat] = T[repeat] * rng.beta(x[repeat], n_t[repeat] - x[repeat] + 1)
    return x.astype(float), tx, T


def simulate_spend(x: np.ndarray, p: float, q: float, v: float, seed: int) -> np.ndarray:
    """Gamma-Gamma mean spend of x transactions: Gamma(p x, nu x), nu ~ Gamma(q, v)."""
    rng = np.random.default_rng(seed)
    nu = rng.gamma(q, 1.0 / v, x.size)
    return rng.gamma(p * x, 1.0 / (nu * x))


def _fit(model_cls: type, *data: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any numpy/scipy warning fails the case
        model = model_cls().fit(*data)
    _check_invariants(model)
    return model


def _check_invariants(model) -> None:
    """The contract of every fit, converged or not."""
    params = model.params_
    assert all(math.isfinite(v) and v > 0 for v in params.values()), params
    state = json.loads(json.dumps(model.to_dict(), allow_nan=False))
    assert state["format_version"] == 2
    assert state["converged"] is model.converged_
    bounds = model.diagnostics_["bounds"]
    if model.converged_:
        assert model.convergence_reason_ is None
        assert model.diagnostics_["params_at_bound"] == []
        assert model.diagnostics_["limits_reached"] == []
        for name, value in params.items():
            lo, hi = bounds[name]
            assert 1.02 * lo < value < hi / 1.02, (name, value)
            se = model.std_errors_[name]
            assert se is not None and math.isfinite(se) and se > 0
    else:
        reason = model.convergence_reason_
        assert isinstance(reason, str) and reason.startswith(f"{model._label}: ")
        assert len(reason) > len(model._label) + 10


def _check_purchase_predictions(model, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alive = np.asarray(model.probability_alive(x, tx, T))
        expected = np.asarray(model.expected_purchases(52.0, x, tx, T))
        new = np.asarray(model.expected_purchases_new_customer(np.array([1.0, 52.0])))
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    assert np.all(np.isfinite(new)) and new[1] >= new[0] >= 0


PURCHASE_MODELS = [BetaGeoModel, ParetoNBDModel]


@pytest.mark.parametrize("model_cls", PURCHASE_MODELS)
def test_no_repeat_buyers_at_all(model_cls: type) -> None:
    rng = np.random.default_rng(1)
    T = rng.uniform(1.0, 40.0, 300)
    x = tx = np.zeros(300)
    model = _fit(model_cls, x, tx, T)
    assert not model.converged_
    # the one reason that matters: the others follow from it and are left out
    assert model.convergence_reason_ == (
        f"{model._label}: there are no (or almost no) repeat purchases to learn from "
        "(r/alpha → 0: the purchase rate is about 0); use a longer calibration period or more "
        "customers"
    )
    assert model.params_["r"] / model.params_["alpha"] < 1e-4  # purchase rate ~ 0
    _check_purchase_predictions(model, x, tx, T)
    with pytest.raises(InputError, match="no customer has a repeat purchase"):
        GammaGammaModel().fit(x, np.zeros(300))


@pytest.mark.parametrize("model_cls", PURCHASE_MODELS)
def test_only_a_few_repeat_buyers(model_cls: type) -> None:
    rng = np.random.default_rng(4)
    x, tx, T = simulate_bgnbd(300, 0.02, 4.0, 0.8, 2.4, rng.uniform(20, 40, 300), seed=4)
    assert 5 <= int((x > 0).sum()) <= 20
    model = _fit(model_cls, x, tx, T)
    assert not model.converged_  # a dozen repeat buyers cannot pin down dropout
    assert "dropout" in model.convergence_reason_.split(": ", 1)[1]
    _check_purchase_predictions(model, x, tx, T)


@pytest.mark.parametrize("model_cls", PURCHASE_MODELS)
def test_very_short_window_cannot_identify_dropout(model_cls: type) -> None:
    # NBD customers (nobody drops out) seen for 1 to 6 weeks: the BG/NBD optimum runs off to
    # a -> 0 (the old fit reported a = 4e-5, b = 2e4 as "converged")
    rng = np.random.default_rng(6)
    x, tx, T = simulate_bgnbd(600, 0.5, 2.0, None, None, rng.uniform(1, 6, 600), seed=6)
    model = _fit(model_cls, x, tx, T)
    assert not model.converged_
    assert model.convergence_reason_.startswith(
        f"{model._label}: the data cannot identify dropout yet"
    )
    assert "use a longer calibration period" in model.convergence_reason_
    # the purchase process is still estimated: mean rate r/alpha close to the true 0.25/week
    assert model.params_["r"] / model.params_["alpha"] == pytest.approx(0.25, rel=0.2)
    _check_purchase_predictions(model, x, tx, T)


def test_bgnbd_short_window_reports_the_dropout_limit_in_the_diagnostics() -> None:
    rng = np.random.default_rng(6)
    x, tx, T = simulate_bgnbd(600, 0.5, 2.0, None, None, rng.uniform(1, 6, 600), seed=6)
    model = _fit(BetaGeoModel, x, tx, T)
    checks = model.diagnostics_["limit_checks"]
    no_dropout = [c for c in checks if c["direction"] == {"a": -1.0}]
    assert no_dropout[0]["reached"] and no_dropout[0]["loss"] < 1.921
    assert model.to_dict()["reason"] == model.convergence_reason_


def test_very_long_window_converges_near_the_truth() -> None:
    rng = np.random.default_rng(2)
    x, tx, T = simulate_bgnbd(2000, *TRUE_BGNBD.values(), rng.uniform(300, 500, 2000), seed=2)
    model = _fit(BetaGeoModel, x, tx, T)
    assert model.converged_
    for name, truth in TRUE_BGNBD.items():
        # within 4 standard errors of the simulated values
        assert abs(model.params_[name] - truth) < 4 * model.std_errors_[name], name
    _check_purchase_predictions(model, x, tx, T)
    pareto = _fit(ParetoNBDModel, x, tx, T)
    assert pareto.converged_  # another model of the same data: converged, with finite SEs
    _check_purchase_predictions(pareto, x, tx, T)


@pytest.mark.parametrize("model_cls", PURCHASE_MODELS)
def test_twenty_customers(model_cls: type) -> None:
    rng = np.random.default_rng(3)
    x, tx, T = simulate_bgnbd(20, *TRUE_BGNBD.values(), rng.uniform(20, 40, 20), seed=3)
    model = _fit(model_cls, x, tx, T)
    # 10 repeat buyers: far too few for four parameters
    assert not model.converged_
    _check_purchase_predictions(model, x, tx, T)


def _repeat_counts(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).geometric(0.4, n).astype(float)


def test_gamma_gamma_simulated_converges_near_the_truth() -> None:
    x = _repeat_counts(1000, 7)
    m = simulate_spend(x, *TRUE_GG.values(), seed=8)
    model = _fit(GammaGammaModel, x, m)
    assert model.converged_
    for name, truth in TRUE_GG.items():
        assert abs(model.params_[name] - truth) < 4 * model.std_errors_[name], name
    # the same data in cents: v scales by 100, p and q and the verdict do not
    cents = _fit(GammaGammaModel, x, m * 100.0)
    assert cents.converged_
    assert cents.params_["p"] == pytest.approx(model.params_["p"], rel=1e-6)
    assert cents.params_["q"] == pytest.approx(model.params_["q"], rel=1e-6)
    assert cents.params_["v"] == pytest.approx(100.0 * model.params_["v"], rel=1e-6)
    assert cents.log_likelihood_ == pytest.approx(
        model.log_likelihood_ - x.size * math.log(100.0), abs=1e-6
    )


def test_gamma_gamma_constant_spend_within_customers() -> None:
    # every purchase of a customer has the same value (the customer's level is the p -> inf
    # limit of the model: 6.25 / nu, nu ~ Gamma(3.74, 15.44)), so the mean does not vary with x
    x = _repeat_counts(1000, 7)
    nu = np.random.default_rng(9).gamma(3.74, 1.0 / 15.44, 1000)
    model = _fit(GammaGammaModel, x, 6.25 / nu)
    assert not model.converged_
    assert model.convergence_reason_ == (
        "Gamma-Gamma: spend barely varies within customers (p → ∞): a customer's purchases "
        "all have about the same value, so the spread within customers is not identified"
    )
    spend = model.conditional_expected_spend(x, 6.25 / nu)
    assert np.all(np.isfinite(spend))
    # with p -> inf the expected spend is the customer's own (constant) spend
    np.testing.assert_allclose(spend, 6.25 / nu, rtol=1e-3)


def test_gamma_gamma_identical_spend_for_everyone() -> None:
    x = _repeat_counts(500, 10)
    model = _fit(GammaGammaModel, x, np.full(500, 25.0))
    assert not model.converged_
    assert "spend barely varies within customers (p → ∞)" in model.convergence_reason_
    assert "spend barely varies between customers (q → ∞)" in model.convergence_reason_
    assert model.conditional_expected_spend(3, 25.0) == pytest.approx(25.0, rel=1e-4)


def test_gamma_gamma_a_few_whales() -> None:
    x = _repeat_counts(1000, 7)
    m = simulate_spend(x, *TRUE_GG.values(), seed=8)
    m[:5] *= 2000.0  # five customers spend 2,000 times as much
    model = _fit(GammaGammaModel, x, m)
    assert model.converged_
    assert model.params_["q"] > 1.0  # heavier tail between customers, mean still finite
    assert model.params_["q"] < 3.0
    spend = model.conditional_expected_spend(x, m)
    assert np.all(np.isfinite(spend))
    assert spend[:5].min() > 10 * np.median(spend)


def test_gamma_gamma_twenty_customers() -> None:
    x = _repeat_counts(20, 12)
    m = simulate_spend(x, *TRUE_GG.values(), seed=13)
    model = _fit(GammaGammaModel, x, m)
    if model.converged_:
        assert model.params_["q"] > 1.0
    assert np.all(np.isfinite(model.conditional_expected_spend(x, m)))


def _log_from_histories(x: np.ndarray, tx: np.ndarray, T: np.ndarray, spend: np.ndarray):
    """A transaction log whose RFM summary at ``end`` is (x, tx, T) in whole weeks."""
    end = pd.Timestamp("2024-06-30")
    rows = []
    for i in range(x.size):  # test data construction only
        birth = end - pd.Timedelta(weeks=float(T[i]))
        rows.append((i, birth, 10.0))
        if x[i] > 0:
            days = np.linspace(0.0, tx[i] * 7.0, int(x[i]) + 1)[1:]
            rows += [(i, birth + pd.Timedelta(days=float(d)), float(spend[i])) for d in days]
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    frame["date"] = frame["date"].dt.floor("D")
    return frame, end


def test_report_of_a_short_log_is_strict_json_with_reasons() -> None:
    rng = np.random.default_rng(6)
    x, tx, T = simulate_bgnbd(400, 0.5, 2.0, None, None, rng.integers(1, 6, 400) * 1.0, seed=6)
    tx = np.floor(tx)  # whole weeks, so that same-day purchases do not merge
    x = np.where(tx > 0, np.minimum(x, tx * 7), 0)
    frame, end = _log_from_histories(x, tx, T, rng.gamma(6.0, 5.0, 400))
    report = clv_report(frame, calibration_end=end)
    text = json.dumps(report, allow_nan=False)
    back = json.loads(text)
    bg = back["bgnbd"]
    assert bg["converged"] is False
    assert bg["reason"].startswith("BG/NBD: ")
    assert set(bg["std_errors"]) == {"r", "alpha", "a", "b"}
    assert back["gamma_gamma"]["converged"] in (True, False)
    assert (back["gamma_gamma"]["reason"] is None) == back["gamma_gamma"]["converged"]
