"""The staging report as Markdown, with its charts as PNG files beside it.

``report.md`` links its charts relatively as ``report_charts/<key>.png``, so
the file and its folder can be committed or attached together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from perfreport.render.charts import save_png
from perfreport.render.context import report_context
from perfreport.render.templates import environment
from perfreport.render.values import escape_markdown
from perfreport.reporting import Report, ReportChart

TEMPLATE = "report.md.j2"


class MarkdownSafe(str):
    """Text perfreport built itself (a chart link), output without escaping."""


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, MarkdownSafe):
        return value
    return escape_markdown(value)


def charts_dir_for(path: Path) -> Path:
    """Return the chart folder of a Markdown report: ``<stem>_charts`` beside it."""
    return path.with_name(f"{path.stem}_charts")


def render_markdown(report: Report, charts_dir: Path | None = None) -> str:
    """Render ``report`` as Markdown.

    With ``charts_dir``, each chart is written there as a PNG and linked
    relative to the folder's parent, where the Markdown file goes. Without it,
    charts are left out and only their missing-data notes remain.
    """

    def chart_src(chart: ReportChart) -> str | None:
        if charts_dir is None or chart.figure is None:
            return None
        charts_dir.mkdir(parents=True, exist_ok=True)
        save_png(chart.figure, charts_dir / f"{chart.key}.png")
        return MarkdownSafe(quote(f"{charts_dir.name}/{chart.key}.png"))

    context = report_context(report, chart_src)
    template = environment(autoescape=False, finalize=_finalize).get_template(TEMPLATE)
    return template.render(**context)


def write_markdown(report: Report, path: str | Path) -> Path:
    """Write ``report`` to ``path`` and its charts to ``<stem>_charts/``; return the path."""
    path = Path(path)
    path.write_text(render_markdown(report, charts_dir_for(path)), encoding="utf-8")
    return path
