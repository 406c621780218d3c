"""Server data for the report: Prometheus frames and Redis INFO cut to each run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import PurePath
from typing import Any

import pandas as pd

from perfreport.analysis.criteria import ServerFigures
from perfreport.model import AnalysisWarning, Run
from perfreport.render.values import format_change, format_measure
from perfreport.reporting.model import (
    InputSummary,
    ServerData,
    ServerRow,
    as_datetime,
    run_time_range,
)

DB_QUERY = "db_connections_active"
CACHE_QUERY = "cache_hit_ratio"
MEMORY_QUERIES = ("process_resident_memory_bytes", "redis_memory_bytes")


def server_data(
    baseline: Run | None,
    runs: Sequence[Run],
    *,
    prometheus: Sequence[Any] = (),
    redis_before: Any | None = None,
    redis_after: Any | None = None,
    leak_thresholds: Any | None = None,
) -> ServerData:
    """Cut Prometheus frames (:class:`~perfreport.ingest.prometheus.PromFrame`)
    to each run's time window and judge them: database connections against the
    baseline, cache hit ratio, and memory-leak verdicts. Redis INFO snapshots
    taken before and after the whole session give one session-wide hit ratio.
    """
    from perfreport.analysis.memory import LeakThresholds

    data = ServerData()
    thresholds = leak_thresholds or LeakThresholds()
    all_runs = ([baseline] if baseline is not None else []) + list(runs)
    frames = [p.frame for p in prometheus]
    for item in prometheus:
        data.warnings.extend(item.warnings)
    data.inputs.extend(_prometheus_inputs(prometheus))
    base_db = _baseline_connections(frames, baseline)
    for run in all_runs:
        figures = ServerFigures()
        figures = _add_db(data, figures, run, frames, base_db, run is baseline)
        figures = _add_cache(data, figures, run, frames)
        figures = _add_memory(data, figures, run, frames, thresholds)
        if figures != ServerFigures():
            data.figures[run.name] = figures
    if redis_before is not None:
        _add_redis(data, redis_before, redis_after, runs)
    return data


def _baseline_connections(
    frames: Sequence[pd.DataFrame], baseline: Run | None
) -> pd.Series | float | None:
    """Return the baseline's DB connections: its Prometheus series, else the number
    a runbook baseline file records (``resource_usage.database_connections``)."""
    if baseline is None:
        return None
    series = _window_series(frames, DB_QUERY, baseline)
    if series is not None or baseline.statistics is None:
        return series
    statistics = baseline.statistics
    rows = statistics[statistics["metric"] == "db_connections"]["value"].dropna()
    return float(rows.iloc[0]) if not rows.empty else None


def _prometheus_inputs(items: Sequence[Any]) -> list[InputSummary]:
    """Return one input row per folder of Prometheus files (a folder is one capture)."""
    groups: dict[str, list[Any]] = {}
    for item in items:
        folder = (
            str(PurePath(item.source).parent)
            if item.source.endswith(".json")
            else item.source
        )
        groups.setdefault(folder, []).append(item)
    rows = []
    for folder, members in groups.items():
        frames = [m.frame for m in members if not m.frame.empty]
        starts = [as_datetime(f["time"].min()) for f in frames]
        ends = [as_datetime(f["time"].max()) for f in frames]
        queries = ", ".join(q for m in members for q in m.queries) or "prometheus"
        samples = sum(len(f) for f in frames)
        rows.append(
            InputSummary(
                "prometheus",
                queries,
                "prometheus",
                folder,
                min(starts, default=None),
                max(ends, default=None),
                samples,
            )
        )
    return rows


def _for_run(run: Run, warnings: Sequence[AnalysisWarning]) -> list[AnalysisWarning]:
    # Server analyses do not know the run whose window they judged; name it.
    return [replace(w, message=f"{run.name}: {w.message}") for w in warnings]


def _window_series(
    frames: Sequence[pd.DataFrame], query: str, run: Run
) -> pd.Series | None:
    from perfreport.analysis.server import select_series

    start, end = run_time_range(run)
    if start is None or end is None:
        return None
    for frame in frames:
        if query not in set(frame["query"]):
            continue
        series = select_series(frame, query, (start, end)).dropna()
        if not series.empty:
            return series
    return None


def _add_db(
    data: ServerData,
    figures: ServerFigures,
    run: Run,
    frames: Sequence[pd.DataFrame],
    base_series: pd.Series | float | None,
    is_baseline: bool,
) -> ServerFigures:
    from perfreport.analysis.server import connection_reduction, summarize_series

    series = _window_series(frames, DB_QUERY, run)
    if series is None:
        return figures
    summary = summarize_series(series, DB_QUERY)
    data.series.setdefault("db_connections", {})[run.name] = series
    data.warnings.extend(_for_run(run, summary.warnings))
    stats = {"avg": summary.mean, "max": summary.maximum, "min": summary.minimum}
    stats["p(95)"] = float(series.quantile(0.95))
    row = ServerRow(
        run.name,
        "active DB connections (mean / max)",
        f"{summary.mean:.1f} / {summary.maximum:.0f}",
    )
    if base_series is not None and not is_baseline:
        reduction = connection_reduction(series, base_series)
        data.warnings.extend(_for_run(run, reduction.warnings))
        row = replace(
            row,
            baseline=f"{reduction.baseline_mean_connections:.1f}",
            change=format_change(
                -reduction.reduction_percent
                if reduction.reduction_percent is not None
                else None,
                None,
                "%",
            ),
        )
    data.database.append(row)
    return replace(figures, db_connections=stats)


def _add_cache(
    data: ServerData, figures: ServerFigures, run: Run, frames: Sequence[pd.DataFrame]
) -> ServerFigures:
    from perfreport.analysis.server import cache_hit_ratio_from_series

    series = _window_series(frames, CACHE_QUERY, run)
    if series is None:
        return figures
    ratio = cache_hit_ratio_from_series(series, f"prometheus {CACHE_QUERY}")
    data.warnings.extend(_for_run(run, ratio.warnings))
    data.series.setdefault("cache_hit_rate", {})[run.name] = series
    data.cache.append(
        ServerRow(
            run.name,
            "cache hit ratio",
            format_measure(ratio.mean_ratio, "share"),
            note=ratio.source,
        )
    )
    return replace(
        figures, cache_hit_rate=ratio.mean_ratio, cache_hit_source=ratio.source
    )


def _add_memory(
    data: ServerData,
    figures: ServerFigures,
    run: Run,
    frames: Sequence[pd.DataFrame],
    thresholds: Any,
) -> ServerFigures:
    from perfreport.analysis.memory import memory_trend

    verdicts: list[bool | None] = []
    reasons: list[str] = []
    for query in MEMORY_QUERIES:
        series = _window_series(frames, query, run)
        if series is None:
            continue
        trend = memory_trend(series, thresholds, query)
        data.warnings.extend(_for_run(run, trend.warnings))
        data.series.setdefault("memory", {})[f"{run.name} {query}"] = series
        slope = trend.slope_bytes_per_hour / 2**20
        data.system.append(
            ServerRow(
                run.name,
                query,
                format_measure(float(series.max()), "data") + " max",
                note=f"{trend.verdict}"
                + (f", {slope:+.1f} MiB/h" if not math.isnan(slope) else "")
                + f": {trend.reason}",
            )
        )
        verdicts.append(trend.is_leak)
        reasons.append(f"{query} {trend.verdict} ({trend.reason})")
    if not verdicts:
        return figures
    leak: bool | None = None
    if any(v is True for v in verdicts):
        leak = True
    elif all(v is False for v in verdicts):
        leak = False
    reason = "" if leak is not None else "; ".join(reasons)
    return replace(figures, memory_leak=leak, memory_reason=reason)


def _add_redis(
    data: ServerData, before: Any, after: Any | None, runs: Sequence[Run]
) -> None:
    from perfreport.analysis.server import cache_hit_ratio_from_redis

    ratio = cache_hit_ratio_from_redis(before, after)
    data.warnings.extend(ratio.warnings)
    data.cache.append(
        ServerRow(
            "all runs",
            "Redis keyspace hit ratio",
            format_measure(ratio.mean_ratio, "share"),
            note=f"{ratio.source} ({ratio.scope})",
        )
    )
    # The snapshots bracket the whole session, so they speak for a run only when
    # there is exactly one.
    if len(runs) == 1 and ratio.mean_ratio is not None and ratio.scope == "window":
        name = runs[0].name
        current = data.figures.get(name, ServerFigures())
        if current.cache_hit_rate is None:
            data.figures[name] = replace(
                current, cache_hit_rate=ratio.mean_ratio, cache_hit_source=ratio.source
            )
