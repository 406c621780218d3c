"""Comparison of candidate runs with a baseline, on the shipped sample runs."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from golden_files import assert_matches_golden
from perfreport.analysis.compare import compare
from perfreport.analysis.summary import lookup, summarize
from perfreport.cli import app
from perfreport.ingest import load

SAMPLE = Path(__file__).parent.parent / "sample_data"


@pytest.fixture(scope="module")
def baseline_run():
    return load(SAMPLE / "baseline.json.gz", cache=False)


@pytest.fixture(scope="module")
def stress_run():
    return load(SAMPLE / "stress.json.gz", cache=False)


def row(frame, metric, statistic, endpoint=""):
    found = frame[(frame["metric"] == metric) & (frame["statistic"] == statistic) & (frame["endpoint"] == endpoint)]
    assert len(found) == 1, (metric, statistic, endpoint, len(found))
    return found.iloc[0]


def test_compare_change_ratio_direction(baseline_run, stress_run):
    comparison = compare(baseline_run, stress_run, significance=False)
    frame = comparison.frame
    base = summarize(baseline_run)
    cand = summarize(stress_run)
    p95 = row(frame, "http_req_duration", "p(95)")
    expected_base = lookup(base, "http_req_duration", "p(95)")
    expected_cand = lookup(cand, "http_req_duration", "p(95)")
    assert p95["baseline"] == expected_base
    assert p95["candidate"] == expected_cand
    assert p95["change"] == pytest.approx(expected_cand - expected_base, rel=1e-12)
    assert p95["change_pct"] == pytest.approx((expected_cand / expected_base - 1) * 100, rel=1e-9)
    assert p95["ratio"] == pytest.approx(expected_cand / expected_base, rel=1e-12)
    assert bool(p95["lower_is_better"]) is True
    assert p95["direction"] == "better"
    throughput = row(frame, "http_reqs", "rate")
    assert bool(throughput["lower_is_better"]) is False
    assert throughput["ratio"] == pytest.approx(
        lookup(cand, "http_reqs", "rate") / lookup(base, "http_reqs", "rate"), rel=1e-12
    )


def test_compare_per_endpoint_rows(baseline_run, stress_run):
    frame = compare(baseline_run, stress_run, significance=False).frame
    endpoints = set(frame.loc[frame["metric"] == "http_req_duration", "endpoint"])
    assert {"", "GET /api/stats", "GET /api/risks", "GET /api/stats/risk-matrix", "GET /api/stats/trends"} <= endpoints


def test_compare_extra_percentile(baseline_run, stress_run):
    frame = compare(baseline_run, stress_run, stats=["p(99.9)"], significance=False).frame
    value = row(frame, "http_req_duration", "p(99.9)")["candidate"]
    values = stress_run.points.loc[stress_run.points["metric"] == "http_req_duration", "value"].to_numpy()
    import numpy as np

    assert value == pytest.approx(float(np.quantile(values, 0.999)), rel=1e-12)


def test_compare_runbook_baseline_aligns_paths(stress_run):
    baseline = load(SAMPLE / "baseline_metrics.json")
    comparison = compare(baseline, stress_run, significance=False)
    frame = comparison.frame
    stats_row = row(frame, "http_req_duration", "avg", "GET /api/stats")
    doc = json.loads((SAMPLE / "baseline_metrics.json").read_text())
    assert stats_row["baseline"] == doc["metrics"]["response_times"]["stats_single_user_ms"]
    # Statistics a baseline file lacks are listed, not dropped silently.
    missing = comparison.not_compared
    assert ((missing["metric"] == "http_req_duration") & (missing["statistic"] == "p(95)")).any()
    assert set(frame["verdict"]) == {"untested"}


def test_compare_metric_in_one_run_only(baseline_run, stress_run):
    comparison = compare(baseline_run, stress_run, significance=False)
    only = comparison.not_compared
    assert not only.empty or set(comparison.frame["metric"]) >= {"http_req_duration"}
    for reason in only["reason"]:
        assert reason.startswith("only in")


def test_cli_compare_golden_table():
    result = CliRunner().invoke(
        app, ["compare", str(SAMPLE / "baseline.json.gz"), str(SAMPLE / "stress.json.gz")]
    )
    assert result.exit_code == 0, result.output
    assert_matches_golden("compare_baseline_stress.txt", result.stdout)


def test_cli_compare_json_rows():
    result = CliRunner().invoke(
        app, ["compare", str(SAMPLE / "baseline.json.gz"), str(SAMPLE / "stress.json.gz"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["format"] == "perfreport-compare/1"
    p95 = [r for r in doc["rows"] if r["metric"] == "http_req_duration" and r["statistic"] == "p(95)" and r["endpoint"] == ""]
    assert len(p95) == 1
    for key in ("baseline", "candidate", "change_pct", "ratio", "verdict", "ci_low_pct", "ci_high_pct", "method"):
        assert key in p95[0]


def test_cli_compare_markdown_escapes_hostile_names(tmp_path):
    hostile = 'GET /x|y`<script>alert(1)</script>\nnext'
    lines = []
    for index, value in enumerate((5.0, 6.0, 7.0)):
        tags = {"name": hostile, "method": "GET", "url": "http://127.0.0.1/x"}
        lines.append(json.dumps({"metric": "http_req_duration", "type": "Point",
                                 "data": {"time": f"2026-01-01T00:00:0{index}Z", "value": value, "tags": tags}}))
    metric = json.dumps({"type": "Metric", "metric": "http_req_duration",
                         "data": {"name": "http_req_duration", "type": "trend", "contains": "time",
                                  "thresholds": [], "submetrics": None}})
    path = tmp_path / "hostile.json"
    path.write_text(metric + "\n" + "\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["compare", str(path), str(path), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert "<script>" not in result.stdout
    assert "&lt;script&gt;" in result.stdout
    table_lines = [line for line in result.stdout.splitlines() if line.startswith("|") and "x\\|y" in line]
    assert table_lines, result.stdout
    for line in table_lines:
        assert line.count(" | ") == 9
    # The newline inside the tag value never starts a new line of output.
    assert not any(line.startswith("next") for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--confidence", "120%"], "--confidence '120%' is out of range"),
        (["--min-effect", "abc"], "invalid value 'abc' for --min-effect"),
        (["--stat", "p(101)"], "invalid trend statistic 'p(101)'"),
        (["--correction", "bonferroni"], "invalid --correction 'bonferroni'"),
    ],
)
def test_cli_compare_rejects_bad_options(args, message):
    result = CliRunner().invoke(
        app, ["compare", str(SAMPLE / "baseline.json.gz"), str(SAMPLE / "stress.json.gz"), *args]
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_cli_compare_missing_file(tmp_path):
    missing = tmp_path / "nope.json"
    result = CliRunner().invoke(app, ["compare", str(missing), str(SAMPLE / "stress.json.gz")])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {missing}: file not found; check the path\n"


def test_compare_warns_when_scenarios_differ(baseline_run, stress_run):
    comparison = compare(baseline_run, stress_run, significance=True)
    messages = [w.message for w in comparison.warnings if w.code.startswith("not-comparable") or "scenarios differ" in w.message]
    assert any("scenarios differ" in message for message in messages)
    assert any("'stress'" in message for message in messages)
