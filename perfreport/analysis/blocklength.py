"""Automatic block length for the circular block bootstrap.

Implements the rule of Politis and White (2004, "Automatic block-length selection
for the dependent bootstrap", Econometric Reviews 23(1)) with the constant for the
circular bootstrap as corrected by Patton, Politis and White (2009, Econometric
Reviews 28(4)):

    b = (2 G^2 / D_CB)^(1/3) n^(1/3),   D_CB = (4/3) sigma^4,

where ``sigma^2 = sum_{|k|<=M} lambda(k/M) gamma(k)`` is the long-run variance,
``G = sum_{|k|<=M} lambda(k/M) |k| gamma(k)``, ``gamma`` the sample autocovariance
and ``lambda`` the flat-top lag window of Politis and Romano (1995): 1 up to 1/2,
then falling linearly to 0 at 1. ``M = 2 m``, where ``m`` is the smallest lag after
which ``K_N = max(5, ceil(log10 n))`` autocorrelations in a row lie inside
``+-2 sqrt(log10(n) / n)``.
"""

from __future__ import annotations

import math

import numpy as np

MIN_SERIES_LENGTH = 16
"""Shorter series get block length 1, because their autocorrelations are noise."""


def autocovariance(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Return the biased sample autocovariance of ``x`` at lags 0..max_lag (by FFT)."""
    n = x.size
    centred = x - x.mean()
    # A power of two at least 2n - 1 long: no circular wrap-around, and numpy's
    # FFT is fast at that size (scipy.fft would add 0.2 s of import time).
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, size)
    power = spectrum.real**2 + spectrum.imag**2
    acov = np.fft.irfft(power, size)[: max_lag + 1]
    return acov / n


def _flat_top(t: np.ndarray) -> np.ndarray:
    t = np.abs(t)
    return np.where(t <= 0.5, 1.0, np.clip(2.0 * (1.0 - t), 0.0, 1.0))


def _last_significant_lag(rho: np.ndarray, n: int, runs: int, max_lag: int) -> int:
    band = 2.0 * math.sqrt(math.log10(n) / n)
    small = np.abs(rho[1:]) < band
    # small[i] is about lag i + 1, so small[lag : lag + runs] covers lags
    # lag + 1 .. lag + runs.
    for lag in range(min(max_lag, small.size - runs) + 1):
        if bool(small[lag : lag + runs].all()):
            return lag
    return max_lag


def politis_white_block_length(x: np.ndarray) -> float:
    """Return the circular-bootstrap block length for ``x``, in observations (>= 1).

    The result is a real number; callers round it up. It is capped at
    ``ceil(min(3 sqrt(n), n / 3))`` as in the paper.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n < MIN_SERIES_LENGTH:
        return 1.0

    runs = max(5, math.ceil(math.log10(n)))
    max_m = math.ceil(math.sqrt(n)) + runs
    cap = math.ceil(min(3.0 * math.sqrt(n), n / 3.0))
    acov = autocovariance(x, min(n - 1, max_m + runs))
    if acov[0] <= 0:
        return 1.0

    m_hat = _last_significant_lag(acov / acov[0], n, runs, max_m)
    big_m = min(2 * m_hat, max_m, acov.size - 1)
    if big_m == 0:
        return 1.0
    lags = np.arange(1, big_m + 1)
    window = _flat_top(lags / big_m)
    long_run_variance = acov[0] + 2.0 * np.sum(window * acov[1 : big_m + 1])
    g_hat = 2.0 * np.sum(window * lags * acov[1 : big_m + 1])
    if long_run_variance <= 0:
        return 1.0

    d_cb = 4.0 / 3.0 * long_run_variance**2
    block = (2.0 * g_hat**2 / d_cb * n) ** (1.0 / 3.0)
    return float(min(max(block, 1.0), cap))
