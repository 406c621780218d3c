"""Cases where parquet_percentiles disagreed with summarize or raised a raw error."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perfreport.analysis.parquet_percentiles import parquet_percentiles
from perfreport.analysis.summary import summarize
from perfreport.errors import InputError
from perfreport.ingest.parquet import ingest_to_parquet, read_parquet

STATS = ["count", "avg", "min", "med", "max", "p(95)"]


def write_k6(path: Path, points: list[tuple[str, float, dict]]) -> None:
    lines = [json.dumps({"type": "Metric", "metric": "latency", "data": {
        "name": "latency", "type": "trend", "contains": "time", "thresholds": [], "submetrics": None}})]
    for index, (metric, value, tags) in enumerate(points):
        lines.append(json.dumps({"type": "Point", "metric": metric, "data": {
            "time": f"2026-12-04T10:{index // 60 % 60:02d}:{index % 60:02d}Z", "value": value, "tags": tags}}))
    path.write_text("\n".join(lines) + "\n")


def fast_rows(path: Path, max_keys: int) -> dict[tuple[str, str, str], float]:
    rows = parquet_percentiles(path, STATS, max_keys=max_keys)
    return {(row.metric, row.endpoint, row.statistic): row.value for row in rows}


def slow_rows(path: Path, max_keys: int) -> dict[tuple[str, str, str], float]:
    summary = summarize(read_parquet(path), stats=STATS, max_keys=max_keys)
    summary = summary[summary["metric"] == "latency"]
    return {(row.metric, row.endpoint, row.statistic): row.value for row in summary.itertuples()}


def assert_same(fast: dict, slow: dict) -> None:
    assert sorted(fast) == sorted(slow)
    for key, value in fast.items():
        assert value == slow[key] or (math.isnan(value) and math.isnan(slow[key])), key


def test_max_keys_tie_keeps_first_seen(tmp_path):
    # Three endpoints with two points each. Sorted by tag codes, "M" comes
    # before "N", but "N" is seen first in the file.
    points = []
    for index in range(2):
        points.append(("latency", 1.0 + index, {"method": "GET", "url": "/a"}))
        points.append(("latency", 10.0 + index, {"method": "GET", "url": "/b", "name": "N"}))
        points.append(("latency", 20.0 + index, {"method": "GET", "url": "/a", "name": "M"}))
    source = tmp_path / "ties.json"
    write_k6(source, points)
    target = tmp_path / "ties.parquet"
    ingest_to_parquet(source, target)

    fast = fast_rows(target, max_keys=2)

    endpoints = {endpoint for _, endpoint, _ in fast} - {""}
    assert endpoints == {"GET /a", "N"}
    assert_same(fast, slow_rows(target, max_keys=2))


def test_max_keys_ties_among_many_urls(tmp_path):
    # Few points per endpoint, so many counts tie. An endpoint's tag codes
    # sort by URL, then method, which is not the order of first appearance.
    generator = random.Random(1)
    points = [
        ("latency", float(index % 13), {"method": generator.choice(["GET", "POST"]), "url": f"/item/{generator.randrange(400)}"})
        for index in range(700)
    ]
    source = tmp_path / "urls.json"
    write_k6(source, points)
    target = tmp_path / "urls.parquet"
    ingest_to_parquet(source, target)

    assert_same(fast_rows(target, max_keys=50), slow_rows(target, max_keys=50))


def corrupted_copy(tmp_path: Path, find: bytes, replace: bytes) -> Path:
    """Write a small run file without compression and overwrite ``find`` in its bytes."""
    source = tmp_path / "run.json"
    write_k6(source, [("latency", 1.0, {"method": "GET", "url": "/qqqqqqqq", "zqzq": "x"})] * 3)
    ingested = tmp_path / "run.parquet"
    ingest_to_parquet(source, ingested)
    metadata = pq.ParquetFile(ingested).metadata.metadata
    table = pq.read_table(ingested).replace_schema_metadata(metadata)
    plain = tmp_path / "plain.parquet"
    pq.write_table(table, plain, compression="none", write_statistics=False)
    data = plain.read_bytes()
    assert find in data
    target = tmp_path / "corrupt.parquet"
    target.write_bytes(data.replace(find, replace))
    return target


def test_invalid_utf8_tag_value_raises_input_error(tmp_path):
    path = corrupted_copy(tmp_path, b"/qqqqqqqq", b"/\xffqqqqqqq")
    with pytest.raises(InputError) as caught:
        parquet_percentiles(path, STATS)
    assert str(path) in str(caught.value)


def test_invalid_utf8_column_name_raises_input_error(tmp_path):
    path = corrupted_copy(tmp_path, b"tag.zqzq", b"tag.\xffqzq")
    with pytest.raises(InputError) as caught:
        parquet_percentiles(path, STATS)
    assert str(path) in str(caught.value)


def test_value_column_of_other_type_rejected(tmp_path):
    source = tmp_path / "run.json"
    write_k6(source, [("latency", 1.5, {"method": "GET", "url": "/a"})] * 3)
    ingested = tmp_path / "run.parquet"
    ingest_to_parquet(source, ingested)
    metadata = pq.ParquetFile(ingested).metadata.metadata
    table = pq.read_table(ingested)
    table = table.set_column(table.schema.get_field_index("value"), "value", table["value"].cast("float32"))
    narrowed = tmp_path / "float32.parquet"
    pq.write_table(table.replace_schema_metadata(metadata), narrowed)
    with pytest.raises(InputError, match="value column of float"):
        parquet_percentiles(narrowed, STATS)


def test_index_out_of_dictionary_range_rejected():
    from perfreport.analysis.parquet_percentiles import _check_range

    _check_range(np.array([-1, 0, 2], dtype=np.int32), 3)
    with pytest.raises(pa.ArrowInvalid, match="out of range"):
        _check_range(np.array([0, 3], dtype=np.int32), 3)
    with pytest.raises(pa.ArrowInvalid, match="out of range"):
        _check_range(np.array([-2], dtype=np.int32), 3)
