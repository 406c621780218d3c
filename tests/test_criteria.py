"""Sign-off criteria: parsing, unit conversion, errors with lines, NO DATA and check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfreport.analysis.criteria import (
    ServerFigures,
    evaluate_criteria,
    load_criteria,
    parse_criteria,
)
from perfreport.cli import app
from perfreport.errors import CriteriaError
from perfreport.ingest import load

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_data"


def criterion_toml(**fields: object) -> str:
    lines = ["[[criterion]]"]
    for key, value in fields.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def baseline():
    return load(SAMPLES / "baseline.json.gz", name="baseline")


@pytest.fixture(scope="module")
def load_run():
    return load(SAMPLES / "load.json.gz", name="load")


# ------------------------------------------------------------------------ parsing


def test_shipped_criteria_parse():
    criteria = load_criteria(SAMPLES / "staging-criteria.toml")
    metrics = [c.metric for c in criteria]
    assert "http_req_duration" in metrics
    assert "cache_hit_rate" in metrics
    assert "memory_leak" in metrics
    assert all(c.line > 0 for c in criteria)


@pytest.mark.parametrize(
    ("metric", "stat", "target", "expected"),
    [
        ("http_req_duration", "p(95)", "500 ms", 500.0),
        ("http_req_duration", "p(95)", "0.5 s", 500.0),
        ("http_req_duration", "p95", "250us", 0.25),
        ("cache_hit_rate", "value", "80 %", 0.8),
        ("cache_hit_rate", "value", 0.8, 0.8),
        ("throughput", "value", "1000 req/s", 1000.0),
        ("throughput", "value", "600 req/min", 10.0),
        ("data_received", "count", "2 MB", 2e6),
        ("data_received", "count", "1 MiB", 1024.0**2),
        ("db_connections", "max", 20, 20.0),
    ],
)
def test_target_units_converted(metric, stat, target, expected):
    text = criterion_toml(metric=metric, stat=stat, op="<", target=target)
    (criterion,) = parse_criteria(text, source="c.toml")
    assert criterion.target == pytest.approx(expected)


def test_relative_targets():
    text = criterion_toml(
        metric="http_req_duration", op="<=", target="-30 %", relative_to="baseline"
    ) + criterion_toml(
        metric="throughput", op=">=", target="2x", relative_to="baseline"
    )
    percent, ratio = parse_criteria(text)
    assert (percent.target, percent.relative_unit) == (-30.0, "%")
    assert (ratio.target, ratio.relative_unit) == (2.0, "x")


def test_separate_unit_key():
    text = criterion_toml(metric="http_req_duration", op="<", target=2, unit="s")
    (criterion,) = parse_criteria(text)
    assert criterion.target == 2000.0


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "criteria.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_operator_names_line_and_fix(tmp_path):
    text = criterion_toml(metric="http_req_duration", op="<", target="1 s")
    text += "\n" + criterion_toml(metric="error_rate", op="=<", target="1 %")
    path = write(tmp_path, text)
    with pytest.raises(CriteriaError) as caught:
        load_criteria(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:8: invalid operator '=<'")
    assert '"<="' in message


def test_bad_unit_names_line_and_fix(tmp_path):
    path = write(
        tmp_path, criterion_toml(metric="http_req_duration", op="<", target="500 kg")
    )
    with pytest.raises(CriteriaError) as caught:
        load_criteria(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:4: invalid unit 'kg' for a time target")
    assert "'ms'" in message


def test_bad_relative_unit(tmp_path):
    text = criterion_toml(
        metric="throughput", op=">", target="5 ms", relative_to="baseline"
    )
    with pytest.raises(CriteriaError, match=r"ratio \(\"2x\"\)"):
        load_criteria(write(tmp_path, text))


def test_share_without_percent_sign(tmp_path):
    text = criterion_toml(metric="cache_hit_rate", op=">", target=80)
    with pytest.raises(CriteriaError, match=r'write "80 %"'):
        load_criteria(write(tmp_path, text))


def test_unknown_metric_suggests_name(tmp_path, load_run):
    path = write(
        tmp_path, criterion_toml(metric="http_req_duraton", op="<", target="1 s")
    )
    with pytest.raises(CriteriaError) as caught:
        load_criteria(path, known_metrics=load_run.metrics)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: unknown metric 'http_req_duraton'")
    assert "did you mean 'http_req_duration'?" in message


def test_unknown_key_suggests_name(tmp_path):
    path = write(tmp_path, criterion_toml(metric="error_rate", op="<", targte="1 %"))
    with pytest.raises(CriteriaError, match=r":4: unknown key 'targte'.*'target'"):
        load_criteria(path)


def test_toml_syntax_error_has_line(tmp_path):
    path = write(tmp_path, '[[criterion]]\nmetric = "error_rate"\nop = <\n')
    with pytest.raises(CriteriaError, match=rf"^{path}:3: not valid TOML"):
        load_criteria(path)


# --------------------------------------------------------------------- evaluation


def test_absolute_pass_and_fail(baseline, load_run):
    summary_p95 = load_run.points  # the run has raw samples, so p(95) is measured
    assert summary_p95 is not None
    text = criterion_toml(
        name="fast", metric="http_req_duration", op="<", target="10 s"
    )
    text += criterion_toml(
        name="impossible", metric="http_req_duration", op="<", target="1 us"
    )
    result = evaluate_criteria(parse_criteria(text), baseline, [load_run])
    fast, impossible = result.rows
    assert fast.verdict == "PASS"
    assert impossible.verdict == "FAIL"
    assert fast.measured == impossible.measured
    assert fast.baseline is not None
    assert not result.passed


def test_missing_metric_is_no_data(baseline, load_run):
    text = criterion_toml(name="grpc", metric="grpc_req_duration", op="<", target="1 s")
    (row,) = evaluate_criteria(parse_criteria(text), baseline, [load_run]).rows
    assert row.verdict == "NO DATA"
    assert "no metric 'grpc_req_duration'" in row.reason


def test_missing_endpoint_is_no_data(baseline, load_run):
    text = criterion_toml(
        metric="http_req_duration", op="<", target="1 s", endpoint="GET /nowhere"
    )
    (row,) = evaluate_criteria(parse_criteria(text), baseline, [load_run]).rows
    assert row.verdict == "NO DATA"
    assert "GET /nowhere" in row.reason


def test_endpoint_criterion_measured(baseline, load_run):
    text = criterion_toml(
        metric="http_req_duration", op="<", target="10 s", endpoint="GET /api/stats"
    )
    (row,) = evaluate_criteria(parse_criteria(text), baseline, [load_run]).rows
    assert row.verdict == "PASS"
    assert row.measured is not None


def test_relative_without_baseline_is_no_data(load_run):
    text = criterion_toml(
        metric="throughput", op=">=", target="2x", relative_to="baseline"
    )
    (row,) = evaluate_criteria(parse_criteria(text), None, [load_run]).rows
    assert row.verdict == "NO DATA"
    assert row.measured is not None


def test_relative_change_computed(baseline, load_run):
    text = criterion_toml(
        metric="throughput", op=">", target="1.01x", relative_to="baseline"
    )
    (row,) = evaluate_criteria(parse_criteria(text), baseline, [load_run]).rows
    assert row.ratio == pytest.approx(row.measured / row.baseline)
    assert row.verdict == ("PASS" if row.ratio > 1.01 else "FAIL")


def test_optional_no_data_passes_gate(baseline, load_run):
    text = criterion_toml(metric="memory_leak", op="==", target=False, optional=True)
    result = evaluate_criteria(parse_criteria(text), baseline, [load_run])
    assert result.rows[0].verdict == "NO DATA"
    assert result.passed


def test_required_no_data_fails_gate(baseline, load_run):
    text = criterion_toml(metric="memory_leak", op="==", target=False)
    result = evaluate_criteria(parse_criteria(text), baseline, [load_run])
    assert result.rows[0].verdict == "NO DATA"
    assert not result.passed


def test_server_figures_judged(baseline, load_run):
    text = criterion_toml(metric="memory_leak", op="==", target=False)
    text += criterion_toml(metric="db_connections", stat="max", op="<", target=20)
    server = {"load": ServerFigures(db_connections={"max": 25.0}, memory_leak=False)}
    leak, connections = evaluate_criteria(
        parse_criteria(text), baseline, [load_run], server=server
    ).rows
    assert leak.verdict == "PASS"
    assert connections.verdict == "FAIL"


def test_unknown_run_is_no_data(baseline, load_run):
    text = criterion_toml(metric="error_rate", op="<", target="1 %", run="soak")
    (row,) = evaluate_criteria(parse_criteria(text), baseline, [load_run]).rows
    assert row.verdict == "NO DATA"
    assert "no run named 'soak'" in row.reason


# ---------------------------------------------------------------- perfreport check

runner = CliRunner()


def run_check(*args: str):
    return runner.invoke(
        app,
        ["check", "--baseline", str(SAMPLES / "baseline.json.gz"),
         "--run", f"load={SAMPLES / 'load.json.gz'}", *args],
    )  # fmt: skip


def test_check_exit_0_when_all_pass(tmp_path):
    path = write(
        tmp_path,
        criterion_toml(name="p95", metric="http_req_duration", op="<", target="10 s"),
    )
    result = run_check("--criteria", str(path))
    assert result.exit_code == 0, result.output
    assert "Gate: PASS" in result.output


def test_check_exit_1_when_one_fails(tmp_path):
    text = criterion_toml(name="p95", metric="http_req_duration", op="<", target="10 s")
    text += criterion_toml(
        name="too fast", metric="http_req_duration", op="<", target="1 us"
    )
    result = run_check("--criteria", str(write(tmp_path, text)))
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output


def test_check_exit_1_on_required_no_data(tmp_path):
    path = write(
        tmp_path,
        criterion_toml(name="leak", metric="memory_leak", op="==", target=False),
    )
    result = run_check("--criteria", str(path))
    assert result.exit_code == 1
    assert "NO DATA" in result.output


def test_check_json_output(tmp_path):
    path = write(
        tmp_path,
        criterion_toml(name="errors", metric="error_rate", op="<", target="1 %"),
    )
    result = run_check("--criteria", str(path), "--format", "json")
    document = json.loads(result.stdout)
    assert document["format_version"] == 1
    assert document["passed"] is (result.exit_code == 0)
    assert document["criteria"][0]["name"] == "errors"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metric": "http_req_duraton", "op": "<", "target": "1 s"}, "unknown metric"),
        ({"metric": "error_rate", "op": "=<", "target": "1 %"}, "invalid operator"),
        (
            {"metric": "http_req_duration", "op": "<", "target": "1 parsec"},
            "invalid unit",
        ),
    ],
)
def test_check_exit_2_on_bad_criteria(tmp_path, fields, message):
    path = write(tmp_path, criterion_toml(**fields))
    result = run_check("--criteria", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}:")
    assert message in result.stderr


def test_check_exit_2_on_missing_run_file(tmp_path):
    path = write(tmp_path, criterion_toml(metric="error_rate", op="<", target="1 %"))
    result = runner.invoke(
        app, ["check", "--run", str(tmp_path / "absent.json"), "--criteria", str(path)]
    )
    assert result.exit_code == 2
    assert "file not found" in result.stderr


def test_check_needs_criteria():
    result = run_check()
    assert result.exit_code == 2
    assert "--criteria" in result.stderr


def test_significant_change_passes(baseline, load_run):
    # The load run has the cache on and the baseline has it off: p(95) drops sharply.
    text = criterion_toml(
        metric="http_req_duration",
        op="<=",
        target="-30 %",
        relative_to="baseline",
        significant=True,
    )
    (row,) = evaluate_criteria(parse_criteria(text), baseline, [load_run]).rows
    assert row.verdict == "PASS"
    assert row.significance == "better"
    assert row.p_value is not None


def test_insignificant_change_fails(baseline):
    # The baseline compared with its own samples changes by 0 %, which meets the
    # target but cannot be significant.
    same = load(SAMPLES / "baseline.json.gz", name="same")
    text = criterion_toml(
        metric="http_req_duration",
        op="<=",
        target="+10 %",
        relative_to="baseline",
        significant=True,
    )
    (row,) = evaluate_criteria(parse_criteria(text), baseline, [same]).rows
    assert row.change_pct == 0.0
    assert row.verdict == "FAIL"
    assert "not statistically significant" in row.reason
