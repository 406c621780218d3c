"""Tests of the significance core: options, point values, bootstrap pieces, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from perfreport.analysis import bootstrap
from perfreport.analysis.blocklength import politis_white_block_length
from perfreport.analysis.multiple import adjust_p_values
from perfreport.analysis.significance import (
    ChangeEstimate,
    adjust,
    check_comparability,
    decide_verdict,
    estimate_change,
    estimate_changes,
    estimate_proportion_change,
    estimate_rate_change,
    parse_statistic,
    per_second_counts,
    validate_options,
)
from perfreport.errors import UsageError


def ar1_latencies(rng: np.random.Generator, n: int, phi: float = 0.85) -> np.ndarray:
    log_sd = 0.4
    innovations = rng.normal(0.0, log_sd * math.sqrt(1 - phi**2), n)
    start = rng.normal(0.0, log_sd)
    log_latency, _ = signal.lfilter([1.0], [1.0, -phi], innovations, zi=[phi * start])
    return 100.0 * np.exp(log_latency)


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    "options",
    [
        {"confidence": 0.49},
        {"confidence": 0.9999},
        {"confidence": math.nan},
        {"alpha": 0.0},
        {"alpha": 0.6},
        {"min_effect": -0.01},
        {"min_effect": 1.0},
        {"n_resamples": 10},
        {"n_resamples": 1000.5},
        {"correction": "bonferroni"},
        {"block_length": 0},
    ],
)
def test_validate_options_rejects(options: dict) -> None:
    with pytest.raises(UsageError):
        validate_options(**options)


def test_validate_options_accepts_bounds() -> None:
    validate_options(
        confidence=0.999,
        alpha=0.5,
        min_effect=0.0,
        n_resamples=100,
        correction="holm",
        block_length=1,
    )


def test_estimate_change_validates_first() -> None:
    with pytest.raises(UsageError, match="confidence"):
        estimate_change(np.ones(10), np.ones(10), "p(95)", confidence=1.0)
    with pytest.raises(UsageError, match="unknown statistic"):
        estimate_change(np.ones(10), np.ones(10), "p95")


def test_parse_statistic_names() -> None:
    assert parse_statistic("avg") == ("mean", None)
    assert parse_statistic("mean") == ("mean", None)
    assert parse_statistic("med") == ("quantile", 0.5)
    assert parse_statistic("p(99.9)") == ("quantile", pytest.approx(0.999))
    assert parse_statistic("max") == ("max", 1.0)
    with pytest.raises(UsageError):
        parse_statistic("p(101)")


# ---------------------------------------------------------------- point values


def test_percentile_point_is_k6_linear() -> None:
    # k6: sort, i = X/100 (n - 1), interpolate between floor(i) and ceil(i).
    values = np.array([4.0, 1.0, 3.0, 2.0] * 100)
    estimate = estimate_change(values, values * 2, "p(90)", min_effect=0.0)
    ordered = np.sort(values)
    i = 0.9 * (ordered.size - 1)
    expected = ordered[math.floor(i)] + (i - math.floor(i)) * (
        ordered[math.ceil(i)] - ordered[math.floor(i)]
    )
    assert estimate.baseline_value == pytest.approx(expected)
    assert estimate.candidate_value == pytest.approx(2 * expected)
    assert estimate.change_pct == pytest.approx(100.0)


def test_same_seed_same_result() -> None:
    rng = np.random.default_rng(3)
    a, b = ar1_latencies(rng, 4000), ar1_latencies(rng, 4000)
    first = estimate_changes(a, b, ["avg", "p(95)"], seed=11)
    second = estimate_changes(a, b, ["avg", "p(95)"], seed=11)
    assert first == second
    other = estimate_changes(a, b, ["avg", "p(95)"], seed=12)
    assert first[1].ci_low_pct != other[1].ci_low_pct


def test_times_put_values_in_order() -> None:
    rng = np.random.default_rng(4)
    a, b = ar1_latencies(rng, 3000), ar1_latencies(rng, 3000)
    order = rng.permutation(a.size)
    times_ns = np.arange(a.size, dtype=np.int64) * 1_000_000
    shuffled = estimate_change(
        a[order], b, "avg", baseline_times=times_ns[order], candidate_times=times_ns
    )
    plain = estimate_change(a, b, "avg")
    assert shuffled == plain


# ---------------------------------------------------------------- warnings


def test_min_max_are_untested() -> None:
    rng = np.random.default_rng(5)
    a, b = ar1_latencies(rng, 2000), ar1_latencies(rng, 2000) * 2
    for estimate in estimate_changes(a, b, ["min", "max"]):
        assert estimate.verdict == "untested"
        assert estimate.p_value is None
        assert estimate.ci_low_pct is None
        assert [w.code for w in estimate.warnings] == ["no-interval"]


def test_extreme_percentile_needs_more_requests() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.lognormal(size=300), rng.lognormal(size=300) * 3
    estimate = estimate_change(a, b, "p(99.9)")
    assert estimate.verdict == "untested"
    warning = next(w for w in estimate.warnings if w.code == "percentile-beyond-data")
    assert "10000 requests" in warning.message


def test_short_run_is_untested() -> None:
    rng = np.random.default_rng(7)
    a, b = ar1_latencies(rng, 200, phi=0.95), ar1_latencies(rng, 200, phi=0.95)
    estimate = estimate_change(a, b * 3, "avg", block_length=50)
    assert estimate.verdict == "untested"
    assert any(w.code == "run-too-short" for w in estimate.warnings)


def test_few_blocks_warns() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.lognormal(size=1500), rng.lognormal(size=1500)
    estimate = estimate_change(a, b, "avg", block_length=100)
    assert estimate.verdict != "untested"
    assert any(w.code == "few-blocks" for w in estimate.warnings)


def test_non_finite_values_dropped() -> None:
    rng = np.random.default_rng(9)
    a = rng.lognormal(size=1000)
    a[[3, 7]] = np.nan
    estimate = estimate_change(a, rng.lognormal(size=1000), "med")
    assert estimate.n_baseline == 998
    assert any(w.code == "non-finite-values" for w in estimate.warnings)


# ---------------------------------------------------------------- bootstrap pieces


def expand_resample(
    values: np.ndarray, plan: bootstrap.BlockPlan, weights: np.ndarray
) -> np.ndarray:
    """Build one resample request by request: each sub-block repeated by its weight."""
    pieces = np.split(values, bootstrap.sub_block_starts(plan)[1:])
    return np.concatenate([np.tile(piece, int(w)) for piece, w in zip(pieces, weights)])


def test_resampled_means_are_exact() -> None:
    rng = np.random.default_rng(10)
    values = rng.lognormal(size=1003)
    plan = bootstrap.plan_blocks(values.size, 40)
    weights = bootstrap.resample_weights(plan, 20, rng)
    means = bootstrap.resample_means(values, plan, weights)
    for row, mean in zip(weights, means):
        assert mean == pytest.approx(
            expand_resample(values, plan, row).mean(), rel=1e-12
        )


@pytest.mark.parametrize(("size", "block_length"), [(1003, 40), (10, 3), (5, 8), (3, 10), (7, 1)])
def test_means_from_starts_equal_weighted_means(size, block_length) -> None:
    rng = np.random.default_rng(size)
    values = rng.lognormal(size=size)
    plan = bootstrap.plan_blocks(values.size, block_length)
    starts = bootstrap.draw_starts(plan, 50, rng)
    weights = bootstrap.weights_from_starts(plan, starts)
    from_starts = bootstrap.resample_means_from_starts(values, plan, starts)
    for row, mean in zip(weights, from_starts):
        assert mean == pytest.approx(expand_resample(values, plan, row).mean(), rel=1e-12)


def test_resampled_quantiles_within_bound() -> None:
    rng = np.random.default_rng(11)
    values = ar1_latencies(rng, 5003)
    plan = bootstrap.plan_blocks(values.size, 60)
    weights = bootstrap.resample_weights(plan, 50, rng)
    binned = bootstrap.bin_series(values, plan)
    bound = bootstrap.QUANTILE_ERROR_BOUND
    for q in (0.01, 0.5, 0.95, 0.999):
        approximate = bootstrap.resample_quantiles(binned, weights, q)
        for row, value in zip(weights, approximate):
            exact = np.quantile(expand_resample(values, plan, row), q)
            assert abs(value / exact - 1) <= bound * (1 + 1e-9)


def test_quantiles_with_zero_and_negative_values() -> None:
    rng = np.random.default_rng(12)
    values = np.concatenate([np.zeros(200), rng.normal(size=800)])
    rng.shuffle(values)
    plan = bootstrap.plan_blocks(values.size, 10)
    weights = bootstrap.resample_weights(plan, 30, rng)
    binned = bootstrap.bin_series(values, plan)
    for q in (0.1, 0.5, 0.9):
        approximate = bootstrap.resample_quantiles(binned, weights, q)
        for row, value in zip(weights, approximate):
            exact = np.quantile(expand_resample(values, plan, row), q)
            assert (
                abs(value - exact)
                <= bootstrap.QUANTILE_ERROR_BOUND * abs(exact) + 1e-12
            )


def test_weights_keep_run_length() -> None:
    plan = bootstrap.plan_blocks(10_000, 100)
    weights = bootstrap.resample_weights(plan, 10, np.random.default_rng(0))
    draws = math.ceil(plan.n_sub / plan.sub_per_block)
    assert np.all(weights.sum(axis=1) == draws * plan.sub_per_block)


def test_block_length_small_for_independent_data() -> None:
    rng = np.random.default_rng(13)
    assert politis_white_block_length(rng.normal(size=20_000)) <= 3


def test_block_length_grows_with_correlation() -> None:
    rng = np.random.default_rng(14)
    n = 20_000
    log_values = np.log(ar1_latencies(rng, n, phi=0.85))
    block = politis_white_block_length(log_values)
    # For AR(1), b = (6 phi^2 / ((1 - phi)^2 (1 + phi)^2) n)^(1/3) with the CB constant.
    phi = 0.85
    theory = (6 * phi**2 / ((1 - phi) ** 2 * (1 + phi) ** 2) * n) ** (1 / 3)
    assert theory / 2 < block < theory * 2


# ------------------------------------------------------------ throughput, proportions


def test_per_second_counts_drop_partial_last_second() -> None:
    times_s = np.array([0.0, 0.5, 0.9, 1.2, 1.3, 2.1, 2.5, 2.6, 3.05])
    assert per_second_counts(times_s).tolist() == [3.0, 2.0, 3.0]
    times_ns = (times_s * 1e9).astype(np.int64)
    assert per_second_counts(times_ns).tolist() == [3.0, 2.0, 3.0]


def poisson_times(
    rng: np.random.Generator, rate_per_s: float, seconds: int
) -> np.ndarray:
    # A slowly drifting rate makes neighbouring seconds correlated.
    drift = 1 + 0.2 * np.sin(np.arange(seconds) / 15.0)
    counts = rng.poisson(rate_per_s * drift)
    starts = np.repeat(np.arange(seconds), counts)
    return starts + rng.random(starts.size)


def test_rate_change_detects_higher_throughput() -> None:
    rng = np.random.default_rng(15)
    baseline = poisson_times(rng, 50, 600)
    candidate = poisson_times(rng, 60, 600)
    estimate = estimate_rate_change(baseline, candidate)
    assert estimate.verdict == "better"
    assert estimate.change_pct == pytest.approx(20, abs=5)
    assert estimate.ci_low_pct < 20 < estimate.ci_high_pct
    assert estimate.n_baseline == 599


def test_rate_change_same_load_is_not_significant() -> None:
    rng = np.random.default_rng(16)
    estimate = estimate_rate_change(
        poisson_times(rng, 50, 600), poisson_times(rng, 50, 600)
    )
    assert estimate.verdict == "~"


def test_proportion_change_error_bursts() -> None:
    rng = np.random.default_rng(17)
    baseline = rng.random(20_000) < 0.01
    candidate = rng.random(20_000) < 0.03
    estimate = estimate_proportion_change(baseline, candidate, lower_is_better=True)
    assert estimate.verdict == "worse"
    assert estimate.baseline_value == pytest.approx(baseline.mean())
    assert estimate.ci_low_pct > 0


def test_proportion_from_zero_baseline() -> None:
    rng = np.random.default_rng(18)
    baseline = np.zeros(5000, dtype=bool)
    candidate = rng.random(5000) < 0.02
    estimate = estimate_proportion_change(baseline, candidate, lower_is_better=True)
    assert estimate.change_pct is None
    assert estimate.verdict == "worse"
    assert any(w.code == "rare-events" for w in estimate.warnings)


def test_proportion_rejects_non_binary() -> None:
    with pytest.raises(UsageError, match="0/1"):
        estimate_proportion_change(
            np.array([0, 2]), np.array([0, 1]), lower_is_better=True
        )


# ------------------------------------------------------------ verdicts and corrections


def test_verdict_rule() -> None:
    common = {"alpha": 0.05, "min_effect": 0.05}
    assert decide_verdict(-0.10, -1, 0.01, lower_is_better=True, **common) == "better"
    assert decide_verdict(0.10, 1, 0.01, lower_is_better=True, **common) == "worse"
    assert decide_verdict(0.10, 1, 0.01, lower_is_better=False, **common) == "better"
    assert decide_verdict(0.04, 1, 1e-9, lower_is_better=True, **common) == "~"
    assert decide_verdict(0.50, 1, 0.06, lower_is_better=True, **common) == "~"
    assert decide_verdict(None, 1, 0.01, lower_is_better=True, **common) == "worse"
    assert decide_verdict(0.5, 1, None, lower_is_better=True, **common) == "untested"


def test_benjamini_hochberg_by_hand() -> None:
    # Sorted: 0.005, 0.01, 0.03, 0.04 -> x4/1, x4/2, x4/3, x4/4
    # = 0.02, 0.02, 0.04, 0.04, already non-decreasing.
    adjusted = adjust_p_values([0.01, 0.04, 0.03, 0.005], "bh")
    assert adjusted.tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_benjamini_hochberg_step_up() -> None:
    # Sorted: 0.01 x3 = 0.03, 0.04 x3/2 = 0.06, 0.045 x1 = 0.045 -> step-up min 0.045.
    adjusted = adjust_p_values([0.045, 0.01, 0.04], "bh")
    assert adjusted.tolist() == pytest.approx([0.045, 0.03, 0.045])


def test_holm_by_hand() -> None:
    # Sorted: 0.005 x4, 0.01 x3, 0.03 x2, 0.04 x1 = 0.02, 0.03, 0.06, 0.04 -> max 0.06.
    adjusted = adjust_p_values([0.01, 0.04, 0.03, 0.005], "holm")
    assert adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_adjustment_caps_at_one() -> None:
    assert adjust_p_values([0.6, 0.9], "holm").tolist() == [1.0, 1.0]
    assert adjust_p_values([], "bh").size == 0


def make_estimate(p_value: float | None, change_pct: float = 20.0) -> ChangeEstimate:
    return ChangeEstimate(
        statistic="p(95)",
        baseline_value=100.0,
        candidate_value=100.0 + change_pct,
        change_pct=change_pct,
        ci_low_pct=None,
        ci_high_pct=None,
        p_value=p_value,
        p_adjusted=None,
        n_baseline=1000,
        n_candidate=1000,
        block_length=10,
        method="test",
        verdict="worse" if p_value is not None and p_value < 0.05 else "~",
    )


def test_adjust_recomputes_verdicts() -> None:
    estimates = [
        make_estimate(0.01),
        make_estimate(0.04),
        make_estimate(0.03),
        make_estimate(0.005),
        make_estimate(None),
    ]
    holm = adjust(estimates, "holm")
    assert [e.p_adjusted for e in holm[:4]] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [e.verdict for e in holm] == ["worse", "~", "~", "worse", "~"]
    assert holm[4] is estimates[4]
    bh = adjust(estimates)
    assert [e.verdict for e in bh[:4]] == ["worse", "worse", "worse", "worse"]
    assert "BH-adjusted" in bh[0].method


def test_adjust_rejects_unknown_method() -> None:
    with pytest.raises(UsageError, match="bonferroni"):
        adjust([make_estimate(0.01)], "bonferroni")


# ---------------------------------------------------------------- comparability


def test_comparability_same_setup() -> None:
    info = {
        "script": "checkout.js",
        "k6_version": "v1.1.0",
        "planned_duration_s": 300,
        "scenarios": {
            "browse": {
                "executor": "ramping-vus",
                "stages": [{"duration_s": 60, "target": 50}],
            }
        },
    }
    other = dict(info, k6_version="v1.1.2")
    assert check_comparability(info, other) == []


def test_comparability_reports_each_difference() -> None:
    baseline = {
        "script": "checkout.js",
        "k6_version": "v0.54.0",
        "planned_duration_s": 300,
        "scenarios": {
            "browse": {
                "executor": "constant-arrival-rate",
                "rate": 100,
                "time_unit_s": 1,
            },
            "login": {"executor": "ramping-vus"},
        },
    }
    candidate = {
        "script": "checkout-v2.js",
        "k6_version": "v1.1.0",
        "planned_duration_s": 600,
        "scenarios": {
            "browse": {"executor": "constant-vus", "rate": 200, "time_unit_s": 1}
        },
    }
    messages = [w.message for w in check_comparability(baseline, candidate)]
    assert any(m.startswith("script differs") for m in messages)
    assert any(m.startswith("k6 version differs") for m in messages)
    assert any(m.startswith("planned duration (s) differs") for m in messages)
    assert any(m.startswith("scenarios differ") for m in messages)
    assert any("'browse': executor differs" in m for m in messages)
    assert any("'browse': rate differs" in m for m in messages)
    assert len(messages) == 6


def test_comparability_missing_in_one_run() -> None:
    warnings = check_comparability({"script": "a.js"}, {})
    assert [w.code for w in warnings] == ["comparability-unknown"]
    assert "candidate run does not record its script" in warnings[0].message
