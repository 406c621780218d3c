"""Readers for k6's end-of-test summary files.

Three shapes are read, all from k6 v1.1.0 or its documented schemas:

* ``--summary-export``: per metric a flat map of statistics. A Rate's share is
  under ``value`` and each threshold maps its expression to a boolean that is
  true when the threshold FAILED. Groups and checks are maps keyed by name.
* ``handleSummary`` data: ``metrics.NAME.values``, thresholds as ``{"ok": bool}``,
  ``state.testRunDurationMs``, groups and checks as arrays.
* The machine-readable summary, version 1 (``version``, ``metadata``, ``config``,
  ``results``). k6 v1.1.0 has no flag that writes it, so it is read from its
  published JSON schema.

Each becomes a :class:`~perfreport.model.Run` without points whose ``summary``
frame has the columns ``metric``, ``endpoint``, ``statistic``, ``value``, ``unit``
and ``n``. A sub-metric selected by the ``name`` tag alone
(``http_req_duration{name:GET /api/stats}``) becomes that metric's row for
endpoint ``GET /api/stats``; other sub-metrics keep their full name.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from perfreport.errors import InputError
from perfreport.model import MetricDef, Run, Submetric, UNIT_BY_CONTAINS

SUMMARY_COLUMNS = ("metric", "endpoint", "statistic", "value", "unit", "n")
_SUBMETRIC_PATTERN = re.compile(r"^(?P<parent>[^{]+)\{(?P<selector>.*)\}$")
_METRIC_TYPES = {"counter", "gauge", "rate", "trend"}


def split_submetric(name: str) -> tuple[str, str, dict[str, str]]:
    """Split ``metric{key:value,...}`` into the parent, the selector and its tags."""
    match = _SUBMETRIC_PATTERN.match(name)
    if match is None:
        return name, "", {}
    selector = match.group("selector")
    tags: dict[str, str] = {}
    for part in selector.split(","):
        key, _, value = part.partition(":")
        tags[key.strip()] = value.strip()
    return match.group("parent"), selector, tags


def endpoint_of(name: str) -> tuple[str, str]:
    """Return (metric, endpoint) for a metric or sub-metric name.

    Only a sub-metric selected by the ``name`` tag alone maps to an endpoint; any
    other selector stays part of the metric name, with endpoint "".
    """
    parent, _, tags = split_submetric(name)
    if list(tags) == ["name"]:
        return parent, tags["name"]
    return name, ""


def guess_metric_type(values: dict[str, Any]) -> str:
    """Infer a metric's type from the statistics a ``--summary-export`` file lists."""
    keys = set(values) - {"thresholds"}
    if "passes" in keys or "fails" in keys:
        return "rate"
    if "count" in keys and "rate" in keys:
        return "counter"
    if keys & {"avg", "med"} or any(k.startswith("p(") for k in keys):
        return "trend"
    return "gauge"


def guess_contains(name: str, metric_type: str) -> str:
    """Guess ``contains`` for a metric of a ``--summary-export`` file, which omits it.

    k6's built-in Trends are durations, and data_sent/data_received are bytes.
    NOTE: a custom Trend is taken as a duration too, which is the common case, but
    the export cannot tell a Trend of plain numbers apart.
    """
    parent = split_submetric(name)[0]
    if parent in ("data_sent", "data_received"):
        return "data"
    if metric_type == "trend":
        return "time"
    return "default"


def _finite(value: Any, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(
            path,
            f"{where} is {value!r}, not a number",
            hint="the file is not a k6 summary, or was edited by hand",
        )
    return float(value)


def _rows_for_metric(
    name: str, metric_type: str, contains: str, values: dict[str, Any], path: Path
) -> list[dict[str, Any]]:
    metric, endpoint = endpoint_of(name)
    unit = UNIT_BY_CONTAINS.get(contains, "")
    rows = []
    for statistic, raw in values.items():
        if statistic == "thresholds":
            continue
        value = _finite(raw, path, f"metrics.{name}.{statistic}")
        row_unit = unit
        if metric_type == "rate" or statistic in ("count", "passes", "fails"):
            row_unit = ""
        if metric_type == "counter" and statistic == "rate":
            row_unit = f"{unit}/s" if unit else "/s"
        if metric_type == "trend" and statistic == "count":
            row_unit = ""
        rows.append(
            {
                "metric": metric,
                "endpoint": endpoint,
                "statistic": statistic,
                "value": value,
                "unit": row_unit,
                "n": math.nan,
            }
        )
    return rows


def summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Build a summary frame with the documented columns from row dictionaries."""
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    frame["value"] = frame["value"].astype("float64")
    frame["n"] = frame["n"].astype("float64")
    return frame


def _metric_def(name: str, metric_type: str, contains: str, thresholds: list[str]) -> MetricDef:
    if metric_type not in _METRIC_TYPES:
        metric_type = "gauge"
    return MetricDef(
        name=name,
        type=metric_type,  # type: ignore[arg-type]
        contains=contains if contains in UNIT_BY_CONTAINS else "default",  # type: ignore[arg-type]
        thresholds=tuple(thresholds),
    )


def _attach_submetrics(metrics: dict[str, MetricDef]) -> dict[str, MetricDef]:
    """Record each sub-metric on its parent's definition, as k6's JSON output does."""
    children: dict[str, list[Submetric]] = {}
    for name in metrics:
        parent, selector, tags = split_submetric(name)
        if selector:
            children.setdefault(parent, []).append(Submetric(name, selector, tags))
    result = dict(metrics)
    for parent, subs in children.items():
        base = result.get(parent)
        if base is not None:
            result[parent] = MetricDef(
                base.name, base.type, base.contains, base.thresholds, tuple(subs)
            )
    return result


def read_summary_export(path: Path, doc: dict[str, Any], name: str) -> Run:
    """Read a ``k6 run --summary-export`` file."""
    metrics_doc = _require_mapping(doc, "metrics", path)
    rows: list[dict[str, Any]] = []
    metrics: dict[str, MetricDef] = {}
    thresholds: dict[str, dict[str, bool]] = {}
    for metric_name, values in metrics_doc.items():
        if not isinstance(values, dict):
            raise InputError(path, f"metrics.{metric_name} is not an object")
        metric_type = guess_metric_type(values)
        contains = guess_contains(metric_name, metric_type)
        values = dict(values)
        if metric_type == "rate" and "value" in values:
            # The export names a Rate's share "value"; perfreport uses k6's "rate".
            values["rate"] = values.pop("value")
        verdicts = values.get("thresholds") or {}
        if verdicts:
            # In this file `true` means the threshold FAILED.
            thresholds[metric_name] = {expr: not bool(failed) for expr, failed in verdicts.items()}
        metrics[metric_name] = _metric_def(metric_name, metric_type, contains, list(verdicts))
        rows.extend(_rows_for_metric(metric_name, metric_type, contains, values, path))
    checks = _checks_from_export_group(doc.get("root_group") or {}, "")
    return Run(
        name=name,
        source=str(path),
        kind="k6-summary-export",
        metrics=_attach_submetrics(metrics),
        statistics=summary_frame(rows),
        k6_thresholds=thresholds,
        checks=checks,
        info={"groups": _group_paths(checks)},
    )


def read_handle_summary(path: Path, doc: dict[str, Any], name: str) -> Run:
    """Read the data object k6 passes to ``handleSummary``, saved as JSON."""
    metrics_doc = _require_mapping(doc, "metrics", path)
    rows: list[dict[str, Any]] = []
    metrics: dict[str, MetricDef] = {}
    thresholds: dict[str, dict[str, bool]] = {}
    for metric_name, body in metrics_doc.items():
        if not isinstance(body, dict) or not isinstance(body.get("values"), dict):
            raise InputError(path, f"metrics.{metric_name} has no 'values' object")
        metric_type = str(body.get("type", guess_metric_type(body["values"])))
        contains = str(body.get("contains", guess_contains(metric_name, metric_type)))
        verdicts = body.get("thresholds") or {}
        if verdicts:
            thresholds[metric_name] = {
                expr: bool(state.get("ok")) if isinstance(state, dict) else bool(state)
                for expr, state in verdicts.items()
            }
        metrics[metric_name] = _metric_def(metric_name, metric_type, contains, list(verdicts))
        rows.extend(_rows_for_metric(metric_name, metric_type, contains, body["values"], path))
    state = doc.get("state") or {}
    duration_ms = state.get("testRunDurationMs")
    checks = _checks_from_handle_group(doc.get("root_group") or {})
    options = doc.get("options") or {}
    return Run(
        name=name,
        source=str(path),
        kind="k6-handle-summary",
        metrics=_attach_submetrics(metrics),
        statistics=summary_frame(rows),
        duration_s=float(duration_ms) / 1000.0 if isinstance(duration_ms, (int, float)) else None,
        k6_thresholds=thresholds,
        checks=checks,
        info={
            "groups": _group_paths(checks),
            "summary_trend_stats": list(options.get("summaryTrendStats") or []),
        },
    )


def read_machine_summary(path: Path, doc: dict[str, Any], name: str) -> Run:
    """Read k6's machine-readable summary, schema version 1."""
    version = str(doc.get("version", ""))
    if not version.startswith("1."):
        raise InputError(
            path,
            f"machine-readable summary version {version!r} is not supported",
            hint="perfreport reads version 1.x",
        )

    results = _require_mapping(doc, "results", path)
    metrics, rows = _machine_metrics(results.get("metrics"), path)
    checks = _machine_checks(results.get("checks") or {})

    config = doc.get("config") or {}
    metadata = doc.get("metadata") or {}
    duration = config.get("duration")
    return Run(
        name=name,
        source=str(path),
        kind="k6-machine-summary",
        metrics=_attach_submetrics(metrics),
        statistics=summary_frame(rows),
        duration_s=float(duration) if isinstance(duration, (int, float)) else None,
        checks=checks,
        info={
            "k6_version": metadata.get("k6Version"),
            "script": config.get("script"),
            "passed": results.get("passed"),
        },
    )


def _machine_metrics(
    metric_list: Any, path: Path
) -> tuple[dict[str, MetricDef], list[dict[str, Any]]]:
    if not isinstance(metric_list, list):
        raise InputError(path, "results.metrics is missing or not a list")
    rows: list[dict[str, Any]] = []
    metrics: dict[str, MetricDef] = {}
    for body in metric_list:
        if not isinstance(body, dict) or "name" not in body or not isinstance(body.get("values"), dict):
            raise InputError(path, f"results.metrics has an entry without name or values: {body!r:.80}")
        metric_name = str(body["name"])
        metric_type = str(body.get("type", guess_metric_type(body["values"])))
        contains = str(body.get("contains", guess_contains(metric_name, metric_type)))
        metrics[metric_name] = _metric_def(metric_name, metric_type, contains, [])
        rows.extend(_rows_for_metric(metric_name, metric_type, contains, body["values"], path))
    return metrics, rows


def _machine_checks(checks_doc: dict[str, Any]) -> pd.DataFrame:
    # The schema names the list "results"; k6's published example names it "orderedChecks".
    entries = checks_doc.get("results") or checks_doc.get("orderedChecks") or []
    rows = [
        {"group": "", "path": "::" + str(entry.get("name")), "name": str(entry.get("name")),
         "passes": int(entry.get("passes", 0)), "fails": int(entry.get("fails", 0))}
        for entry in entries
        if isinstance(entry, dict)
    ]
    return pd.DataFrame(rows, columns=["group", "path", "name", "passes", "fails"])


def _require_mapping(doc: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise InputError(path, f"'{key}' is missing or not an object", hint="is this a k6 summary file?")
    return value


def _checks_from_export_group(group: dict[str, Any], parent: str) -> pd.DataFrame:
    rows = []

    def visit(node: dict[str, Any], path: str) -> None:
        for check in (node.get("checks") or {}).values():
            rows.append(
                {"group": path, "path": check.get("path", ""), "name": check.get("name", ""),
                 "passes": int(check.get("passes", 0)), "fails": int(check.get("fails", 0))}
            )
        for child in (node.get("groups") or {}).values():
            visit(child, child.get("path", ""))

    visit(group, parent)
    return pd.DataFrame(rows, columns=["group", "path", "name", "passes", "fails"])


def _checks_from_handle_group(group: dict[str, Any]) -> pd.DataFrame:
    rows = []

    def visit(node: dict[str, Any]) -> None:
        for check in node.get("checks") or []:
            rows.append(
                {"group": node.get("path", ""), "path": check.get("path", ""), "name": check.get("name", ""),
                 "passes": int(check.get("passes", 0)), "fails": int(check.get("fails", 0))}
            )
        for child in node.get("groups") or []:
            visit(child)

    visit(group)
    return pd.DataFrame(rows, columns=["group", "path", "name", "passes", "fails"])


def _group_paths(checks: pd.DataFrame) -> list[str]:
    return sorted({g for g in checks["group"] if g})


def read_summary_document(path: Path, doc: dict[str, Any], kind: str, name: str) -> Run:
    """Read a JSON document of a known kind (as detected from its content) into a Run."""
    from perfreport.ingest import baseline

    readers = {
        "k6-summary-export": read_summary_export,
        "k6-handle-summary": read_handle_summary,
        "k6-machine-summary": read_machine_summary,
        "baseline-runbook": baseline.read_runbook_baseline,
        "baseline-perfreport": baseline.read_perfreport_baseline,
    }
    reader = readers.get(kind)
    if reader is None:
        raise InputError(path, f"no reader for documents of kind {kind!r}")
    return reader(path, doc, name)
