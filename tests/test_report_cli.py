"""``perfreport report`` from options and from a report config file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfreport.cli import app

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
runner = CliRunner()


@pytest.fixture()
def project(tmp_path):
    """A folder like a team's repo: runs, criteria and a report config."""
    for name in ("baseline.json.gz", "load.json.gz", "staging-criteria.toml"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    shutil.copytree(SAMPLES / "prometheus" / "load", tmp_path / "prometheus-load")
    (tmp_path / "report.toml").write_text(
        'title = "Release 2.4 staging report"\n'
        'criteria = "staging-criteria.toml"\n'
        'output = "out/REPORT.md"\n'
        "[metadata]\n"
        'environment = "staging"\n'
        'branch = "release/2.4"\n'
        "[baseline]\n"
        'path = "baseline.json.gz"\n'
        "[[run]]\n"
        'name = "load"\n'
        'path = "load.json.gz"\n'
        "[server]\n"
        'prometheus = ["prometheus-load"]\n',
        encoding="utf-8",
    )
    (tmp_path / "out").mkdir()
    return tmp_path


def test_report_from_config(project):
    result = runner.invoke(app, ["report", "--config", str(project / "report.toml")])
    assert result.exit_code == 0, result.output
    text = (project / "out" / "REPORT.md").read_text(encoding="utf-8")
    assert text.startswith("# Release 2.4 staging report")
    assert "| Branch | release/2.4 |" in text
    assert "prometheus-load" in text
    assert list((project / "out" / "REPORT_charts").glob("*.png"))


def test_options_override_config(project):
    result = runner.invoke(
        app,
        ["report", "--config", str(project / "report.toml"), "--branch", "hotfix/1",
         "--format", "json", "-o", str(project / "verdict.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads((project / "verdict.json").read_text(encoding="utf-8"))
    assert document["metadata"]["branch"] == "hotfix/1"
    assert document["format_version"] == 1
    assert {row["verdict"] for row in document["criteria"]} <= {
        "PASS",
        "FAIL",
        "NO DATA",
    }
    assert document["runs"] == ["load"]


def test_report_pdf_from_options(project):
    output = project / "report.pdf"
    result = runner.invoke(
        app,
        ["report", "--baseline", str(project / "baseline.json.gz"),
         "--run", f"load={project / 'load.json.gz'}", "--criteria",
         str(project / "staging-criteria.toml"), "--date", "2026-01-15", "-o", str(output)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(b"%PDF-")


def test_report_markdown_to_stdout(project):
    result = runner.invoke(
        app,
        ["report", "--run", f"load={project / 'load.json.gz'}", "--format", "markdown"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Staging Performance Report")


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        ('titel = "x"\n', ":1: unknown top-level key 'titel'"),
        ('format = "docx"\n', ":1: invalid format 'docx'"),
        ("[baseline]\nname = 'b'\n", ":1: baseline needs a path"),
    ],
)
def test_bad_config_exit_2(tmp_path, config_text, message):
    path = tmp_path / "report.toml"
    path.write_text(config_text, encoding="utf-8")
    result = runner.invoke(app, ["report", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}")
    assert message in result.stderr


def test_report_needs_a_run():
    result = runner.invoke(app, ["report", "--format", "json"])
    assert result.exit_code == 2
    assert "no runs given" in result.stderr


def test_pdf_needs_output(project):
    result = runner.invoke(
        app, ["report", "--run", str(project / "load.json.gz"), "-f", "pdf"]
    )
    assert result.exit_code == 2
    assert "--output" in result.stderr


def test_redis_snapshots_give_hit_ratio(project, redis_server):
    # 3 hits and 1 miss between the two INFO snapshots: a 75 % hit ratio.
    redis_server.cli("SET", "perfreport:report-test", "1")
    before = project / "redis-before.txt"
    before.write_text(redis_server.cli("INFO"), encoding="utf-8")
    for _ in range(3):
        redis_server.cli("GET", "perfreport:report-test")
    redis_server.cli("GET", "perfreport:absent-key")
    after = project / "redis-after.txt"
    after.write_text(redis_server.cli("INFO"), encoding="utf-8")

    output = project / "verdict.json"
    result = runner.invoke(
        app,
        ["report", "--run", f"load={project / 'load.json.gz'}", "--redis-before",
         str(before), "--redis-after", str(after), "-o", str(output)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    cache = json.loads(output.read_text(encoding="utf-8"))["cache"]
    (redis_row,) = [row for row in cache if row["label"] == "Redis keyspace hit ratio"]
    assert redis_row["value"] == "75.00 %"
    assert redis_row["run"] == "all runs"


def test_redis_after_needs_before(project):
    result = runner.invoke(
        app,
        ["report", "--run", str(project / "load.json.gz"), "--redis-after",
         str(project / "load.json.gz")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--redis-after needs --redis-before" in result.stderr
