"""The staging report as one self-contained HTML file (charts as data: URIs)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from perfreport.render.charts import png_bytes
from perfreport.render.context import report_context
from perfreport.render.templates import environment
from perfreport.reporting import Report, ReportChart

TEMPLATE = "report.html.j2"


def embedded_chart_src(chart: ReportChart) -> str | None:
    """Return the chart as a PNG data: URI."""
    if chart.figure is None:
        return None
    encoded = base64.b64encode(png_bytes(chart.figure)).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def render_html(
    report: Report, chart_src: Callable[[ReportChart], str | None] = embedded_chart_src
) -> str:
    """Render ``report`` as HTML with the print stylesheet inline.

    Every value from the inputs is HTML-escaped (jinja2 autoescape).
    ``chart_src`` returns each chart's image URL; the default embeds PNGs.
    """
    context = report_context(report, chart_src)
    template = environment(autoescape=True).get_template(TEMPLATE)
    return template.render(**context)


def write_html(report: Report, path: str | Path) -> Path:
    """Write ``report`` as a self-contained HTML file and return its path."""
    path = Path(path)
    path.write_text(render_html(report), encoding="utf-8")
    return path
