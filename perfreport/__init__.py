"""perfreport: k6, Prometheus and Redis data turned into a release verdict.

The public API for scripts and notebooks. Values are in base units throughout:
durations in ms, data in bytes, rates per second, shares from 0 to 1. Results
carry their problems as :class:`AnalysisWarning` lists instead of printing, and
every result object shows as an HTML table in Jupyter.

    import perfreport as pr

    baseline = pr.load("sample_data/baseline.json.gz")
    stress = pr.load("sample_data/stress.json.gz")
    pr.summarize(stress)                      # one row per metric, endpoint, statistic
    comparison = pr.compare(baseline, stress)  # verdicts with significance
    pr.plot_latency_over_time(stress, window="5s")

The command line (``perfreport ...``) calls these same functions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public names and the modules that define them. They are imported on first use,
# so that `import perfreport` and the command line start without loading pandas,
# scipy and matplotlib until a command needs them.
_EXPORTS: dict[str, str] = {
    "AnalysisWarning": "perfreport.model",
    "Comparison": "perfreport.analysis.compare",
    "ConfigError": "perfreport.errors",
    "CriteriaError": "perfreport.errors",
    "FormatVersionError": "perfreport.errors",
    "FrameError": "perfreport.errors",
    "InputError": "perfreport.errors",
    "KeyFigures": "perfreport.analysis.key_figures",
    "MetricDef": "perfreport.model",
    "PerfreportError": "perfreport.errors",
    "PromFrame": "perfreport.ingest.prometheus",
    "RedisInfo": "perfreport.ingest.redis_info",
    "RemoteError": "perfreport.errors",
    "ReportMetadata": "perfreport.reporting",
    "Run": "perfreport.model",
    "ThresholdResult": "perfreport.analysis.thresholds",
    "ThresholdResults": "perfreport.api",
    "UnknownFormatError": "perfreport.errors",
    "UsageError": "perfreport.errors",
    "cache_hit_ratio_from_redis": "perfreport.analysis.server",
    "compare": "perfreport.analysis.compare",
    "connection_reduction": "perfreport.analysis.server",
    "evaluate_thresholds": "perfreport.api",
    "from_frame": "perfreport.ingest.frame",
    "key_figures": "perfreport.analysis.key_figures",
    "load": "perfreport.api",
    "package_version": "perfreport.api",
    "parse_redis_info": "perfreport.ingest.redis_info",
    "plot_distribution": "perfreport.plots",
    "plot_endpoint_p95": "perfreport.plots",
    "plot_latency_over_time": "perfreport.plots",
    "parquet_percentiles": "perfreport.analysis.parquet_percentiles",
    "plot_throughput": "perfreport.plots",
    "query_range": "perfreport.ingest.prometheus",
    "read_prometheus": "perfreport.api",
    "read_prometheus_parquet": "perfreport.ingest.prometheus",
    "read_prometheus_response": "perfreport.ingest.prometheus",
    "read_redis_info": "perfreport.ingest.redis_info",
    "report": "perfreport.api",
    "run_duration_s": "perfreport.analysis.summary",
    "select_series": "perfreport.analysis.server",
    "summarize": "perfreport.analysis.summary",
    "summarize_series": "perfreport.analysis.server",
}

if TYPE_CHECKING:
    from perfreport.analysis.compare import Comparison, compare
    from perfreport.analysis.key_figures import KeyFigures, key_figures
    from perfreport.analysis.server import (
        cache_hit_ratio_from_redis,
        connection_reduction,
        select_series,
        summarize_series,
    )
    from perfreport.analysis.summary import run_duration_s, summarize
    from perfreport.analysis.thresholds import ThresholdResult
    from perfreport.api import (
        ThresholdResults,
        evaluate_thresholds,
        load,
        package_version,
        read_prometheus,
        report,
    )
    from perfreport.errors import (
        ConfigError,
        CriteriaError,
        FormatVersionError,
        FrameError,
        InputError,
        PerfreportError,
        RemoteError,
        UnknownFormatError,
        UsageError,
    )
    from perfreport.ingest.frame import from_frame
    from perfreport.ingest.prometheus import (
        PromFrame,
        query_range,
        read_prometheus_parquet,
        read_prometheus_response,
    )
    from perfreport.ingest.redis_info import RedisInfo, parse_redis_info, read_redis_info
    from perfreport.model import AnalysisWarning, MetricDef, Run
    from perfreport.plots import (
        plot_distribution,
        plot_endpoint_p95,
        plot_latency_over_time,
        plot_throughput,
    )
    from perfreport.reporting import ReportMetadata


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from perfreport.api import package_version

        value: Any = package_version()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'perfreport' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AnalysisWarning",
    "Comparison",
    "ConfigError",
    "CriteriaError",
    "FormatVersionError",
    "FrameError",
    "InputError",
    "KeyFigures",
    "MetricDef",
    "PerfreportError",
    "PromFrame",
    "RedisInfo",
    "RemoteError",
    "ReportMetadata",
    "Run",
    "ThresholdResult",
    "ThresholdResults",
    "UnknownFormatError",
    "UsageError",
    "__version__",
    "cache_hit_ratio_from_redis",
    "compare",
    "connection_reduction",
    "evaluate_thresholds",
    "from_frame",
    "key_figures",
    "load",
    "parquet_percentiles",
    "parse_redis_info",
    "plot_distribution",
    "plot_endpoint_p95",
    "plot_latency_over_time",
    "plot_throughput",
    "query_range",
    "read_prometheus",
    "read_prometheus_parquet",
    "read_prometheus_response",
    "read_redis_info",
    "report",
    "run_duration_s",
    "select_series",
    "summarize",
    "summarize_series",
]
