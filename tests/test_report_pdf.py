"""The PDF and HTML reports: pages, text, images, and inert hostile input."""

from __future__ import annotations

import http.server
import io
import re
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from pypdf import PdfReader

from perfreport.analysis.criteria import load_criteria
from perfreport.ingest import load
from perfreport.render.html import render_html
from perfreport.render.markdown import render_markdown
from perfreport.render.pdf import render_pdf
from perfreport.reporting import ReportMetadata, build_report

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_data"


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def http_server():
    """A server on 127.0.0.1 that records every request it receives."""
    _RecordingHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def sample_report():
    baseline = load(SAMPLES / "baseline.json.gz", name="baseline")
    runs = [load(SAMPLES / "load.json.gz", name="load")]
    criteria = load_criteria(SAMPLES / "staging-criteria.toml")
    metadata = ReportMetadata(environment="staging", date="2026-01-15")
    return build_report(baseline, runs, criteria=criteria, metadata=metadata)


def hostile_report(port: int):
    """A real run whose endpoint name, run name and metadata carry markup and URLs."""
    payload = f'<img src="http://127.0.0.1:{port}/x"> | `tick` # [a](http://127.0.0.1:{port}/l)'
    baseline = load(SAMPLES / "baseline.json.gz", name="baseline")
    run = load(SAMPLES / "load.json.gz", name="load")
    for item in (baseline, run):
        names = item.points["tag.name"].astype("object")
        item.points["tag.name"] = names.where(names != "GET /api/stats", payload)
        item.points["tag.name"] = item.points["tag.name"].astype("category")
    run.name = f"<b>load</b>|{payload}"
    metadata = ReportMetadata(
        branch=f'<script src="http://127.0.0.1:{port}/s.js"></script>',
        environment=f"<link rel=stylesheet href=http://127.0.0.1:{port}/c.css>",
        date="2026-01-15",
    )
    return build_report(baseline, [run], metadata=metadata), payload


def test_pdf_pages_text_and_images(sample_report):
    reader = PdfReader(io.BytesIO(render_pdf(sample_report)))
    assert len(reader.pages) >= 3
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in (
        "Staging Performance Report",
        "Executive summary",
        "Results summary",
        "Sign-off",
        f"Page 1 of {len(reader.pages)}",
    ):
        assert expected in text
    # weasyprint shares one resource dictionary between pages, so count distinct images.
    images = len({image.data for page in reader.pages for image in page.images})
    expected_charts = sum(
        1 for chart in sample_report.charts if chart.figure is not None
    )
    assert images == expected_charts


def test_pdf_embeds_fonts(sample_report):
    reader = PdfReader(io.BytesIO(render_pdf(sample_report)))
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            descriptor = font.get_object()["/DescendantFonts"][0].get_object()[
                "/FontDescriptor"
            ]
            assert "/FontFile2" in descriptor or "/FontFile3" in descriptor
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("DejaVu" in name for name in fonts)


def test_hostile_values_inert_in_pdf(http_server):
    report, _ = hostile_report(http_server.server_address[1])
    pdf = render_pdf(report)
    assert _RecordingHandler.requests == []
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "<img" in text.replace("\n", "")


def test_hostile_values_escaped_in_html(http_server):
    report, _ = hostile_report(http_server.server_address[1])
    html = render_html(report)
    assert '<img src="http://127.0.0.1' not in html
    assert "<script" not in html
    assert "<b>load</b>" not in html
    assert "&lt;img src=&#34;http://127.0.0.1" in html


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_hostile_values_escaped_in_markdown(tmp_path):
    report, _ = hostile_report(9)
    text = render_markdown(report, tmp_path / "r_charts")
    escaped = (
        '&lt;img src="http&#58;//127.0.0.1:9/x"&gt; \\| \\`tick\\` # '
        "\\[a\\](http&#58;//127.0.0.1:9/l)"
    )
    assert escaped in text
    assert "<img" not in text
    assert "<script" not in text
    assert "](http://" not in text

    # Every table row keeps its header's column count despite the pipes in the payload.
    lines = text.splitlines()
    hostile_rows = 0
    for i, line in enumerate(lines):
        if not line.startswith("|---"):
            continue
        columns = unescaped_pipes(lines[i - 1])
        for row in lines[i + 1 :]:
            if not row.startswith("|"):
                break
            assert unescaped_pipes(row) == columns, row
            hostile_rows += "&lt;img" in row
    assert hostile_rows >= 2
    assert not any(line.startswith("#") and "tick" in line for line in lines)


def test_html_is_self_contained(sample_report):
    html = render_html(sample_report)
    assert "data:image/png;base64," in html
    assert "http://" not in html.split("<body>", 1)[1]


def test_fetcher_rejects_network_and_outside_files(http_server, tmp_path):
    import urllib.request

    from perfreport.render.pdf import FetchRejected, local_url_fetcher

    port = http_server.server_address[1]
    urllib.request.urlopen(f"http://127.0.0.1:{port}/probe", timeout=5).close()
    assert _RecordingHandler.requests == ["/probe"]
    root = tmp_path / "report"
    root.mkdir()
    (root / "chart.png").write_bytes(b"\x89PNG")
    (tmp_path / "secret.txt").write_text("secret")
    fetcher = local_url_fetcher(root)
    for url in (
        f"http://127.0.0.1:{port}/x",
        (tmp_path / "secret.txt").as_uri(),
        (root / ".." / "secret.txt").as_uri(),
    ):
        with pytest.raises(FetchRejected):
            fetcher(url)
    assert _RecordingHandler.requests == ["/probe"]
    assert fetcher((root / "chart.png").as_uri()).read() == b"\x89PNG"


def test_raw_html_image_never_fetched(http_server, tmp_path):
    import weasyprint

    from perfreport.render.pdf import local_url_fetcher

    port = http_server.server_address[1]
    html = f'<p>x</p><img src="http://127.0.0.1:{port}/raw.png">'
    document = weasyprint.HTML(
        string=html,
        base_url=tmp_path.as_uri() + "/",
        url_fetcher=local_url_fetcher(tmp_path),
    )
    document.write_pdf()
    assert _RecordingHandler.requests == []
