"""Choosing and building the segmenter for a run, and the stability of its result.

``method="auto"`` picks the method from the data it is handed: latent class analysis when the
only inputs are survey answers, k-prototypes (mixed) when categorical columns are among the
inputs, k-means otherwise. Every method is a scikit-learn-style estimator with ``fit`` and
``labels_``; what differs is the table each one is fitted on (:func:`method_input`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from segmint.exceptions import ConfigError, InputError
from segmint.segmenters._ensemble import ConsensusSegmenter
from segmint.segmenters._gmm import GaussianMixtureSegmenter
from segmint.segmenters._ids import match_labels
from segmint.segmenters._k_choice import RULE as K_RULE
from segmint.segmenters._k_choice import forced_selection
from segmint.segmenters._kmeans import KMeansSegmenter
from segmint.segmenters._lca import LatentClassSegmenter
from segmint.segmenters._mixed import MixedTypeSegmenter
from segmint.segmenters._rfm import RFMSegmenter
from segmint.segmenters._rules import RuleSegmenter
from segmint.segmenters._stability import bootstrap_stability

METHODS = ("auto", "kmeans", "gmm", "mixed", "lca", "rules", "rfm", "ensemble")
RULE_BASED = ("rules", "rfm")


@dataclass
class SegmenterSettings:
    """What the config says about segmentation, in the segmenters' terms."""

    method: str = "auto"
    k: int | None = None
    k_min: int = 2
    k_max: int = 8
    min_segment_share: float = 0.05
    n_init: int = 10
    seed: int = 7
    rules: list[tuple[str, str]] | None = None
    default_segment: str = "Other"
    rfm_segments: dict[str, Any] | None = None
    rfm_bins: dict[str, list[float]] | None = None


def resolve_method(method: str, *, numeric: pd.DataFrame, categorical: pd.DataFrame) -> str:
    """The method ``auto`` stands for with these inputs; other methods are returned as given."""
    if method not in METHODS:
        raise ConfigError(
            f"Unknown segmentation method '{method}'.", hint=f"Choose one of {', '.join(METHODS)}."
        )
    if method != "auto":
        return method
    if numeric.shape[1] == 0 and categorical.shape[1] > 0:
        return "lca"
    if categorical.shape[1] > 0:
        return "mixed"
    return "kmeans"


def make_segmenter(method: str, settings: SegmenterSettings, n_samples: int) -> Any:
    """An unfitted segmenter for ``method`` configured from ``settings``."""
    k_range = (settings.k_min, max(settings.k_min, min(settings.k_max, n_samples - 1)))
    common = {"k_range": k_range, "random_state": settings.seed}
    if method == "kmeans":
        return KMeansSegmenter(
            settings.k,
            min_segment_share=settings.min_segment_share,
            n_init=settings.n_init,
            **common,
        )
    if method == "gmm":
        # diagonal covariances: customer features carry many bounded shares (category, channel
        # mix) on which full covariance matrices become near-singular for small segments; on the
        # demo data full covariances recover the planted segments with ARI 0.54, diagonal 0.94
        return GaussianMixtureSegmenter(settings.k, covariance_type="diag", **common)
    if method == "mixed":
        return MixedTypeSegmenter(settings.k, **common)
    if method == "lca":
        return LatentClassSegmenter(settings.k, **common)
    if method == "ensemble":
        return ConsensusSegmenter(n_segments=settings.k or 4, random_state=settings.seed)
    if method == "rules":
        if not settings.rules:
            raise ConfigError(
                "method 'rules' needs rules in segmint.yaml.",
                hint="Add segmentation.rules: [{name: Lapsed, when: 'recency_days > 365'}, ...]",
            )
        return RuleSegmenter(settings.rules, default=settings.default_segment)
    if method == "rfm":
        return RFMSegmenter(settings.rfm_segments, bins=settings.rfm_bins)
    raise ConfigError(f"Unknown segmentation method '{method}'.", hint=f"Choose one of {METHODS}.")


def fit_segmenter(method: str, settings: SegmenterSettings, data: Any) -> Any:
    """Build and fit the segmenter for ``method``.

    The consensus method does not choose k itself: without a forced k, k is first chosen by the
    k-means rule (:func:`~segmint.segmenters._k_choice.choose_k`, with its bootstrap stability;
    the evidence and the choice are kept as the consensus's ``evidence_`` and ``selection_``),
    then the consensus is built for it.
    """
    n_samples = len(data)
    if method not in RULE_BASED:
        settings = _within_distinct(settings, data)
    if method == "ensemble" and settings.k is None:
        probe = make_segmenter("kmeans", settings, n_samples).fit(data)
        consensus = ConsensusSegmenter(n_segments=probe.n_segments_, random_state=settings.seed)
        consensus.fit(data)
        consensus.evidence_ = probe.evidence_
        consensus.selection_ = probe.selection_
        return consensus
    return make_segmenter(method, settings, n_samples).fit(data)


def _within_distinct(settings: SegmenterSettings, data: Any) -> SegmenterSettings:
    """Refuse more segments than distinct customers; cap the k tried at that number.

    Customers identical in every feature cannot be told apart: with 500 identical customers a
    fit of 3 segments yields 1 segment (and scikit-learn's warnings), while the run would say 3.
    """
    n_distinct = len(pd.DataFrame(data).drop_duplicates())
    needed = settings.k if settings.k is not None else settings.k_min
    if n_distinct < needed:
        what = f"{needed} segments" if settings.k is not None else f"k_min = {needed} segments"
        raise InputError(
            f"the data have only {n_distinct:,} distinct customer(s) among {len(data):,} "
            f"(the others identical in every feature), fewer than the {what} asked for.",
            hint=f"Use --k {max(1, n_distinct)}, or give features that tell the "
            "customers apart (a longer log, more bases).",
        )
    if n_distinct < settings.k_max:
        return replace(settings, k_max=n_distinct)
    return settings


def method_input(
    method: str,
    *,
    raw: pd.DataFrame,
    prepared: np.ndarray,
    prepared_columns: list[str],
    categorical: pd.DataFrame,
) -> Any:
    """The table ``method`` is fitted on.

    Rules and RFM read the features in their own units; k-means, GMM and the consensus the
    prepared (scaled) numbers; k-prototypes the prepared numbers plus the categorical columns;
    latent class analysis the categorical/ordinal answers only.
    """
    if method in RULE_BASED:
        return raw
    if method == "mixed":
        if categorical.shape[1] == 0:
            raise InputError(
                "method 'mixed' needs categorical attributes, and none were found.",
                hint="Add a customer table with categorical columns, or use --method kmeans.",
            )
        table = pd.DataFrame(prepared, columns=prepared_columns, index=categorical.index)
        return pd.concat([table, categorical.astype("object")], axis=1)
    if method == "lca":
        if categorical.shape[1] == 0:
            raise InputError(
                "method 'lca' needs categorical or ordinal answers (e.g. a survey), none found.",
                hint="Give survey answers, or use --method kmeans for numeric features.",
            )
        return categorical
    return prepared


def normalised_evidence(segmenter: Any, min_segment_share: float) -> pd.DataFrame:
    """The segmenter's evidence table with ``admissible`` and ``chosen`` columns.

    Methods that choose k keep their own criteria (silhouette, BIC, ...); a method that did not
    choose k (forced k, rules, RFM, consensus) gets a one-row table for the k it has.
    """
    n_segments = int(segmenter.n_segments_)
    evidence = getattr(segmenter, "evidence_", None)
    if evidence is None or len(evidence) == 0:
        evidence = pd.DataFrame({"k": [n_segments]})
    evidence = evidence.copy()
    if "admissible" not in evidence:
        if "min_segment_share" in evidence:
            evidence["admissible"] = evidence["min_segment_share"] >= min_segment_share
        else:
            evidence["admissible"] = True
    if "chosen" not in evidence:
        evidence["chosen"] = evidence["k"] == n_segments
    return evidence


SELECTION_RULES = {
    "kmeans": "k-means was fitted for every k in the range. " + K_RULE,
    "gmm": "Gaussian mixtures (diagonal covariances) were fitted for every k in the range; "
    "the k with the lowest BIC was chosen.",
    "mixed": "k-prototypes was fitted for every k in the range; the k with the highest mean "
    "Gower silhouette (on a sample) was chosen.",
    "lca": "Latent class models were fitted for every number of classes in the range; the "
    "lowest BIC was chosen.",
    "ensemble": "k was chosen by the k-means rule on the evidence below: " + K_RULE + " The "
    "consensus of several methods and seeds was then built for that k (evidence accumulation).",
    "rules": "Segments are defined by the rules in segmint.yaml (first match wins).",
    "rfm": "Segments are the named RFM segments of the R and FM quintile scores.",
}


def selection_rule(method: str, forced_k: int | None = None) -> str:
    """How the number of segments was decided, in words, for the report."""
    if forced_k is not None and method not in RULE_BASED:
        return f"The number of segments was set to {forced_k} in the configuration."
    return SELECTION_RULES[method]


def k_selection(segmenter: Any, method: str, forced_k: int | None = None) -> dict[str, Any]:
    """How the number of segments of a fitted segmenter was decided, as a JSON-ready dict.

    Parameters
    ----------
    segmenter : estimator
        The fitted segmenter (``n_segments_``; ``selection_`` when it chose k by
        :func:`~segmint.segmenters._k_choice.choose_k`).
    method : str
        The method name (for the rule of methods without ``selection_``).
    forced_k : int, optional
        The k set in the configuration or with ``--k``.

    Returns
    -------
    dict
        ``chosen``, ``runner_up`` (None unless the rule named one), ``reason`` and ``rule``,
        plus the further keys of ``selection_`` when the segmenter has it.
    """
    k = int(segmenter.n_segments_)
    if forced_k is not None and method not in RULE_BASED:
        return forced_selection(k)
    selection = getattr(segmenter, "selection_", None)
    if selection is not None:
        return dict(selection)
    return {
        "chosen": k,
        "runner_up": None,
        "reason": selection_rule(method, forced_k),
        "rule": method,
    }


def segment_names(segmenter: Any) -> dict[int, str] | None:
    """Names a rule-based segmenter defines itself (``None`` for statistical methods)."""
    names = getattr(segmenter, "segment_names_", None)
    if names is None:
        return None
    return {i: str(name) for i, name in enumerate(names)}


def segment_stability(
    segmenter: Any,
    data: Any,
    labels: np.ndarray,
    *,
    n_resamples: int = 20,
    max_samples: int = 5000,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Bootstrap stability of a fitted statistical segmentation, on its final segment ids.

    The segmenter is refitted with its number of segments fixed (``n_segments_``) on
    ``n_resamples`` bootstrap samples of at most ``max_samples`` customers; per-segment Jaccard
    similarities (Hennig's clusterboot) are mapped onto the final ids by member overlap.
    Returns ``None`` for rule-based segmenters, whose assignment is a fixed function of the data.
    """
    if isinstance(segmenter, RuleSegmenter | RFMSegmenter):
        return None
    estimator = segmenter.__class__(**segmenter.get_params())
    if "n_segments" in estimator.get_params():
        estimator.set_params(n_segments=int(segmenter.n_segments_))
    if isinstance(estimator, KMeansSegmenter):
        # the refits' labels are all that is used: no stability of stability, no silhouette
        estimator.set_params(
            stability_resamples=0, silhouette_sample=0, n_init=min(estimator.n_init, 3)
        )
    result = bootstrap_stability(
        estimator, data, n_resamples=n_resamples, max_samples=max_samples, random_state=seed
    )
    rows = result.sample_indices if result.sample_indices is not None else slice(None)
    mapping = match_labels(np.asarray(labels)[rows], result.reference_labels)
    table = result.per_segment.copy()
    table["segment_id"] = mapping[table["segment_id"].to_numpy()]
    summary = result.to_dict()
    summary["per_segment"] = table.sort_values("segment_id").to_dict(orient="records")
    return summary
