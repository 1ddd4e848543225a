"""Preparing features for clustering, with every learned number kept for new customers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from segmint.exceptions import InputError

TRANSFORMS = ("identity", "signed_log")


def _apply(kind: str, values: np.ndarray) -> np.ndarray:
    if kind == "signed_log":
        return np.sign(values) * np.log1p(np.abs(values))
    return values


class FeaturePreparer(TransformerMixin, BaseEstimator):
    """Transform, winsorise and standardise feature columns.

    Skewed money and counts are log-transformed (``sign(x) * log1p(|x|)``, which also accepts
    net-negative revenue), then clipped to the ``clip_quantiles`` learned at fit, then scaled to
    zero mean and unit variance. Everything learned is in ``to_dict()`` so that new customers
    are prepared identically.

    Parameters
    ----------
    transforms : dict, default=None
        ``column -> "identity" | "signed_log"``; columns not named use ``"identity"``.
    clip_quantiles : tuple of float, default=(0.005, 0.995)
        Winsorising bounds, as quantiles of the transformed training values.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        Columns, in the order they are used.
    lower_, upper_ : ndarray
        Clip bounds per column (transformed scale).
    mean_, scale_ : ndarray
        Standardisation per column; ``scale_`` is 1 for constant columns.
    """

    def __init__(
        self,
        transforms: dict[str, str] | None = None,
        clip_quantiles: tuple[float, float] = (0.005, 0.995),
    ) -> None:
        self.transforms = transforms
        self.clip_quantiles = clip_quantiles

    def _kinds(self, columns: list[str]) -> list[str]:
        transforms = self.transforms or {}
        kinds = [transforms.get(c, "identity") for c in columns]
        bad = [k for k in kinds if k not in TRANSFORMS]
        if bad:
            raise ValueError(f"Unknown transform {bad[0]!r}; expected one of {TRANSFORMS}.")
        return kinds

    def fit(self, X: pd.DataFrame, y: None = None) -> FeaturePreparer:
        """Learn clip bounds and scaling from the feature table ``X``."""
        columns = list(X.columns)
        values = self._transformed(X, columns)
        lo, hi = self.clip_quantiles
        self.feature_names_in_ = np.asarray(columns, dtype=object)
        self.lower_ = np.quantile(values, lo, axis=0)
        self.upper_ = np.quantile(values, hi, axis=0)
        clipped = np.clip(values, self.lower_, self.upper_)
        self.mean_ = clipped.mean(axis=0)
        scale = clipped.std(axis=0)
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        self.n_features_in_ = len(columns)
        return self

    def _transformed(self, X: pd.DataFrame, columns: list[str]) -> np.ndarray:
        values = X[columns].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            bad = columns[int(np.flatnonzero(~np.isfinite(values).all(axis=0))[0])]
            raise InputError(
                f"Feature '{bad}' has missing or infinite values.",
                hint="Fill or drop them before segmenting.",
            )
        out = np.empty_like(values)
        for j, kind in enumerate(self._kinds(columns)):
            out[:, j] = _apply(kind, values[:, j])
        return out

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Prepare ``X`` with the learned bounds and scaling; returns a float array."""
        check_is_fitted(self)
        columns = list(self.feature_names_in_)
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise InputError(
                f"Features missing from the input: {', '.join(missing)}.",
                hint="Score customers with the same feature definitions the model was built on.",
            )
        values = self._transformed(X, columns)
        return (np.clip(values, self.lower_, self.upper_) - self.mean_) / self.scale_

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Map prepared values (e.g. segment centres) back to the original units."""
        check_is_fitted(self)
        values = np.asarray(Z, dtype=float) * self.scale_ + self.mean_
        kinds = self._kinds(list(self.feature_names_in_))
        for j, kind in enumerate(kinds):
            if kind == "signed_log":
                values[:, j] = np.sign(values[:, j]) * np.expm1(np.abs(values[:, j]))
        return values

    def to_dict(self) -> dict:
        """JSON-serialisable state."""
        check_is_fitted(self)
        return {
            "columns": list(self.feature_names_in_),
            "transforms": self._kinds(list(self.feature_names_in_)),
            "clip_quantiles": list(self.clip_quantiles),
            "lower": self.lower_.tolist(),
            "upper": self.upper_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeaturePreparer:
        """Rebuild a fitted preparer from :meth:`to_dict` output."""
        prep = cls(
            transforms=dict(zip(data["columns"], data["transforms"], strict=True)),
            clip_quantiles=tuple(data["clip_quantiles"]),
        )
        prep.feature_names_in_ = np.asarray(data["columns"], dtype=object)
        prep.lower_ = np.asarray(data["lower"], dtype=float)
        prep.upper_ = np.asarray(data["upper"], dtype=float)
        prep.mean_ = np.asarray(data["mean"], dtype=float)
        prep.scale_ = np.asarray(data["scale"], dtype=float)
        prep.n_features_in_ = len(data["columns"])
        return prep


# --------------------------------------------------------------------------------------------
# ColumnPreparer: mixed numeric / category / band columns
# --------------------------------------------------------------------------------------------

COLUMN_TRANSFORMS = ("identity", "signed_log", "rank")
KINDS = ("numeric", "category", "ordinal")
MISSING = "(missing)"
OTHER = "(other)"
_RANK_GRID = 101


def _as_float(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan, copy=True)


def _as_text(series: pd.Series) -> np.ndarray:
    values = series.astype(object)
    return values.where(values.notna(), MISSING).astype(str).to_numpy(dtype=object)


class ColumnPreparer(TransformerMixin, BaseEstimator):
    """Prepare a mixed feature table for clustering, with everything learned kept for new rows.

    Per column kind:

    * ``numeric`` -- missing values imputed with the training median; transformed
      (``identity``, ``signed_log`` = ``sign(x) * log1p(|x|)`` for skewed money and counts, or
      ``rank`` = the training empirical CDF at 101 quantiles, linearly interpolated, in [0, 1]);
      winsorised at ``clip_quantiles`` of the training values; standardised.
    * ``ordinal`` (bands) -- encoded as the position of the level in its declared order
      (0, 1, ...; missing or unknown levels take the median position), then standardised.
    * ``category`` -- one-hot encoded, one 0/1 column ``name=level`` per level seen at fit
      (missing values are a level ``(missing)``; levels rarer than ``min_level_share`` are merged
      into ``(other)``; unseen levels at transform give all zeros). The 0/1 columns are not
      rescaled unless ``scale_onehot``.

    Then **correlation pruning**: over the prepared training columns in order, a column whose
    absolute Pearson correlation with an earlier kept column exceeds ``correlation_threshold``
    is dropped (deterministic: the earlier column is kept), as is a constant column. What was
    dropped, why, and the correlation are in ``dropped_``.

    Parameters
    ----------
    columns : dict
        ``name -> {"kind": ..., "transform": ..., "levels": [...]}``; ``levels`` is the order of
        an ordinal column (learned, sorted, when omitted). Columns of ``X`` not named are
        numeric with ``identity``.
    clip_quantiles : tuple of float, default=(0.005, 0.995)
    correlation_threshold : float or None, default=0.95
        ``None`` disables pruning.
    min_level_share : float, default=0.0
    scale_onehot : bool, default=False

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        Input columns, in order.
    feature_names_out_ : list of str
        Output columns kept after pruning.
    dropped_ : list of dict
        ``{"column", "reason": "correlated" | "constant", "kept", "r"}`` per dropped column.
    """

    def __init__(
        self,
        columns: dict[str, dict] | None = None,
        clip_quantiles: tuple[float, float] = (0.005, 0.995),
        correlation_threshold: float | None = 0.95,
        min_level_share: float = 0.0,
        scale_onehot: bool = False,
    ) -> None:
        self.columns = columns
        self.clip_quantiles = clip_quantiles
        self.correlation_threshold = correlation_threshold
        self.min_level_share = min_level_share
        self.scale_onehot = scale_onehot

    @classmethod
    def from_spec(cls, spec, **params) -> ColumnPreparer:
        """A preparer for the features of a :class:`~segmint.features.FeatureSpec`."""
        columns = {
            f.name: {"kind": f.kind, "transform": f.transform, "levels": list(f.levels)}
            for f in spec.features
        }
        return cls(columns, **params)

    # -- fitting ---------------------------------------------------------------------------
    def _column_spec(self, name: str) -> dict:
        spec = dict((self.columns or {}).get(name, {}))
        kind = spec.get("kind", "numeric")
        if kind not in KINDS:
            raise ValueError(f"Unknown kind {kind!r} for {name!r}; expected one of {KINDS}.")
        transform = spec.get("transform", "identity") if kind == "numeric" else "identity"
        if transform not in COLUMN_TRANSFORMS:
            raise ValueError(
                f"Unknown transform {transform!r} for {name!r}; expected {COLUMN_TRANSFORMS}."
            )
        return {"kind": kind, "transform": transform, "levels": list(spec.get("levels") or [])}

    def fit(self, X: pd.DataFrame, y: None = None) -> ColumnPreparer:
        """Learn imputation, transforms, levels, bounds, scaling and pruning from ``X``."""
        names = [c for c in X.columns if c != "customer_id"]
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.steps_: list[dict] = []
        for name in names:
            spec = self._column_spec(name)
            step: dict = {"column": name, **spec}
            if spec["kind"] == "category":
                text = _as_text(X[name])
                levels, counts = np.unique(text, return_counts=True)
                share = counts / max(len(text), 1)
                common = [
                    str(lv)
                    for lv, s in zip(levels, share, strict=True)
                    if s >= self.min_level_share
                ]
                if len(common) < len(levels):
                    common.append(OTHER)
                step["levels"] = common
            else:
                values = self._numeric(step, X[name], fitting=True)
                step["impute"] = float(np.nanmedian(values)) if np.isfinite(values).any() else 0.0
                values = np.where(np.isnan(values), step["impute"], values)
                if step["transform"] == "rank":
                    step["rank_grid"] = np.quantile(values, np.linspace(0, 1, _RANK_GRID)).tolist()
                values = self._transform_numeric(step, values)
                lo, hi = self.clip_quantiles
                step["lower"] = float(np.quantile(values, lo))
                step["upper"] = float(np.quantile(values, hi))
                clipped = np.clip(values, step["lower"], step["upper"])
                scale = float(clipped.std())
                step["mean"] = float(clipped.mean())
                step["scale"] = scale if scale > 1e-12 else 1.0
            self.steps_.append(step)
        full, full_names = self._full(X)
        self.dropped_ = self._prune(full, full_names)
        dropped = {d["column"] for d in self.dropped_}
        self.all_names_ = full_names
        self.feature_names_out_ = [n for n in full_names if n not in dropped]
        return self

    def _numeric(self, step: dict, series: pd.Series, fitting: bool = False) -> np.ndarray:
        if step["kind"] == "numeric":
            values = _as_float(series)
            values[~np.isfinite(values)] = np.nan
            return values
        levels = step["levels"]
        if fitting and not levels:
            levels = step["levels"] = sorted(series.dropna().astype(str).unique().tolist())
        values = series.astype(object)
        text = values.where(values.notna(), MISSING).astype(str)
        codes = pd.Index(levels, dtype=object).get_indexer(text).astype(float)
        codes[codes < 0] = np.nan  # missing, or a level not in the declared order
        return codes

    @staticmethod
    def _transform_numeric(step: dict, values: np.ndarray) -> np.ndarray:
        if step["transform"] == "signed_log":
            return np.sign(values) * np.log1p(np.abs(values))
        if step["transform"] == "rank":
            grid = np.asarray(step["rank_grid"])
            return np.interp(values, grid, np.linspace(0.0, 1.0, grid.size))
        return values

    def _full(self, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        blocks, names = [], []
        for step in self.steps_:
            name = step["column"]
            if name not in X.columns:
                raise InputError(
                    f"Feature missing from the input: {name}.",
                    hint="Score customers with the same feature definitions the model was "
                    "built on.",
                )
            if step["kind"] == "category":
                text = _as_text(X[name])
                levels = step["levels"]
                if OTHER in levels:
                    text = np.where(np.isin(text, levels), text, OTHER)
                onehot = (text[:, None] == np.asarray(levels, dtype=object)[None, :]).astype(float)
                blocks.append(onehot)
                names += [f"{name}={lv}" for lv in levels]
                continue
            values = self._numeric(step, X[name])
            values = np.where(np.isnan(values), step["impute"], values)
            values = self._transform_numeric(step, values)
            values = (np.clip(values, step["lower"], step["upper"]) - step["mean"]) / step["scale"]
            blocks.append(values[:, None])
            names.append(name)
        if not blocks:
            return np.empty((len(X), 0)), names
        full = np.hstack(blocks)
        if self.scale_onehot:
            full = self._scale_onehot(full, names)
        return full, names

    def _scale_onehot(self, full: np.ndarray, names: list[str]) -> np.ndarray:
        if not hasattr(self, "onehot_scale_"):
            self.onehot_scale_ = {}
            for j, n in enumerate(names):
                if "=" in n and n.split("=", 1)[0] in self._categories():
                    mean, sd = float(full[:, j].mean()), float(full[:, j].std())
                    self.onehot_scale_[n] = [mean, sd if sd > 1e-12 else 1.0]
        out = full.copy()
        for j, n in enumerate(names):
            if n in self.onehot_scale_:
                mean, sd = self.onehot_scale_[n]
                out[:, j] = (out[:, j] - mean) / sd
        return out

    def _categories(self) -> set[str]:
        return {s["column"] for s in self.steps_ if s["kind"] == "category"}

    def _prune(self, full: np.ndarray, names: list[str]) -> list[dict]:
        dropped: list[dict] = []
        if full.shape[1] == 0:
            return dropped
        sd = full.std(axis=0)
        constant = sd <= 1e-12
        for j in np.flatnonzero(constant):
            dropped.append({"column": names[j], "reason": "constant", "kept": None, "r": None})
        if self.correlation_threshold is None:
            return dropped
        live = np.flatnonzero(~constant)
        if live.size < 2:
            return dropped
        corr = np.corrcoef(full[:, live], rowvar=False)
        kept: list[int] = []
        for a in range(live.size):
            hit = next((b for b in kept if abs(corr[a, b]) > self.correlation_threshold), None)
            if hit is None:
                kept.append(a)
            else:
                dropped.append(
                    {
                        "column": names[live[a]],
                        "reason": "correlated",
                        "kept": names[live[hit]],
                        "r": float(corr[a, hit]),
                    }
                )
        order = {n: i for i, n in enumerate(names)}
        return sorted(dropped, key=lambda d: order[d["column"]])

    # -- applying --------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Prepare ``X`` exactly as the training data; returns the kept columns as floats."""
        check_is_fitted(self, "steps_")
        full, names = self._full(X)
        index = {n: j for j, n in enumerate(names)}
        return full[:, [index[n] for n in self.feature_names_out_]]

    def get_feature_names_out(self, input_features: None = None) -> np.ndarray:
        check_is_fitted(self, "steps_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def to_dict(self) -> dict:
        """JSON-serialisable state: every imputation value, level, bound, scale and drop."""
        check_is_fitted(self, "steps_")
        return {
            "format": "segmint-column-preparer",
            "clip_quantiles": list(self.clip_quantiles),
            "correlation_threshold": self.correlation_threshold,
            "min_level_share": self.min_level_share,
            "scale_onehot": self.scale_onehot,
            "steps": self.steps_,
            "onehot_scale": getattr(self, "onehot_scale_", {}),
            "all_columns": list(self.all_names_),
            "columns_out": list(self.feature_names_out_),
            "dropped": self.dropped_,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ColumnPreparer:
        """Rebuild a fitted preparer from :meth:`to_dict` output."""
        steps = [dict(s) for s in data["steps"]]
        prep = cls(
            columns={
                s["column"]: {"kind": s["kind"], "transform": s["transform"], "levels": s["levels"]}
                for s in steps
            },
            clip_quantiles=tuple(data["clip_quantiles"]),
            correlation_threshold=data["correlation_threshold"],
            min_level_share=data["min_level_share"],
            scale_onehot=data["scale_onehot"],
        )
        prep.steps_ = steps
        prep.feature_names_in_ = np.asarray([s["column"] for s in steps], dtype=object)
        prep.n_features_in_ = len(steps)
        if data["scale_onehot"]:
            prep.onehot_scale_ = {k: list(v) for k, v in data["onehot_scale"].items()}
        prep.all_names_ = list(data["all_columns"])
        prep.feature_names_out_ = list(data["columns_out"])
        prep.dropped_ = [dict(d) for d in data["dropped"]]
        return prep


def drop_uninformative(
    features: pd.DataFrame, names: list[str], *, max_mode_share: float = 0.99
) -> tuple[list[str], dict[str, str]]:
    """Leave out constant and near-constant numeric features before fitting.

    A feature on which (nearly) every customer has the same value cannot separate segments; it
    only adds a standardised column of noise around one value (and, once winsorised at the
    0.5th/99.5th percentiles, a column that may be constant). A feature is dropped when its
    most common value is held by at least ``max_mode_share`` of the customers; at least one
    feature is always kept.

    Parameters
    ----------
    features : pandas.DataFrame
        The feature table.
    names : list of str
        The numeric features meant for the segmenter.
    max_mode_share : float, default=0.99
        Share of customers at the most common value from which a feature is dropped.

    Returns
    -------
    (list of str, dict)
        The features kept, in order, and ``name -> note`` for every feature dropped, e.g.
        ``"return_rate: constant (0 for every customer)"``.

    Examples
    --------
    >>> frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 0.0, 0.0]})
    >>> drop_uninformative(frame, ["a", "b"])
    (['a'], {'b': 'b: constant (0 for every customer)'})
    """
    dropped: dict[str, str] = {}
    n = len(features)
    if n == 0:
        return list(names), dropped
    for name in names:
        counts = features[name].value_counts(dropna=False)
        mode, share = counts.index[0], counts.iloc[0] / n
        if len(counts) == 1:
            dropped[name] = f"{name}: constant ({mode:g} for every customer)"
        elif share >= max_mode_share:
            dropped[name] = f"{name}: near-constant ({share:.1%} of customers at {mode:g})"
    kept = [c for c in names if c not in dropped]
    if not kept:
        return list(names), {}
    return kept, dropped
