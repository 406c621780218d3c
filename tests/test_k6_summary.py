"""Readers of k6's summary files and of baseline files."""

import json
import math
from pathlib import Path

import pytest

from perfreport.analysis.key_figures import key_figures
from perfreport.analysis.summary import lookup, summarize
from perfreport.analysis.thresholds import evaluate_thresholds, thresholds_passed
from perfreport.errors import FormatVersionError, InputError
from perfreport.ingest.baseline import write_baseline
from perfreport.ingest.k6_summary import read_summary_document

DATA = Path(__file__).parent / "data" / "summary"
SAMPLE = Path(__file__).parent.parent / "sample_data"


def read(path: Path, kind: str):
    return read_summary_document(path, json.loads(path.read_text()), kind, path.stem)


def test_export_threshold_true_means_failed():
    run = read(DATA / "summary-export-threshold-failed.json", "k6-summary-export")
    assert run.k6_thresholds["http_req_duration"] == {"p(95)<500": False, "p(90)<800": True}
    assert run.k6_thresholds["http_req_failed"] == {"rate<0.01": False}
    assert run.k6_thresholds["http_reqs"] == {"count>1000": True}
    results = {(r.metric, r.expression): r for r in evaluate_thresholds(run)}
    assert results[("http_req_duration", "p(95)<500")].ok is False
    assert results[("http_req_duration", "p(95)<500")].observed == pytest.approx(612.38805, rel=1e-12)
    assert results[("http_req_duration", "p(90)<800")].ok is True
    assert results[("http_req_failed", "rate<0.01")].ok is False
    assert results[("http_req_failed", "rate<0.01")].observed == pytest.approx(0.0108333, rel=1e-5)
    assert results[("http_reqs", "count>1000")].ok is True
    failed = [r for r in results.values() if r.ok is False]
    assert len(failed) == 2
    assert not thresholds_passed(list(results.values()))
    # perfreport's verdict from the numbers agrees with k6's recorded verdict.
    for result in results.values():
        assert result.ok == result.k6_ok


def test_export_rate_share_under_value():
    run = read(DATA / "summary-export-threshold-failed.json", "k6-summary-export")
    assert lookup(run.statistics, "checks", "rate") == pytest.approx(0.9891666666666666, rel=1e-12)
    assert lookup(run.statistics, "checks", "value") is None


def test_http_req_failed_passes_are_failures():
    run = read(DATA / "summary-export-failed-requests.json", "k6-summary-export")
    figures = key_figures(run)
    assert figures.failed_requests == 6
    assert figures.requests == 400
    assert figures.error_rate == pytest.approx(0.015, rel=1e-12)
    assert figures.checks_passed == 394
    assert figures.checks_failed == 6
    assert figures.check_rate == pytest.approx(0.985, rel=1e-12)
    assert run.checks["passes"].sum() == 394
    assert run.checks["fails"].sum() == 6


def test_handle_summary_duration_and_ok_thresholds():
    path = SAMPLE / "stress.handle-summary.json"
    doc = json.loads(path.read_text())
    run = read(path, "k6-handle-summary")
    assert run.duration_s == pytest.approx(doc["state"]["testRunDurationMs"] / 1000, rel=1e-12)
    for name, body in doc["metrics"].items():
        for expression, state in (body.get("thresholds") or {}).items():
            assert run.k6_thresholds[name][expression] is state["ok"]
    p95 = doc["metrics"]["http_req_duration"]["values"]["p(95)"]
    assert lookup(run.statistics, "http_req_duration", "p(95)") == p95


def test_handle_summary_name_submetric_is_endpoint():
    path = SAMPLE / "stress.handle-summary.json"
    doc = json.loads(path.read_text())
    named = [n for n in doc["metrics"] if n.startswith("http_req_duration{name:")]
    assert named, "the sample run declares a threshold on a named endpoint"
    endpoint = named[0][len("http_req_duration{name:"):-1]
    run = read(path, "k6-handle-summary")
    expected = doc["metrics"][named[0]]["values"]["p(95)"]
    assert lookup(run.statistics, "http_req_duration", "p(95)", endpoint) == expected


def test_machine_summary_v1():
    run = read(DATA / "machine-summary-v1.json", "k6-machine-summary")
    assert run.duration_s == 30.0
    assert run.info["k6_version"] == "1.1.0"
    assert lookup(run.statistics, "http_req_duration", "p(95)") == 77.7
    assert lookup(run.statistics, "http_req_duration", "p(95)", "GET /api/stats") == 37.7
    assert lookup(run.statistics, "http_req_failed", "rate") == 0.02
    assert run.checks["passes"].tolist() == [882]


def test_machine_summary_unknown_version(tmp_path):
    doc = json.loads((DATA / "machine-summary-v1.json").read_text())
    doc["version"] = "2.0.0"
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as raised:
        read_summary_document(path, doc, "k6-machine-summary", "x")
    assert "version '2.0.0' is not supported" in str(raised.value)
    assert str(path) in str(raised.value)


def test_export_non_numeric_statistic(tmp_path):
    path = tmp_path / "bad.json"
    doc = {"root_group": {}, "metrics": {"http_req_duration": {"avg": "fast"}}}
    with pytest.raises(InputError) as raised:
        read_summary_document(path, doc, "k6-summary-export", "bad")
    assert "metrics.http_req_duration.avg is 'fast', not a number" in str(raised.value)


def test_runbook_baseline_rows():
    path = SAMPLE / "baseline_metrics.json"
    doc = json.loads(path.read_text())
    run = read(path, "baseline-runbook")
    times = doc["metrics"]["response_times"]
    assert lookup(run.statistics, "http_req_duration", "avg", "/api/stats") == times["stats_single_user_ms"]
    assert lookup(run.statistics, "http_req_duration", "avg", "/api/stats/risk-matrix") == times["risk_matrix_single_user_ms"]
    assert lookup(run.statistics, "http_req_duration", "avg") == times["average_ms"]
    rps = doc["metrics"]["concurrent_performance"]["requests_per_second"]
    assert lookup(run.statistics, "http_reqs", "rate") == rps
    connections = doc["metrics"]["resource_usage"]["database_connections"]
    assert lookup(run.statistics, "db_connections", "value") == connections


def test_runbook_baseline_bad_number(tmp_path):
    path = tmp_path / "baseline_metrics.json"
    doc = {"metrics": {"response_times": {"stats_single_user_ms": "12ms"}}}
    with pytest.raises(InputError) as raised:
        read_summary_document(path, doc, "baseline-runbook", "b")
    message = str(raised.value)
    assert "metrics.response_times.stats_single_user_ms is '12ms', not a finite number" in message
    assert "fix the value in the baseline file" in message


def test_perfreport_baseline_round_trip(tmp_path):
    source = read(SAMPLE / "stress.handle-summary.json", "k6-handle-summary")
    frame = summarize(source)
    path = tmp_path / "baseline.json"
    write_baseline(source, frame, path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "perfreport-baseline/1"
    again = read(path, "baseline-perfreport")
    assert again.duration_s == source.duration_s
    merged = frame.merge(again.statistics, on=["metric", "endpoint", "statistic"], suffixes=("", "_again"))
    assert len(merged) == len(frame)
    for row in merged.itertuples():
        assert row.value == row.value_again or (math.isnan(row.value) and math.isnan(row.value_again))


def test_perfreport_baseline_unknown_version(tmp_path):
    path = tmp_path / "baseline.json"
    doc = {"format": "perfreport-baseline/9", "statistics": []}
    with pytest.raises(FormatVersionError) as raised:
        read_summary_document(path, doc, "baseline-perfreport", "b")
    assert "'perfreport-baseline/9' is not supported" in str(raised.value)
