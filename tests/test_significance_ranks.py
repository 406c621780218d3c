"""Tests of the Mann-Whitney / Hodges-Lehmann view against scipy and textbooks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from perfreport.analysis import ranktests
from perfreport.analysis.ranktests import interval_rank, mann_whitney_view, u_null_cdf
from perfreport.errors import UsageError


def brute_force_u_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= u) by listing every way to place the m baseline ranks among m + n."""
    counts = np.zeros(m * n + 1)
    for positions in itertools.combinations(range(m + n), m):
        # U counts pairs (baseline, candidate) with baseline above candidate.
        u = sum(p - i for i, p in enumerate(positions))
        counts[u] += 1
    return np.cumsum(counts) / counts.sum()


def textbook_interval(
    a: np.ndarray, b: np.ndarray, confidence: float
) -> tuple[float, float]:
    """Order-statistic interval of all differences b - a, k from the exact U law."""
    differences = np.sort(np.subtract.outer(b, a).ravel())
    cdf = brute_force_u_cdf(a.size, b.size)
    tail = (1 - confidence) / 2
    k = max(u + 1 for u in range(cdf.size) if cdf[u] <= tail)
    return differences[k - 1], differences[differences.size - k]


@pytest.mark.parametrize(("m", "n"), [(3, 4), (6, 7), (8, 5)])
def test_u_null_cdf_exact(m: int, n: int) -> None:
    assert u_null_cdf(m, n) == pytest.approx(brute_force_u_cdf(m, n), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_view_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(size=40 + seed)
    b = rng.lognormal(size=35) * 1.3
    view = mann_whitney_view(a, b)
    reference = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert view.u_statistic == reference.statistic
    assert view.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    assert view.shift == pytest.approx(np.median(np.subtract.outer(b, a)))


def test_view_matches_scipy_exact_small() -> None:
    a = np.array([1.1, 2.3, 0.7, 4.2, 3.3])
    b = np.array([2.9, 5.1, 4.8, 6.0])
    view = mann_whitney_view(a, b)
    reference = stats.mannwhitneyu(a, b, alternative="two-sided", method="exact")
    assert view.u_statistic == reference.statistic
    assert view.p_value == pytest.approx(reference.pvalue)


@pytest.mark.parametrize(
    ("m", "n", "confidence"), [(6, 7, 0.95), (8, 8, 0.9), (10, 9, 0.95)]
)
def test_hodges_lehmann_interval_textbook(m: int, n: int, confidence: float) -> None:
    rng = np.random.default_rng(m * n)
    a, b = rng.normal(size=m), rng.normal(size=n) + 0.5
    view = mann_whitney_view(a, b, confidence)
    low, high = textbook_interval(a, b, confidence)
    assert view.shift_ci_low == low
    assert view.shift_ci_high == high


def test_interval_rank_normal_approximation() -> None:
    m, n = 300, 400
    z = stats.norm.ppf(0.975)
    expected = math.floor(m * n / 2 - z * math.sqrt(m * n * (m + n + 1) / 12))
    assert interval_rank(m, n, 0.95) == expected


def test_interval_covers_true_shift() -> None:
    rng = np.random.default_rng(21)
    covered = 0
    for _ in range(200):
        a, b = rng.normal(size=30), rng.normal(size=25) + 1.0
        view = mann_whitney_view(a, b, 0.9)
        covered += view.shift_ci_low <= 1.0 <= view.shift_ci_high
    # Coverage is at least 90 % by construction, and 200 draws allow about 4
    # points of noise.
    assert covered / 200 >= 0.86


def test_too_small_for_confidence() -> None:
    view = mann_whitney_view(np.array([1.0, 2.0]), np.array([3.0, 4.0]), 0.95)
    assert view.shift_ci_low == -math.inf
    assert view.shift_ci_high == math.inf
    assert "too-few-samples" in [w.code for w in view.warnings]


def test_selection_equals_materialized(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(22)
    # Whole numbers make every difference exact, so both paths must agree bit for bit.
    a = np.round(rng.lognormal(size=900) * 100)
    b = np.round(rng.lognormal(size=800) * 120)
    full = mann_whitney_view(a, b)
    monkeypatch.setattr(ranktests, "MATERIALIZE_MAX_PAIRS", 0)
    monkeypatch.setattr(ranktests, "_ENUMERATE_MAX", 500)
    selected = mann_whitney_view(a, b)
    assert selected.shift == full.shift
    assert selected.shift_ci_low == full.shift_ci_low
    assert selected.shift_ci_high == full.shift_ci_high


def test_large_samples_are_thinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranktests, "SELECTION_MAX_SAMPLE", 1000)
    rng = np.random.default_rng(23)
    a, b = rng.normal(size=3000), rng.normal(size=2000) + 0.3
    view = mann_whitney_view(a, b)
    assert view.u_statistic == stats.mannwhitneyu(a, b).statistic
    assert "hodges-lehmann-subsample" in [w.code for w in view.warnings]
    assert view.shift == pytest.approx(0.3, abs=0.1)


def test_view_validates_confidence() -> None:
    with pytest.raises(UsageError, match="confidence"):
        mann_whitney_view(np.ones(5), np.ones(5), 0.3)
