"""Faults found by reviewing the k6 JSON reader's block rework.

Each test reads a small hand-made k6 NDJSON file and fails while its fault is
present. Several read the same content in different block layouts, because the
result must not depend on where block boundaries fall.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfreport.cli import app
from perfreport.errors import InputError
from perfreport.ingest import k6_json, load

TIME = "2024-06-01T10:00:00.5Z"


def point(metric: str = "m", value: float = 1.0, tags: dict | None = None) -> str:
    data = {"time": TIME, "value": value, "tags": tags if tags is not None else {"a": "b"}}
    record = {"metric": metric, "type": "Point", "data": data}
    return json.dumps(record, separators=(",", ":")) + "\n"


def definition(name: str = "m", metric_type: str = "trend") -> str:
    contains = "time" if metric_type == "trend" else "default"
    data = {"name": name, "type": metric_type, "contains": contains,
            "thresholds": [], "submetrics": None}
    return json.dumps({"type": "Metric", "data": data, "metric": name}) + "\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_bad_metric_line_raised_first(tmp_path: Path) -> None:
    """Without skipping, a malformed Metric line on line 1 must raise before the
    non-JSON line 3 of the same block."""
    content = definition("x", "histogram") + point() + "not json\n" + point()
    path = write(tmp_path, "run.json", content)

    with pytest.raises(InputError) as raised:
        load(path, cache=False, skip_bad_lines=False)

    assert raised.value.line == 1


def test_bad_lines_listed_in_order(tmp_path: Path) -> None:
    """Skipped lines are listed in file order, a malformed Metric line included."""
    content = definition("x", "histogram") + point() + "not json\n" + point()
    path = write(tmp_path, "run.json", content)

    run = load(path, cache=False)

    assert [number for number, _ in run.stats.bad_lines] == [1, 3]


def test_late_definition_not_undefined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A metric whose Metric line comes in a later block than its first point is
    not reported as undefined. In one block, it is not reported."""
    monkeypatch.setattr(k6_json, "BLOCK_BYTES", 64)
    content = definition() + point() + point("late") + definition("late", "gauge")
    path = write(tmp_path, "run.json", content + point("late"))

    run = load(path, cache=False)

    assert "late" in run.metrics
    assert not [w for w in run.warnings if w.code == "metric-undefined"]


def test_null_tag_value_same_in_any_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tag whose value is null is kept or skipped the same way whether or not
    its line shares a block with a Metric line."""
    null_tag = point(tags={"a": None})
    path = write(tmp_path, "run.json", definition() + point() + null_tag + point())

    one_block = load(path, cache=False)
    monkeypatch.setattr(k6_json, "BLOCK_BYTES", 1)
    line_blocks = load(path, cache=False)

    assert line_blocks.stats.points == one_block.stats.points
    assert line_blocks.stats.bad_lines == one_block.stats.bad_lines


def test_duplicate_key_same_in_any_block(tmp_path: Path) -> None:
    """A Point with the value key twice gets the same value whether or not a bad
    line in its block sends the block to the exact path."""
    twice = point().replace('"value":1.0', '"value":1.0,"value":2.0')
    clean = write(tmp_path, "clean.json", point() + twice)
    with_bad_line = write(tmp_path, "bad.json", point() + twice + "not json\n")

    fast = load(clean, cache=False).points["value"].tolist()
    exact = load(with_bad_line, cache=False).points["value"].tolist()

    assert fast == exact


def test_lone_surrogate_line_skipped(tmp_path: Path) -> None:
    r"""A tag value escaped as a lone surrogate (\ud800) is a bad line, not a crash."""
    bad = point().replace('"a":"b"', '"a":"\\ud800"')
    path = write(tmp_path, "run.json", definition() + point() + bad + point())

    run = load(path, cache=False)

    assert run.stats.points == 2
    assert [number for number, _ in run.stats.bad_lines] == [3]


def test_lone_surrogate_cli_exit_status(tmp_path: Path) -> None:
    """perfreport summary rejects a lone surrogate escape on line 3 with one
    message and exit status 2."""
    bad = point().replace('"a":"b"', '"a":"\\ud800"')
    path = write(tmp_path, "run.json", definition() + point() + bad)

    result = CliRunner().invoke(app, ["summary", str(path)])

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {path}:3: ")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "good, bad_byte",
    [('"metric":"m"', b"\xfe"), ('"a":"b"', b"\xff")],
    ids=["metric name", "tag value"],
)
def test_invalid_utf8_after_head(tmp_path: Path, good: str, bad_byte: bytes) -> None:
    """A byte that is not UTF-8 in a metric name or tag value, past the 64 KiB
    head, makes a bad line, not a crash."""
    head = definition() + point() * 700
    bad = point().replace(good, good[:-1] + "\ufffd" + good[-1])
    content = (head + bad + point()).encode().replace("\ufffd".encode(), bad_byte)
    path = write(tmp_path, "run.json", content)

    run = load(path, cache=False)

    assert run.stats.points == 701
    assert [number for number, _ in run.stats.bad_lines] == [702]


def test_gzip_bad_crc_keeps_content(tmp_path: Path) -> None:
    """A gzip file whose CRC is damaged still yields the lines decoded before the
    check failed, instead of being reported as empty."""
    packed = bytearray(gzip.compress((definition() + point() * 50).encode()))
    packed[-8] ^= 0xFF
    path = write(tmp_path, "run.json.gz", bytes(packed))

    run = load(path, cache=False)

    assert run.stats.points == 50
    assert run.stats.gzip_incomplete


def test_gzip_trailing_zeros_not_cut(tmp_path: Path) -> None:
    """Zero padding after a complete gzip member is not reported as a stream
    that ends before its trailer."""
    packed = gzip.compress((definition() + point() * 5).encode()) + b"\0" * 16
    path = write(tmp_path, "run.json.gz", packed)

    run = load(path, cache=False)

    assert run.stats.points == 5
    assert not any("ends before its trailer" in w.message for w in run.warnings)


def test_lone_surrogate_in_many_metadata_objects(tmp_path: Path) -> None:
    r"""A lone surrogate among more distinct metadata objects than the json module
    decodes (pyarrow decodes them) is a bad line, not text stored as invalid UTF-8."""
    lines = [definition()]
    for i in range(600):
        metadata = {"vu": str(i), "iter": "\ud800" if i == 300 else str(i)}
        data = {"time": TIME, "value": 1.0, "tags": {"a": "b"}, "metadata": metadata}
        lines.append(json.dumps({"metric": "m", "type": "Point", "data": data}) + "\n")
    path = write(tmp_path, "run.json", "".join(lines))

    run = load(path, cache=False)

    assert run.stats.points == 599
    assert [number for number, _ in run.stats.bad_lines] == [302]
    assert "300" not in set(run.points["meta.iter"])
