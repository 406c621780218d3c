"""The staging report's verdict as JSON, for a CI gate.

Numbers stay in base units (ms, bytes, per second, shares from 0 to 1). The
document carries ``format_version`` so that readers can reject a version they do
not know.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from perfreport.analysis.criteria import CriteriaResult, CriterionResult
from perfreport.reporting import REPORT_FORMAT_VERSION, Report


def criterion_row(row: CriterionResult) -> dict[str, Any]:
    """Return one criterion result as a JSON-ready dict."""
    criterion = row.criterion
    return {
        "name": criterion.name,
        "run": row.run,
        "metric": criterion.metric,
        "statistic": criterion.statistic,
        "endpoint": criterion.endpoint,
        "op": criterion.op,
        "target": criterion.target,
        "target_text": criterion.target_text,
        "kind": criterion.kind,
        "relative_to": criterion.relative_to,
        "relative_unit": criterion.relative_unit,
        "significant": criterion.significant,
        "optional": criterion.optional,
        "measured": row.measured,
        "baseline": row.baseline,
        "change_pct": row.change_pct,
        "ratio": row.ratio,
        "p_value": row.p_value,
        "significance": row.significance,
        "verdict": row.verdict,
        "reason": row.reason,
        "line": criterion.line,
    }


def criteria_document(result: CriteriaResult) -> dict[str, Any]:
    """Return the criteria verdict alone, as ``perfreport check --format json`` prints it."""
    return {
        "format_version": REPORT_FORMAT_VERSION,
        "passed": result.passed,
        "criteria": [criterion_row(row) for row in result.rows],
        "warnings": [asdict(w) for w in result.warnings],
    }


def report_document(report: Report) -> dict[str, Any]:
    """Return the whole report as a JSON-ready dict (no charts)."""
    return {
        "format_version": REPORT_FORMAT_VERSION,
        "passed": report.passed,
        "verdict": report.verdict,
        "metadata": asdict(report.metadata),
        "inputs": [asdict(item) for item in report.inputs],
        "baseline": report.baseline,
        "runs": report.runs,
        "criteria": [criterion_row(r) for r in report.criteria.rows]
        if report.criteria
        else [],
        "endpoint_changes": [asdict(c) for c in report.endpoint_changes],
        "key_figures": {
            r.name: {"is_baseline": r.is_baseline, **r.figures.to_dict()}
            for r in report.run_figures
        },
        "database": [asdict(r) for r in report.server.database],
        "system": [asdict(r) for r in report.server.system],
        "cache": [asdict(r) for r in report.server.cache],
        "recommendations": report.recommendations,
        "monitoring": report.monitoring,
        "warnings": [asdict(w) for w in report.warnings],
    }


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dumps(document: dict[str, Any]) -> str:
    """Serialize a document with NaN and infinities as null and datetimes as ISO text."""
    return json.dumps(_clean(document), indent=2, ensure_ascii=False) + "\n"


def write_json(report: Report, path: str | Path) -> Path:
    """Write ``report``'s JSON document and return the path."""
    path = Path(path)
    path.write_text(dumps(report_document(report)), encoding="utf-8")
    return path
