"""The offline HTML report: every figure traced to a computation, charts as inline SVG.

* :func:`build_content` -- the report's content (a JSON-safe dict) from a run's results;
* :func:`render_report` -- the self-contained HTML page of that content;
* :func:`revenue_reconciliation` -- the net value of the lines used against the revenue of the
  segmented customers, and :func:`customers_without_purchase` from it.
"""

from segmint.report._data import customers_without_purchase, revenue_reconciliation
from segmint.report._html import build_content, render_report

__all__ = [
    "build_content",
    "customers_without_purchase",
    "render_report",
    "revenue_reconciliation",
]
