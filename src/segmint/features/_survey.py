"""Psychographic and needs-based features: Likert batteries reduced to factor scores.

Choice of method: **maximum-likelihood factor analysis with varimax rotation**
(:class:`sklearn.decomposition.FactorAnalysis`, rotated to convergence by :func:`varimax`), not
PCA. Survey items measure a few latent
attitudes or needs plus item-specific noise (wording, acquiescence); factor analysis models that
noise as a separate unique variance per item, so the factors carry only what the items share,
whereas PCA folds the noise into its components. Varimax makes each item load on as few factors
as possible, so a factor can be named after its items (the loadings are kept for the report).

* Items are standardised with the survey-weighted mean and standard deviation of the answers
  given; a missing answer is imputed with the item's (weighted) mean, i.e. 0 on the standard
  scale. Item-mean imputation keeps scoring a fixed linear formula, so a new respondent is scored
  with the same numbers (pairwise deletion would not give a formula for new respondents).
* Survey weights: the factor model depends on the data only through their covariance, so the
  model is fitted to the weighted covariance exactly, by fitting on the rows ``±sqrt(w_i) z_i``
  (weights normalised to mean 1): their mean is 0 and their covariance is the weighted one.
* Number of factors: as configured, or the number of eigenvalues of the weighted item
  correlation matrix above 1 (Kaiser), capped by the Ledermann bound for identifiability.
* Factors are ordered by the variance they explain and signed so that the item with the largest
  absolute loading loads positively. Scores are the posterior means (Thomson / regression
  scores), a linear function of the standardised items: ``score = z @ B`` with
  ``B = Psi^-1 L (I + L' Psi^-1 L)^-1``; the catalogue writes that formula as SQL.

The fitted model (items, means, scales, loadings, uniquenesses, score weights) is stored as JSON
in the feature spec, so new respondents are scored identically, in DuckDB or in Spark.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.decomposition import FactorAnalysis

from segmint.exceptions import InputError, ModelError
from segmint.features._catalogue import (
    Block,
    Feature,
    PlanContext,
    find_column,
    ident,
    is_numeric,
    number,
    substitute,
)

FORMAT = "segmint-factor-model"
_ID_COLUMNS = ("customer_id", "respondent_id", "_row")
_WEIGHT = ("weight", "survey_weight", "design_weight", "wt")
_DATE = ("survey_date", "answered_at", "response_date", "completed_at", "date", "answered_on")
_SOURCES = {"needs": "survey", "psychographic": "psychographic"}


def ledermann_bound(n_items: int) -> int:
    """Largest number of factors a factor model with ``n_items`` items can identify."""
    return max(1, math.floor((2 * n_items + 1 - math.sqrt(8 * n_items + 1)) / 2))


def varimax(loadings: np.ndarray, *, tol: float = 1e-10, max_iter: int = 1000) -> np.ndarray:
    """The orthogonal rotation that maximises the varimax criterion (Kaiser 1958).

    Rows are Kaiser-normalised (divided by the square root of their communality) while the
    rotation is found. Returns the rotation matrix ``R`` (``k x k``); the rotated loadings are
    ``loadings @ R``.
    """
    p, k = loadings.shape
    if k < 2:
        return np.eye(k)
    norm = np.sqrt((loadings**2).sum(axis=1))
    norm[norm == 0] = 1.0
    a = loadings / norm[:, None]
    rotation = np.eye(k)
    criterion = 0.0
    for _ in range(max_iter):
        b = a @ rotation
        target = b**3 - b * ((b**2).sum(axis=0) / p)
        u, singular, vt = np.linalg.svd(a.T @ target)
        rotation = u @ vt
        previous, criterion = criterion, singular.sum()
        if previous and criterion <= previous * (1.0 + tol):
            break
    return rotation


class FactorModel:
    """Weighted maximum-likelihood factor analysis with varimax rotation, for Likert items.

    Parameters
    ----------
    n_factors : int, optional
        Number of factors; by default Kaiser's rule on the weighted correlation matrix.
    prefix : str, default "factor"
        Factor names are ``{prefix}_1``, ``{prefix}_2``, ...

    Attributes
    ----------
    items_ : list of str
        Item columns, in order.
    mean_, scale_ : ndarray
        Weighted mean and standard deviation of each item (answers given).
    loadings_ : ndarray of shape (n_items, n_factors)
        Rotated loadings on the standardised items.
    uniquenesses_ : ndarray
        Unique (noise) variance of each standardised item.
    score_weights_ : ndarray of shape (n_items, n_factors)
        ``B`` in ``scores = z @ B``.
    eigenvalues_ : ndarray
        Eigenvalues of the weighted item correlation matrix.
    n_respondents_ : int
        Respondents with at least one answer used in the fit.
    missing_share_ : float
        Share of item answers missing (imputed by the item mean).
    """

    def __init__(self, n_factors: int | None = None, prefix: str = "factor") -> None:
        self.n_factors = n_factors
        self.prefix = prefix

    @property
    def factor_names(self) -> list[str]:
        return [f"{self.prefix}_{i + 1}" for i in range(self.loadings_.shape[1])]

    def _standardise(self, X: pd.DataFrame) -> np.ndarray:
        values = X[self.items_].to_numpy(dtype=float, na_value=np.nan)
        z = (values - self.mean_) / self.scale_
        return np.where(np.isnan(z), 0.0, z)

    def fit(self, X: pd.DataFrame, weights: np.ndarray | pd.Series | None = None) -> FactorModel:
        """Fit on the item columns of ``X`` (missing answers allowed) with optional weights."""
        self.items_ = [str(c) for c in X.columns]
        values = X.to_numpy(dtype=float, na_value=np.nan)
        w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=float)
        answered = ~np.isnan(values).all(axis=1)
        valid = answered & np.isfinite(w) & (w > 0)
        values, w = values[valid], w[valid]
        n, p = values.shape
        if p < 3:
            raise InputError(
                f"A factor model needs at least 3 survey items, got {p}.",
                hint="Add items to the battery or choose other bases.",
            )
        if n < max(10, 2 * p):
            raise InputError(
                f"Only {n} survey respondents for {p} items: too few for a factor model.",
                hint="Survey more customers, or leave out this basis.",
            )
        w = w * n / w.sum()
        mask = ~np.isnan(values)
        wm = np.where(mask, w[:, None], 0.0)
        filled = np.where(mask, values, 0.0)
        self.mean_ = (wm * filled).sum(axis=0) / wm.sum(axis=0)
        var = (wm * (filled - self.mean_) ** 2).sum(axis=0) / wm.sum(axis=0)
        if np.any(var <= 1e-12):
            flat = [self.items_[j] for j in np.flatnonzero(var <= 1e-12)]
            raise InputError(
                f"Survey item(s) without variation: {', '.join(flat)}.",
                hint="Leave them out of the battery (features.survey_items in segmint.yaml).",
            )
        self.scale_ = np.sqrt(var)
        z = np.where(mask, (filled - self.mean_) / self.scale_, 0.0)
        y = np.sqrt(w)[:, None] * z
        corr = (y.T @ y) / n
        d = np.sqrt(np.diag(corr))
        self.eigenvalues_ = np.sort(np.linalg.eigvalsh(corr / np.outer(d, d)))[::-1]
        cap = ledermann_bound(p)
        k = self.n_factors or int(max(1, (self.eigenvalues_ > 1.0).sum()))
        if not 1 <= k <= cap:
            raise InputError(
                f"{k} factors cannot be identified from {p} items (at most {cap}).",
                hint="Choose fewer factors (features.n_factors in segmint.yaml).",
            )
        fa = FactorAnalysis(
            n_components=k, svd_method="lapack", max_iter=2000, tol=1e-8, random_state=0
        ).fit(np.vstack([y, -y]))
        # rotated here rather than by FactorAnalysis(rotation="varimax"), whose fixed
        # tolerance stops the rotation before it converges (cross-loadings ~0.15 left)
        components = (fa.components_.T @ varimax(fa.components_.T)).T  # (k, p)
        psi = fa.noise_variance_
        wpsi = components / psi
        weights_b = wpsi.T @ np.linalg.inv(np.eye(k) + wpsi @ components.T)
        loadings = components.T
        order = np.argsort(-(loadings**2).sum(axis=0), kind="stable")
        loadings, weights_b = loadings[:, order], weights_b[:, order]
        top = np.abs(loadings).argmax(axis=0)
        sign = np.sign(loadings[top, np.arange(k)])
        sign[sign == 0] = 1.0
        self.loadings_ = loadings * sign
        self.score_weights_ = weights_b * sign
        self.uniquenesses_ = psi
        self.n_respondents_ = int(n)
        self.missing_share_ = float(1.0 - mask.mean())
        self.log_likelihood_ = float(fa.loglike_[-1]) if len(fa.loglike_) else float("nan")
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Factor scores of the respondents in ``X`` (rows without any answer give NaN)."""
        self._check()
        values = X[self.items_].to_numpy(dtype=float, na_value=np.nan)
        scores = self._standardise(X) @ self.score_weights_
        scores[np.isnan(values).all(axis=1)] = np.nan
        return scores

    @property
    def loadings(self) -> pd.DataFrame:
        """Loadings as a table: items x factors (for the report)."""
        self._check()
        return pd.DataFrame(self.loadings_, index=self.items_, columns=self.factor_names)

    @property
    def explained_variance_share(self) -> np.ndarray:
        """Share of the items' total (standardised) variance each factor explains."""
        return (self.loadings_**2).sum(axis=0) / len(self.items_)

    def describe(self, j: int, threshold: float = 0.4) -> str:
        """A short description of factor ``j`` by its strongest items."""
        col = self.loadings_[:, j]
        order = np.argsort(-np.abs(col), kind="stable")
        strong = [i for i in order if abs(col[i]) >= threshold][:4] or [int(order[0])]
        parts = [f"{'+' if col[i] > 0 else '-'}{self.items_[i]} ({col[i]:.2f})" for i in strong]
        return ", ".join(parts)

    def score_sql(self, j: int) -> str:
        """SQL expression of factor ``j``'s score over the item columns."""
        self._check()
        cols = [f"CAST({ident(item)} AS DOUBLE)" for item in self.items_]
        terms = [
            f"coalesce(({c} - {number(m)}) / {number(s)}, 0.0e0) * {number(b)}"
            for c, m, s, b in zip(
                cols, self.mean_, self.scale_, self.score_weights_[:, j], strict=True
            )
        ]
        return (
            f"CASE WHEN coalesce({', '.join(cols)}) IS NULL THEN NULL ELSE {' + '.join(terms)} END"
        )

    def _check(self) -> None:
        if not hasattr(self, "loadings_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this FactorModel is not fitted yet")

    def to_dict(self) -> dict:
        """JSON-serialisable state (floats exact through a JSON round trip)."""
        self._check()
        return {
            "format": FORMAT,
            "method": "ml-factor-analysis",
            "rotation": "varimax" if self.loadings_.shape[1] > 1 else None,
            "prefix": self.prefix,
            "n_factors": int(self.loadings_.shape[1]),
            "items": list(self.items_),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "loadings": self.loadings_.tolist(),
            "uniquenesses": self.uniquenesses_.tolist(),
            "score_weights": self.score_weights_.tolist(),
            "eigenvalues": self.eigenvalues_.tolist(),
            "explained_variance_share": self.explained_variance_share.tolist(),
            "n_respondents": self.n_respondents_,
            "missing_share": self.missing_share_,
            "log_likelihood": self.log_likelihood_,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FactorModel:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelError(
                "not a segmint factor model", hint="pass the dict written by FactorModel.to_dict"
            )
        model = cls(int(data["n_factors"]), data["prefix"])
        model.items_ = list(data["items"])
        model.mean_ = np.asarray(data["mean"], dtype=float)
        model.scale_ = np.asarray(data["scale"], dtype=float)
        model.loadings_ = np.asarray(data["loadings"], dtype=float).reshape(len(model.items_), -1)
        model.uniquenesses_ = np.asarray(data["uniquenesses"], dtype=float)
        model.score_weights_ = np.asarray(data["score_weights"], dtype=float).reshape(
            len(model.items_), -1
        )
        model.eigenvalues_ = np.asarray(data["eigenvalues"], dtype=float)
        model.n_respondents_ = int(data["n_respondents"])
        model.missing_share_ = float(data["missing_share"])
        model.log_likelihood_ = float(data["log_likelihood"])
        return model


def _survey_relation(ctx: PlanContext, basis: str, cols: dict[str, str], items: list[str]) -> str:
    when = find_column(cols, *_DATE)
    weight = find_column(cols, *_WEIGHT)
    keep = ", ".join(ident(c) for c in ["customer_id", *items] + ([weight] if weight else []))
    if when is not None:
        return (
            f"SELECT {keep} FROM (SELECT *, row_number() OVER (PARTITION BY customer_id "
            f"ORDER BY {ident(when)} DESC) AS sv_rank FROM ${_SOURCES[basis]} "
            f"WHERE {ident(when)} < $snapshot) AS sv_dated WHERE sv_rank = 1"
        )
    avgs = ", ".join(
        f"avg(CAST({ident(c)} AS DOUBLE)) AS {ident(c)}"
        for c in items + ([weight] if weight else [])
    )
    return f"SELECT customer_id, {avgs} FROM ${_SOURCES[basis]} GROUP BY customer_id"


def survey_items(cols: dict[str, str], configured: list[str] | None) -> list[str]:
    """Item columns: as configured, or every numeric column but the id, weight and date."""
    if configured:
        missing = [c for c in configured if c not in cols]
        if missing:
            raise InputError(
                f"Survey item(s) not in the survey table: {', '.join(missing)}.",
                hint=f"Columns: {', '.join(cols)}.",
            )
        return list(configured)
    skip = {find_column(cols, *_WEIGHT), find_column(cols, *_DATE), *_ID_COLUMNS}
    return [c for c, kind in cols.items() if c not in skip and is_numeric(kind)]


def plan(ctx: PlanContext, basis: str) -> tuple[list[Feature], list[Block]]:
    """Fit the factor model of ``basis`` (``needs`` or ``psychographic``) and declare its scores."""
    role = _SOURCES[basis]
    cols = ctx.cols(role)
    if "customer_id" not in cols:
        raise InputError(
            f"The {role} table has no customer_id column.", hint="Name the id column customer_id."
        )
    items = survey_items(cols, ctx.options.survey_items.get(basis))
    relation = f"sv_{basis}"
    sql = _survey_relation(ctx, basis, cols, items)
    data = ctx.con.sql(substitute(sql, ctx.snapshot, ctx.tables)).df()
    weight = find_column(cols, *_WEIGHT)
    model = FactorModel(ctx.options.n_factors.get(basis), prefix=f"{basis}_factor")
    model.fit(data[items], None if weight is None else data[weight].to_numpy(dtype=float))
    state = model.to_dict()
    state["weight_column"] = weight
    ctx.models[basis] = state
    label = "Needs" if basis == "needs" else "Psychographic"
    features = [
        Feature(
            name,
            basis,
            f"{label} factor {j + 1}: {model.describe(j)}",
            "identity",
            role,
            model.score_sql(j),
        )
        for j, name in enumerate(model.factor_names)
    ]
    block = Block(
        f"{relation}_features",
        role,
        ((relation, sql),),
        relation,
        False,
        tuple(f.name for f in features),
    )
    return features, [block]


def factor_loadings(spec_models: dict, basis: str) -> pd.DataFrame:
    """Loadings (items x factors) of the factor model of ``basis`` stored in a feature spec."""
    if basis not in spec_models:
        raise KeyError(f"no factor model for basis {basis!r}")
    return FactorModel.from_dict(spec_models[basis]).loadings
