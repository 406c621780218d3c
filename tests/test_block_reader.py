"""The k6 JSON reader's blocks: buffers filled in place, reused, and numbered late.

The reading thread hands out views of reused buffers and does not count lines.
The parsing threads number lines from their block's start, and the numbers are
moved to the file's when the results are consumed in order. These tests use
blocks of a few KiB, so every boundary case happens many times.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from perfreport.ingest import k6_json, load
from perfreport.ingest.detect import ByteSource

TIME = "2024-06-01T10:00:00.5Z"


def point(metric: str, value: float, tags: dict | None = None) -> str:
    data = {"time": TIME, "value": value, "tags": tags or {"a": "b"}}
    return json.dumps({"metric": metric, "type": "Point", "data": data}) + "\n"


def definition(name: str, metric_type: str = "trend", *, reordered=False) -> str:
    contains = "time" if metric_type == "trend" else "default"
    data = {"name": name, "type": metric_type, "contains": contains,
            "thresholds": [], "submetrics": None}
    if reordered:
        # Valid JSON in another key order: the line starts like a Point line.
        return json.dumps({"metric": name, "type": "Metric", "data": data}) + "\n"
    return json.dumps({"type": "Metric", "data": data, "metric": name}) + "\n"


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(k6_json, "BLOCK_BYTES", 4096)
    return 4096


def mixed_lines() -> tuple[list[str], dict[str, list[int]]]:
    """Return lines with bad lines, negative values and definitions spread over blocks."""
    lines = [definition("m")]
    for i in range(3_000):
        lines.append(point("m", 1.0))
        if i == 1_500:
            lines.append(definition("late", "gauge"))
        if i == 2_200:
            lines.append(definition("late2", "gauge", reordered=True))
    numbers = {"bad": [3, 777, 778, 2_999], "negative": [40, 2_500]}
    for number in numbers["bad"]:
        lines[number - 1] = "not json at all\n"
    for number in numbers["negative"]:
        lines[number - 1] = point("m", -5.0)
    lines.append(point("late", 2.0))
    lines.append(point("late2", 3.0))
    return lines, numbers


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_line_numbers_exact_across_small_blocks(
    tmp_path: Path, small_blocks: int, packed: bool
) -> None:
    lines, numbers = mixed_lines()
    content = "".join(lines).encode()
    path = tmp_path / ("mixed.json.gz" if packed else "mixed.json")
    path.write_bytes(gzip.compress(content) if packed else content)

    run = load(path, cache=False)

    assert [n for n, _ in run.stats.bad_lines] == numbers["bad"]
    assert run.stats.lines_read == len(lines)
    assert run.stats.metric_lines == 3
    assert set(run.metrics) == {"m", "late", "late2"}
    assert run.metrics["late2"].type == "gauge"
    assert run.stats.points == len(lines) - 3 - len(numbers["bad"])
    negative = [w.message for w in run.warnings if "negative" in w.message]
    assert len(negative) == 1
    assert f":{numbers['negative'][0]}: m has 2 negative value(s)" in negative[0]


def test_small_blocks_equal_one_large_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, _ = mixed_lines()
    path = tmp_path / "mixed.json"
    path.write_text("".join(lines))
    whole = load(path, cache=False)

    monkeypatch.setattr(k6_json, "BLOCK_BYTES", 1024)
    pieces = load(path, cache=False)

    assert pieces.stats == whole.stats
    assert pieces.points.equals(whole.points)


def test_line_longer_than_a_block(tmp_path: Path, small_blocks: int) -> None:
    long_value = "x" * (5 * small_blocks)
    lines = [definition("m")] + [point("m", 1.0) for _ in range(100)]
    lines[50] = point("m", 7.0, {"a": long_value})
    lines[80] = "{" + "y" * (3 * small_blocks) + "\n"  # long and not JSON
    path = tmp_path / "long.json"
    path.write_text("".join(lines))

    run = load(path, cache=False)

    assert [n for n, _ in run.stats.bad_lines] == [81]
    assert run.stats.points == 99
    long_tag_values = run.points.loc[run.points["tag.a"] == long_value, "value"]
    assert long_tag_values.tolist() == [7.0]


def test_truncated_line_number_small_blocks(
    tmp_path: Path, small_blocks: int
) -> None:
    lines = [definition("m")] + [point("m", 1.0) for _ in range(500)]
    path = tmp_path / "cut.json"
    path.write_text("".join(lines) + point("m", 2.0)[:40])

    run = load(path, cache=False)

    assert run.stats.truncated_last_line is True
    assert run.stats.points == 500
    assert any(":502: last line is truncated" in w.message for w in run.warnings)


@pytest.mark.parametrize("block_bytes", [1, 7, 100, 4096])
@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_blocks_join_to_the_content(
    tmp_path: Path, block_bytes: int, packed: bool
) -> None:
    lines, _ = mixed_lines()
    content = "".join(lines[:400]).encode() + b"tail without newline"
    path = tmp_path / "c.bin"
    path.write_bytes(gzip.compress(content) if packed else content)
    spare: list[bytearray] = []

    seen = []
    with ByteSource(path) as source:
        for block in k6_json.iter_line_blocks(source, block_bytes, spare):
            seen.append(bytes(block.data))
            if block.complete:
                assert seen[-1].endswith(b"\n")
                # Put the buffer back at once, as the reader does after a parse.
                spare.append(block.data.obj)

    assert b"".join(seen) == content
    assert seen[-1] == b"tail without newline"


def test_readinto_joined_gzip_members(tmp_path: Path) -> None:
    first = "".join(point("m", float(i)) for i in range(2_000)).encode()
    second = "".join(point("n", float(i)) for i in range(2_000)).encode()
    path = tmp_path / "joined.json.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second))

    got = bytearray()
    with ByteSource(path) as source:
        target = bytearray(333)
        while size := source.readinto(memoryview(target)):
            got += target[:size]
        assert source.gzip_incomplete is False

    assert bytes(got) == first + second
