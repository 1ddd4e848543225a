"""Is the segmentation worth acting on? The validity scorecard and out-of-time lift."""

from segmint.evaluate._behaviour import BEHAVIOUR_COLUMNS, fill_missing, join_behaviour
from segmint.evaluate._lift import out_of_time_lift
from segmint.evaluate._lift_result import LiftResult
from segmint.evaluate._outcomes import revenue_trend
from segmint.evaluate._scorecard import Scorecard, reach_flags, validity_scorecard
from segmint.evaluate._tests import bh_adjust, distinctness, eta_squared, holm_adjust

__all__ = [
    "BEHAVIOUR_COLUMNS",
    "LiftResult",
    "Scorecard",
    "bh_adjust",
    "distinctness",
    "eta_squared",
    "fill_missing",
    "holm_adjust",
    "join_behaviour",
    "out_of_time_lift",
    "reach_flags",
    "revenue_trend",
    "validity_scorecard",
]
