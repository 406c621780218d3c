"""Per-metric and per-key statistics of a run."""

import json
from pathlib import Path

import numpy as np
import pytest

from perfreport.analysis.summary import lookup, summarize
from perfreport.ingest import load

SAMPLE = Path(__file__).parent.parent / "sample_data"


def write_many_endpoints(path: Path, endpoints: int, repeats: int) -> None:
    metric = {"type": "Metric", "metric": "http_req_duration",
              "data": {"name": "http_req_duration", "type": "trend", "contains": "time",
                       "thresholds": [], "submetrics": None}}
    lines = [json.dumps(metric)]
    for index in range(endpoints * repeats):
        # The first endpoint gets one extra sample, so it is the busiest.
        endpoint = index % endpoints
        lines.append(json.dumps({"metric": "http_req_duration", "type": "Point", "data": {
            "time": f"2026-12-04T16:35:{index % 60:02d}.{index:06d}Z", "value": float(index % 97),
            "tags": {"method": "GET", "url": f"http://127.0.0.1/item/{endpoint}"}}}))
    lines.append(json.dumps({"metric": "http_req_duration", "type": "Point", "data": {
        "time": "2026-12-04T16:36:00Z", "value": 5.0, "tags": {"method": "GET", "url": "http://127.0.0.1/item/0"}}}))
    path.write_text("\n".join(lines) + "\n")


def test_many_endpoints_capped_with_warning(tmp_path):
    path = tmp_path / "ids.json"
    write_many_endpoints(path, endpoints=500, repeats=2)
    run = load(path, cache=False)
    frame = summarize(run, max_keys=50)
    endpoints = set(frame["endpoint"]) - {""}
    assert len(endpoints) == 50
    assert "GET http://127.0.0.1/item/0" in endpoints
    # The whole-metric rows still count every sample.
    assert lookup(frame, "http_req_duration", "count") == 1001
    warnings = [w for w in run.warnings if w.code == "too-many-keys"]
    assert len(warnings) == 1
    assert "500 distinct endpoint values" in warnings[0].message
    assert "'name' tag" in warnings[0].message


def test_per_endpoint_equals_filtered_points():
    run = load(SAMPLE / "stress.json.gz", cache=False)
    frame = summarize(run, stats=["avg", "p(95)"])
    points = run.points
    mask = (points["metric"] == "http_req_duration") & (points["tag.name"] == "GET /api/stats")
    values = points.loc[mask, "value"].to_numpy()
    assert lookup(frame, "http_req_duration", "p(95)", "GET /api/stats") == float(np.quantile(values, 0.95))
    assert lookup(frame, "http_req_duration", "avg", "GET /api/stats") == pytest.approx(values.mean(), rel=1e-12)
    assert lookup(frame, "http_req_duration", "count", "GET /api/stats") == values.size


def test_summary_by_group_and_none():
    run = load(SAMPLE / "stress.json.gz", cache=False)
    by_group = summarize(run, by="group")
    assert "group" in by_group.columns
    groups = set(by_group["group"]) - {""}
    assert groups == set(run.points["tag.group"].dropna().astype(str)) - {""}
    overall = summarize(run, by="none")
    assert set(overall["endpoint"]) == {""}


def test_run_summary_method_matches_function():
    run = load(SAMPLE / "stress.json.gz", cache=False)
    assert run.summary(stats=["p(99)"]).equals(summarize(run, stats=["p(99)"]))
