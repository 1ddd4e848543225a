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
