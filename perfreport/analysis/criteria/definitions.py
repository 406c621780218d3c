"""The vocabulary of criteria files: metrics, units, operators and the parsed criterion."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

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

    def __iter__(self) -> Iterator[Criterion]:
        return iter(self.criteria)

    def __len__(self) -> int:
        return len(self.criteria)
