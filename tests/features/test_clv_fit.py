"""Tests of segmint.features.clv._fit: the shared maximum-likelihood routine and its verdicts.

The likelihoods here are small textbook ones whose maxima and information matrices are known in
closed form, so the estimates, standard errors and convergence verdicts can be checked exactly.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import digamma, gammaln, polygamma

from segmint.features.clv import FitResult, Limit, fit_mle
from segmint.features.clv._fit import LR_TOLERANCE, json_safe


def _gamma_sample(n: int = 500, shape: float = 2.5, rate: float = 0.4) -> np.ndarray:
    return np.random.default_rng(11).gamma(shape, 1.0 / rate, n)


def _gamma_loglik(y: np.ndarray, with_gradient: bool = True):
    """Log-likelihood of an i.i.d. Gamma(k, rate lam) sample and its gradient in (k, lam)."""
    n, s, slog = y.size, float(y.sum()), float(np.log(y).sum())

    def loglik(theta: np.ndarray) -> tuple[float, np.ndarray | None]:
        k, lam = theta
        ll = n * (k * math.log(lam) - gammaln(k)) + (k - 1.0) * slog - lam * s
        if not with_gradient:
            return float(ll), None
        grad = np.array([n * (math.log(lam) - digamma(k)) + slog, n * k / lam - s])
        return float(ll), grad

    return loglik


def test_gamma_mle_matches_its_score_equations_and_fisher_information() -> None:
    y = _gamma_sample()
    n = y.size
    result = fit_mle(_gamma_loglik(y), ("k", "lam"), [[1.0, 1.0]], model="Gamma", n_obs=n)
    k, lam = result.params["k"], result.params["lam"]
    assert result.converged and result.reason is None
    # score equations of the gamma MLE: lam = k / mean(y), log k - psi(k) = log mean - mean log
    assert lam == pytest.approx(k / y.mean(), rel=1e-8)
    assert math.log(k) - digamma(k) == pytest.approx(
        math.log(y.mean()) - np.log(y).mean(), rel=1e-7
    )
    # standard errors: inverse of n times the Fisher information
    info = np.array([[polygamma(1, k), -1.0 / lam], [-1.0 / lam, k / lam**2]])
    se = np.sqrt(np.diag(np.linalg.inv(n * info)))
    assert result.std_errors["k"] == pytest.approx(se[0], rel=1e-4)
    assert result.std_errors["lam"] == pytest.approx(se[1], rel=1e-4)
    d = result.diagnostics
    assert d["n_starts"] == 3 and len(d["starts"]) == 3  # one start + two seeded perturbations
    assert d["params_at_bound"] == [] and d["limits_reached"] == []
    assert d["min_hessian_eigenvalue"] > 0
    assert d["max_abs_gradient"] < 1e-5
    assert result.log_likelihood == pytest.approx(_gamma_loglik(y)(np.array([k, lam]))[0])


def test_numerical_gradient_gives_the_same_fit() -> None:
    y = _gamma_sample()
    analytic = fit_mle(_gamma_loglik(y), ("k", "lam"), [[1.0, 1.0]], model="G", n_obs=y.size)
    numeric = fit_mle(
        _gamma_loglik(y, with_gradient=False), ("k", "lam"), [[1.0, 1.0]], model="G", n_obs=y.size
    )
    assert numeric.converged
    assert not numeric.diagnostics["analytic_gradient"]
    for name in ("k", "lam"):
        assert numeric.params[name] == pytest.approx(analytic.params[name], rel=1e-6)
        assert numeric.std_errors[name] == pytest.approx(analytic.std_errors[name], rel=1e-3)


def test_rescaled_fit_is_reported_on_the_original_scale() -> None:
    # y in "cents": fit on y / c, where the rate scales by 1/c and the density by 1/c per point
    y = _gamma_sample() * 100.0
    c = float(y.mean())
    direct = fit_mle(_gamma_loglik(y), ("k", "lam"), [[1.0, 0.01]], model="G", n_obs=y.size)
    scaled = fit_mle(
        _gamma_loglik(y / c),
        ("k", "lam"),
        [[1.0, 1.0]],
        model="G",
        n_obs=y.size,
        scale={"lam": 1.0 / c},
        log_likelihood_offset=-y.size * math.log(c),
    )
    assert scaled.converged
    assert scaled.params["k"] == pytest.approx(direct.params["k"], rel=1e-7)
    assert scaled.params["lam"] == pytest.approx(direct.params["lam"], rel=1e-7)
    assert scaled.log_likelihood == pytest.approx(direct.log_likelihood, abs=1e-6)
    assert scaled.std_errors["lam"] == pytest.approx(direct.std_errors["lam"], rel=1e-4)


def _increasing_loglik(theta: np.ndarray) -> tuple[float, np.ndarray]:
    """-100/t: rises towards 0 as t grows without bound (no maximum)."""
    (t,) = theta
    return -100.0 / t, np.array([100.0 / t**2])


def test_a_limit_direction_is_named_in_the_reason() -> None:
    result = fit_mle(
        _increasing_loglik,
        ("t",),
        [[1.0]],
        model="Toy",
        n_obs=100,
        limits=(Limit({"t": 1.0}, "t keeps growing (t → ∞)"),),
    )
    assert not result.converged
    assert result.reason == "Toy: t keeps growing (t → ∞)"
    assert result.diagnostics["limits_reached"] == ["t keeps growing (t → ∞)"]
    assert math.isfinite(result.params["t"]) and result.params["t"] > 1e3


def test_a_parameter_at_a_bound_is_never_converged() -> None:
    result = fit_mle(_increasing_loglik, ("t",), [[1.0]], model="Toy", n_obs=100)
    assert not result.converged
    assert result.params["t"] == pytest.approx(1e6)
    assert result.diagnostics["params_at_bound"] == ["t"]
    assert "t ran to its upper bound" in result.reason
    json.dumps(result.to_dict(), allow_nan=False)


def test_a_flat_limit_is_caught_even_where_the_optimiser_stops_early() -> None:
    # log-likelihood that flattens out as t -> 0 with a gradient that vanishes like t: the
    # optimiser stops part way with a tiny gradient, the limit check still sees the flat ridge
    def loglik(theta: np.ndarray) -> tuple[float, np.ndarray]:
        (t,) = theta
        return -1e-3 * t, np.array([-1e-3])

    result = fit_mle(
        loglik, ("t",), [[1.0]], model="Toy", n_obs=10, limits=(Limit({"t": -1.0}, "t → 0"),)
    )
    assert not result.converged
    assert result.reason == "Toy: t → 0"


def test_the_likelihood_ratio_tolerance_decides_when_a_limit_is_reached() -> None:
    # maximum at t = 1; the limit t -> infinity costs 100 * (1 - 0) ~ 100 units: not reached
    def loglik(theta: np.ndarray) -> tuple[float, np.ndarray]:
        (t,) = theta
        return 100.0 * (math.log(t) - t), np.array([100.0 * (1.0 / t - 1.0)])

    limit = Limit({"t": 1.0}, "t → ∞")
    fitted = fit_mle(loglik, ("t",), [[3.0]], model="Toy", n_obs=100, limits=(limit,))
    assert fitted.converged and fitted.params["t"] == pytest.approx(1.0, rel=1e-6)
    check = fitted.diagnostics["limit_checks"][0]
    assert check["loss"] > LR_TOLERANCE and not check["reached"]
    # with a tolerance above the loss the same fit counts as having reached the limit
    lenient = Limit({"t": 1.0}, "t → ∞", tolerance=check["loss"] + 1.0)
    loose = fit_mle(loglik, ("t",), [[3.0]], model="Toy", n_obs=100, limits=(lenient,))
    assert not loose.converged and loose.reason == "Toy: t → ∞"


def test_unidentified_parameters_have_a_singular_hessian_and_no_standard_errors() -> None:
    # depends on t1 * t2 only: a ridge of maxima t1 * t2 = 2
    def loglik(theta: np.ndarray) -> tuple[float, np.ndarray]:
        t1, t2 = theta
        d = math.log(t1 * t2) - math.log(2.0)
        return -50.0 * d**2, np.array([-100.0 * d / t1, -100.0 * d / t2])

    result = fit_mle(loglik, ("t1", "t2"), [[1.0, 1.0]], model="Toy", n_obs=100)
    assert result.params["t1"] * result.params["t2"] == pytest.approx(2.0, rel=1e-6)
    assert not result.converged
    assert result.reason == "Toy: Hessian not positive definite: parameters are not identified"
    assert result.std_errors == {"t1": None, "t2": None}


def test_an_iteration_limit_is_reported() -> None:
    y = _gamma_sample()
    result = fit_mle(
        _gamma_loglik(y), ("k", "lam"), [[50.0, 50.0]], model="G", n_obs=y.size, max_iter=1
    )
    assert not result.converged
    assert "optimiser stopped after 1 iterations" in result.reason


def test_fits_are_deterministic_and_json_safe() -> None:
    y = _gamma_sample()
    runs = [
        fit_mle(_gamma_loglik(y), ("k", "lam"), [[1.0, 1.0], [3.0, 0.5]], model="G", n_obs=500)
        for _ in range(2)
    ]
    assert isinstance(runs[0], FitResult)
    assert runs[0].to_dict() == runs[1].to_dict()
    text = json.dumps(runs[0].to_dict(), allow_nan=False)
    assert json.loads(text)["params"] == runs[0].params


def test_json_safe_replaces_non_finite_values() -> None:
    value = {"a": np.float64("nan"), "b": [np.inf, 1.5, np.int64(3)], "c": (np.True_, None)}
    assert json_safe(value) == {"a": None, "b": [None, 1.5, 3], "c": [True, None]}
    assert json_safe(np.array([1.0, -np.inf])) == [1.0, None]


def test_starts_where_the_likelihood_is_not_finite_are_skipped() -> None:
    y = _gamma_sample()
    inner = _gamma_loglik(y)

    def loglik(theta: np.ndarray) -> tuple[float, np.ndarray | None]:
        return (-math.inf, None) if theta[0] > 100 else inner(theta)

    result = fit_mle(loglik, ("k", "lam"), [[500.0, 1.0], [1.0, 1.0]], model="G", n_obs=500)
    assert result.diagnostics["starts"][0]["log_likelihood"] is None
    assert result.converged
    with pytest.raises(ValueError, match="not finite at any start"):
        fit_mle(lambda t: (math.nan, None), ("k",), [[1.0]], model="G", n_obs=1)
