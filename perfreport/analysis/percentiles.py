"""Trend statistics computed exactly as k6 v1.1.0 computes its end-of-test summary.

k6 sorts the samples and, for p(X), takes the index ``i = (X/100)·(n−1)`` in
floating point, then interpolates linearly between the samples at ``floor(i)``
and ``ceil(i)``. numpy's default ``"linear"`` quantile method is the same rule
and gives the same values to the last bit, so it is used here. The average is a
running sum in arrival order divided by n. ``math.fsum`` or numpy's pairwise sum
would differ from k6 in the last bits, so the sum is taken sequentially.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from perfreport.errors import UsageError

PERCENTILE_PATTERN = re.compile(r"^p\((\d+(?:\.\d+)?)\)$")
BASIC_TREND_STATS = ("count", "avg", "min", "med", "max")
DEFAULT_TREND_STATS = ("avg", "min", "med", "max", "p(90)", "p(95)", "p(99)")
"""Statistics shown for Trend metrics unless the user asks for others."""

K6_DEFAULT_TREND_STATS = ("avg", "min", "med", "max", "p(90)", "p(95)")
"""k6's own default ``summaryTrendStats``."""


def percentile_level(statistic: str) -> float | None:
    """Return X/100 for a statistic written ``p(X)``, or None for any other name."""
    match = PERCENTILE_PATTERN.match(statistic)
    if match is None:
        return None
    return float(match.group(1)) / 100.0


def validate_trend_stats(stats: Iterable[str], *, option: str = "--stat") -> tuple[str, ...]:
    """Check trend statistic names and return them as a tuple.

    Accepted: count, avg, min, med, max and p(X) with 0 <= X <= 100, as k6's
    ``summaryTrendStats`` accepts them.
    """
    checked = []
    for statistic in stats:
        statistic = statistic.strip()
        if statistic in BASIC_TREND_STATS:
            checked.append(statistic)
            continue
        level = percentile_level(statistic)
        if level is None or not 0.0 <= level <= 1.0:
            raise UsageError(
                f"invalid trend statistic {statistic!r} for {option}; use count, avg, "
                "min, med, max or p(X) with X from 0 to 100, e.g. 'p(99.9)'"
            )
        checked.append(statistic)
    return tuple(checked)


def k6_average(values: np.ndarray) -> float:
    """Return the mean as k6 computes it: a running float64 sum in arrival order / n."""
    if values.size == 0:
        return float("nan")
    # np.cumsum adds strictly left to right, unlike np.sum's pairwise summation.
    return float(np.cumsum(values, dtype=np.float64)[-1] / values.size)


def k6_percentiles(sorted_values: np.ndarray, levels: Sequence[float]) -> list[float]:
    """Return k6's percentiles of already sorted values for levels in [0, 1]."""
    if sorted_values.size == 0:
        return [float("nan")] * len(levels)
    result = np.quantile(sorted_values, np.asarray(levels, dtype=np.float64), method="linear")
    return [float(value) for value in np.atleast_1d(result)]


def trend_statistics(values: np.ndarray, stats: Sequence[str]) -> dict[str, float]:
    """Compute the requested k6 Trend statistics of samples given in arrival order.

    Returns NaN for every statistic of an empty sample, where k6 itself prints 0;
    callers show "no samples" instead of a number.
    """
    values = np.asarray(values, dtype=np.float64)
    ordered = np.sort(values, kind="stable")
    result: dict[str, float] = {}
    levels = {s: percentile_level(s) for s in stats}
    quantile_stats = [s for s, level in levels.items() if level is not None]
    quantiles = k6_percentiles(ordered, [levels[s] for s in quantile_stats])  # type: ignore[misc]
    result.update(zip(quantile_stats, quantiles))
    empty = values.size == 0
    for statistic in stats:
        if statistic == "count":
            result[statistic] = float(values.size)
        elif statistic == "avg":
            result[statistic] = k6_average(values)
        elif statistic == "min":
            result[statistic] = float("nan") if empty else float(ordered[0])
        elif statistic == "max":
            result[statistic] = float("nan") if empty else float(ordered[-1])
        elif statistic == "med":
            result[statistic] = k6_percentiles(ordered, [0.5])[0]
    return {s: result[s] for s in stats}
