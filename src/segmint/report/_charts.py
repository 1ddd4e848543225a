"""Small inline SVG charts: no JavaScript, no network, one file.

Every drawn mark carries ``class="mark"`` so a browser test can count what was drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#4b5563")


def color(i: int) -> str:
    """Colour of segment ``i``, stable across charts."""
    return PALETTE[i % len(PALETTE)]


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    value_format: str = "{:.1%}",
    colors: Sequence[str] | None = None,
    width: int = 560,
    reference: float | None = None,
    reference_label: str = "",
) -> str:
    """Horizontal bar chart as an SVG string.

    ``reference`` draws a dashed vertical line at that value (e.g. a lift of 1 = average);
    a bar of value 0 is drawn as a 1-pixel hairline so that it stays visible.
    """
    row, left, right = 26, 230, 70
    height = row * len(labels) + 30
    finite = [float(v) for v in values if v == v]
    top = max([*finite, reference or 0.0], default=0.0) or 1.0
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 10 + i * row
        w = max(1.0, max(0.0, float(value)) / top * (width - left - right)) if value == value else 0
        fill = (colors or [color(i) for i in range(len(labels))])[i]
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"{escape(str(label)[:34])}</text>"
            f'<rect class="mark" x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 8}" '
            f'fill="{fill}"><title>{escape(str(label))}: '
            f"{value_format.format(value)}</title></rect>"
            f'<text x="{left + w + 6:.1f}" y="{y + 15}" font-size="12">'
            f"{value_format.format(value)}</text>"
        )
    if reference is not None:
        x = left + reference / top * (width - left - right)
        parts.append(
            f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 18}" stroke="#111827" '
            f'stroke-dasharray="4 3"/><text x="{x:.1f}" y="{height - 4}" text-anchor="middle" '
            f'font-size="11">{escape(reference_label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    title: str,
    x_label: str,
    y_label: str,
    highlight: float | None = None,
    width: int = 560,
    height: int = 240,
) -> str:
    """Line chart with point markers; the ``highlight`` x gets a ring (the chosen k)."""
    pad_l, pad_r, pad_t, pad_b = 56, 16, 16, 40
    points = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True) if y == y]
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if points:
        x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
        y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
        x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-9)

        def sx(x: float) -> float:
            return pad_l + (x - x0) / (x1 - x0) * (width - pad_l - pad_r)

        def sy(y: float) -> float:
            return pad_t + (1 - (y - y0) / (y1 - y0)) * (height - pad_t - pad_b)

        path = " ".join(
            f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(points)
        )
        parts.append(
            f'<path class="mark" d="{path}" fill="none" stroke="{color(0)}" stroke-width="2"/>'
        )
        for x, y in points:
            ring = highlight is not None and x == float(highlight)
            parts.append(
                f'<circle class="mark" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="{6 if ring else 3.5}" '
                f'fill="{"#fff" if ring else color(0)}" stroke="{color(0)}" stroke-width="2">'
                f"<title>{x:g}: {y:.3f}</title></circle>"
                f'<text x="{sx(x):.1f}" y="{height - pad_b + 16}" text-anchor="middle" '
                f'font-size="11">{x:g}</text>'
            )
        for y in (y0, y1):
            parts.append(
                f'<text x="{pad_l - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" font-size="11">'
                f"{y:.3f}</text>"
            )
    parts.append(
        f'<text x="{(width + pad_l) / 2:.0f}" y="{height - 6}" text-anchor="middle" '
        f'font-size="12">{escape(x_label)}</text>'
        f'<text x="14" y="{height / 2:.0f}" transform="rotate(-90 14 {height / 2:.0f})" '
        f'text-anchor="middle" font-size="12">{escape(y_label)}</text></svg>'
    )
    return "".join(parts)


def series_chart(
    xs: Sequence[float],
    series: Sequence[tuple[str, Sequence[float], bool]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 560,
    height: int = 260,
) -> str:
    """Several lines over the same x values, with a legend; the y axis starts at 0.

    ``series`` holds ``(label, ys, dashed)`` per line, coloured by position in the palette; a
    dashed line has hollow markers. Missing (NaN) values are skipped.
    """
    pad_l, pad_r, pad_t, pad_b = 64, 16, 30, 40
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    x = [float(v) for v in xs]
    finite = [float(y) for _, ys, _ in series for y in ys if y == y]
    if x and finite:
        x0, x1 = min(x), max(x)
        x1 = x1 if x1 > x0 else x0 + 1
        y1 = max(max(finite), 0.0) * 1.05 or 1.0

        def sx(v: float) -> float:
            return pad_l + (v - x0) / (x1 - x0) * (width - pad_l - pad_r)

        def sy(v: float) -> float:
            return pad_t + (1 - v / y1) * (height - pad_t - pad_b)

        parts.append(
            f'<line x1="{pad_l}" y1="{sy(0):.1f}" x2="{width - pad_r}" y2="{sy(0):.1f}" '
            f'stroke="#9ca3af"/>'
        )
        for v in (0.0, y1 / 2, y1):
            parts.append(
                f'<text x="{pad_l - 6}" y="{sy(v) + 4:.1f}" text-anchor="end" font-size="11">'
                f"{v:,.0f}</text>"
            )
        for v in x:
            parts.append(
                f'<text x="{sx(v):.1f}" y="{height - pad_b + 16}" text-anchor="middle" '
                f'font-size="11">{v:g}</text>'
            )
        for i, (label, ys, dashed) in enumerate(series):
            points = [(a, float(b)) for a, b in zip(x, ys, strict=True) if b == b]
            stroke = color(i)
            dash = ' stroke-dasharray="5 3"' if dashed else ""
            path = " ".join(
                f"{'M' if j == 0 else 'L'}{sx(a):.1f},{sy(b):.1f}"
                for j, (a, b) in enumerate(points)
            )
            parts.append(
                f'<path class="mark" d="{path}" fill="none" stroke="{stroke}" '
                f'stroke-width="2"{dash}><title>{escape(label)}</title></path>'
            )
            for a, b in points:
                parts.append(
                    f'<circle class="mark" cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="3" '
                    f'fill="{"#fff" if dashed else stroke}" stroke="{stroke}" stroke-width="1.5">'
                    f"<title>{escape(label)}, {a:g}: {b:,.1f}</title></circle>"
                )
            lx = pad_l + 8 + i * 170
            parts.append(
                f'<line x1="{lx}" y1="12" x2="{lx + 22}" y2="12" stroke="{stroke}" '
                f'stroke-width="2"{dash}/><text x="{lx + 28}" y="16" font-size="12">'
                f"{escape(label)}</text>"
            )
    parts.append(
        f'<text x="{(width + pad_l) / 2:.0f}" y="{height - 6}" text-anchor="middle" '
        f'font-size="12">{escape(x_label)}</text>'
        f'<text x="14" y="{height / 2:.0f}" transform="rotate(-90 14 {height / 2:.0f})" '
        f'text-anchor="middle" font-size="12">{escape(y_label)}</text></svg>'
    )
    return "".join(parts)


def heat_color(index: float | None) -> str:
    """Background for a profile index cell: blue below 100, orange above, white at 100."""
    if index is None or index != index:
        return "#f3f4f6"
    t = max(-1.0, min(1.0, (index - 100.0) / 100.0))
    if t >= 0:
        r, g, b = 255, int(255 - 120 * t), int(255 - 200 * t)
    else:
        r, g, b = int(255 + 160 * t), int(255 + 90 * t), 255
    return f"#{r:02x}{g:02x}{b:02x}"


def bubble_chart(
    points: Sequence[dict],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_format: str = "{:.0%}",
    y_format: str = "{:,.0f}",
    size_label: str = "customers",
    width: int = 720,
    height: int = 400,
) -> str:
    """Bubble chart: one circle per point at (``x``, ``y``) with area proportional to ``size``.

    Each point is a dict with ``label``, ``x``, ``y``, ``size`` and optionally ``color`` and
    ``muted`` (drawn hollow and dashed, e.g. a knocked-out segment). The x axis runs from 0 to
    1 when every x is a share, the y axis from 0 to 110 % of the largest y.
    """
    pad_l, pad_r, pad_t, pad_b, r_max = 70, 30, 24, 48, 34.0
    pts = [p for p in points if p["x"] == p["x"] and p["y"] == p["y"]]
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    xs = [float(p["x"]) for p in pts]
    x0, x1 = (
        (0.0, 1.0) if all(0 <= x <= 1 for x in xs) else (min(xs, default=0), max(xs, default=1))
    )
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = max((float(p["y"]) for p in pts), default=1.0) * 1.1 or 1.0
    size_top = max((float(p["size"]) for p in pts), default=1.0) or 1.0

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * (width - pad_l - pad_r)

    def sy(y: float) -> float:
        return pad_t + (1 - y / y1) * (height - pad_t - pad_b)

    parts.append(
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" '
        f'stroke="#9ca3af"/><line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" '
        f'stroke="#9ca3af"/>'
    )
    for i in range(5):
        xv = x0 + (x1 - x0) * i / 4
        yv = y1 * i / 4
        parts.append(
            f'<text x="{sx(xv):.1f}" y="{height - pad_b + 16}" text-anchor="middle" '
            f'font-size="11">{escape(x_format.format(xv))}</text>'
            f'<text x="{pad_l - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(y_format.format(yv))}</text>"
        )
    order = sorted(range(len(pts)), key=lambda j: -float(pts[j]["size"]))
    for j in order:
        p = pts[j]
        r = max(3.0, r_max * (max(float(p["size"]), 0.0) / size_top) ** 0.5)
        fill = p.get("color") or color(j)
        muted = p.get("muted", False)
        style = (
            f'fill="none" stroke="{fill}" stroke-width="2" stroke-dasharray="4 3"'
            if muted
            else f'fill="{fill}" fill-opacity="0.55" stroke="{fill}" stroke-width="1.5"'
        )
        tip = (
            f"{p['label']}: {x_label} {x_format.format(p['x'])}, {y_label} "
            f"{y_format.format(p['y'])}, {size_label} {p['size']:,.0f}"
        )
        parts.append(
            f'<circle class="mark" cx="{sx(p["x"]):.1f}" cy="{sy(p["y"]):.1f}" r="{r:.1f}" '
            f"{style}><title>{escape(tip)}</title></circle>"
            + (
                f'<text x="{sx(p["x"]) - r - 4:.1f}" y="{sy(p["y"]) + 4:.1f}" '
                f'text-anchor="end" font-size="11">{escape(str(p["label"])[:40])}</text>'
                if sx(p["x"]) > 0.6 * width
                else f'<text x="{sx(p["x"]) + r + 4:.1f}" y="{sy(p["y"]) + 4:.1f}" '
                f'font-size="11">{escape(str(p["label"])[:40])}</text>'
            )
        )
    parts.append(
        f'<text x="{(width + pad_l) / 2:.0f}" y="{height - 8}" text-anchor="middle" '
        f'font-size="12">{escape(x_label)}</text>'
        f'<text x="14" y="{height / 2:.0f}" transform="rotate(-90 14 {height / 2:.0f})" '
        f'text-anchor="middle" font-size="12">{escape(y_label)}</text></svg>'
    )
    return "".join(parts)
