"""Latent class analysis segmenter for categorical and ordinal survey answers."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar, Self

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from segmint._logging import logger
from segmint.segmenters._base import (
    COMMON_CONSTRAINTS,
    SegmenterMixin,
    min_share,
    permute_by_size,
    relative_weights,
    seeds,
)
from segmint.segmenters._categorical import _as_frame, _encode, _fit_categories

__all__ = ["LatentClassSegmenter"]

_FLOOR = 1e-10  # smallest item-response probability, keeps log() finite at boundary solutions
_MANY_LEVELS = 50


def _indicator(codes: np.ndarray, offsets: np.ndarray, width: int) -> sparse.csr_array:
    """Sparse one-hot matrix (n_samples, sum of levels); a missing answer is an empty block."""
    n, n_items = codes.shape
    rows = np.repeat(np.arange(n), n_items).reshape(n, n_items)
    cols = codes + offsets[None, :]
    ok = codes >= 0
    data = np.ones(int(ok.sum()))
    return sparse.csr_array((data, (rows[ok], cols[ok])), shape=(n, width))


def _log_joint(
    onehot: sparse.csr_array, log_theta: np.ndarray, log_weights: np.ndarray
) -> np.ndarray:
    """``log pi_c + sum_j log P(x_ij | c)`` over the observed answers, shape (n, k)."""
    return onehot @ log_theta.T + log_weights[None, :]


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1)
    return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def _m_step(
    onehot_t: sparse.csr_array,
    resp: np.ndarray,
    weight: np.ndarray,
    offsets: np.ndarray,
    n_levels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted M-step: class sizes and item-response probabilities from observed answers.

    ``onehot_t`` is the transposed indicator matrix; the denominator of an item is the
    weighted responsibility of the respondents who answered it.
    """
    wr = resp * weight[:, None]
    class_weights = wr.sum(axis=0) / weight.sum()
    counts = (onehot_t @ wr).T + _FLOOR  # (k, sum of levels)
    if counts.shape[1]:
        totals = np.add.reduceat(counts, offsets, axis=1)
        counts /= np.repeat(totals, n_levels, axis=1)
    return np.maximum(class_weights, _FLOOR), counts


def _n_parameters(k: int, n_levels: list[int]) -> int:
    return int((k - 1) + k * sum(max(lv - 1, 0) for lv in n_levels))


class LatentClassSegmenter(SegmenterMixin, ClusterMixin, BaseEstimator):
    """Segment survey respondents by latent class analysis (LCA), classes chosen by BIC.

    Each respondent belongs to one of ``k`` latent classes; given the class, the answers to
    the items (columns) are independent categorical variables with class-specific
    item-response probabilities (Lazarsfeld & Henry, 1968; Goodman, 1974). The model is
    fitted by expectation-maximisation from ``n_init`` random starts per candidate ``k``,
    and the ``k`` with the lowest BIC is kept unless ``n_segments`` forces it. Segments
    (classes) are numbered by descending estimated size, see :mod:`segmint.segmenters._ids`.

    Parameters
    ----------
    n_segments : int or None, default=None
        Number of latent classes. ``None`` chooses it by BIC over ``k_range``.
    k_range : tuple of (int, int), default=(2, 8)
        Inclusive bounds of the numbers of classes tried when ``n_segments`` is None.
        ``(1, ...)`` lets BIC answer "no class structure".
    n_init : int, default=10
        Random starts per candidate k (item-response probabilities drawn from a flat
        Dirichlet); the start with the highest log-likelihood is kept. LCA likelihoods
        have many local maxima, so do not go below a handful.
    max_iter : int, default=1000
        Maximum number of EM iterations per start.
    tol : float, default=1e-6
        EM stops when the mean (weighted) log-likelihood per respondent improves by less.
    random_state : int, RandomState instance or None, default=None
        Seeds the random starts. An int makes results reproducible.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Modal (most probable) class of each training respondent, by stable id.
    n_segments_ : int
        Number of classes of the fitted model.
    evidence_ : pandas.DataFrame
        One row per candidate k: ``k``, ``log_likelihood``, ``bic``, ``aic``, ``entropy``
        (relative entropy R² of the classification, 1 = perfectly separated classes, NaN for
        k=1) and ``min_segment_share`` (weighted share of the smallest modal class). Only set
        when the number of classes was chosen.
    weights_ : ndarray of shape (n_segments_,)
        Estimated class sizes (weighted by ``sample_weight``), by stable id.
    item_probabilities_ : list of ndarray
        One array per item (column) of shape (n_segments_, n_levels): row ``c`` is
        ``P(answer | class c)`` over the levels listed in ``categories_`` for that item.
    categories_ : list of list
        Answer levels of each item seen in training, sorted.
    log_likelihood_ : float
        Weighted log-likelihood of the training data under the fitted model.
    converged_ : bool
        Whether the best EM start of the kept model converged.
    n_iter_ : int
        EM iterations of that start.
    n_features_in_ : int
        Number of items seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Item names seen during fit, when ``X`` had string column names.

    Notes
    -----
    *Own EM.* The estimator needs three things at once: answers missing at random, survey
    weights, and JSON-serialisable parameters. Writing the EM of the latent class model
    directly (a few vectorised lines: the E-step is one sparse matrix product) gives all
    three without a heavy dependency such as a structural-equation or Bayesian modelling
    package.

    *Missing answers* are handled by full-information maximum likelihood: the likelihood of
    a respondent is the product over the items they answered only, so a missing item simply
    drops out of that respondent's likelihood (and posterior), and the item-response
    probabilities are estimated from the respondents who answered the item. Under missing at
    random this is the maximum-likelihood estimate of the observed data (Little & Rubin,
    2019) and no imputation is needed. A value unseen in training is treated the same way
    at prediction time.

    *Survey weights* (``sample_weight`` in :meth:`fit`) maximise the pseudo-log-likelihood
    ``sum_i w_i log P(x_i)`` (Patterson, Dayton & Graubard, 2002): responsibilities are
    multiplied by the weights in the M-step, so class sizes and item-response probabilities
    describe the weighted population. Weights are
    rescaled to sum to the number of respondents, so BIC uses the real sample size.

    *Model choice.* BIC (Schwarz, 1978) with ``n`` = number of respondents is the criterion
    that performed best for LCA in simulation (Nylund, Asparouhov & Muthén, 2007); AIC is
    reported for comparison. The number of free parameters is
    ``(k - 1) + k * sum_j (L_j - 1)``. A model with at least as many parameters as answer
    patterns is not identified; a warning is logged.

    Items are treated as nominal: ordinal (Likert) answers lose their order, which costs
    some parameters but assumes nothing about the spacing of the scale.

    References
    ----------
    .. [1] Goodman, L. A. (1974). Exploratory latent structure analysis using both
       identifiable and unidentifiable models. Biometrika, 61(2), 215-231.
    .. [2] Lazarsfeld, P. F., & Henry, N. W. (1968). Latent Structure Analysis. Houghton
       Mifflin.
    .. [3] Dempster, A. P., Laird, N. M., & Rubin, D. B. (1977). Maximum likelihood from
       incomplete data via the EM algorithm. Journal of the Royal Statistical Society B,
       39(1), 1-38.
    .. [4] Little, R. J. A., & Rubin, D. B. (2019). Statistical Analysis with Missing Data
       (3rd ed.). Wiley.
    .. [5] Patterson, B. H., Dayton, C. M., & Graubard, B. I. (2002). Latent class analysis
       of complex sample survey data. Journal of the American Statistical Association,
       97(459), 721-741.
    .. [6] Nylund, K. L., Asparouhov, T., & Muthén, B. O. (2007). Deciding on the number of
       classes in latent class analysis and growth mixture modeling: a Monte Carlo
       simulation study. Structural Equation Modeling, 14(4), 535-569.
    .. [7] Schwarz, G. (1978). Estimating the dimension of a model. The Annals of
       Statistics, 6(2), 461-464.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from segmint.segmenters._lca import LatentClassSegmenter
    >>> rng = np.random.default_rng(0)
    >>> cls = rng.integers(0, 2, 300)
    >>> answers = np.where(rng.random((300, 6)) < 0.9, cls[:, None], 1 - cls[:, None])
    >>> survey = pd.DataFrame(answers, columns=[f"q{i}" for i in range(6)])
    >>> seg = LatentClassSegmenter(k_range=(1, 4), random_state=0).fit(survey)
    >>> seg.n_segments_
    2
    >>> seg.predict_proba(survey).shape
    (300, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        **COMMON_CONSTRAINTS,
        "tol": [Interval(Real, 0, None, closed="left")],
    }
    _fitted_attributes: ClassVar[list[str]] = ["weights_", "item_probabilities_", "categories_"]

    def __init__(
        self,
        n_segments: int | None = None,
        *,
        k_range: tuple[int, int] = (2, 8),
        n_init: int = 10,
        max_iter: int = 1000,
        tol: float = 1e-6,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_segments = n_segments
        self.k_range = k_range
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing answers drop out of the likelihood
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    # -- fitting ---------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Self:
        """Fit the latent class model, choosing the number of classes unless forced.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_items)
            One row per respondent, one column per item; every column is categorical
            (numbers such as Likert codes are levels). Missing answers are NaN/None.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative survey weights.

        Returns
        -------
        self : LatentClassSegmenter
            The fitted segmenter.
        """
        frame = _as_frame(self, X, reset=True)
        n = frame.shape[0]
        name = type(self).__name__
        if n < 2:
            raise ValueError(
                f"Found array with {n} sample(s) while a minimum of 2 is required by {name}."
            )
        weight = relative_weights(sample_weight, np.empty((n, 0)), n)
        items = list(range(frame.shape[1]))
        self.categories_, self._as_str = _fit_categories(frame, items)
        n_levels = [len(lv) for lv in self.categories_]
        for j, lv in enumerate(n_levels):
            if lv == 0:
                logger.warning("%s: item %d has no answer at all and is ignored.", name, j)
            elif lv > _MANY_LEVELS:
                logger.warning(
                    "%s: item %d has %d distinct answers; LCA expects categorical items.",
                    name,
                    j,
                    lv,
                )
        codes, _ = _encode(frame, items, self.categories_, self._as_str)
        offsets = np.concatenate([[0], np.cumsum(n_levels)[:-1]]).astype(np.int64)
        width = int(sum(n_levels))
        blocks = [slice(int(o), int(o) + lv) for o, lv in zip(offsets, n_levels, strict=True)]
        onehot = _indicator(codes, offsets, width)
        n_empty = int((codes < 0).all(axis=1).sum())
        if n_empty:
            logger.info("%s: %d respondent(s) answered no item.", name, n_empty)

        ks = self._candidate_ks(n, min_k=1)
        starts = seeds(self.random_state, self.n_init * len(ks))
        log_patterns = float(np.sum(np.log([max(lv, 1) for lv in n_levels])))

        rows, best = [], None
        for i, k in enumerate(ks):
            fit = self._fit_k(
                onehot, weight, k, blocks, starts[i * self.n_init : (i + 1) * self.n_init]
            )
            p = _n_parameters(k, n_levels)
            if np.log(p + 1) >= log_patterns:
                logger.warning(
                    "%s: k=%d has %d parameters for at most %.0f answer patterns; the model "
                    "is not identified.",
                    name,
                    k,
                    p,
                    np.exp(log_patterns),
                )
            resp = fit["resp"]
            if k > 1:
                plogp = np.where(resp > 0, resp * np.log(np.maximum(resp, 1e-300)), 0.0)
                entropy = 1.0 - float(weight @ -plogp.sum(axis=1)) / (weight.sum() * np.log(k))
            else:
                entropy = float("nan")
            rows.append(
                {
                    "k": k,
                    "log_likelihood": fit["ll"],
                    "bic": -2.0 * fit["ll"] + p * np.log(weight.sum()),
                    "aic": -2.0 * fit["ll"] + 2.0 * p,
                    "entropy": entropy,
                    "min_segment_share": min_share(resp.argmax(axis=1), k, weight),
                }
            )
            logger.debug("%s: k=%d bic=%.3f", name, k, rows[-1]["bic"])
            if best is None or rows[-1]["bic"] < best[0]:
                best = (rows[-1]["bic"], k, fit)
        assert best is not None
        _, k, fit = best

        order = permute_by_size(fit["resp"].argmax(axis=1), k, fit["theta"], weight)
        self.weights_ = fit["weights"][order]
        self._theta = fit["theta"][order]
        self.item_probabilities_ = [self._theta[:, b].copy() for b in blocks]
        self._keep_em_fit(fit, k, rows)
        self.labels_ = self._log_posterior(onehot).argmax(axis=1)
        logger.info("%s: %d latent classes", name, k)
        return self

    def _fit_k(
        self,
        onehot: sparse.csr_array,
        weight: np.ndarray,
        k: int,
        blocks: list[slice],
        seeds: list[int],
    ) -> dict:
        best: dict | None = None
        total = weight.sum()
        width = onehot.shape[1]
        onehot_t = onehot.T.tocsr()
        kept = [b for b in blocks if b.stop > b.start]
        offsets = np.asarray([b.start for b in kept], dtype=np.int64)
        n_levels = np.asarray([b.stop - b.start for b in kept], dtype=np.int64)
        for seed in seeds:
            rng = np.random.RandomState(seed)
            theta = np.empty((k, width))
            for block in blocks:
                size = block.stop - block.start
                if size:
                    theta[:, block] = rng.dirichlet(np.ones(size), size=k)
            log_w = np.full(k, -np.log(k))
            prev, converged, n_iter = -np.inf, False, 0
            for n_iter in range(1, self.max_iter + 1):  # noqa: B007 - used after the loop
                joint = _log_joint(onehot, np.log(np.maximum(theta, _FLOOR)), log_w)
                norm = _logsumexp_rows(joint)
                mean_ll = float(weight @ norm) / total
                resp = np.exp(joint - norm[:, None])
                class_w, theta = _m_step(onehot_t, resp, weight, offsets, n_levels)
                log_w = np.log(class_w)
                if mean_ll - prev < self.tol:
                    converged = True
                    break
                prev = mean_ll
            joint = _log_joint(onehot, np.log(np.maximum(theta, _FLOOR)), log_w)
            norm = _logsumexp_rows(joint)
            ll = float(weight @ norm)
            if best is None or ll > best["ll"]:
                best = {
                    "ll": ll,
                    "weights": np.exp(log_w),
                    "theta": theta,
                    "resp": np.exp(joint - norm[:, None]),
                    "converged": converged,
                    "n_iter": n_iter,
                }
        assert best is not None
        return best

    # -- prediction ------------------------------------------------------------------------

    def _log_posterior(self, onehot: sparse.csr_array) -> np.ndarray:
        joint = _log_joint(onehot, np.log(np.maximum(self._theta, _FLOOR)), np.log(self.weights_))
        return joint - _logsumexp_rows(joint)[:, None]

    def _onehot(self, X: Any) -> sparse.csr_array:
        check_is_fitted(self, ["weights_", "item_probabilities_", "categories_"])
        frame = _as_frame(self, X, reset=False)
        items = list(range(frame.shape[1]))
        codes, unseen = _encode(frame, items, self.categories_, self._as_str)
        if unseen.any():
            logger.warning(
                "%s: %d answer(s) unseen in training (items %s) are treated as missing.",
                type(self).__name__,
                int(unseen.sum()),
                [int(j) for j in np.flatnonzero(unseen.any(axis=0))],
            )
        n_levels = [len(lv) for lv in self.categories_]
        offsets = np.concatenate([[0], np.cumsum(n_levels)[:-1]]).astype(np.int64)
        return _indicator(codes, offsets, int(sum(n_levels)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior class membership of each respondent.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_items)
            Answers to the training items; missing answers allowed.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_segments_)
            Column ``c`` is ``P(class c | observed answers)``; rows sum to 1.
        """
        return np.exp(self._log_posterior(self._onehot(X)))

    def predict(self, X: Any) -> np.ndarray:
        """Modal class of each respondent.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_items)
            Answers to the training items; missing answers allowed.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Stable class ids.
        """
        return self._log_posterior(self._onehot(X)).argmax(axis=1)

    # -- serialisation ---------------------------------------------------------------------

    def _fitted_state(self) -> dict[str, Any]:
        return {
            "categories_": [list(lv) for lv in self.categories_],
            "categories_as_str": list(self._as_str),
            "weights_": self.weights_.tolist(),
            "item_probabilities_": [p.tolist() for p in self.item_probabilities_],
            "log_likelihood_": self.log_likelihood_,
            "converged_": self.converged_,
            "n_iter_": self.n_iter_,
        }

    def _restore_fitted_state(self, fitted: dict[str, Any]) -> None:
        self.categories_ = [list(lv) for lv in fitted["categories_"]]
        self._as_str = [bool(s) for s in fitted["categories_as_str"]]
        self.weights_ = np.asarray(fitted["weights_"], dtype=np.float64)
        k = self.n_segments_
        self.item_probabilities_ = [
            np.asarray(p, dtype=np.float64).reshape(k, len(lv))
            for p, lv in zip(fitted["item_probabilities_"], self.categories_, strict=True)
        ]
        self._theta = (
            np.hstack(self.item_probabilities_) if self.item_probabilities_ else np.zeros((k, 0))
        )
        self.log_likelihood_ = float(fitted["log_likelihood_"])
        self.converged_ = bool(fitted["converged_"])
        self.n_iter_ = int(fitted["n_iter_"])
