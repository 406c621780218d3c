"""Mann-Whitney U test with the Hodges-Lehmann shift, for independent samples.

This view assumes every request is independent of every other. Load-test
latencies are not (see :mod:`perfreport.analysis.significance`), so on raw
requests its p-value is far too small. It is offered as an extra view, for
example on per-run summaries or on data thinned until it is independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from perfreport.model import AnalysisWarning

EXACT_NULL_MAX_PAIRS = 10_000
"""Up to this many pairs (m * n) the interval uses the exact null law of U."""

MATERIALIZE_MAX_PAIRS = 4_000_000
"""Up to this many pairs all pairwise differences are built and sorted."""

SELECTION_MAX_SAMPLE = 200_000
"""Larger samples are randomly thinned to this size for the shift and interval."""

_ENUMERATE_MAX = 200_000


@dataclass(frozen=True)
class MannWhitneyView:
    """Result of :func:`mann_whitney_view`.

    ``u_statistic`` is scipy's U of the baseline sample: the number of pairs with
    baseline > candidate, ties counting one half. ``shift`` is the Hodges-Lehmann
    estimate of candidate minus baseline, in the samples' unit, and
    ``shift_ci_low``/``shift_ci_high`` its distribution-free interval (infinite
    when the samples are too small for the confidence).
    """

    u_statistic: float
    p_value: float
    shift: float
    shift_ci_low: float
    shift_ci_high: float
    confidence: float
    n_baseline: int
    n_candidate: int
    method: str
    warnings: tuple[AnalysisWarning, ...] = ()


def mann_whitney_view(
    baseline: np.ndarray,
    candidate: np.ndarray,
    confidence: float = 0.95,
    *,
    seed: int = 0,
) -> MannWhitneyView:
    """Run the two-sided Mann-Whitney U test and the Hodges-Lehmann shift.

    U and p are scipy.stats.mannwhitneyu's (method "auto": exact for small samples
    without ties, else the normal approximation with tie and continuity
    corrections). The shift is the median of all differences candidate - baseline.
    Its interval runs from the k-th smallest to the k-th largest difference, with
    k the largest integer such that P(U <= k - 1) <= (1 - confidence) / 2 under
    the null law of U: exact up to :data:`EXACT_NULL_MAX_PAIRS` pairs, else the
    normal approximation ``mn/2 - z sqrt(mn(m+n+1)/12)`` rounded down.
    Samples above :data:`SELECTION_MAX_SAMPLE` are thinned (seeded) for the
    shift and interval only, with a ``hodges-lehmann-subsample`` warning.
    """
    from perfreport.analysis.significance import validate_options

    validate_options(confidence=confidence)
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    a = a[np.isfinite(a)]
    b = b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return _empty_view(a.size, b.size, confidence)

    from scipy import stats  # imported here: scipy.stats takes about 0.6 s to import

    test = stats.mannwhitneyu(a, b, alternative="two-sided")
    warnings: list[AnalysisWarning] = [_independence_warning()]
    a_hl, b_hl = _thin(a, b, seed, warnings)
    rank = interval_rank(a_hl.size, b_hl.size, confidence)
    shift, low, high = _shift_and_interval(np.sort(a_hl), np.sort(b_hl), rank)
    if rank == 0:
        warnings.append(_too_small_warning(a_hl.size, b_hl.size, confidence))
    return MannWhitneyView(
        u_statistic=float(test.statistic),
        p_value=float(test.pvalue),
        shift=shift,
        shift_ci_low=low,
        shift_ci_high=high,
        confidence=confidence,
        n_baseline=int(a.size),
        n_candidate=int(b.size),
        method="Mann-Whitney U (scipy), Hodges-Lehmann shift and interval",
        warnings=tuple(warnings),
    )


def u_null_cdf(m: int, n: int) -> np.ndarray:
    """Return P(U <= u) for u = 0..mn under the null, exactly (no ties).

    Uses the generating function prod_{i=1..m} (1 - x^(n+i)) / (1 - x^i) of the
    number of arrangements with U = u.
    """
    size = m * n + 1
    counts = np.zeros(size)
    counts[0] = 1.0
    for i in range(1, m + 1):
        shifted = np.zeros(size)
        shifted[n + i :] = counts[: size - n - i]
        counts = counts - shifted
        for start in range(i):
            counts[start::i] = np.cumsum(counts[start::i])
    return np.cumsum(counts) / counts.sum()


def interval_rank(m: int, n: int, confidence: float) -> int:
    """Return k: the interval is the k-th smallest to the k-th largest difference.

    0 means no finite interval reaches the confidence.
    """
    tail = (1.0 - confidence) / 2.0
    if m * n <= EXACT_NULL_MAX_PAIRS:
        cdf = u_null_cdf(m, n)
        # P(U <= k - 1) <= tail  <=>  k - 1 <= last index with cdf <= tail.
        allowed = np.nonzero(cdf <= tail * (1 + 1e-12))[0]
        return int(allowed[-1] + 1) if allowed.size else 0
    from scipy import stats

    z = stats.norm.ppf(1.0 - tail)
    k = math.floor(m * n / 2.0 - z * math.sqrt(m * n * (m + n + 1) / 12.0))
    return max(k, 0)


def _shift_and_interval(
    a_sorted: np.ndarray, b_sorted: np.ndarray, rank: int
) -> tuple[float, float, float]:
    pairs = a_sorted.size * b_sorted.size
    ranks = [(pairs + 1) // 2, pairs // 2 + 1]
    if rank > 0:
        ranks += [rank, pairs - rank + 1]
    if pairs <= MATERIALIZE_MAX_PAIRS:
        diffs = np.sort((b_sorted[:, None] - a_sorted[None, :]).ravel())
        values = [float(diffs[r - 1]) for r in ranks]
    else:
        values = [_kth_difference(a_sorted, b_sorted, r) for r in ranks]

    shift = (values[0] + values[1]) / 2.0
    if rank == 0:
        return shift, -math.inf, math.inf
    return shift, values[2], values[3]


def _count_at_most(a_sorted: np.ndarray, b_sorted: np.ndarray, d: float) -> int:
    # Pairs with b - a <= d, i.e. a >= b - d.
    below = np.searchsorted(a_sorted, b_sorted - d, side="left")
    return int(a_sorted.size * b_sorted.size - below.sum())


def _kth_difference(a_sorted: np.ndarray, b_sorted: np.ndarray, k: int) -> float:
    """Return the k-th smallest b - a (1-based), exactly, without building all pairs.

    Bisects on the value until at most ``_ENUMERATE_MAX`` differences remain
    between the brackets, then lists those and picks the right one.
    """
    low = float(b_sorted[0] - a_sorted[-1]) - 1.0
    high = float(b_sorted[-1] - a_sorted[0])
    count_low = 0
    count_high = _count_at_most(a_sorted, b_sorted, high)
    while count_high - count_low > _ENUMERATE_MAX:
        middle = (low + high) / 2.0
        if middle in (low, high):
            break
        count = _count_at_most(a_sorted, b_sorted, middle)
        if count >= k:
            high, count_high = middle, count
        else:
            low, count_low = middle, count

    # Differences in (low, high]: for each b, the a in [b - high, b - low).
    first = np.searchsorted(a_sorted, b_sorted - high, side="left")
    stop = np.searchsorted(a_sorted, b_sorted - low, side="left")
    lengths = stop - first
    owner = np.repeat(np.arange(b_sorted.size), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(
        np.cumsum(lengths) - lengths, lengths
    )
    diffs = np.sort(b_sorted[owner] - a_sorted[np.repeat(first, lengths) + offsets])
    return float(diffs[k - count_low - 1])


def _thin(
    a: np.ndarray, b: np.ndarray, seed: int, warnings: list[AnalysisWarning]
) -> tuple[np.ndarray, np.ndarray]:
    if max(a.size, b.size) <= SELECTION_MAX_SAMPLE:
        return a, b
    rng = np.random.default_rng(seed)
    a_thin = (
        a
        if a.size <= SELECTION_MAX_SAMPLE
        else rng.choice(a, SELECTION_MAX_SAMPLE, replace=False)
    )
    b_thin = (
        b
        if b.size <= SELECTION_MAX_SAMPLE
        else rng.choice(b, SELECTION_MAX_SAMPLE, replace=False)
    )
    warnings.append(
        AnalysisWarning(
            "hodges-lehmann-subsample",
            f"the Hodges-Lehmann shift and interval use random subsamples of "
            f"{a_thin.size} and {b_thin.size} requests (of {a.size} and {b.size}); "
            f"U and p use all of them",
        )
    )
    return a_thin, b_thin


def _independence_warning() -> AnalysisWarning:
    return AnalysisWarning(
        "assumes-independence",
        "the Mann-Whitney view treats every request as independent; requests of "
        "one run are correlated in time, so its p-value is too small for them. "
        "Use the block-bootstrap verdict for decisions",
    )


def _too_small_warning(m: int, n: int, confidence: float) -> AnalysisWarning:
    return AnalysisWarning(
        "too-few-samples",
        f"{m} and {n} samples are too few for a {confidence:.1%} distribution-free "
        f"interval of the shift; add samples or lower the confidence",
    )


def _empty_view(m: int, n: int, confidence: float) -> MannWhitneyView:
    return MannWhitneyView(
        u_statistic=math.nan,
        p_value=math.nan,
        shift=math.nan,
        shift_ci_low=-math.inf,
        shift_ci_high=math.inf,
        confidence=confidence,
        n_baseline=m,
        n_candidate=n,
        method="Mann-Whitney U (scipy), Hodges-Lehmann shift and interval",
        warnings=(
            AnalysisWarning(
                "no-samples",
                f"baseline has {m} and candidate {n} finite samples; both need at "
                f"least one",
            ),
        ),
    )
