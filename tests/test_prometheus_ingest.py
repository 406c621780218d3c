"""Saved Prometheus API responses, the Parquet frame, times, steps and chunks."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from perfreport.analysis.server import select_series, summarize_series
from perfreport.errors import FormatVersionError, InputError, UsageError
from perfreport.ingest.prometheus import (
    FORMAT_VERSION,
    MAX_POINTS_PER_SERIES,
    STAGING_PRESET,
    choose_step,
    format_labels,
    parse_time,
    read_prometheus_parquet,
    read_prometheus_response,
    resolve_queries,
    split_range,
    write_prometheus_parquet,
)
from perfreport.ingest.prometheus_http import (
    credentials_from_env,
    format_seconds,
    redact_url,
)

DATA = Path(__file__).parent / "data" / "prometheus"


def _raw_values(path: Path) -> list[str]:
    payload = json.loads(path.read_text())
    return [text for _, text in payload["data"]["result"][0]["values"]]


def test_string_values_become_floats_with_nan_gaps():
    path = DATA / "avg-latency-with-nan-gap.json"
    raw = _raw_values(path)
    result = read_prometheus_response(path, "avg_latency_seconds")
    frame = result.frame

    assert frame["value"].dtype == np.float64
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert len(frame) == len(raw)
    finite = [float(v) for v in raw if v != "NaN"]
    summary = summarize_series(select_series(frame, "avg_latency_seconds"))
    assert summary.n_finite == len(finite) == 38
    assert summary.n_gaps == raw.count("NaN") == 9
    assert summary.mean == pytest.approx(sum(finite) / len(finite), rel=1e-12)
    assert round(summary.mean, 2) == 0.24
    # A gap stays NaN in the frame: never 0.
    assert frame["value"].isna().sum() == 9
    assert not (frame["value"] == 0).any()
    assert [w.code for w in summary.warnings] == ["gaps"]


def test_plus_inf_is_flagged_and_left_out():
    path = DATA / "errors-per-success-with-inf.json"
    raw = _raw_values(path)
    result = read_prometheus_response(path, "errors_per_success")
    frame = result.frame

    assert frame["infinite"].sum() == 1
    assert frame.loc[frame["infinite"], "value"].iloc[0] == math.inf
    assert [w.code for w in result.warnings] == ["infinite-values"]
    finite = [float(v) for v in raw if v not in ("NaN", "+Inf")]
    summary = summarize_series(select_series(frame, "errors_per_success"))
    assert summary.n_infinite == 1
    assert summary.n_gaps == 9
    assert summary.n_finite == len(finite)
    assert summary.mean == pytest.approx(sum(finite) / len(finite), rel=1e-12)
    assert math.isfinite(summary.time_weighted_mean)
    assert summary.maximum == 3.0


def test_empty_matrix_warns_no_data_with_window():
    request = json.loads((DATA / "empty-matrix.request.json").read_text())["params"]
    start, end = parse_time(request["start"]), parse_time(request["end"])
    result = read_prometheus_response(
        DATA / "empty-matrix.json", "requests_per_second", start=start, end=end
    )

    assert result.frame.empty
    assert list(result.frame.columns) == [
        "time",
        "query",
        "labels",
        "value",
        "infinite",
    ]
    assert len(result.warnings) == 1
    assert result.warnings[0].code == "no-data"
    assert result.warnings[0].message == (
        "no data for requests_per_second from 2024-06-01T10:00:00Z "
        "to 2024-06-01T10:11:45Z"
    )
    summary = summarize_series(select_series(result.frame, "requests_per_second"))
    assert summary.n_points == 0
    assert math.isnan(summary.mean)
    assert [w.code for w in summary.warnings] == ["no-data"]


def test_empty_matrix_without_window_still_warns():
    result = read_prometheus_response(DATA / "empty-matrix.json")
    assert result.warnings[0].message == (
        "no data for empty-matrix in the saved response (the result is empty)"
    )


def test_error_response_names_file_and_error():
    path = DATA / "bad-query-error.json"
    with pytest.raises(InputError) as raised:
        read_prometheus_response(path)
    assert str(raised.value) == (
        f"{path}: the saved response is an error: bad_data: invalid parameter "
        "\"query\": 1:6: parse error: unexpected right parenthesis ')'; "
        "fix the query and save the response again"
    )


def test_non_json_file_names_line():
    path = DATA / "proxy-error-page.html"
    with pytest.raises(InputError) as raised:
        read_prometheus_response(path)
    assert raised.value.line == 1
    assert "not JSON (Expecting value at column 1)" in str(raised.value)


def test_json_that_is_not_a_response(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"data": []}')
    with pytest.raises(InputError, match="no 'status' member"):
        read_prometheus_response(path)


def test_vector_and_labels():
    result = read_prometheus_response(DATA / "vector-result.json", "p95")
    frame = result.frame.set_index("labels")

    assert list(frame.index) == [
        '{handler="/api/risks"}',
        '{handler="/api/stats",instance="api-1:8080"}',
    ]
    assert frame.loc['{handler="/api/stats",instance="api-1:8080"}', "value"] == 0.125
    assert frame.loc['{handler="/api/risks"}', "value"] == -math.inf
    assert pd.isna(frame.loc['{handler="/api/risks"}', "label.instance"])
    assert frame["time"].iloc[0] == pd.Timestamp(1717236015.5, unit="s", tz="UTC")


def test_native_histogram_series_warned(tmp_path):
    path = tmp_path / "native.json"
    series = {"metric": {"job": "api"}, "histograms": [[1717236015, {"count": "3"}]]}
    payload = {
        "status": "success",
        "data": {"resultType": "matrix", "result": [series]},
    }
    path.write_text(json.dumps(payload))
    result = read_prometheus_response(path, "latency")

    assert result.frame.empty
    codes = [w.code for w in result.warnings]
    assert codes == ["native-histogram", "no-data"]
    assert (
        'series {job="api"} has native histogram samples' in result.warnings[0].message
    )


def test_scalar_result():
    result = read_prometheus_response(DATA / "scalar-result.json", "answer")
    assert result.frame["value"].tolist() == [42.0]
    assert result.frame["labels"].tolist() == ["{}"]


def test_format_labels_escapes_and_sorts():
    text = format_labels({"z": "1", "a": 'say "hi"\\', "m": "two\nlines"})
    assert text == '{a="say \\"hi\\"\\\\",m="two\\nlines",z="1"}'


def test_parquet_round_trip_keeps_metadata(tmp_path):
    source = read_prometheus_response(DATA / "errors-per-success-with-inf.json", "eps")
    out = tmp_path / "frame.parquet"
    write_prometheus_parquet(source, out, "https://user:secret@prom.example:9090/x?a=1")

    meta = json.loads(pq.read_schema(out).metadata[b"perfreport"])
    assert meta["format"] == FORMAT_VERSION
    assert meta["url"] == "https://prom.example:9090/x"
    assert "secret" not in out.read_bytes().decode("latin-1")
    back = read_prometheus_parquet(out)
    pd.testing.assert_frame_equal(back.frame, source.frame)
    assert back.warnings == source.warnings
    assert read_prometheus_response(out).frame.equals(back.frame)


def test_parquet_of_unknown_version_rejected(tmp_path):
    source = read_prometheus_response(DATA / "scalar-result.json")
    out = tmp_path / "frame.parquet"
    write_prometheus_parquet(source, out)
    table = pq.read_table(out)
    meta = json.loads(table.schema.metadata[b"perfreport"])
    meta["format"] = "perfreport-prometheus/9"
    pq.write_table(
        table.replace_schema_metadata({b"perfreport": json.dumps(meta).encode()}), out
    )
    with pytest.raises(FormatVersionError, match="'perfreport-prometheus/9'"):
        read_prometheus_parquet(out)


def test_parse_time_forms():
    utc = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
    assert parse_time("2026-01-05T10:00:00Z") == utc
    assert parse_time("2026-01-05T11:00:00+01:00") == utc
    assert parse_time(str(int(utc.timestamp()))) == utc
    assert parse_time("1767607200.5").microsecond == 500000
    with pytest.raises(UsageError, match="no time zone"):
        parse_time("2026-01-05T10:00:00")
    with pytest.raises(UsageError, match="invalid time 'yesterday'"):
        parse_time("yesterday")


def test_format_seconds_is_plain():
    assert format_seconds(0.5) == "0.5"
    assert format_seconds(15.0) == "15"
    assert format_seconds(1767607200.25) == "1767607200.25"
    assert "e" not in format_seconds(1e-5)


def test_choose_step_respects_point_limit():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for hours in (0.5, 3, 24, 24 * 30):
        end = start.replace(tzinfo=timezone.utc) + pd.Timedelta(hours=hours)
        step = choose_step(start, end)
        assert (end - start).total_seconds() / step + 1 <= MAX_POINTS_PER_SERIES
    assert choose_step(start, start + pd.Timedelta(minutes=10)) == 1.0
    assert choose_step(start, end, 0.5) == 0.5
    with pytest.raises(UsageError):
        choose_step(start, end, 0.0)


def test_split_range_has_no_duplicates_or_holes():
    for start, end, step in ((0.0, 30000.0, 1.0), (100.0, 6000.0, 0.5), (0, 20, 15)):
        chunks = split_range(start, end, step)
        grid = np.concatenate([np.arange(a, b + step / 2, step) for a, b in chunks])
        expected = np.arange(start, end + 1e-9, step)
        assert np.array_equal(grid, expected)
        for a, b in chunks:
            assert (b - a) / step + 1 <= MAX_POINTS_PER_SERIES


def test_redact_url_drops_credentials():
    assert redact_url("https://u:p@prom:9090/prometheus?x=1#f") == (
        "https://prom:9090/prometheus"
    )
    assert redact_url("http://127.0.0.1:9090") == "http://127.0.0.1:9090"


def test_credentials_from_env():
    assert credentials_from_env({}) == ({}, None)
    assert credentials_from_env({"PERFREPORT_PROMETHEUS_TOKEN": "t"}) == (
        {"Authorization": "Bearer t"},
        None,
    )
    env = {"PERFREPORT_PROMETHEUS_USER": "u", "PERFREPORT_PROMETHEUS_PASSWORD": "p"}
    assert credentials_from_env(env) == ({}, ("u", "p"))


def test_preset_is_overridable_copy():
    queries = resolve_queries(None)
    assert queries == STAGING_PRESET
    queries["db_connections_active"] = "max(db_connections_active)"
    assert STAGING_PRESET["db_connections_active"] == "sum(db_connections_active)"
    assert resolve_queries({"a": "up"}) == {"a": "up"}
    with pytest.raises(UsageError, match="unknown --preset 'prod'"):
        resolve_queries(None, "prod")
