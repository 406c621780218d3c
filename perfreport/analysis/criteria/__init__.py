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

from perfreport.analysis.criteria.definitions import (
    ALL_RUNS,
    BASE_UNIT,
    CRITERIA_FORMAT_VERSION,
    DERIVED_METRICS,
    K6_METRICS,
    OPERATORS,
    UNIT_FACTORS,
    CriteriaSet,
    Criterion,
    DerivedMetric,
    Kind,
)
from perfreport.analysis.criteria.evaluate import (
    CriteriaResult,
    CriterionResult,
    ServerFigures,
    Verdict,
    comparison_scope,
    evaluate_criteria,
)
from perfreport.analysis.criteria.parse import (
    check_metric_names,
    load_criteria,
    parse_criteria,
)

__all__ = [
    "ALL_RUNS",
    "BASE_UNIT",
    "CRITERIA_FORMAT_VERSION",
    "DERIVED_METRICS",
    "K6_METRICS",
    "OPERATORS",
    "UNIT_FACTORS",
    "CriteriaResult",
    "CriteriaSet",
    "Criterion",
    "CriterionResult",
    "DerivedMetric",
    "Kind",
    "ServerFigures",
    "Verdict",
    "check_metric_names",
    "comparison_scope",
    "evaluate_criteria",
    "load_criteria",
    "parse_criteria",
]
