"""Throughput and proportion changes: per-second counts and 0/1 series.

Both reduce to comparing the means of two time-ordered series with the circular
block bootstrap, like the latency mean in :mod:`perfreport.analysis.significance`.
"""

from __future__ import annotations

import math

import numpy as np

from perfreport.analysis import bootstrap
from perfreport.analysis.change import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_EFFECT,
    MIN_EVENTS,
    ChangeEstimate,
    Resampler,
    Settings,
    build_estimate,
    check_block_counts,
    choose_block_length,
    make_settings,
    prepare_series,
    to_seconds,
)
from perfreport.errors import UsageError
from perfreport.model import AnalysisWarning


def _compare_means(
    series: tuple[np.ndarray, np.ndarray],
    statistic: str,
    unit: str,
    settings: Settings,
    seed: int,
    block_length: int | None,
    warnings: list[AnalysisWarning],
    sizes: tuple[int, int],
) -> ChangeEstimate:
    """Compare the means of two time-ordered series with the block bootstrap."""
    if block_length is None:
        block_length = choose_block_length(*series)
        rule = f"Politis-White block length {block_length} {unit}"
    else:
        rule = f"block length {block_length} {unit}"
    plans = (
        bootstrap.plan_blocks(series[0].size, block_length),
        bootstrap.plan_blocks(series[1].size, block_length),
    )
    used_length = max(plan.block_length for plan in plans)
    block_warnings, testable = check_block_counts(plans, settings.confidence, unit)
    resampler = Resampler(*series, plans, settings, seed, testable)
    draws = resampler.means() if testable else None
    method = (
        f"circular block bootstrap of {unit} ({rule}, {used_length} used), "
        f"percentile interval of the ratio, {settings.n_resamples} resamples"
    )
    points = (
        float(np.mean(series[0])) if series[0].size else math.nan,
        float(np.mean(series[1])) if series[1].size else math.nan,
    )
    return build_estimate(
        statistic,
        points,
        draws,
        sizes,
        used_length,
        method,
        [*warnings, *block_warnings],
        settings,
    )


def per_second_counts(times: np.ndarray) -> np.ndarray:
    """Return requests per whole second from the first request on.

    ``times`` are int64 ns, datetime64 or float seconds, in any order. The last,
    partial second is left out when the run lasts one second or more, because
    its count would understate the rate.
    """
    seconds = np.sort(to_seconds(times))
    if seconds.size == 0:
        return np.zeros(0)
    offsets = seconds - seconds[0]
    whole = math.floor(offsets[-1])
    buckets = np.floor(offsets).astype(np.int64)
    if whole >= 1:
        buckets = buckets[buckets < whole]
        return np.bincount(buckets, minlength=whole).astype(np.float64)
    return np.array([float(seconds.size)])


def estimate_rate_change(
    baseline_times: np.ndarray,
    candidate_times: np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    alpha: float | None = None,
    min_effect: float = DEFAULT_MIN_EFFECT,
    lower_is_better: bool = False,
    seed: int = 0,
    n_resamples: int | None = None,
    block_length: int | None = None,
) -> ChangeEstimate:
    """Estimate the change of throughput (requests per second) between two runs.

    Each run's timestamps become a series of per-second counts
    (:func:`per_second_counts`); their means are compared with the circular block
    bootstrap, blocks measured in seconds. ``n_baseline``/``n_candidate`` are the
    numbers of whole seconds. Higher is better unless ``lower_is_better``.

    Raises:
        UsageError: an option is out of range.
    """
    settings = make_settings(
        confidence, alpha, min_effect, n_resamples, block_length, lower_is_better
    )
    counts = (per_second_counts(baseline_times), per_second_counts(candidate_times))
    sizes = (counts[0].size, counts[1].size)
    return _compare_means(
        counts, "rate", "seconds", settings, seed, block_length, [], sizes
    )


def estimate_proportion_change(
    baseline: np.ndarray,
    candidate: np.ndarray,
    baseline_times: np.ndarray | None = None,
    candidate_times: np.ndarray | None = None,
    *,
    lower_is_better: bool,
    statistic: str = "rate",
    confidence: float = DEFAULT_CONFIDENCE,
    alpha: float | None = None,
    min_effect: float = DEFAULT_MIN_EFFECT,
    seed: int = 0,
    n_resamples: int | None = None,
    block_length: int | None = None,
) -> ChangeEstimate:
    """Estimate the change of a proportion (error, check or cache-hit rate).

    ``baseline``/``candidate`` are booleans (or 0/1), one per request or check,
    in time order or sorted by ``*_times``. The proportions are compared with the
    circular block bootstrap of the 0/1 series, which keeps bursts of errors
    together. Pass ``lower_is_better=True`` for error rates, False for check
    and hit rates. With a baseline proportion of 0 the relative change is None
    and the verdict follows the difference. Fewer than :data:`MIN_EVENTS` events
    or non-events in a run give a ``rare-events`` warning, because a bootstrap
    interval of a handful of events is too narrow.

    Raises:
        UsageError: an option is out of range or the values are not 0/1.
    """
    settings = make_settings(
        confidence, alpha, min_effect, n_resamples, block_length, lower_is_better
    )
    base = prepare_series(_as_binary(baseline, "baseline"), baseline_times, "baseline")
    cand = prepare_series(
        _as_binary(candidate, "candidate"), candidate_times, "candidate"
    )
    warnings = [*base.warnings, *cand.warnings]
    for run, values in (("baseline", base.values), ("candidate", cand.values)):
        rare = _rare_events_warning(run, values)
        if rare is not None:
            warnings.append(rare)
    sizes = (base.values.size, cand.values.size)
    return _compare_means(
        (base.values, cand.values),
        statistic,
        "requests",
        settings,
        seed,
        block_length,
        warnings,
        sizes,
    )


def _as_binary(values: np.ndarray, run: str) -> np.ndarray:
    array = np.asarray(values)
    numeric = array.astype(np.float64)
    finite = numeric[np.isfinite(numeric)]
    if not bool(np.all((finite == 0) | (finite == 1))):
        raise UsageError(
            f"{run} proportion values must be booleans or 0/1; found "
            f"{np.unique(finite)[:5].tolist()}"
        )
    return numeric


def _rare_events_warning(run: str, values: np.ndarray) -> AnalysisWarning | None:
    events = int(values.sum())
    rarest = min(events, values.size - events)
    if rarest >= MIN_EVENTS or values.size == 0:
        return None
    return AnalysisWarning(
        "rare-events",
        f"{run}: {events} of {values.size} are events; an interval needs at least "
        f"{MIN_EVENTS} events and {MIN_EVENTS} non-events, so it may be too narrow",
    )
