"""Per-metric and per-endpoint statistics of a run, computed as k6 computes them.

:func:`summarize` returns a long frame, one row per (metric, key, statistic).
Its columns are ``metric``, ``endpoint`` (or the ``by`` key's name),
``statistic``, ``value`` in base units (ms, bytes, per second, shares from 0 to
1), ``unit``, and ``n``, the number of samples behind the value. The row with an empty key is the whole metric.

Statistics by metric type, as in k6's end-of-test summary:

* Trend: ``avg``, ``min``, ``med``, ``max`` and ``p(X)`` (see
  :mod:`perfreport.analysis.percentiles`), plus ``count``.
* Counter: ``count`` (the sum of the samples) and ``rate`` (count per second of the
  test-run duration).
* Rate: ``rate`` (share of non-zero samples), ``passes`` (non-zero samples) and
  ``fails``. For ``http_req_failed`` a "pass" is a FAILED request.
* Gauge: ``value`` (the last sample in file order), ``min`` and ``max``.

A Trend without samples gets NaN (k6 prints 0), so renderers can show "no samples".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from perfreport.analysis.endpoints import ENDPOINT_TAGS, MAX_KEYS, endpoint_codes
from perfreport.analysis.percentiles import DEFAULT_TREND_STATS, trend_statistics
from perfreport.ingest.k6_summary import SUMMARY_COLUMNS, endpoint_of, summary_frame
from perfreport.model import TAG_PREFIX, AnalysisWarning, MetricDef, Run

ENDPOINT = "endpoint"


def endpoint_keys(points: pd.DataFrame) -> pd.Series:
    """Return each point's endpoint: the ``name`` tag, else ``METHOD url``, else "".

    See :mod:`perfreport.analysis.endpoints` for the rule. The result is
    categorical.
    """
    column_codes: list[np.ndarray | None] = []
    dictionaries: list[pd.Index | None] = []
    for name in ENDPOINT_TAGS:
        column = points.get(name)
        if column is None:
            column_codes.append(None)
            dictionaries.append(None)
            continue
        categorical = column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")
        dictionaries.append(categorical.cat.categories)
        # Shift by one so that a missing value (code -1) becomes 0.
        column_codes.append(np.add(categorical.array.codes, 1, dtype=np.int32))
    codes, labels = endpoint_codes(column_codes, dictionaries, len(points))
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype="object")),
        index=points.index,
    )


def group_keys(points: pd.DataFrame, by: str) -> pd.Series | None:
    """Return the grouping key of every point for ``by``, or None when it has none."""
    if by == "none":
        return None
    if by == ENDPOINT:
        return endpoint_keys(points)
    column = by if by.startswith(TAG_PREFIX) else TAG_PREFIX + by
    if column not in points.columns:
        return None
    values = points[column]
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    if "" not in values.cat.categories:
        values = values.cat.add_categories([""])
    return values.fillna("")


def run_duration_s(run: Run) -> float | None:
    """Return k6's test-run duration if known, else an estimate from the run's points.

    k6 v1.1.0 samples the ``vus`` gauge once a second from the start of the test.
    The start is therefore taken as one second before the first ``vus`` point, or
    the first point if that is earlier, and the end as the last point. On the shipped sample
    runs this estimate is within 0.07 % of k6's ``testRunDurationMs``, where the
    span of the points alone was up to 2.8 % short (a ramp that starts at 0 VUs).
    """
    if run.duration_s is not None:
        return run.duration_s
    if run.points is None or run.points.empty:
        return None
    times = run.points["time"]
    start = times.min()
    vus_times = times[run.points["metric"] == "vus"]
    if not vus_times.empty:
        start = min(start, vus_times.min() - pd.Timedelta(seconds=1))
    span = (times.max() - start).total_seconds()
    return span if span > 0 else None


def summarize(
    run: Run,
    *,
    stats: Sequence[str] | None = None,
    by: str = ENDPOINT,
    submetrics: bool = False,
    max_keys: int = MAX_KEYS,
    endpoints: pd.Series | None = None,
) -> pd.DataFrame:
    """Compute the statistics of every metric of ``run``, overall and per ``by`` key.

    ``stats`` chooses the Trend statistics (default :data:`DEFAULT_TREND_STATS`;
    ``count`` is always added). ``by`` is ``endpoint``, ``group``, ``scenario``,
    a tag key, or ``none``. With ``submetrics``, rows are added for the sub-metrics
    the run's thresholds define, named as k6 names them
    (``http_req_duration{expected_response:true}``). Only the ``max_keys`` keys
    with the most samples get rows; a ``too-many-keys`` warning on the run names
    the rest. A run that has only precomputed statistics returns them as they are.
    ``endpoints``, each point's endpoint as :func:`endpoint_keys` returns it,
    saves building them again when the caller has them already.
    """
    trend_stats = tuple(stats or DEFAULT_TREND_STATS)
    if run.points is None:
        frame = run.statistics if run.statistics is not None else summary_frame([])
        return frame.rename(columns={ENDPOINT: by}) if by not in (ENDPOINT, "none") else frame.copy()
    duration = run_duration_s(run)
    points = run.points
    key_column = by if by != "none" else ENDPOINT
    key_codes, key_names = _key_codes(run, by, max_keys, endpoints)
    values_all = points["value"].to_numpy(dtype=np.float64)
    rows: list[dict[str, Any]] = []
    metric_codes, metric_names = pd.factorize(points["metric"], sort=False)
    for code, positions in split_positions(metric_codes):
        metric_name = str(metric_names[code])
        definition = run.metrics.get(metric_name) or MetricDef(metric_name, "gauge")
        values = values_all[positions]
        rows.extend(_metric_rows(definition, values, "", trend_stats, duration, key_column))
        if key_codes is not None:
            per_key = sorted(
                ((str(key_names[key]), inner) for key, inner in split_positions(key_codes[positions]) if key >= 0),
                key=lambda item: item[0],
            )
            for key, inner in per_key:
                if key:
                    rows.extend(_metric_rows(definition, values[inner], key, trend_stats, duration, key_column))
        if submetrics:
            rows.extend(_submetric_rows(definition, points, positions, values, trend_stats, duration, key_column))
    # Metrics declared on a Metric line that never got a point.
    seen = {row["metric"] for row in rows}
    empty = np.empty(0, dtype=np.float64)
    for name, definition in run.metrics.items():
        if name not in seen and "{" not in name:
            rows.extend(_metric_rows(definition, empty, "", trend_stats, duration, key_column))
    frame = pd.DataFrame(rows, columns=[c if c != ENDPOINT else key_column for c in SUMMARY_COLUMNS])
    frame["value"] = frame["value"].astype("float64")
    frame["n"] = frame["n"].astype("float64")
    return frame


def split_positions(codes: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Split positions 0..n-1 by code; each group keeps its positions in file order.

    Codes below -1 do not occur; -1 (a key left out) forms a group like any other.
    """
    if codes.size == 0:
        return []
    shifted = codes.astype(np.int64) + 1
    count = int(shifted.max()) + 1
    # numpy sorts integers of 16 bits or fewer with a stable radix sort, in
    # linear time. Wider codes take a stable comparison sort.
    order = np.argsort(shifted.astype(np.uint16) if count <= 1 << 16 else shifted, kind="stable")
    ends = np.cumsum(np.bincount(shifted, minlength=count))
    starts = ends - np.bincount(shifted, minlength=count)
    return [(code - 1, order[starts[code] : ends[code]]) for code in range(count) if ends[code] > starts[code]]


def _key_codes(
    run: Run, by: str, max_keys: int, endpoints: pd.Series | None = None
) -> tuple[np.ndarray | None, pd.Index]:
    """Return each point's key code (-1 for keys left out) and the key names.

    Only the ``max_keys`` keys with the most points get rows of their own,
    because URLs with ids in them and no ``name`` tag make one endpoint per
    request, and a table of thousands of endpoints cannot be read. The whole-metric rows still
    count every point, and a warning on the run says how many keys were left out.
    """
    assert run.points is not None
    keys = endpoints if by == ENDPOINT and endpoints is not None else group_keys(run.points, by)
    if keys is None:
        return None, pd.Index([])
    codes, names = pd.factorize(keys, sort=False)
    if len(names) > max_keys:
        counts = np.bincount(codes[codes >= 0], minlength=len(names))
        keep = np.zeros(len(names), dtype=bool)
        keep[np.argsort(-counts, kind="stable")[:max_keys]] = True
        codes = np.where(keep[codes], codes, -1)
        message = (
            f"{run.name}: {len(names):,} distinct {by} values; rows only for the "
            f"{max_keys} with the most samples (the whole-metric rows count all). "
            "Give requests a 'name' tag in the k6 script to group URLs that contain ids"
        )
        if all(warning.message != message for warning in run.warnings):
            run.warnings.append(AnalysisWarning("too-many-keys", message, run.source))
    return codes, names


def _submetric_rows(
    definition: MetricDef,
    points: pd.DataFrame,
    positions: np.ndarray,
    values: np.ndarray,
    trend_stats: tuple[str, ...],
    duration: float | None,
    key_column: str,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for sub in definition.submetrics:
        mask = np.ones(positions.size, dtype=bool)
        for tag, wanted in sub.tags.items():
            column = TAG_PREFIX + tag
            if column not in points.columns:
                mask[:] = False
                break
            mask &= np.asarray(points[column].to_numpy()[positions] == wanted, dtype=bool)
        sub_def = MetricDef(sub.name, definition.type, definition.contains)
        rows.extend(_metric_rows(sub_def, values[mask], "", trend_stats, duration, key_column))
    return rows


def _metric_rows(
    definition: MetricDef,
    values: np.ndarray,
    key: str,
    trend_stats: tuple[str, ...],
    duration: float | None,
    key_column: str,
) -> list[dict[str, Any]]:
    n = float(values.size)
    unit = definition.unit
    computed: list[tuple[str, float, str]] = []
    if definition.type == "trend":
        wanted = trend_stats if "count" in trend_stats else trend_stats + ("count",)
        for statistic, value in trend_statistics(values, wanted).items():
            computed.append((statistic, value, "" if statistic == "count" else unit))
    elif definition.type == "counter":
        count = float(np.cumsum(values)[-1]) if values.size else 0.0
        rate = count / duration if duration else math.nan
        computed += [("count", count, unit), ("rate", rate, f"{unit}/s" if unit else "/s")]
    elif definition.type == "rate":
        passes = float(np.count_nonzero(values))
        share = passes / n if n else math.nan
        computed += [("rate", share, ""), ("passes", passes, ""), ("fails", n - passes, "")]
    else:
        last = float(values[-1]) if values.size else math.nan
        low = float(values.min()) if values.size else math.nan
        high = float(values.max()) if values.size else math.nan
        computed += [("value", last, unit), ("min", low, unit), ("max", high, unit)]
    return [
        {"metric": definition.name, key_column: key, "statistic": s, "value": v, "unit": u, "n": n}
        for s, v, u in computed
    ]


def lookup(summary: pd.DataFrame, metric: str, statistic: str, endpoint: str = "") -> float | None:
    """Return one value of a summary frame, or None when the row is missing or NaN."""
    rows = summary[
        (summary["metric"] == metric)
        & (summary[ENDPOINT] == endpoint)
        & (summary["statistic"] == statistic)
    ]
    if rows.empty:
        return None
    value = float(rows["value"].iloc[0])
    return None if math.isnan(value) else value


__all__ = ["summarize", "lookup", "endpoint_keys", "run_duration_s", "endpoint_of"]
