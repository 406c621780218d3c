"""k6 thresholds re-evaluated from a run's own statistics.

A k6 threshold expression is ``<aggregation> <operator> <number>``, such as
``p(95)<500``, ``rate<0.01`` or ``count >= 1000``; the operators are ``<``,
``<=``, ``>``, ``>=``, ``==``, ``===`` and ``!=``. Aggregations by metric type:
Trend ``avg``, ``min``, ``med``, ``max``, ``p(X)``; Counter ``count``, ``rate``;
Rate ``rate``; Gauge ``value``. k6 fails the run (exit status 99) when any
threshold fails.

The raw JSON output lists the thresholds of parent metrics only; thresholds
declared on a sub-metric appear in the summary files alone.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from perfreport.analysis.summary import lookup, summarize
from perfreport.errors import InputError
from perfreport.ingest.k6_summary import endpoint_of
from perfreport.model import Run

_EXPRESSION = re.compile(
    r"^\s*(?P<aggregation>[a-z]+(?:\(\d+(?:\.\d+)?\))?)\s*"
    r"(?P<operator><=|>=|===|==|!=|<|>)\s*(?P<value>[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*$"
)
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "===": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class ThresholdResult:
    """One threshold: perfreport's verdict from the data, and k6's where known.

    ``ok`` is None when the statistic could not be computed (no samples).
    """

    metric: str
    expression: str
    aggregation: str
    operator: str
    target: float
    observed: float | None
    ok: bool | None
    k6_ok: bool | None


def parse_threshold(expression: str, *, source: str | None = None) -> tuple[str, str, float]:
    """Split a threshold expression into (aggregation, operator, number)."""
    match = _EXPRESSION.match(expression)
    if match is None:
        raise InputError(
            source,
            f"threshold {expression!r} is not of the form '<aggregation> <operator> <number>'",
            hint="write it as k6 does, e.g. 'p(95)<500' or 'rate<0.01'",
        )
    return match.group("aggregation"), match.group("operator"), float(match.group("value"))


def evaluate_thresholds(run: Run, summary: pd.DataFrame | None = None) -> list[ThresholdResult]:
    """Evaluate every threshold the run declares, against its own statistics.

    Thresholds come from the run's metric definitions and, for summary files, from
    k6's recorded verdicts (which include sub-metric thresholds).
    """
    expressions: dict[str, list[str]] = {}
    for name, definition in run.metrics.items():
        expressions.setdefault(name, []).extend(definition.thresholds)
    for name, verdicts in run.k6_thresholds.items():
        known = expressions.setdefault(name, [])
        known.extend(expr for expr in verdicts if expr not in known)
    wanted_levels = {
        aggregation
        for exprs in expressions.values()
        for aggregation, _, _ in (parse_threshold(e, source=run.source) for e in exprs)
    }
    if summary is None:
        stats = sorted(s for s in wanted_levels if s.startswith("p(") or s in ("avg", "min", "med", "max"))
        summary = summarize(run, stats=stats or None, submetrics=True)
    results = []
    for name, exprs in expressions.items():
        metric, endpoint = endpoint_of(name)
        for expression in exprs:
            aggregation, op, target = parse_threshold(expression, source=run.source)
            observed = lookup(summary, metric, aggregation, endpoint)
            if observed is None and endpoint:
                observed = lookup(summary, name, aggregation)
            ok = None if observed is None else _OPERATORS[op](observed, target)
            k6_ok = run.k6_thresholds.get(name, {}).get(expression)
            results.append(
                ThresholdResult(name, expression, aggregation, op, target, observed, ok, k6_ok)
            )
    return results


def thresholds_passed(results: list[ThresholdResult]) -> bool:
    """Return True unless a threshold failed (one that could not be computed is not a pass)."""
    return all(result.ok is True for result in results)
