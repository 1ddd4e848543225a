"""Segmenters: estimators in the style of scikit-learn that split customers into segments.

Every segmenter has ``fit`` / ``predict`` (``fit_predict``), parameters in ``__init__`` and
fitted attributes ending in ``_``, and round-trips through JSON (``to_dict`` / ``from_dict``).
The statistical ones choose the number of segments from evidence (:func:`choose_k`) unless it
is forced, and measure stability by bootstrap (:func:`bootstrap_stability`).

* :class:`KMeansSegmenter` -- k-means on numeric features (the default);
* :class:`MixedTypeSegmenter` -- k-prototypes for numeric and categorical features;
* :class:`GaussianMixtureSegmenter` -- Gaussian mixtures, k by BIC;
* :class:`LatentClassSegmenter` -- latent class analysis of categorical answers;
* :class:`ConsensusSegmenter` -- consensus of several partitions;
* :class:`RFMSegmenter` -- the named RFM segments (Champions, Loyal, ..., Lost);
* :class:`RuleSegmenter` -- segments from SQL rules;
* :class:`DrillDownSegmenter` -- sub-segments within segments.
"""

from segmint.segmenters._drilldown import DrillDownSegmenter
from segmint.segmenters._ensemble import ConsensusSegmenter
from segmint.segmenters._gmm import GaussianMixtureSegmenter
from segmint.segmenters._k_choice import choose_k
from segmint.segmenters._kmeans import KMeansSegmenter
from segmint.segmenters._lca import LatentClassSegmenter
from segmint.segmenters._mixed import MixedTypeSegmenter
from segmint.segmenters._rfm import RFMSegmenter
from segmint.segmenters._rules import RuleSegmenter
from segmint.segmenters._stability import StabilityResult, bootstrap_stability

__all__ = [
    "ConsensusSegmenter",
    "DrillDownSegmenter",
    "GaussianMixtureSegmenter",
    "KMeansSegmenter",
    "LatentClassSegmenter",
    "MixedTypeSegmenter",
    "RFMSegmenter",
    "RuleSegmenter",
    "StabilityResult",
    "bootstrap_stability",
    "choose_k",
]
