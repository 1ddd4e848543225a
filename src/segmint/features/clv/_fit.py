"""Shared maximum-likelihood machinery of the lifetime-value models.

:func:`fit_mle` maximises a log-likelihood over bounded log-parameters from several
deterministic starts and decides, with explicit checks, whether the fit converged; it returns a
:class:`FitResult`. Every model of :mod:`segmint.features.clv` fits through it.

The routine knows nothing about any particular model: a model hands it

* its log-likelihood (natural parameters on the model's *fitting scale*, i.e. after the data
  were rescaled so that the parameters are of order 1), with or without an analytic gradient;
* the factor that takes each parameter back to the original scale and the constant that takes
  the log-likelihood back (``scale`` and ``log_likelihood_offset``);
* its starts and its :class:`Limit` directions: the ways its parameters can run off to 0 or
  infinity when the data cannot identify them, each with a sentence saying what that means.

Convergence rule
----------------
A fit is **converged** only if all of the following hold at the best start:

1. the optimiser (L-BFGS-B) reports success, or stops on a loss of precision in its line
   search with a small gradient;
2. the gradient of the mean negative log-likelihood over log-parameters is small
   (max |g| <= ``gradient_tol``);
3. no parameter sits at, or within ``bound_tol`` (in log units) of, a bound, and no
   :class:`Limit` of the model is reached. A limit is a direction in which parameters run off
   to 0 or infinity when the data cannot pin them down (for BG/NBD, a -> 0: no dropout). It
   is *reached* when the estimate lies on the limit's side (no parameter heading for
   infinity is below 0.1 on the fitting scale, none heading for 0 above 10) and the
   likelihood along a segment of a factor ``limit_step`` from the
   estimate towards the limit (shifted back to end at the bound if a bound blocks it) loses
   at most ``limit_tol`` log-likelihood units: by default half the 95 % chi-squared(1)
   quantile, i.e. a likelihood-ratio test cannot tell the fit from the limit model. This
   catches the common failure where a parameter drifts towards 0 or infinity on a flat ridge
   and the optimiser stops part way with a tiny gradient, and also fits whose interior
   optimum the data cannot distinguish from such a limit;
4. the Hessian of the negative log-likelihood over log-parameters (finite differences of the
   analytic gradient where there is one, else of the function) is positive definite: its
   smallest eigenvalue exceeds ``hessian_tol`` times the largest one.

Standard errors come from the inverse of that Hessian (delta method back to the natural
parameters on the original scale); they are ``None`` when it is not positive definite.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from segmint._logging import logger
from segmint.features.clv._numerics import (
    _hessian,
    _limit_loss,
    _natural,
    _numerical_gradient,
    _start_points,
)

__all__ = ["LR_TOLERANCE", "FitResult", "Limit", "fit_mle", "json_safe"]

LogLikelihood = Callable[[np.ndarray], tuple[float, np.ndarray | None]]

#: Half the 95 % quantile of the chi-squared distribution with one degree of freedom: a limit
#: whose log-likelihood is within this of the fit is not rejected by a likelihood-ratio test.
LR_TOLERANCE = 1.920729410347062

_BOUND = "; the data cannot pin it down"
# how far (in log units) a parameter may be on the wrong side of 1 for a limit to apply
_SIDE = math.log(10.0)

# Value returned for parameters where the log-likelihood is not finite: large enough for the
# line search to back off, small enough for its interpolation to stay finite.
_INFEASIBLE = 1e10


@dataclass(frozen=True)
class Limit:
    """A direction in which a model's parameters can run off when the data cannot fix them.

    Parameters
    ----------
    direction : mapping of str to float
        Direction in log-parameter space: +1 moves a parameter towards infinity, -1 towards 0
        (e.g. ``{"q": 1, "v": 1}``: q and v grow together).
    reason : str
        What reaching the limit means, in words a user understands (without the model name,
        which :func:`fit_mle` puts in front).
    tolerance : float, optional
        Log-likelihood units the fit may lose along the direction and still count as having
        reached the limit (default: ``limit_tol`` of :func:`fit_mle`). For a limit that is a
        nested model worth testing, such as "no dropout", :data:`LR_TOLERANCE` makes the
        check a likelihood-ratio test: the limit is reached when the data cannot reject it.
    supersedes : bool or tuple of str, default False
        When this limit is reached, the reasons of the other limits (``True``) or the listed
        reasons are left out of the reason, as they follow from it (with no repeat purchases
        nothing else is identified either; without dropout its spread is moot). They are
        still listed in the diagnostics.
    """

    direction: Mapping[str, float]
    reason: str
    tolerance: float | None = None
    supersedes: bool | tuple[str, ...] = False


@dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit_mle`, on the original scale of the data.

    Attributes
    ----------
    params : dict of str to float
        Maximum-likelihood estimates (always finite: the parameters are bounded).
    log_likelihood : float
        Unpenalised log-likelihood at ``params`` on the original scale.
    converged : bool
        Whether every check of the convergence rule passed (see the module docstring).
    reason : str or None
        ``None`` iff converged; otherwise why not, in words.
    std_errors : dict of str to float or None
        Asymptotic standard errors (``None`` each when the Hessian is not positive definite).
    diagnostics : dict
        JSON-safe details: optimiser message and iterations, max |gradient|, parameters at a
        bound, limits reached, Hessian eigenvalues, the starts and their log-likelihoods.
    """

    params: dict[str, float]
    log_likelihood: float
    converged: bool
    reason: str | None
    std_errors: dict[str, float | None]
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-safe data (no NaN or infinity anywhere: ``None``).

        Returns
        -------
        dict
            ``params``, ``log_likelihood``, ``converged``, ``reason``, ``std_errors`` and
            ``diagnostics``.
        """
        return json_safe(
            {
                "params": dict(self.params),
                "log_likelihood": self.log_likelihood,
                "converged": self.converged,
                "reason": self.reason,
                "std_errors": dict(self.std_errors),
                "diagnostics": self.diagnostics,
            }
        )


def json_safe(value: Any) -> Any:
    """Recursively convert ``value`` to JSON-safe data: non-finite floats become ``None``.

    Parameters
    ----------
    value : object
        Nested dicts, lists, tuples, numpy scalars/arrays and plain values.

    Returns
    -------
    object
        The same structure with numpy types converted to Python ones, tuples to lists and
        NaN/infinity to ``None``.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def fit_mle(
    loglik: LogLikelihood,
    param_names: Sequence[str],
    starts: Sequence[Sequence[float]],
    *,
    model: str,
    n_obs: float,
    scale: Mapping[str, float] | None = None,
    log_likelihood_offset: float = 0.0,
    penalizer_coef: float = 0.0,
    max_iter: int = 1000,
    limits: Sequence[Limit] = (),
    bounds: tuple[float, float] = (1e-6, 1e6),
    n_perturbations: int = 2,
    seed: int = 0,
    gradient_tol: float = 1e-5,
    bound_tol: float = 1e-2,
    limit_step: float = 1e3,
    limit_tol: float = LR_TOLERANCE,
    hessian_tol: float = 1e-8,
) -> FitResult:
    """Maximise a log-likelihood over bounded log-parameters and check convergence.

    The optimiser is L-BFGS-B over :math:`u = \\log\\theta` with ``log(bounds)`` as box
    constraints, minimising the mean negative log-likelihood plus
    ``penalizer_coef * sum((scale * theta) ** 2)`` (the penalty acts on the parameters on the
    original scale). It runs from each of ``starts`` and from ``n_perturbations`` seeded
    perturbations of the first start (normal, sd 1 in log units), and keeps the best; the
    result is fully deterministic. The convergence rule is in the module docstring.

    Parameters
    ----------
    loglik : callable
        ``loglik(theta) -> (ll, grad)``: total (weighted) log-likelihood at the natural
        parameters ``theta`` on the fitting scale, and its gradient in ``theta`` (``None`` if
        there is no analytic gradient; a central-difference gradient is used then).
    param_names : sequence of str
        Names of the parameters, in the order of ``theta``.
    starts : sequence of sequences of float
        Starting values of the natural parameters on the fitting scale (clipped into the
        bounds). At least one.
    model : str
        Model name put in front of the reason (e.g. ``"BG/NBD"``) and used in log messages.
    n_obs : float
        Number of observations (sum of weights); the objective is a mean over them.
    scale : mapping of str to float, optional
        Factor taking each parameter from the fitting scale to the original scale (missing
        names: 1).
    log_likelihood_offset : float, default 0.0
        Added to the fitting-scale log-likelihood to give the original-scale one.
    penalizer_coef : float, default 0.0
        L2 penalty coefficient (``lifetimes`` convention).
    max_iter : int, default 1000
        Maximum number of L-BFGS-B iterations per start.
    limits : sequence of Limit, optional
        The model's limit directions, checked at the estimate (rule 3).
    bounds : (float, float), default (1e-6, 1e6)
        Bounds of every natural parameter on the fitting scale.
    n_perturbations : int, default 2
        Number of seeded perturbations of the first start added to ``starts``.
    seed : int, default 0
        Seed of the perturbations.
    gradient_tol, bound_tol, limit_step, limit_tol, hessian_tol : float
        Tolerances of the convergence rule (module docstring).

    Returns
    -------
    FitResult
        Estimates, log-likelihood, convergence verdict and reason, standard errors and
        diagnostics, on the original scale.

    Raises
    ------
    ValueError
        If no start is given, a start has the wrong length, or the log-likelihood is not
        finite at any start.
    """
    names = tuple(param_names)
    k = len(names)
    if not starts:
        raise ValueError("fit_mle needs at least one start")
    factors = np.array([float((scale or {}).get(name, 1.0)) for name in names])
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    n = float(n_obs)
    pen = float(penalizer_coef)

    def _ll(u: np.ndarray) -> tuple[float, np.ndarray | None]:
        # Values outside the likelihood's numerical range are treated as infeasible below,
        # so floating-point warnings here carry no information.
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            ll, grad = loglik(np.exp(u))
        return float(ll), None if grad is None else np.asarray(grad, dtype=np.float64)

    def value(u: np.ndarray) -> float:
        ll, _ = _ll(u)
        if not math.isfinite(ll):
            return math.inf
        return -ll / n + pen * float(np.sum((factors * np.exp(u)) ** 2))

    def objective(u: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.exp(u)
        ll, grad = _ll(u)
        if not math.isfinite(ll):
            return _INFEASIBLE, np.zeros(k)
        f = -ll / n + pen * float(np.sum((factors * theta) ** 2))
        if grad is None:
            g = _numerical_gradient(value, u)
        else:
            g = -grad * theta / n + 2.0 * pen * (factors * theta) ** 2
        if not np.all(np.isfinite(g)):
            return _INFEASIBLE, np.zeros(k)
        return f, g

    start_points = _start_points(starts, k, lo, hi, n_perturbations, seed)
    # whether the model gives a gradient, from the first start where the likelihood is finite
    analytic = False
    for u0 in start_points:
        ll0, grad0 = _ll(u0)
        if math.isfinite(ll0):
            analytic = grad0 is not None
            break

    runs: list[dict[str, Any]] = []
    best: tuple[float, int, Any] | None = None
    for i, u0 in enumerate(start_points):
        f0 = value(u0)
        if not math.isfinite(f0):
            runs.append({"start": _natural(u0, factors), "log_likelihood": None})
            continue
        res = minimize(
            objective,
            u0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(lo, hi)] * k,
            options={"maxiter": int(max_iter), "ftol": 1e-15, "gtol": 1e-10, "maxls": 50},
        )
        u = np.clip(np.asarray(res.x, dtype=np.float64), lo, hi)
        f = value(u)
        ll_u = _ll(u)[0]
        runs.append(
            {
                "start": _natural(u0, factors),
                "log_likelihood": ll_u + log_likelihood_offset if math.isfinite(ll_u) else None,
                "iterations": int(res.nit),
            }
        )
        if math.isfinite(f) and (best is None or f < best[0]):
            best = (f, i, res)
    if best is None:
        raise ValueError(f"{model}: the log-likelihood is not finite at any start")

    f_best, i_best, res = best
    u = np.clip(np.asarray(res.x, dtype=np.float64), lo, hi)
    theta = np.exp(u)
    ll = _ll(u)[0]
    _, grad = objective(u)
    # projected gradient: components pushing a parameter through its bound do not count
    # (a parameter at a bound fails rule 3 anyway)
    at_lower = u <= lo + bound_tol
    at_upper = u >= hi - bound_tol
    projected = np.where((at_lower & (grad > 0)) | (at_upper & (grad < 0)), 0.0, grad)
    max_grad = float(np.max(np.abs(projected)))

    reasons: list[str] = []
    # 3. bounds and limits
    reached: list[str] = []
    limit_checks: list[dict[str, Any]] = []
    involved: set[int] = set()
    superseded: set[str] = set()
    supersede_all = False
    for lim in limits:
        direction = np.array([float(lim.direction.get(name, 0.0)) for name in names])
        mean_loss = _limit_loss(value, u, f_best, direction, math.log(limit_step), lo, hi)
        loss = None if mean_loss is None else mean_loss * n
        tol = limit_tol if lim.tolerance is None else float(lim.tolerance)
        # the estimate must be on the limit's side: a parameter heading for infinity is not
        # far below 1 on the fitting scale (and one heading for 0 not far above 1)
        on_side = bool(np.all(direction[direction != 0] * u[direction != 0] >= -_SIDE))
        hit = on_side and loss is not None and loss <= tol
        limit_checks.append(
            {"direction": dict(lim.direction), "loss": loss, "on_side": on_side, "reached": hit}
        )
        if hit:
            reached.append(lim.reason)
            involved.update(j for j in range(k) if direction[j] != 0.0)
            if lim.supersedes is True:
                supersede_all = True
                superseded.update(other.reason for other in limits if other.reason != lim.reason)
            elif lim.supersedes:
                superseded.update(r for r in lim.supersedes if r != lim.reason)
    for j in range(k):
        if (at_lower[j] or at_upper[j]) and j not in involved:
            # a parameter at a bound: the likelihood rises towards the bound along every
            # direction there, so attribute it to the limit along which it is flattest
            sign = -1.0 if at_lower[j] else 1.0
            candidates = [
                (check["loss"], i)
                for i, (lim, check) in enumerate(zip(limits, limit_checks, strict=True))
                if check["loss"] is not None
                and check["on_side"]
                and np.sign(float(lim.direction.get(names[j], 0.0))) == sign
            ]
            if candidates:
                reached.append(limits[min(candidates)[1]].reason)
            else:
                side = "lower" if at_lower[j] else "upper"
                reached.append(
                    f"{names[j]} ran to its {side} bound ({theta[j] * factors[j]:.3g}){_BOUND}"
                )
    # a limit that supersedes all others explains the parameters at a bound too
    reached = [
        text
        for text in reached
        if text not in superseded and not (supersede_all and text.endswith(_BOUND))
    ]
    for text in reached:
        if text not in reasons:
            reasons.append(text)
    # 1. optimiser
    message = str(res.message)
    precision_loss = "ABNORMAL" in message.upper() or "LNSRCH" in message.upper()
    if not res.success and not (precision_loss and max_grad <= gradient_tol):
        if int(res.status) == 1 or res.nit >= max_iter:
            reasons.append(
                f"optimiser stopped after {int(res.nit)} iterations: {message}; raise max_iter"
            )
        else:
            reasons.append(f"optimiser stopped without converging: {message}")
    # 2. gradient
    if max_grad > gradient_tol:
        reasons.append(
            f"the gradient at the estimate is not small (max |gradient| = {max_grad:.2g})"
        )
    # 4. Hessian
    hessian = _hessian(objective, value, u, analytic)
    eigenvalues: np.ndarray | None = None
    positive_definite = False
    if hessian is not None:
        eigenvalues = np.linalg.eigvalsh(hessian)
        positive_definite = bool(
            eigenvalues[0] > hessian_tol * max(1.0, float(np.max(np.abs(eigenvalues))))
        )
    if not positive_definite and not reached:
        reasons.append("Hessian not positive definite: parameters are not identified")

    std_errors: dict[str, float | None] = dict.fromkeys(names)
    if positive_definite and hessian is not None:
        cov_u = np.linalg.inv(n * hessian)
        var = np.diag(cov_u)
        if np.all(var > 0):
            se = theta * factors * np.sqrt(var)
            std_errors = {name: float(v) for name, v in zip(names, se, strict=True)}

    converged = not reasons
    reason = None if converged else f"{model}: " + "; ".join(reasons)
    params = {name: float(v) for name, v in zip(names, theta * factors, strict=True)}
    diagnostics = json_safe(
        {
            "optimizer": "L-BFGS-B",
            "message": message,
            "iterations": int(res.nit),
            "max_abs_gradient": max_grad,
            "max_abs_gradient_unprojected": float(np.max(np.abs(grad))),
            "params_at_bound": [names[j] for j in range(k) if at_lower[j] or at_upper[j]],
            "limits_reached": reached,
            "limit_checks": limit_checks,
            "min_hessian_eigenvalue": None if eigenvalues is None else float(eigenvalues[0]),
            "hessian_eigenvalues": None if eigenvalues is None else eigenvalues,
            "bounds": {
                name: [bounds[0] * factors[j], bounds[1] * factors[j]]
                for j, name in enumerate(names)
            },
            "n_starts": len(start_points),
            "best_start": i_best,
            "starts": runs,
            "analytic_gradient": analytic,
        }
    )
    log_likelihood = ll + log_likelihood_offset
    if converged:
        logger.debug("%s: converged, log-likelihood %.4f", model, log_likelihood)
    else:
        logger.warning("%s fit did not converge: %s", model, reason)
    return FitResult(
        params=params,
        log_likelihood=float(log_likelihood),
        converged=converged,
        reason=reason,
        std_errors=std_errors,
        diagnostics=diagnostics,
    )
