"""Monotonic trend tests: Mann–Kendall with ties and the Hamed–Rao correction.

Server gauges sampled by Prometheus are strongly autocorrelated (a 1 s query
step over a 15 s scrape interval repeats each sample 15 times), which makes the
plain Mann–Kendall test report trends that are not there. The Hamed–Rao (1998)
correction inflates the variance of S by ``n / n*``, estimated from the
significant autocorrelations of the ranks of the detrended series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class MannKendall:
    """The result of a two-sided Mann–Kendall trend test.

    ``s`` is the statistic, the sum of signs over all pairs. ``variance`` is
    the variance of S under no trend, with the tie correction.
    ``variance_factor`` is the Hamed–Rao factor ``n / n*`` applied to it, 1.0
    when not applied or when it would shrink the variance. ``z`` and
    ``p_value`` come from the corrected variance. ``trend`` is ``increasing``, ``decreasing`` or
    ``none`` at the test's ``alpha``.
    """

    n: int
    s: float
    variance: float
    variance_factor: float
    z: float
    p_value: float
    alpha: float
    trend: str
    method: str


def mann_kendall_s(values: np.ndarray) -> float:
    """Return S = sum over i < j of sign(x_j - x_i)."""
    total = 0.0
    for i in range(len(values) - 1):
        total += float(np.sign(values[i + 1 :] - values[i]).sum())
    return total


def tie_corrected_variance(values: np.ndarray) -> float:
    """Return Var(S) under no trend: [n(n-1)(2n+5) - sum t(t-1)(2t+5)] / 18."""
    n = len(values)
    _, counts = np.unique(values, return_counts=True)
    ties = counts[counts > 1].astype("float64")
    tie_term = float(np.sum(ties * (ties - 1) * (2 * ties + 5)))
    return (n * (n - 1) * (2 * n + 5) - tie_term) / 18.0


def hamed_rao_factor(values: np.ndarray, alpha: float = 0.05) -> float:
    """Return the Hamed–Rao variance factor n / n* for an autocorrelated series.

    The series is detrended with its Theil–Sen slope, ranked, and the rank
    autocorrelations r_k that fall outside ±z(1-alpha/2)/sqrt(n) enter
    n/n* = 1 + 2 / (n(n-1)(n-2)) * sum (n-k)(n-k-1)(n-k-2) r_k.
    """
    n = len(values)
    index = np.arange(n, dtype="float64")
    slope = stats.theilslopes(values, index).slope
    ranks = stats.rankdata(values - slope * index)
    centred = ranks - ranks.mean()
    denominator = float(np.dot(centred, centred))
    if n < 3 or denominator == 0.0:
        return 1.0
    lags = np.arange(1, n)
    acf = np.correlate(centred, centred, mode="full")[n:] / denominator
    bound = stats.norm.ppf(1 - alpha / 2) / math.sqrt(n)
    significant = np.abs(acf) > bound
    weights = (n - lags) * (n - lags - 1) * (n - lags - 2)
    total = float(np.sum(weights[significant] * acf[significant]))
    return 1.0 + 2.0 * total / (n * (n - 1) * (n - 2))


def mann_kendall(
    values: np.ndarray, alpha: float = 0.05, autocorrelation: bool = True
) -> MannKendall:
    """Run the Mann–Kendall test on ``values`` (finite, in time order).

    Time and memory grow as O(n²), so thin series of more than a few
    thousand points first. With ``autocorrelation`` the Hamed–Rao factor
    corrects the variance. A
    factor below 1 (negative autocorrelation) is not applied, so the
    correction only ever makes the test more cautious.
    """
    values = np.asarray(values, dtype="float64")
    n = len(values)
    s = mann_kendall_s(values)
    variance = tie_corrected_variance(values)
    factor = hamed_rao_factor(values, alpha) if autocorrelation else 1.0
    factor = max(factor, 1.0)
    z = _z_score(s, variance * factor)
    p_value = float(2 * stats.norm.sf(abs(z)))
    trend = "none"
    if p_value < alpha:
        trend = "increasing" if z > 0 else "decreasing"
    method = "Mann-Kendall, tie-corrected" + (
        ", Hamed-Rao autocorrelation correction" if autocorrelation else ""
    )
    return MannKendall(n, s, variance, factor, z, p_value, alpha, trend, method)


def _z_score(s: float, variance: float) -> float:
    # The ±1 is the usual continuity correction for the discrete statistic S.
    if variance <= 0:
        return 0.0
    if s > 0:
        return (s - 1) / math.sqrt(variance)
    if s < 0:
        return (s + 1) / math.sqrt(variance)
    return 0.0
