"""Report charts: Figures built without pyplot, labelled with units, None without data."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.figure import Figure

from perfreport.ingest import load
from perfreport.render import charts

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def runs():
    return (
        load(SAMPLES / "baseline.json.gz", name="baseline"),
        load(SAMPLES / "load.json.gz", name="load"),
    )


def axis_labels(figure: Figure) -> list[str]:
    return [a.get_xlabel() for a in figure.axes] + [a.get_ylabel() for a in figure.axes]


def test_charts_leave_no_pyplot_state(runs):
    baseline, run = runs
    before = plt.get_fignums()
    figures = [
        charts.latency_over_time(run),
        charts.latency_cdf(baseline, [run]),
        charts.throughput_over_time(run),
        charts.error_rate_over_time([baseline, run]),
        charts.cache_hit_rate_over_time([baseline, run]),
    ]
    assert plt.get_fignums() == before
    assert all(isinstance(f, Figure) for f in figures)


@pytest.mark.parametrize(
    ("build", "unit"),
    [
        (lambda b, r: charts.latency_over_time(r), "(ms)"),
        (lambda b, r: charts.latency_cdf(b, [r]), "(ms)"),
        (lambda b, r: charts.throughput_over_time(r), "(req/s)"),
        (lambda b, r: charts.error_rate_over_time([b, r]), "(%)"),
    ],
)
def test_axes_state_units(runs, build, unit):
    labels = axis_labels(build(*runs))
    assert any(unit in label for label in labels)
    assert any("(s)" in label for label in labels) or unit == "(ms)"


def test_latency_lines_are_percentiles(runs):
    figure = charts.latency_over_time(runs[1])
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["p(50)", "p(95)", "p(99)"]
    p50, p95, p99 = (line.get_ydata() for line in figure.axes[0].get_lines())
    assert all(a <= b <= c for a, b, c in zip(p50, p95, p99))


def test_summary_only_run_has_no_chart():
    baseline = load(SAMPLES / "baseline_metrics.json", name="runbook")
    assert charts.latency_over_time(baseline) is None
    assert charts.throughput_over_time(baseline) is None
    assert charts.latency_cdf(None, [baseline]) is None


def test_long_endpoint_names_wrap():
    name = (
        "GET /api/v2/organisations/{organisation}/projects/{project}/risks?sort=$desc"
    )
    values = pd.DataFrame(
        {"endpoint": [name, name], "run": ["baseline", "load"], "value": [12.0, 4.0]}
    )
    figure = charts.endpoint_bars(values, baseline_name="baseline")
    (tick,) = figure.axes[0].get_yticklabels()
    lines = tick.get_text().split("\n")
    assert len(lines) > 1
    assert max(len(line) for line in lines) <= charts.LABEL_WIDTH_CHARS + 1
    figure.canvas.draw()  # a "$" in the name must not start mathtext


def test_png_at_print_resolution(runs, tmp_path):
    path = charts.save_png(charts.latency_over_time(runs[1]), tmp_path / "c.png")
    from PIL import Image

    with Image.open(path) as image:
        width_px = image.size[0]
    assert width_px >= charts.A4_WIDTH_IN * 200 * 0.95


def test_window_seconds_rounds():
    assert charts.window_seconds(35.0) == 1.0
    assert charts.window_seconds(600.0) == 20.0
    assert charts.window_seconds(3600.0) == 100.0


def test_import_keeps_matplotlib_backend():
    import subprocess
    import sys

    probe = (
        "import matplotlib; matplotlib.use('svg'); "
        "import perfreport.render.charts; print(matplotlib.get_backend())"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "svg"
