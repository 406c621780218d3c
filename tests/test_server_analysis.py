"""Pure analysis of server series: trends, leaks, connections, hit ratios, quantiles."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from perfreport.analysis.memory import LeakThresholds, memory_trend
from perfreport.analysis.promql import (
    counter_increase,
    counter_rate,
    histogram_quantile,
)
from perfreport.analysis.server import (
    baseline_database_connections,
    cache_hit_ratio_from_k6,
    connection_reduction,
    summarize_series,
    time_weighted_mean,
)
from perfreport.analysis.trend import (
    mann_kendall,
    mann_kendall_s,
    tie_corrected_variance,
)

MIB = 2**20
T0 = pd.Timestamp("2026-01-05T10:00:00Z")


def _series(values, step_s: float = 15.0) -> pd.Series:
    index = T0 + pd.to_timedelta(np.arange(len(values)) * step_s, unit="s")
    return pd.Series(np.asarray(values, dtype="float64"), index=index, name="memory")


def test_s_matches_kendall_tau():
    rng = np.random.default_rng(3)
    values = rng.normal(size=60)
    n = len(values)
    tau = stats.kendalltau(np.arange(n), values).statistic
    assert mann_kendall_s(values) == pytest.approx(tau * n * (n - 1) / 2, rel=1e-12)


def test_variance_with_ties():
    values = np.array([1, 1, 2, 3, 3, 3, 4], dtype=float)
    n = 7
    expected = (n * (n - 1) * (2 * n + 5) - (2 * 1 * 9) - (3 * 2 * 11)) / 18
    assert tie_corrected_variance(values) == expected


def test_hamed_rao_damps_repeated_samples():
    # A 1 s step over a 15 s scrape repeats each reading 15 times. With this
    # seed the plain test calls the trendless readings a trend.
    rng = np.random.default_rng(9)
    values = np.repeat(rng.normal(size=100), 15)
    plain = mann_kendall(values, autocorrelation=False)
    corrected = mann_kendall(values)

    assert corrected.variance_factor > 1
    assert corrected.p_value > plain.p_value
    assert plain.trend == "increasing"
    assert corrected.trend == "none"
    assert "Hamed-Rao" in corrected.method


def test_repeated_scrapes_collapsed_before_testing():
    rng = np.random.default_rng(9)
    readings = 300 * MIB + rng.normal(0, 1 * MIB, 480)
    trend = memory_trend(_series(np.repeat(readings, 15), step_s=1.0))
    assert trend.n_points < 480
    assert trend.verdict == "no leak"


def test_flat_jitter_is_no_leak():
    rng = np.random.default_rng(7)
    series = _series(300 * MIB + rng.normal(0, 3 * MIB, 480))
    trend = memory_trend(series)

    assert trend.verdict == "no leak"
    assert trend.is_leak is False
    assert trend.slope_high_bytes_per_hour < LeakThresholds().leak_bytes_per_hour


def test_steady_climb_is_leak():
    rng = np.random.default_rng(8)
    hours = np.arange(480) * 15 / 3600
    series = _series(300 * MIB + 40 * MIB * hours + rng.normal(0, 2 * MIB, 480))
    trend = memory_trend(series)

    assert trend.verdict == "leak"
    assert trend.slope_low_bytes_per_hour <= 40 * MIB <= trend.slope_high_bytes_per_hour
    assert trend.p_value < 0.05
    assert trend.criteria_values()["memory_leak"] is True
    # 15 % of 2 h is dropped as warm-up.
    assert trend.steady_start == (T0 + pd.Timedelta(minutes=18)).to_pydatetime()


def test_warmup_climb_then_flat_is_no_leak():
    rng = np.random.default_rng(9)
    ramp = np.linspace(100 * MIB, 300 * MIB, 40)
    flat = 300 * MIB + rng.normal(0, 1 * MIB, 440)
    trend = memory_trend(_series(np.concatenate([ramp, flat])))
    assert trend.verdict == "no leak"


def test_slow_growth_below_threshold_is_no_leak():
    hours = np.arange(480) * 15 / 3600
    series = _series(300 * MIB + 1 * MIB * hours + np.tile([0, 1000], 240))
    trend = memory_trend(series)

    assert trend.verdict == "no leak"
    assert "below the threshold" in trend.reason
    assert trend.slope_bytes_per_hour == pytest.approx(1 * MIB, rel=0.01)


def test_too_few_points_inconclusive():
    # Readings at 0, 2, ..., 14 min; the warm-up ends at 15 % of 14 min = 2.1 min.
    trend = memory_trend(_series(np.arange(8) * MIB, step_s=120))
    assert trend.verdict == "inconclusive"
    assert trend.is_leak is None
    assert trend.reason == "too short: 6 steady points, at least 10 needed"
    assert math.isnan(trend.slope_bytes_per_hour)
    assert [w.code for w in trend.warnings] == ["too-short"]


def test_too_short_duration_inconclusive():
    trend = memory_trend(_series(np.arange(40) * MIB, step_s=5))
    assert trend.verdict == "inconclusive"
    assert trend.reason.startswith("too short: 2.8 min of steady phase")


def test_noisy_series_inconclusive():
    rng = np.random.default_rng(11)
    series = _series(300 * MIB + rng.normal(0, 200 * MIB, 60), step_s=20)
    trend = memory_trend(series)
    assert trend.verdict == "inconclusive"
    assert trend.reason.startswith("too noisy")


def test_thresholds_configurable():
    hours = np.arange(480) * 15 / 3600
    series = _series(300 * MIB + 5 * MIB * hours + np.tile([0, 1000], 240))
    assert memory_trend(series).verdict == "no leak"
    strict = LeakThresholds(leak_bytes_per_hour=2 * MIB)
    assert memory_trend(series, strict).verdict == "leak"


def test_reduction_against_baseline_file_number():
    baseline_file = {"metrics": {"resource_usage": {"database_connections": 4}}}
    number = baseline_database_connections(baseline_file)
    candidate = _series([1, 2, 3, 2])
    result = connection_reduction(candidate, number, baseline_source="baseline file")

    assert number == 4.0
    assert result.candidate_mean_connections == 2.0
    assert result.reduction_percent == 50.0
    assert result.baseline_p95_connections is None
    assert result.p95_reduction_percent is None
    assert result.candidate_p95_connections == pytest.approx(3 - 0.15, rel=1e-12)
    assert result.baseline_source == "baseline file"


def test_results_render_as_html():
    result = connection_reduction(_series([3.0, 3.0]), 0.0)
    page = result._repr_html_()

    assert "<caption>ConnectionReduction</caption>" in page
    assert "<tr><th>candidate_mean_connections</th><td>3</td></tr>" in page
    assert "<li>baseline window has 0 connections" in page


def test_reduction_with_zero_baseline_warns():
    result = connection_reduction(_series([3.0, 3.0]), 0.0)
    assert result.reduction_percent is None
    assert [w.code for w in result.warnings] == ["zero-baseline"]


def test_reduction_ignores_nan_and_inf():
    result = connection_reduction(_series([10, np.nan, np.inf, 20]), _series([30, 30]))
    assert result.candidate_mean_connections == 15.0
    assert result.n_candidate_points == 2
    assert result.reduction_percent == 50.0


def test_baseline_file_without_connections():
    assert baseline_database_connections({"metrics": {}}) is None
    assert (
        baseline_database_connections({"resource_usage": {"database_connections": 7}})
        == 7
    )


def test_time_weighted_mean_skips_gaps():
    index = T0 + pd.to_timedelta([0, 10, 20, 30, 100, 110], unit="s")
    series = pd.Series([1.0, 1.0, 3.0, np.nan, 9.0, 9.0], index=index)
    # Trapezoids 0-10 (1), 10-20 (2); 20-30 touches NaN, 30-100 is a time gap.
    assert time_weighted_mean(series) == pytest.approx((10 * 1 + 10 * 2 + 10 * 9) / 30)


def test_summary_of_all_nan_is_no_data():
    summary = summarize_series(_series([np.nan, np.nan]))
    assert math.isnan(summary.mean)
    assert summary.n_gaps == 2
    assert [w.code for w in summary.warnings] == ["no-data", "gaps"]


def test_hit_ratio_from_k6_rate_metric():
    times = T0 + pd.to_timedelta(np.arange(40) * 1.0, unit="s")
    hit = np.array([0, 1, 1, 1] * 10, dtype=float)
    points = pd.DataFrame({"time": times, "metric": "cache_hit", "value": hit})
    points = pd.concat(
        [points, pd.DataFrame({"time": times[:3], "metric": "http_reqs", "value": 1.0})]
    )
    ratio = cache_hit_ratio_from_k6(points, "cache_hit", bucket_s=4.0)

    assert ratio.source == "k6 metric cache_hit"
    assert ratio.hits == 30
    assert ratio.misses == 10
    assert ratio.mean_ratio == 0.75
    assert ratio.time_weighted_mean_ratio == 0.75
    assert ratio.min_ratio_after_warmup == 0.75


def test_hit_ratio_from_k6_missing_metric():
    points = pd.DataFrame({"time": [T0], "metric": ["http_reqs"], "value": [1.0]})
    ratio = cache_hit_ratio_from_k6(points, "cache_hit")
    assert ratio.mean_ratio is None
    assert [w.code for w in ratio.warnings] == ["no-data"]


def test_counter_increase_across_resets():
    increase, resets = counter_increase(np.array([10, 15, 20, 4, 9, np.nan, 2, 5.0]))
    assert increase == 5 + 5 + 4 + 5 + 2 + 3
    assert resets == 2
    rate, _ = counter_rate(np.array([0.0, 10.0, 20.0]), np.array([0.0, 5.0, 10.0]))
    assert rate == 0.5


def test_histogram_quantile_cases():
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.95, buckets).value == 0.5 + 0.5 * 5 / 10
    assert histogram_quantile(0.5, buckets).value == 0.1
    assert histogram_quantile(0.25, buckets).value == 0.05
    tail = histogram_quantile(0.95, {0.1: 50.0, 1.0: 80.0, math.inf: 100.0})
    assert tail.lower_bound_only
    assert tail.value == 1.0
    empty = histogram_quantile(0.95, {0.1: 0.0, math.inf: 0.0})
    assert math.isnan(empty.value)
    with pytest.raises(ValueError, match=r"\+Inf bucket"):
        histogram_quantile(0.95, {0.1: 1.0})
