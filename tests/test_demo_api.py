"""Tests of the demo API in sample_data/ and of one short real k6 run against it."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from fixtures.k6 import DEMO_API_SCRIPT, run_k6, start_demo_api, stop_process

DASHBOARD_PATHS = (
    "/api/stats",
    "/api/risks",
    "/api/stats/risk-matrix",
    "/api/stats/trends",
)
SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def request(
    url: str, method: str = "GET", body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send one request and return (status, headers, body), also for 4xx responses."""
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def timed_get_ms(url: str) -> tuple[float, str]:
    started = time.perf_counter()
    status, headers, _ = request(url)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert status == 200
    return elapsed_ms, headers["X-Cache-Hit"]


def parse_metrics(text: str) -> dict[str, float]:
    """Map each sample line's name with labels to its value; fail on a malformed line."""
    samples: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        match = SAMPLE_LINE.match(line)
        assert match is not None, f"/metrics line {number} is malformed: {line!r}"
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def post_risk(base_url: str, payload: Any) -> tuple[int, dict[str, str], bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return request(f"{base_url}/api/risks", "POST", body)


def test_cache_header_on_and_off(demo_api):
    cached, uncached = demo_api(cache=True), demo_api(cache=False)

    for path in DASHBOARD_PATHS:
        assert timed_get_ms(cached + path)[1] == "false"
        assert timed_get_ms(cached + path)[1] == "true"
        assert timed_get_ms(uncached + path)[1] == "false"
        assert timed_get_ms(uncached + path)[1] == "false"


def test_cache_hit_faster_than_miss(demo_api):
    cached, uncached = demo_api(cache=True), demo_api(cache=False)
    timed_get_ms(cached + "/api/stats")

    hits_ms = [timed_get_ms(cached + "/api/stats")[0] for _ in range(15)]
    misses_ms = [timed_get_ms(uncached + "/api/stats")[0] for _ in range(15)]

    # The demo sleeps 8-15 ms on a miss and 0.2-1 ms on a hit.
    assert min(misses_ms) >= 8.0
    assert statistics.median(hits_ms) < statistics.median(misses_ms) / 2


def test_post_invalidates_cache(demo_api):
    base_url = demo_api(cache=True)
    status, _, body = request(f"{base_url}/api/stats")
    total_before = json.loads(body)["total_risks"]
    assert timed_get_ms(f"{base_url}/api/stats")[1] == "true"

    status, headers, body = post_risk(
        base_url, {"title": "Backup restore untested", "severity": 4, "likelihood": 3}
    )
    assert status == 201
    assert headers["X-Cache-Hit"] == "false"
    assert json.loads(body)["score"] == 12

    status, headers, body = request(f"{base_url}/api/stats")
    assert headers["X-Cache-Hit"] == "false"
    assert json.loads(body)["total_risks"] == total_before + 1


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"\xff\xfe",
        [1, 2],
        {"severity": 3, "likelihood": 3},
        {"title": "  ", "severity": 3, "likelihood": 3},
        {"title": "t", "severity": 6, "likelihood": 3},
        {"title": "t", "severity": 3, "likelihood": True},
        {"title": "t", "severity": 3, "likelihood": 2, "category": "weather"},
    ],
)
def test_post_rejects_invalid_body(demo_api, payload):
    base_url = demo_api(cache=True)
    request(f"{base_url}/api/stats")

    status, headers, body = post_risk(base_url, payload)

    assert status == 400
    assert headers["X-Cache-Hit"] == "false"
    assert "error" in json.loads(body)
    assert timed_get_ms(f"{base_url}/api/stats")[1] == "true"


def test_post_rejects_oversized_body(demo_api):
    base_url = demo_api(cache=True)

    status, headers, body = post_risk(base_url, b"[" + b"1," * 40_000 + b"1]")

    assert status == 413
    assert headers["X-Cache-Hit"] == "false"
    assert "exceeds" in json.loads(body)["error"]
    assert request(f"{base_url}/health")[0] == 200


def test_unknown_route_is_404(demo_api):
    base_url = demo_api(cache=True)
    assert request(f"{base_url}/api/nothing")[0] == 404
    assert post_risk(base_url, b"{}")[0] == 400
    assert request(f"{base_url}/api/stats", "POST", b"{}")[0] == 404


def test_metrics_count_requests(demo_api):
    base_url = demo_api(cache=True)
    for _ in range(3):
        request(f"{base_url}/api/stats")
    post_risk(base_url, b"{bad")

    status, headers, body = request(f"{base_url}/metrics")
    samples = parse_metrics(body.decode())

    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    stats = 'handler="/api/stats",method="GET"'
    assert samples[f'http_requests_total{{{stats},code="200"}}'] == 3
    post = 'handler="/api/risks",method="POST"'
    assert samples[f'http_requests_total{{{post},code="400"}}'] == 1
    assert samples[f"http_request_duration_seconds_count{{{stats}}}"] == 3
    assert samples[f'http_request_duration_seconds_bucket{{{stats},le="+Inf"}}'] == 3
    assert samples[f"http_request_duration_seconds_sum{{{stats}}}"] > 0.008
    assert samples["cache_hits_total"] == 2
    assert samples["cache_misses_total"] == 1
    assert samples["db_connections_active"] == 0
    assert samples["process_resident_memory_bytes"] > 1_000_000


def test_metrics_buckets_are_cumulative(demo_api):
    base_url = demo_api(cache=False)
    for path in DASHBOARD_PATHS:
        request(base_url + path)

    samples = parse_metrics(request(f"{base_url}/metrics")[2].decode())

    for path in DASHBOARD_PATHS:
        labels = f'handler="{path}",method="GET"'
        buckets = [
            value
            for key, value in samples.items()
            if key.startswith(f"http_request_duration_seconds_bucket{{{labels},")
        ]
        assert buckets == sorted(buckets)
        assert buckets[-1] == 1
        # A miss sleeps at least 8 ms, so the 5 ms bucket stays empty.
        assert (
            samples[f'http_request_duration_seconds_bucket{{{labels},le="0.005"}}'] == 0
        )


def test_metrics_pass_promtool(demo_api):
    base_url = demo_api(cache=True)
    request(f"{base_url}/api/stats")
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is missing; install Debian's prometheus"

    text = request(f"{base_url}/metrics")[2]
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_sigterm_stops_cleanly():
    proc, base_url = start_demo_api(cache=True)
    assert request(f"{base_url}/health")[0] == 200

    proc.terminate()

    assert proc.wait(timeout=5) == 0
    stop_process(proc)


LAUNCHER = """
import subprocess, sys
server = subprocess.Popen(
    [sys.executable, sys.argv[1], "--port", "0", "--exit-with-parent"],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
)
print(server.stdout.readline().strip(), flush=True)
"""


def test_exit_with_parent_stops_orphan():
    launcher = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(DEMO_API_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    base_url = "http://" + launcher.stdout.split()[-1]

    deadline = time.monotonic() + 10
    stopped = False
    while not stopped and time.monotonic() < deadline:
        try:
            request(f"{base_url}/health")
            time.sleep(0.2)
        except (urllib.error.URLError, ConnectionError):
            # A server that stops during a request resets the connection.
            stopped = True

    assert stopped, f"demo API at {base_url} still serves after its parent exited"


def read_k6_points(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as lines:
        records = [json.loads(line) for line in lines]
    return [r for r in records if r["type"] == "Point"]


@pytest.mark.k6
def test_k6_smoke_run_writes_outputs(demo_api, k6_binary, k6_smoke_script, tmp_path):
    base_url = demo_api(cache=True)

    result = run_k6(
        k6_smoke_script,
        tmp_path,
        env={"BASE_URL": base_url},
        timeout=60,
        compress=True,
    )

    assert result.exit_code == 0, result.stderr
    assert result.json_path.read_bytes()[:2] == b"\x1f\x8b"
    points = read_k6_points(result.json_path)
    requests = [p for p in points if p["metric"] == "http_reqs"]
    names = {p["data"]["tags"]["name"] for p in requests}
    assert names >= {f"GET {path}" for path in DASHBOARD_PATHS}
    assert any(p["metric"] == "cache_hit_rate" for p in points)

    export = json.loads(result.summary_export_path.read_text())
    assert export["metrics"]["http_reqs"]["count"] == len(requests)

    summary = json.loads(result.handle_summary_path.read_text())
    assert summary["state"]["testRunDurationMs"] >= 2000
    assert summary["metrics"]["http_reqs"]["values"]["count"] == len(requests)
    assert summary["metrics"]["checks"]["thresholds"]["rate>0.99"]["ok"] is True

    served = parse_metrics(request(f"{base_url}/metrics")[2].decode())
    served_total = sum(
        value
        for key, value in served.items()
        if key.startswith("http_requests_total{") and 'handler="/api/' in key
    )
    assert served_total == len(requests)
