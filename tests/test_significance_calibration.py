"""Calibration and power of the block bootstrap on time-correlated latency series.

Two simulated runs with no real difference (A/A) must be called significant no
more often than alpha allows. A true 10 % rise in p(95) must be found in at least
80 % of runs. A naive per-request test on the same A/A data is shown to fail.
The larger version is benchmarks/significance_calibration.py.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal, stats

from perfreport.analysis.significance import (
    estimate_changes,
    estimate_proportion_change,
)

PHI = 0.85
ALPHA = 0.05
STATISTICS = ["avg", "med", "p(95)"]


def ar1_latencies(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return ``n`` latencies in ms: log-normal with AR(1) log, median 100 ms."""
    log_sd = 0.4
    innovations = rng.normal(0.0, log_sd * math.sqrt(1 - PHI**2), n)
    start = rng.normal(0.0, log_sd)
    log_latency, _ = signal.lfilter([1.0], [1.0, -PHI], innovations, zi=[PHI * start])
    return 100.0 * np.exp(log_latency)


def false_alarm_bound(runs: int) -> int:
    """Return the max rejections a correct alpha-level test gives with 99.9 % chance."""
    return int(stats.binom.ppf(0.999, runs, ALPHA))


def test_aa_false_alarms_within_alpha() -> None:
    runs, n = 120, 6000
    rng = np.random.default_rng(2024)
    rejected = dict.fromkeys(STATISTICS, 0)
    for run in range(runs):
        a, b = ar1_latencies(rng, n), ar1_latencies(rng, n)
        # min_effect 0 leaves the decision to the p-value alone.
        for estimate in estimate_changes(a, b, STATISTICS, seed=run, min_effect=0.0):
            rejected[estimate.statistic] += estimate.significant
    bound = false_alarm_bound(runs)
    for statistic, count in rejected.items():
        assert count <= bound, f"{statistic}: {count} of {runs} A/A runs rejected"


def test_naive_test_fails_on_same_data() -> None:
    runs, n = 120, 6000
    rng = np.random.default_rng(2024)
    rejected = 0
    for _ in range(runs):
        a, b = ar1_latencies(rng, n), ar1_latencies(rng, n)
        rejected += stats.mannwhitneyu(a, b).pvalue < ALPHA
    # A per-request test treats 6000 correlated requests as independent and
    # rejects identical runs several times more often than alpha.
    assert rejected > 4 * false_alarm_bound(runs)


def test_power_for_ten_percent_p95_shift() -> None:
    runs, n = 50, 15_000
    rng = np.random.default_rng(7)
    found = 0
    for run in range(runs):
        a = ar1_latencies(rng, n)
        b = ar1_latencies(rng, n) * 1.10
        estimate = estimate_changes(a, b, ["p(95)"], seed=run)[0]
        found += estimate.verdict == "worse"
    assert found >= 0.8 * runs, f"found {found} of {runs}"


def test_interval_covers_true_change() -> None:
    runs, n = 50, 10_000
    rng = np.random.default_rng(8)
    covered = 0
    for run in range(runs):
        a = ar1_latencies(rng, n)
        b = ar1_latencies(rng, n) * 1.10
        estimate = estimate_changes(a, b, ["p(95)"], seed=run)[0]
        covered += estimate.ci_low_pct <= 10.0 <= estimate.ci_high_pct
    # 95 % intervals: too few covering runs has a chance below 0.1 %.
    assert covered >= stats.binom.ppf(0.001, runs, 0.95)


def bursty_errors(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return ``n`` booleans where errors come in bursts of about 20 requests."""
    # Alternate ok stretches (mean 1000 requests) and error bursts (mean 20), so
    # about 2 % of requests fail. The series starts at a random point.
    pieces = 2 * (n // 500 + 10)
    lengths = np.empty(pieces, dtype=np.int64)
    lengths[0::2] = rng.geometric(0.001, pieces // 2)
    lengths[1::2] = rng.geometric(0.05, pieces // 2)
    states = np.tile([False, True], pieces // 2)
    series = np.repeat(states, lengths)
    offset = int(rng.integers(0, 1000))
    return series[offset : offset + n]


def test_proportion_aa_false_alarms_within_alpha() -> None:
    runs, n = 100, 20_000
    rng = np.random.default_rng(31)
    rejected = naive_rejected = 0
    for run in range(runs):
        a, b = bursty_errors(rng, n), bursty_errors(rng, n)
        estimate = estimate_proportion_change(
            a, b, lower_is_better=True, seed=run, min_effect=0.0
        )
        rejected += estimate.significant
        # Two-proportion z-test, as if every request were independent.
        pooled = (a.sum() + b.sum()) / (2 * n)
        z = (b.mean() - a.mean()) / math.sqrt(2 * pooled * (1 - pooled) / n)
        naive_rejected += 2 * stats.norm.sf(abs(z)) < ALPHA
    assert rejected <= false_alarm_bound(runs)
    assert naive_rejected > 3 * false_alarm_bound(runs)
