"""Assembling a :class:`~perfreport.reporting.model.Report` from runs and criteria."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from typing import Any

import pandas as pd

from perfreport.analysis.criteria import (
    CriteriaResult,
    CriteriaSet,
    comparison_scope,
    evaluate_criteria,
)
from perfreport.analysis.key_figures import key_figures
from perfreport.analysis.summary import summarize
from perfreport.model import AnalysisWarning, Run
from perfreport.reporting.model import (
    ENDPOINT_STATISTIC,
    LATENCY_METRIC,
    EndpointChange,
    InputSummary,
    Report,
    ReportMetadata,
    RunFigures,
    ServerData,
    run_time_range,
)
from perfreport.reporting.text import (
    monitoring_recommendations,
    recommendations,
    verdict_sentence,
)


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
    :func:`perfreport.analysis.compare.compare` unless ``comparison`` is given.
    ``metadata`` fields left None are filled from the runs' tags
    (``environment``, ``branch``, ``version``) and the latest end time. With
    ``charts`` False, no Figures are built, which is faster for the JSON verdict.
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


def _latest_date(runs: Sequence[Run]) -> str:
    ends = [end for run in runs if (end := run_time_range(run)[1]) is not None]
    moment = max(ends) if ends else datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).date().isoformat()


def _input_summary(run: Run, role: str) -> InputSummary:
    start, end = run_time_range(run)
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


def summaries(runs: Sequence[Run]) -> dict[str, pd.DataFrame]:
    """Return each run's per-endpoint summary frame, keyed by run name."""
    return {run.name: summarize(run, by="endpoint") for run in runs}
