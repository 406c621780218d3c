"""Range queries against a real Prometheus holding series written by the test.

Every expected value is computed here from the data the fixture wrote.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pytest
from fixtures.servers import (
    BUCKET_BOUNDS,
    CUMULATIVE_PER_STEP,
    JOBS_PER_STEP,
    LEAK_BYTES_PER_HOUR,
    STEP_S,
    PrometheusData,
)

from perfreport.analysis.memory import LeakThresholds, memory_trends
from perfreport.analysis.promql import counter_increase, histogram_quantiles
from perfreport.analysis.server import (
    cache_hit_ratio_from_series,
    connection_reduction,
    select_series,
)
from perfreport.ingest.prometheus import STAGING_PRESET, query_range

pytestmark = pytest.mark.prometheus


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _query(data: PrometheusData, queries: dict[str, str], step_s: float = STEP_S):
    return query_range(
        data.url, queries, _utc(data.start_s), _utc(data.end_s), step_s, retries=0
    )


def _expected_p95(cumulative: tuple[int, ...]) -> tuple[float, bool]:
    """Interpolate the 95th percentile inside the bucket that contains rank 0.95 n."""
    rank = 0.95 * cumulative[-1]
    lower, below = 0.0, 0
    for bound, count in zip(BUCKET_BOUNDS, cumulative):
        if count >= rank:
            if math.isinf(bound):
                return lower, True
            return lower + (bound - lower) * (rank - below) / (count - below), False
        lower, below = bound, count
    raise AssertionError("no bucket holds the rank")


def test_gauge_values_are_exact(prometheus_server):
    data = prometheus_server
    result = _query(data, {"conn": "db_connections_active"})

    series = select_series(result.frame, "conn")
    assert len(series) == len(data.times_s)
    assert np.array_equal(
        series.to_numpy(), data.values("db_connections_active", pool="main")
    )
    assert result.frame["label.pool"].unique().tolist() == ["main"]
    assert result.warnings == ()


def test_connection_reduction_between_halves(prometheus_server):
    data = prometheus_server
    written = data.values("db_connections_active", pool="main")
    half = len(written) // 2
    result = _query(data, {"conn": "db_connections_active"})
    baseline_window = (_utc(data.times_s[0]), _utc(data.times_s[half - 1]))
    candidate_window = (_utc(data.times_s[half]), _utc(data.times_s[-1]))

    reduction = connection_reduction(
        select_series(result.frame, "conn", candidate_window),
        select_series(result.frame, "conn", baseline_window),
    )

    baseline_mean = written[:half].mean()
    candidate_mean = written[half:].mean()
    assert reduction.baseline_mean_connections == pytest.approx(
        baseline_mean, rel=1e-12
    )
    assert reduction.candidate_mean_connections == pytest.approx(
        candidate_mean, rel=1e-12
    )
    assert reduction.baseline_p95_connections == pytest.approx(
        np.percentile(written[:half], 95), rel=1e-12
    )
    expected = (baseline_mean - candidate_mean) / baseline_mean * 100
    assert reduction.reduction_percent == pytest.approx(expected, rel=1e-12)
    assert reduction.criteria_values()["connection_reduction"] >= 50
    assert reduction.criteria_values()["db_connections"] < 20


def test_p95_per_handler_from_histogram(prometheus_server):
    data = prometheus_server
    result = _query(data, {"p95": STAGING_PRESET["p95_latency_seconds"]})
    frame = result.frame

    for handler, cumulative in CUMULATIVE_PER_STEP.items():
        values = frame.loc[frame["label.handler"] == handler, "value"].to_numpy()
        expected, _ = _expected_p95(cumulative)
        assert len(values) == len(data.times_s) - 1  # no rate at the first sample
        assert values == pytest.approx(np.full(len(values), expected), rel=1e-12)


def test_own_quantiles_flag_inf_bucket(prometheus_server):
    data = prometheus_server
    buckets = "sum by (le, handler) (rate(http_request_duration_seconds_bucket[1m]))"
    result = _query(data, {"buckets": buckets})

    quantiles = histogram_quantiles(result.frame, "buckets", 0.95)
    for handler, cumulative in CUMULATIVE_PER_STEP.items():
        rows = quantiles[quantiles["handler"] == handler]
        expected, in_inf_bucket = _expected_p95(cumulative)
        assert len(rows) == len(data.times_s) - 1
        assert rows["value"].to_numpy() == pytest.approx(
            np.full(len(rows), expected), rel=1e-12
        )
        assert rows["lower_bound_only"].tolist() == [in_inf_bucket] * len(rows)
    assert quantiles["lower_bound_only"].any()


def test_request_rate_per_handler(prometheus_server):
    data = prometheus_server
    result = _query(data, {"rps": STAGING_PRESET["request_rate_rps"]})

    for handler, cumulative in CUMULATIVE_PER_STEP.items():
        values = result.frame.loc[result.frame["label.handler"] == handler, "value"]
        # From the fifth point on, the 1 m window contains five samples, so rate()
        # needs no extrapolation.
        steady = values.to_numpy()[4:]
        assert steady == pytest.approx(
            np.full(len(steady), cumulative[-1] / STEP_S), rel=1e-12
        )


def test_cache_hit_ratio_from_counters(prometheus_server):
    data = prometheus_server
    result = _query(data, {"cache": STAGING_PRESET["cache_hit_ratio"]})

    hits = np.diff(data.values("cache_hits_total"))
    misses = np.diff(data.values("cache_misses_total"))
    per_window = 60 // STEP_S  # increments inside rate()'s closed 1 m window
    expected = []
    for k in range(1, len(data.times_s)):
        first = max(0, k - per_window)
        window_hits = hits[first:k].sum()
        expected.append(window_hits / (window_hits + misses[first:k].sum()))
    expected = np.array(expected)
    series = select_series(result.frame, "cache")
    assert series.to_numpy() == pytest.approx(expected, rel=1e-12)

    ratio = cache_hit_ratio_from_series(series, "prometheus cache_hit_ratio", 0.1)
    trapezoid = (expected.sum() - expected[0] / 2 - expected[-1] / 2) / (
        len(expected) - 1
    )
    times = data.times_s[1:]
    after_warmup = times >= times[0] + 0.1 * (times[-1] - times[0])
    assert ratio.mean_ratio == pytest.approx(expected.mean(), rel=1e-12)
    assert ratio.time_weighted_mean_ratio == pytest.approx(trapezoid, rel=1e-12)
    assert ratio.min_ratio_after_warmup == pytest.approx(
        expected[after_warmup].min(), rel=1e-12
    )
    assert ratio.source == "prometheus cache_hit_ratio"


def test_memory_leak_and_flat_series(prometheus_server):
    data = prometheus_server
    result = _query(
        data, {"process_resident_memory_bytes": "process_resident_memory_bytes"}
    )
    trends = {
        t.name: t
        for t in memory_trends(result.frame, ("process_resident_memory_bytes",))
    }

    leaky = trends['process_resident_memory_bytes{instance="leaky"}']
    steady = trends['process_resident_memory_bytes{instance="steady"}']
    written = data.values("process_resident_memory_bytes", instance="leaky")
    warm = int(len(written) * LeakThresholds().warmup_fraction)
    hours = (data.times_s - data.times_s[0]) / 3600
    least_squares = np.polyfit(hours[warm:], written[warm:], 1)[0]
    assert leaky.verdict == "leak"
    assert leaky.is_leak is True
    assert (
        leaky.slope_low_bytes_per_hour
        <= LEAK_BYTES_PER_HOUR
        <= leaky.slope_high_bytes_per_hour
    )
    assert leaky.slope_bytes_per_hour == pytest.approx(least_squares, rel=0.03)
    assert steady.verdict == "no leak"
    assert steady.criteria_values()["memory_leak"] is False
    assert abs(steady.slope_bytes_per_hour) < LeakThresholds().leak_bytes_per_hour


def test_counter_reset_in_raw_counter(prometheus_server):
    data = prometheus_server
    result = _query(data, {"jobs": "jobs_processed_total"})

    values = select_series(result.frame, "jobs").to_numpy()
    increase, resets = counter_increase(values)
    assert resets == 1
    assert increase == JOBS_PER_STEP * (len(data.times_s) - 1)


def test_fractional_step_fetched_in_chunks(prometheus_server):
    data = prometheus_server
    start_s = data.start_s
    end_s = start_s + 6000  # 12,001 points at 0.5 s: two requests
    result = query_range(
        data.url, {"conn": "db_connections_active"}, _utc(start_s), _utc(end_s), 0.5
    )

    series = select_series(result.frame, "conn")
    assert len(series) == 12_001
    assert series.index.is_unique
    assert result.step_s == 0.5
    written = data.values("db_connections_active", pool="main")
    seconds = series.index.as_unit("ns").asi8 / 1e9
    latest = ((seconds - start_s) // STEP_S).astype(int)
    assert np.array_equal(series.to_numpy(), written[latest])


def test_missing_metric_warns_no_data(prometheus_server):
    data = prometheus_server
    result = _query(data, {"absent": "no_such_metric_total"})

    assert result.frame.empty
    assert [w.code for w in result.warnings] == ["no-data"]
    assert result.warnings[0].message.startswith("no data for absent from ")
