"""Sign-off criteria: parse a criteria TOML file and judge runs against it.

A criteria file is a list of ``[[criterion]]`` tables (see docs/criteria.md)::

    [[criterion]]
    name = "Response time p95"
    metric = "http_req_duration"
    stat = "p(95)"
    op = "<"
    target = "500 ms"

Targets are converted to base units when the file is read (ms, bytes, requests
per second, a share 0..1). Relative targets (``relative_to = "baseline"``) are a
percent change (``"-30 %"``) or a ratio (``"2x"``) of the baseline's value.

Every evaluated row has the verdict PASS, FAIL or NO DATA; a criterion whose
inputs lack the value it needs is NO DATA, never PASS.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomllib

from perfreport.errors import CriteriaError

Verdict = Literal["PASS", "FAIL", "NO DATA"]
Kind = Literal["time", "data", "share", "per_second", "count", "bool"]

CRITERIA_FORMAT_VERSION = 1

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
OPERATOR_ALIASES = {"=": "=="}

# Unit factors to the base unit of each kind; the empty unit means "already base".
UNIT_FACTORS: dict[str, dict[str, float]] = {
    "time": {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001, "min": 60_000.0},
    "data": {
        "b": 1.0,
        "bytes": 1.0,
        "kb": 1e3,
        "mb": 1e6,
        "gb": 1e9,
        "kib": 1024.0,
        "mib": 1024.0**2,
        "gib": 1024.0**3,
    },
    "share": {"": 1.0, "%": 0.01},
    "per_second": {
        "": 1.0,
        "req/s": 1.0,
        "rps": 1.0,
        "/s": 1.0,
        "iter/s": 1.0,
        "req/min": 1 / 60,
        "/min": 1 / 60,
    },
    "count": {"": 1.0, "count": 1.0, "connections": 1.0},
}
BASE_UNIT = {
    "time": "ms",
    "data": "bytes",
    "share": "",
    "per_second": "/s",
    "count": "",
    "bool": "",
}

# k6's built-in metrics (k6 1.x) and what their values are.
K6_METRICS: dict[str, tuple[str, Kind]] = {
    "http_reqs": ("counter", "count"),
    "http_req_failed": ("rate", "share"),
    "http_req_duration": ("trend", "time"),
    "http_req_blocked": ("trend", "time"),
    "http_req_connecting": ("trend", "time"),
    "http_req_tls_handshaking": ("trend", "time"),
    "http_req_sending": ("trend", "time"),
    "http_req_waiting": ("trend", "time"),
    "http_req_receiving": ("trend", "time"),
    "iteration_duration": ("trend", "time"),
    "group_duration": ("trend", "time"),
    "iterations": ("counter", "count"),
    "dropped_iterations": ("counter", "count"),
    "checks": ("rate", "share"),
    "vus": ("gauge", "count"),
    "vus_max": ("gauge", "count"),
    "data_sent": ("counter", "data"),
    "data_received": ("counter", "data"),
}


@dataclass(frozen=True)
class DerivedMetric:
    """A run-level figure a criterion may name instead of a k6 metric.

    ``key_figure`` names the :class:`~perfreport.analysis.key_figures.KeyFigures`
    attribute used for the whole run. ``k6`` is the (metric, statistic) used per
    endpoint. ``server`` marks figures that only server data (Prometheus, Redis)
    provides.
    """

    kind: Kind
    key_figure: str | None = None
    k6: tuple[str, str] | None = None
    server: bool = False
    default_stat: str = "value"


DERIVED_METRICS: dict[str, DerivedMetric] = {
    "throughput": DerivedMetric("per_second", "throughput_rps", ("http_reqs", "rate")),
    "error_rate": DerivedMetric("share", "error_rate", ("http_req_failed", "rate")),
    "cache_hit_rate": DerivedMetric(
        "share", "cache_hit_rate", ("cache_hit_rate", "rate")
    ),
    "requests": DerivedMetric("count", "requests", ("http_reqs", "count")),
    "failed_requests": DerivedMetric("count", "failed_requests"),
    "check_rate": DerivedMetric("share", "check_rate", ("checks", "rate")),
    "db_connections": DerivedMetric("count", server=True, default_stat="max"),
    "memory_leak": DerivedMetric("bool", server=True),
}

CRITERION_KEYS = {
    "name",
    "metric",
    "stat",
    "op",
    "target",
    "unit",
    "run",
    "endpoint",
    "relative_to",
    "significant",
    "optional",
    "description",
}
ALL_RUNS = "*"
_NUMBER_WITH_UNIT = re.compile(
    r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*?)\s*$"
)
_TABLE_HEADER = re.compile(r"^\s*\[\[\s*criterion\s*\]\]")
_ANY_HEADER = re.compile(r"^\s*\[")
_TOML_LINE = re.compile(r"at line (\d+)")


@dataclass(frozen=True)
class Criterion:
    """One sign-off criterion, with its target in base units.

    ``target`` is in :data:`BASE_UNIT` of ``kind`` for absolute criteria, a
    percent change (``-30.0`` = 30 % lower) when ``relative_unit`` is ``"%"``,
    a ratio of candidate to baseline when it is ``"x"``, or a bool for
    ``memory_leak``. ``runs`` empty means every candidate run; ``endpoint``
    empty means the whole metric. ``line`` is the 1-based line of the
    ``[[criterion]]`` header in ``source``.
    """

    name: str
    metric: str
    statistic: str
    op: str
    target: float | bool
    kind: Kind
    target_text: str
    runs: tuple[str, ...] = ()
    endpoint: str = ""
    relative_to: str | None = None
    relative_unit: str | None = None
    significant: bool = False
    optional: bool = False
    description: str = ""
    source: str = ""
    line: int = 0

    @property
    def is_relative(self) -> bool:
        """True when the target is a change against the baseline."""
        return self.relative_to is not None

    @property
    def expression(self) -> str:
        """The criterion as one readable line, e.g. ``p(95) < 500 ms``."""
        subject = self.metric
        if self.kind != "bool" and self.statistic != "value":
            subject = f"{self.metric} {self.statistic}"
        if self.endpoint:
            subject = f"{subject} [{self.endpoint}]"
        if self.is_relative:
            subject = f"change of {subject} vs {self.relative_to}"
        return f"{subject} {self.op} {self.target_text}"


@dataclass(frozen=True)
class CriteriaSet:
    """The criteria read from one file, with its significance settings."""

    criteria: tuple[Criterion, ...]
    source: str = ""
    confidence: float = 0.95

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.criteria)

    def __len__(self) -> int:
        return len(self.criteria)


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


# --------------------------------------------------------------------------- parsing


def load_criteria(
    path: str | Path, *, known_metrics: Iterable[str] | None = None
) -> CriteriaSet:
    """Read a criteria TOML file.

    ``known_metrics`` adds custom metric names (from the runs) to k6's built-in
    metrics and :data:`DERIVED_METRICS`. When it is None, metric names are not
    checked, so call :func:`check_metric_names` once the runs are loaded.

    Raises:
        CriteriaError: the file is missing, not TOML, or a criterion is invalid;
            the message names the file, the line and the fix.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CriteriaError(
            path, f"cannot read the criteria file ({error.strerror})"
        ) from None
    criteria = parse_criteria(text, source=str(path))
    if known_metrics is not None:
        check_metric_names(criteria, known_metrics)
    return criteria


def parse_criteria(text: str, *, source: str = "<criteria>") -> CriteriaSet:
    """Parse criteria TOML from a string; see :func:`load_criteria`."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = _TOML_LINE.search(str(error))
        line = int(match.group(1)) if match else None
        raise CriteriaError(
            source, f"not valid TOML ({error})", line=line, hint="fix the syntax"
        ) from None
    locator = _Locator(text, source)

    version = document.get("format_version", CRITERIA_FORMAT_VERSION)
    if version != CRITERIA_FORMAT_VERSION:
        raise locator.error(
            None,
            "format_version",
            f"unsupported format_version {version!r}",
            f"this release reads format_version = {CRITERIA_FORMAT_VERSION}",
        )
    confidence = _parse_confidence(document.get("confidence", 0.95), locator)

    unknown_top = set(document) - {"format_version", "confidence", "criterion"}
    if unknown_top:
        key = min(unknown_top)
        raise locator.error(
            None,
            key,
            f"unknown top-level key {key!r}",
            "criteria go in [[criterion]] tables; top-level keys are "
            "format_version and confidence",
        )
    tables = document.get("criterion", [])
    if not isinstance(tables, list) or not tables:
        raise CriteriaError(
            source,
            "no [[criterion]] tables found",
            hint="add at least one [[criterion]] table (see docs/criteria.md)",
        )
    parsed = tuple(
        _parse_criterion(table, i, locator) for i, table in enumerate(tables)
    )
    return CriteriaSet(parsed, source=source, confidence=confidence)


def check_metric_names(criteria: CriteriaSet, known_metrics: Iterable[str]) -> None:
    """Raise :class:`CriteriaError` for a criterion naming an unknown metric.

    Known are k6's built-in metrics, :data:`DERIVED_METRICS` and ``known_metrics``
    (the metrics the runs contain).
    """
    known = set(K6_METRICS) | set(DERIVED_METRICS) | set(known_metrics)
    for criterion in criteria:
        if criterion.metric in known:
            continue
        close = difflib.get_close_matches(criterion.metric, sorted(known), n=1)
        hint = f"did you mean {close[0]!r}?" if close else ""
        hint += " known metrics: " + ", ".join(sorted(known))
        raise CriteriaError(
            criterion.source,
            f"unknown metric {criterion.metric!r} in criterion {criterion.name!r}",
            line=_Locator.from_file(criterion).line_of(criterion, "metric"),
            hint=hint.strip(),
        )


class _Locator:
    """Finds the line of a criterion's key in the TOML text.

    tomllib reports lines only for syntax errors, so semantic errors look the
    line up here: the n-th ``[[criterion]]`` header, then the key below it.
    """

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source
        self.headers = [i for i, ln in enumerate(self.lines) if _TABLE_HEADER.match(ln)]

    @classmethod
    def from_file(cls, criterion: Criterion) -> _Locator:
        try:
            text = Path(criterion.source).read_text(encoding="utf-8")
        except OSError:
            text = ""
        return cls(text, criterion.source)

    def line_of(self, index: int | Criterion | None, key: str) -> int | None:
        if isinstance(index, Criterion):
            start = index.line - 1 if index.line else None
        elif index is None:
            start = None
        else:
            start = self.headers[index] if index < len(self.headers) else None
        key_pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        if start is None:
            for i, line in enumerate(self.lines):
                if _ANY_HEADER.match(line):
                    break
                if key_pattern.match(line):
                    return i + 1
            return None
        for i in range(start + 1, len(self.lines)):
            if _ANY_HEADER.match(self.lines[i]):
                break
            if key_pattern.match(self.lines[i]):
                return i + 1
        return start + 1

    def header_line(self, index: int) -> int:
        return self.headers[index] + 1 if index < len(self.headers) else 0

    def error(
        self, index: int | None, key: str, message: str, hint: str
    ) -> CriteriaError:
        return CriteriaError(
            self.source, message, line=self.line_of(index, key), hint=hint
        )


def _parse_confidence(value: Any, locator: _Locator) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value < 1
    ):
        raise locator.error(
            None,
            "confidence",
            f"invalid confidence {value!r}",
            "write a level between 0 and 1, such as confidence = 0.95",
        )
    return float(value)


def _parse_criterion(table: Any, index: int, locator: _Locator) -> Criterion:
    if not isinstance(table, dict):
        raise locator.error(
            index, "criterion", "a criterion must be a table", "use [[criterion]]"
        )
    unknown = sorted(set(table) - CRITERION_KEYS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(CRITERION_KEYS), n=1)
        fix = (
            f"did you mean {close[0]!r}?"
            if close
            else "allowed keys: " + ", ".join(sorted(CRITERION_KEYS))
        )
        raise locator.error(index, unknown[0], f"unknown key {unknown[0]!r}", fix)

    metric = _required_str(table, "metric", index, locator)
    name = _optional_str(table, "name", index, locator) or metric
    kind, default_stat = _metric_kind(metric)
    statistic = _parse_statistic(table, index, locator, kind, default_stat)
    if metric not in K6_METRICS and metric not in DERIVED_METRICS:
        kind = _custom_kind(table, statistic)
    # A Counter's rate is per second, not a share.
    if statistic == "rate" and K6_METRICS.get(metric, ("", ""))[0] == "counter":
        kind = "per_second"
    op = _parse_operator(table, index, locator)
    relative_to = _optional_str(table, "relative_to", index, locator) or None
    if relative_to is not None and relative_to != "baseline":
        raise locator.error(
            index,
            "relative_to",
            f"invalid relative_to {relative_to!r}",
            'the only reference is relative_to = "baseline"',
        )
    target, relative_unit, target_text = _parse_target(
        table, index, locator, kind, relative=relative_to is not None
    )
    return Criterion(
        name=name,
        metric=metric,
        statistic=statistic,
        op=op,
        target=target,
        kind=kind,
        target_text=target_text,
        runs=_parse_runs(table, index, locator),
        endpoint=_optional_str(table, "endpoint", index, locator),
        relative_to=relative_to,
        relative_unit=relative_unit,
        significant=_optional_bool(table, "significant", index, locator),
        optional=_optional_bool(table, "optional", index, locator),
        description=_optional_str(table, "description", index, locator),
        source=locator.source,
        line=locator.header_line(index),
    )


def _metric_kind(metric: str) -> tuple[Kind, str]:
    """Return the kind of values and the default statistic of a metric name.

    A custom metric defaults to a time Trend with p(95); :func:`_custom_kind`
    then infers its kind from the target's unit.
    """
    if metric in DERIVED_METRICS:
        derived = DERIVED_METRICS[metric]
        return derived.kind, derived.default_stat
    k6_type, kind = K6_METRICS.get(metric, ("trend", "time"))
    default = {"trend": "p(95)", "rate": "rate", "counter": "count", "gauge": "max"}
    return kind, default[k6_type]


def _custom_kind(table: dict[str, Any], statistic: str) -> Kind:
    """Infer what a custom metric's values are from the target's unit."""
    unit = table.get("unit")
    raw = table.get("target")
    if unit is None and isinstance(raw, str):
        match = _NUMBER_WITH_UNIT.match(raw)
        unit = match.group(2) if match else ""
    unit = unit.strip() if isinstance(unit, str) else ""
    if unit == "%" or (unit == "" and statistic == "rate"):
        return "share"
    if unit in UNIT_FACTORS["time"]:
        return "time"
    if unit.lower() in UNIT_FACTORS["data"]:
        return "data"
    if unit and unit in UNIT_FACTORS["per_second"]:
        return "per_second"
    return "count"


_STATISTIC = re.compile(
    r"^(count|rate|avg|min|med|max|value|passes|fails|p\(\d+(\.\d+)?\))$"
)


def _parse_statistic(
    table: dict[str, Any], index: int, locator: _Locator, kind: Kind, default: str
) -> str:
    statistic = _optional_str(table, "stat", index, locator) or default
    statistic = statistic.replace(" ", "")
    if re.fullmatch(r"p\d+(\.\d+)?", statistic):
        statistic = f"p({statistic[1:]})"
    if not _STATISTIC.match(statistic):
        raise locator.error(
            index,
            "stat",
            f"unknown statistic {statistic!r}",
            "use one of count, rate, avg, min, med, max, value, passes, fails "
            "or a percentile such as p(95)",
        )
    if kind == "bool" and statistic != "value":
        raise locator.error(
            index,
            "stat",
            f"{statistic!r} does not apply to a yes/no figure",
            "remove stat",
        )
    return statistic


def _parse_operator(table: dict[str, Any], index: int, locator: _Locator) -> str:
    op = _required_str(table, "op", index, locator).strip()
    op = OPERATOR_ALIASES.get(op, op)
    if op not in OPERATORS:
        raise locator.error(
            index,
            "op",
            f"invalid operator {table['op']!r}",
            "use one of " + ", ".join(f'"{o}"' for o in OPERATORS),
        )
    return op


def _parse_target(
    table: dict[str, Any], index: int, locator: _Locator, kind: Kind, *, relative: bool
) -> tuple[float | bool, str | None, str]:
    """Return the target in base units, the relative unit, and its display text."""
    if "target" not in table:
        raise locator.error(
            index, "target", "missing key 'target'", 'add e.g. target = "500 ms"'
        )
    raw = table["target"]
    unit_key = table.get("unit")
    if unit_key is not None and not isinstance(unit_key, str):
        raise locator.error(
            index, "unit", "unit must be a string", 'write e.g. unit = "ms"'
        )

    if kind == "bool":
        if not isinstance(raw, bool) or relative:
            raise locator.error(
                index,
                "target",
                f"invalid target {raw!r}",
                "write target = false or true",
            )
        return raw, None, str(raw).lower()

    if isinstance(raw, bool):
        raise locator.error(
            index,
            "target",
            f"invalid target {raw!r}",
            'write a number with a unit, e.g. "500 ms"',
        )
    if isinstance(raw, (int, float)):
        number, unit = float(raw), (unit_key or "").strip()
    elif isinstance(raw, str):
        match = _NUMBER_WITH_UNIT.match(raw)
        if not match:
            raise locator.error(
                index,
                "target",
                f"invalid target {raw!r}",
                'write a number and a unit, e.g. "500 ms", "80 %", "2x"',
            )
        if unit_key is not None and match.group(2):
            raise locator.error(
                index,
                "unit",
                f"the unit is given twice ({match.group(2)!r} and {unit_key!r})",
                "keep one of them",
            )
        number, unit = float(match.group(1)), (unit_key or match.group(2)).strip()
    else:
        raise locator.error(
            index, "target", f"invalid target {raw!r}", 'write e.g. "500 ms"'
        )
    if not math.isfinite(number):
        raise locator.error(
            index, "target", f"target {raw!r} is not finite", "write a number"
        )

    unit_key_name = "unit" if unit_key is not None else "target"
    if relative:
        return _relative_target(number, unit, index, locator, unit_key_name)
    return _absolute_target(number, unit, kind, index, locator, unit_key_name)


def _relative_target(
    number: float, unit: str, index: int, locator: _Locator, unit_key: str
) -> tuple[float, str, str]:
    if unit == "%":
        return number, "%", f"{number:+g} %"
    if unit.lower() == "x":
        if number <= 0:
            raise locator.error(
                index,
                "target",
                f"ratio {number:g}x must be positive",
                'write e.g. "2x"',
            )
        return number, "x", f"{number:g}x"
    raise locator.error(
        index,
        unit_key,
        f"invalid unit {unit!r} for a target relative to the baseline",
        'write a percent change ("-30 %") or a ratio ("2x")',
    )


def _absolute_target(
    number: float, unit: str, kind: Kind, index: int, locator: _Locator, unit_key: str
) -> tuple[float, None, str]:
    factors = UNIT_FACTORS[kind]
    factor = factors.get(unit if kind != "data" else unit.lower())
    if factor is None:
        accepted = ", ".join(repr(u) for u in factors if u) or "none"
        raise locator.error(
            index,
            unit_key,
            f"invalid unit {unit!r} for a {kind.replace('_', ' ')} target",
            f"use one of {accepted}",
        )
    if kind == "share" and unit == "" and not 0 <= number <= 1:
        raise locator.error(
            index,
            "target",
            f"share {number:g} is outside 0..1",
            f'write "{number:g} %" for a percentage or a fraction such as 0.8',
        )
    text = f"{number:g} {unit}".strip() if unit else f"{number:g}"
    return number * factor, None, text


def _parse_runs(
    table: dict[str, Any], index: int, locator: _Locator
) -> tuple[str, ...]:
    raw = table.get("run", ALL_RUNS)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(r, str) and r for r in raw):
        raise locator.error(
            index,
            "run",
            f"invalid run {raw!r}",
            'write a run name, a list of names or "*"',
        )
    return () if ALL_RUNS in raw else tuple(raw)


def _required_str(
    table: dict[str, Any], key: str, index: int, locator: _Locator
) -> str:
    if key not in table:
        raise locator.error(index, key, f"missing key {key!r}", f'add {key} = "..."')
    return _optional_str(table, key, index, locator)


def _optional_str(
    table: dict[str, Any], key: str, index: int, locator: _Locator
) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise locator.error(
            index, key, f"{key} must be a string, not {value!r}", "quote it"
        )
    return value


def _optional_bool(
    table: dict[str, Any], key: str, index: int, locator: _Locator
) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise locator.error(
            index,
            key,
            f"{key} must be true or false, not {value!r}",
            f"write {key} = true",
        )
    return value


# ------------------------------------------------------------------------ evaluation


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
