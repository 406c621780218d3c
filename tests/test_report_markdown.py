"""The Markdown report of the shipped sample runs against a golden file."""

from __future__ import annotations

from pathlib import Path

import pytest
from golden_files import assert_matches_golden

from perfreport.analysis.criteria import load_criteria
from perfreport.ingest import load
from perfreport.ingest.prometheus import read_prometheus_response
from perfreport.render.markdown import write_markdown
from perfreport.reporting import ReportMetadata, build_report, server_data

REPO = Path(__file__).resolve().parent.parent
FIXED = ReportMetadata(
    environment="staging", branch="release/demo", version="0.0.0-test",
    date="2026-01-15", generator="perfreport (test build)",
)  # fmt: skip


@pytest.fixture(scope="module")
def sample_report():
    # Relative paths keep the inputs table the same on every machine.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        baseline = load("sample_data/baseline.json.gz", name="baseline")
        runs = [
            load(f"sample_data/{name}.json.gz", name=name)
            for name in ("load", "stress", "spike")
        ]
        criteria = load_criteria("sample_data/staging-criteria.toml")
        prometheus = [
            read_prometheus_response(path)
            for path in sorted(Path("sample_data/prometheus").glob("*/*.json"))
        ]
        server = server_data(baseline, runs, prometheus=prometheus)
        return build_report(
            baseline, runs, criteria=criteria, server=server, metadata=FIXED
        )


def test_markdown_matches_golden(sample_report, tmp_path):
    path = write_markdown(sample_report, tmp_path / "report.md")
    assert_matches_golden("staging_report.md", path.read_text(encoding="utf-8"))


def test_markdown_charts_written_beside(sample_report, tmp_path):
    path = write_markdown(sample_report, tmp_path / "STAGING.md")
    text = path.read_text(encoding="utf-8")
    charts = sorted((tmp_path / "STAGING_charts").glob("*.png"))
    assert charts, "no chart files written"
    for chart in charts:
        assert f"](STAGING_charts/{chart.name})" in text
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_has_runbook_sections(sample_report, tmp_path):
    text = write_markdown(sample_report, tmp_path / "r.md").read_text(encoding="utf-8")
    for heading in (
        "## Executive summary", "## Results summary", "### 1. Response time analysis",
        "### 2. Cache effectiveness", "### 3. Database impact", "### 4. System resources",
        "### 5. Reliability", "## Recommendations", "## Monitoring recommendations",
        "## Sign-off", "## Methods",
    ):  # fmt: skip
        assert heading in text


def test_missing_server_data_says_so(tmp_path):
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        run = load("sample_data/load.json.gz", name="load")
    report = build_report(None, [run], metadata=FIXED, charts=False)
    text = write_markdown(report, tmp_path / "r.md").read_text(encoding="utf-8")
    for heading in ("### 3. Database impact", "### 4. System resources"):
        section = text.split(heading, 1)[1].split("###", 1)[0].strip()
        assert section.startswith("No data:")
        assert len(section.splitlines()) == 1
    response = text.split("### 1. Response time analysis", 1)[1].split("###", 1)[0]
    assert "No data: no baseline was given" in response
    assert "No criteria file was given." in text
