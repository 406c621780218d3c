"""Assemble a staging performance report from runs, criteria and server data.

:func:`build_report` returns a :class:`Report`: plain data that every renderer
(Markdown, HTML, PDF, JSON) reads. The sections follow a staging runbook's
performance report: title block, executive summary, results summary, detailed
findings (response times, cache, database, system resources, reliability),
recommendations, monitoring recommendations and sign-off.

A section whose data is missing carries a one-line note instead of numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import PurePath
from typing import Any

import pandas as pd

from perfreport.analysis.criteria import (
    CriteriaResult,
    CriteriaSet,
    CriterionResult,
    ServerFigures,
    comparison_scope,
    evaluate_criteria,
)
from perfreport.analysis.key_figures import KeyFigures, key_figures
from perfreport.analysis.summary import summarize
from perfreport.model import AnalysisWarning, Run
from perfreport.render.values import format_change, format_measure

REPORT_FORMAT_VERSION = 1
DEFAULT_TITLE = "Staging Performance Report"
LATENCY_METRIC = "http_req_duration"
ENDPOINT_STATISTIC = "p(95)"


@dataclass(frozen=True)
class ReportMetadata:
    """The title block. None fields are filled from the runs or left blank.

    ``version`` is the version of the system under test and ``date`` an ISO
    date. ``generator`` names the perfreport release that wrote the report.
    """

    title: str = DEFAULT_TITLE
    environment: str | None = None
    branch: str | None = None
    version: str | None = None
    date: str | None = None
    generator: str | None = None


@dataclass(frozen=True)
class InputSummary:
    """One input of the report: its role, file and time range (UTC)."""

    role: str
    name: str
    kind: str
    source: str
    start: datetime | None = None
    end: datetime | None = None
    samples: int | None = None


@dataclass(frozen=True)
class EndpointChange:
    """A latency statistic of one endpoint, baseline against one candidate run.

    Values are in ms, and ``change_pct`` and the interval are percent changes.
    ``verdict`` is the comparison's: "better", "worse", "~" or "untested".
    """

    run: str
    endpoint: str
    statistic: str
    baseline_ms: float | None
    candidate_ms: float | None
    change_pct: float | None
    ci_low_pct: float | None
    ci_high_pct: float | None
    p_value: float | None
    verdict: str
    method: str
    n_baseline: int | None
    n_candidate: int | None


@dataclass(frozen=True)
class RunFigures:
    """The headline figures of one run, and whether it is the baseline."""

    name: str
    is_baseline: bool
    figures: KeyFigures


@dataclass(frozen=True)
class ServerRow:
    """One line of the database or system-resources section."""

    run: str
    label: str
    value: str
    baseline: str = ""
    change: str = ""
    note: str = ""


@dataclass
class ServerData:
    """Server-side figures from Prometheus and Redis, ready for criteria and sections.

    ``figures`` maps a run name to the numbers criteria read. ``database``,
    ``system`` and ``cache`` are the rows of those sections. ``series`` maps a
    chart key (``db_connections``, ``memory``, ``cache_hit_rate``) to named
    series with a UTC DatetimeIndex.
    """

    figures: dict[str, ServerFigures] = field(default_factory=dict)
    database: list[ServerRow] = field(default_factory=list)
    system: list[ServerRow] = field(default_factory=list)
    cache: list[ServerRow] = field(default_factory=list)
    series: dict[str, dict[str, pd.Series]] = field(default_factory=dict)
    inputs: list[InputSummary] = field(default_factory=list)
    warnings: list[AnalysisWarning] = field(default_factory=list)


@dataclass
class ReportChart:
    """A chart of the report: a stable key (its file name), a title and the Figure.

    ``figure`` is None when the inputs lack the data, and ``missing`` then
    explains what is missing.
    """

    key: str
    title: str
    figure: Any | None
    missing: str = ""


@dataclass
class Report:
    """Everything a renderer shows; see the module docstring for the sections."""

    metadata: ReportMetadata
    inputs: list[InputSummary]
    baseline: str | None
    runs: list[str]
    criteria: CriteriaResult | None
    verdict: str
    passed: bool | None
    endpoint_changes: list[EndpointChange]
    run_figures: list[RunFigures]
    server: ServerData
    recommendations: list[str]
    monitoring: list[str]
    warnings: list[AnalysisWarning]
    charts: list[ReportChart] = field(default_factory=list)
    significance_note: str = ""

    @property
    def cache_rows(self) -> list[RunFigures]:
        """Runs with a cache hit rate from k6."""
        return [r for r in self.run_figures if r.figures.cache_hit_rate is not None]


def build_report(
    baseline: Run | None,
    runs: Sequence[Run],
    *,
    criteria: CriteriaSet | None = None,
    server: ServerData | None = None,
    metadata: ReportMetadata | None = None,
    charts: bool = True,
    comparison: Any | None = None,
) -> Report:
    """Assemble a :class:`Report` from a baseline, candidate runs and criteria.

    The baseline is compared with each run by
    :func:`perfreport.analysis.compare.compare` unless ``comparison`` is given. ``metadata`` fields left None are
    filled from the runs' tags (``environment``, ``branch``, ``version``) and
    the latest end time. With ``charts`` False, no Figures are built (faster,
    for the JSON verdict).
    """
    server = server or ServerData()
    if comparison is None and baseline is not None and runs:
        from perfreport.analysis.compare import compare

        confidence = criteria.confidence if criteria is not None else 0.95
        stats, metrics = comparison_scope(
            criteria, stats=_table_statistics(baseline), metrics=[LATENCY_METRIC]
        )
        comparison = compare(
            baseline, *runs, stats=stats, metrics=metrics, confidence=confidence
        )
    result = (
        evaluate_criteria(
            criteria, baseline, runs, comparison=comparison, server=server.figures
        )
        if criteria is not None
        else None
    )
    all_runs = ([baseline] if baseline is not None else []) + list(runs)
    inputs = [
        _input_summary(run, "baseline" if run is baseline else "run")
        for run in all_runs
    ]
    inputs += server.inputs
    run_figures = [RunFigures(r.name, r is baseline, key_figures(r)) for r in all_runs]
    changes = endpoint_changes(comparison)
    warnings = _collect_warnings(all_runs, comparison, result, server)
    report = Report(
        metadata=fill_metadata(metadata or ReportMetadata(), all_runs),
        inputs=inputs,
        baseline=baseline.name if baseline is not None else None,
        runs=[r.name for r in runs],
        criteria=result,
        verdict=verdict_sentence(result),
        passed=result.passed if result is not None else None,
        endpoint_changes=changes,
        run_figures=run_figures,
        server=server,
        recommendations=recommendations(result, changes, warnings),
        monitoring=monitoring_recommendations(criteria, result),
        warnings=warnings,
        significance_note=_significance_note(comparison),
    )
    if charts:
        from perfreport.render.report_charts import report_charts

        report.charts = report_charts(baseline, list(runs), report)
    return report


# ------------------------------------------------------------------ metadata, inputs


def fill_metadata(metadata: ReportMetadata, runs: Sequence[Run]) -> ReportMetadata:
    """Fill None metadata fields from the runs' tags, end time and perfreport's version."""
    filled: dict[str, Any] = {
        "environment": metadata.environment or _common_tag(runs, "environment"),
        "branch": metadata.branch or _common_tag(runs, "branch"),
        "version": metadata.version or _common_tag(runs, "version"),
        "date": metadata.date or _latest_date(runs),
        "generator": metadata.generator or f"perfreport {perfreport_version()}",
    }
    return replace(metadata, **filled)


def perfreport_version() -> str:
    """Return the installed perfreport version, or ``unknown``."""
    try:
        return importlib_metadata.version("perfreport")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def _common_tag(runs: Sequence[Run], key: str) -> str | None:
    values: list[str] = []
    for run in runs:
        info_value = run.info.get(key) if isinstance(run.info, dict) else None
        if isinstance(info_value, str) and info_value:
            values.append(info_value)
            continue
        column = f"tag.{key}"
        if run.points is not None and column in run.points.columns:
            seen = run.points[column].dropna().astype(str).unique()
            values.extend(v for v in seen if v)
    unique = list(dict.fromkeys(values))
    return ", ".join(unique) if unique else None


def _time_range(run: Run) -> tuple[datetime | None, datetime | None]:
    if run.points is not None and not run.points.empty:
        times = run.points["time"]
        return _datetime(times.min()), _datetime(times.max())
    start, end = run.info.get("start"), run.info.get("end")
    return (
        start if isinstance(start, datetime) else None,
        end if isinstance(end, datetime) else None,
    )


def _datetime(moment: pd.Timestamp) -> datetime:
    # Python datetimes hold microseconds; k6 writes nanoseconds.
    return moment.floor("us").to_pydatetime()


def _latest_date(runs: Sequence[Run]) -> str:
    ends = [end for run in runs if (end := _time_range(run)[1]) is not None]
    moment = max(ends) if ends else datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).date().isoformat()


def _input_summary(run: Run, role: str) -> InputSummary:
    start, end = _time_range(run)
    samples = len(run.points) if run.points is not None else None
    return InputSummary(role, run.name, run.kind, run.source, start, end, samples)


# ------------------------------------------------------------------------- findings


FALLBACK_STATISTICS = ("p(95)", "p(90)", "med", "avg")


def endpoint_changes(
    comparison: Any | None, *, statistic: str = ENDPOINT_STATISTIC
) -> list[EndpointChange]:
    """Return the latency ``statistic`` per endpoint (whole metric first) per run.

    When the comparison lacks ``statistic`` (a runbook baseline file has only
    averages), the first of :data:`FALLBACK_STATISTICS` it has is used.
    """
    frame = getattr(comparison, "frame", None)
    if frame is None or frame.empty:
        return []
    latency = frame[frame["metric"] == LATENCY_METRIC]
    latency = latency[latency["baseline"].notna() & latency["candidate"].notna()]
    present = set(latency["statistic"])
    chosen = next((s for s in (statistic, *FALLBACK_STATISTICS) if s in present), None)
    if chosen is None:
        return []
    rows = latency[latency["statistic"] == chosen].sort_values(
        ["run", "endpoint"], kind="stable"
    )
    return [_endpoint_change(row, chosen) for _, row in rows.iterrows()]


def _endpoint_change(row: pd.Series, statistic: str) -> EndpointChange:
    return EndpointChange(
        run=str(row["run"]),
        endpoint=str(row["endpoint"]),
        statistic=statistic,
        baseline_ms=_float(row["baseline"]),
        candidate_ms=_float(row["candidate"]),
        change_pct=_float(row["change_pct"]),
        ci_low_pct=_float(row.get("ci_low_pct")),
        ci_high_pct=_float(row.get("ci_high_pct")),
        p_value=_float(row.get("p_adjusted")),
        verdict=str(row.get("verdict") or "untested"),
        method=str(row.get("method") or ""),
        n_baseline=_int(row.get("n_baseline")),
        n_candidate=_int(row.get("n_candidate")),
    )


def _table_statistics(baseline: Run) -> tuple[str, ...]:
    """Return the statistics the per-endpoint table needs from the comparison.

    That is p(95), plus the average when the baseline is a statistics file
    without percentiles (a runbook baseline file records averages only).
    """
    statistics = baseline.statistics
    if baseline.points is not None or statistics is None:
        return (ENDPOINT_STATISTIC,)
    latency = statistics[statistics["metric"] == LATENCY_METRIC]
    if (latency["statistic"] == ENDPOINT_STATISTIC).any():
        return (ENDPOINT_STATISTIC,)
    return (ENDPOINT_STATISTIC, "avg")


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


CORRECTION_NAMES = {
    "holm": "Holm's method (family-wise error)",
    "bh": "Benjamini-Hochberg (false discovery rate)",
}


def _significance_note(comparison: Any | None) -> str:
    options = getattr(comparison, "options", None) or {}
    if not options:
        return ""
    confidence = float(options.get("confidence", 0.95))
    correction = str(options.get("correction", "holm"))
    return (
        f"{confidence:.0%} intervals; p-values adjusted with "
        f"{CORRECTION_NAMES.get(correction, correction)}; changes under "
        f"{float(options.get('min_effect', 0.05)):.0%} count as no change (~)"
    )


def _collect_warnings(
    runs: Sequence[Run],
    comparison: Any | None,
    result: CriteriaResult | None,
    server: ServerData,
) -> list[AnalysisWarning]:
    found: list[AnalysisWarning] = []
    for run in runs:
        found.extend(run.warnings)
    found.extend(getattr(comparison, "warnings", None) or [])
    found.extend(result.warnings if result is not None else ())
    found.extend(server.warnings)
    unique: dict[tuple[str, str, str | None], AnalysisWarning] = {}
    for warning in found:
        unique.setdefault((warning.code, warning.message, warning.source), warning)
    return list(unique.values())


# ------------------------------------------------------------------ generated text


def verdict_sentence(result: CriteriaResult | None) -> str:
    """Return the executive summary's verdict sentence on the criteria."""
    if result is None:
        return "No sign-off criteria were given, so this report has no verdict."
    names = list(dict.fromkeys(row.criterion.name for row in result.rows))
    failed = _criteria_with(result, "FAIL")
    no_data = _criteria_with(result, "NO DATA")
    total = len(names)
    if not failed and not no_data:
        return f"All {total} criteria passed."
    parts = []
    if failed:
        detail = "; ".join(_failure_detail(result, name) for name in failed)
        parts.append(f"{len(failed)} of {total} criteria failed: {detail}.")
    if no_data:
        listed = ", ".join(no_data)
        parts.append(f"{len(no_data)} of {total} criteria had no data: {listed}.")
    gate = "passes" if result.passed else "fails"
    parts.append(f"The sign-off gate {gate}.")
    return " ".join(parts)


def _criteria_with(result: CriteriaResult, verdict: str) -> list[str]:
    return list(
        dict.fromkeys(r.criterion.name for r in result.rows if r.verdict == verdict)
    )


def _failure_detail(result: CriteriaResult, name: str) -> str:
    rows = [r for r in result.rows if r.criterion.name == name and r.verdict == "FAIL"]
    shown = ", ".join(f"{r.run} {achieved_text(r)}" for r in rows)
    return f"{name} ({shown}; target {rows[0].criterion.op} {rows[0].criterion.target_text})"


def achieved_text(row: CriterionResult) -> str:
    """Format what a criterion row measured: the value, or the change for relative ones."""
    criterion = row.criterion
    if row.measured is None:
        return "no data"
    if criterion.is_relative:
        return format_change(row.change_pct, row.ratio, criterion.relative_unit)
    return format_measure(row.measured, criterion.kind)


def recommendations(
    result: CriteriaResult | None,
    changes: Sequence[EndpointChange],
    warnings: Sequence[AnalysisWarning],
) -> list[str]:
    """Generate recommendations from failed criteria, regressions and warnings."""
    items: list[str] = []
    if result is not None:
        for row in result.by_verdict("FAIL"):
            items.append(_fix_advice(row, changes))
        for row in result.by_verdict("NO DATA"):
            optional = " (optional criterion)" if row.criterion.optional else ""
            items.append(
                f"'{row.criterion.name}' on {row.run} has no verdict{optional}: "
                f"{row.reason}. Provide the missing data or rerun before sign-off."
            )
    for change in changes:
        if change.verdict == "worse" and change.endpoint:
            items.append(
                f"Investigate the regression of {change.endpoint} on {change.run}: "
                f"{change.statistic} {format_change(change.change_pct, None, '%')} "
                "against the baseline."
            )
    if warnings:
        items.append(
            f"Review the {len(warnings)} input and analysis warnings in the footnotes "
            "before sign-off."
        )
    if result is not None and result.passed and not items:
        items.append("All criteria are met: proceed to the production rollout.")
    if result is not None and not result.passed:
        items.append(
            "Do not promote this build until the failed criteria pass on a rerun."
        )
    return items


_ADVICE = {
    "http_req_duration": "profile the slowest endpoints and their database queries",
    "throughput": "look for saturation (CPU, connection pools, locks) at this load",
    "error_rate": "inspect the failed requests by status code and endpoint",
    "cache_hit_rate": "check cache TTLs, invalidation and key design",
    "db_connections": "check the pool size and connections held across requests",
    "memory_leak": "take heap profiles at the start and end of a long run",
}


def _fix_advice(row: CriterionResult, changes: Sequence[EndpointChange]) -> str:
    criterion = row.criterion
    advice = _ADVICE.get(criterion.metric, "find the cause before release")
    text = (
        f"Fix '{criterion.name}' on {row.run}: achieved {achieved_text(row)}, "
        f"target {criterion.op} {criterion.target_text}; {advice}."
    )
    if criterion.metric == LATENCY_METRIC:
        slowest = sorted(
            (c for c in changes if c.run == row.run and c.endpoint and c.candidate_ms),
            key=lambda c: c.candidate_ms or 0.0,
            reverse=True,
        )[:2]
        if slowest:
            listed = ", ".join(
                f"{c.endpoint} ({format_measure(c.candidate_ms, 'time')})"
                for c in slowest
            )
            text += f" Slowest: {listed}."
    return text


def monitoring_recommendations(
    criteria: CriteriaSet | None, result: CriteriaResult | None
) -> list[str]:
    """Turn each absolute criterion into a production alert with its staging value."""
    if criteria is None:
        return []
    items = []
    for criterion in criteria:
        if criterion.is_relative:
            continue
        rows = [r for r in (result.rows if result else ()) if r.criterion is criterion]
        staged = ", ".join(
            f"{r.run} {achieved_text(r)}" for r in rows if r.measured is not None
        )
        suffix = f" (staging: {staged})" if staged else ""
        items.append(f"{criterion.name}: keep {criterion.expression}{suffix}")
    return items


def summaries(runs: Sequence[Run]) -> dict[str, pd.DataFrame]:
    """Return each run's per-endpoint summary frame, keyed by run name."""
    return {run.name: summarize(run, by="endpoint") for run in runs}


# -------------------------------------------------------------------- server data

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
    base_db = (
        _window_series(frames, DB_QUERY, baseline) if baseline is not None else None
    )
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
        starts = [_datetime(f["time"].min()) for f in frames]
        ends = [_datetime(f["time"].max()) for f in frames]
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

    start, end = _time_range(run)
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
    base_series: pd.Series | None,
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
