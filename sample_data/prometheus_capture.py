"""Scrape the demo API with a throwaway Prometheus and save query_range responses.

record.py uses this to store, per run, the Prometheus view of the same window
that k6 measured. Prometheus (Debian's 2.42 was used) listens on 127.0.0.1 only
and keeps its data in a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType

SCRAPE_INTERVAL_S = 1
READY_TIMEOUT_S = 20.0
QUERY_STEP_S = 1
# PromQL per saved file; the 5 s rate window spans about five 1 s scrapes.
QUERIES: dict[str, str] = {
    "db_connections_active": "db_connections_active",
    "process_resident_memory_bytes": "process_resident_memory_bytes",
    "cache_hit_ratio": (
        "rate(cache_hits_total[5s])"
        " / (rate(cache_hits_total[5s]) + rate(cache_misses_total[5s]))"
    ),
    "p95_by_handler_seconds": (
        "histogram_quantile(0.95, sum by (handler, method, le)"
        " (rate(http_request_duration_seconds_bucket[5s])))"
    ),
    "requests_per_second_by_handler": (
        "sum by (handler, method) (rate(http_requests_total[5s]))"
    ),
}

CONFIG_TEMPLATE = """\
global:
  scrape_interval: {interval}s
  evaluation_interval: {interval}s
scrape_configs:
  - job_name: demo_api
    static_configs:
      - targets: ["{target}"]
"""


def free_loopback_port() -> int:
    # NOTE: the port is free when checked, but another process could take it before
    # Prometheus binds it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrometheusCapture:
    """A Prometheus server that scrapes one target for the length of a ``with`` block."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix="perfreport-prometheus-"))
        self.proc: subprocess.Popen[bytes] | None = None

    # typing.Self needs Python 3.11, and the project supports 3.10.
    def __enter__(self) -> PrometheusCapture:  # noqa: PYI034
        config = self.data_dir / "prometheus.yml"
        config.write_text(
            CONFIG_TEMPLATE.format(interval=SCRAPE_INTERVAL_S, target=self.target)
        )
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(
            f"Prometheus on {self.url} was not ready in {READY_TIMEOUT_S} s"
        )

    def query_range(
        self, promql: str, start_s: float, end_s: float
    ) -> dict[str, object]:
        """Return the decoded /api/v1/query_range response for a window in Unix seconds."""
        params = urllib.parse.urlencode(
            {
                "query": promql,
                "start": f"{start_s:.3f}",
                "end": f"{end_s:.3f}",
                "step": f"{QUERY_STEP_S}s",
            }
        )
        with urllib.request.urlopen(f"{self.url}/api/v1/query_range?{params}") as reply:
            result: dict[str, object] = json.load(reply)
        return result

    def save_queries(self, out_dir: Path, start_s: float, end_s: float) -> None:
        """Write one ``QUERY.json`` per entry of :data:`QUERIES` into ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, promql in QUERIES.items():
            response = self.query_range(promql, start_s, end_s)
            if response.get("status") != "success":
                raise RuntimeError(f"Prometheus query {name} failed: {response}")
            (out_dir / f"{name}.json").write_text(json.dumps(response) + "\n")
