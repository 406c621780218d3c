"""The public API in perfreport/__init__.py, on the shipped sample runs.

Expected values are computed here independently (numpy percentiles, point
counts) or taken from the command line run on the same files, never copied
from perfreport's output.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

import perfreport as pr
from perfreport.analysis.summary import endpoint_keys
from perfreport.analysis.thresholds import evaluate_thresholds as analysis_thresholds
from perfreport.cli import app

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = REPO_ROOT / "sample_data"
REDIS_DATA = Path(__file__).resolve().parent / "data" / "redis"
ENDPOINT = "GET /api/stats"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def baseline() -> pr.Run:
    return pr.load(SAMPLE / "baseline.json.gz")


@pytest.fixture(scope="module")
def stress() -> pr.Run:
    return pr.load(SAMPLE / "stress.json.gz")


@pytest.fixture(scope="module")
def comparison(baseline: pr.Run, stress: pr.Run) -> pr.Comparison:
    return pr.compare(baseline, stress)


def _same(left: object, right: object) -> bool:
    """Equality where None, NaN and pandas' NA all mean "no value"."""
    left_missing = (
        left is None or left is pd.NA or (isinstance(left, float) and math.isnan(left))
    )
    right_missing = (
        right is None
        or right is pd.NA
        or (isinstance(right, float) and math.isnan(right))
    )
    if left_missing or right_missing:
        return left_missing and right_missing
    if isinstance(left, (float, np.floating)) or isinstance(
        right, (float, np.floating)
    ):
        return float(left) == pytest.approx(float(right), rel=1e-12, abs=1e-12)
    return left == right


# ------------------------------------------------------------------ the package


def test_all_names_exist() -> None:
    missing = [name for name in pr.__all__ if not hasattr(pr, name)]
    assert missing == []


def test_version_matches_metadata() -> None:
    assert pr.__version__ == metadata.version("perfreport")


def test_version_falls_back_to_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    from perfreport import api

    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(api.importlib_metadata, "version", not_installed)
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        expected = tomllib.load(handle)["project"]["version"]
    assert api.package_version() == expected


def test_error_classes_form_one_family() -> None:
    for name in (
        "InputError",
        "UsageError",
        "FrameError",
        "CriteriaError",
        "RemoteError",
    ):
        assert issubclass(getattr(pr, name), pr.PerfreportError)
    assert issubclass(pr.FrameError, ValueError)
    assert issubclass(pr.FrameError, pr.InputError)


def test_import_keeps_matplotlib_backend() -> None:
    # A notebook's backend (inline) must survive importing and plotting.
    code = (
        "import matplotlib, perfreport as pr\n"
        f"run = pr.load({str(SAMPLE / 'stress.json.gz')!r})\n"
        "pr.plot_latency_over_time(run)\n"
        "print(matplotlib.get_backend())\n"
    )
    env = {**os.environ, "MPLBACKEND": "svg"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "svg"


# ----------------------------------------------------------------- load and frames


def test_load_path_reads_raw_points(stress: pr.Run) -> None:
    assert stress.kind == "k6-json"
    assert stress.name == "stress"
    assert stress.points is not None
    assert len(stress.points) > 0


def test_load_summary_file_has_statistics() -> None:
    run = pr.load(SAMPLE / "stress.summary-export.json")
    assert run.points is None
    assert run.statistics is not None
    assert not pr.summarize(run).empty


def test_load_dataframe_builds_frame_run(stress: pr.Run) -> None:
    run = pr.load(stress.points, name="copy")
    assert run.kind == "frame"
    assert run.name == "copy"
    assert len(run.points) == len(stress.points)
    assert isinstance(run.points["tag.name"].dtype, pd.CategoricalDtype)
    assert isinstance(run.points["metric"].dtype, pd.CategoricalDtype)


def test_load_path_rejects_frame_options() -> None:
    with pytest.raises(pr.UsageError, match="apply to a DataFrame"):
        pr.load(SAMPLE / "stress.json.gz", duration_s=10.0)


def test_from_frame_matches_parent_endpoint(stress: pr.Run) -> None:
    subset = stress.points[stress.points["tag.name"] == ENDPOINT]
    run = pr.from_frame(
        subset, name="one endpoint", metrics=stress.metrics,
        duration_s=pr.run_duration_s(stress),
    )  # fmt: skip
    alone = pr.summarize(run, by="none").drop(columns="endpoint")
    parent = pr.summarize(stress)
    expected = parent[parent["endpoint"] == ENDPOINT].drop(columns="endpoint")
    pd.testing.assert_frame_equal(
        alone.reset_index(drop=True), expected.reset_index(drop=True)
    )


def test_from_frame_infers_builtin_metrics(stress: pr.Run) -> None:
    subset = stress.points[stress.points["tag.name"] == ENDPOINT]
    run = pr.from_frame(subset, duration_s=pr.run_duration_s(stress))
    assert run.metrics["http_req_duration"].type == "trend"
    assert run.metrics["http_req_duration"].unit == "ms"
    assert run.metrics["http_reqs"].type == "counter"
    assert run.metrics["http_req_failed"].type == "rate"
    assert run.warnings == []
    inferred = pr.summarize(run, by="none")
    parent = pr.summarize(stress)
    for metric, statistic in (
        ("http_req_duration", "p(95)"),
        ("http_req_duration", "avg"),
        ("http_reqs", "rate"),
        ("http_req_failed", "rate"),
    ):
        got = inferred[
            (inferred["metric"] == metric) & (inferred["statistic"] == statistic)
        ]["value"].item()
        want = parent[
            (parent["metric"] == metric)
            & (parent["endpoint"] == ENDPOINT)
            & (parent["statistic"] == statistic)
        ]["value"].item()
        assert got == pytest.approx(want, rel=1e-12), (metric, statistic)


def test_from_frame_guesses_custom_metrics(stress: pr.Run) -> None:
    custom = stress.points[
        stress.points["metric"].isin(["cache_hits", "cache_hit_rate"])
    ]
    run = pr.from_frame(custom)
    assert run.metrics["cache_hits"].type == "counter"
    assert run.metrics["cache_hit_rate"].type == "rate"
    codes = [w.code for w in run.warnings]
    assert codes == ["guessed-metric-type"]
    assert "metrics=run.metrics" in run.warnings[0].message


def test_from_frame_missing_columns_raise() -> None:
    frame = pd.DataFrame({"timestamp": [1.0], "value": [2.0]})
    with pytest.raises(pr.FrameError) as caught:
        pr.from_frame(frame)
    message = str(caught.value)
    assert "'time'" in message
    assert "'metric'" in message
    assert "'timestamp'" in message
    with pytest.raises(ValueError):
        pr.load(frame)


def test_from_frame_rejects_bad_columns() -> None:
    base = {
        "time": pd.to_datetime(["2026-01-01T00:00:00Z"]),
        "metric": ["http_reqs"],
        "value": [1.0],
    }
    numeric_time = dict(base, time=[1.7e9])
    text_values = dict(base, value=["fast"])
    with pytest.raises(pr.FrameError, match="pd.to_datetime"):
        pr.from_frame(pd.DataFrame(numeric_time))
    with pytest.raises(pr.FrameError, match="pd.to_numeric"):
        pr.from_frame(pd.DataFrame(text_values))
    with pytest.raises(pr.FrameError, match="no rows"):
        pr.from_frame(pd.DataFrame(base).iloc[0:0])


def test_from_frame_warning_codes() -> None:
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(["2026-01-01 00:00:00", "2026-01-01 00:00:01"]),
            "metric": ["http_reqs", "http_reqs"],
            "value": [1.0, 1.0],
            "name": ["a", "b"],
        }
    )
    run = pr.from_frame(frame)
    assert [w.code for w in run.warnings] == ["dropped-columns", "naive-time"]
    assert str(run.points["time"].dtype) == "datetime64[ns, UTC]"
    assert "name" not in run.points.columns


# ------------------------------------------------------------------ analysis


def test_summarize_p95_matches_numpy(stress: pr.Run) -> None:
    summary = pr.summarize(stress)
    durations = stress.points.loc[
        stress.points["metric"] == "http_req_duration", "value"
    ].to_numpy()
    got = summary[
        (summary["metric"] == "http_req_duration")
        & (summary["endpoint"] == "")
        & (summary["statistic"] == "p(95)")
    ]["value"].item()
    assert got == pytest.approx(np.percentile(durations, 95, method="linear"))


def test_key_figures_count_requests(stress: pr.Run) -> None:
    figures = pr.key_figures(stress)
    requests = stress.points.loc[stress.points["metric"] == "http_reqs", "value"]
    failed = stress.points.loc[stress.points["metric"] == "http_req_failed", "value"]
    assert figures.requests == requests.sum()
    assert figures.error_rate == pytest.approx(failed.mean())
    assert figures.throughput_rps == pytest.approx(
        requests.sum() / pr.run_duration_s(stress)
    )
    html = figures._repr_html_()
    assert "req/s" in html
    assert " %" in html


def test_thresholds_match_analysis(stress: pr.Run) -> None:
    results = pr.evaluate_thresholds(stress)
    assert list(results) == analysis_thresholds(stress)
    assert len(results) > 0
    frame = results.to_frame()
    assert list(frame["expression"]) == [r.expression for r in results]
    assert results.passed == all(r.ok is True for r in results)
    html = results._repr_html_()
    assert "threshold(s)" in html
    assert " ms</td>" in html


def test_compare_frame_has_verdicts(comparison: pr.Comparison) -> None:
    frame = comparison.to_frame()
    assert set(frame["verdict"]) <= {"better", "worse", "~", "untested"}
    assert (frame["method"] != "").any()


def test_cli_compare_json_equals_api(comparison: pr.Comparison) -> None:
    result = CliRunner().invoke(
        app,
        ["compare", str(SAMPLE / "baseline.json.gz"), str(SAMPLE / "stress.json.gz"),
         "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    frame = comparison.to_frame()
    assert len(rows) == len(frame)
    for cli_row, api_row in zip(rows, frame.to_dict(orient="records")):
        assert set(cli_row) == set(api_row)
        for column, value in api_row.items():
            assert _same(cli_row[column], value), (api_row["metric"], column)


# ------------------------------------------------------------------ plots


def test_plots_return_figures_without_pyplot(
    baseline: pr.Run, stress: pr.Run, comparison: pr.Comparison
) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figures = {
        "latency": pr.plot_latency_over_time(stress, percentiles=(50, 99), window="2s"),
        "endpoint latency": pr.plot_latency_over_time(stress, endpoint=ENDPOINT),
        "distribution": pr.plot_distribution(baseline, stress, endpoint=ENDPOINT),
        "throughput": pr.plot_throughput(stress, window=5),
        "endpoint p95": pr.plot_endpoint_p95(comparison),
    }
    assert plt.get_fignums() == before
    for name, figure in figures.items():
        assert isinstance(figure, Figure), name
        assert figure._repr_png_().startswith(b"\x89PNG"), name


def test_latency_plot_labels_units(stress: pr.Run) -> None:
    figure = pr.plot_latency_over_time(stress, percentiles=(50, 95), window="1s")
    axes = figure.axes[0]
    assert axes.get_ylabel() == "http_req_duration (ms)"
    assert "1 s windows" in axes.get_xlabel()
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert labels == ["p(50)", "p(95)"]


def test_latency_plot_window_percentile(stress: pr.Run) -> None:
    figure = pr.plot_latency_over_time(stress, percentiles=(95,), window="5s")
    line = figure.axes[0].get_lines()[0]
    points = stress.points
    durations = points[points["metric"] == "http_req_duration"]
    elapsed = (durations["time"] - points["time"].min()).dt.total_seconds()
    first = durations.loc[elapsed < 5, "value"].to_numpy()
    assert line.get_ydata()[0] == pytest.approx(np.percentile(first, 95))


def test_throughput_plot_has_vus_axis(stress: pr.Run) -> None:
    figure = pr.plot_throughput(stress)
    assert len(figure.axes) == 2
    assert figure.axes[0].get_ylabel() == "requests per second (req/s)"
    assert figure.axes[1].get_ylabel() == "active VUs"


def test_plot_errors_name_the_fix(stress: pr.Run) -> None:
    with pytest.raises(pr.UsageError, match="its endpoints are"):
        pr.plot_latency_over_time(stress, endpoint="GET /nowhere")
    with pytest.raises(pr.UsageError, match="'5 parsecs'"):
        pr.plot_throughput(stress, window="5 parsecs")
    with pytest.raises(pr.UsageError, match="percentiles"):
        pr.plot_latency_over_time(stress, percentiles=(0,))
    with pytest.raises(pr.UsageError, match="no 'grpc_req_duration' samples"):
        pr.plot_latency_over_time(stress, metric="grpc_req_duration")
    summary_only = pr.load(SAMPLE / "stress.summary-export.json")
    with pytest.raises(pr.InputError, match="no raw samples"):
        pr.plot_throughput(summary_only)


# ------------------------------------------------------------------ HTML display


def _hostile_run() -> pr.Run:
    times = pd.to_datetime(
        ["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"]
    )
    frame = pd.DataFrame(
        {
            "time": times,
            "metric": ["http_req_duration", "http_req_duration", HOSTILE],
            "value": [10.0, 12.0, 1.0],
            "tag.name": [HOSTILE, HOSTILE, HOSTILE],
        }
    )
    return pr.from_frame(frame, name=HOSTILE, source=HOSTILE)


def test_run_html_escapes_input() -> None:
    html = _hostile_run()._repr_html_()
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert "guessed-metric-type" in html


def test_comparison_html_escapes_input() -> None:
    run = _hostile_run()
    html = pr.compare(run, run, significance=False)._repr_html_()
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


def test_thresholds_html_escapes_input() -> None:
    run = _hostile_run()
    run.metrics[HOSTILE] = pr.MetricDef(HOSTILE, "counter", thresholds=("count<5",))
    html = pr.evaluate_thresholds(run)._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "pass" in html


def test_key_figures_html_escapes_input() -> None:
    hostile_tag = "tag.cache_hit" + HOSTILE
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"]),
            "metric": ["http_reqs", "http_reqs"],
            "value": [1.0, 1.0],
            hostile_tag: ["true", "false"],
        }
    )
    figures = pr.key_figures(pr.from_frame(frame))
    assert figures.cache_hit_rate == 0.5
    html = figures._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_run_html_shows_facts(stress: pr.Run) -> None:
    html = stress._repr_html_()
    assert "stress" in html
    assert "k6-json" in html
    assert f"{len(stress.points):,}" in html
    assert "time range (UTC)" in html
    assert "http_req_duration" in html


# ------------------------------------------------------------------ report, server


def test_report_markdown_equals_cli(baseline: pr.Run, stress: pr.Run) -> None:
    criteria = SAMPLE / "staging-criteria.toml"
    text = pr.report(
        SAMPLE / "baseline.json.gz", SAMPLE / "stress.json.gz", criteria=criteria
    )
    result = CliRunner().invoke(
        app,
        ["report", "--baseline", str(SAMPLE / "baseline.json.gz"),
         "--run", str(SAMPLE / "stress.json.gz"), "--criteria", str(criteria),
         "--format", "markdown"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert isinstance(text, str)
    assert text == result.stdout


def test_report_writes_markdown_with_charts(
    baseline: pr.Run, stress: pr.Run, tmp_path: Path
) -> None:
    output = pr.report(baseline, stress, output=tmp_path / "report.md")
    assert output == tmp_path / "report.md"
    assert output.read_text(encoding="utf-8").startswith("# ")
    assert list((tmp_path / "report_charts").glob("*.png"))


def test_report_rejects_bad_format(stress: pr.Run) -> None:
    with pytest.raises(pr.UsageError, match="invalid report format"):
        pr.report(None, stress, format="docx")
    with pytest.raises(pr.UsageError, match="needs output"):
        pr.report(None, stress, format="pdf")


def test_read_prometheus_folder() -> None:
    folder = SAMPLE / "prometheus" / "stress"
    frames = pr.read_prometheus(folder)
    assert [list(f.queries) for f in frames] == [
        [p.name.split(".")[0]] for p in sorted(folder.glob("*.json"))
    ]
    connections = pr.select_series(
        next(f for f in frames if "db_connections_active" in f.queries).frame,
        "db_connections_active",
    )
    summary = pr.summarize_series(connections)
    assert summary.n_points == len(connections)
    assert summary.maximum == connections.max()


def test_redis_snapshots_give_hit_ratio() -> None:
    before = pr.read_redis_info(REDIS_DATA / "stats-before.txt")
    after = pr.read_redis_info(REDIS_DATA / "stats-after.txt")
    hits = after.keyspace_hits - before.keyspace_hits
    misses = after.keyspace_misses - before.keyspace_misses
    ratio = pr.cache_hit_ratio_from_redis(before, after)
    assert ratio.hit_percent == pytest.approx(100.0 * hits / (hits + misses))


def test_endpoint_keys_cover_drilled_endpoint(stress: pr.Run) -> None:
    # The notebook filters on tag.name; the plots filter on endpoint keys.
    by_tag = stress.points["tag.name"] == ENDPOINT
    by_key = endpoint_keys(stress.points) == ENDPOINT
    assert (by_tag.fillna(False).to_numpy() == by_key.to_numpy()).all()
