"""The monitoring report: a content model rendered to an HTML fragment or ``monitor.html``.

The content is built as data first (:func:`monitor_content`), then rendered with Jinja
(autoescaped). The migration chart is an inline SVG: one file, no script, no network.
"""

from __future__ import annotations

from html import escape
from typing import Any

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from segmint.monitor._monitor import MonitoringResult

_COLORS = {"OK": "#16a34a", "WATCH": "#ca8a04", "REVALIDATE": "#dc2626"}

_FRAGMENT = """
<section class="monitoring" id="monitoring">
  <h2>Monitoring: {{ c.baseline.label }} → {{ c.current.label }}</h2>
  <p class="verdict" style="border-left:6px solid {{ colors[c.verdict] }};padding-left:8px">
    <strong>{{ c.verdict }}</strong>
    {% if c.reasons %}<ul>{% for r in c.reasons %}<li>{{ r }}</li>{% endfor %}</ul>
    {% else %} every check is within its thresholds.{% endif %}
  </p>
  <table><thead><tr><th>check</th><th>value</th><th>watch at</th><th>revalidate at</th>
  <th>status</th></tr></thead><tbody>
  {% for k in c.checks %}<tr><td>{{ k.check }}</td><td>{{ fmt(k.value) }}</td>
  <td>{{ k.watch }}</td><td>{{ k.revalidate if k.revalidate is not none else "–" }}</td>
  <td style="color:{{ colors[k.status] }}">{{ k.status }}</td></tr>{% endfor %}
  </tbody></table>
  <h3>Segment shares</h3>
  <table><thead><tr><th>id</th><th>segment</th><th>baseline</th><th>current</th><th>change</th>
  </tr></thead><tbody>
  {% for s in c.shares %}<tr><td>{{ s.segment_id }}</td><td>{{ s.segment_name }}</td>
  <td>{{ pct(s.baseline_share) }}</td><td>{{ pct(s.current_share) }}</td>
  <td>{{ "%+.1f pp"|format(100 * s.change) }}</td></tr>{% endfor %}
  </tbody></table>
  {% if chart %}<h3>Migration</h3>
  <p>{{ "{:,}".format(c.migration.n_common) }} customers in both;
  {{ pct(c.migration.stay_rate) }} stayed in their segment. Rows: baseline segment; columns:
  current segment; cells: share of the baseline segment's customers.</p>{{ chart }}{% endif %}
  <h3>Population stability index per feature</h3>
  <table><thead><tr><th>feature</th><th>PSI</th><th>status</th></tr></thead><tbody>
  {% for p in c.psi %}<tr><td>{{ p.feature }}</td><td>{{ "%.3f"|format(p.psi) }}</td>
  <td style="color:{{ colors[p.status] }}">{{ p.status }}</td></tr>{% endfor %}
  </tbody></table>
  <h3>Centre drift</h3>
  <table><thead><tr><th>id</th><th>segment</th><th>largest shift (SD)</th><th>on</th>
  <th>status</th></tr></thead><tbody>
  {% for d in c.centres %}<tr><td>{{ d.segment_id }}</td><td>{{ d.segment_name }}</td>
  <td>{{ "%.2f"|format(d.max_shift) }}</td><td>{{ d.feature }}</td>
  <td style="color:{{ colors[d.status] }}">{{ d.status }}</td></tr>{% endfor %}
  </tbody></table>
  {% if c.typing_tool %}<h3>Typing tool</h3><p>Accuracy at fit
  {{ pct(c.typing_tool.accuracy_at_fit) }}, now {{ pct(c.typing_tool.accuracy_now) }}
  (questions: {{ c.typing_tool.variables|join(", ") }}).</p>{% endif %}
  <p class="note">PSI bins are the baseline's deciles; thresholds 0.10 / 0.25 follow the
  customary credit-scoring reading (Siddiqi 2006). Segments matched by {{ c.matching.method }}.
  </p>
</section>
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Monitoring: {{ c.verdict }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:980px;color:#111}
table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;font-size:14px}
.note{color:#555;font-size:13px}
</style></head><body>{{ fragment }}</body></html>
"""


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f}%"


def migration_chart(content: dict[str, Any], *, cell: int = 46) -> str:
    """Migration matrix as an inline SVG heat map (rows baseline, columns current)."""
    shares = content["migration"]["shares"]
    counts = content["migration"]["counts"]["values"]
    rows, cols = shares["rows"], shares["columns"]
    left, top = 60, 40
    width, height = left + cell * len(cols) + 10, top + cell * len(rows) + 30
    parts = [
        f'<svg class="chart migration" role="img" aria-label="Migration matrix" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        "<title>Migration matrix: share of each baseline segment now in each segment</title>",
        f'<text x="{left}" y="14" font-size="12">current segment →</text>',
        f'<text x="4" y="{top - 6}" font-size="12">baseline ↓</text>',
    ]
    for j, col in enumerate(cols):
        x = left + j * cell + cell / 2
        parts.append(
            f'<text x="{x}" y="{top - 6}" font-size="12" text-anchor="middle">{col}</text>'
        )
    for i, row in enumerate(rows):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 8}" y="{y + cell / 2 + 4}" font-size="12" '
            f'text-anchor="end">{row}</text>'
        )
        for j, col in enumerate(cols):
            share = float(shares["values"][i][j])
            x = left + j * cell
            fill = f"rgba(37,99,235,{0.08 + 0.92 * share:.3f})"
            ink = "#fff" if share > 0.5 else "#111"
            label = escape(f"baseline {row} → current {col}: {counts[i][j]} ({share:.0%})")
            parts.append(
                f'<rect class="mark" x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="{fill}"><title>{label}</title></rect>'
                f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 4}" font-size="11" '
                f'text-anchor="middle" fill="{ink}">{share:.0%}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def monitor_content(result: MonitoringResult) -> dict[str, Any]:
    """The report's content model (plain data)."""
    return result.to_dict()


def render_monitor(content: dict[str, Any] | MonitoringResult, *, standalone: bool = True) -> str:
    """Render the monitoring section: a full offline page, or an HTML fragment to embed."""
    if isinstance(content, MonitoringResult):
        content = monitor_content(content)
    env = Environment(autoescape=select_autoescape(default_for_string=True, default=True))
    chart = Markup(migration_chart(content)) if content.get("migration") else ""
    fragment = env.from_string(_FRAGMENT).render(
        c=content, colors=_COLORS, fmt=_fmt, pct=_pct, chart=chart
    )
    if not standalone:
        return fragment
    return env.from_string(_PAGE).render(c=content, fragment=Markup(fragment))
