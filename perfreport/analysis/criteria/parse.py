"""Reading criteria TOML files, with the file and line of every error."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tomllib

from perfreport.analysis.criteria.definitions import (
    ALL_RUNS,
    CRITERIA_FORMAT_VERSION,
    CRITERION_KEYS,
    DERIVED_METRICS,
    K6_METRICS,
    OPERATOR_ALIASES,
    OPERATORS,
    UNIT_FACTORS,
    CriteriaSet,
    Criterion,
    Kind,
)
from perfreport.errors import CriteriaError

_NUMBER_WITH_UNIT = re.compile(
    r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*?)\s*$"
)
_TABLE_HEADER = re.compile(r"^\s*\[\[\s*criterion\s*\]\]")
_ANY_HEADER = re.compile(r"^\s*\[")
_TOML_LINE = re.compile(r"at line (\d+)")


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
