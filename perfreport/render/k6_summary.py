"""A run's summary in the shape of k6's ``--summary-export`` file, and as readable text.

The export shape, as k6 v1.1.0 writes it: ``metrics`` maps each metric, and each
sub-metric that has thresholds or that k6 always adds, to a flat map of
statistics. A Rate's share is ``value``, and each threshold maps its expression
to ``true`` when it FAILED. ``root_group`` nests groups and checks as maps keyed
by name, each with an ``id`` that is the MD5 of its path.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from perfreport.analysis.percentiles import K6_DEFAULT_TREND_STATS
from perfreport.analysis.summary import summarize
from perfreport.analysis.thresholds import evaluate_thresholds
from perfreport.model import Run
from perfreport.render.units import format_value, scale_for

GROUP_SEPARATOR = "::"


def _path_id(path: str) -> str:
    return hashlib.md5(path.encode("utf-8")).hexdigest()  # noqa: S324 (k6's id scheme)


def export_metrics(run: Run, stats: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Return the ``metrics`` map of a ``--summary-export`` file for ``run``."""
    summary = summarize(run, stats=stats, by="none", submetrics=True)
    verdicts: dict[str, dict[str, bool]] = {}
    for result in evaluate_thresholds(run, summary if run.points is None else None):
        verdicts.setdefault(result.metric, {})[result.expression] = result.ok is not True
    metrics: dict[str, dict[str, Any]] = {}
    for (metric, _key), rows in summary.groupby(["metric", "endpoint"], sort=False):
        definition = run.metrics.get(metric)
        parent = run.metrics.get(metric.split("{", 1)[0])
        metric_type = "gauge"
        if definition is not None:
            metric_type = definition.type
        elif parent is not None:
            metric_type = parent.type
        values: dict[str, Any] = {}
        for row in rows.itertuples(index=False):
            if metric_type == "trend" and row.statistic == "count" and "count" not in stats:
                continue
            name = "value" if metric_type == "rate" and row.statistic == "rate" else row.statistic
            # k6 prints 0 for the statistics of a metric without samples.
            values[name] = 0 if math.isnan(row.value) else _plain(row.value)
        if metric in verdicts:
            values["thresholds"] = verdicts[metric]
        metrics[metric] = values
    return metrics


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def export_root_group(run: Run) -> dict[str, Any]:
    """Return the ``root_group`` of a ``--summary-export`` file: groups and checks."""
    root = _group_node("", "")
    if run.points is None:
        return root
    points = run.points
    if "tag.group" in points.columns:
        for path in points["tag.group"].dropna().astype(str).unique():
            _ensure_group(root, path)
    checks = points[points["metric"] == "checks"]
    if checks.empty or "tag.check" not in checks.columns:
        return root
    group_column = checks["tag.group"].astype("object").fillna("") if "tag.group" in checks else ""
    frame = pd.DataFrame(
        {
            "group": group_column,
            "check": checks["tag.check"].astype("object").fillna(""),
            "passed": checks["value"].to_numpy() != 0,
        }
    )
    # k6 lists checks in the order they first ran.
    for (group, name), rows in frame.groupby(["group", "check"], sort=False):
        node = _ensure_group(root, str(group))
        path = f"{group}{GROUP_SEPARATOR}{name}"
        passes = int(np.count_nonzero(rows["passed"].to_numpy()))
        node["checks"][str(name)] = {
            "name": str(name), "path": path, "id": _path_id(path),
            "passes": passes, "fails": int(len(rows) - passes),
        }
    return root


def _group_node(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "path": path, "id": _path_id(path), "groups": {}, "checks": {}}


def _ensure_group(root: dict[str, Any], path: str) -> dict[str, Any]:
    node = root
    if not path:
        return node
    names = path.split(GROUP_SEPARATOR)[1:]
    current = ""
    for name in names:
        current = f"{current}{GROUP_SEPARATOR}{name}"
        node = node["groups"].setdefault(name, _group_node(name, current))
    return node


def summary_export(run: Run, stats: Sequence[str] | None = None) -> dict[str, Any]:
    """Return ``run``'s summary as k6's ``--summary-export`` would write it."""
    chosen = tuple(stats or run.info.get("summary_trend_stats") or K6_DEFAULT_TREND_STATS)
    return {"root_group": export_root_group(run), "metrics": export_metrics(run, chosen)}


def summary_text(run: Run, summary: pd.DataFrame) -> str:
    """Render a readable summary: one line per metric and endpoint, statistics side by side."""
    lines = [f"{run.name}: {run.kind} from {run.source}"]
    for (metric, endpoint), rows in summary.groupby(["metric", "endpoint"], sort=True):
        values = rows["value"].to_numpy()
        unit = next((u for u in rows["unit"] if u), "")
        cells = []
        for row in rows.itertuples(index=False):
            divisor, shown = scale_for(row.unit, row.statistic, *values)
            if row.statistic in ("count", "passes", "fails") or (row.unit == "" and row.statistic != "rate"):
                divisor, shown = 1.0, row.unit
            cells.append(f"{row.statistic}={format_value(row.value, divisor, shown)}")
        label = f"{metric} {endpoint}".rstrip().replace("\n", "\\n")
        lines.append(f"  {label}: " + "  ".join(cells))
        del unit
    for result in evaluate_thresholds(run, summary if run.points is None else None):
        verdict = {True: "passed", False: "FAILED", None: "no data"}[result.ok]
        observed = "no samples" if result.observed is None else f"{result.observed:.6g}"
        lines.append(f"  threshold {result.metric}: {result.expression} {verdict} (observed {observed})")
    for warning in run.warnings:
        lines.append(f"  note: {warning.message}")
    return "\n".join(lines) + "\n"
