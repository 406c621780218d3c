"""Trend statistics read straight from a Parquet run file equal summarize's and k6's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from perfreport.analysis.parquet_percentiles import parquet_percentiles
from perfreport.analysis.summary import summarize
from perfreport.errors import InputError, UsageError
from perfreport.ingest import load
from perfreport.ingest.parquet import ingest_to_parquet, read_parquet

SAMPLE = Path(__file__).parent.parent / "sample_data"
STATS = ["count", "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "p(99.9)"]


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows).set_index(["metric", "endpoint", "statistic"]).sort_index()


def summarize_trends(path: Path, **options) -> pd.DataFrame:
    run = read_parquet(path)
    summary = summarize(run, stats=STATS, **options)
    trends = [name for name, metric in run.metrics.items() if metric.type == "trend"]
    summary = summary[summary["metric"].isin(trends) & summary["statistic"].isin(STATS)]
    return summary.set_index(["metric", "endpoint", "statistic"]).sort_index()


@pytest.fixture(scope="module")
def stress_parquet(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("parquet-percentiles") / "stress.parquet"
    ingest_to_parquet(SAMPLE / "stress.json.gz", target)
    return target


def test_rows_equal_summarize(stress_parquet):
    fast = frame(parquet_percentiles(stress_parquet, STATS))
    slow = summarize_trends(stress_parquet)
    assert list(fast.index) == list(slow.index)
    assert (fast["value"].to_numpy() == slow["value"].to_numpy()).all()
    assert (fast["n"].to_numpy() == slow["n"].to_numpy()).all()
    assert (fast["unit"].to_numpy() == slow["unit"].to_numpy()).all()


def test_whole_metric_equals_k6_export(stress_parquet):
    fast = frame(parquet_percentiles(stress_parquet, ["avg", "min", "med", "max", "p(90)", "p(95)"]))
    export = json.loads((SAMPLE / "stress.summary-export.json").read_text())["metrics"]
    checked = 0
    for (metric, endpoint, statistic), row in fast.iterrows():
        if endpoint == "" and metric in export and statistic in export[metric]:
            assert row["value"] == export[metric][statistic], (metric, statistic)
            checked += 1
    assert checked >= 30


def test_row_groups_with_different_dictionaries(tmp_path, stress_parquet):
    # Small row groups each get a dictionary of their own, with other entries.
    raw_metadata = pq.ParquetFile(stress_parquet).metadata.metadata
    table = pq.read_table(stress_parquet).replace_schema_metadata(raw_metadata)
    split = tmp_path / "split.parquet"
    pq.write_table(table, split, row_group_size=997)
    assert pq.ParquetFile(split).num_row_groups > 20
    fast = frame(parquet_percentiles(split, STATS))
    assert fast.equals(frame(parquet_percentiles(stress_parquet, STATS)))


def write_k6(path: Path, points: list[tuple[str, float, dict]]) -> None:
    lines = [json.dumps({"type": "Metric", "metric": "latency", "data": {
        "name": "latency", "type": "trend", "contains": "time", "thresholds": [], "submetrics": None}})]
    lines.append(json.dumps({"type": "Metric", "metric": "hits", "data": {
        "name": "hits", "type": "counter", "contains": "default", "thresholds": [], "submetrics": None}}))
    for index, (metric, value, tags) in enumerate(points):
        lines.append(json.dumps({"type": "Point", "metric": metric, "data": {
            "time": f"2026-12-04T10:00:{index % 60:02d}.{index:06d}Z", "value": value, "tags": tags}}))
    path.write_text("\n".join(lines) + "\n")


def test_endpoint_rule_name_then_url(tmp_path):
    source = tmp_path / "tags.json"
    write_k6(source, [
        ("latency", 1.0, {"name": "list", "method": "GET", "url": "http://127.0.0.1/a?id=1"}),
        ("latency", 2.0, {"name": "list", "method": "GET", "url": "http://127.0.0.1/a?id=2"}),
        ("latency", 3.0, {"method": "POST", "url": "http://127.0.0.1/b"}),
        ("latency", 4.0, {"scenario": "default"}),
        ("hits", 1.0, {"name": "list"}),
    ])
    target = tmp_path / "tags.parquet"
    ingest_to_parquet(source, target)
    rows = frame(parquet_percentiles(target, ["count", "max"]))
    assert rows.loc[("latency", "", "count"), "value"] == 4
    assert rows.loc[("latency", "list", "max"), "value"] == 2.0
    assert rows.loc[("latency", "POST http://127.0.0.1/b", "max"), "value"] == 3.0
    assert "hits" not in rows.index.get_level_values("metric")


def test_busiest_endpoints_kept(tmp_path):
    source = tmp_path / "ids.json"
    points = [("latency", float(i % 7), {"method": "GET", "url": f"http://127.0.0.1/item/{i % 30}"}) for i in range(300)]
    points += [("latency", 9.0, {"method": "GET", "url": "http://127.0.0.1/item/0"})] * 5
    write_k6(source, points)
    target = tmp_path / "ids.parquet"
    ingest_to_parquet(source, target)
    fast = frame(parquet_percentiles(target, STATS, max_keys=4))
    endpoints = set(fast.index.get_level_values("endpoint")) - {""}
    assert len(endpoints) == 4
    assert "GET http://127.0.0.1/item/0" in endpoints
    assert fast.loc[("latency", "", "count"), "value"] == 305
    slow = summarize_trends(target, max_keys=4)
    assert list(fast.index) == list(slow.index)
    assert (fast["value"].to_numpy() == slow["value"].to_numpy()).all()


def test_trend_without_points_gives_nan(tmp_path):
    source = tmp_path / "empty.json"
    write_k6(source, [("hits", 1.0, {})])
    target = tmp_path / "empty.parquet"
    ingest_to_parquet(source, target)
    rows = frame(parquet_percentiles(target, ["count", "p(95)"]))
    assert rows.loc[("latency", "", "count"), "value"] == 0
    assert pd.isna(rows.loc[("latency", "", "p(95)"), "value"])


def test_metrics_option_limits_rows(stress_parquet):
    rows = parquet_percentiles(stress_parquet, ["med"], metrics=["http_req_waiting"])
    assert {row.metric for row in rows} == {"http_req_waiting"}


def test_invalid_statistic_rejected(stress_parquet):
    with pytest.raises(UsageError, match="invalid trend statistic 'p95'"):
        parquet_percentiles(stress_parquet, ["p95"])


@pytest.mark.parametrize("content", [b"", b"PAR1 not really", b"{}\n"])
def test_unreadable_file_raises_input_error(tmp_path, content):
    path = tmp_path / "bad.parquet"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        parquet_percentiles(path)
    assert str(path) in str(caught.value)


def test_foreign_parquet_file_rejected(tmp_path):
    path = tmp_path / "foreign.parquet"
    pd.DataFrame({"value": [1.0]}).to_parquet(path)
    with pytest.raises(InputError, match="no perfreport metadata"):
        parquet_percentiles(path)


def test_truncated_run_file_rejected(tmp_path, stress_parquet):
    path = tmp_path / "cut.parquet"
    data = stress_parquet.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError):
        parquet_percentiles(path)


def test_reads_without_importing_pandas(stress_parquet):
    code = (
        "import sys\n"
        "from perfreport.analysis.parquet_percentiles import parquet_percentiles\n"
        f"rows = parquet_percentiles({str(stress_parquet)!r})\n"
        "assert rows\n"
        "print('pandas' in sys.modules)\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "False"


def test_raw_k6_file_is_not_a_run_file():
    with pytest.raises(InputError):
        parquet_percentiles(SAMPLE / "stress.json.gz")
    # The raw file still loads as a run: only this reader needs Parquet.
    assert load(SAMPLE / "stress.json.gz", cache=False).points is not None
