"""Judging runs against parsed criteria: PASS, FAIL or NO DATA, never a silent PASS."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from perfreport.analysis.criteria.definitions import (
    DERIVED_METRICS,
    OPERATORS,
    CriteriaSet,
    Criterion,
)

Verdict = Literal["PASS", "FAIL", "NO DATA"]


@dataclass(frozen=True)
class CriterionResult:
    """The verdict of one criterion on one run.

    ``measured`` and ``baseline`` are in the criterion's base unit, None when
    missing. ``change_pct`` is the percent change from baseline to measured and
    ``ratio`` their quotient. Both are None without a usable baseline.
    ``reason`` explains a FAIL or NO DATA row. ``p_value`` and ``significance``
    come from the comparison when it tested the figure.
    """

    criterion: Criterion
    run: str
    verdict: Verdict
    measured: float | bool | None = None
    baseline: float | bool | None = None
    change_pct: float | None = None
    ratio: float | None = None
    p_value: float | None = None
    significance: str | None = None
    reason: str = ""

    @property
    def gate_failed(self) -> bool:
        """True when this row fails the gate: FAIL, or NO DATA on a required criterion."""
        if self.verdict == "FAIL":
            return True
        return self.verdict == "NO DATA" and not self.criterion.optional


@dataclass(frozen=True)
class CriteriaResult:
    """Every criterion's rows; ``passed`` is the gate's verdict."""

    rows: tuple[CriterionResult, ...]
    warnings: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """True when no row fails the gate (see :attr:`CriterionResult.gate_failed`)."""
        return not any(row.gate_failed for row in self.rows)

    def by_verdict(self, verdict: Verdict) -> list[CriterionResult]:
        """Return the rows with the given verdict, in file order."""
        return [row for row in self.rows if row.verdict == verdict]


@dataclass(frozen=True)
class ServerFigures:
    """Figures that only server data provides, for one run.

    ``db_connections`` maps a statistic (``max``, ``avg``, ``min``, ``p(95)``) to
    the active database connections over the run. ``memory_leak`` is True when a
    leak was detected and None when memory was not measured or the trend was
    inconclusive, with ``memory_reason`` saying why. ``cache_hit_rate`` is a
    share from 0 to 1 (from Redis or Prometheus) and ``cache_hit_source`` names
    where it came from.
    """

    db_connections: dict[str, float] = field(default_factory=dict)
    memory_leak: bool | None = None
    cache_hit_rate: float | None = None
    cache_hit_source: str | None = None
    memory_reason: str = ""


def evaluate_criteria(
    criteria: CriteriaSet,
    baseline: Any | None,
    runs: Sequence[Any],
    *,
    comparison: Any | None = None,
    server: dict[str, ServerFigures] | None = None,
) -> CriteriaResult:
    """Judge each candidate run (a :class:`perfreport.model.Run`) against each criterion.

    A criterion with ``run`` names only those runs; without, every run in
    ``runs`` (when ``runs`` is empty, the baseline is judged on its own).
    ``comparison`` is a :class:`perfreport.analysis.compare.Comparison` of
    ``baseline`` against ``runs``. It is computed when a criterion requires
    significance and none is given. ``server`` maps a run name to the figures
    from Prometheus and Redis for that run.

    A row is NO DATA, never PASS, when a value it needs is missing: the metric,
    statistic or endpoint is absent, the baseline is missing or zero for a
    relative target, or a required significance test did not run.
    """
    candidates = list(runs)
    if not candidates and baseline is not None:
        candidates = [baseline]
    needs_comparison = any(c.significant for c in criteria)
    if comparison is None and baseline is not None and runs and needs_comparison:
        from perfreport.analysis.compare import compare

        stats, metrics = comparison_scope(criteria)
        comparison = compare(
            baseline,
            *runs,
            stats=stats,
            metrics=metrics,
            confidence=criteria.confidence,
        )
    measure = _Measurer(comparison, server or {})
    rows: list[CriterionResult] = []
    for criterion in criteria:
        for run, missing_name in _selected_runs(criterion, candidates):
            if run is None:
                rows.append(
                    CriterionResult(
                        criterion,
                        missing_name,
                        "NO DATA",
                        reason=f"no run named {missing_name!r}; runs: "
                        + ", ".join(r.name for r in candidates),
                    )
                )
                continue
            rows.append(_evaluate_one(criterion, run, baseline, measure))
    warnings = tuple(getattr(comparison, "warnings", ()) or ())
    return CriteriaResult(tuple(rows), warnings)


def comparison_scope(
    criteria: CriteriaSet | None,
    *,
    stats: Iterable[str] = (),
    metrics: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """Return the Trend statistics and k6 metrics that relative criteria compare.

    ``stats`` and ``metrics`` are added to them. Comparing only these keeps the
    comparison's warnings to the figures a report or gate actually shows.
    """
    wanted_stats, wanted_metrics = set(stats), set(metrics)
    for criterion in criteria or ():
        if not criterion.is_relative:
            continue
        derived = DERIVED_METRICS.get(criterion.metric)
        metric, statistic = criterion.metric, criterion.statistic
        if derived is not None and derived.k6 is not None:
            metric, statistic = derived.k6
        wanted_metrics.add(metric)
        if statistic.startswith("p(") or statistic in ("avg", "med", "min", "max"):
            wanted_stats.add(statistic)
    return sorted(wanted_stats) or ["p(95)"], sorted(wanted_metrics)


def _selected_runs(
    criterion: Criterion, candidates: list[Any]
) -> list[tuple[Any, str]]:
    if not criterion.runs:
        return [(run, run.name) for run in candidates]
    by_name = {run.name: run for run in candidates}
    return [(by_name.get(name), name) for name in criterion.runs]


def _evaluate_one(
    criterion: Criterion, run: Any, baseline: Any | None, measure: _Measurer
) -> CriterionResult:
    measured, why_missing = measure.value(criterion, run)
    base_value = None
    if baseline is not None and baseline is not run:
        base_value, _ = measure.value(criterion, baseline)
    if measured is None:
        return CriterionResult(
            criterion, run.name, "NO DATA", baseline=base_value, reason=why_missing
        )
    change_pct, ratio = _change(measured, base_value)
    if criterion.is_relative:
        return _evaluate_relative(
            criterion, run, measured, base_value, change_pct, ratio, measure
        )

    passed = OPERATORS[criterion.op](measured, criterion.target)
    return CriterionResult(
        criterion,
        run.name,
        "PASS" if passed else "FAIL",
        measured=measured,
        baseline=base_value,
        change_pct=change_pct,
        ratio=ratio,
        reason=""
        if passed
        else f"{criterion.metric} is not {criterion.op} {criterion.target_text}",
    )


def _evaluate_relative(
    criterion: Criterion,
    run: Any,
    measured: float | bool,
    base_value: float | bool | None,
    change_pct: float | None,
    ratio: float | None,
    measure: _Measurer,
) -> CriterionResult:
    row: dict[str, Any] = {
        "criterion": criterion,
        "run": run.name,
        "measured": measured,
        "baseline": base_value,
        "change_pct": change_pct,
        "ratio": ratio,
    }
    if base_value is None:
        return CriterionResult(
            **row, verdict="NO DATA", reason="the baseline lacks this figure"
        )
    if change_pct is None or ratio is None:
        return CriterionResult(
            **row,
            verdict="NO DATA",
            reason="the baseline value is 0, so a change is undefined",
        )
    observed = change_pct if criterion.relative_unit == "%" else ratio
    passed = OPERATORS[criterion.op](observed, criterion.target)
    reason = "" if passed else f"change is not {criterion.op} {criterion.target_text}"
    if not criterion.significant:
        return CriterionResult(
            **row, verdict="PASS" if passed else "FAIL", reason=reason
        )

    significance, p_value, note = measure.significance(criterion, run)
    row.update(p_value=p_value, significance=significance)
    if not passed:
        return CriterionResult(**row, verdict="FAIL", reason=reason)
    if significance in (None, "untested"):
        return CriterionResult(**row, verdict="NO DATA", reason=note)
    if significance == "~":
        return CriterionResult(
            **row, verdict="FAIL", reason="the change is not statistically significant"
        )
    return CriterionResult(**row, verdict="PASS")


def _change(measured: Any, base_value: Any) -> tuple[float | None, float | None]:
    if isinstance(measured, bool) or not isinstance(base_value, (int, float)):
        return None, None
    if isinstance(base_value, bool) or base_value == 0:
        return None, None
    return (measured - base_value) / base_value * 100.0, measured / base_value


class _Measurer:
    """Looks up a criterion's value in a run, caching each run's summary."""

    def __init__(
        self, comparison: Any | None, server: dict[str, ServerFigures]
    ) -> None:
        self.comparison = comparison
        self.server = server
        self._summaries: dict[int, Any] = {}
        self._key_figures: dict[int, Any] = {}

    def value(self, criterion: Criterion, run: Any) -> tuple[float | bool | None, str]:
        """Return the value in base units, or None and the reason it is missing."""
        derived = DERIVED_METRICS.get(criterion.metric)
        if derived is None:
            return self._summary_value(
                run, criterion.metric, criterion.statistic, criterion.endpoint
            )
        if derived.server:
            return self._server_value(criterion, run)
        if criterion.endpoint and derived.k6 is not None:
            return self._summary_value(run, *derived.k6, criterion.endpoint)
        if criterion.endpoint:
            return None, f"{criterion.metric} is not measured per endpoint"
        value = getattr(self._figures(run), derived.key_figure or "", None)
        if value is None and criterion.metric == "cache_hit_rate":
            value = self.server.get(run.name, ServerFigures()).cache_hit_rate
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None, f"run {run.name!r} has no {criterion.metric} data"
        return float(value), ""

    def significance(
        self, criterion: Criterion, run: Any
    ) -> tuple[str | None, float | None, str]:
        """Return the comparison's verdict and p-value for the criterion's figure."""
        frame = getattr(self.comparison, "frame", None)
        if frame is None:
            return None, None, "no baseline comparison ran, so significance is untested"
        metric, statistic = self._k6_figure(criterion)
        rows = frame[
            (frame["run"] == run.name)
            & (frame["metric"] == metric)
            & (frame["endpoint"] == criterion.endpoint)
            & (frame["statistic"] == statistic)
        ]
        if rows.empty:
            return None, None, f"the comparison did not test {metric} {statistic}"
        first = rows.iloc[0]
        p_value = first.get("p_adjusted")
        p_value = None if p_value is None or _isnan(p_value) else float(p_value)
        note = ""
        if first["verdict"] == "untested":
            note = f"the comparison could not test the significance of {metric} {statistic}"
        return str(first["verdict"]), p_value, note

    @staticmethod
    def _k6_figure(criterion: Criterion) -> tuple[str, str]:
        derived = DERIVED_METRICS.get(criterion.metric)
        if derived is not None and derived.k6 is not None:
            return derived.k6
        return criterion.metric, criterion.statistic

    def _server_value(
        self, criterion: Criterion, run: Any
    ) -> tuple[float | bool | None, str]:
        figures = self.server.get(run.name)
        if figures is None:
            # A runbook baseline file carries resource_usage.database_connections.
            if criterion.metric == "db_connections" and run.points is None:
                value, _ = self._summary_value(run, "db_connections", "value", "")
                if value is not None:
                    return value, ""
            return None, f"no server data (Prometheus/Redis) for run {run.name!r}"
        if criterion.metric == "memory_leak":
            if figures.memory_leak is None:
                why = (
                    figures.memory_reason
                    or f"memory was not measured during run {run.name!r}"
                )
                return None, why
            return figures.memory_leak, ""
        value = figures.db_connections.get(criterion.statistic)
        if value is None:
            return (
                None,
                f"no {criterion.statistic} of db_connections for run {run.name!r}",
            )
        return float(value), ""

    def _summary_value(
        self, run: Any, metric: str, statistic: str, endpoint: str
    ) -> tuple[float | None, str]:
        frame = self._summary(run)
        rows = frame[(frame["metric"] == metric) & (frame["statistic"] == statistic)]
        if rows.empty:
            if not (frame["metric"] == metric).any():
                return None, f"run {run.name!r} has no metric {metric!r}"
            return None, f"run {run.name!r} has no {statistic} of {metric}"
        rows = rows[rows["endpoint"] == endpoint]
        if rows.empty:
            return None, f"run {run.name!r} has no endpoint {endpoint!r} in {metric}"
        value = float(rows.iloc[0]["value"])
        if math.isnan(value):
            return None, f"{statistic} of {metric} is undefined in run {run.name!r}"
        return value, ""

    def _summary(self, run: Any) -> Any:
        if id(run) not in self._summaries:
            from perfreport.analysis.summary import summarize

            self._summaries[id(run)] = summarize(run, by="endpoint")
        return self._summaries[id(run)]

    def _figures(self, run: Any) -> Any:
        if id(run) not in self._key_figures:
            from perfreport.analysis.key_figures import key_figures

            self._key_figures[id(run)] = key_figures(run)
        return self._key_figures[id(run)]


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
