"""Comparison cache entries that made a repeated compare crash instead of computing afresh.

Each test runs a compare of two small synthetic k6 runs, rewrites the entry it
stored, and runs the same compare again. The second compare must print what
the first printed, because an entry that does not hold a valid comparison is
meant to be deleted and computed again.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from perfreport.analysis import compare_cache
from perfreport.cli import app


def write_run(path: Path, scale: float, seed: int) -> None:
    """Write k6 JSON output with 300 http_req_duration samples of one endpoint."""
    rng = random.Random(seed)
    lines = [json.dumps({"type": "Metric", "metric": "http_req_duration", "data": {
        "name": "http_req_duration", "type": "trend", "contains": "time",
        "thresholds": [], "submetrics": None}})]
    for index in range(300):
        lines.append(json.dumps({"type": "Point", "metric": "http_req_duration", "data": {
            "time": f"2026-12-04T10:00:{index // 10:02d}.{index % 10}00Z",
            "value": rng.uniform(5.0, 15.0) * scale,
            "tags": {"name": "GET /a"}}}))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.setenv("PERFREPORT_CACHE_DIR", str(tmp_path / "cache"))
    baseline = tmp_path / "base.json"
    candidate = tmp_path / "cand.json"
    write_run(baseline, 1.0, 1)
    write_run(candidate, 1.5, 2)
    return [baseline, candidate]


def compare_twice(runs: list[Path], rewrite: Callable[[pa.Table], pa.Table]) -> tuple[str, object]:
    """Run a compare, replace its stored entry with ``rewrite(entry)`` and run it again.

    Return the first compare's stdout and the second compare's result.
    """
    arguments = ["compare", *map(str, runs)]
    first = CliRunner().invoke(app, arguments)
    assert first.exit_code == 0, first.output
    stored = sorted(compare_cache.cache_dir().glob("comparison-*.parquet"))
    assert len(stored) == 1
    pq.write_table(rewrite(pq.read_table(stored[0])), stored[0])

    second = CliRunner().invoke(app, arguments)
    return first.stdout, second


def with_metadata(value: bytes) -> Callable[[pa.Table], pa.Table]:
    def rewrite(table: pa.Table) -> pa.Table:
        metadata = {**table.schema.metadata, compare_cache.METADATA_KEY: value}
        return table.replace_schema_metadata(metadata)

    return rewrite


def with_fields(**fields: object) -> Callable[[pa.Table], pa.Table]:
    def rewrite(table: pa.Table) -> pa.Table:
        rest = json.loads(table.schema.metadata[compare_cache.METADATA_KEY])
        rest.update(fields)
        return with_metadata(json.dumps(rest).encode())(table)

    return rewrite


def without_column(name: str) -> Callable[[pa.Table], pa.Table]:
    return lambda table: table.drop_columns([name])


@pytest.mark.parametrize("value", [b"[1, 2]", b"null", b'"perfreport-comparison/1"'])
def test_entry_metadata_not_object(runs: list[Path], value: bytes) -> None:
    """Recompute an entry whose metadata is valid JSON but not an object, instead of raising AttributeError."""
    expected, second = compare_twice(runs, with_metadata(value))

    assert second.exception is None or isinstance(second.exception, SystemExit), second.exception
    assert second.exit_code == 0
    assert second.stdout == expected


@pytest.mark.parametrize(
    "rewrite",
    [
        with_fields(warnings=[{"code": "x", "message": 5}]),
        with_fields(options={"confidence": "95%"}),
        with_fields(options=[1]),
        with_fields(not_compared={"columns": ["metric"], "rows": [["x"]]}),
        without_column("verdict"),
        without_column("run"),
    ],
    ids=["warning-message-int", "confidence-text", "options-list",
         "not-compared-no-reason", "no-verdict-column", "no-run-column"],
)
def test_entry_with_malformed_fields(runs: list[Path], rewrite) -> None:
    """Recompute an entry with a missing or mistyped field, instead of crashing in the renderer."""
    expected, second = compare_twice(runs, rewrite)

    assert second.exception is None or isinstance(second.exception, SystemExit), second.exception
    assert second.exit_code == 0
    assert second.stdout == expected
