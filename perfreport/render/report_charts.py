"""The list of charts a staging report shows, built from its runs and server data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from perfreport.model import Run
from perfreport.render import charts

if TYPE_CHECKING:
    from perfreport.reporting import Report, ReportChart


def chart_key(*parts: str) -> str:
    """Return a file-name-safe key from ``parts`` (run names come from input files)."""
    text = "-".join(parts)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:80] or "chart"


def report_charts(
    baseline: Run | None, runs: Sequence[Run], report: Report
) -> list[ReportChart]:
    """Build every chart of the report; a chart without data gets a ``missing`` note."""
    from perfreport.reporting import ReportChart

    all_runs = ([baseline] if baseline is not None else []) + list(runs)
    no_points = "the runs have no raw samples (only summary statistics)"
    items: list[ReportChart] = []
    for index, run in enumerate(all_runs):
        items.append(
            ReportChart(
                chart_key(f"{index:02d}", "latency", run.name),
                f"Latency percentiles over time: {run.name}",
                charts.latency_over_time(run),
                no_points,
            )
        )
    items.append(
        ReportChart(
            "latency-cdf",
            "Latency distribution, baseline against candidates",
            charts.latency_cdf(baseline, list(runs)),
            no_points,
        )
    )
    for index, run in enumerate(all_runs):
        items.append(
            ReportChart(
                chart_key(f"{index:02d}", "throughput", run.name),
                f"Requests per second and active VUs: {run.name}",
                charts.throughput_over_time(run),
                no_points,
            )
        )
    statistic = (
        report.endpoint_changes[0].statistic if report.endpoint_changes else "p(95)"
    )
    items.append(
        ReportChart(
            "endpoint-latency",
            f"{statistic} per endpoint, before and after",
            charts.endpoint_bars(
                _endpoint_values(report),
                statistic=statistic,
                baseline_name=report.baseline,
            ),
            "no per-endpoint comparison (a baseline and a run are both needed)",
        )
    )
    items.append(
        ReportChart(
            "error-rate",
            "Error rate over time",
            charts.error_rate_over_time(all_runs),
            "the runs have no http_req_failed samples",
        )
    )
    items.append(_cache_chart(all_runs, report))
    items.append(
        ReportChart(
            "db-connections",
            "Database connections over time",
            charts.gauge_over_time(
                report.server.series.get("db_connections", {}),
                ylabel="active connections",
                title="Database connections over time",
            ),
            "no database connection series (pass --prometheus)",
        )
    )
    memory = report.server.series.get("memory", {})
    items.append(
        ReportChart(
            "memory",
            "Memory over time",
            charts.gauge_over_time(
                {name: series / 2**20 for name, series in memory.items()},
                ylabel="memory (MiB)",
                title="Memory over time",
            ),
            "no memory series (pass --prometheus)",
        )
    )
    return items


def _cache_chart(all_runs: Sequence[Run], report: Report) -> ReportChart:
    from perfreport.reporting import ReportChart

    figure = charts.cache_hit_rate_over_time(all_runs)
    if figure is None and report.server.series.get("cache_hit_rate"):
        figure = charts.gauge_over_time(
            {k: v * 100.0 for k, v in report.server.series["cache_hit_rate"].items()},
            ylabel="cache hits (%)",
            title="Cache hit rate over time",
        )
    return ReportChart(
        "cache-hit-rate",
        "Cache hit rate over time",
        figure,
        "no cache hit samples (a cache_hit_rate k6 metric or Prometheus series)",
    )


def _endpoint_values(report: Report) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    seen_baseline: set[str] = set()
    for change in report.endpoint_changes:
        if not change.endpoint:
            continue
        if change.endpoint not in seen_baseline and change.baseline_ms is not None:
            seen_baseline.add(change.endpoint)
            rows.append(
                {
                    "endpoint": change.endpoint,
                    "run": report.baseline,
                    "value": change.baseline_ms,
                }
            )
        if change.candidate_ms is not None:
            rows.append(
                {
                    "endpoint": change.endpoint,
                    "run": change.run,
                    "value": change.candidate_ms,
                }
            )
    frame = pd.DataFrame(rows, columns=["endpoint", "run", "value"])
    if frame.empty:
        return frame
    # The baseline first, so its bars sit on top of each group.
    order = {name: i for i, name in enumerate([report.baseline, *report.runs])}
    return frame.sort_values("run", key=lambda s: s.map(order), kind="stable")
