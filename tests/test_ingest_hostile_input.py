"""Hostile input in real k6 output: deep nesting, NaN, negative times, byte order marks.

Each test takes a run that k6 1.1.0 recorded (sample_data) and changes or inserts
a few lines, so that every parsing path (DuckDB, pyarrow, line by line) parses
real data around the bad line.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from perfreport.errors import InputError
from perfreport.ingest import load
from perfreport.ingest.nesting import (
    NestingTooDeepError,
    loads,
    max_nesting_bound,
)
from perfreport.ingest.parquet import CACHE_EDGE_BYTES, cache_identity
from perfreport.ingest.redis_info import read_redis_info

SAMPLE = Path(__file__).parent.parent / "sample_data"
BOM = b"\xef\xbb\xbf"
DEEP_OBJECT = '{"a":' * 50_000 + '"x"' + "}" * 50_000


def k6_lines() -> list[str]:
    with gzip.open(SAMPLE / "load.json.gz", "rt") as file:
        return file.read().splitlines()


def csv_lines() -> list[str]:
    with gzip.open(SAMPLE / "load.csv.gz", "rt") as file:
        return file.read().splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def point_indexes(lines: list[str], metric: str) -> list[int]:
    prefix = f'{{"metric":"{metric}","type":"Point"'
    return [i for i, line in enumerate(lines) if line.startswith(prefix)]


def with_value(line: str, value: float) -> str:
    record = json.loads(line)
    record["data"]["value"] = value
    return json.dumps(record)


def deep_line(kind: str) -> str:
    if kind == "array":
        return "[" * 30_000 + "]" * 30_000
    point = json.loads(k6_lines()[40])
    point["data"][kind] = "DEEP"
    return json.dumps(point).replace('"DEEP"', DEEP_OBJECT, 1)


@pytest.mark.parametrize("kind", ["tags", "metadata", "array"])
def test_deep_line_skipped(tmp_path, kind):
    lines = k6_lines()
    good = load(write_lines(tmp_path / "good.json", lines), cache=False)
    lines.insert(1000, deep_line(kind))
    path = write_lines(tmp_path / "deep.json", lines)

    run = load(path, cache=False, skip_bad_lines=True)

    assert run.stats.lines_skipped == 1
    assert run.stats.bad_lines[0][0] == 1001
    assert "nest too deeply" in run.stats.bad_lines[0][1]
    assert run.stats.points == good.stats.points


def test_deep_metadata_among_many_distinct(tmp_path):
    # Over 256 distinct metadata objects in a block go to pyarrow in one piece.
    lines = k6_lines()
    points = point_indexes(lines, "http_req_duration")[:400]
    for vu, index in enumerate(points):
        record = json.loads(lines[index])
        record["data"]["metadata"] = {"vu": str(vu), "iter": "0"}
        lines[index] = json.dumps(record)
    deep_index = points[200]
    record = json.loads(lines[deep_index])
    record["data"]["metadata"] = "DEEP"
    lines[deep_index] = json.dumps(record).replace('"DEEP"', DEEP_OBJECT, 1)
    path = write_lines(tmp_path / "deep-metadata.json", lines)

    run = load(path, cache=False, skip_bad_lines=True)

    assert [line for line, _ in run.stats.bad_lines] == [deep_index + 1]
    assert run.points["meta.vu"].notna().sum() == 399


def test_deep_line_raises_without_skip(tmp_path):
    lines = k6_lines()
    lines.insert(1000, deep_line("tags"))
    path = write_lines(tmp_path / "deep.json", lines)

    with pytest.raises(InputError, match=f"{path}:1001: .*--skip-bad-lines"):
        load(path, cache=False, skip_bad_lines=False)


def test_deep_summary_document_rejected(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"metrics": ' + "[" * 50_000 + "]" * 50_000 + "}")

    with pytest.raises(InputError, match=f"{path}: .*nest too deeply"):
        load(path, cache=False)


def test_non_finite_values_skipped(tmp_path):
    lines = k6_lines()
    durations = point_indexes(lines, "http_req_duration")
    for index, value in zip(durations[:3], (float("nan"), float("inf"), -float("inf"))):
        lines[index] = with_value(lines[index], value)
    path = write_lines(tmp_path / "nan.json", lines)

    run = load(path, cache=False, skip_bad_lines=True)

    assert [line for line, _ in run.stats.bad_lines] == [i + 1 for i in durations[:3]]
    assert all("not a finite number" in reason for _, reason in run.stats.bad_lines)
    assert np.isfinite(run.points["value"].to_numpy()).all()


def test_non_finite_value_raises_without_skip(tmp_path):
    lines = k6_lines()
    index = point_indexes(lines, "http_req_duration")[-1]
    lines[index] = with_value(lines[index], float("nan"))
    path = write_lines(tmp_path / "nan.json", lines)

    with pytest.raises(InputError, match=f"{path}:{index + 1}: .*--skip-bad-lines"):
        load(path, cache=False, skip_bad_lines=False)


def test_negative_duration_warned(tmp_path):
    lines = k6_lines()
    durations = point_indexes(lines, "http_req_duration")
    first, second = durations[100], durations[-5]
    lines[first] = with_value(lines[first], -4.5)
    lines[second] = with_value(lines[second], -2.0)
    path = write_lines(tmp_path / "negative.json", lines)

    run = load(path, cache=False)

    warnings = [w for w in run.warnings if w.code == "negative-duration"]
    assert len(warnings) == 1
    assert warnings[0].message.startswith(f"{path}:{first + 1}: http_req_duration")
    assert "2 negative value(s)" in warnings[0].message
    values = run.points.loc[run.points["metric"] == "http_req_duration", "value"]
    assert values.min() == -4.5


def test_negative_gauge_not_warned(tmp_path):
    lines = k6_lines()
    index = point_indexes(lines, "vus")[0]
    lines[index] = with_value(lines[index], -1.0)
    path = write_lines(tmp_path / "gauge.json", lines)

    run = load(path, cache=False)

    assert not [w for w in run.warnings if w.code == "negative-duration"]


def test_csv_non_finite_and_negative(tmp_path):
    lines = csv_lines()
    rows = [i for i, line in enumerate(lines) if line.startswith("http_req_duration,")]
    for index, text in zip(rows[:3], ("nan", "inf", "-inf")):
        cells = lines[index].split(",")
        cells[2] = text
        lines[index] = ",".join(cells)
    cells = lines[rows[10]].split(",")
    cells[2] = "-3.000000"
    lines[rows[10]] = ",".join(cells)
    path = write_lines(tmp_path / "run.csv", lines)

    run = load(path, cache=False, skip_bad_lines=True)

    assert [line for line, _ in run.stats.bad_lines] == [i + 1 for i in rows[:3]]
    assert all("not a finite number" in reason for _, reason in run.stats.bad_lines)
    negative = [w for w in run.warnings if w.code == "negative-duration"]
    assert len(negative) == 1
    assert negative[0].message.startswith(f"{path}:{rows[10] + 1}: ")


def test_csv_with_bom_matches_plain(tmp_path):
    text = "\n".join(csv_lines()) + "\n"
    plain = tmp_path / "plain.csv"
    plain.write_text(text)
    marked = tmp_path / "bom.csv"
    marked.write_bytes(BOM + text.encode())

    expected = load(plain, cache=False)
    run = load(marked, cache=False)

    assert run.stats.points == expected.stats.points
    assert run.tag_columns() == expected.tag_columns()


def test_summary_document_with_bom(tmp_path):
    path = tmp_path / "summary.json"
    path.write_bytes(BOM + (SAMPLE / "load.handle-summary.json").read_bytes())

    run = load(path)

    assert run.kind == "k6-handle-summary"


def test_nesting_bound_per_line():
    text = b'{"a":{"b":[1]}}\n' * 1000 + b"[" * 1500 + b"]" * 1500 + b"\n"

    assert max_nesting_bound(b'{"a":{"b":[1]}}\n' * 1000) == 3
    assert max_nesting_bound(text) == 1500
    assert max_nesting_bound(b"") == 0


def test_loads_raises_value_error_when_deep():
    with pytest.raises(NestingTooDeepError):
        loads("[" * 100_000 + "]" * 100_000)
    assert loads('{"a": [1]}') == {"a": [1]}


def test_cache_identity_hashes_tail(tmp_path):
    path = tmp_path / "run.json"
    content = bytearray(b"x" * (3 * CACHE_EDGE_BYTES))
    path.write_bytes(content)
    before = cache_identity(path)["edges_sha256"]

    content[-1:] = b"y"
    path.write_bytes(content)

    assert cache_identity(path)["edges_sha256"] != before


def test_redis_info_with_bom(tmp_path):
    path = tmp_path / "info.txt"
    path.write_bytes(BOM + b"keyspace_hits:10\r\nkeyspace_misses:5\r\n")

    info = read_redis_info(path)

    assert info.fields["keyspace_hits"] == 10
