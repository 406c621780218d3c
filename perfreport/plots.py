"""Charts for a notebook: each function returns a new matplotlib Figure.

No function touches pyplot's global state or the matplotlib backend, so
figures never pile up in a notebook or leak between calls, and the user's own
pyplot charts keep their backend. Each Figure shows itself as a PNG in Jupyter
(``_repr_png_``) without ``%matplotlib inline``, and ``figure.savefig(path)``
writes it. Time is on the x axis as seconds since the
run's first sample, latencies are in ms and throughput in requests per second.

Percentiles in time windows follow k6's rule: sort the window's samples, take
index ``p * (n - 1)`` and interpolate linearly between the neighbours.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from perfreport.analysis.compare import Comparison
from perfreport.analysis.summary import endpoint_keys
from perfreport.errors import InputError, UsageError
from perfreport.model import Run

__all__ = [
    "plot_distribution",
    "plot_endpoint_p95",
    "plot_latency_over_time",
    "plot_throughput",
]

FIGURE_SIZE_IN = (9.0, 4.0)
NOTEBOOK_DPI = 100
TARGET_WINDOWS = 40
DEFAULT_PERCENTILES = (50.0, 95.0, 99.0)
LABEL_WIDTH_CHARS = 28
Window = str | float | None


class NotebookFigure(Figure):
    """A Figure that Jupyter shows as a PNG, with no pyplot backend involved."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=NOTEBOOK_DPI)
        return buffer.getvalue()


def _new_figure(height_in: float = FIGURE_SIZE_IN[1]) -> Figure:
    # TODO: share the drawing with perfreport.render.charts, which now draws on
    # its own Agg canvas too; today the report's charts and these are separate.
    return NotebookFigure(figsize=(FIGURE_SIZE_IN[0], height_in), layout="constrained")


def plain_label(text: str) -> str:
    """Return a label that matplotlib draws literally (``$`` would start mathtext)."""
    return text.replace("\\", "\\\\").replace("$", r"\$")


def auto_window_seconds(span_s: float) -> float:
    """Return a window giving about 40 windows over ``span_s``: 1, 2 or 5 × 10^k s."""
    raw = span_s / TARGET_WINDOWS
    if raw <= 1.0:
        return 1.0
    exponent = np.floor(np.log10(raw))
    for step in (1.0, 2.0, 5.0, 10.0):
        if step * 10**exponent >= raw:
            return float(step * 10**exponent)
    return float(raw)


def window_seconds(window: Window, span_s: float) -> float:
    """Return the window length in seconds: ``"5s"``, ``"1min"``, a number, or auto.

    None picks about 40 windows over ``span_s``. Raises UsageError for a window
    that is not a positive duration.
    """
    if window is None:
        return auto_window_seconds(span_s)
    try:
        seconds = (
            float(window)
            if isinstance(window, (int, float))
            else pd.Timedelta(window).total_seconds()
        )
    except ValueError:
        raise UsageError(
            f"invalid window {window!r}; give a duration such as '5s' or '1min'"
        ) from None
    if not seconds > 0:
        raise UsageError(f"invalid window {window!r}; it must be longer than 0 s")
    return seconds


def _checked_points(run: Run) -> pd.DataFrame:
    if run.points is None or run.points.empty:
        raise InputError(
            run.source,
            f"run {run.name!r} has only summary statistics, no raw samples to plot",
            hint="load k6's --out json or CSV output of the run",
        )
    return run.points


def _samples(run: Run, metric: str, endpoint: str | None) -> pd.DataFrame:
    """Return ``elapsed_s`` and ``value`` of one metric's samples, in file order."""
    points = _checked_points(run)
    selected = points["metric"] == metric
    if not selected.any():
        known = ", ".join(sorted(str(m) for m in points["metric"].unique()))
        raise UsageError(f"run {run.name!r} has no {metric!r} samples; it has {known}")
    if endpoint is not None:
        keys = endpoint_keys(points)
        on_endpoint = selected & (keys == endpoint)
        if not on_endpoint.any():
            names = sorted(k for k in keys[selected].unique() if k)
            raise UsageError(
                f"run {run.name!r} has no {metric!r} samples for endpoint "
                f"{endpoint!r}; its endpoints are {', '.join(names) or 'none'}"
            )
        selected = on_endpoint
    start = points["time"].min()
    rows = points[selected]
    return pd.DataFrame(
        {
            "elapsed_s": (rows["time"] - start).dt.total_seconds().to_numpy(),
            "value": rows["value"].to_numpy(dtype=np.float64),
        }
    )


def _window_starts(samples: pd.DataFrame, window_s: float) -> pd.Series:
    return (samples["elapsed_s"] // window_s) * window_s


def _check_percentiles(percentiles: Sequence[float]) -> list[float]:
    checked = [float(p) for p in percentiles]
    if not checked or any(not 0 < p <= 100 for p in checked):
        raise UsageError(
            f"invalid percentiles {tuple(percentiles)!r}; give values above 0 "
            "and at most 100, e.g. (50, 95, 99)"
        )
    return checked


def _title(text: str, endpoint: str | None) -> str:
    return plain_label(text if endpoint is None else f"{text}, {endpoint}")


def plot_latency_over_time(
    run: Run,
    metric: str = "http_req_duration",
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    window: Window = "5s",
    endpoint: str | None = None,
) -> Figure:
    """Plot percentiles of a time metric (ms) in consecutive time windows.

    ``window`` is a duration (``"5s"``, ``"1min"``, or seconds as a number),
    or None for about 40 windows over the run. ``endpoint`` keeps the samples
    of one endpoint, named as in ``summarize`` (the ``name`` tag, else
    ``METHOD url``). A window without samples leaves a gap.

    Raises:
        InputError: the run has no raw samples (a summary file).
        UsageError: no samples of ``metric`` (or of ``endpoint``), a bad window
            or percentiles outside (0, 100].
    """
    levels = _check_percentiles(percentiles)
    samples = _samples(run, metric, endpoint)
    window_s = window_seconds(window, float(samples["elapsed_s"].max()))
    grouped = samples.groupby(_window_starts(samples, window_s))["value"]
    figure = _new_figure()
    axes = figure.add_subplot()
    for level in levels:
        series = grouped.quantile(level / 100.0)
        axes.plot(series.index, series.to_numpy(), marker=".", label=f"p({level:g})")
    axes.set_xlabel(f"time since the run's first sample (s), {window_s:g} s windows")
    axes.set_ylabel(f"{plain_label(metric)} (ms)")
    axes.set_ylim(bottom=0)
    axes.set_title(_title(f"{metric} percentiles over time: {run.name}", endpoint))
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
    return figure


def plot_distribution(
    baseline: Run,
    candidate: Run | Sequence[Run],
    metric: str = "http_req_duration",
    endpoint: str | None = None,
) -> Figure:
    """Plot the empirical CDF of a time metric (ms): the baseline against candidates.

    The baseline is dashed. The x axis turns logarithmic when the largest value
    is more than 50 times the smallest positive one. ``endpoint`` keeps one
    endpoint's samples on every run. Raises as :func:`plot_latency_over_time`.
    """
    candidates = [candidate] if isinstance(candidate, Run) else list(candidate)
    figure = _new_figure()
    axes = figure.add_subplot()
    curves = [(run, _samples(run, metric, endpoint)["value"]) for run in candidates]
    curves.insert(0, (baseline, _samples(baseline, metric, endpoint)["value"]))
    for run, values in curves:
        ordered = np.sort(values.to_numpy())
        share = np.arange(1, ordered.size + 1) / ordered.size
        is_baseline = run is baseline
        label = _baseline_label(run.name) if is_baseline else run.name
        axes.step(
            ordered,
            share,
            where="post",
            linestyle="--" if is_baseline else "-",
            label=f"{plain_label(label)}, n={ordered.size:,}",
        )
    positive = np.concatenate([v.to_numpy() for _, v in curves])
    positive = positive[positive > 0]
    if positive.size and positive.max() / positive.min() > 50:
        axes.set_xscale("log")
    axes.set_xlabel(f"{plain_label(metric)} (ms)")
    axes.set_ylabel("share of samples at or below")
    axes.set_ylim(0, 1.01)
    axes.set_title(_title(f"{metric} distribution (CDF)", endpoint))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    return figure


def _span_s(run: Run) -> float:
    times = _checked_points(run)["time"]
    return float((times.max() - times.min()).total_seconds())


def _covered_seconds(starts: pd.Index, window_s: float, span_s: float) -> np.ndarray:
    """Return each window's length within the run: the last one is often shorter.

    NOTE: a last window that covers under a second is counted as one second, so
    a few stray requests at the very end do not show as a burst.
    """
    covered = np.minimum(window_s, span_s - starts.to_numpy(dtype=np.float64))
    return np.maximum(covered, min(window_s, 1.0))


def plot_throughput(
    run: Run, window: Window = "5s", endpoint: str | None = None
) -> Figure:
    """Plot requests per second (``http_reqs``) and active VUs on a second axis.

    Requests per second is the count of ``http_reqs`` in each window divided
    by the part of the window inside the run. VUs are the maximum ``vus``
    reading in each window (the whole run's, even with ``endpoint``). Raises
    as :func:`plot_latency_over_time`.
    """
    requests = _samples(run, "http_reqs", endpoint)
    window_s = window_seconds(window, float(requests["elapsed_s"].max()))
    counts = requests.groupby(_window_starts(requests, window_s))["value"].sum()
    rate_rps = counts / _covered_seconds(counts.index, window_s, _span_s(run))
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(rate_rps.index, rate_rps.to_numpy(), marker=".", label="requests/s")
    axes.set_xlabel(f"time since the run's first sample (s), {window_s:g} s windows")
    axes.set_ylabel("requests per second (req/s)")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()
    if (_checked_points(run)["metric"] == "vus").any():
        vus = _samples(run, "vus", None)
        peak = vus.groupby(_window_starts(vus, window_s))["value"].max()
        vu_axes = axes.twinx()
        vu_axes.step(
            peak.index, peak.to_numpy(), where="post", color="tab:orange", label="VUs"
        )
        vu_axes.set_ylabel("active VUs")
        vu_axes.set_ylim(bottom=0)
        more_handles, more_labels = vu_axes.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    axes.legend(handles, labels, loc="upper left", fontsize="small")
    axes.set_title(_title(f"Throughput and VUs: {run.name}", endpoint))
    return figure


def plot_endpoint_p95(
    comparison: Comparison,
    statistic: str = "p(95)",
    metric: str = "http_req_duration",
) -> Figure:
    """Plot one statistic (ms) per endpoint as bars: the baseline, then each candidate.

    The values are the comparison's own (``comparison.frame``), so the chart
    and the table agree. A bar's label carries the comparison's verdict
    (``worse``, ``better``, ``~`` or ``untested``). Raises UsageError when the
    comparison has no per-endpoint rows of ``metric`` and ``statistic``.
    """
    frame = comparison.frame
    rows = frame[
        (frame["metric"] == metric)
        & (frame["statistic"] == statistic)
        & (frame["endpoint"] != "")
    ]
    if rows.empty:
        raise UsageError(
            f"the comparison has no per-endpoint {statistic} of {metric}; "
            "compare runs with raw samples or pass stats=[...] including it"
        )
    endpoints = list(dict.fromkeys(rows["endpoint"]))
    baseline_values = rows.drop_duplicates("endpoint").set_index("endpoint")["baseline"]
    bars = [(_baseline_label(comparison.baseline.name), baseline_values, None)]
    for run_name, run_rows in rows.groupby("run", sort=False):
        indexed = run_rows.set_index("endpoint")
        bars.append((str(run_name), indexed["candidate"], indexed["verdict"]))
    height_in = max(FIGURE_SIZE_IN[1], 1.2 + 0.25 * len(endpoints) * len(bars))
    figure = _new_figure(min(height_in, 12.0))
    axes = figure.add_subplot()
    bar_height = 0.8 / len(bars)
    positions = np.arange(len(endpoints))
    for index, (label, values, verdicts) in enumerate(bars):
        offsets = positions + (index - (len(bars) - 1) / 2) * bar_height
        widths = [float(values.get(e, np.nan)) for e in endpoints]
        drawn = axes.barh(offsets, widths, height=bar_height, label=plain_label(label))
        if verdicts is not None:
            texts = [str(verdicts.get(e, "")) for e in endpoints]
            axes.bar_label(drawn, labels=texts, padding=3, fontsize="small")
    axes.set_yticks(positions, [_wrapped(e) for e in endpoints], fontsize="small")
    axes.invert_yaxis()
    axes.set_xlabel(f"{plain_label(metric)} {statistic} (ms)")
    axes.set_title(f"{statistic} per endpoint, baseline and candidates")
    axes.grid(axis="x", alpha=0.3)
    # Widen the x axis by 15 % so that the verdict labels fit.
    axes.set_xlim(0, axes.get_xlim()[1] * 1.15)
    figure.legend(loc="outside lower center", ncols=len(bars), fontsize="small")
    return figure


def _baseline_label(name: str) -> str:
    return name if "baseline" in name else f"{name} (baseline)"


def _wrapped(text: str) -> str:
    lines = textwrap.wrap(text, width=LABEL_WIDTH_CHARS, break_long_words=True)
    if len(lines) > 3:
        lines = lines[:2] + [lines[2][: LABEL_WIDTH_CHARS - 1] + "…"]
    return plain_label("\n".join(lines or [""]))
