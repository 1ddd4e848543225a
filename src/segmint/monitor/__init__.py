"""Monitoring: the run store, migration between runs, drift, and impact by segment."""

from segmint.monitor._drift import feature_summary, psi, psi_table
from segmint.monitor._migration import match_segments, migration_matrix
from segmint.monitor._monitor import MonitoringResult, monitor_model, monitor_runs
from segmint.monitor._store import STORE_NAME, list_runs, record_run

__all__ = [
    "STORE_NAME",
    "MonitoringResult",
    "feature_summary",
    "list_runs",
    "match_segments",
    "migration_matrix",
    "monitor_model",
    "monitor_runs",
    "psi",
    "psi_table",
    "record_run",
]
