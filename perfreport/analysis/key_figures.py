"""The headline figures of a run: throughput, errors, checks, data and cache hits."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from perfreport.analysis.summary import lookup, run_duration_s, summarize
from perfreport.model import TAG_PREFIX, Run

CACHE_RATE_METRICS = ("cache_hit_rate", "cache_hit_ratio", "cache_hits_rate")
CACHE_COUNTER_PAIRS = (("cache_hits", "cache_misses"), ("cache_hit", "cache_miss"))
TRUE_TAG_VALUES = frozenset({"true", "1", "hit", "yes"})
FALSE_TAG_VALUES = frozenset({"false", "0", "miss", "no"})


@dataclass(frozen=True)
class KeyFigures:
    """Headline figures of one run. A field is None when the run lacks its data.

    ``error_rate``, ``check_rate`` and ``cache_hit_rate`` are shares from 0 to 1.
    ``cache_hit_source`` names where the hit rate came from (a Rate metric, hit and
    miss Counters, or a response tag).
    """

    requests: float | None
    throughput_rps: float | None
    failed_requests: float | None
    error_rate: float | None
    checks_passed: float | None
    checks_failed: float | None
    check_rate: float | None
    data_sent_bytes: float | None
    data_received_bytes: float | None
    cache_hit_rate: float | None
    cache_hit_source: str | None
    duration_s: float | None
    vus_max: float | None
    p95_ms: float | None
    avg_ms: float | None
    iterations: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as a plain dictionary (for JSON output)."""
        return asdict(self)

    def _repr_html_(self) -> str:
        from perfreport.render.notebook import key_figures_html

        return key_figures_html(self)


def key_figures(run: Run, summary: pd.DataFrame | None = None) -> KeyFigures:
    """Compute the headline figures of ``run`` (reusing ``summary`` when given)."""
    if summary is None:
        summary = summarize(run, by="endpoint")
    hit_rate, hit_source = cache_hit_rate(run, summary)
    duration = run_duration_s(run)
    vus_max = lookup(summary, "vus_max", "max") or lookup(summary, "vus_max", "value")
    if vus_max is None:
        vus_max = lookup(summary, "vus", "max")
    return KeyFigures(
        requests=lookup(summary, "http_reqs", "count"),
        throughput_rps=lookup(summary, "http_reqs", "rate"),
        failed_requests=lookup(summary, "http_req_failed", "passes"),
        error_rate=lookup(summary, "http_req_failed", "rate"),
        checks_passed=lookup(summary, "checks", "passes"),
        checks_failed=lookup(summary, "checks", "fails"),
        check_rate=lookup(summary, "checks", "rate"),
        data_sent_bytes=lookup(summary, "data_sent", "count"),
        data_received_bytes=lookup(summary, "data_received", "count"),
        cache_hit_rate=hit_rate,
        cache_hit_source=hit_source,
        duration_s=duration,
        vus_max=vus_max,
        p95_ms=lookup(summary, "http_req_duration", "p(95)"),
        avg_ms=lookup(summary, "http_req_duration", "avg"),
        iterations=lookup(summary, "iterations", "count"),
    )


def cache_hit_rate(run: Run, summary: pd.DataFrame) -> tuple[float | None, str | None]:
    """Return the run's cache hit rate and where it came from, or (None, None).

    Sources, in order: a Rate metric (``cache_hit_rate``), hit and miss Counters
    (``cache_hits`` / ``cache_misses``), then a tag whose key names a cache hit
    (``X-Cache-Hit``, ``cache_hit``) on ``http_reqs`` points, counting values true/1/hit.
    """
    for metric in CACHE_RATE_METRICS:
        value = lookup(summary, metric, "rate")
        if value is not None:
            return value, f"k6 Rate metric {metric}"
    for hits_name, misses_name in CACHE_COUNTER_PAIRS:
        hits = lookup(summary, hits_name, "count")
        misses = lookup(summary, misses_name, "count")
        if hits is not None and misses is not None and hits + misses > 0:
            return hits / (hits + misses), f"k6 Counters {hits_name} and {misses_name}"
    return _cache_rate_from_tag(run)


def _cache_rate_from_tag(run: Run) -> tuple[float | None, str | None]:
    if run.points is None:
        return None, None
    for column in run.tag_columns():
        key = column[len(TAG_PREFIX):].lower().replace("-", "_")
        if "cache" not in key or "hit" not in key:
            continue
        requests = run.points[run.points["metric"] == "http_reqs"]
        values = requests[column].astype("object").dropna().str.lower()
        hits = int(values.isin(TRUE_TAG_VALUES).sum())
        misses = int(values.isin(FALSE_TAG_VALUES).sum())
        if hits + misses:
            return hits / (hits + misses), f"tag {column[len(TAG_PREFIX):]} on http_reqs"
    return None, None
