"""Verdicts from server-side evidence: DB connections, cache hit ratio, series summaries.

Every function here is pure: it takes frames or snapshots already read by
:mod:`perfreport.ingest.prometheus` or :mod:`perfreport.ingest.redis_info` and
returns a frozen result whose ``warnings`` list what was lacking. Memory-leak
trends are in :mod:`perfreport.analysis.memory`.

A *series* here is a ``pandas.Series`` of float values indexed by UTC time, as
returned by :func:`select_series`. NaN is a gap and ``±inf`` a flagged value:
both are left out of means, minimums and percentiles and counted instead.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from perfreport.ingest.redis_info import RedisInfo
from perfreport.model import AnalysisWarning

Window = tuple[datetime, datetime]

# A time step this much longer than the series' usual step is a gap in the
# data (Prometheus leaves out the points of a range query that have no data).
GAP_FACTOR = 1.5


class FieldTableHTML:
    """Mixin that shows a frozen result in Jupyter as a field table with footnotes."""

    def _repr_html_(self) -> str:
        rows = []
        for item in fields(self):  # type: ignore[arg-type]
            if item.name == "warnings":
                continue
            value = getattr(self, item.name)
            text = f"{value:.6g}" if isinstance(value, float) else str(value)
            rows.append(f"<tr><th>{item.name}</th><td>{html.escape(text)}</td></tr>")
        notes = "".join(
            f"<li>{html.escape(w.message)}</li>" for w in getattr(self, "warnings", ())
        )
        title = html.escape(type(self).__name__)
        footer = f"<ol>{notes}</ol>" if notes else ""
        return f"<table><caption>{title}</caption>{''.join(rows)}</table>{footer}"


def select_series(
    frame: pd.DataFrame,
    query: str,
    window: Window | None = None,
    labels: str | None = None,
) -> pd.Series:
    """Return one query's values as a time-indexed series, optionally windowed.

    With ``labels`` only that label set (``{instance="a"}``) is taken. Without
    it, several label sets are summed per timestamp (the total across pods),
    counting NaN as absent. The window is inclusive at both ends.
    """
    rows = frame[frame["query"] == query]
    if labels is not None:
        rows = rows[rows["labels"] == labels]
    if window is not None:
        start, end = (pd.Timestamp(t) for t in window)
        rows = rows[(rows["time"] >= start) & (rows["time"] <= end)]
    if rows["labels"].nunique() <= 1:
        series = rows.set_index("time")["value"].sort_index()
    else:
        series = rows.groupby("time")["value"].sum(min_count=1)
    return series.astype("float64").rename(query)


# --- summaries of one series ----------------------------------------------------


@dataclass(frozen=True)
class SeriesSummary(FieldTableHTML):
    """Statistics of one series over its finite points.

    ``n_gaps`` counts NaN points, ``n_infinite`` the ``±inf`` points; neither
    enters ``mean`` or ``time_weighted_mean``, which are NaN when no point is
    finite. ``time_weighted_mean`` integrates between consecutive finite points
    (trapezoids) and skips the intervals that touch a gap.
    """

    name: str
    n_points: int
    n_finite: int
    n_gaps: int
    n_infinite: int
    mean: float
    time_weighted_mean: float
    minimum: float
    maximum: float
    warnings: tuple[AnalysisWarning, ...] = ()


def summarize_series(series: pd.Series, name: str | None = None) -> SeriesSummary:
    """Summarize a series; warn about gaps, infinite values and empty data."""
    name = name or str(series.name)
    values = series.to_numpy(dtype="float64")
    finite = values[np.isfinite(values)]
    n_gaps = int(np.isnan(values).sum())
    n_infinite = int(np.isinf(values).sum())
    warnings = _quality_warnings(name, len(values), n_gaps, n_infinite)
    empty = len(finite) == 0
    return SeriesSummary(
        name,
        len(values),
        len(finite),
        n_gaps,
        n_infinite,
        math.nan if empty else float(np.mean(finite)),
        time_weighted_mean(series),
        math.nan if empty else float(finite.min()),
        math.nan if empty else float(finite.max()),
        tuple(warnings),
    )


def _quality_warnings(
    name: str, n_points: int, n_gaps: int, n_infinite: int
) -> list[AnalysisWarning]:
    warnings = []
    if n_points == 0 or n_gaps + n_infinite == n_points:
        warnings.append(AnalysisWarning("no-data", f"{name}: no finite values"))
    if n_gaps:
        warnings.append(
            AnalysisWarning(
                "gaps",
                f"{name}: {n_gaps} of {n_points} points are NaN (no data); "
                "they are shown as gaps and left out of the statistics",
            )
        )
    if n_infinite:
        warnings.append(
            AnalysisWarning(
                "infinite-values",
                f"{name}: {n_infinite} point(s) are infinite (a zero "
                "denominator); they are flagged and left out of averages",
            )
        )
    return warnings


def time_weighted_mean(series: pd.Series) -> float:
    """Return the trapezoid time-weighted mean over finite, gap-free intervals.

    An interval counts when both ends are finite and it is at most
    :data:`GAP_FACTOR` times the median step long. A single finite point gives
    its own value; none gives NaN.
    """
    values = series.to_numpy(dtype="float64")
    times_s = _seconds(series.index)
    if len(values) < 2:
        return float(values[0]) if len(values) and np.isfinite(values[0]) else math.nan
    widths = np.diff(times_s)
    usable = np.isfinite(values[:-1]) & np.isfinite(values[1:])
    usable &= widths <= GAP_FACTOR * float(np.median(widths))
    duration = float(widths[usable].sum())
    if duration <= 0:
        finite = values[np.isfinite(values)]
        return float(finite.mean()) if len(finite) else math.nan
    areas = widths * (values[:-1] + values[1:]) / 2
    return float(areas[usable].sum() / duration)


def _seconds(index: pd.Index) -> np.ndarray:
    stamps = pd.DatetimeIndex(index).as_unit("ns")
    return stamps.asi8.astype("float64") / 1e9


# --- database connections ---------------------------------------------------


@dataclass(frozen=True)
class ConnectionReduction(FieldTableHTML):
    """Database connections of a candidate run against a baseline.

    ``reduction_percent`` is ``(baseline - candidate) / baseline * 100`` on the
    means, so a positive value is fewer connections. ``p95_reduction_percent``
    is the same on the 95th percentiles, None when the baseline is one number.
    Both are None when the baseline is zero or absent. Percentiles use linear
    interpolation between ranks; NaN and infinite points are left out.
    """

    baseline_mean_connections: float
    baseline_p95_connections: float | None
    candidate_mean_connections: float
    candidate_p95_connections: float
    reduction_percent: float | None
    p95_reduction_percent: float | None
    baseline_source: str
    candidate_source: str
    n_baseline_points: int
    n_candidate_points: int
    warnings: tuple[AnalysisWarning, ...] = ()

    def criteria_values(self) -> dict[str, float | None]:
        """Return the numbers criteria refer to: ``db_connections``, ``connection_reduction``."""
        return {
            "db_connections": self.candidate_mean_connections,
            "db_connections_p95": self.candidate_p95_connections,
            "connection_reduction": self.reduction_percent,
        }


def baseline_database_connections(baseline: Mapping[str, Any]) -> float | None:
    """Return ``resource_usage.database_connections`` of a parsed baseline file.

    The section is looked up at the top level and under ``metrics``, where the
    staging runbook's baseline file keeps it. None when absent or not a number.
    """
    metrics = baseline.get("metrics")
    usage = baseline.get("resource_usage")
    if usage is None and isinstance(metrics, Mapping):
        usage = metrics.get("resource_usage")
    if not isinstance(usage, Mapping):
        return None
    value = usage.get("database_connections")
    return float(value) if isinstance(value, (int, float)) else None


def connection_reduction(
    candidate: pd.Series,
    baseline: pd.Series | float,
    *,
    candidate_source: str = "candidate window",
    baseline_source: str = "baseline window",
) -> ConnectionReduction:
    """Compare ``db_connections_active`` of a candidate window with a baseline.

    ``baseline`` is a series from the baseline window or a single number such
    as a baseline file's ``resource_usage.database_connections``.
    Warnings: ``no-data`` when either side has no finite points,
    ``zero-baseline`` when the reduction cannot be computed.
    """
    candidate_values = _finite(candidate)
    warnings: list[AnalysisWarning] = []
    if isinstance(baseline, pd.Series):
        baseline_values = _finite(baseline)
        baseline_mean = _mean(baseline_values)
        baseline_p95: float | None = _p95(baseline_values)
        n_baseline = len(baseline_values)
    else:
        baseline_mean, baseline_p95, n_baseline = float(baseline), None, 1
    candidate_mean = _mean(candidate_values)
    candidate_p95 = _p95(candidate_values)
    for label, count in (
        (candidate_source, len(candidate_values)),
        (baseline_source, n_baseline),
    ):
        if count == 0:
            warnings.append(
                AnalysisWarning("no-data", f"no connection data in {label}")
            )
    reduction = _reduction(baseline_mean, candidate_mean, baseline_source, warnings)
    p95_reduction = (
        _reduction(baseline_p95, candidate_p95, baseline_source, [])
        if baseline_p95 is not None
        else None
    )
    return ConnectionReduction(
        baseline_mean,
        baseline_p95,
        candidate_mean,
        candidate_p95,
        reduction,
        p95_reduction,
        baseline_source,
        candidate_source,
        n_baseline,
        len(candidate_values),
        tuple(warnings),
    )


def _reduction(
    baseline: float, candidate: float, label: str, warnings: list[AnalysisWarning]
) -> float | None:
    if math.isnan(baseline) or math.isnan(candidate):
        return None
    if baseline == 0:
        warnings.append(
            AnalysisWarning(
                "zero-baseline",
                f"{label} has 0 connections, so a reduction in percent is undefined",
            )
        )
        return None
    return (baseline - candidate) / baseline * 100.0


def _finite(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype="float64")
    return values[np.isfinite(values)]


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def _p95(values: np.ndarray) -> float:
    return float(np.percentile(values, 95)) if len(values) else math.nan


# --- cache hit ratio --------------------------------------------------------------


@dataclass(frozen=True)
class CacheHitRatio(FieldTableHTML):
    """A cache hit ratio (0..1) over a window, and where it was measured.

    ``source`` names the evidence (``prometheus cache_hit_ratio``, ``redis
    INFO before.txt -> after.txt``, ``k6 metric cache_hit``). ``scope`` is
    ``window`` for the test window or ``lifetime`` for counters since the
    server started, which are not the test's ratio. ``mean_ratio`` is the plain
    mean of the points (for counters: hits / lookups),
    ``time_weighted_mean_ratio`` the trapezoid mean over time and
    ``min_ratio_after_warmup`` the lowest point after the first
    ``warmup_fraction`` of the window. Values are None when not available,
    and all are None when ``reset_detected`` (a restart or ``CONFIG
    RESETSTAT`` between two snapshots).
    """

    source: str
    scope: str
    mean_ratio: float | None
    time_weighted_mean_ratio: float | None
    min_ratio_after_warmup: float | None
    hits: int | None = None
    misses: int | None = None
    n_points: int = 0
    warmup_fraction: float = 0.0
    reset_detected: bool = False
    warnings: tuple[AnalysisWarning, ...] = ()

    @property
    def hit_percent(self) -> float | None:
        """``mean_ratio`` in percent."""
        return None if self.mean_ratio is None else self.mean_ratio * 100.0

    def criteria_values(self) -> dict[str, float | None]:
        """Return the numbers criteria refer to: ``cache_hit_ratio`` in percent."""
        return {"cache_hit_ratio": self.hit_percent}


def cache_hit_ratio_from_series(
    series: pd.Series, source: str, warmup_fraction: float = 0.1
) -> CacheHitRatio:
    """Summarize a hit-ratio series (values 0..1), e.g. the preset's query.

    The mean and time-weighted mean cover the whole window, because a cold
    cache is part of what users saw. The minimum skips the first
    ``warmup_fraction`` of the window's duration.
    """
    summary = summarize_series(series, source)
    steady = series[series.index >= _warmup_end(series.index, warmup_fraction)]
    steady_values = _finite(steady)
    empty = summary.n_finite == 0
    return CacheHitRatio(
        source,
        "window",
        None if empty else summary.mean,
        None if empty else summary.time_weighted_mean,
        float(steady_values.min()) if len(steady_values) else None,
        n_points=summary.n_points,
        warmup_fraction=warmup_fraction,
        warnings=summary.warnings,
    )


def _warmup_end(index: pd.Index, fraction: float) -> pd.Timestamp:
    if len(index) == 0:
        return pd.Timestamp.max.tz_localize("UTC")
    first, last = index.min(), index.max()
    return first + (last - first) * fraction


# Counters that only grow while the server runs; one going down between two
# snapshots means a restart or CONFIG RESETSTAT.
_MONOTONIC_COUNTERS = (
    "keyspace_hits",
    "keyspace_misses",
    "total_commands_processed",
    "total_connections_received",
)


def cache_hit_ratio_from_redis(
    before: RedisInfo, after: RedisInfo | None = None
) -> CacheHitRatio:
    """Return Redis's keyspace hit ratio for a test window or the server's lifetime.

    With two snapshots the ratio is Δhits / (Δhits + Δmisses) between them.
    With one it is the lifetime ratio, labelled ``scope="lifetime"`` with a
    warning. A counter that went down, a smaller ``uptime_in_seconds`` or a
    new ``run_id`` means a restart or reset: no ratio, ``reset_detected`` and
    a ``counter-reset`` warning.
    """
    if after is None:
        return _lifetime_ratio(before)
    source = f"redis INFO {before.source} -> {after.source}"
    reset = _reset_reason(before, after)
    if reset:
        warning = AnalysisWarning(
            "counter-reset",
            f"Redis counters were reset between the snapshots ({reset}), so no "
            "hit ratio can be computed; take both snapshots without a restart "
            "or CONFIG RESETSTAT in between",
            source,
        )
        return CacheHitRatio(
            source, "window", None, None, None, reset_detected=True, warnings=(warning,)
        )
    hits = _require(after, "keyspace_hits") - _require(before, "keyspace_hits")
    misses = _require(after, "keyspace_misses") - _require(before, "keyspace_misses")
    return _counter_ratio(source, "window", hits, misses)


def _lifetime_ratio(snapshot: RedisInfo) -> CacheHitRatio:
    source = f"redis INFO {snapshot.source}"
    hits = _require(snapshot, "keyspace_hits")
    misses = _require(snapshot, "keyspace_misses")
    result = _counter_ratio(source, "lifetime", hits, misses)
    warning = AnalysisWarning(
        "lifetime-rate",
        "one INFO snapshot gives the hit ratio since the server started, not "
        "the test's; take INFO before and after the test for the window",
        source,
    )
    return CacheHitRatio(
        **{**result.__dict__, "warnings": result.warnings + (warning,)}
    )


def _counter_ratio(source: str, scope: str, hits: int, misses: int) -> CacheHitRatio:
    lookups = hits + misses
    if lookups == 0:
        warning = AnalysisWarning(
            "no-data", "no keyspace lookups in the window", source
        )
        return CacheHitRatio(source, scope, None, None, None, 0, 0, warnings=(warning,))
    ratio = hits / lookups
    return CacheHitRatio(source, scope, ratio, ratio, None, hits, misses, n_points=2)


def _require(snapshot: RedisInfo, name: str) -> int:
    value = snapshot.counter(name)
    if value is None:
        from perfreport.errors import InputError

        raise InputError(
            snapshot.source,
            f"no {name} field",
            hint="save `redis-cli INFO` or `redis-cli INFO stats` output",
        )
    return value


def _reset_reason(before: RedisInfo, after: RedisInfo) -> str | None:
    if before.run_id and after.run_id and before.run_id != after.run_id:
        return "run_id changed: the server restarted"
    old_uptime, new_uptime = before.uptime_s, after.uptime_s
    if old_uptime is not None and new_uptime is not None and new_uptime < old_uptime:
        return f"uptime_in_seconds went from {old_uptime} to {new_uptime}"
    for name in _MONOTONIC_COUNTERS:
        old, new = before.counter(name), after.counter(name)
        if old is not None and new is not None and new < old:
            return f"{name} went down from {old} to {new}"
    return None


def cache_hit_ratio_from_k6(
    points: pd.DataFrame,
    metric: str,
    bucket_s: float = 10.0,
    warmup_fraction: float = 0.1,
) -> CacheHitRatio:
    """Return the hit ratio of a k6 Rate metric whose samples are 1 for a hit.

    ``points`` is a k6 points frame (see :mod:`perfreport.model`). The mean is
    hits over all samples; the time-weighted mean and the minimum come from
    the ratio per ``bucket_s`` bucket. A sample counts as a hit when it is
    non-zero, as k6 counts a Rate.
    """
    rows = points[points["metric"] == metric]
    source = f"k6 metric {metric}"
    if rows.empty:
        warning = AnalysisWarning(
            "no-data", f"no samples of {metric} in the run", source
        )
        return CacheHitRatio(source, "window", None, None, None, warnings=(warning,))
    hit = (rows["value"].to_numpy(dtype="float64") != 0).astype("float64")
    per_bucket = (
        pd.Series(hit, index=pd.DatetimeIndex(rows["time"]))
        .resample(pd.Timedelta(seconds=bucket_s))
        .mean()
    )
    shape = cache_hit_ratio_from_series(per_bucket, source, warmup_fraction)
    hits = int(hit.sum())
    return CacheHitRatio(
        source,
        "window",
        hits / len(hit),
        shape.time_weighted_mean_ratio,
        shape.min_ratio_after_warmup,
        hits,
        len(hit) - hits,
        len(hit),
        warmup_fraction,
    )
