"""Bad input through the command line: one clear message, exit status 2, no traceback."""

import gzip
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfreport.cli import app

SAMPLE = Path(__file__).parent.parent / "sample_data"
K6_DATA = Path(__file__).parent / "data" / "k6"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def stress_lines(count):
    return gzip.decompress((SAMPLE / "stress.json.gz").read_bytes()).decode().splitlines()[:count]


def assert_clean_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr


def test_empty_file(tmp_path):
    path = tmp_path / "empty.json"
    path.write_bytes(b"")
    assert_clean_error(invoke("summary", path), f"{path}: file is empty")


def test_line_not_json_names_line(tmp_path):
    lines = stress_lines(200)
    lines[50] = "{not json"
    path = tmp_path / "bad.json"
    path.write_text("\n".join(lines) + "\n")
    assert_clean_error(invoke("compare", path, SAMPLE / "stress.json.gz"), f"{path}:51: line is not JSON", "--skip-bad-lines")


def test_skip_bad_lines_keeps_the_rest(tmp_path):
    lines = stress_lines(200)
    lines[50] = "{not json"
    path = tmp_path / "bad.json"
    path.write_text("\n".join(lines) + "\n")
    result = invoke("summary", path, "--format", "json", "--skip-bad-lines")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rows = doc["rows"]
    kept = sum(1 for line in lines if '"type":"Point"' in line and '"metric":"http_reqs"' in line)
    counts = [r["value"] for r in rows if r["metric"] == "http_reqs" and r["statistic"] == "count" and r["endpoint"] == ""]
    assert counts == [kept]
    assert doc["ingest"]["lines_skipped"] == 1
    assert doc["ingest"]["bad_lines"][0]["line"] == 51
    assert any("51" in warning["message"] for warning in doc["warnings"])


def test_truncated_last_line_kept_and_reported():
    path = K6_DATA / "truncated-last-line.ndjson"
    result = invoke("summary", path, "--format", "text")
    assert result.exit_code == 0, result.output
    assert ":37" in result.stdout
    assert "truncated" in result.stdout


def test_cut_gzip_stream_read():
    path = K6_DATA / "gzip-cut-before-trailer.ndjson.gz"
    result = invoke("summary", path, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    count = [r["value"] for r in rows if r["metric"] == "http_reqs" and r["statistic"] == "count" and r["endpoint"] == ""]
    assert count == [10]


def test_binary_file(tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(os.urandom(2048) + b"\x00")
    assert_clean_error(invoke("summary", path), f"{path}: file is binary")


def test_prometheus_response_as_run():
    path = next((SAMPLE / "prometheus" / "load").glob("*.json"))
    assert_clean_error(invoke("compare", path, SAMPLE / "stress.json.gz"), "Prometheus HTTP API response", "perfreport prometheus --response")


def test_run_without_samples(tmp_path):
    path = tmp_path / "nothing.json"
    metric = {"type": "Metric", "metric": "http_req_duration",
              "data": {"name": "http_req_duration", "type": "trend", "contains": "time", "thresholds": [], "submetrics": None}}
    path.write_text(json.dumps(metric) + "\n")
    assert_clean_error(invoke("compare", path, SAMPLE / "stress.json.gz"), "the run has no samples")


def test_trend_without_samples_says_so(tmp_path):
    lines = stress_lines(400)
    metric = {"type": "Metric", "metric": "login_duration",
              "data": {"name": "login_duration", "type": "trend", "contains": "time", "thresholds": [], "submetrics": None}}
    path = tmp_path / "run.json"
    path.write_text("\n".join(lines + [json.dumps(metric)]) + "\n")
    result = invoke("summary", path)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("login_duration:"))
    assert "p(95)=no samples" in line
    assert "0 ms" not in line


def test_metric_in_one_run_only_listed(tmp_path):
    result = invoke("compare", SAMPLE / "baseline.json.gz", SAMPLE / "stress.json.gz", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    reasons = {(row["metric"], row["reason"]) for row in doc["not_compared"]}
    assert ("cache_hits", "only in stress") in reasons


def test_directory_given(tmp_path):
    assert_clean_error(invoke("summary", tmp_path), "is a directory")


@pytest.mark.parametrize("stat", ["p(x)", "p(100.5)", "mean"])
def test_summary_bad_stat(stat):
    assert_clean_error(invoke("summary", SAMPLE / "stress.json.gz", "--stat", stat), f"invalid trend statistic {stat!r}")


@pytest.mark.parametrize("command", ["compare", "summary", "ingest"])
def test_named_pipe_rejected_before_reading(tmp_path, command):
    # Opening a FIFO with no writer would block, so the check must come first.
    fifo = tmp_path / "run.json"
    os.mkfifo(fifo)
    args = {
        "compare": ["compare", str(fifo), str(SAMPLE / "stress.json.gz")],
        "summary": ["summary", str(fifo)],
        "ingest": ["ingest", str(fifo), "-o", str(tmp_path / "out.parquet")],
    }[command]

    result = invoke(*args)

    assert_clean_error(result, str(fifo), "not a regular file", "save the data to a file")
