"""The offline HTML report: every figure traced to a computation, charts as inline SVG.

* :func:`build_content` -- the report's content (a JSON-safe dict) from a run's results;
* :func:`render_report` -- the self-contained HTML page of that content.
"""

from segmint.report._html import build_content, render_report

__all__ = ["build_content", "render_report"]
