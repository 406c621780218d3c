"""Counter rates and histogram quantiles computed by perfreport itself.

These mirror PromQL's ``increase`` and ``histogram_quantile`` for the case
where the raw counter or bucket series were fetched instead of the finished
query, e.g. to get one value over a whole test window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


def counter_increase(values: np.ndarray) -> tuple[float, int]:
    """Return (increase, resets) of a counter over its samples, in order.

    A sample lower than the one before is a reset (a restart set the counter to
    zero), so the increase across it is the new value itself, as in PromQL.
    NaN samples are skipped.
    """
    finite = np.asarray(values, dtype="float64")
    finite = finite[~np.isnan(finite)]
    if len(finite) < 2:
        return 0.0, 0
    steps = np.diff(finite)
    resets = steps < 0
    increase = float(np.sum(np.where(resets, finite[1:], steps)))
    return increase, int(resets.sum())


def counter_rate(times_s: np.ndarray, values: np.ndarray) -> tuple[float, int]:
    """Return (per-second rate, resets) of a counter between its first and last sample."""
    times_s = np.asarray(times_s, dtype="float64")
    increase, resets = counter_increase(values)
    span_s = float(times_s[-1] - times_s[0]) if len(times_s) > 1 else 0.0
    return (increase / span_s if span_s > 0 else math.nan), resets


@dataclass(frozen=True)
class HistogramQuantile:
    """A quantile estimated from cumulative histogram buckets.

    ``value`` is in the buckets' unit. When the quantile falls in the ``+Inf``
    bucket, ``lower_bound_only`` is true and ``value`` is the largest finite
    bucket bound: the true quantile is at least that, not equal to it.
    ``value`` is NaN when the buckets hold no observations.
    """

    quantile: float
    value: float
    lower_bound_only: bool
    observations: float


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> HistogramQuantile:
    """Estimate quantile ``q`` (0..1) from cumulative bucket counts keyed by ``le``.

    Uses PromQL's rule: find the bucket holding rank ``q * total`` and
    interpolate linearly inside it, taking 0 as the lower edge of the first
    bucket when its bound is positive. Counts may be increases or rates.
    """
    bounds = sorted(buckets)
    counts = np.array([buckets[b] for b in bounds], dtype="float64")
    if not bounds or not math.isinf(bounds[-1]):
        raise ValueError('the buckets need a +Inf bucket (le="+Inf")')
    counts = np.maximum.accumulate(counts)  # PromQL also forces monotonic counts
    total = float(counts[-1])
    if total <= 0 or math.isnan(total):
        return HistogramQuantile(q, math.nan, False, total)
    rank = q * total
    index = int(np.searchsorted(counts, rank, side="left"))
    if index == len(bounds) - 1:
        largest = bounds[-2] if len(bounds) > 1 else math.nan
        return HistogramQuantile(q, largest, True, total)
    lower = 0.0 if index == 0 else bounds[index - 1]
    if index == 0 and bounds[0] <= 0:
        return HistogramQuantile(q, bounds[0], False, total)
    below = 0.0 if index == 0 else float(counts[index - 1])
    inside = float(counts[index]) - below
    value = lower + (bounds[index] - lower) * (rank - below) / inside
    return HistogramQuantile(q, value, False, total)


def histogram_quantiles(
    frame: pd.DataFrame, query: str, q: float, by: str = "handler"
) -> pd.DataFrame:
    """Estimate quantile ``q`` per timestamp and ``by`` label from bucket series.

    ``frame`` is a Prometheus frame whose ``query`` rows are bucket rates or
    increases with an ``le`` label, e.g. ``sum by (le, handler)
    (rate(http_request_duration_seconds_bucket[1m]))``. Returns the columns
    ``time``, ``by``, ``value``, ``lower_bound_only`` and ``observations``;
    ``lower_bound_only`` marks quantiles in the ``+Inf`` bucket, whose
    ``value`` is only the largest finite bound.
    """
    rows = frame[frame["query"] == query]
    label = f"label.{by}"
    keys = ["time", label] if label in rows.columns else ["time"]
    records = []
    for key, group in rows.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        buckets = dict(zip(group["label.le"].astype(float), group["value"]))
        estimate = histogram_quantile(q, buckets)
        records.append(
            {
                "time": key[0],
                by: key[1] if len(key) > 1 else None,
                "value": estimate.value,
                "lower_bound_only": estimate.lower_bound_only,
                "observations": estimate.observations,
            }
        )
    columns = ["time", by, "value", "lower_bound_only", "observations"]
    return pd.DataFrame.from_records(records, columns=columns)
