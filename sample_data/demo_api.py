"""A small risk-register API that perfreport's sample runs and tests load with k6.

Standard library only. It binds 127.0.0.1, serves JSON under /api/, and simulates a
database: a cache miss takes a connection from a small pool and sleeps 8-15 ms, a
cache hit sleeps 0.2-1 ms. Every /api/ response carries ``X-Cache-Hit: true|false``.
GET /metrics returns Prometheus text format.

Run: ``python demo_api.py --port 0 --cache on``. The first stdout line is
``listening on 127.0.0.1:PORT``. SIGTERM and Ctrl-C stop the server cleanly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("demo_api")

# Seconds each cached payload stays fresh, keyed as in baseline_metrics.json's cache_ttls.
CACHE_TTLS_S: dict[str, float] = {
    "stats": 60.0,
    "risks": 30.0,
    "matrix": 120.0,
    "trends": 300.0,
}
DB_QUERY_S = (0.008, 0.015)
CACHE_HIT_S = (0.0002, 0.001)
DURATION_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
STATUSES = ("open", "mitigating", "accepted", "closed")
CATEGORIES = ("security", "operations", "compliance", "finance", "vendor")
MAX_BODY_BYTES = 64 * 1024


class Metrics:
    """Counters, gauges and a histogram, rendered in Prometheus text format 0.0.4."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Keyed by the rendered label pairs 'handler="...",method="..."'.
        self.bucket_counts: dict[str, list[int]] = {}
        self.duration_sum_s: dict[str, float] = {}
        self.requests_total: dict[tuple[str, int], int] = {}
        self.cache_hits_total = 0
        self.cache_misses_total = 0
        self.db_connections_active = 0

    def observe_request(
        self, handler: str, method: str, code: int, duration_s: float
    ) -> None:
        with self._lock:
            labels = f'handler="{handler}",method="{method}"'
            counts = self.bucket_counts.setdefault(
                labels, [0] * (len(DURATION_BUCKETS_S) + 1)
            )
            for i, bound in enumerate(DURATION_BUCKETS_S):
                if duration_s <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self.duration_sum_s[labels] = (
                self.duration_sum_s.get(labels, 0.0) + duration_s
            )
            key = (labels, code)
            self.requests_total[key] = self.requests_total.get(key, 0) + 1

    def count_cache(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.cache_hits_total += 1
            else:
                self.cache_misses_total += 1

    def change_db_connections(self, delta: int) -> None:
        with self._lock:
            self.db_connections_active += delta

    def render(self) -> str:
        with self._lock:
            lines = self._render_histogram()
            lines += [
                "# HELP http_requests_total Requests served, by handler and status code.",
                "# TYPE http_requests_total counter",
            ]
            for (labels, code), count in sorted(self.requests_total.items()):
                lines.append(f'http_requests_total{{{labels},code="{code}"}} {count}')
            lines += _scalar(
                "cache_hits_total",
                "counter",
                "Cache lookups that found a fresh entry.",
                self.cache_hits_total,
            )
            lines += _scalar(
                "cache_misses_total",
                "counter",
                "Requests answered from the simulated database.",
                self.cache_misses_total,
            )
            lines += _scalar(
                "db_connections_active",
                "gauge",
                "Simulated database connections in use.",
                self.db_connections_active,
            )
        lines += _scalar(
            "process_resident_memory_bytes",
            "gauge",
            "Resident set size of this process.",
            read_rss_bytes(),
        )
        lines += _scalar(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time of this process.",
            read_cpu_seconds(),
        )
        return "\n".join(lines) + "\n"

    def _render_histogram(self) -> list[str]:
        lines = [
            "# HELP http_request_duration_seconds Time to handle a request, by handler.",
            "# TYPE http_request_duration_seconds histogram",
        ]
        for label, counts in sorted(self.bucket_counts.items()):
            for bound, count in zip(DURATION_BUCKETS_S, counts):
                lines.append(
                    f'http_request_duration_seconds_bucket{{{label},le="{bound}"}} {count}'
                )
            lines.append(
                f'http_request_duration_seconds_bucket{{{label},le="+Inf"}} {counts[-1]}'
            )
            lines.append(
                f"http_request_duration_seconds_sum{{{label}}} "
                f"{self.duration_sum_s[label]:.6f}"
            )
            lines.append(f"http_request_duration_seconds_count{{{label}}} {counts[-1]}")
        return lines


def _scalar(name: str, kind: str, help_text: str, value: float) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]


def read_rss_bytes() -> int:
    """Return this process's resident set size from /proc/self/statm (Linux only)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def read_cpu_seconds() -> float:
    times = os.times()
    return round(times.user + times.system, 3)


class RiskStore:
    """The risk register, a TTL cache in front of it, and the simulated database pool."""

    def __init__(
        self, metrics: Metrics, cache_enabled: bool, db_pool_size: int
    ) -> None:
        self.metrics = metrics
        self.cache_enabled = cache_enabled
        self._pool = threading.BoundedSemaphore(db_pool_size)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Any]] = {}
        self._risks: list[dict[str, Any]] = seed_risks(random.Random(7))

    def fetch(
        self, key: str, build: Callable[[list[dict[str, Any]]], Any]
    ) -> tuple[Any, bool]:
        """Return (payload, cache_hit) for a cache key, querying the database on a miss."""
        if self.cache_enabled:
            with self._lock:
                entry = self._cache.get(key)
            if entry is not None and entry[0] > time.monotonic():
                time.sleep(random.uniform(*CACHE_HIT_S))
                self.metrics.count_cache(hit=True)
                return entry[1], True

        payload = self._query(build)
        self.metrics.count_cache(hit=False)
        # NOTE: a miss that read the risks before a concurrent POST can store that
        # stale payload after the POST cleared the cache, until the TTL expires.
        if self.cache_enabled:
            with self._lock:
                self._cache[key] = (time.monotonic() + CACHE_TTLS_S[key], payload)
        return payload, False

    def add(self, risk: dict[str, Any]) -> dict[str, Any]:
        """Insert a validated risk, clear the cache and return the stored record."""
        with self._pool:
            self.metrics.change_db_connections(+1)
            try:
                time.sleep(random.uniform(*DB_QUERY_S))
                with self._lock:
                    stored = {
                        "id": len(self._risks) + 1,
                        "status": "open",
                        "created_at": utc_now().isoformat(timespec="seconds"),
                        **risk,
                    }
                    stored["score"] = stored["severity"] * stored["likelihood"]
                    self._risks.append(stored)
                    self._cache.clear()
            finally:
                self.metrics.change_db_connections(-1)
        return stored

    def _query(self, build: Callable[[list[dict[str, Any]]], Any]) -> Any:
        with self._pool:
            self.metrics.change_db_connections(+1)
            try:
                time.sleep(random.uniform(*DB_QUERY_S))
                with self._lock:
                    snapshot = list(self._risks)
                return build(snapshot)
            finally:
                self.metrics.change_db_connections(-1)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def seed_risks(rng: random.Random, count: int = 60) -> list[dict[str, Any]]:
    start = utc_now() - timedelta(days=365)
    risks = []
    for i in range(1, count + 1):
        severity, likelihood = rng.randint(1, 5), rng.randint(1, 5)
        created = start + timedelta(days=rng.randint(0, 364))
        risks.append(
            {
                "id": i,
                "title": f"Risk {i}",
                "category": rng.choice(CATEGORIES),
                "severity": severity,
                "likelihood": likelihood,
                "score": severity * likelihood,
                "status": rng.choice(STATUSES),
                "created_at": created.isoformat(timespec="seconds"),
            }
        )
    return risks


def build_stats(risks: list[dict[str, Any]]) -> dict[str, Any]:
    by_status = {
        status: sum(r["status"] == status for r in risks) for status in STATUSES
    }
    scores = [r["score"] for r in risks]
    return {
        "total_risks": len(risks),
        "by_status": by_status,
        "average_score": round(sum(scores) / len(scores), 2) if scores else 0.0,
        "high_risks": sum(score >= 15 for score in scores),
    }


def build_risk_list(risks: list[dict[str, Any]]) -> dict[str, Any]:
    newest = sorted(risks, key=lambda r: r["created_at"], reverse=True)[:50]
    return {"count": len(risks), "risks": newest}


def build_matrix(risks: list[dict[str, Any]]) -> dict[str, Any]:
    cells = [[0] * 5 for _ in range(5)]
    for risk in risks:
        cells[risk["severity"] - 1][risk["likelihood"] - 1] += 1
    return {"rows": "severity 1-5", "columns": "likelihood 1-5", "cells": cells}


def build_trends(risks: list[dict[str, Any]]) -> dict[str, Any]:
    per_month: dict[str, int] = {}
    for risk in risks:
        month = risk["created_at"][:7]
        per_month[month] = per_month.get(month, 0) + 1
    return {"created_per_month": dict(sorted(per_month.items()))}


# Path -> (cache key, payload builder) for the cached GET endpoints.
CACHED_ROUTES = {
    "/api/stats": ("stats", build_stats),
    "/api/risks": ("risks", build_risk_list),
    "/api/stats/risk-matrix": ("matrix", build_matrix),
    "/api/stats/trends": ("trends", build_trends),
}


def validate_risk(body: Any) -> tuple[dict[str, Any] | None, str]:
    """Return (risk, "") for a valid POST body, else (None, reason)."""
    if not isinstance(body, dict):
        return None, "body must be a JSON object"
    title = body.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        return None, "title must be a non-empty string of at most 200 characters"
    risk: dict[str, Any] = {"title": title.strip()}
    for field in ("severity", "likelihood"):
        value = body.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            return None, f"{field} must be an integer from 1 to 5"
        risk[field] = value
    category = body.get("category", "operations")
    if category not in CATEGORIES:
        return None, f"category must be one of {', '.join(CATEGORIES)}"
    risk["category"] = category
    return risk, ""


class DemoHandler(BaseHTTPRequestHandler):
    server_version = "perfreport-demo/1.0"
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes. With Nagle's algorithm on, the body
    # then waits for the client's delayed ACK (about 40 ms on Linux) on keep-alive.
    disable_nagle_algorithm = True
    store: RiskStore
    metrics: Metrics

    def log_message(self, format: str, *args: Any) -> None:
        # Per-request lines would flood stderr under load; /metrics counts requests.
        pass

    def do_GET(self) -> None:
        started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        if path in CACHED_ROUTES:
            key, build = CACHED_ROUTES[path]
            payload, hit = self.store.fetch(key, build)
            self._send_json(HTTPStatus.OK, payload, cache_hit=hit)
        elif path == "/health":
            self._send_json(
                HTTPStatus.OK, {"status": "ok", "cache": self.store.cache_enabled}
            )
        elif path == "/metrics":
            self._send_text(HTTPStatus.OK, self.metrics.render())
        else:
            self._send_json(
                HTTPStatus.NOT_FOUND,
                {"error": f"no route for GET {path}"},
                cache_hit=False if path.startswith("/api/") else None,
            )
            path = "other"
        self.metrics.observe_request(
            path, "GET", self._status, time.perf_counter() - started
        )
        self._flush()

    def do_POST(self) -> None:
        started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        if path != "/api/risks":
            self._discard_body()
            self._send_json(
                HTTPStatus.NOT_FOUND,
                {"error": f"no route for POST {path}"},
                cache_hit=False,
            )
            path = "other"
        else:
            self._create_risk()
        self.metrics.observe_request(
            path, "POST", self._status, time.perf_counter() - started
        )
        self._flush()

    def _create_risk(self) -> None:
        length_header = self.headers.get("Content-Length") or "0"
        if not length_header.isdigit():
            self.close_connection = True
            self._reject(
                HTTPStatus.BAD_REQUEST, f"invalid Content-Length {length_header!r}"
            )
            return
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._reject(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes exceeds the limit of {MAX_BODY_BYTES} bytes",
            )
            return

        try:
            body = json.loads(self.rfile.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._reject(HTTPStatus.BAD_REQUEST, f"invalid JSON: {exc}")
            return
        risk, reason = validate_risk(body)
        if risk is None:
            self._reject(HTTPStatus.BAD_REQUEST, reason)
            return
        self._send_json(HTTPStatus.CREATED, self.store.add(risk), cache_hit=False)

    def _reject(self, status: HTTPStatus, message: str) -> None:
        log.warning(
            "rejected %s %s with %d: %s", self.command, self.path, status, message
        )
        self._send_json(status, {"error": message}, cache_hit=False)

    def _discard_body(self) -> None:
        length_header = self.headers.get("Content-Length") or "0"
        if length_header.isdigit() and int(length_header) <= MAX_BODY_BYTES:
            self.rfile.read(int(length_header))
        else:
            self.close_connection = True

    def _send_json(
        self, status: HTTPStatus, payload: Any, cache_hit: bool | None = None
    ) -> None:
        headers = (
            {}
            if cache_hit is None
            else {"X-Cache-Hit": "true" if cache_hit else "false"}
        )
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_text(self, status: HTTPStatus, text: str) -> None:
        self._send(
            status, text.encode(), "text/plain; version=0.0.4; charset=utf-8", {}
        )

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        headers: dict[str, str],
    ) -> None:
        # _flush writes the response after the request is counted, so a client
        # that reads /metrics right after its response finds it counted.
        self._status = int(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self._body = body

    def _flush(self) -> None:
        self.end_headers()
        self.wfile.write(self._body)


def stop_on_sigterm(server: ThreadingHTTPServer) -> None:
    """Make SIGTERM end serve_forever() cleanly.

    The handler starts another thread that calls shutdown(). shutdown() waits for
    serve_forever() to return, so calling it in the main thread would hang, and
    raising from the handler can interrupt the main thread while it holds a lock.
    """

    def handle(signum: int, frame: object) -> None:
        log.info("stopping on signal %d", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, handle)


def watch_parent(server: ThreadingHTTPServer) -> None:
    """Shut the server down once this process's parent has exited."""
    parent_pid = os.getppid()
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    log.info("parent process %d exited, stopping", parent_pid)
    server.shutdown()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--port",
        type=int,
        default=8000,
        help="TCP port on 127.0.0.1; 0 picks a free port (default 8000)",
    )
    parser.add_argument(
        "--cache",
        choices=("on", "off"),
        default="on",
        help="serve repeated GETs from the in-memory TTL cache (default on)",
    )
    parser.add_argument(
        "--db-pool-size",
        type=int,
        default=4,
        help="simulated database connections; misses beyond it wait (default 4)",
    )
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this one exits (checked every 1 s)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is out of range; use 0-65535")
    if args.db_pool_size < 1:
        parser.error(f"--db-pool-size {args.db_pool_size} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s demo_api %(message)s")
    metrics = Metrics()
    DemoHandler.metrics = metrics
    DemoHandler.store = RiskStore(metrics, args.cache == "on", args.db_pool_size)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), DemoHandler)
    server.daemon_threads = True
    port = server.server_address[1]
    stop_on_sigterm(server)
    if args.exit_with_parent:
        threading.Thread(target=watch_parent, args=(server,), daemon=True).start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    log.info("started on port %d, cache %s", port, args.cache)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        log.info("stopping on interrupt")
    finally:
        server.server_close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
