"""What the stages after profiling read: the run's results so far, in one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from segmint.config import Config
from segmint.pipeline._describe import Described
from segmint.pipeline._features import FeatureTable
from segmint.pipeline._ingest import Ingested
from segmint.pipeline._inputs import RunInputs
from segmint.pipeline._segment import Segmentation
from segmint.strategy import Deliverables


@dataclass
class FittedRun:
    """The results of ingest, features, segment and profile, and when the run started."""

    inputs: RunInputs
    started: datetime
    ingested: Ingested
    table: FeatureTable
    fit: Segmentation
    described: Described

    @property
    def config(self) -> Config:
        """The run's settings."""
        return self.inputs.config

    @property
    def run_id(self) -> str:
        """The start time and the first 8 hex digits of the data fingerprint."""
        return self.started.strftime("%Y%m%dT%H%M%S") + "-" + self.ingested.data_fingerprint[:8]


@dataclass
class Evaluation:
    """What the evaluate and report stages add: the deliverables (scorecard, lift, priorities,
    typing tool), the lifetime-value models' summary, the segmented customers' revenue and
    the reconciliation of the lines used against it."""

    deliverables: Deliverables
    value_model: dict[str, Any] | None
    revenue: float
    reconciliation: dict[str, Any] | None
