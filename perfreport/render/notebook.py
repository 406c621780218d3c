"""HTML tables for Jupyter's rich display of runs, key figures and thresholds.

Every text that comes from an input file (run names, sources, metric names,
tag values, warning messages) goes through :func:`html.escape`, so a hostile
tag value shows as text and never becomes markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from perfreport.model import AnalysisWarning, MetricDef, Run
from perfreport.render.values import MISSING, format_measure

if TYPE_CHECKING:
    from perfreport.analysis.key_figures import KeyFigures
    from perfreport.analysis.thresholds import ThresholdResult

# (field, label, kind for format_measure) of the key-figures table, in order.
KEY_FIGURE_ROWS = (
    ("requests", "requests", "count"),
    ("throughput_rps", "throughput", "per_second"),
    ("failed_requests", "failed requests", "count"),
    ("error_rate", "error rate", "share"),
    ("avg_ms", "http_req_duration avg", "time"),
    ("p95_ms", "http_req_duration p(95)", "time"),
    ("checks_passed", "checks passed", "count"),
    ("checks_failed", "checks failed", "count"),
    ("check_rate", "check pass rate", "share"),
    ("iterations", "iterations", "count"),
    ("vus_max", "max VUs", "count"),
    ("duration_s", "test-run duration", "seconds"),
    ("data_sent_bytes", "data sent", "data"),
    ("data_received_bytes", "data received", "data"),
    ("cache_hit_rate", "cache hit rate", "share"),
)
THRESHOLD_VERDICTS = {True: "pass", False: "FAIL", None: MISSING}


def _cell(text: object, tag: str = "td") -> str:
    return f"<{tag}>{html.escape(str(text))}</{tag}>"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(_cell(h, "th") for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def warnings_html(warnings: Sequence[AnalysisWarning]) -> str:
    """Render warnings as a numbered list of footnotes ("" when there are none)."""
    if not warnings:
        return ""
    items = "".join(
        f"<li><code>{html.escape(w.code)}</code> {html.escape(w.message)}</li>"
        for w in warnings
    )
    return f"<p><b>Warnings</b></p><ol>{items}</ol>"


def _format_seconds(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.1f} s"


def _run_facts(run: Run) -> list[tuple[str, str]]:
    facts = [("kind", run.kind), ("source", run.source)]
    if run.points is not None and not run.points.empty:
        times = run.points["time"]
        start, end = times.min(), times.max()
        facts.append(
            (
                "time range (UTC)",
                f"{start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S}",
            )
        )
        facts.append(("span", _format_seconds((end - start).total_seconds())))
        facts.append(("points", f"{len(run.points):,}"))
    elif run.statistics is not None:
        facts.append(("statistics rows", f"{len(run.statistics):,}"))
    if run.duration_s is not None:
        facts.append(("test-run duration (k6)", _format_seconds(run.duration_s)))
    facts.append(("warnings", str(len(run.warnings))))
    return facts


def _metric_rows(run: Run) -> list[tuple[str, str, str, str, str]]:
    counts: dict[str, int] = {}
    if run.points is not None:
        metric_counts = run.points["metric"].value_counts(sort=False)
        counts = {str(k): int(v) for k, v in metric_counts.items()}
    rows: list[tuple[str, str, str, str, str]] = []
    for name, definition in sorted(run.metrics.items()):
        rows.append(
            (
                name,
                definition.type,
                definition.unit or "—",
                f"{counts[name]:,}" if name in counts else "—",
                ", ".join(definition.thresholds),
            )
        )
    return rows


def run_html(run: Run) -> str:
    """Render a run's name, kind, source, time range, metrics and warnings."""
    title = f"<h4>Run {html.escape(run.name)}</h4>"
    facts = "".join(
        f"<tr>{_cell(label, 'th')}{_cell(value)}</tr>"
        for label, value in _run_facts(run)
    )
    metrics = _table(
        ("metric", "type", "unit", "points", "thresholds"), _metric_rows(run)
    )
    return f"{title}<table>{facts}</table>{metrics}{warnings_html(run.warnings)}"


def _format_key_figure(value: float | None, kind: str) -> str:
    if kind == "seconds":
        return _format_seconds(value)
    if kind == "count":
        return MISSING if value is None else f"{value:,.0f}"
    return format_measure(value, kind)


def key_figures_html(figures: KeyFigures) -> str:
    """Render the headline figures of a run as a two-column table with units."""
    rows = [
        (label, _format_key_figure(getattr(figures, field_name), kind))
        for field_name, label, kind in KEY_FIGURE_ROWS
    ]
    if figures.cache_hit_source:
        rows.append(("cache hit rate source", figures.cache_hit_source))
    return _table(("figure", "value"), rows)


def _observed(result: ThresholdResult, metrics: Mapping[str, MetricDef]) -> str:
    if result.observed is None:
        return MISSING
    definition = metrics.get(result.metric.split("{", 1)[0])
    unit = ""
    if definition is not None and definition.type != "rate":
        unit = definition.unit
        if definition.type == "counter" and result.aggregation == "rate":
            unit = f"{unit}/s"
    return f"{result.observed:.6g} {unit}".strip()


def thresholds_html(
    results: Sequence[ThresholdResult],
    warnings: Sequence[AnalysisWarning] = (),
    metrics: Mapping[str, MetricDef] | None = None,
) -> str:
    """Render threshold results: metric, expression, observed value and verdicts.

    Observed values are in the metric's base unit, as k6 states thresholds:
    ms for Trends of time, shares from 0 to 1 for Rates. With the run's
    ``metrics`` definitions, the unit is shown beside each value.
    """
    metrics = metrics or {}
    if not results:
        return "<p>The run declares no thresholds.</p>" + warnings_html(warnings)
    rows = [
        (
            result.metric,
            result.expression,
            _observed(result, metrics),
            THRESHOLD_VERDICTS[result.ok],
            "" if result.k6_ok is None else THRESHOLD_VERDICTS[result.k6_ok],
        )
        for result in results
    ]
    failed = sum(1 for r in results if r.ok is False)
    summary = f"<p>{len(results)} threshold(s), {failed} failed.</p>"
    header = ("metric", "threshold", "observed", "verdict", "k6 verdict")
    return summary + _table(header, rows) + warnings_html(warnings)
