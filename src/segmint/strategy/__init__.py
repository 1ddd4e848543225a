"""What to do about each segment: prioritisation, the playbook, survey sample size."""

from segmint.strategy._deliverables import Deliverables, build_deliverables
from segmint.strategy._playbook import DEFAULT_PLAYBOOK, Recommendation, recommend
from segmint.strategy._prioritise import prioritise
from segmint.strategy._sample_size import SampleSizePlan, survey_sample_size

__all__ = [
    "DEFAULT_PLAYBOOK",
    "Deliverables",
    "Recommendation",
    "SampleSizePlan",
    "build_deliverables",
    "prioritise",
    "recommend",
    "survey_sample_size",
]
