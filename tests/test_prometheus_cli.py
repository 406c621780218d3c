"""``perfreport prometheus``, ``redis-hit-rate`` and ``memory-trend`` through CliRunner."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from perfreport.cli import app
from perfreport.ingest.prometheus import STAGING_PRESET, read_prometheus_parquet

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_error_response_file(tmp_path):
    path = DATA / "prometheus" / "bad-query-error.json"
    result = runner.invoke(
        app, ["prometheus", "--response", str(path), "-o", str(tmp_path / "o.parquet")]
    )

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path}: the saved response is an error: bad_data: invalid parameter "
        "\"query\": 1:6: parse error: unexpected right parenthesis ')'; "
        "fix the query and save the response again\n"
    )
    assert not (tmp_path / "o.parquet").exists()


def test_non_json_file(tmp_path):
    path = DATA / "prometheus" / "proxy-error-page.html"
    result = runner.invoke(
        app, ["prometheus", "--response", str(path), "-o", str(tmp_path / "o.parquet")]
    )

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path}:1: not JSON (Expecting value at column 1); "
        "save the API response with `curl ... | jq .`\n"
    )


def test_unreachable_url(tmp_path):
    port = _closed_port()
    result = runner.invoke(
        app,
        ["prometheus", "--url", f"http://127.0.0.1:{port}", "--start", "1767607200",
         "--end", "1767607500", "--retries", "0", "-o", str(tmp_path / "o.parquet")],
    )  # fmt: skip

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: http://127.0.0.1:{port}/api/v1/query_range: request failed after 0 "
        "retries: Connection refused; check --url and that Prometheus is running\n"
    )


def test_url_and_response_exclusive(tmp_path):
    result = runner.invoke(app, ["prometheus", "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 2
    assert (
        result.stderr == "Error: give either --url or --response, not both or neither\n"
    )


def test_url_needs_window(tmp_path):
    result = runner.invoke(
        app,
        [
            "prometheus",
            "--url",
            "http://127.0.0.1:9",
            "-o",
            str(tmp_path / "o.parquet"),
        ],
    )
    assert result.exit_code == 2
    assert (
        result.stderr == "Error: --url needs --start and --end, or --window-from RUN\n"
    )


def test_saved_responses_to_parquet(tmp_path):
    out = tmp_path / "saved.parquet"
    result = runner.invoke(
        app,
        ["prometheus", "-o", str(out),
         "--response", f"latency={DATA / 'prometheus' / 'avg-latency-with-nan-gap.json'}",
         "--response", f"rps={DATA / 'prometheus' / 'empty-matrix.json'}",
         "--start", "1717236000", "--end", "1717236705"],
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"wrote 47 points in 1 series from 2 queries to {out}\n"
    assert result.stderr == (
        "Warning: no data for rps from 2024-06-01T10:00:00Z to 2024-06-01T10:11:45Z\n"
    )
    frame = read_prometheus_parquet(out).frame
    assert frame["query"].unique().tolist() == ["latency"]


@pytest.mark.prometheus
def test_preset_from_real_server(prometheus_server, tmp_path):
    data = prometheus_server
    out = tmp_path / "frame.parquet"
    result = runner.invoke(
        app,
        ["prometheus", "--url", data.url, "--start", str(data.start_s),
         "--end", str(data.end_s), "--step", "15", "-o", str(out)],
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    frame = read_prometheus_parquet(out)
    assert set(frame.frame["query"]) == set(STAGING_PRESET)
    meta = json.loads(pq.read_schema(out).metadata[b"perfreport"])
    assert meta["format"] == "perfreport-prometheus/1"
    assert meta["url"] == data.url
    assert meta["queries"] == STAGING_PRESET
    assert meta["step_s"] == 15
    assert meta["start"] == datetime.fromtimestamp(
        data.start_s, timezone.utc
    ).isoformat().replace("+00:00", "Z")
    # Three p95 and three rate series (one per handler), one each for the hit
    # ratio, connections and Redis memory, and two RSS series.
    series = frame.frame.groupby(["query", "labels"]).ngroups
    assert result.stdout == (
        f"wrote {len(frame.frame)} points in {series} series from 6 queries to {out}\n"
    )
    assert series == 11


@pytest.mark.prometheus
def test_insecure_prints_warning(prometheus_server, tmp_path):
    data = prometheus_server
    result = runner.invoke(
        app,
        ["prometheus", "--url", data.url, "--start", str(data.start_s),
         "--end", str(data.start_s + 60), "--step", "15", "--insecure",
         "--query", "conn=db_connections_active", "-o", str(tmp_path / "o.parquet")],
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "Warning: TLS certificate verification is off (--insecure)\n"
    )
    assert result.stdout.startswith("wrote 5 points in 1 series from 1 queries")


@pytest.mark.prometheus
def test_window_from_k6_run(prometheus_server, tmp_path):
    data = prometheus_server
    first = datetime.fromtimestamp(data.start_s + 600, timezone.utc)
    last = datetime.fromtimestamp(data.start_s + 1200, timezone.utc)
    run = tmp_path / "run.json"
    lines = [
        {"type": "Metric", "metric": "http_reqs",
         "data": {"name": "http_reqs", "type": "counter", "contains": "default",
                  "thresholds": [], "submetrics": None}},
        {"type": "Point", "metric": "http_reqs",
         "data": {"time": last.isoformat(), "value": 1, "tags": {"name": "a"}}},
        {"type": "Point", "metric": "http_reqs",
         "data": {"time": first.isoformat(), "value": 1, "tags": {"name": "a"}}},
    ]  # fmt: skip
    run.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "frame.parquet"
    result = runner.invoke(
        app,
        ["prometheus", "--url", data.url, "--window-from", str(run), "--step", "15",
         "--query", "conn=db_connections_active", "-o", str(out)],
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    frame = read_prometheus_parquet(out)
    assert frame.start == first
    assert frame.end == last
    assert len(frame.frame) == 600 // 15 + 1


@pytest.mark.prometheus
def test_memory_trend_command(prometheus_server, tmp_path):
    data = prometheus_server
    out = tmp_path / "frame.parquet"
    runner.invoke(
        app,
        ["prometheus", "--url", data.url, "--start", str(data.start_s),
         "--end", str(data.end_s), "--step", "15", "-o", str(out),
         "--query", "process_resident_memory_bytes=process_resident_memory_bytes"],
    )  # fmt: skip
    result = runner.invoke(app, ["memory-trend", str(out)])

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        'process_resident_memory_bytes{instance="leaky"}: leak, +'
    )
    assert lines[1].startswith(
        'process_resident_memory_bytes{instance="steady"}: no leak, '
    )


def test_redis_hit_rate_command():
    before = DATA / "redis" / "stats-before.txt"
    after = DATA / "redis" / "stats-after.txt"
    result = runner.invoke(app, ["redis-hit-rate", str(before), str(after)])

    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout == "hit rate (window): 88.46 % (93100 hits of 105242 lookups)\n"
    )


def test_redis_hit_rate_after_restart():
    before = DATA / "redis" / "stats-before.txt"
    after = DATA / "redis" / "stats-after-restart.txt"
    result = runner.invoke(app, ["redis-hit-rate", str(before), str(after)])

    assert result.exit_code == 0
    assert (
        result.stdout == "hit rate: none (counters were reset between the snapshots)\n"
    )
    assert "keyspace_misses went down from 14870 to 9870" in result.stderr
