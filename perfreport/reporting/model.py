"""The report model: plain data that every renderer reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from perfreport.analysis.criteria import CriteriaResult, ServerFigures
from perfreport.analysis.key_figures import KeyFigures
from perfreport.model import AnalysisWarning, Run

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


def run_time_range(run: Run) -> tuple[datetime | None, datetime | None]:
    """Return the first and last sample time of a run (UTC), or its recorded range."""
    if run.points is not None and not run.points.empty:
        times = run.points["time"]
        return as_datetime(times.min()), as_datetime(times.max())
    start, end = run.info.get("start"), run.info.get("end")
    return (
        start if isinstance(start, datetime) else None,
        end if isinstance(end, datetime) else None,
    )


def as_datetime(moment: pd.Timestamp) -> datetime:
    """Return ``moment`` as a datetime, floored to microseconds (k6 writes nanoseconds)."""
    return moment.floor("us").to_pydatetime()
