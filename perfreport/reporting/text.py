"""Generated text: the verdict sentence, recommendations and monitoring advice."""

from __future__ import annotations

from collections.abc import Sequence

from perfreport.analysis.criteria import CriteriaResult, CriteriaSet, CriterionResult
from perfreport.model import AnalysisWarning
from perfreport.render.values import format_change, format_measure
from perfreport.reporting.model import LATENCY_METRIC, EndpointChange


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
    if result is not None and result.passed:
        if items:
            items.insert(
                0,
                "The sign-off gate passes: promote the build once the points below "
                "are reviewed and the sign-off is complete.",
            )
        else:
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
