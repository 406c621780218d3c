"""Tests of recognising input files by their content, whatever their names."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixtures.k6 import SMOKE_SCRIPT, run_k6, start_demo_api, stop_process
from perfreport.cli import app
from perfreport.errors import InputError, UnknownFormatError
from perfreport.ingest import detect_kind, load
from perfreport.ingest.detect import MAX_DOCUMENT_BYTES

TESTS = Path(__file__).parent
DATA = TESTS / "data"
SAMPLE_DATA = TESTS.parent / "sample_data"
K6_LINE = (
    '{"metric":"vus","type":"Point","data":{"time":"2024-06-01T10:00:00Z",'
    '"value":2,"tags":null}}\n'
)


@pytest.fixture(scope="module")
def smoke_outputs(tmp_path_factory) -> dict[str, Path]:
    """The JSON output and both summary files of a real 2-second k6 run."""
    out = tmp_path_factory.mktemp("k6-smoke")
    proc, base_url = start_demo_api(cache=True)
    try:
        result = run_k6(SMOKE_SCRIPT, out, env={"BASE_URL": base_url})
    finally:
        stop_process(proc)
    assert result.exit_code in (0, 99), result.stderr
    return {
        "json": result.json_path,
        "summary-export": result.summary_export_path,
        "handle-summary": result.handle_summary_path,
    }


def copy_as(source: Path, target: Path, *, packed: bool = False) -> Path:
    data = source.read_bytes()
    target.write_bytes(gzip.compress(data) if packed else data)
    return target


# ---------------------------------------------------------------------------
# Kinds perfreport reads


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        ("json", "k6-json"),
        ("summary-export", "k6-summary-export"),
        ("handle-summary", "k6-handle-summary"),
    ],
)
def test_real_k6_files_detected(
    smoke_outputs, tmp_path: Path, output: str, kind: str
) -> None:
    renamed = copy_as(smoke_outputs[output], tmp_path / "input.txt")

    assert detect_kind(smoke_outputs[output]) == kind
    assert detect_kind(renamed) == kind


def test_gzip_detected_by_magic(smoke_outputs, tmp_path: Path) -> None:
    packed = copy_as(smoke_outputs["json"], tmp_path / "run.json", packed=True)

    assert detect_kind(packed) == "k6-json"


def test_truncated_first_line_detected(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(K6_LINE[:40])

    assert detect_kind(path) == "k6-json"


def test_bad_first_line_detected(tmp_path: Path) -> None:
    path = tmp_path / "bad-first.json"
    path.write_text("{oops\n" + K6_LINE)

    assert detect_kind(path) == "k6-json"


def test_k6_csv_detected(tmp_path: Path) -> None:
    path = tmp_path / "run.data"
    path.write_text("metric_name,timestamp,metric_value,check,extra_tags,metadata\n")

    assert detect_kind(path) == "k6-csv"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (DATA / "summary" / "machine-summary-v1.json", "k6-machine-summary"),
        (SAMPLE_DATA / "baseline_metrics.json", "baseline-runbook"),
        (SAMPLE_DATA / "baseline.summary-export.json", "k6-summary-export"),
        (SAMPLE_DATA / "baseline.handle-summary.json", "k6-handle-summary"),
    ],
)
def test_documents_detected(path: Path, kind: str) -> None:
    assert detect_kind(path) == kind


def test_perfreport_baseline_detected(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(
        json.dumps({"format": "perfreport-baseline/1", "metrics": {}, "statistics": []})
    )

    assert detect_kind(path) == "baseline-perfreport"


def test_parquet_detected(tmp_path: Path) -> None:
    path = tmp_path / "run.bin"
    path.write_bytes(b"PAR1" + b"\0" * 16)

    assert detect_kind(path) == "parquet"


# ---------------------------------------------------------------------------
# Kinds perfreport does not read as a run


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (DATA / "prometheus" / "vector-result.json", "Prometheus HTTP API response"),
        (DATA / "prometheus" / "empty-matrix.json", "Prometheus HTTP API response"),
        (DATA / "redis" / "stats-before.txt", "Redis INFO output"),
        (DATA / "prometheus" / "proxy-error-page.html", "HTML page"),
    ],
)
def test_other_kinds_named(path: Path, expected: str) -> None:
    with pytest.raises(UnknownFormatError) as caught:
        detect_kind(path)

    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"a,b,c\n1,2,3\n", "CSV whose header is not k6's"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (bytes(range(128, 256)) * 4, "binary"),
        (b"[1, 2, 3]\n", "JSON list"),
        (b'{"hello": "world"}', "unknown kind (top-level keys: hello)"),
        (b'{"metrics": ', "not valid JSON"),
        (b"hello world\n", "text that is not k6 output"),
        (b"# HELP x y\n# TYPE x counter\nx 1\n", "Prometheus exposition text"),
        (b"redis_version:7.0.15\r\n", "Redis INFO output"),
    ],
)
def test_unknown_content_explained(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)

    with pytest.raises(UnknownFormatError) as caught:
        detect_kind(path)

    assert expected in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"  \n\n\t\n"])
def test_empty_file_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(content)

    with pytest.raises(InputError, match="file is empty"):
        detect_kind(path)


def test_missing_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        detect_kind(tmp_path / "nope.json")


def test_prometheus_response_rejected_by_load() -> None:
    path = DATA / "prometheus" / "vector-result.json"

    with pytest.raises(UnknownFormatError, match="not a k6 run"):
        load(path, cache=False)


def test_cli_reports_wrong_kind(tmp_path: Path) -> None:
    path = DATA / "redis" / "stats-before.txt"

    result = CliRunner().invoke(
        app, ["ingest", str(path), "-o", str(tmp_path / "x.parquet")]
    )

    assert result.exit_code == 2
    assert "Error: " in result.output
    assert "Redis INFO output" in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------------------
# Large files are judged by their head


def test_huge_sparse_file_detected_quickly(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as out:
        out.write(K6_LINE.encode() * 1000)
        out.truncate(4 * 1024**3)

    started = time.monotonic()
    kind = detect_kind(path)
    elapsed_s = time.monotonic() - started

    assert kind == "k6-json"
    assert elapsed_s < 2.0


def test_large_document_judged_by_head(tmp_path: Path) -> None:
    path = tmp_path / "big-export.json"
    with path.open("wb") as out:
        out.write(
            b'{"root_group": {"name": ""}, "metrics": {"x": {"count": 1}}, "pad": "'
        )
        out.write(b"x" * 100_000)
        out.truncate(MAX_DOCUMENT_BYTES + 1024)
    assert os.path.getsize(path) > MAX_DOCUMENT_BYTES

    assert detect_kind(path) == "k6-summary-export"


def test_named_pipe_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "run.json"
    os.mkfifo(fifo)

    with pytest.raises(InputError, match="not a regular file"):
        detect_kind(fifo)
