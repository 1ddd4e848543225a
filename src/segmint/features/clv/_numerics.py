"""Numerical helpers of :func:`~segmint.features.clv._fit.fit_mle`.

Starting points, the central-difference gradient, the finite-difference Hessian and the
likelihood loss along a limit direction, all over log-parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


def _limit_loss(
    value: Callable[[np.ndarray], float],
    u: np.ndarray,
    f_best: float,
    direction: np.ndarray,
    step: float,
    lo: float,
    hi: float,
) -> float | None:
    """Largest loss of mean objective over a segment of length ``step`` along ``direction``.

    The segment starts at the estimate and goes towards the limit; where a bound blocks it,
    it is shifted back so that it ends at the bound (a parameter at a bound is then judged by
    how flat the likelihood is just inside it). ``None`` if the objective is not finite.
    """
    active = direction != 0.0
    if not np.any(active):
        return None
    room = np.where(direction[active] > 0, hi - u[active], u[active] - lo) / np.abs(
        direction[active]
    )
    ahead = min(step, max(float(np.min(room)), 0.0))
    ends = [np.clip(u + t * direction, lo, hi) for t in (ahead, ahead - step)]
    values = [value(e) for e in ends]
    if not all(math.isfinite(v) for v in values):
        return None
    return max(values) - f_best


def _natural(u: np.ndarray, factors: np.ndarray) -> list[float]:
    return [float(v) for v in np.exp(u) * factors]


def _start_points(
    starts: Sequence[Sequence[float]], k: int, lo: float, hi: float, n_perturbations: int, seed: int
) -> list[np.ndarray]:
    """Log-parameter starts: the given ones, then seeded perturbations of the first."""
    points = []
    for start in starts:
        s = np.asarray(start, dtype=np.float64)
        if s.shape != (k,) or not np.all(np.isfinite(s) & (s > 0)):
            raise ValueError(f"a start must be {k} positive finite numbers, got {start!r}")
        points.append(np.clip(np.log(s), lo, hi))
    rng = np.random.default_rng(seed)
    for _ in range(int(n_perturbations)):
        points.append(np.clip(points[0] + rng.normal(0.0, 1.0, k), lo, hi))
    return points


def _numerical_gradient(value: Callable[[np.ndarray], float], u: np.ndarray) -> np.ndarray:
    """Central-difference gradient (step 6e-6 in log units: about eps ** (1/3))."""
    h = 6e-6
    grad = np.empty(u.size)
    for j in range(u.size):
        e = np.zeros(u.size)
        e[j] = h
        grad[j] = (value(u + e) - value(u - e)) / (2.0 * h)
    return grad


def _hessian(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    value: Callable[[np.ndarray], float],
    u: np.ndarray,
    analytic: bool,
) -> np.ndarray | None:
    """Symmetrised finite-difference Hessian of the mean objective over log-parameters.

    From central differences of the analytic gradient (step 1e-5), or, without one, from
    second differences of the function (step 1e-4, about eps ** (1/4)). ``None`` if not
    finite.
    """
    k = u.size
    hess = np.empty((k, k))
    if analytic:
        h = 1e-5
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            hess[:, j] = (objective(u + e)[1] - objective(u - e)[1]) / (2.0 * h)
    else:
        h = 1e-4
        f0 = value(u)
        for i in range(k):
            ei = np.zeros(k)
            ei[i] = h
            hess[i, i] = (value(u + ei) - 2.0 * f0 + value(u - ei)) / h**2
            for j in range(i):
                ej = np.zeros(k)
                ej[j] = h
                hess[i, j] = hess[j, i] = (
                    value(u + ei + ej)
                    - value(u + ei - ej)
                    - value(u - ei + ej)
                    + value(u - ei - ej)
                ) / (4.0 * h**2)
    hess = 0.5 * (hess + hess.T)
    return hess if np.all(np.isfinite(hess)) else None
