"""RFM segmentation: recency, frequency and monetary scores 1–5 and the classic named segments.

The named segments are *data*: :data:`DEFAULT_SEGMENT_CONFIG` maps each segment name to a pattern
over the R and FM scores, following the R × (F+M)/2 grid popularised by Putler (see
:class:`RFMSegmenter`, Notes). Pass ``segment_config=`` to use another mapping.

Segment ids follow the order of the mapping ("Other" last), not the size order of
:mod:`segmint.segmenters._ids`: they are fixed by the configuration, hence stable across refits.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils.validation import check_is_fitted

from segmint import _json
from segmint._logging import logger
from segmint.exceptions import ConfigError, InputError, ModelError

__all__ = ["DEFAULT_SEGMENT_CONFIG", "OTHER_SEGMENT", "RFMSegmenter"]

_FORMAT_VERSION = 1
_ROLES = ("recency", "frequency", "monetary")
_SCORE_KEYS = ("r", "f", "m", "fm")
OTHER_SEGMENT = "Other"

#: Default segment mapping: Putler's R × (F+M)/2 grid, one 5 × 5 cell per (R, FM) pair, written
#: as inclusive score ranges. Every cell belongs to exactly one segment (a partition), so the
#: first-match order does not change the result; the order fixes the segment ids.
#:
#: ====  ===========  ===========  ===============  ==================  ==================
#: FM    R = 1        R = 2        R = 3            R = 4               R = 5
#: ====  ===========  ===========  ===============  ==================  ==================
#: 5     Can't Lose   At Risk      Loyal            Loyal               Champions
#: 4     At Risk      At Risk      Loyal            Loyal               Loyal
#: 3     At Risk      At Risk      Need Attention   Potential Loyalist  Potential Loyalist
#: 2     Lost         Hibernating  About to Sleep   Potential Loyalist  Potential Loyalist
#: 1     Lost         Lost         About to Sleep   Promising           New
#: ====  ===========  ===========  ===============  ==================  ==================
DEFAULT_SEGMENT_CONFIG: dict[str, list[dict[str, list[int]]]] = {
    "Champions": [{"r": [5, 5], "fm": [5, 5]}],
    "Loyal": [{"r": [3, 4], "fm": [4, 5]}, {"r": [5, 5], "fm": [4, 4]}],
    "Potential Loyalist": [{"r": [4, 5], "fm": [2, 3]}],
    "New": [{"r": [5, 5], "fm": [1, 1]}],
    "Promising": [{"r": [4, 4], "fm": [1, 1]}],
    "Need Attention": [{"r": [3, 3], "fm": [3, 3]}],
    "About to Sleep": [{"r": [3, 3], "fm": [1, 2]}],
    "At Risk": [{"r": [1, 1], "fm": [3, 4]}, {"r": [2, 2], "fm": [3, 5]}],
    "Can't Lose Them": [{"r": [1, 1], "fm": [5, 5]}],
    "Hibernating": [{"r": [2, 2], "fm": [2, 2]}],
    "Lost": [{"r": [1, 1], "fm": [1, 2]}, {"r": [2, 2], "fm": [1, 1]}],
}

Condition = dict[str, tuple[int, int]]


def _score_range(segment: str, key: str, value: Any) -> tuple[int, int]:
    if isinstance(value, Integral) and not isinstance(value, bool):
        lo = hi = int(value)
    elif (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value)
    ):
        lo, hi = int(value[0]), int(value[1])
    else:
        raise ConfigError(
            f"Segment {segment!r}: {key!r} must be a score 1-5 or a [low, high] pair,"
            f" got {value!r}.",
            hint='Write e.g. {"r": [4, 5], "fm": [3, 5]} (inclusive score ranges).',
        )
    if not 1 <= lo <= hi <= 5:
        raise ConfigError(
            f"Segment {segment!r}: {key!r} range [{lo}, {hi}] is outside 1-5 or reversed.",
            hint="Scores run from 1 to 5; write ranges as [low, high].",
        )
    return lo, hi


def _normalize_condition(segment: str, item: Any) -> Condition:
    if isinstance(item, str):
        code = item.strip()
        if len(code) != 3 or any(ch not in "12345" for ch in code):
            raise ConfigError(
                f"Segment {segment!r}: RFM code {item!r} is not three digits 1-5.",
                hint='Write codes as R, F and M scores, e.g. "555" or "154".',
            )
        r, f, m = (int(ch) for ch in code)
        return {"r": (r, r), "f": (f, f), "m": (m, m)}
    if isinstance(item, Mapping):
        cond: Condition = {}
        for key, value in item.items():
            k = str(key).lower()
            if k not in _SCORE_KEYS:
                raise ConfigError(
                    f"Segment {segment!r} uses unknown score {key!r}.",
                    hint="Use the keys 'r', 'f', 'm' and 'fm' (FM = (F + M) / 2, rounded half up).",
                )
            cond[k] = _score_range(segment, k, value)
        return cond
    raise ConfigError(
        f"Segment {segment!r} has a pattern of type {type(item).__name__}.",
        hint='Use score ranges {"r": [4, 5], "fm": [4, 5]}, RFM codes like "555", or a list.',
    )


def _normalize_config(config: Mapping[str, Any]) -> dict[str, list[Condition]]:
    """Validate ``segment_config`` and return ``{name: [condition, ...]}`` (an OR of ANDs)."""
    if not config:
        raise ConfigError(
            "segment_config is empty.",
            hint="Leave segment_config=None for the default mapping, or name some segments.",
        )
    out: dict[str, list[Condition]] = {}
    for name, pattern in config.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                f"Segment name {name!r} is not a non-empty string.",
                hint="Name every segment, e.g. 'Champions'.",
            )
        if name == OTHER_SEGMENT:
            raise ConfigError(
                f"{OTHER_SEGMENT!r} is reserved for customers no segment pattern matches.",
                hint="Rename the segment.",
            )
        items = (
            list(pattern)
            if isinstance(pattern, Sequence) and not isinstance(pattern, str)
            else [pattern]
        )
        if not items:
            raise ConfigError(
                f"Segment {name!r} has an empty pattern list.",
                hint="Give at least one score range or RFM code.",
            )
        out[name] = [_normalize_condition(name, item) for item in items]
    return out


def _config_to_json(config: Mapping[str, list[Condition]]) -> dict[str, list[dict[str, list[int]]]]:
    return {
        name: [{k: [int(lo), int(hi)] for k, (lo, hi) in cond.items()} for cond in conds]
        for name, conds in config.items()
    }


def _check_cuts(role: str, cuts: Any, *, error: type[Exception] = ConfigError) -> list[float]:
    try:
        values = [float(c) for c in cuts]
    except (TypeError, ValueError):
        values = []
    if (
        len(values) != 4
        or not all(isinstance(c, Real) and not isinstance(c, bool) for c in cuts)
        or not np.all(np.isfinite(values))
    ):
        raise error(
            f"Cut points for {role} must be 4 finite numbers, got {cuts!r}.",
            hint=f'Give 4 increasing cut points, e.g. bins={{"{role}": [30, 90, 180, 365]}}.',
        )
    return values


def _quintile_cuts(values: np.ndarray) -> list[float]:
    """Lower quintile cut points: the value of rank ceil(k n / 5), k = 1..4 (exact integers)."""
    s = np.sort(values, kind="stable")
    n = len(s)
    idx = [(k * n + 4) // 5 - 1 for k in range(1, 5)]
    return [float(s[i]) for i in idx]


def _scores(values: np.ndarray, cuts: Sequence[float], *, higher_is_better: bool) -> np.ndarray:
    """Score 1-5: one plus the number of cut points strictly below the value (reversed for R)."""
    below = np.searchsorted(np.asarray(cuts, dtype=np.float64), values, side="left")
    return (1 + below if higher_is_better else 5 - below).astype(np.int64)


class RFMSegmenter(BaseEstimator):
    """RFM scores (1–5) and the classic named RFM segments, defined as editable data.

    Each customer gets an R, F and M score from 1 to 5 (quintiles of the fitted data, or
    user-given cut points) and then the first segment of ``segment_config`` whose pattern its
    scores match; customers no pattern matches go to ``"Other"``.

    Parameters
    ----------
    segment_config : dict, default=None
        Ordered mapping ``{segment name: pattern}``; the first matching segment wins. A pattern is
        a condition or a list of conditions (any may match). A condition is either a dict of
        inclusive score ranges with keys ``"r"``, ``"f"``, ``"m"`` and ``"fm"`` (e.g.
        ``{"r": [4, 5], "fm": [4, 5]}``; a single int means one score) or a three-digit RFM code
        string such as ``"555"`` (the form of pymc-marketing's ``rfm_segments``). ``None`` uses
        :data:`DEFAULT_SEGMENT_CONFIG`. The name ``"Other"`` is reserved.
    bins : dict, default=None
        User cut points instead of quintiles, keyed by ``"recency"``, ``"frequency"``,
        ``"monetary"`` (or by the configured column names): four increasing numbers each, e.g.
        ``{"recency": [30, 90, 180, 365]}``. Dimensions left out use quintiles.
    recency_col : str, default="recency_days"
        Column with the time since the last purchase (smaller is more recent).
    frequency_col : str, default="frequency"
        Column with the number of purchases.
    monetary_col : str, default="monetary"
        Column with the amount spent.

    Attributes
    ----------
    cut_points_ : dict[str, list[float]]
        The four cut points used for ``"recency"``, ``"frequency"`` and ``"monetary"``; computed
        on the fitted data (or copied from ``bins``) and reused by :meth:`predict`.
    segment_config_ : dict[str, list[dict[str, list[int]]]]
        The validated mapping, every condition written as ``{score: [low, high]}``.
    segment_names_ : list of str
        Segment names by id: the mapping's names in order, then ``"Other"``.
    labels_ : ndarray of shape (n_samples,), dtype int64
        Segment id of each fitted customer: ``i`` for the i-th segment of the mapping
        (0-based), ``len(segment_config)`` for "Other".
    segment_sizes_ : ndarray of shape (n_segments,), dtype int64
        Number of fitted customers per segment, aligned with ``segment_names_``.
    scores_ : pandas.DataFrame
        Scores of the fitted customers, same index as ``X``: columns ``R``, ``F``, ``M`` (1–5),
        ``FM`` (``(F + M) / 2`` rounded half up) and ``RFM`` (the code, e.g. ``"545"``).

    Notes
    -----
    **Scores.** For F and M the score is one plus the number of cut points strictly below the
    value; for R it is five minus that number, so *more recent = higher R* (R = 5 for the most
    recent fifth). Bins are therefore right-closed: with ``bins={"recency": [30, 90, 180, 365]}``
    a customer seen 30 days ago gets R = 5 and one seen 31 days ago R = 4.

    **Quintiles and ties (rank-based, deterministic).** The k-th quintile cut (k = 1..4) is the
    value at rank ``ceil(k n / 5)`` of the sorted fitted values (the inverted-CDF quantile,
    computed with integer arithmetic). Equivalently, a customer whose value has "min" rank
    ``r`` (ties share the smallest rank) gets ``1 + floor(5 (r - 1) / n)``. Tied values always
    get the same score, whatever the row order, and the result does not depend on any random
    tie-breaking; with heavy ties some scores can be skipped (if 60% of customers bought once,
    they all get F = 1 and the next frequency gets F = 4).

    **Default segments.** :data:`DEFAULT_SEGMENT_CONFIG` follows the R × (F+M)/2 grid
    published by Putler [1]_ and reproduced in other tools [2]_: segments are rectangles on a
    chart with R on one axis and the mean of F and M on the other, drawn on axes running 0–5
    where the score ``s`` occupies the cell ``(s - 1, s]``. Translated to scores: Champions
    R 4–5 / FM 4–5 → R = 5, FM = 5; Loyal 2–5 / 3–5 → R 3–5, FM 4–5; Potential Loyalist
    3–5 / 1–3 → R 4–5, FM 2–3; New (Putler's "Recent Customers") 4–5 / 0–1 → R 5, FM 1;
    Promising 3–4 / 0–1 → R 4, FM 1; Need Attention 2–3 / 2–3 → R 3, FM 3; About to Sleep
    2–3 / 0–2 → R 3, FM 1–2; At Risk 0–2 / 2–5 → R 1–2, FM 3–5; Can't Lose Them 0–1 / 4–5
    → R 1, FM 5; Hibernating 1–2 / 1–2 → R 2, FM 2; Lost 0–2 / 0–2 → R 1–2, FM 1–2. Where
    rectangles overlap on the chart (Champions over Loyal, Can't Lose Them over At Risk,
    Hibernating over Lost) the smaller one is drawn on top; the mapping writes the larger ones
    without those cells, which makes it an exact partition of the 25 (R, FM) cells. FM is
    ``floor((F + M) / 2 + 1/2)``, the mean rounded half up. The ``segment_config`` format
    (name → list of patterns, catch-all ``"Other"``) mirrors pymc-marketing's
    ``rfm_segments(..., segment_config=...)`` [3]_, but here the *first* matching segment
    wins.

    References
    ----------
    .. [1] Putler, "RFM Analysis For Successful Customer Segmentation",
       https://www.putler.com/rfm-analysis/
    .. [2] Churned, "RFM-Model",
       https://docs.churned.io/churned-docs/dashboard-and-features/rfv-model-segment-best-practices/rfm-model
    .. [3] PyMC Labs, pymc-marketing, ``pymc_marketing.clv.utils.rfm_segments``,
       https://github.com/pymc-labs/pymc-marketing/blob/main/pymc_marketing/clv/utils.py

    Examples
    --------
    >>> import pandas as pd
    >>> from segmint.segmenters._rfm import RFMSegmenter
    >>> X = pd.DataFrame({
    ...     "recency_days": [3, 10, 40, 200, 400],
    ...     "frequency": [20, 2, 9, 12, 1],
    ...     "monetary": [2000.0, 40.0, 700.0, 900.0, 15.0],
    ... })
    >>> rfm = RFMSegmenter().fit(X)
    >>> rfm.scores_["RFM"].tolist()
    ['555', '422', '333', '244', '111']
    >>> rfm.predict_names(X).tolist()
    ['Champions', 'Potential Loyalist', 'Need Attention', 'At Risk', 'Lost']
    """

    _parameter_constraints: ClassVar[dict] = {
        "segment_config": [Mapping, None],
        "bins": [Mapping, None],
        "recency_col": [str],
        "frequency_col": [str],
        "monetary_col": [str],
    }

    def __init__(
        self,
        segment_config: Mapping[str, Any] | None = None,
        *,
        bins: Mapping[str, Sequence[float]] | None = None,
        recency_col: str = "recency_days",
        frequency_col: str = "frequency",
        monetary_col: str = "monetary",
    ):
        self.segment_config = segment_config
        self.bins = bins
        self.recency_col = recency_col
        self.frequency_col = frequency_col
        self.monetary_col = monetary_col

    # ------------------------------------------------------------------ helpers
    def _columns(self) -> dict[str, str]:
        return {
            "recency": self.recency_col,
            "frequency": self.frequency_col,
            "monetary": self.monetary_col,
        }

    def _user_cuts(self) -> dict[str, list[float]]:
        if not self.bins:
            return {}
        by_column = {col: role for role, col in self._columns().items()}
        out: dict[str, list[float]] = {}
        for key, cuts in self.bins.items():
            role = key if key in _ROLES else by_column.get(key)
            if role is None:
                raise ConfigError(
                    f"bins has an entry for {key!r}, which is neither a score nor an RFM column.",
                    hint=f"Key bins by {', '.join(_ROLES)} (or by the configured column names).",
                )
            if role in out:
                raise ConfigError(
                    f"bins gives cut points for {role} twice.",
                    hint=f"Keep one entry for {role}.",
                )
            values = _check_cuts(role, cuts)
            if any(b <= a for a, b in itertools.pairwise(values)):
                raise ConfigError(
                    f"Cut points for {role} must be strictly increasing, got {list(cuts)!r}.",
                    hint="Sort the cut points and remove duplicates.",
                )
            out[role] = values
        return out

    def _extract(self, X: Any, *, at: str) -> tuple[dict[str, np.ndarray], pd.Index]:
        if hasattr(X, "to_pandas") and not isinstance(X, pd.DataFrame):
            X = X.to_pandas()
        if not isinstance(X, pd.DataFrame):
            raise InputError(
                f"RFMSegmenter needs a pandas DataFrame, got {type(X).__name__}.",
                hint=f"Pass a table with the columns {', '.join(self._columns().values())}.",
            )
        values: dict[str, np.ndarray] = {}
        for role, col in self._columns().items():
            if col not in X.columns:
                raise InputError(
                    f"Column {col!r} ({role}) is missing from the data passed to {at}.",
                    hint=f"Rename the column or pass {role}_col=. "
                    f"Columns present: {', '.join(map(str, X.columns))}.",
                )
            series = X[col]
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                raise InputError(
                    f"Column {col!r} ({role}) has dtype {series.dtype}, not a number.",
                    hint="Convert it to numbers (recency as days since the last purchase).",
                )
            arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~np.isfinite(arr)
            if bad.any():
                raise InputError(
                    f"Column {col!r} ({role}) has {int(bad.sum())} missing or infinite values"
                    f" (first at row {X.index[int(np.argmax(bad))]!r}).",
                    hint="Fill them (e.g. frequency 0 for no purchase) or drop those customers.",
                )
            values[role] = arr
        return values, X.index

    def _score_frame(
        self, values: dict[str, np.ndarray], cuts: Mapping[str, Sequence[float]], index: pd.Index
    ) -> pd.DataFrame:
        r = _scores(values["recency"], cuts["recency"], higher_is_better=False)
        f = _scores(values["frequency"], cuts["frequency"], higher_is_better=True)
        m = _scores(values["monetary"], cuts["monetary"], higher_is_better=True)
        fm = (f + m + 1) // 2
        code = pd.Series(r.astype(str), index=index, dtype=object) + f.astype(str) + m.astype(str)
        return pd.DataFrame({"R": r, "F": f, "M": m, "FM": fm, "RFM": code}, index=index)

    @staticmethod
    def _assign(scores: pd.DataFrame, config: Mapping[str, list[Condition]]) -> np.ndarray:
        n = len(scores)
        by_key = {k: scores[k.upper()].to_numpy() for k in _SCORE_KEYS}
        labels = np.full(n, len(config), dtype=np.int64)
        taken = np.zeros(n, dtype=bool)
        for i, conditions in enumerate(config.values()):
            match = np.zeros(n, dtype=bool)
            for cond in conditions:
                ok = np.ones(n, dtype=bool)
                for key, (lo, hi) in cond.items():
                    ok &= (by_key[key] >= lo) & (by_key[key] <= hi)
                match |= ok
            new = match & ~taken
            labels[new] = i
            taken |= new
        return labels

    # ------------------------------------------------------------------ estimator API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: pd.DataFrame, y: None = None) -> RFMSegmenter:
        """Compute the cut points on ``X``, then score and segment its customers.

        Parameters
        ----------
        X : pandas.DataFrame (or pyarrow.Table)
            One row per customer with the recency, frequency and monetary columns.
        y : None
            Ignored; present for scikit-learn API consistency.

        Returns
        -------
        RFMSegmenter
            The fitted segmenter.
        """
        config = _normalize_config(
            DEFAULT_SEGMENT_CONFIG if self.segment_config is None else self.segment_config
        )
        user_cuts = self._user_cuts()
        values, index = self._extract(X, at="fit")
        if len(index) == 0:
            raise InputError(
                "RFMSegmenter.fit got 0 customers.",
                hint="Pass at least one customer (quintiles need a few dozen to be meaningful).",
            )
        cuts = {
            role: user_cuts[role] if role in user_cuts else _quintile_cuts(values[role])
            for role in _ROLES
        }
        scores = self._score_frame(values, cuts, index)
        labels = self._assign(scores, config)
        self.cut_points_ = cuts
        self.segment_config_ = _config_to_json(config)
        self.segment_names_ = [*config, OTHER_SEGMENT]
        self.labels_ = labels
        self.segment_sizes_ = np.bincount(labels, minlength=len(self.segment_names_)).astype(
            np.int64
        )
        self.scores_ = scores
        self._config = config
        logger.debug("RFMSegmenter cut points: %s", cuts)
        return self

    def score(self, X: pd.DataFrame) -> pd.DataFrame:
        """R, F, M, FM scores and RFM codes of ``X`` with the fitted cut points.

        Parameters
        ----------
        X : pandas.DataFrame
            Customers with the recency, frequency and monetary columns.

        Returns
        -------
        pandas.DataFrame
            Columns ``R``, ``F``, ``M``, ``FM`` and ``RFM``, same index as ``X``.
        """
        check_is_fitted(self, "cut_points_")
        values, index = self._extract(X, at="score")
        return self._score_frame(values, self.cut_points_, index)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Segment id of each customer of ``X``, scored with the fitted cut points.

        Parameters
        ----------
        X : pandas.DataFrame
            Customers with the recency, frequency and monetary columns.

        Returns
        -------
        ndarray of shape (n_samples,), dtype int64
            Indexes into ``segment_names_`` ("Other" is the last id).
        """
        return self._assign(self.score(X), self._config)

    def predict_names(self, X: pd.DataFrame) -> np.ndarray:
        """Segment name of each customer of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame
            Customers with the recency, frequency and monetary columns.

        Returns
        -------
        ndarray of shape (n_samples,), dtype object
            Segment names.
        """
        return np.asarray(self.segment_names_, dtype=object)[self.predict(X)]

    def fit_predict(self, X: pd.DataFrame, y: None = None) -> np.ndarray:
        """Fit on ``X`` and return ``labels_``.

        Parameters
        ----------
        X : pandas.DataFrame
            Customers with the recency, frequency and monetary columns.
        y : None
            Ignored.

        Returns
        -------
        ndarray of shape (n_samples,), dtype int64
            Segment ids of the customers of ``X``.
        """
        return self.fit(X).labels_

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible description of the fitted segmenter (no pickle involved).

        Returns
        -------
        dict
            Column names, cut points and the validated segment mapping. ``labels_``,
            ``segment_sizes_`` and ``scores_`` (per training customer) are not included.
        """
        check_is_fitted(self, "cut_points_")
        return {
            "estimator": "RFMSegmenter",
            "format_version": _FORMAT_VERSION,
            "params": {
                "bins": (
                    None
                    if self.bins is None
                    else {str(k): [float(c) for c in v] for k, v in self.bins.items()}
                ),
                "recency_col": self.recency_col,
                "frequency_col": self.frequency_col,
                "monetary_col": self.monetary_col,
            },
            "segment_config": self.segment_config_,
            "cut_points": {role: [float(c) for c in self.cut_points_[role]] for role in _ROLES},
            "segment_names": list(self.segment_names_),
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as strict JSON (:func:`segmint._json.dumps`: NaN and inf as null).

        Keyword arguments pass through to :func:`json.dumps`.
        """
        return _json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RFMSegmenter:
        """Rebuild a fitted segmenter from :meth:`to_dict` output.

        Predictions use the saved cut points; the hyper-parameters (including ``bins``) are
        restored too, so a refit behaves like a refit of the original estimator.

        Parameters
        ----------
        data : dict
            Output of :meth:`to_dict` (possibly after a JSON round trip).

        Returns
        -------
        RFMSegmenter
            A fitted segmenter (without ``labels_``, ``segment_sizes_`` or ``scores_``).
        """
        if not isinstance(data, Mapping) or data.get("estimator") != "RFMSegmenter":
            raise ModelError(
                "This is not a saved RFMSegmenter.",
                hint="Pass the dict produced by RFMSegmenter.to_dict().",
            )
        if data.get("format_version") != _FORMAT_VERSION:
            raise ModelError(
                f"Unsupported RFMSegmenter format version {data.get('format_version')!r}.",
                hint=f"This segmint reads version {_FORMAT_VERSION}; re-export the model.",
            )
        try:
            params = dict(data["params"])
            config = _normalize_config(data["segment_config"])
            cuts = {
                role: _check_cuts(role, data["cut_points"][role], error=ModelError)
                for role in _ROLES
            }
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelError(
                f"The saved RFMSegmenter is incomplete or malformed ({exc!r}).",
                hint="Re-export it with RFMSegmenter.to_dict().",
            ) from None
        except ConfigError as exc:
            raise ModelError(exc.message, hint=exc.hint) from None
        for role, values in cuts.items():
            if any(b < a for a, b in itertools.pairwise(values)):
                raise ModelError(
                    f"The saved cut points for {role} are not sorted.",
                    hint="Re-export the model with RFMSegmenter.to_dict().",
                )
        names = [*config, OTHER_SEGMENT]
        if list(data.get("segment_names", names)) != names:
            raise ModelError(
                "The saved segment names do not match the saved segment mapping.",
                hint="Re-export the model with RFMSegmenter.to_dict().",
            )
        est = cls(_config_to_json(config), **params)
        est._validate_params()
        try:
            est._user_cuts()
        except ConfigError as exc:
            raise ModelError(exc.message, hint=exc.hint) from None
        est.cut_points_ = cuts
        est.segment_config_ = _config_to_json(config)
        est.segment_names_ = names
        est._config = config
        return est

    @classmethod
    def from_json(cls, text: str) -> RFMSegmenter:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(
                f"The saved RFMSegmenter is not valid JSON ({exc.msg}).",
                hint="Re-export it with RFMSegmenter.to_json().",
            ) from None
        return cls.from_dict(data)
