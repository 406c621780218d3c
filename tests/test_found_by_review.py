"""Bad inputs and options found by a hostile review. Each comment names the condition.

Every bad input should end with one `Error: FILE[:LINE]: ...` line and exit status 2,
with no traceback, and good data beside bad data must not vanish silently.
"""

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from perfreport.cli import app

SAMPLE = Path(__file__).parent.parent / "sample_data"
PROMETHEUS_RESPONSE = SAMPLE / "prometheus" / "stress" / "db_connections_active.json"

TREND_METRIC_LINE = json.dumps(
    {
        "type": "Metric",
        "data": {"name": "http_req_duration", "type": "trend", "contains": "time",
                 "thresholds": [], "submetrics": None},
        "metric": "http_req_duration",
    }
)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def point_line(value, second, tags=None):
    data = {"time": f"2026-12-04T16:35:{second:02d}Z", "value": value, "tags": tags or {}}
    return json.dumps({"metric": "http_req_duration", "type": "Point", "data": data})


def assert_clean_error(result, *fragments):
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def write_run(path, values):
    lines = [TREND_METRIC_LINE] + [point_line(v, i) for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    return path


# A file that is one deeply nested JSON array (RecursionError in detection when found).
def test_deeply_nested_json_file(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    assert_clean_error(invoke("summary", path), str(path))


# A k6 Point line whose tags nest 50,000 objects deep (RecursionError in ingest when found).
def test_deeply_nested_tags_line(tmp_path):
    nested = '{"a":' * 50_000 + "1" + "}" * 50_000
    bad_line = (
        '{"metric":"http_req_duration","type":"Point","data":'
        '{"time":"2026-12-04T16:35:00Z","value":1,"tags":' + nested + "}}"
    )
    path = tmp_path / "deep-tags.json"
    path.write_text(TREND_METRIC_LINE + "\n" + bad_line + "\n")
    assert_clean_error(invoke("summary", path), f"{path}:2")


# A deeply nested file given as a saved Prometheus response (RecursionError when found).
def test_prometheus_response_deeply_nested(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    assert_clean_error(invoke("prometheus", "--response", path, "-o", tmp_path / "p.parquet"), str(path))


# A NaN literal in one Trend value. When found, avg and every percentile became
# "no samples", so the finite values beside it were lost without an error.
def test_nan_value_names_its_line(tmp_path):
    path = tmp_path / "nan.json"
    lines = [TREND_METRIC_LINE, point_line(1.0, 0), point_line(2.0, 1)]
    lines.append(point_line(3.0, 2).replace('"value": 3.0', '"value": NaN'))
    path.write_text("\n".join(lines) + "\n")
    assert_clean_error(invoke("summary", path), f"{path}:4")


# An Infinity literal, which k6 cannot write either (avg became "inf s" when found).
def test_infinity_value_names_its_line(tmp_path):
    path = tmp_path / "inf.json"
    lines = [TREND_METRIC_LINE, point_line(1.0, 0)]
    lines.append(point_line(3.0, 1).replace('"value": 3.0', '"value": Infinity'))
    path.write_text("\n".join(lines) + "\n")
    assert_clean_error(invoke("summary", path), f"{path}:3")


# A negative http_req_duration (accepted silently as the min when found).
def test_negative_duration_is_reported(tmp_path):
    path = write_run(tmp_path / "run.json", [5.0, -3.0, 7.0])
    result = invoke("summary", path)
    output_without_path = result.output.replace(str(path), "FILE").lower()
    assert "negative" in output_without_path or result.exit_code == 2, result.output


# -o naming a directory (IsADirectoryError with a traceback when found).
def test_summary_output_is_directory(tmp_path):
    run = write_run(tmp_path / "run.json", [1.0, 2.0, 3.0])
    target = tmp_path / "outdir"
    target.mkdir()
    assert_clean_error(invoke("summary", run, "-o", target), str(target))


def test_compare_output_is_directory(tmp_path):
    run = write_run(tmp_path / "run.json", [1.0, 2.0, 3.0])
    target = tmp_path / "outdir"
    target.mkdir()
    assert_clean_error(invoke("compare", run, run, "-o", target), str(target))


# ingest -o naming a directory. When found, it failed with a traceback and left a
# hidden `.DIR.tmp` file behind.
def test_ingest_output_is_directory(tmp_path):
    run = write_run(tmp_path / "run.json", [1.0, 2.0, 3.0])
    target = tmp_path / "outdir"
    target.mkdir()
    assert_clean_error(invoke("ingest", run, "-o", target), str(target))
    assert not (tmp_path / ".outdir.tmp").exists()


# ingest -o into a missing directory (FileNotFoundError with a traceback when found).
def test_ingest_output_parent_missing(tmp_path):
    run = write_run(tmp_path / "run.json", [1.0, 2.0, 3.0])
    target = tmp_path / "missing" / "run.parquet"
    assert_clean_error(invoke("ingest", run, "-o", target), str(target.parent))


def test_prometheus_output_is_directory(tmp_path):
    target = tmp_path / "outdir"
    target.mkdir()
    assert_clean_error(invoke("prometheus", "--response", PROMETHEUS_RESPONSE, "-o", target), str(target))


# --metric naming a metric in neither run (an empty table and exit 0 when found).
def test_compare_unknown_metric_rejected(tmp_path):
    run = write_run(tmp_path / "run.json", [1.0, 2.0, 3.0])
    assert_clean_error(invoke("compare", run, run, "--metric", "no_such_metric"), "no_such_metric")


# --confidence 50%, the lower end of the range the help gives ("from 50% to 99.9%").
# When found, it was rejected as outside (0.5, 0.999].
def test_confidence_lower_bound_matches_help(tmp_path):
    run = write_run(tmp_path / "run.json", [1.0, 2.0, 3.0])
    result = invoke("compare", run, run, "--confidence", "50%")
    assert result.exit_code == 0, result.output


# A tag value with an ANSI escape sequence (copied into Markdown output when found).
def test_markdown_strips_ansi_escape(tmp_path):
    tags = {"name": "GET \x1b[31mred\x1b[0m", "method": "GET"}
    lines = [TREND_METRIC_LINE] + [point_line(float(i), i, tags) for i in range(1, 30)]
    path = tmp_path / "ansi.json"
    path.write_text("\n".join(lines) + "\n")
    result = invoke("compare", path, path, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout


# A k6 CSV re-saved with a UTF-8 byte order mark, which the JSON reader accepts.
def test_k6_csv_with_bom(tmp_path):
    header = "metric_name,timestamp,metric_value,check,error,error_code,group,method,name"
    rows = [f"http_req_duration,1796402060,{value}.5,,,,,GET,GET /x" for value in range(1, 6)]
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join([header] + rows) + "\n").encode())
    result = invoke("summary", path, "--format", "json")
    assert result.exit_code == 0, result.output


# A saved Prometheus response with a UTF-8 byte order mark (as PowerShell writes it).
def test_prometheus_response_with_bom(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + PROMETHEUS_RESPONSE.read_bytes())
    result = invoke("prometheus", "--response", path, "-o", tmp_path / "p.parquet")
    assert result.exit_code == 0, result.output


# A raw run rewritten in place with the same size and modification time. When found,
# compare returned the cached statistics of the old content.
def test_cache_detects_changed_content(tmp_path):
    cache_dir = tmp_path / "cache"
    path = write_run(tmp_path / "run.json", [1.0, 2.0, 3.0])
    stat = path.stat()
    args = ["compare", str(path), str(path), "--format", "json"]
    env = {"PERFREPORT_CACHE_DIR": str(cache_dir)}
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 0, first.output

    write_run(path, [7.0, 8.0, 9.0])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    second = CliRunner().invoke(app, args, env=env)
    assert second.exit_code == 0, second.output
    rows = json.loads(second.stdout)["rows"]
    averages = [r["baseline"] for r in rows if r["statistic"] == "avg" and r["endpoint"] == ""]
    assert averages == [8.0]
