"""Tests of the discrete-time lifetime-value models: BG/BB and shifted-beta-geometric (sBG).

The acceptance tests fit the models to the data published with the papers and compare with the
published estimates; predictions are checked against published figures and against independent
computations (Gauss-Jacobi quadrature over the latent probabilities, direct sums).
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.special import comb, roots_jacobi
from sklearn.exceptions import NotFittedError

from segmint.exceptions import InputError, ModelError
from segmint.features.clv import (
    BetaGeoBetaBinomModel,
    ShiftedBetaGeometricModel,
    bgbb_summary,
    contract_durations,
)
from segmint.features.clv._bgbb_numerics import _bgbb_log_l, _bgbb_loglik, _log_beta_sum
from segmint.features.clv._sbg import _sbg_loglik

# --------------------------------------------------------------------------------------------
# Published data
# --------------------------------------------------------------------------------------------

# Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time noncontractual
# setting", Marketing Science 29(6): the recency/frequency table of the 1995 cohort of 11,104
# donors, six opportunities (1996-2001). Columns: x (repeat donation years), t_x (year of the
# last one, 1 = 1996), number of donors. Same counts as BTYD's donationsSummary and the
# `donations` data set of the Python package lifetimes (lifetimes/datasets/donations.csv).
DONATIONS = np.array(
    [
        (0, 0, 3464),
        (1, 1, 1091),
        (1, 2, 277),
        (1, 3, 129),
        (1, 4, 78),
        (1, 5, 119),
        (1, 6, 129),
        (2, 2, 613),
        (2, 3, 255),
        (2, 4, 155),
        (2, 5, 173),
        (2, 6, 234),
        (3, 3, 322),
        (3, 4, 181),
        (3, 5, 225),
        (3, 6, 357),
        (4, 4, 240),
        (4, 5, 284),
        (4, 6, 512),
        (5, 5, 335),
        (5, 6, 728),
        (6, 6, 1203),
    ],
    dtype=np.float64,
)
DONATIONS_N = 6
PUBLISHED_BGBB = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
PUBLISHED_BGBB_LL = -33225.6

# Fader & Hardie (2007), "How to project customer retention", Journal of Interactive Marketing
# 21(1): survivors of two cohorts of 1,000 customers after years 0..12 (the model is fitted on
# years 0-7 and projected to years 8-12).
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
PUBLISHED_SBG = {
    "high_end": ({"alpha": 0.668, "beta": 3.806}, -1611.2),
    "regular": ({"alpha": 0.704, "beta": 1.182}, -1680.3),
}

BOUNDS = (1e-6, 1e6)


def _sig3(value: float) -> str:
    return f"{value:.3g}"


@pytest.fixture(scope="module")
def donations_model() -> BetaGeoBetaBinomModel:
    x, tx, count = DONATIONS.T
    return BetaGeoBetaBinomModel().fit(x, tx, np.full_like(x, DONATIONS_N), weights=count)


@pytest.fixture(scope="module")
def sbg_models() -> dict[str, ShiftedBetaGeometricModel]:
    return {
        "high_end": ShiftedBetaGeometricModel().fit_survivors(HIGH_END[:8]),
        "regular": ShiftedBetaGeometricModel().fit_survivors(REGULAR[:8]),
    }


def _bgbb_from_params(params: dict[str, float]) -> BetaGeoBetaBinomModel:
    return BetaGeoBetaBinomModel.from_dict(
        {
            "model": "BetaGeoBetaBinomModel",
            "format_version": 2,
            "hyperparameters": {"penalizer_coef": 0.0, "max_iter": 1000},
            "params": params,
            "log_likelihood": 0.0,
            "n_customers": 1,
            "converged": True,
        }
    )


def _sbg_from_params(alpha: float, beta: float) -> ShiftedBetaGeometricModel:
    return ShiftedBetaGeometricModel.from_dict(
        {
            "model": "ShiftedBetaGeometricModel",
            "format_version": 2,
            "hyperparameters": {"penalizer_coef": 0.0, "max_iter": 1000},
            "params": {"alpha": alpha, "beta": beta},
            "log_likelihood": 0.0,
            "n_customers": 1,
            "converged": True,
        }
    )


# --------------------------------------------------------------------------------------------
# Independent BG/BB computations: enumerate the death opportunity, integrate p and theta by
# Gauss-Jacobi quadrature (exact for the polynomial integrands)
# --------------------------------------------------------------------------------------------


def _beta_nodes(a: float, b: float, size: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of E[f(u)] for u ~ Beta(a, b)."""
    nodes, weights = roots_jacobi(size, b - 1.0, a - 1.0)
    return (nodes + 1.0) / 2.0, weights / weights.sum()


class _Quadrature:
    """Posterior quantities of the BG/BB model by brute force, for one history (x, t_x, n)."""

    def __init__(self, params: dict[str, float]) -> None:
        p, wp = _beta_nodes(params["alpha"], params["beta"])
        th, wt = _beta_nodes(params["gamma"], params["delta"])
        self.p, self.th = p[:, None], th[None, :]
        self.w = wp[:, None] * wt[None, :]

    def _e(self, f: np.ndarray) -> float:
        return float(np.sum(self.w * f))

    def likelihood_parts(self, x: int, tx: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per (p, theta): P(data and alive through n), P(data)."""
        p, th = self.p, self.th
        alive = p**x * (1 - p) ** (n - x) * (1 - th) ** n
        total = alive.copy()
        # died at the start of opportunity tau + 1 (alive for opportunities 1..tau), tau >= t_x
        for tau in range(tx, n):
            total = total + p**x * (1 - p) ** (tau - x) * th * (1 - th) ** tau
        return alive, total

    def log_likelihood(self, x: int, tx: int, n: int) -> float:
        return math.log(self._e(self.likelihood_parts(x, tx, n)[1]))

    def p_alive_next(self, x: int, tx: int, n: int) -> float:
        alive, total = self.likelihood_parts(x, tx, n)
        return self._e(alive * (1 - self.th)) / self._e(total)

    def expected(self, n_star: int, x: int, tx: int, n: int) -> float:
        alive, total = self.likelihood_parts(x, tx, n)
        future = sum((1 - self.th) ** k for k in range(1, n_star + 1))
        return self._e(alive * self.p * future) / self._e(total)

    def dert(self, d: float, x: int, tx: int, n: int) -> float:
        alive, total = self.likelihood_parts(x, tx, n)
        q = (1 - self.th) / (1 + d)
        return self._e(alive * self.p * q / (1 - q)) / self._e(total)

    def new_customer(self, n: int) -> float:
        return self._e(self.p * sum((1 - self.th) ** k for k in range(1, n + 1)))

    def pmf(self, n: int) -> np.ndarray:
        p, th = self.p, self.th
        out = np.zeros(n + 1)
        for tau in range(n + 1):  # alive for opportunities 1..tau
            p_tau = (1 - th) ** n if tau == n else th * (1 - th) ** tau
            for x in range(tau + 1):
                out[x] += self._e(p_tau * comb(tau, x) * p**x * (1 - p) ** (tau - x))
        return out


# --------------------------------------------------------------------------------------------
# BG/BB: published fit and predictions
# --------------------------------------------------------------------------------------------


def test_donations_table_is_the_published_cohort() -> None:
    x, tx, count = DONATIONS.T
    assert count.sum() == 11104
    assert len(DONATIONS) == 22
    assert np.all((x <= tx) & (tx <= DONATIONS_N)) and np.all((x == 0) == (tx == 0))
    # every possible (x, t_x) pattern of six opportunities occurs
    assert len({(a, b) for a, b in zip(x, tx, strict=True)}) == 1 + 6 * 7 // 2


def test_bgbb_reproduces_published_donations_fit(donations_model: BetaGeoBetaBinomModel) -> None:
    m = donations_model
    assert m.converged_ and m.convergence_reason_ is None
    for name, published in PUBLISHED_BGBB.items():
        assert _sig3(m.params_[name]) == _sig3(published), name
        assert round(m.params_[name], 3) == published, name
    assert round(m.log_likelihood_, 1) == PUBLISHED_BGBB_LL
    assert m.n_customers_ == 11104
    se = m.std_errors_
    assert all(se[k] is not None and 0 < se[k] < m.params_[k] for k in PUBLISHED_BGBB)
    assert m.diagnostics_["params_at_bound"] == []
    assert m.diagnostics_["analytic_gradient"] is True
    # the log-likelihood is the model's: brute-force quadrature at the estimate agrees
    quad = _Quadrature(m.params_)
    ll = sum(c * quad.log_likelihood(int(a), int(b), DONATIONS_N) for a, b, c in DONATIONS)
    assert ll == pytest.approx(m.log_likelihood_, abs=1e-6)


def test_bgbb_weighted_table_equals_one_row_per_customer(
    donations_model: BetaGeoBetaBinomModel,
) -> None:
    x, tx, count = DONATIONS.T
    reps = count.astype(int)
    per_customer = BetaGeoBetaBinomModel().fit(
        pd.Series(np.repeat(x, reps)), np.repeat(tx, reps), np.full(reps.sum(), DONATIONS_N)
    )
    assert per_customer.n_customers_ == 11104
    assert per_customer.log_likelihood_ == pytest.approx(donations_model.log_likelihood_)
    for k, v in donations_model.params_.items():
        assert per_customer.params_[k] == pytest.approx(v, rel=1e-6)
    # a scalar n is broadcast
    scalar_n = BetaGeoBetaBinomModel().fit(x, tx, DONATIONS_N, weights=count)
    assert scalar_n.params_ == donations_model.params_
    # zero weights drop rows; a row split in two is the same data
    split = np.concatenate([count[:1] - 1000, [1000.0], count[1:], [0.0]])
    xs = np.concatenate([x[:1], x[:1], x[1:], [3.0]])
    txs = np.concatenate([tx[:1], tx[:1], tx[1:], [4.0]])
    again = BetaGeoBetaBinomModel().fit(xs, txs, np.full(xs.size, 6), weights=split)
    assert again.log_likelihood_ == pytest.approx(donations_model.log_likelihood_, abs=1e-8)


def test_bgbb_predictions_match_published_figures(
    donations_model: BetaGeoBetaBinomModel,
) -> None:
    m = donations_model
    # Table 6 of Fader, Hardie & Shang (2010): P(alive in 2002) for donors last seen in 1995
    # with no repeat gift, 1999 with two, 2001 with six.
    p_alive = m.probability_alive([0, 2, 6], [0, 4, 6], DONATIONS_N)
    np.testing.assert_allclose(p_alive, [0.11, 0.59, 0.93], atol=0.005)
    x, tx, count = DONATIONS.T
    # Hardie's BG/BB spreadsheet (brucehardie.com/notes/010), "Conditional Expectations (II)":
    # expected repeat gifts of the cohort in 2002-2006 = 12,884.2.
    total = float(np.sum(count * m.expected_purchases(5, x, tx, DONATIONS_N)))
    assert total == pytest.approx(12884.2, abs=0.1)
    # ... and "In-Sample Fit": expected donors with 0 and with 6 repeat gifts in 1996-2001.
    expected_hist = 11104 * m.purchase_count_distribution(DONATIONS_N)
    assert expected_hist[0] == pytest.approx(3454.9, abs=0.05)
    assert expected_hist[6] == pytest.approx(1253.1, abs=0.05)
    # the fitted histogram is close to the actual one (the paper's in-sample fit check)
    actual_hist = np.bincount(x.astype(int), weights=count, minlength=7)
    assert expected_hist.sum() == pytest.approx(11104)
    assert np.max(np.abs(expected_hist - actual_hist) / actual_hist) < 0.06


def test_bgbb_predictions_agree_with_quadrature(donations_model: BetaGeoBetaBinomModel) -> None:
    m = donations_model
    quad = _Quadrature(m.params_)
    histories = [(0, 0, 6), (1, 1, 6), (2, 4, 6), (3, 6, 6), (6, 6, 6), (1, 3, 4), (0, 0, 1)]
    x, tx, n = (np.array(col, dtype=float) for col in zip(*histories, strict=True))
    np.testing.assert_allclose(
        m.probability_alive(x, tx, n), [quad.p_alive_next(*h) for h in histories], rtol=1e-10
    )
    for n_star in (1, 5, 20):
        np.testing.assert_allclose(
            m.expected_purchases(n_star, x, tx, n),
            [quad.expected(n_star, *h) for h in histories],
            rtol=1e-10,
        )
    np.testing.assert_allclose(
        m.discounted_expected_residual_transactions(0.1, x, tx, n),
        [quad.dert(0.1, *h) for h in histories],
        rtol=1e-8,
    )
    np.testing.assert_allclose(
        m.expected_purchases_new_customer([1, 6, 11]),
        [quad.new_customer(k) for k in (1, 6, 11)],
        rtol=1e-10,
    )
    for n_opp in (1, 6, 11):
        pmf = m.purchase_count_distribution(n_opp)
        np.testing.assert_allclose(pmf, quad.pmf(n_opp), rtol=1e-9, atol=1e-15)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.arange(n_opp + 1) @ pmf == pytest.approx(
            m.expected_purchases_new_customer(n_opp), rel=1e-10
        )
    log_l = _bgbb_log_l(m._values(), x, tx, n)
    np.testing.assert_allclose(log_l, [quad.log_likelihood(*h) for h in histories], rtol=1e-10)


def test_bgbb_prediction_properties(donations_model: BetaGeoBetaBinomModel) -> None:
    m = donations_model
    # P(alive) falls with the time since the last gift, and further into the future
    p = m.probability_alive(3, [3, 4, 5, 6], 6)
    assert np.all(np.diff(p) > 0)
    ahead = m.probability_alive(3, 4, 6, m_future=[0, 1, 2, 5])
    assert np.all(np.diff(ahead) < 0)
    # customers who gave in 2001 are alive in 2001 for sure
    assert m.probability_alive(4, 6, 6, m_future=0) == pytest.approx(1.0)
    # DERT at a high discount rate tends to the discounted next opportunity's expectation
    one = m.expected_purchases(1, 4, 6, 6)
    assert m.discounted_expected_residual_transactions(1e6, 4, 6, 6) * 1e6 == pytest.approx(
        one, rel=1e-5
    )
    # DERT is the discounted sum of the increments of the conditional expectation
    k = np.arange(1, 400)
    cum = m.expected_purchases(k, 2, 3, 6)
    increments = np.diff(np.concatenate([[0.0], cum]))
    assert np.sum(increments / 1.1**k) == pytest.approx(
        m.discounted_expected_residual_transactions(0.1, 2, 3, 6), rel=1e-9
    )
    # a pandas index is carried through
    idx = pd.Index(["a", "b"], name="donor")
    out = m.probability_alive(pd.Series([1, 6], index=idx), pd.Series([1, 6], index=idx), 6)
    assert isinstance(out, pd.Series) and out.index.equals(idx)
    assert isinstance(m.expected_purchases(5, 6, 6, 6), float)


def test_log_beta_sum_matches_direct_sums() -> None:
    from scipy.special import betaln

    # the model's b are >= 1 (delta + n + 1, delta + 1); large ones come from large delta
    b = np.array([1.0, 2.5, 7.0, 40.0, 3e3, 2e5])
    for g in (0.05, 0.657, 0.9995, 1 - 1e-9, 1.0, 1 + 1e-11, 1 + 1e-6, 1.0011, 2.5, 80.0):
        for k in (0, 1, 3, 50):
            direct = np.array(
                [np.sum(np.exp(betaln(g, bb + np.arange(k)))) for bb in b]
            )  # empty sum = 0
            got = np.exp(_log_beta_sum(g, b, np.full(b.shape, k)))
            # 1e-9: scipy's betaln itself is only that accurate for b ~ 1e5
            np.testing.assert_allclose(got, direct, rtol=1e-9, err_msg=f"g={g}, k={k}")
    # infinite sums: finite for g > 1 only; sum_i B(3, b + i) = B(2, b) = 1 / (b (b + 1))
    infinite = np.exp(_log_beta_sum(3.0, b, np.full(b.shape, np.inf)))
    np.testing.assert_allclose(infinite, 1.0 / (b * (b + 1.0)), rtol=1e-12)
    long = np.sum(np.exp(betaln(3.0, b[:3, None] + np.arange(200000)[None, :])), axis=1)
    np.testing.assert_allclose(infinite[:3], long, rtol=1e-8)
    assert np.all(np.isinf(_log_beta_sum(0.7, b, np.full(b.shape, np.inf))))


def test_bgbb_expectations_continuous_at_gamma_one() -> None:
    base = {"alpha": 1.2, "beta": 0.75, "delta": 2.8}
    values = [
        _bgbb_from_params({**base, "gamma": g}).expected_purchases(10, 3, 4, 6)
        for g in (1 - 1e-5, 1 - 1e-9, 1.0, 1 + 1e-9, 1 + 1e-5)
    ]
    np.testing.assert_allclose(values, values[2], rtol=1e-4)
    assert np.all(np.isfinite(values))


def test_bgbb_gradient_matches_finite_differences() -> None:
    x, tx, count = DONATIONS.T
    n = np.full_like(x, 6.0)
    x2 = np.concatenate([x, [0.0, 2.0, 1.0]])
    tx2 = np.concatenate([tx, [0.0, 5.0, 1.0]])
    n2 = np.concatenate([n, [1.0, 9.0, 1.0]])
    w2 = np.concatenate([count, [5.0, 2.5, 7.0]])
    for params in ([1.2, 0.75, 0.66, 2.78], [0.3, 4.0, 1.0, 0.5], [7.0, 2.0, 3.0, 40.0]):
        _, grad = _bgbb_loglik(*params, x2, tx2, n2, w2)
        num = np.empty(4)
        for j in range(4):
            h = 1e-6 * params[j]
            up, down = list(params), list(params)
            up[j] += h
            down[j] -= h
            num[j] = (
                _bgbb_loglik(*up, x2, tx2, n2, w2, with_gradient=False)[0]
                - _bgbb_loglik(*down, x2, tx2, n2, w2, with_gradient=False)[0]
            ) / (2 * h)
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-4)


def test_bgbb_likelihood_is_blocked_without_changing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import segmint.features.clv._bgbb_numerics as bgbb_numerics

    rng = np.random.default_rng(5)
    n = rng.integers(1, 40, 300).astype(float)
    tx = np.floor(rng.random(300) * (n + 1))
    x = np.where(tx > 0, np.maximum(1, np.floor(rng.random(300) * tx)), 0.0)
    w = rng.random(300) + 0.5
    full = _bgbb_loglik(1.1, 0.8, 0.6, 2.5, x, tx, n, w)
    monkeypatch.setattr(bgbb_numerics, "_BLOCK_CELLS", 97)  # many small blocks
    blocked = _bgbb_loglik(1.1, 0.8, 0.6, 2.5, x, tx, n, w)
    assert blocked[0] == pytest.approx(full[0], rel=1e-13)
    np.testing.assert_allclose(blocked[1], full[1], rtol=1e-12)


def test_bgbb_round_trip_through_json(donations_model: BetaGeoBetaBinomModel) -> None:
    state = json.loads(json.dumps(donations_model.to_dict(), allow_nan=False))
    assert state["model"] == "BetaGeoBetaBinomModel" and state["converged"] is True
    assert state["reason"] is None and set(state["std_errors"]) == set(PUBLISHED_BGBB)
    again = BetaGeoBetaBinomModel.from_dict(state)
    x, tx, _ = DONATIONS.T
    np.testing.assert_array_equal(
        again.expected_purchases(5, x, tx, 6), donations_model.expected_purchases(5, x, tx, 6)
    )
    assert again.std_errors_ == donations_model.std_errors_
    with pytest.raises(ModelError):
        ShiftedBetaGeometricModel.from_dict(state)
    unfitted = BetaGeoBetaBinomModel(penalizer_coef=0.1).to_dict()
    assert BetaGeoBetaBinomModel.from_dict(unfitted).get_params()["penalizer_coef"] == 0.1


def test_bgbb_penalizer_shrinks_the_parameters() -> None:
    x, tx, count = DONATIONS.T
    plain = BetaGeoBetaBinomModel().fit(x, tx, np.full_like(x, 6), weights=count)
    shrunk = BetaGeoBetaBinomModel(penalizer_coef=0.05).fit(
        x, tx, np.full_like(x, 6), weights=count
    )
    assert sum(v**2 for v in shrunk.params_.values()) < sum(v**2 for v in plain.params_.values())
    assert shrunk.log_likelihood_ < plain.log_likelihood_


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1.5], [2], [6]), {}, "whole numbers"),
        (([1], [7], [6]), {}, "recency exceeds n_opportunities"),
        (([3], [2], [6]), {}, "frequency exceeds recency"),
        (([0], [2], [6]), {}, "frequency is 0 but recency is positive"),
        (([1, 2], [1], [6]), {}, "different lengths"),
        (([-1], [0], [6]), {}, "negative"),
        (([1], [np.nan], [6]), {}, "missing or infinite"),
        (([0, 0], [0, 0], [0, 0]), {}, "all n = 0"),
        (([1, 1], [1, 1], [6, 6]), {"weights": [0, 0]}, "weights are zero"),
        (([1, 1], [1, 1], [6, 6]), {"weights": [1, -1]}, "negative"),
        (([1, 1], [1, 1], [6, 6]), {"weights": [1, 2, 3]}, "different lengths"),
    ],
)
def test_bgbb_fit_input_errors(args: tuple, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        BetaGeoBetaBinomModel().fit(*args, **kwargs)
    assert info.value.hint


def test_bgbb_prediction_input_errors(donations_model: BetaGeoBetaBinomModel) -> None:
    with pytest.raises(NotFittedError):
        BetaGeoBetaBinomModel().probability_alive(1, 1, 6)
    with pytest.raises(InputError, match="discount_rate"):
        donations_model.discounted_expected_residual_transactions(0.0, 1, 1, 6)
    with pytest.raises(InputError, match="whole numbers"):
        donations_model.expected_purchases(2.5, 1, 1, 6)
    with pytest.raises(InputError, match="single whole number"):
        donations_model.purchase_count_distribution([3, 4])
    with pytest.raises(InputError, match="penalizer_coef"):
        BetaGeoBetaBinomModel(penalizer_coef=-1).fit([1], [1], [6])


# --------------------------------------------------------------------------------------------
# BG/BB: transaction log -> recency/frequency table
# --------------------------------------------------------------------------------------------


@pytest.fixture
def gift_log() -> pd.DataFrame:
    """Hand-made gifts; the expected yearly summary is worked out in the test."""
    rows = [
        ("A", "1995-03-01"),
        ("A", "1995-11-11"),  # same year as the first: not a repeat
        ("A", "1996-05-01"),
        ("A", "1998-01-09"),
        ("A", "1998-06-30"),  # same year again
        ("A", "2002-02-02"),  # holdout
        ("B", "1995-07-04"),
        ("C", "1999-12-31"),
        ("C", "2000-01-01"),
        ("C", "2001-12-31"),
        ("C", "2003-05-05"),  # holdout
        ("D", "2001-06-01"),  # born in the last calibration year: n = 0
        ("E", "2002-03-03"),  # born after the calibration period: left out
        ("F", "1996-01-01"),
        ("F", "2004-01-01"),  # after observation_end: ignored
    ]
    return pd.DataFrame(rows, columns=["donor", "day"])


def test_bgbb_summary_yearly_hand_computed(gift_log: pd.DataFrame) -> None:
    out = bgbb_summary(
        gift_log,
        customer_col="donor",
        date_col="day",
        calibration_end="2001-12-31",
        observation_end="2003-12-31",
    )
    expected = pd.DataFrame(
        {
            # A: born 1995, repeat years 1996 and 1998 -> x = 2, t_x = 3 (1998), n = 6
            # B: one gift in 1995; C: born 1999, gifts 2000 and 2001 -> x = t_x = n = 2
            # D: born 2001 -> n = 0; F: born 1996 -> n = 5
            "frequency": [2, 0, 2, 0, 0],
            "recency": [3, 0, 2, 0, 0],
            "n_opportunities": [6, 6, 2, 0, 5],
            "frequency_holdout": [1, 0, 1, 0, 0],
            "n_opportunities_holdout": [2, 2, 2, 2, 2],
        },
        index=pd.Index(["A", "B", "C", "D", "F"], name="donor"),
    )
    pd.testing.assert_frame_equal(out, expected)
    table = bgbb_summary(
        pa.Table.from_pandas(gift_log),
        customer_col="donor",
        date_col="day",
        calibration_end="2001-12-31",
        aggregate=True,
    )
    assert table.to_dict("list") == {
        "frequency": [0, 0, 0, 2, 2],
        "recency": [0, 0, 0, 2, 3],
        "n_opportunities": [0, 5, 6, 2, 6],
        "count": [1, 1, 1, 1, 1],
    }
    # quarters: A is born in 1995Q1; its repeat quarters up to 1995Q4 are 1995Q4 only
    quarterly = bgbb_summary(
        gift_log,
        customer_col="donor",
        date_col="day",
        opportunities="quarter",
        calibration_end="1995-12-31",
    )
    assert quarterly.loc["A"].tolist() == [1, 3, 3]
    assert quarterly.loc["B"].tolist() == [0, 0, 1]


def test_bgbb_summary_campaign_dates() -> None:
    log = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2, 2, 3],
            "date": pd.to_datetime(
                [
                    "2020-03-05",  # answers the March mailing: birth
                    "2020-05-30",  # still the March mailing
                    "2020-09-10",  # September mailing: opportunity 2 after birth
                    "2020-06-01",  # on the June mailing day: birth
                    "2020-08-31",
                    "2020-12-24",  # December mailing: opportunity 2 after birth
                    "2020-12-01",  # born at the last mailing: n = 0
                ]
            ),
        }
    )
    mailings = ["2020-06-01", "2020-03-01", "2020-09-01", "2020-12-01"]  # any order
    out = bgbb_summary(log, opportunities=mailings, calibration_end="2020-12-31")
    assert out.to_dict("list") == {
        "frequency": [1, 1, 0],
        "recency": [2, 2, 0],
        "n_opportunities": [3, 2, 0],
    }
    with pytest.raises(InputError, match="precedes the first opportunity"):
        bgbb_summary(log, opportunities=["2020-06-01", "2020-09-01", "2020-12-01"])


def test_bgbb_summary_round_trips_the_donations_table() -> None:
    """A gift log built from the published table gives the table back, and its fit."""
    x, tx, count = (c.astype(int) for c in DONATIONS.T)
    cx, ctx = np.repeat(x, count), np.repeat(tx, count)
    ids = np.arange(cx.size)
    k = np.arange(1, 7)[None, :]
    # gifts in the first x - 1 years after 1995 and in year t_x, plus the first gift in 1995
    gives = ((k < cx[:, None]) | (k == ctx[:, None])) & (cx[:, None] > 0)
    cust, year = np.nonzero(gives)
    log = pd.DataFrame(
        {
            "customer_id": np.concatenate([ids, cust]),
            "date": pd.to_datetime(
                [f"{y}-06-15" for y in np.concatenate([np.full(ids.size, 1995), 1996 + year])]
            ),
        }
    )
    table = bgbb_summary(log, calibration_end="2001-12-31", aggregate=True)
    assert table["count"].sum() == 11104
    expected = pd.DataFrame(
        {"frequency": x, "recency": tx, "n_opportunities": 6, "count": count}
    ).sort_values(["frequency", "recency"], ignore_index=True)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    model = BetaGeoBetaBinomModel().fit(
        table["frequency"], table["recency"], table["n_opportunities"], weights=table["count"]
    )
    assert round(model.log_likelihood_, 1) == PUBLISHED_BGBB_LL


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"opportunities": "fortnight"}, "unknown opportunity period"),
        ({"opportunities": []}, "empty list"),
        ({"customer_col": "who"}, "no column"),
        ({"calibration_end": "2001-12-31", "observation_end": "2001-06-30"}, "must be after"),
        ({"calibration_end": "1990-01-01"}, "before the first transaction"),
        ({"calibration_end": 20011231}, "is a number"),
    ],
)
def test_bgbb_summary_input_errors(
    gift_log: pd.DataFrame, kwargs: dict[str, Any], match: str
) -> None:
    kwargs = {"customer_col": "donor", "date_col": "day", **kwargs}
    with pytest.raises(InputError, match=match) as info:
        bgbb_summary(gift_log, **kwargs)
    assert info.value.hint


def test_bgbb_summary_rejects_bad_dates() -> None:
    with pytest.raises(InputError, match="not dates"):
        bgbb_summary(pd.DataFrame({"customer_id": [1], "date": ["yesterday"]}))
    with pytest.raises(InputError, match="missing dates"):
        bgbb_summary(pd.DataFrame({"customer_id": [1, 2], "date": ["2020-01-01", None]}))
    with pytest.raises(InputError, match="not a date"):
        bgbb_summary(pd.DataFrame({"customer_id": [1], "date": [3.5]}))


# --------------------------------------------------------------------------------------------
# sBG: published fits and projections
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cohort", ["high_end", "regular"])
def test_sbg_reproduces_published_fits(
    sbg_models: dict[str, ShiftedBetaGeometricModel], cohort: str
) -> None:
    m = sbg_models[cohort]
    published, published_ll = PUBLISHED_SBG[cohort]
    assert m.converged_ and m.convergence_reason_ is None
    for name, value in published.items():
        assert _sig3(m.params_[name]) == _sig3(value), name
        assert round(m.params_[name], 3) == value, name
    assert round(m.log_likelihood_, 1) == published_ll
    assert m.n_customers_ == 1000
    assert all(v is not None and 0 < v < m.params_[k] for k, v in m.std_errors_.items())
    # the heterogeneous model beats the constant-retention (geometric) one by far
    s = np.array((HIGH_END if cohort == "high_end" else REGULAR)[:8], dtype=float)
    lost, t = -np.diff(s), np.arange(1, 8)
    theta = lost.sum() / np.sum(s[:-1])  # geometric MLE: churns / renewals at risk
    geometric_ll = np.sum(lost * (np.log(theta) + (t - 1) * np.log1p(-theta))) + s[-1] * 7 * (
        np.log1p(-theta)
    )
    assert m.log_likelihood_ - geometric_ll > 10


@pytest.mark.parametrize("cohort", ["high_end", "regular"])
def test_sbg_projects_the_survivors(
    sbg_models: dict[str, ShiftedBetaGeometricModel], cohort: str
) -> None:
    m = sbg_models[cohort]
    data = np.array(HIGH_END if cohort == "high_end" else REGULAR, dtype=float)
    alpha, beta = m.params_["alpha"], m.params_["beta"]
    # independent: survivors by the retention-rate recursion r_t = (b+t-1)/(a+b+t-1)
    recursion = 1000 * np.cumprod([(beta + t - 1) / (alpha + beta + t - 1) for t in range(1, 13)])
    projected = 1000 * m.survival_function(np.arange(1, 13))
    np.testing.assert_allclose(projected, recursion, rtol=1e-12)
    # fitted on years 1-7, the projection tracks the actual years 8-12 within 5 % (as in
    # Fader & Hardie 2007), slightly under
    rel = projected[7:] / data[8:13] - 1
    assert np.all(np.abs(rel) < 0.05) and np.all(rel < 0)
    np.testing.assert_allclose(m.retention_rate(np.arange(2, 13)), projected[1:] / projected[:-1])
    churn = m.churn_probability(np.arange(1, 13))
    np.testing.assert_allclose(churn, -np.diff(np.concatenate([[1000.0], projected])) / 1000)
    assert np.all(np.diff(m.retention_rate(np.arange(1, 30))) > 0)  # the sorting effect


def test_sbg_per_customer_fit_equals_survivor_fit(
    sbg_models: dict[str, ShiftedBetaGeometricModel],
) -> None:
    s = np.array(HIGH_END[:8])
    lost = -np.diff(s)
    duration = np.concatenate([np.repeat(np.arange(1, 8), lost), np.full(s[-1], 7)])
    churned = np.concatenate([np.ones(lost.sum(), bool), np.zeros(s[-1], bool)])
    m = ShiftedBetaGeometricModel().fit(pd.Series(duration), pd.Series(churned))
    ref = sbg_models["high_end"]
    assert m.n_customers_ == 1000
    assert m.log_likelihood_ == pytest.approx(ref.log_likelihood_, abs=1e-8)
    for k, v in ref.params_.items():
        assert m.params_[k] == pytest.approx(v, rel=1e-6)
    # shares give the same estimates
    shares = ShiftedBetaGeometricModel().fit_survivors(s / 1000)
    for k, v in ref.params_.items():
        assert shares.params_[k] == pytest.approx(v, rel=1e-4)


def test_sbg_residual_lifetimes(sbg_models: dict[str, ShiftedBetaGeometricModel]) -> None:
    for m in sbg_models.values():
        d = 0.10
        k = np.array([0, 1, 4, 10])
        derl = m.discounted_expected_residual_lifetime(d, k)
        # independent: sum_{t>k} S(t)/S(k) / (1+d)^(t-k-1), truncated where 1.1^-t < 1e-30
        t = np.arange(1, 800)
        surv = m.survival_function(np.concatenate([[0], t]))
        direct = [np.sum(surv[kk + 1 :] / surv[kk] / (1 + d) ** np.arange(t.size - kk)) for kk in k]
        np.testing.assert_allclose(derl, direct, rtol=1e-10)
        # DERL grows with tenure: the survivors are the loyal ones
        assert np.all(np.diff(derl) > 0)
        # DEL = 1 + DERL(k=0) / (1 + d)
        assert m.discounted_expected_lifetime(d) == pytest.approx(1 + derl[0] / (1 + d))
        # ignoring heterogeneity undervalues the base (Fader & Hardie 2010): a constant
        # retention rate equal to the cohort's at renewal k+1 gives a smaller DERL
        r = m.retention_rate(k + 1)
        assert np.all(derl > r / (1 - r / (1 + d)))
        # alpha < 1 for both cohorts: the undiscounted residual lifetime diverges
        assert np.all(np.isinf(m.expected_residual_lifetime(k)))
    light_tail = _sbg_from_params(3.0, 5.0)
    t = np.arange(1, 2_000_000)
    assert light_tail.expected_residual_lifetime(2) == pytest.approx(
        np.sum(light_tail.survival_function(t + 2) / light_tail.survival_function(2)), rel=1e-6
    )
    assert light_tail.expected_residual_lifetime(2) == pytest.approx((5 + 2) / (3 - 1))


def test_sbg_gradient_matches_finite_differences() -> None:
    t = np.array([1, 2, 3, 7, 7, 0, 12], dtype=float)
    c = np.array([1, 1, 1, 1, 0, 0, 0], dtype=float)
    w = np.array([131, 126, 90, 26, 491, 3, 2.5])
    for a, b in ((0.668, 3.806), (0.05, 40.0), (30.0, 2.0)):
        _, grad = _sbg_loglik(a, b, t, c, w)
        h = 1e-6
        num = [
            (_sbg_loglik(a * (1 + h), b, t, c, w)[0] - _sbg_loglik(a * (1 - h), b, t, c, w)[0])
            / (2 * a * h),
            (_sbg_loglik(a, b * (1 + h), t, c, w)[0] - _sbg_loglik(a, b * (1 - h), t, c, w)[0])
            / (2 * b * h),
        ]
        np.testing.assert_allclose(grad, num, rtol=1e-6)


def test_sbg_round_trip_through_json(sbg_models: dict[str, ShiftedBetaGeometricModel]) -> None:
    m = sbg_models["regular"]
    state = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    again = ShiftedBetaGeometricModel.from_dict(state)
    assert again.params_ == m.params_ and again.converged_
    assert again.discounted_expected_residual_lifetime(0.1, 3) == (
        m.discounted_expected_residual_lifetime(0.1, 3)
    )
    with pytest.raises(ModelError):
        BetaGeoBetaBinomModel.from_dict(state)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ShiftedBetaGeometricModel().fit_survivors([1000]), "at least two"),
        (lambda: ShiftedBetaGeometricModel().fit_survivors([1000, 900, 950]), "increase"),
        (lambda: ShiftedBetaGeometricModel().fit_survivors([0, 0]), "empty"),
        (lambda: ShiftedBetaGeometricModel().fit_survivors([1000, -1]), "negative"),
        (lambda: ShiftedBetaGeometricModel().fit([0, 2], [True, False]), "duration 0"),
        (lambda: ShiftedBetaGeometricModel().fit([1, 2], [2, 0]), "True/False"),
        (lambda: ShiftedBetaGeometricModel().fit([1.5], [True]), "whole numbers"),
        (lambda: ShiftedBetaGeometricModel().fit([1, 2], [True]), "different lengths"),
        (lambda: ShiftedBetaGeometricModel().fit([0, 0], [False, False]), "renewal yet"),
        (lambda: _sbg_from_params(1.0, 1.0).churn_probability(0), ">= 1"),
        (lambda: _sbg_from_params(1.0, 1.0).discounted_expected_lifetime(-0.1), "discount"),
        (lambda: _sbg_from_params(1.0, 1.0).discounted_expected_residual_lifetime(0), "discount"),
    ],
)
def test_sbg_input_errors(call: Any, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        call()
    assert info.value.hint


def test_sbg_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        ShiftedBetaGeometricModel().survival_function(3)


# --------------------------------------------------------------------------------------------
# sBG: contracts table -> (duration, churned)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def contracts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e", "f", "g", "h"],
            "start_date": [
                "2024-01-31",
                "2024-01-31",
                "2024-01-15",
                "2024-01-15",
                "2024-03-10",
                "2024-07-01",
                "2024-06-30",
                "2023-06-30",
            ],
            "end_date": [
                "2024-02-28",  # before Jan 31 + 1 month (= Feb 29 in 2024): no renewal
                "2024-02-29",  # active on the renewal day Feb 29: renewed once
                None,  # still running
                "2024-07-20",  # ends after observation_end: still active then
                "2024-03-10",  # cancelled on its first day
                None,  # starts after observation_end: left out
                None,  # started on observation_end: no renewal yet
                "2024-06-30",  # active through its 12th monthly renewal, ends that day
            ],
        }
    )


def test_contract_durations_monthly_hand_computed(contracts: pd.DataFrame) -> None:
    out = contract_durations(contracts, observation_end="2024-06-30")
    assert out.index.tolist() == ["a", "b", "c", "d", "e", "g", "h"]
    assert out["duration"].tolist() == [1, 2, 5, 5, 1, 0, 13]
    assert out["churned"].tolist() == [True, True, False, False, True, False, True]
    assert str(out.loc["c", "start"]) == "2024-01-15"


def test_contract_durations_other_periods(contracts: pd.DataFrame) -> None:
    yearly = contract_durations(contracts, observation_end="2024-06-30", period="year")
    # h renewed on 2024-06-30 (its first anniversary) and ended that day: churned in year 2
    assert yearly["duration"].tolist() == [1, 1, 0, 0, 1, 0, 2]
    quarterly = contract_durations(contracts, observation_end="2024-06-30", period="quarter")
    assert quarterly["duration"].tolist() == [1, 1, 1, 1, 1, 0, 5]
    # Jan 15 -> Jun 30 2024 is 167 days = 23 whole weeks; Jan 31 -> Feb 28 / 29 is 28 / 29
    # days, 4 whole weeks: churned in week 5; Jun 30 2023 -> Jun 30 2024 is 366 days
    weekly = contract_durations(
        pa.Table.from_pandas(contracts), observation_end="2024-06-30", period="week"
    )
    assert weekly["duration"].tolist() == [5, 5, 23, 23, 1, 0, 53]
    daily = contract_durations(contracts, observation_end="2024-06-30", period="day")
    assert daily.loc["c", "duration"] == 167 and daily.loc["b", "duration"] == 30


def test_contract_durations_feed_the_published_fit() -> None:
    """1,000 yearly contracts built from the high-end survivors give the published fit."""
    s = np.array(HIGH_END[:8])
    lost = -np.diff(s)
    churn_year = np.repeat(np.arange(1, 8), lost)
    start = pd.Timestamp("2000-01-01")
    ends = [start + pd.DateOffset(years=int(y) - 1, days=100) for y in churn_year]
    frame = pd.DataFrame(
        {
            "id": np.arange(1000),
            "begin": start,
            "stop": pd.to_datetime(ends + [pd.NaT] * int(s[-1])),
        }
    )
    durations = contract_durations(
        frame,
        customer_col="id",
        start_col="begin",
        end_col="stop",
        observation_end="2007-01-01",
        period="year",
    )
    assert durations["churned"].sum() == 509
    assert durations.loc[~durations["churned"], "duration"].eq(7).all()
    model = ShiftedBetaGeometricModel().fit(durations["duration"], durations["churned"])
    assert round(model.params_["alpha"], 3) == 0.668 and round(model.params_["beta"], 3) == 3.806
    # all-NaN end column: everybody still active
    nobody_left = contract_durations(
        frame.assign(stop=np.nan),
        customer_col="id",
        start_col="begin",
        end_col="stop",
        observation_end="2002-01-01",
        period="year",
    )
    assert (~nobody_left["churned"]).all() and nobody_left["duration"].eq(2).all()


@pytest.mark.parametrize(
    ("change", "kwargs", "match"),
    [
        ({"end_date": ["2023-01-01"] + [None] * 7}, {}, "end before they start"),
        ({"customer_id": ["a", "a", "c", "d", "e", "f", "g", "h"]}, {}, "more than one"),
        ({"start_date": [None] + ["2024-01-01"] * 7}, {}, "missing start"),
        ({"start_date": ["soon"] + ["2024-01-01"] * 7}, {}, "not dates"),
        ({}, {"period": "fortnight"}, "unknown period"),
        ({}, {"start_col": "begin"}, "no column"),
        ({}, {"observation_end": "2000-01-01"}, "no contract starts"),
    ],
)
def test_contract_durations_input_errors(
    contracts: pd.DataFrame, change: dict[str, list], kwargs: dict[str, Any], match: str
) -> None:
    frame = contracts.assign(**change)
    kwargs = {"observation_end": "2024-06-30", **kwargs}
    with pytest.raises(InputError, match=match) as info:
        contract_durations(frame, **kwargs)
    assert info.value.hint


# --------------------------------------------------------------------------------------------
# Hard cases: degenerate and tiny data sets
# --------------------------------------------------------------------------------------------


def _assert_sane(model: BetaGeoBetaBinomModel | ShiftedBetaGeometricModel) -> None:
    """Finite everything, JSON without NaN, and converged only with interior estimates."""
    state = model.to_dict()
    json.dumps(state, allow_nan=False)
    assert math.isfinite(model.log_likelihood_)
    assert all(math.isfinite(v) and v > 0 for v in model.params_.values())
    if model.converged_:
        assert model.convergence_reason_ is None
        assert model.diagnostics_["params_at_bound"] == []
        assert all(BOUNDS[0] * 1.1 < v < BOUNDS[1] / 1.1 for v in model.params_.values())
        assert all(se is not None and math.isfinite(se) for se in model.std_errors_.values())
    else:
        assert isinstance(model.convergence_reason_, str) and model.convergence_reason_.strip()
        assert state["reason"] == model.convergence_reason_


# a hand-made cohort of 20 donors with six opportunities
BGBB_20 = (
    [1, 0, 3, 5, 0, 6, 1, 2, 0, 4, 0, 6, 2, 1, 0, 3, 6, 0, 1, 5],
    [1, 0, 5, 6, 0, 6, 4, 2, 0, 6, 0, 6, 3, 1, 0, 3, 6, 0, 2, 6],
)
# 20 subscribers observed for up to six renewals (one draw from an sBG, alpha 0.7, beta 1.2)
SBG_20 = (
    [6, 1, 2, 2, 6, 6, 5, 6, 3, 1, 5, 2, 4, 4, 1, 2, 1, 6, 6, 6],
    [0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
)

BGBB_HARD = {
    "everyone_transacts_every_time": (([6] * 50, [6] * 50, [6] * 50), None, False, "every"),
    "no_repeat_transactions": (([0] * 50, [0] * 50, [6] * 50), None, False, "no customer"),
    "single_opportunity": (([1, 0], [1, 0], [1, 1]), [300, 700], False, "single"),
    "twenty_customers": ((*BGBB_20, [6] * 20), None, None, ""),
    "one_customer": (([2], [3], [6]), None, False, ""),
}


@pytest.mark.parametrize("case", sorted(BGBB_HARD))
def test_bgbb_hard_cases(case: str) -> None:
    (x, tx, n), weights, converged, words = BGBB_HARD[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = BetaGeoBetaBinomModel().fit(x, tx, n, weights=weights)
        _assert_sane(m)
        if converged is not None:
            assert m.converged_ is converged
        assert words in (m.convergence_reason_ or "")
        preds = [
            m.probability_alive(x, tx, n),
            m.expected_purchases(10, x, tx, n),
            m.expected_purchases_new_customer([1, 6, 100]),
            m.discounted_expected_residual_transactions(0.1, x, tx, n),
            m.purchase_count_distribution(6),
        ]
    for p in preds:
        assert np.all(np.isfinite(p)) and np.all(np.asarray(p) >= 0)
    assert np.all(np.asarray(preds[0]) <= 1)


SBG_HARD = {
    "nobody_churns": ({"survivors": [1000, 1000, 1000, 1000]}, False, "nobody"),
    "nobody_churns_per_customer": ({"duration": [5] * 40, "churned": [0] * 40}, False, "nobody"),
    "everybody_churns_in_period_1": ({"survivors": [1000, 0]}, False, "first renewal"),
    "everybody_churns_per_customer": (
        {"duration": [1] * 40, "churned": [1] * 40},
        False,
        "first renewal",
    ),
    "single_period": ({"survivors": [1000, 700]}, False, "first renewal only"),
    "twenty_customers": ({"duration": SBG_20[0], "churned": SBG_20[1]}, None, ""),
    "one_churn_among_many": ({"survivors": [1000, 999, 999, 999, 999]}, None, ""),
}


@pytest.mark.parametrize("case", sorted(SBG_HARD))
def test_sbg_hard_cases(case: str) -> None:
    data, converged, words = SBG_HARD[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if "survivors" in data:
            m = ShiftedBetaGeometricModel().fit_survivors(data["survivors"])
        else:
            m = ShiftedBetaGeometricModel().fit(data["duration"], np.array(data["churned"]) > 0)
        _assert_sane(m)
        if converged is not None:
            assert m.converged_ is converged
        assert words in (m.convergence_reason_ or "")
        preds = [
            m.survival_function(np.arange(0, 50)),
            m.churn_probability(np.arange(1, 50)),
            m.retention_rate(np.arange(1, 50)),
            m.discounted_expected_residual_lifetime(0.1, [0, 3, 20]),
            m.discounted_expected_lifetime(0.1),
        ]
    for p in preds:
        assert np.all(np.isfinite(p)) and np.all(np.asarray(p) >= 0)
    assert np.all(np.asarray(preds[0]) <= 1) and np.all(np.asarray(preds[2]) <= 1)


def test_the_model_modules_still_export_their_summaries() -> None:
    from segmint.features.clv import _bgbb, _sbg

    assert _bgbb.BetaGeoBetaBinomModel is BetaGeoBetaBinomModel
    assert _bgbb.bgbb_summary is bgbb_summary
    assert _sbg.ShiftedBetaGeometricModel is ShiftedBetaGeometricModel
    assert _sbg.contract_durations is contract_durations


def test_a_data_diagnosis_becomes_the_reason_and_keeps_the_fit_reason() -> None:
    m = ShiftedBetaGeometricModel().fit_survivors([1000, 1000, 1000, 1000])
    assert not m.converged_
    diagnosis = m.diagnostics_["data_diagnosis"]
    assert m.convergence_reason_ == f"sBG: {diagnosis}" and "nobody" in diagnosis
    assert m.diagnostics_["fit_reason"] not in (None, m.convergence_reason_)
    assert m.n_customers_ == 1000
