"""Assemble a staging performance report from runs, criteria and server data.

:func:`build_report` returns a :class:`Report`: plain data that every renderer
(Markdown, HTML, PDF, JSON) reads. The sections follow a staging runbook's
performance report: title block, executive summary, results summary, detailed
findings (response times, cache, database, system resources, reliability),
recommendations, monitoring recommendations and sign-off.

A section whose data is missing carries a one-line note instead of numbers.
"""

from perfreport.reporting.build import (
    build_report,
    endpoint_changes,
    fill_metadata,
    perfreport_version,
    summaries,
)
from perfreport.reporting.model import (
    DEFAULT_TITLE,
    ENDPOINT_STATISTIC,
    LATENCY_METRIC,
    REPORT_FORMAT_VERSION,
    EndpointChange,
    InputSummary,
    Report,
    ReportChart,
    ReportMetadata,
    RunFigures,
    ServerData,
    ServerRow,
)
from perfreport.reporting.server import server_data
from perfreport.reporting.text import (
    achieved_text,
    monitoring_recommendations,
    recommendations,
    verdict_sentence,
)

__all__ = [
    "DEFAULT_TITLE",
    "ENDPOINT_STATISTIC",
    "LATENCY_METRIC",
    "REPORT_FORMAT_VERSION",
    "EndpointChange",
    "InputSummary",
    "Report",
    "ReportChart",
    "ReportMetadata",
    "RunFigures",
    "ServerData",
    "ServerRow",
    "achieved_text",
    "build_report",
    "endpoint_changes",
    "fill_metadata",
    "monitoring_recommendations",
    "perfreport_version",
    "recommendations",
    "server_data",
    "summaries",
    "verdict_sentence",
]
