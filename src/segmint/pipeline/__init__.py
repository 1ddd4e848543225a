"""The main job, end to end, as stages: ingest → features → segment → profile → evaluate →
report → outputs.

Each stage is a function in its own module that takes the typed results of the stages before
it and returns its own, so data flows forward only:

* :mod:`~segmint.pipeline._inputs` -- what the run is asked to do, checked (:class:`RunInputs`);
* :mod:`~segmint.pipeline._ingest` -- every table read, validated, accounted (``Ingested``);
* :mod:`~segmint.pipeline._features` -- one row per customer (``FeatureTable``);
* :mod:`~segmint.pipeline._segment` -- the method fitted, k justified, stability (``Segmentation``);
* :mod:`~segmint.pipeline._describe` -- profiles, names, the method in words (``Described``);
* :mod:`~segmint.pipeline._report` -- the reconciliation and the HTML report;
* :mod:`~segmint.pipeline._outputs` -- model, tables, quarantine, ``run.json``, run store;
* :mod:`~segmint.pipeline._population` -- after a fit on an engine's sample, everyone assigned.

:func:`run_segmentation` (in :mod:`~segmint.pipeline._run`) runs them in order, times them and
writes every output atomically into the output folder.
"""

from segmint.pipeline._describe import ID_RULE
from segmint.pipeline._ingest import file_fingerprint
from segmint.pipeline._inputs import TRANSACTION_BASES, RunInputs
from segmint.pipeline._run import Progress, RunResult, run_segmentation

__all__ = [
    "ID_RULE",
    "TRANSACTION_BASES",
    "Progress",
    "RunInputs",
    "RunResult",
    "file_fingerprint",
    "run_segmentation",
]
