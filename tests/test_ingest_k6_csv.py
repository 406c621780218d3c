"""Tests of reading k6's CSV output into the same points frame as its JSON output."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from fixtures.k6 import run_k6, start_demo_api, stop_process
from perfreport.errors import InputError
from perfreport.ingest import load

DATA = Path(__file__).parent / "data" / "k6"
RECORDING_SCRIPT = DATA / "recording.js"
SYSTEM_TAGS = (
    "proto,status,method,url,name,group,check,error,error_code,tls_version,"
    "scenario,expected_response,vu,iter"
)
HEADER = (
    "metric_name,timestamp,metric_value,check,error,error_code,expected_response,"
    "group,method,name,proto,scenario,status,tls_version,url,extra_tags,metadata\n"
)


def csv_row(
    metric: str, seconds: int, value: str, extra: str = "", meta: str = ""
) -> str:
    cells = [metric, str(seconds), value, "", "", "", "true", "", "GET", "home"]
    cells += ["HTTP/1.1", "default", "200", "", "home", extra, meta]
    return ",".join(cells) + "\n"


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> tuple[Path, Path]:
    """The JSON and CSV output of one real k6 run."""
    out = tmp_path_factory.mktemp("k6-csv-recording")
    csv_path = out / "recording.csv"
    proc, base_url = start_demo_api(cache=True)
    try:
        result = run_k6(
            RECORDING_SCRIPT,
            out,
            env={"BASE_URL": base_url},
            extra_args=["--system-tags", SYSTEM_TAGS, "--out", f"csv={csv_path}"],
        )
    finally:
        stop_process(proc)
    assert result.exit_code == 0, result.stderr
    return result.json_path, csv_path


def test_recording_matches_json_output(recording: tuple[Path, Path]) -> None:
    json_path, csv_path = recording
    records = [json.loads(line) for line in json_path.read_text().splitlines()]
    points = [r for r in records if r["type"] == "Point"]

    run = load(csv_path, cache=False)

    assert run.kind == "k6-csv"
    assert run.stats.points == len(points)
    expected = Counter((p["metric"], f"{p['data']['value']:.6f}") for p in points)
    got = Counter(
        (m, f"{v:.6f}")
        for m, v in zip(run.points["metric"].astype(str), run.points["value"])
    )
    assert got == expected


def test_recording_times_whole_seconds(recording: tuple[Path, Path]) -> None:
    json_path, csv_path = recording
    json_run = load(json_path, cache=False)

    run = load(csv_path, cache=False)

    seconds = json_run.points["time"].dt.floor("s")
    assert set(run.points["time"]) <= set(seconds)
    assert (run.points["time"].dt.nanosecond == 0).all()
    assert run.info["time_resolution_s"] == 1.0
    assert run.info["values_rounded"] is True


def test_recording_tags_and_metadata(recording: tuple[Path, Path]) -> None:
    json_path, csv_path = recording
    json_run = load(json_path, cache=False)

    run = load(csv_path, cache=False)

    assert run.tag_columns() == json_run.tag_columns()
    assert {"meta.vu", "meta.iter"} <= set(run.points.columns)
    assert isinstance(run.points["tag.name"].dtype, pd.CategoricalDtype)
    hostile = run.points["tag.late_key"].dropna().unique().tolist()
    assert hostile == ["<script>alert(1)</script>|a\nb"]
    urls = set(run.points["tag.url"].dropna().astype(str))
    assert any(url.endswith("/api/risks?page=1&size=5") for url in urls)
    assert set(run.points["meta.vu"].dropna()) == {"1", "2"}


def test_recording_builtin_metric_types(recording: tuple[Path, Path]) -> None:
    _, csv_path = recording

    run = load(csv_path, cache=False)

    assert run.metrics["http_req_duration"].type == "trend"
    assert run.metrics["http_req_duration"].unit == "ms"
    assert run.metrics["data_sent"].unit == "bytes"
    assert run.metrics["checks"].type == "rate"
    assert run.warnings == []


def test_gzip_csv_read(recording: tuple[Path, Path], tmp_path: Path) -> None:
    _, csv_path = recording
    packed = tmp_path / "recording.csv.gz"
    packed.write_bytes(gzip.compress(csv_path.read_bytes()))

    plain = load(csv_path, cache=False)
    zipped = load(packed, cache=False)

    pd.testing.assert_frame_equal(plain.points, zipped.points)


def test_extra_tags_and_metadata_pairs(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text(
        HEADER
        + csv_row(
            "http_reqs", 1717236000, "1.000000", "zone=eu&tier=gold", "vu=1&iter=0"
        )
        + csv_row("http_reqs", 1717236001, "1.000000", "", "iter=5&vu=2")
        + csv_row("http_reqs", 1717236002, "1.000000", "q=a&b", "vu=3&iter=1")
    )

    run = load(path, cache=False)
    frame = run.points

    assert frame["tag.zone"].iloc[0] == "eu"
    assert pd.isna(frame["tag.zone"].iloc[1])
    assert frame["tag.tier"].iloc[0] == "gold"
    assert frame["meta.vu"].tolist() == ["1", "2", "3"]
    assert frame["meta.iter"].tolist() == ["0", "5", "1"]
    assert frame["tag.q"].iloc[2] == "a&b"
    assert frame["time"].iloc[1] == pd.Timestamp("2024-06-01T10:00:01Z")


def test_custom_metric_warns(tmp_path: Path) -> None:
    path = tmp_path / "custom.csv"
    path.write_text(HEADER + csv_row("cache_hits", 1717236000, "3.000000"))

    run = load(path, cache=False)

    assert [w.code for w in run.warnings] == ["metric-undefined"]
    assert "cache_hits" in run.warnings[0].message
    assert run.points["value"].tolist() == [3.0]


def test_truncated_last_row(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    rows = [csv_row("http_reqs", 1717236000 + i, "1.000000") for i in range(4)]
    path.write_text(HEADER + "".join(rows) + "http_req_duration,17172360")

    run = load(path, cache=False)

    assert run.stats.truncated_last_line is True
    assert run.stats.points == 4
    assert run.stats.lines_read == 6
    assert run.warnings[0].message == (
        f"{path}:6: last line is truncated (k6 killed mid-write?); 5 complete lines kept"
    )


def test_truncated_row_with_all_cells(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    rows = [csv_row("http_reqs", 1717236000, "1.000000") for _ in range(2)]
    path.write_text(
        HEADER + "".join(rows) + csv_row("http_reqs", 1717236000, "1.0").rstrip("\n")
    )

    run = load(path, cache=False)

    assert run.stats.truncated_last_line is True
    assert run.stats.points == 2


def test_bad_rows_counted_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER
        + csv_row("http_reqs", 1717236000, "1.000000")
        + "\n"
        + "garbage,row\n"
        + csv_row("http_reqs", 1717236001, "abc")
        + csv_row("http_reqs", 1717236002, "2.000000")
    )

    run = load(path, cache=False)

    assert [n for n, _ in run.stats.bad_lines] == [4, 5]
    assert run.stats.points == 2


def test_line_numbers_after_multiline_cell(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text(
        HEADER
        + csv_row("http_reqs", 1717236000, "1.000000", '"k=a\nb\nc"')
        + csv_row("http_reqs", 1717236001, "oops")
    )

    run = load(path, cache=False)

    assert run.stats.bad_lines[0][0] == 5
    assert "metric_value is not a number" in run.stats.bad_lines[0][1]
    assert run.points["tag.k"].iloc[0] == "a\nb\nc"


def test_bad_row_raises_without_skip(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + csv_row("http_reqs", 1717236000, "1.000000") + "x,y\n")

    with pytest.raises(InputError) as caught:
        load(path, skip_bad_lines=False, cache=False)

    assert str(caught.value).startswith(f"{path}:3: row has 2 cells, the header 17")
    assert str(caught.value).endswith("pass --skip-bad-lines to ingest the rest")


def test_header_only_rejected(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(HEADER)

    with pytest.raises(InputError, match="no line of the file is a k6 Metric or Point"):
        load(path, cache=False)


def test_empty_cells_are_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty-cells.csv"
    path.write_text(
        HEADER
        + csv_row("http_reqs", 1717236000, "")
        + csv_row("", 1717236000, "1.000000")
        + csv_row("http_reqs", 1717236000, "1.000000").replace("1717236000", "", 1)
        + csv_row("http_reqs", 1717236000, "x").replace("1717236000", "y", 1)
        + csv_row("http_reqs", 1717236001, "1.000000")
    )

    run = load(path, cache=False)

    reasons = dict(run.stats.bad_lines)
    assert reasons == {
        2: "metric_value is empty",
        3: "metric_name is empty",
        4: "timestamp is empty",
        5: "timestamp is not whole Unix seconds",
    }
    assert run.stats.lines_skipped == 4
    assert run.stats.points == 1
