"""Tests of reading k6's NDJSON output (plain and gzip) into a points frame."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures.k6 import run_k6, start_demo_api, stop_process

from perfreport.errors import InputError
from perfreport.ingest import k6_json, k6_json_duckdb, load, points

DATA = Path(__file__).parent / "data" / "k6"
RECORDING_SCRIPT = DATA / "recording.js"
SYSTEM_TAGS = (
    "proto,status,method,url,name,group,check,error,error_code,tls_version,"
    "scenario,expected_response,vu,iter"
)
RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$"
)


def durations(run) -> np.ndarray:
    points = run.points
    return points.loc[points["metric"] == "http_req_duration", "value"].to_numpy()


def count_of(run, metric: str) -> int:
    return int((run.points["metric"] == metric).sum())


def expected_ns(text: str) -> int:
    """Convert an RFC 3339 time to UTC nanoseconds without Arrow or pandas."""
    match = RFC3339.match(text)
    assert match, text
    base, fraction, offset = match.groups()
    seconds = datetime.fromisoformat(base).replace(tzinfo=timezone.utc).timestamp()
    nanoseconds = int(seconds) * 10**9 + int((fraction or "").ljust(9, "0"))
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        nanoseconds -= sign * (hours * 3600 + minutes * 60) * 10**9
    return nanoseconds


def point_line(
    metric: str, time: str, value: float, tags: dict | None, meta=None
) -> str:
    data = {"time": time, "value": value, "tags": tags}
    if meta is not None:
        data["metadata"] = meta
    return json.dumps({"metric": metric, "type": "Point", "data": data}) + "\n"


def metric_line(name: str, metric_type: str = "trend", contains: str = "time") -> str:
    data = {
        "name": name,
        "type": metric_type,
        "contains": contains,
        "thresholds": [],
        "submetrics": None,
    }
    return json.dumps({"type": "Metric", "data": data, "metric": name}) + "\n"


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A real k6 run in the Asia/Kolkata time zone, with vu and iter metadata."""
    out = tmp_path_factory.mktemp("k6-recording")
    proc, base_url = start_demo_api(cache=True)
    try:
        result = run_k6(
            RECORDING_SCRIPT,
            out,
            env={"BASE_URL": base_url, "TZ": "Asia/Kolkata"},
            extra_args=[
                "--system-tags",
                SYSTEM_TAGS,
                "--out",
                f"csv={out / 'recording.csv'}",
            ],
        )
    finally:
        stop_process(proc)
    assert result.exit_code == 0, result.stderr
    return result.json_path


# ---------------------------------------------------------------------------
# Real k6 output


def test_recording_times_are_exact_utc(recording: Path) -> None:
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    texts = [r["data"]["time"] for r in lines if r["type"] == "Point"]
    assert all(t.endswith("+05:30") for t in texts)

    run = load(recording, cache=False)

    assert str(run.points["time"].dtype) == "datetime64[ns, UTC]"
    got = run.points["time"].astype("int64").tolist()
    assert got == [expected_ns(t) for t in texts]


def test_recording_keeps_file_order_and_values(recording: Path) -> None:
    records = [json.loads(line) for line in recording.read_text().splitlines()]
    points = [r for r in records if r["type"] == "Point"]

    run = load(recording, cache=False)

    assert run.kind == "k6-json"
    assert run.name == "recording"
    assert run.stats.points == len(points)
    assert run.stats.lines_read == len(records)
    assert run.stats.metric_lines == len(records) - len(points)
    assert run.points["metric"].astype(str).tolist() == [p["metric"] for p in points]
    assert run.points["value"].tolist() == [float(p["data"]["value"]) for p in points]


def test_recording_tags_and_metadata(recording: Path) -> None:
    records = [json.loads(line) for line in recording.read_text().splitlines()]
    points = [r["data"] for r in records if r["type"] == "Point"]

    run = load(recording, cache=False)
    frame = run.points

    tag_keys = sorted({k for p in points for k in (p.get("tags") or {})})
    assert run.tag_columns() == [f"tag.{k}" for k in tag_keys]
    assert {"meta.vu", "meta.iter"} <= set(frame.columns)
    for key in tag_keys:
        assert isinstance(frame[f"tag.{key}"].dtype, pd.CategoricalDtype)
        expected = [(p.get("tags") or {}).get(key) for p in points]
        got = [None if pd.isna(v) else v for v in frame[f"tag.{key}"]]
        assert got == expected, key
    expected_vu = [(p.get("metadata") or {}).get("vu") for p in points]
    assert frame["meta.vu"].tolist() == expected_vu


def test_recording_hostile_tag_kept_verbatim(recording: Path) -> None:
    run = load(recording, cache=False)

    values = run.points["tag.late_key"].dropna().unique().tolist()
    assert values == ["<script>alert(1)</script>|a\nb"]
    urls = set(run.points["tag.url"].dropna().astype(str))
    assert any(url.endswith("/api/risks?page=1&size=5") for url in urls)


def test_recording_metric_definitions(recording: Path) -> None:
    run = load(recording, cache=False)

    duration = run.metrics["http_req_duration"]
    assert duration.type == "trend"
    assert duration.contains == "time"
    assert duration.unit == "ms"
    assert duration.thresholds == ("p(95)<5000", "p(99)<9000")
    options = run.info["threshold_options"]["http_req_duration"]["p(99)<9000"]
    assert options == {"abortOnFail": True, "delayAbortEval": "1s"}
    suffixes = {sub.suffix: sub.tags for sub in duration.submetrics}
    assert suffixes["name:GET /api/stats"] == {"name": "GET /api/stats"}
    assert run.metrics["checks"].type == "rate"
    assert run.metrics["checks"].thresholds == ("rate>0.5",)
    assert run.metrics["data_received"].contains == "data"
    assert run.metrics["http_reqs"].type == "counter"


def test_recording_info_times(recording: Path) -> None:
    run = load(recording, cache=False)

    times = run.points["time"]
    assert run.info["first_point_time"] == times.min().isoformat()
    assert run.info["last_point_time"] == times.max().isoformat()
    assert run.warnings == []


def test_gzip_equals_plain(recording: Path, tmp_path: Path) -> None:
    packed = tmp_path / "recording.json.gz"
    packed.write_bytes(gzip.compress(recording.read_bytes()))

    plain = load(recording, cache=False)
    zipped = load(packed, cache=False)

    pd.testing.assert_frame_equal(plain.points, zipped.points)
    assert zipped.name == "recording"
    assert zipped.stats.gzip_incomplete is False


def reject_fast_path(*args, **kwargs):
    raise k6_json_duckdb.FastPathRejected("disabled by the test")


def fail_exact_path(*args, **kwargs):
    raise AssertionError("the exact path was used")


def test_fast_path_reads_recording(
    recording: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(k6_json, "_read_json", fail_exact_path)
    monkeypatch.setattr(k6_json, "_check_lines", fail_exact_path)

    run = load(recording, cache=False)

    assert run.stats.points > 0


def test_fast_and_exact_paths_agree(
    recording: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = load(recording, cache=False)
    monkeypatch.setattr(k6_json_duckdb, "parse_points", reject_fast_path)

    exact = load(recording, cache=False)

    assert list(fast.points.columns) == list(exact.points.columns)
    for column in fast.points.columns:
        got = (
            fast.points[column].astype(object).where(fast.points[column].notna(), None)
        )
        expected = (
            exact.points[column]
            .astype(object)
            .where(exact.points[column].notna(), None)
        )
        assert got.tolist() == expected.tolist(), column
    assert fast.metrics == exact.metrics
    assert fast.stats == exact.stats


def test_many_metadata_objects_agree(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "iterations.json"
    lines = [metric_line("m")]
    for i in range(3000):
        meta = None if i % 97 == 0 else {"vu": str(i % 7), "iter": str(i)}
        if i % 101 == 0:
            meta = {"vu": "1", "iter": str(i), "trace_id": f"t{i}"}
        tags = {"name": f"n{i % 300}"} if i % 89 else None
        lines.append(point_line("m", "2024-06-01T10:00:00.25+01:00", i, tags, meta))
    path.write_text("".join(lines))
    fast = load(path, cache=False)
    monkeypatch.setattr(k6_json_duckdb, "parse_points", reject_fast_path)

    exact = load(path, cache=False)

    assert list(fast.points.columns) == list(exact.points.columns)
    for column in fast.points.columns:
        got = (
            fast.points[column].astype(object).where(fast.points[column].notna(), None)
        )
        expected = (
            exact.points[column]
            .astype(object)
            .where(exact.points[column].notna(), None)
        )
        assert got.tolist() == expected.tolist(), column
    assert fast.points["meta.trace_id"].notna().sum() == 30


@pytest.mark.parametrize(
    "line",
    [
        '{"metric":"m","type":"Point","data":{"time":"2024-06-01T10:00:00Z","value":"1"}}',
        '{"metric":5,"type":"Point","data":{"time":"2024-06-01T10:00:00Z","value":1}}',
        '{"metric":"m","type":"Point","data":{"time":123,"value":1}}',
        '{"metric":"m","type":"Point","data":{"time":"2024-06-01T10:00:00Z","value":1,"tags":{"a":1}}}',
        '{"metric":"m","type":"Point","data":{"time":"2024-06-01T10:00:00Z","value":true}}',
        '{"metric":"m","type":"Point","data":{"time":"2024-06-01T10:00:00Z","value":1}} {}',
        '{"metric":"m","data":{"time":"2024-06-01T10:00:00Z","value":1}}',
    ],
)
def test_fast_path_rejects_malformed_point(line: str) -> None:
    good = point_line("m", "2024-06-01T10:00:00Z", 1, {"a": "b"})

    with pytest.raises(k6_json_duckdb.FastPathRejected):
        data = (good + line + "\n").encode()
        k6_json_duckdb.parse_points(data, 2)


# ---------------------------------------------------------------------------
# Recorded damage and percentiles


def test_truncated_last_line() -> None:
    path = DATA / "truncated-last-line.ndjson"

    run = load(path, cache=False)

    assert run.stats.truncated_last_line is True
    assert run.stats.lines_read == 37
    assert run.stats.lines_skipped == 0
    messages = [w.message for w in run.warnings]
    assert messages == [
        f"{path}:37: last line is truncated (k6 killed mid-write?); 36 complete lines kept"
    ]
    assert count_of(run, "http_reqs") == 11
    values = durations(run)
    assert len(values) == 10
    assert values.mean() == pytest.approx(326.0837, rel=1e-12)
    assert values.min() == pytest.approx(187.302, rel=1e-12)
    assert values.max() == pytest.approx(1204.66, rel=1e-12)
    quantiles = np.quantile(values, [0.5, 0.9, 0.95])
    assert quantiles == pytest.approx([225.759, 395.7886, 800.2243], rel=1e-12)
    failed = run.points.loc[run.points["metric"] == "http_req_failed", "value"]
    assert (len(failed), int((failed != 0).sum())) == (10, 1)


def test_gzip_cut_before_trailer() -> None:
    path = DATA / "gzip-cut-before-trailer.ndjson.gz"

    run = load(path, cache=False)

    assert run.stats.gzip_incomplete is True
    assert run.stats.truncated_last_line is True
    assert run.stats.lines_read == 22
    codes = [w.code for w in run.warnings]
    assert codes == ["truncated-line", "gzip-incomplete"]
    assert f"{path}:22: last line is truncated" in run.warnings[0].message
    assert "21 complete lines kept" in run.warnings[0].message
    assert count_of(run, "http_reqs") == 10
    values = durations(run)
    assert len(values) == 9
    assert values.mean() == pytest.approx(205.5079, rel=1e-7)
    assert values.max() == pytest.approx(610.25, rel=1e-12)
    quantiles = np.quantile(values, [0.5, 0.9, 0.95])
    assert quantiles == pytest.approx([155.861, 258.8532, 434.5516], rel=1e-12)


def test_gzip_detected_without_gz_name(tmp_path: Path) -> None:
    renamed = tmp_path / "run.json"
    renamed.write_bytes((DATA / "gzip-cut-before-trailer.ndjson.gz").read_bytes())

    run = load(renamed, cache=False)

    assert run.stats.gzip_incomplete is True
    assert count_of(run, "http_reqs") == 10


def test_twenty_unsorted_durations() -> None:
    run = load(DATA / "twenty-durations-unsorted.ndjson", cache=False)

    values = durations(run)
    assert len(values) == 20
    assert values.mean() == pytest.approx(183.09865, rel=1e-12)
    assert values.min() == pytest.approx(88.412, rel=1e-12)
    assert values.max() == pytest.approx(845.213, rel=1e-12)
    quantiles = np.quantile(values, [0.5, 0.9, 0.95, 0.99, 0.999])
    expected = [124.0725, 276.8445, 414.3994, 759.05028, 836.596728]
    assert quantiles == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------
# Bad lines


def write_with_bad_line(path: Path, bad: str, position: int = 3) -> list[str]:
    lines = [metric_line("http_req_duration")]
    lines += [
        point_line("http_req_duration", f"2024-06-01T10:00:0{i}Z", i, {"k": "v"})
        for i in range(6)
    ]
    lines.insert(position, bad)
    path.write_text("".join(lines))
    return lines


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("{not json\n", "line is not JSON"),
        (
            '{"metric":"x","type":"Point","data":{"time":"yesterday","value":1}}\n',
            "is not an RFC 3339 time",
        ),
        (
            '{"metric":"x","type":"Point","data":{"time":"2024-06-01T10:00:00Z","value":"1"}}\n',
            "is not a number",
        ),
        ('{"type":"Other"}\n', "neither Metric nor Point"),
        ("[1, 2]\n", "JSON list"),
        (
            '{"metric":"x","type":"Point","data":{"time":"2024-06-01T10:00:00Z","value":1}} {}\n',
            "line is not JSON",
        ),
    ],
)
def test_bad_line_skipped_and_counted(tmp_path: Path, bad: str, reason: str) -> None:
    path = tmp_path / "bad.json"
    write_with_bad_line(path, bad)

    run = load(path, cache=False)

    assert run.stats.lines_skipped == 1
    assert run.stats.points == 6
    assert len(run.stats.bad_lines) == 1
    number, text = run.stats.bad_lines[0]
    assert number == 4
    assert reason in text
    assert run.warnings[0].code == "bad-line"
    assert run.warnings[0].message.startswith(f"{path}:4: ")
    assert run.points["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_bad_line_raises_without_skip(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    write_with_bad_line(path, "{not json\n")

    with pytest.raises(InputError) as caught:
        load(path, skip_bad_lines=False, cache=False)

    message = str(caught.value)
    assert message.startswith(f"{path}:4: line is not JSON")
    assert message.endswith("; pass --skip-bad-lines to ingest the rest")
    assert caught.value.line == 4


def test_bad_lines_found_in_large_block(tmp_path: Path) -> None:
    path = tmp_path / "many.json"
    lines = [metric_line("m", "counter", "default")]
    lines += [
        point_line("m", "2024-06-01T10:00:00.5Z", 1, {"a": "b"}) for _ in range(20_000)
    ]
    bad_numbers = [2, 5_000, 5_001, 19_999, 20_001]
    for number in bad_numbers:
        lines[number - 1] = "garbage\n"
    path.write_text("".join(lines))

    run = load(path, cache=False)

    assert [n for n, _ in run.stats.bad_lines] == bad_numbers
    assert run.stats.points == 20_000 - len(bad_numbers)
    assert run.stats.lines_read == 20_001


def test_bad_line_count_capped_in_list(tmp_path: Path) -> None:
    path = tmp_path / "noisy.json"
    lines = [metric_line("m", "counter", "default")]
    for i in range(100):
        lines.append(point_line("m", "2024-06-01T10:00:00Z", 1, None))
        lines.append("oops\n")
    path.write_text("".join(lines))

    run = load(path, cache=False)

    assert run.stats.lines_skipped == 100
    assert len(run.stats.bad_lines) == points.MAX_BAD_LINES_LISTED
    assert run.stats.points == 100


def test_blank_lines_ignored(tmp_path: Path) -> None:
    path = tmp_path / "blank.json"
    lines = [metric_line("m", "gauge", "default"), "\n"]
    lines += [point_line("m", "2024-06-01T10:00:00Z", 3, None), "   \n"]
    path.write_text("".join(lines))

    run = load(path, cache=False)

    assert run.stats.points == 1
    assert run.stats.lines_skipped == 0


# ---------------------------------------------------------------------------
# Shapes of input that break other readers


def test_late_tag_key_after_100000_lines(tmp_path: Path) -> None:
    path = tmp_path / "late.json"
    with path.open("w") as out:
        out.write(metric_line("http_req_duration"))
        for i in range(100_000):
            out.write(
                point_line(
                    "http_req_duration",
                    "2024-06-01T10:00:00.123456789Z",
                    i,
                    {"name": "a"},
                )
            )
        out.write(
            point_line(
                "http_req_duration",
                "2024-06-01T10:00:01+02:00",
                -1.5,
                {"name": "b", "zone": "eu"},
            )
        )
        out.write(
            point_line(
                "http_req_duration",
                "2024-06-01T10:00:02Z",
                7,
                {"name": "a"},
                {"vu": "3"},
            )
        )

    run = load(path, cache=False)
    frame = run.points

    assert len(frame) == 100_002
    assert frame["tag.zone"].isna().sum() == 100_001
    assert frame["tag.zone"].iloc[100_000] == "eu"
    assert frame["meta.vu"].iloc[100_001] == "3"
    assert frame["meta.vu"].isna().sum() == 100_001
    assert frame["time"].iloc[100_000] == pd.Timestamp("2024-06-01T08:00:01Z")
    assert frame["value"].iloc[100_000] == -1.5


def test_huge_line_kept(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    long_value = "x" * (24 * 1024 * 1024)
    path.write_text(
        metric_line("m", "counter", "default")
        + point_line("m", "2024-06-01T10:00:00Z", 1, {"a": "b"})
        + point_line("m", "2024-06-01T10:00:01Z", 2, {"a": long_value})
        + point_line("m", "2024-06-01T10:00:02Z", 3, {"a": "c"})
    )

    run = load(path, cache=False)

    assert run.points["value"].tolist() == [1.0, 2.0, 3.0]
    assert len(run.points["tag.a"].iloc[1]) == len(long_value)


def test_points_without_tags(tmp_path: Path) -> None:
    path = tmp_path / "vus.json"
    path.write_text(
        metric_line("vus", "gauge", "default")
        + point_line("vus", "2024-06-01T10:00:00Z", 2, None)
        + point_line("vus", "2024-06-01T10:00:01Z", 3, {})
    )

    run = load(path, cache=False)

    assert run.points["value"].tolist() == [2.0, 3.0]
    assert run.tag_columns() == []


def test_null_tags_beside_tagged_points(tmp_path: Path) -> None:
    path = tmp_path / "mixed.json"
    path.write_text(
        metric_line("vus", "gauge", "default")
        + point_line("vus", "2024-06-01T10:00:00Z", 2, None, {"vu": "1"})
        + point_line("vus", "2024-06-01T10:00:01Z", 3, {"a": "b"}, None)
        + point_line("vus", "2024-06-01T10:00:02Z", 4, None, None)
    )

    run = load(path, cache=False)

    assert run.points["tag.a"].tolist()[1] == "b"
    assert run.points["tag.a"].isna().tolist() == [True, False, True]
    assert run.points["meta.vu"].isna().tolist() == [False, True, True]


def test_escaped_ampersand_decoded(tmp_path: Path) -> None:
    path = tmp_path / "amp.json"
    line = point_line("m", "2024-06-01T10:00:00Z", 1, {"url": "http://h/?a=1&b=2"})
    path.write_text(metric_line("m") + line.replace("&", "\\u0026"))

    run = load(path, cache=False)

    assert run.points["tag.url"].iloc[0] == "http://h/?a=1&b=2"


def test_point_before_metric_line_warns(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(point_line("mystery", "2024-06-01T10:00:00Z", 1, None))

    run = load(path, cache=False)

    assert [w.code for w in run.warnings] == ["metric-undefined"]
    assert "mystery" in run.warnings[0].message


# ---------------------------------------------------------------------------
# Files without points


def test_empty_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(b"")

    with pytest.raises(InputError, match=r"empty\.json: file is empty"):
        load(path, cache=False)


def test_metric_lines_only_warns(tmp_path: Path) -> None:
    path = tmp_path / "nopoints.json"
    path.write_text(metric_line("http_req_duration"))

    run = load(path, cache=False)

    assert len(run.points) == 0
    assert list(run.points.columns) == ["time", "metric", "value"]
    assert [w.code for w in run.warnings] == ["no-samples"]


def test_only_truncated_line_rejected(tmp_path: Path) -> None:
    path = tmp_path / "half.json"
    path.write_text('{"type":"Metric","data":{"name":"vu')

    with pytest.raises(InputError, match="no line of the file is a k6 Metric or Point"):
        load(path, cache=False)


def test_gzip_of_nothing_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.json.gz"
    path.write_bytes(gzip.compress(b""))

    with pytest.raises(InputError, match="file is empty"):
        load(path, cache=False)


# ---------------------------------------------------------------------------
# Progress


def test_progress_bar_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("PERFREPORT_QUIET", raising=False)

    load(DATA / "twenty-durations-unsorted.ndjson", cache=False, progress=True)

    captured = capsys.readouterr()
    assert "twenty-durations-unsorted.ndjson [" in captured.err
    assert "100%" in captured.err
    assert captured.out == ""


def test_progress_bar_hidden_when_quiet(
    capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("PERFREPORT_QUIET", "1")

    load(DATA / "twenty-durations-unsorted.ndjson", cache=False, progress=True)

    assert capsys.readouterr().err == ""


def test_fast_path_rejects_many_objects_with_number() -> None:
    lines = [
        point_line("m", "2024-06-01T10:00:00Z", 1, {"a": "b"}, {"iter": str(i)})
        for i in range(400)
    ]
    lines.append(point_line("m", "2024-06-01T10:00:00Z", 1, {"a": "b"}, {"iter": 5}))

    with pytest.raises(k6_json_duckdb.FastPathRejected):
        k6_json_duckdb.parse_points("".join(lines).encode(), len(lines))


def test_concatenated_gzip_members(tmp_path: Path) -> None:
    first = metric_line("m") + point_line("m", "2024-06-01T10:00:00Z", 1, None)
    second = point_line("m", "2024-06-01T10:00:01Z", 2, None)
    path = tmp_path / "joined.json.gz"
    path.write_bytes(gzip.compress(first.encode()) + gzip.compress(second.encode()))

    run = load(path, cache=False)

    assert run.points["value"].tolist() == [1.0, 2.0]
    assert run.stats.gzip_incomplete is False
