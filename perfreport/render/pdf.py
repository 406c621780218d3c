"""The staging report as an A4 PDF, rendered by weasyprint from the HTML template.

Charts are written as PNGs (200 dpi) into a private temporary folder that the
HTML references. weasyprint gets a URL fetcher that serves only files inside
that folder and data: URIs. Autoescape already turns an ``<img>`` in a tag
value into text, and the fetcher is the second guard: no URL in an input can
make weasyprint reach the network or read other local files.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from perfreport.errors import PerfreportError
from perfreport.render.charts import save_png
from perfreport.render.html import render_html
from perfreport.reporting import Report, ReportChart

log = logging.getLogger(__name__)


class FetchRejected(PerfreportError):
    """weasyprint asked for a resource outside the report's own folder."""


def local_url_fetcher(root: Path) -> Any:
    """Return a weasyprint URL fetcher limited to files under ``root`` and data: URIs."""
    from weasyprint.urls import URLFetcher

    class _LocalFetcher(URLFetcher):
        def __init__(self) -> None:
            super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False)
            self.root = root.resolve()

        def fetch(self, url: str, headers: Any = None) -> Any:
            parsed = urlparse(url)
            if parsed.scheme == "data":
                return super().fetch(url, headers)
            if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
                target = Path(unquote(parsed.path)).resolve()
                if target.is_relative_to(self.root) and target.is_file():
                    return super().fetch(url, headers)
            log.warning("rejected a resource outside the report folder: %.200s", url)
            raise FetchRejected(
                f"the PDF renderer rejected {url[:200]!r}: not a report file"
            )

    return _LocalFetcher()


def render_pdf(report: Report) -> bytes:
    """Render ``report`` as PDF bytes (A4, page numbers, title in the margins)."""
    import weasyprint

    with tempfile.TemporaryDirectory(prefix="perfreport-pdf-") as folder:
        root = Path(folder)

        def chart_src(chart: ReportChart) -> str | None:
            if chart.figure is None:
                return None
            path = save_png(chart.figure, root / f"{chart.key}.png")
            return path.name

        html = render_html(report, chart_src)
        (root / "report.html").write_text(html, encoding="utf-8")
        document = weasyprint.HTML(
            string=html,
            base_url=root.as_uri() + "/",
            url_fetcher=local_url_fetcher(root),
        )
        return document.write_pdf()


def write_pdf(report: Report, path: str | Path) -> Path:
    """Write ``report`` as a PDF file and return its path."""
    path = Path(path)
    path.write_bytes(render_pdf(report))
    return path
