"""Baseline files: the staging runbook's hand-made file and perfreport's own format.

The runbook's file (``baseline_metrics.json``) records single-user response times
per endpoint, concurrent throughput, resource usage and cache settings::

    {"timestamp": "...", "environment": "staging",
     "metrics": {"response_times": {"stats_single_user_ms": 120, ..., "average_ms": 110},
                 "concurrent_performance": {"concurrent_users": 10,
                     "total_time_seconds": 2.5, "requests_per_second": 40},
                 "resource_usage": {"cpu_percent": 12.5, "memory_percent": 30.1,
                     "database_connections": 18, "redis_ops_per_sec": 0},
                 "cache": {...}}}

perfreport's own baseline (``"format": "perfreport-baseline/1"``) stores a run's
summary frame as it is, so a later comparison reads the same statistics::

    {"format": "perfreport-baseline/1", "name": "baseline", "created": "...Z",
     "source": "baseline.json.gz", "duration_s": 30.0,
     "metrics": {"http_req_duration": {"type": "trend", "contains": "time"}},
     "statistics": [{"metric": "http_req_duration", "endpoint": "",
                     "statistic": "p(95)", "value": 12.5, "unit": "ms", "n": 1800}]}
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from perfreport.errors import FormatVersionError, InputError
from perfreport.ingest.k6_summary import summary_frame
from perfreport.model import MetricDef, Run

BASELINE_FORMAT = "perfreport-baseline/1"

# The runbook measures each endpoint with curl; these are the paths it requests.
RUNBOOK_ENDPOINTS = {
    "stats": "/api/stats",
    "risks": "/api/risks",
    "risk_matrix": "/api/stats/risk-matrix",
    "trends": "/api/stats/trends",
}

# Runbook resource figures, as (metric name, unit) rows of statistic "value".
RUNBOOK_RESOURCES = {
    "cpu_percent": ("cpu_usage", "%"),
    "memory_percent": ("memory_usage", "%"),
    "database_connections": ("db_connections", ""),
    "redis_ops_per_sec": ("redis_ops", "/s"),
}


def _number(value: Any, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(
            path,
            f"{where} is {value!r}, not a finite number",
            hint="fix the value in the baseline file or remove the key",
        )
    return float(value)


def read_runbook_baseline(path: Path, doc: dict[str, Any], name: str) -> Run:
    """Read the staging runbook's ``baseline_metrics.json``.

    Single-user response times become ``http_req_duration`` averages per endpoint
    (endpoint = the path the runbook requests), ``average_ms`` the overall average,
    ``requests_per_second`` the ``http_reqs`` rate, and resource usage one
    ``value`` row each (``db_connections``, ``cpu_usage``, ``memory_usage``,
    ``redis_ops``).
    """
    metrics_doc = doc.get("metrics")
    if not isinstance(metrics_doc, dict):
        raise InputError(path, "'metrics' is missing or not an object")
    rows: list[dict[str, Any]] = []

    def add(metric: str, endpoint: str, statistic: str, value: float, unit: str) -> None:
        rows.append(
            {"metric": metric, "endpoint": endpoint, "statistic": statistic,
             "value": value, "unit": unit, "n": math.nan}
        )

    times = metrics_doc.get("response_times") or {}
    for key, raw in times.items():
        where = f"metrics.response_times.{key}"
        if key == "average_ms":
            add("http_req_duration", "", "avg", _number(raw, path, where), "ms")
        elif key.endswith("_single_user_ms"):
            short = key[: -len("_single_user_ms")]
            endpoint = RUNBOOK_ENDPOINTS.get(short, short)
            add("http_req_duration", endpoint, "avg", _number(raw, path, where), "ms")

    concurrent = metrics_doc.get("concurrent_performance") or {}
    if "requests_per_second" in concurrent:
        rps = _number(concurrent["requests_per_second"], path, "metrics.concurrent_performance.requests_per_second")
        add("http_reqs", "", "rate", rps, "/s")

    resources = metrics_doc.get("resource_usage") or {}
    for key, (metric, unit) in RUNBOOK_RESOURCES.items():
        if key in resources and resources[key] is not None:
            add(metric, "", "value", _number(resources[key], path, f"metrics.resource_usage.{key}"), unit)

    if not rows:
        raise InputError(
            path,
            "the baseline file has no response times, throughput or resource usage",
            hint="fill metrics.response_times or metrics.concurrent_performance",
        )
    metrics = {
        "http_req_duration": MetricDef("http_req_duration", "trend", "time"),
        "http_reqs": MetricDef("http_reqs", "counter", "default"),
    }
    for metric, _unit in RUNBOOK_RESOURCES.values():
        metrics[metric] = MetricDef(metric, "gauge", "default")
    cache = metrics_doc.get("cache") or {}
    return Run(
        name=name,
        source=str(path),
        kind="baseline-runbook",
        metrics=metrics,
        statistics=summary_frame(rows),
        info={
            "timestamp": doc.get("timestamp"),
            "environment": doc.get("environment"),
            "phase": doc.get("phase"),
            "cache_status": doc.get("cache_status"),
            "concurrent_users": concurrent.get("concurrent_users"),
            "cache": cache,
            "endpoint_paths": True,
        },
    )


def read_perfreport_baseline(path: Path, doc: dict[str, Any], name: str) -> Run:
    """Read a baseline file written by :func:`write_baseline`."""
    found = doc.get("format")
    if found != BASELINE_FORMAT:
        raise FormatVersionError(
            path,
            f"baseline format {found!r} is not supported",
            hint=f"this perfreport reads {BASELINE_FORMAT}; re-create the file with 'perfreport baseline'",
        )
    statistics = doc.get("statistics")
    if not isinstance(statistics, list):
        raise InputError(path, "'statistics' is missing or not a list")
    rows = []
    for index, row in enumerate(statistics):
        if not isinstance(row, dict) or not {"metric", "statistic", "value"} <= set(row):
            raise InputError(path, f"statistics[{index}] needs metric, statistic and value")
        value = row["value"]
        rows.append(
            {
                "metric": str(row["metric"]),
                "endpoint": str(row.get("endpoint") or ""),
                "statistic": str(row["statistic"]),
                "value": math.nan if value is None else _number(value, path, f"statistics[{index}].value"),
                "unit": str(row.get("unit") or ""),
                "n": float(row["n"]) if isinstance(row.get("n"), (int, float)) else math.nan,
            }
        )
    metrics = {
        metric: MetricDef(metric, body.get("type", "gauge"), body.get("contains", "default"))
        for metric, body in (doc.get("metrics") or {}).items()
    }
    duration = doc.get("duration_s")
    return Run(
        name=str(doc.get("name") or name),
        source=str(path),
        kind="baseline-perfreport",
        metrics=metrics,
        statistics=summary_frame(rows),
        duration_s=float(duration) if isinstance(duration, (int, float)) else None,
        info=dict(doc.get("info") or {}),
    )


def write_baseline(run: Run, summary: Any, path: str | Path) -> None:
    """Write a run's summary frame as a perfreport baseline file (JSON)."""
    statistics = []
    for row in summary.itertuples(index=False):
        value = float(row.value)
        statistics.append(
            {
                "metric": row.metric,
                "endpoint": row.endpoint,
                "statistic": row.statistic,
                "value": None if math.isnan(value) else value,
                "unit": row.unit,
                "n": None if math.isnan(float(row.n)) else int(row.n),
            }
        )
    doc = {
        "format": BASELINE_FORMAT,
        "name": run.name,
        "created": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "source": run.source,
        "duration_s": run.duration_s,
        "metrics": {
            name: {"type": metric.type, "contains": metric.contains}
            for name, metric in run.metrics.items()
        },
        "statistics": statistics,
    }
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
