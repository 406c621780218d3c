"""Tests of perfreport's Parquet run format, streaming ingest and the ingest cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perfreport.errors import FormatVersionError, InputError
from perfreport.ingest import k6_json, load, parquet

DATA = Path(__file__).parent / "data" / "k6"
TRUNCATED = DATA / "truncated-last-line.ndjson"


def point_line(
    metric: str, second: int, value: float, tags: dict | None, meta=None
) -> str:
    data = {"time": f"2024-06-01T10:{second // 60 % 60:02d}:{second % 60:02d}.5+02:00"}
    data.update({"value": value, "tags": tags})
    if meta is not None:
        data["metadata"] = meta
    return json.dumps({"metric": metric, "type": "Point", "data": data}) + "\n"


def metric_line(name: str) -> str:
    data = {
        "name": name,
        "type": "trend",
        "contains": "time",
        "thresholds": ["p(95)<500", {"threshold": "p(99)<900", "abortOnFail": True}],
        "submetrics": [
            {"name": f"{name}{{name:a}}", "suffix": "name:a", "tags": {"name": "a"}}
        ],
    }
    return json.dumps({"type": "Metric", "data": data, "metric": name}) + "\n"


def write_late_key_file(path: Path, lines: int) -> None:
    with path.open("w") as out:
        out.write(metric_line("http_req_duration"))
        for i in range(lines):
            tags = {"name": "a", "status": "200"}
            if i >= lines - 10:
                tags["late"] = f"v{i}"
            out.write(
                point_line("http_req_duration", i, float(i), tags, {"vu": str(i % 3)})
            )
        out.write('{"metric":"http_req_duration","type":"Po')


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PERFREPORT_CACHE_DIR", str(cache))
    return cache


# ---------------------------------------------------------------------------
# The file format


def test_write_read_round_trip(tmp_path: Path) -> None:
    run = load(TRUNCATED, cache=False)
    target = tmp_path / "run.parquet"

    parquet.write_parquet(run, target)
    again = load(target)

    pd.testing.assert_frame_equal(again.points, run.points)
    assert again.metrics == run.metrics
    assert again.stats == run.stats
    assert again.warnings == run.warnings
    assert again.info == run.info
    assert again.kind == "k6-json"
    assert again.name == "truncated-last-line"
    assert again.source == run.source


def test_file_metadata_and_encoding(tmp_path: Path) -> None:
    run = load(TRUNCATED, cache=False)
    target = tmp_path / "run.parquet"

    parquet.write_parquet(run, target)

    file = pq.ParquetFile(target)
    stored = json.loads(file.metadata.metadata[b"perfreport"])
    assert stored["format"] == "perfreport-run/1"
    assert stored["name"] == "truncated-last-line"
    assert stored["stats"]["truncated_last_line"] is True
    columns = {
        file.metadata.row_group(0).column(i).path_in_schema: file.metadata.row_group(
            0
        ).column(i)
        for i in range(file.metadata.num_columns)
    }
    assert columns["tag.name"].compression == "ZSTD"
    assert "RLE_DICTIONARY" in columns["tag.name"].encodings
    assert "RLE_DICTIONARY" in columns["metric"].encodings


def test_unknown_version_rejected(tmp_path: Path) -> None:
    run = load(TRUNCATED, cache=False)
    target = tmp_path / "future.parquet"
    parquet.write_parquet(run, target)
    table = pq.read_table(target)
    meta = json.loads(table.schema.metadata[b"perfreport"])
    meta["format"] = "perfreport-run/9"
    pq.write_table(
        table.replace_schema_metadata({b"perfreport": json.dumps(meta)}), target
    )

    with pytest.raises(FormatVersionError) as caught:
        load(target)

    message = str(caught.value)
    assert message.startswith(f"{target}: ")
    assert "'perfreport-run/9'" in message


def test_foreign_parquet_rejected(tmp_path: Path) -> None:
    target = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), target)

    with pytest.raises(InputError, match="no perfreport metadata"):
        load(target)


def test_summary_run_not_written(tmp_path: Path) -> None:
    run = load(TRUNCATED, cache=False)
    run.points = None

    with pytest.raises(InputError, match="has no points"):
        parquet.write_parquet(run, tmp_path / "x.parquet")


# ---------------------------------------------------------------------------
# Streaming ingest


def test_streaming_ingest_matches_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "late.json"
    write_late_key_file(source, 3000)
    # Small blocks, so the late tag key opens a second part file that is merged.
    monkeypatch.setattr(k6_json, "BLOCK_BYTES", 16 * 1024)
    target = tmp_path / "late.parquet"

    summary = parquet.ingest_to_parquet(source, target)
    stored = load(target)
    direct = load(source, cache=False)

    assert summary.points is None
    assert summary.stats == direct.stats
    pd.testing.assert_frame_equal(stored.points, direct.points)
    assert stored.points["tag.late"].notna().sum() == 10
    assert stored.metrics["http_req_duration"].thresholds == ("p(95)<500", "p(99)<900")
    assert stored.stats.truncated_last_line is True
    assert [
        p.name for p in tmp_path.iterdir() if p.name.startswith(".perfreport-")
    ] == []


def test_row_groups_gather_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "late.json"
    write_late_key_file(source, 3000)
    monkeypatch.setattr(k6_json, "BLOCK_BYTES", 4 * 1024)
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 500)
    target = tmp_path / "late.parquet"

    parquet.ingest_to_parquet(source, target)
    stored = load(target)
    direct = load(source, cache=False)

    pd.testing.assert_frame_equal(stored.points, direct.points)
    groups = [
        pq.ParquetFile(target).metadata.row_group(i).num_rows
        for i in range(pq.ParquetFile(target).num_row_groups)
    ]
    assert sum(groups) == 3000
    assert len(groups) > 3
    assert max(groups) >= 500


def test_streaming_ingest_failure_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "bad.json"
    source.write_text(metric_line("m") + "oops\n" + point_line("m", 1, 1.0, None))
    target = tmp_path / "bad.parquet"

    with pytest.raises(InputError, match=":2: line is not JSON"):
        parquet.ingest_to_parquet(source, target, skip_bad_lines=False)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


# ---------------------------------------------------------------------------
# The cache


def test_cache_reused(
    tmp_path: Path, cache_in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "run.json"
    source.write_bytes(TRUNCATED.read_bytes())

    first = load(source)
    entries = list(cache_in_tmp.glob("*.parquet"))

    def fail(*args, **kwargs):
        raise AssertionError("the input was parsed again")

    monkeypatch.setattr(k6_json, "read_k6_json_points", fail)
    second = load(source, name="again")

    assert len(entries) == 1
    pd.testing.assert_frame_equal(first.points, second.points)
    assert second.name == "again"
    assert second.warnings == first.warnings
    assert second.source == str(source)


def test_cache_rebuilt_when_input_changes(tmp_path: Path, cache_in_tmp: Path) -> None:
    source = tmp_path / "run.json"
    source.write_text(metric_line("m") + point_line("m", 1, 1.0, None))
    load(source)
    source.write_text(
        metric_line("m") + point_line("m", 1, 1.0, None) + point_line("m", 2, 2.0, None)
    )
    os.utime(source, ns=(10**18, 10**18))

    run = load(source)

    assert run.points["value"].tolist() == [1.0, 2.0]
    assert len(list(cache_in_tmp.glob("*.parquet"))) == 2


@pytest.mark.parametrize("damage", [b"", b"PAR1 not really parquet", b"garbage"])
def test_corrupt_cache_entry_rebuilt(tmp_path: Path, damage: bytes) -> None:
    source = tmp_path / "run.json"
    source.write_bytes(TRUNCATED.read_bytes())
    expected = load(source, cache=False)
    load(source)
    entry = parquet.cache_path(source)
    entry.write_bytes(damage)

    run = load(source)

    pd.testing.assert_frame_equal(run.points, expected.points)
    assert pq.ParquetFile(entry).metadata.num_rows == len(expected.points)


def test_cache_entry_of_other_input_ignored(tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    second = tmp_path / "b.json"
    first.write_text(metric_line("m") + point_line("m", 1, 1.0, None))
    second.write_text(metric_line("m") + point_line("m", 1, 5.0, None))
    load(first)
    parquet.cache_path(second).write_bytes(parquet.cache_path(first).read_bytes())

    run = load(second)

    assert run.points["value"].tolist() == [5.0]


def test_no_cache_writes_nothing(tmp_path: Path, cache_in_tmp: Path) -> None:
    load(TRUNCATED, cache=False)

    assert not cache_in_tmp.exists() or list(cache_in_tmp.iterdir()) == []


def test_cached_skips_still_raise(tmp_path: Path) -> None:
    source = tmp_path / "bad.json"
    source.write_text(metric_line("m") + "oops\n" + point_line("m", 1, 1.0, None))
    load(source)

    with pytest.raises(InputError, match=r"bad\.json:2: line is not JSON"):
        load(source, skip_bad_lines=False)


def test_unwritable_cache_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("PERFREPORT_CACHE_DIR", str(blocker / "cache"))

    run = load(TRUNCATED)

    assert run.stats.points == 32
