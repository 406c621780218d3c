"""Trend statistics computed exactly as k6 v1.1.0 computes its end-of-test summary.

k6 sorts the samples and, for p(X), takes the index ``i = (X/100)·(n−1)`` in
floating point, then interpolates between the samples at ``floor(i)`` and
``ceil(i)`` as ``v[floor] + (v[ceil] − v[floor])·(i − floor(i))``. That formula is
used here as written: numpy's "linear" method picks the same two samples but
computes the interpolation the other way round from the upper one when the
fraction is 0.5 or more, which can differ from k6 in the last bit. Only the
samples at the ranks needed are put in place (``numpy.partition``, linear time)
instead of sorting the whole sample; the values at those ranks are the same.

The average is a running sum in arrival order divided by n. ``math.fsum`` or
numpy's pairwise sum would differ from k6 in the last bits, so the sum is taken
sequentially.
"""

from __future__ import annotations

import math
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


def k6_ranks(n: int, levels: Sequence[float]) -> list[tuple[int, int, float]]:
    """Return k6's (lower rank, upper rank, fraction) of each level for n samples."""
    ranks = []
    for level in levels:
        index = level * (float(n) - 1.0)
        lower = math.floor(index)
        ranks.append((lower, math.ceil(index), index - lower))
    return ranks


def k6_percentiles(sorted_values: np.ndarray, levels: Sequence[float]) -> list[float]:
    """Return k6's percentiles of values for levels in [0, 1].

    The values need only be in order at the ranks :func:`k6_ranks` names, as
    ``numpy.partition`` leaves them; a fully sorted array serves as well.
    """
    n = sorted_values.size
    if n == 0:
        return [math.nan] * len(levels)
    result = []
    for lower, upper, fraction in k6_ranks(n, levels):
        low = float(sorted_values[lower])
        high = float(sorted_values[upper])
        result.append(low + (high - low) * fraction)
    return result


def k6_quantile(values: np.ndarray, level: float) -> float:
    """Return k6's percentile at ``level`` (0 to 1) of values in any order."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return math.nan
    lower, upper, _ = k6_ranks(values.size, [level])[0]
    return k6_percentiles(np.partition(values, sorted({lower, upper})), [level])[0]


def trend_statistics(values: np.ndarray, stats: Sequence[str], *, overwrite: bool = False) -> dict[str, float]:
    """Compute the requested k6 Trend statistics of samples given in arrival order.

    Returns NaN for every statistic of an empty sample, where k6 itself prints 0;
    callers show "no samples" instead of a number. With ``overwrite`` a float64
    ``values`` array is reordered in place instead of copied.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    average = k6_average(values) if "avg" in stats else math.nan
    levels = {s: (0.5 if s == "med" else percentile_level(s)) for s in stats}
    requested = [level for level in levels.values() if level is not None]
    if n:
        kth = {0, n - 1}
        for lower, upper, _ in k6_ranks(n, requested):
            kth.update((lower, upper))
        if overwrite and values.flags.writeable:
            values.partition(sorted(kth))
            ordered = values
        else:
            ordered = np.partition(values, sorted(kth))
    else:
        ordered = values
    result: dict[str, float] = {}
    for statistic in stats:
        level = levels[statistic]
        if level is not None:
            result[statistic] = k6_percentiles(ordered, [level])[0]
        elif statistic == "count":
            result[statistic] = float(n)
        elif statistic == "avg":
            result[statistic] = average
        elif statistic == "min":
            result[statistic] = float(ordered[0]) if n else math.nan
        elif statistic == "max":
            result[statistic] = float(ordered[-1]) if n else math.nan
    return result
