"""Report charts as matplotlib Figures.

Every function builds a :class:`matplotlib.figure.Figure` directly on its own
Agg canvas, never through pyplot or ``matplotlib.use``, so no global figure state
or backend change leaks between calls or into a notebook. Sizes fit an A4 page's
text width (6.7 inches). A function returns None when its runs
lack the data the chart needs, and the report then states that in one line.

Percentiles over time use k6's rule in each window: sort the samples, take
index i = p * (n - 1) and interpolate linearly between the neighbours (the
"linear" interpolation of pandas' ``quantile``, its default).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from perfreport.model import Run

A4_WIDTH_IN = 6.7
CHART_HEIGHT_IN = 2.7
PNG_DPI = 200
TARGET_WINDOWS = 40
PERCENTILES = (50.0, 95.0, 99.0)
LABEL_WIDTH_CHARS = 28
# A CDF drawn from more points than this is thinned to evenly spaced ranks;
# 2,000 steps are finer than an A4 chart at 200 dpi (1,340 px wide) can show.
CDF_MAX_POINTS = 2000


def _new_figure(height_in: float = CHART_HEIGHT_IN) -> Figure:
    # Each figure gets its own Agg canvas, so the process-wide backend (a
    # notebook's, for instance) is never switched.
    figure = Figure(figsize=(A4_WIDTH_IN, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plain_label(text: str) -> str:
    """Return a label that matplotlib draws literally (``$`` would start mathtext)."""
    return text.replace("\\", "\\\\").replace("$", r"\$")


def _wrapped(text: str, width: int = LABEL_WIDTH_CHARS) -> str:
    lines = textwrap.wrap(text, width=width, break_long_words=True) or [""]
    if len(lines) > 3:
        lines = lines[:2] + [lines[2][: width - 1] + "…"]
    return plain_label("\n".join(lines))


def _metric_points(run: Run, metric: str) -> pd.DataFrame | None:
    if run.points is None:
        return None
    points = run.points
    selected = points[points["metric"] == metric]
    if selected.empty:
        return None
    start = points["time"].min()
    elapsed_s = (selected["time"] - start).dt.total_seconds()
    return pd.DataFrame(
        {"elapsed_s": elapsed_s.to_numpy(), "value": selected["value"].to_numpy()}
    )


def window_seconds(duration_s: float) -> float:
    """Return a window length giving about 40 windows, rounded to 1, 2, 5 × 10^k s."""
    if duration_s <= 0:
        return 1.0
    raw = duration_s / TARGET_WINDOWS
    exponent = np.floor(np.log10(raw)) if raw > 0 else 0.0
    for step in (1.0, 2.0, 5.0, 10.0):
        candidate = step * 10**exponent
        if candidate >= raw:
            return float(max(candidate, 1.0))
    return float(max(raw, 1.0))


def _windowed(frame: pd.DataFrame, window_s: float) -> pd.core.groupby.DataFrameGroupBy:
    start_s = (frame["elapsed_s"] // window_s) * window_s
    return frame.assign(window_s=start_s).groupby("window_s", sort=True)["value"]


def latency_over_time(
    run: Run, *, metric: str = "http_req_duration", window_s: float | None = None
) -> Figure | None:
    """Plot p50, p95 and p99 of ``metric`` (ms) in time windows of one run."""
    frame = _metric_points(run, metric)
    if frame is None:
        return None
    window_s = window_s or window_seconds(float(frame["elapsed_s"].max()))
    grouped = _windowed(frame, window_s)
    figure = _new_figure()
    axes = figure.add_subplot()
    for percentile in PERCENTILES:
        series = grouped.quantile(percentile / 100.0)
        axes.plot(
            series.index, series.to_numpy(), marker=".", label=f"p({percentile:g})"
        )
    axes.set_xlabel(f"elapsed time (s), {window_s:g} s windows")
    axes.set_ylabel(f"{plain_label(metric)} (ms)")
    axes.set_title(plain_label(f"Latency percentiles over time: {run.name}"))
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize="small")
    return figure


def latency_cdf(
    baseline: Run | None,
    candidates: Sequence[Run],
    *,
    metric: str = "http_req_duration",
) -> Figure | None:
    """Plot the empirical CDF of ``metric`` (ms) for the baseline and each candidate."""
    runs = ([baseline] if baseline is not None else []) + list(candidates)
    curves = []
    for run in runs:
        frame = _metric_points(run, metric)
        if frame is not None:
            curves.append((run, np.sort(frame["value"].to_numpy())))
    if not curves:
        return None
    figure = _new_figure()
    axes = figure.add_subplot()
    for run, values in curves:
        share = np.arange(1, len(values) + 1) / len(values)
        if len(values) > CDF_MAX_POINTS:
            keep = np.linspace(0, len(values) - 1, CDF_MAX_POINTS).round().astype(int)
            values, share = values[keep], share[keep]
        style = "--" if run is baseline else "-"
        label = run.name
        if run is baseline and "baseline" not in run.name:
            label = f"{run.name} (baseline)"
        axes.step(
            values, share, where="post", linestyle=style, label=plain_label(label)
        )
    positive = [v[v > 0] for _, v in curves if (v > 0).any()]
    if (
        positive
        and max(v.max() for v in positive) / min(v.min() for v in positive) > 50
    ):
        axes.set_xscale("log")
    axes.set_xlabel(f"{plain_label(metric)} (ms)")
    axes.set_ylabel("share of requests")
    axes.set_ylim(0, 1.01)
    axes.set_title("Latency distribution (CDF)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    return figure


def throughput_over_time(run: Run, *, window_s: float | None = None) -> Figure | None:
    """Plot requests per second and active VUs (second axis) over one run."""
    requests = _metric_points(run, "http_reqs")
    if requests is None:
        return None
    window_s = window_s or window_seconds(float(requests["elapsed_s"].max()))
    rate = _windowed(requests, window_s).sum() / window_s
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(
        rate.index, rate.to_numpy(), color="tab:blue", marker=".", label="requests/s"
    )
    axes.set_xlabel(f"elapsed time (s), {window_s:g} s windows")
    axes.set_ylabel("requests per second (req/s)")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()

    vus = _metric_points(run, "vus")
    if vus is not None:
        vu_axes = axes.twinx()
        vu_series = _windowed(vus, window_s).max()
        vu_axes.step(
            vu_series.index,
            vu_series.to_numpy(),
            where="post",
            color="tab:orange",
            label="VUs",
        )
        vu_axes.set_ylabel("active VUs")
        vu_axes.set_ylim(bottom=0)
        more_handles, more_labels = vu_axes.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    figure.legend(
        handles, labels, loc="outside lower center", ncols=2, fontsize="small"
    )
    axes.set_title(plain_label(f"Throughput and VUs: {run.name}"))
    return figure


def endpoint_bars(
    values_ms: pd.DataFrame,
    *,
    statistic: str = "p(95)",
    baseline_name: str | None = None,
) -> Figure | None:
    """Plot a statistic per endpoint as horizontal bars, one bar per run.

    ``values_ms`` has the columns ``endpoint``, ``run`` and ``value`` (ms); runs
    are drawn in the order they first appear. Long endpoint names wrap.
    """
    if values_ms.empty:
        return None
    endpoints = list(dict.fromkeys(values_ms["endpoint"]))
    runs = list(dict.fromkeys(values_ms["run"]))
    height = max(CHART_HEIGHT_IN, 1.2 + 0.16 * len(endpoints) * max(len(runs), 1))
    figure = _new_figure(min(height, 8.0))
    axes = figure.add_subplot()
    bar_height = 0.8 / len(runs)
    positions = np.arange(len(endpoints))
    for i, run in enumerate(runs):
        subset = values_ms[values_ms["run"] == run].set_index("endpoint")["value"]
        heights = [float(subset.get(e, np.nan)) for e in endpoints]
        label = run
        if run == baseline_name and "baseline" not in run:
            label = f"{run} (baseline)"
        axes.barh(
            positions + (i - (len(runs) - 1) / 2) * bar_height,
            heights,
            height=bar_height,
            label=plain_label(label),
        )
    axes.set_yticks(positions, [_wrapped(e) for e in endpoints], fontsize="small")
    axes.invert_yaxis()
    axes.set_xlabel(f"{statistic} response time (ms)")
    axes.set_title(f"{statistic} per endpoint, before and after")
    axes.grid(axis="x", alpha=0.3)
    figure.legend(loc="outside lower center", ncols=min(len(runs), 4), fontsize="small")
    return figure


def _rate_over_time(
    runs: Sequence[Run], metric: str, ylabel: str, title: str, window_s: float | None
) -> Figure | None:
    frames: list[tuple[Run, pd.DataFrame]] = []
    for run in runs:
        frame = _metric_points(run, metric)
        if frame is not None:
            frames.append((run, frame))
    if not frames:
        return None
    longest_s = max(float(frame["elapsed_s"].max()) for _, frame in frames)
    window_s = window_s or window_seconds(longest_s)
    figure = _new_figure()
    axes = figure.add_subplot()
    for run, frame in frames:
        share = _windowed(frame, window_s).mean() * 100.0
        axes.plot(
            share.index, share.to_numpy(), marker=".", label=plain_label(run.name)
        )
    axes.set_xlabel(f"elapsed time (s), {window_s:g} s windows")
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0, top=max(axes.get_ylim()[1], 1.0))
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return figure


def error_rate_over_time(
    runs: Sequence[Run], *, window_s: float | None = None
) -> Figure | None:
    """Plot the share of failed requests (``http_req_failed``, %) over time per run."""
    return _rate_over_time(
        runs, "http_req_failed", "failed requests (%)", "Error rate over time", window_s
    )


def cache_hit_rate_over_time(
    runs: Sequence[Run],
    *,
    metric: str = "cache_hit_rate",
    window_s: float | None = None,
) -> Figure | None:
    """Plot a k6 Rate metric of cache hits (%) over time per run."""
    return _rate_over_time(
        runs, metric, "cache hits (%)", "Cache hit rate over time", window_s
    )


def gauge_over_time(
    series: Mapping[str, pd.Series], *, ylabel: str, title: str
) -> Figure | None:
    """Plot gauge readings over time, one line per named series.

    Each series has a UTC DatetimeIndex; the x axis is seconds since that
    series' first reading, so runs recorded one after another overlay. Used for
    database connections and memory from Prometheus.
    """
    series = {name: s.dropna() for name, s in series.items() if s is not None}
    series = {name: s for name, s in series.items() if not s.empty}
    if not series:
        return None
    figure = _new_figure()
    axes = figure.add_subplot()
    for name, values in series.items():
        elapsed_s = (values.index - values.index.min()).total_seconds()
        axes.plot(elapsed_s, values.to_numpy(), label=plain_label(name))
    axes.set_xlabel("elapsed time since each series' start (s)")
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return figure


def save_png(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG at :data:`PNG_DPI` and return the path."""
    figure.savefig(path, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return path


def png_bytes(figure: Figure) -> bytes:
    """Return ``figure`` as PNG bytes at :data:`PNG_DPI`."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return buffer.getvalue()
