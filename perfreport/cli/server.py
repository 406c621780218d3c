"""``perfreport prometheus``, ``redis-hit-rate`` and ``memory-trend``."""

from __future__ import annotations

import math
from typing import Any

from pathlib import Path


import typer

from perfreport.analysis.server import CacheHitRatio, cache_hit_ratio_from_redis
from perfreport.cli.app import app
from perfreport.cli.options import check_output
from perfreport.errors import UsageError
from perfreport.ingest.prometheus import (
    PromFrame,
    parse_named,
    parse_time,
    query_range,
    read_prometheus_parquet,
    read_prometheus_response,
    resolve_queries,
    window_from_k6_run,
    write_prometheus_parquet,
)
from perfreport.ingest.redis_info import read_redis_info
from perfreport.model import AnalysisWarning


@app.command("prometheus")
def prometheus_command(
    output: Path = typer.Option(..., "--output", "-o", help="Parquet file to write."),
    url: str | None = typer.Option(
        None, "--url", help="Prometheus base URL, e.g. https://prometheus:9090."
    ),
    response: list[str] = typer.Option(
        [], "--response", help="Saved API response as [NAME=]FILE, instead of --url."
    ),
    query: list[str] = typer.Option(
        [], "--query", help="NAME=PROMQL; repeatable. Default: --preset staging."
    ),
    preset: str | None = typer.Option(
        None, "--preset", help="Named query set used when no --query is given."
    ),
    start: str | None = typer.Option(
        None, "--start", help="Window start: RFC 3339 with a zone, or unix seconds."
    ),
    end: str | None = typer.Option(
        None, "--end", help="Window end: RFC 3339 with a zone, or unix seconds."
    ),
    window_from: Path | None = typer.Option(
        None, "--window-from", help="k6 run whose first and last sample set the window."
    ),
    step: float | None = typer.Option(
        None,
        "--step",
        help="Query resolution in seconds (default: fits 11,000 points).",
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Do not verify the server's TLS certificate."
    ),
    retries: int = typer.Option(
        3, "--retries", min=0, max=10, help="Retries per request."
    ),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds per request."),
) -> None:
    """Fetch Prometheus range queries, or read saved responses, into a Parquet frame.

    Credentials come from PERFREPORT_PROMETHEUS_TOKEN (bearer) or
    PERFREPORT_PROMETHEUS_USER and PERFREPORT_PROMETHEUS_PASSWORD (basic auth).
    """
    if (url is None) == (not response):
        raise UsageError("give either --url or --response, not both or neither")
    check_output(output)
    window = _window(start, end, window_from)
    if response:
        result = _read_responses(response, window)
        write_prometheus_parquet(result, output)
    else:
        assert url is not None
        if window is None:
            raise UsageError("--url needs --start and --end, or --window-from RUN")
        if insecure:
            typer.echo(
                "Warning: TLS certificate verification is off (--insecure)", err=True
            )
        queries = resolve_queries(parse_named(query, "--query"), preset)
        result = query_range(
            url, queries, window[0], window[1], step,
            verify_tls=not insecure, retries=retries, timeout_s=timeout,
        )  # fmt: skip
        write_prometheus_parquet(result, output, url)
    _echo_warnings(result.warnings)
    series = result.frame.groupby(["query", "labels"]).ngroups
    typer.echo(
        f"wrote {len(result.frame)} points in {series} series from "
        f"{len(result.queries)} queries to {output}"
    )


def _window(start: str | None, end: str | None, run: Path | None) -> tuple | None:
    if run is not None:
        if start or end:
            raise UsageError("give --window-from or --start/--end, not both")
        return window_from_k6_run(run)
    if (start is None) != (end is None):
        raise UsageError("give both --start and --end")
    if start is None or end is None:
        return None
    return parse_time(start), parse_time(end)


def _read_responses(items: list[str], window: tuple | None) -> PromFrame:
    import pandas as pd

    parts = []
    for item in items:
        name, sep, path = item.rpartition("=")
        start, end = window if window else (None, None)
        parts.append(
            read_prometheus_response(
                Path(path), name if sep else None, start=start, end=end
            )
        )
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    queries = {k: v for p in parts for k, v in p.queries.items()}
    warnings = tuple(w for p in parts for w in p.warnings)
    source = ", ".join(p.source for p in parts)
    start, end = window if window else (None, None)
    return PromFrame(frame, queries, source, start, end, None, warnings)


def _echo_warnings(warnings: tuple[AnalysisWarning, ...]) -> None:
    for warning in warnings:
        typer.echo(f"Warning: {warning.message}", err=True)


@app.command("redis-hit-rate")
def redis_hit_rate_command(
    before: Path = typer.Argument(..., help="`redis-cli INFO` saved before the test."),
    after: Path | None = typer.Argument(
        None,
        help="`redis-cli INFO` saved after the test; without it, the lifetime rate.",
    ),
) -> None:
    """Print Redis's keyspace hit rate for the test window from two INFO snapshots."""
    first = read_redis_info(before)
    second = read_redis_info(after) if after is not None else None
    result = cache_hit_ratio_from_redis(first, second)
    _echo_warnings(result.warnings)
    typer.echo(_format_hit_rate(result))


def _format_hit_rate(result: CacheHitRatio) -> str:
    if result.reset_detected:
        return "hit rate: none (counters were reset between the snapshots)"
    if result.hit_percent is None:
        return "hit rate: none (no keyspace lookups)"
    lookups = (result.hits or 0) + (result.misses or 0)
    return (
        f"hit rate ({result.scope}): {result.hit_percent:.2f} % "
        f"({result.hits} hits of {lookups} lookups)"
    )


@app.command("memory-trend")
def memory_trend_command(
    frame_file: Path = typer.Argument(
        ..., help="Parquet written by `perfreport prometheus`."
    ),
    query: list[str] = typer.Option(
        [], "--query", help="Memory query names (default: the preset's two)."
    ),
    leak_mib_per_hour: float = typer.Option(
        10.0, "--leak-mib-per-hour", min=0.0, help="Smallest growth called a leak."
    ),
    warmup: float = typer.Option(
        0.15, "--warmup", min=0.0, max=0.9, help="Fraction of the window dropped first."
    ),
) -> None:
    """Judge each memory series of a frame: leak, no leak or inconclusive."""
    result = read_prometheus_parquet(frame_file)
    # scipy.stats loads slowly, so only this command imports it.
    from perfreport.analysis.memory import LeakThresholds, memory_trends

    thresholds = LeakThresholds(
        leak_bytes_per_hour=leak_mib_per_hour * 2**20, warmup_fraction=warmup
    )
    names = tuple(query) or ("process_resident_memory_bytes", "redis_memory_bytes")
    trends = memory_trends(result.frame, names, thresholds)
    if not trends:
        typer.echo(
            f"Warning: no series of {', '.join(names)} in {frame_file}", err=True
        )
    for trend in trends:
        _echo_warnings(trend.warnings)
        typer.echo(f"{trend.name}: {trend.verdict}, {_slope_text(trend)} over "
                   f"{trend.n_points} points; {trend.reason}")


def _slope_text(trend: Any) -> str:
    # An inconclusive series has no slope to show; NaN would print as "+nan".
    if math.isnan(trend.slope_bytes_per_hour):
        return "no slope"
    mib = 2**20
    return (
        f"{trend.slope_bytes_per_hour / mib:+.2f} MiB/h "
        f"[{trend.slope_low_bytes_per_hour / mib:+.2f}, {trend.slope_high_bytes_per_hour / mib:+.2f}]"
    )
