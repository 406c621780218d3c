"""Memory-leak verdicts from memory series (RSS, Redis memory, heap).

The steady phase of a series is what follows the first ``warmup_fraction`` of
its duration (15 % by default), because caches, pools and JIT warm-up make
memory climb at the start of every run. Consecutive equal readings are kept
once, because a query step finer than the scrape interval repeats them. Over the steady phase the slope is the
Theil–Sen estimator with its confidence interval (``scipy.stats.theilslopes``)
and the trend test is Mann–Kendall with ties and the Hamed–Rao correction for
autocorrelation (:mod:`perfreport.analysis.trend`).

Verdicts, with the defaults of :class:`LeakThresholds`:

``leak``
    The trend is significantly increasing and the slope is at least
    ``leak_bytes_per_hour``.
``no leak``
    No significant increase and the interval's upper end is below
    ``leak_bytes_per_hour`` (a leak of that size is ruled out), or a
    significant increase whose slope is below the threshold.
``inconclusive``
    Too short (fewer than ``min_points`` finite points or under
    ``min_duration_s`` of steady phase), or too noisy (no significant trend
    but the interval reaches leak-sized slopes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from scipy import stats

from perfreport.analysis.server import FieldTableHTML
from perfreport.analysis.trend import mann_kendall
from perfreport.model import AnalysisWarning

METHOD = "Theil-Sen slope with Mann-Kendall test (ties, Hamed-Rao correction)"


@dataclass(frozen=True)
class LeakThresholds:
    """Settings of the leak verdict, each one settable from the report config.

    ``leak_bytes_per_hour``: the smallest growth called a leak (10 MiB/h).
    ``alpha``: significance level of the trend test and 1 - confidence of the
    slope interval. ``max_points``: longer series are thinned evenly to this
    many points, because Theil–Sen and Mann–Kendall cost O(n²).
    """

    leak_bytes_per_hour: float = 10 * 2**20
    alpha: float = 0.05
    warmup_fraction: float = 0.15
    min_points: int = 10
    min_duration_s: float = 600.0
    max_points: int = 2000


@dataclass(frozen=True)
class MemoryTrend(FieldTableHTML):
    """The trend of one memory series over its steady phase.

    Slopes are in bytes per hour over ``steady_start``..``steady_end``;
    ``slope_low_bytes_per_hour``/``slope_high_bytes_per_hour`` bound the
    ``confidence`` interval. Slopes are NaN and the p-value None when the
    series is too short to test. ``verdict`` is ``leak``, ``no leak`` or
    ``inconclusive``, with ``reason`` saying why.
    """

    name: str
    verdict: str
    reason: str
    slope_bytes_per_hour: float
    slope_low_bytes_per_hour: float
    slope_high_bytes_per_hour: float
    confidence: float
    p_value: float | None
    n_points: int
    duration_s: float
    steady_start: datetime | None
    steady_end: datetime | None
    threshold_bytes_per_hour: float
    method: str = METHOD
    warnings: tuple[AnalysisWarning, ...] = field(default=())

    @property
    def is_leak(self) -> bool | None:
        """True for a leak, False for none, None when inconclusive."""
        return {"leak": True, "no leak": False}.get(self.verdict)

    def criteria_values(self) -> dict[str, float | bool | None]:
        """Return the numbers criteria refer to: ``memory_leak``, the slope."""
        return {
            "memory_leak": self.is_leak,
            "memory_slope_bytes_per_hour": self.slope_bytes_per_hour,
        }


def steady_phase(series: pd.Series, warmup_fraction: float) -> pd.Series:
    """Return the finite points after the first ``warmup_fraction`` of the duration."""
    finite = series[np.isfinite(series.to_numpy(dtype="float64"))]
    if finite.empty:
        return finite
    first, last = finite.index.min(), finite.index.max()
    return finite[finite.index >= first + (last - first) * warmup_fraction]


def memory_trend(
    series: pd.Series, thresholds: LeakThresholds = LeakThresholds(), name: str = ""
) -> MemoryTrend:
    """Judge whether one memory series (bytes, time-indexed) grows like a leak."""
    name = name or str(series.name)
    steady = _collapse_repeats(steady_phase(series, thresholds.warmup_fraction))
    steady = _thin(steady, thresholds.max_points)
    times_s = _seconds(steady.index)
    duration_s = float(times_s[-1] - times_s[0]) if len(times_s) > 1 else 0.0
    short = _too_short(len(steady), duration_s, thresholds)
    if short:
        return _inconclusive(name, short, steady, duration_s, thresholds)
    values = steady.to_numpy(dtype="float64")
    hours = (times_s - times_s[0]) / 3600.0
    fit = stats.theilslopes(values, hours, alpha=1 - thresholds.alpha)
    test = mann_kendall(values, thresholds.alpha)
    verdict, reason = _verdict(
        fit.slope, fit.high_slope, test.trend, test.p_value, thresholds
    )
    return MemoryTrend(
        name, verdict, reason, float(fit.slope), float(fit.low_slope),
        float(fit.high_slope), 1 - thresholds.alpha, test.p_value, len(values),
        duration_s, steady.index[0].to_pydatetime(warn=False), steady.index[-1].to_pydatetime(warn=False),
        thresholds.leak_bytes_per_hour,
    )  # fmt: skip


def _verdict(
    slope: float, high: float, trend: str, p_value: float, limits: LeakThresholds
) -> tuple[str, str]:
    threshold = limits.leak_bytes_per_hour
    if trend == "increasing" and slope >= threshold:
        return (
            "leak",
            f"significant increase (p={p_value:.3g}) at or above the threshold",
        )
    if trend == "increasing":
        return "no leak", f"significant increase (p={p_value:.3g}) below the threshold"
    if high < threshold:
        return (
            "no leak",
            "no significant increase; leak-sized slopes are outside the interval",
        )
    return "inconclusive", (
        f"too noisy: no significant trend (p={p_value:.3g}) but the interval "
        "reaches the threshold; run longer"
    )


def _too_short(n_points: int, duration_s: float, limits: LeakThresholds) -> str:
    if n_points < limits.min_points:
        return (
            f"too short: {n_points} steady points, at least {limits.min_points} needed"
        )
    if duration_s < limits.min_duration_s:
        return (
            f"too short: {duration_s / 60:.1f} min of steady phase, at least "
            f"{limits.min_duration_s / 60:.1f} min needed"
        )
    return ""


def _inconclusive(
    name: str, reason: str, steady: pd.Series, duration_s: float, limits: LeakThresholds
) -> MemoryTrend:
    warning = AnalysisWarning("too-short", f"{name}: {reason}")
    first = steady.index[0].to_pydatetime(warn=False) if len(steady) else None
    last = steady.index[-1].to_pydatetime(warn=False) if len(steady) else None
    return MemoryTrend(
        name, "inconclusive", reason, math.nan, math.nan, math.nan,
        1 - limits.alpha, None, len(steady), duration_s, first, last,
        limits.leak_bytes_per_hour, warnings=(warning,),
    )  # fmt: skip


def _seconds(index: pd.Index) -> np.ndarray:
    return pd.DatetimeIndex(index).as_unit("ns").asi8.astype("float64") / 1e9


def _collapse_repeats(series: pd.Series) -> pd.Series:
    # A query step finer than the scrape interval repeats each reading. The
    # copies are one observation, and keeping them fools the trend test.
    values = series.to_numpy()
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return series[keep]


def _thin(series: pd.Series, max_points: int) -> pd.Series:
    if len(series) <= max_points:
        return series
    keep = np.unique(np.linspace(0, len(series) - 1, max_points).round().astype(int))
    return series.iloc[keep]


def memory_trends(
    frame: pd.DataFrame,
    queries: tuple[str, ...] = ("process_resident_memory_bytes", "redis_memory_bytes"),
    thresholds: LeakThresholds = LeakThresholds(),
) -> tuple[MemoryTrend, ...]:
    """Judge every label set of the given memory queries in a Prometheus frame."""
    results = []
    for query in queries:
        rows = frame[frame["query"] == query]
        for labels, group in rows.groupby("labels", sort=True):
            series = group.set_index("time")["value"].sort_index()
            name = labels if not labels.startswith("{") else f"{query}{labels}"
            name = query if labels == "{}" else name
            results.append(memory_trend(series, thresholds, name))
    return tuple(results)
