"""Monitoring: the run store (history of runs, assignments and segment profiles)."""

from segmint.monitor._store import STORE_NAME, list_runs, record_run

__all__ = ["STORE_NAME", "list_runs", "record_run"]
