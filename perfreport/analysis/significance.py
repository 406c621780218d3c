"""Is a change between a baseline run and a candidate run real?

Requests of one load-test run are correlated in time (queues, cache warm-up, ramp
stages), so tests that treat each request as independent find differences
between two identical runs far more often than their alpha promises. The
functions here resample contiguous blocks of requests instead (a circular block
bootstrap, see :mod:`perfreport.analysis.bootstrap`) with a block length chosen
from the data (:mod:`perfreport.analysis.blocklength`).

For each statistic the result is a :class:`ChangeEstimate`: the relative change
``candidate / baseline - 1``, its percentile bootstrap interval, a bootstrap
p-value and a verdict. The p-value is ``2 min(P*(c* - b* <= 0), P*(c* - b* >= 0))``
over the resamples, with one added to each count and to the number of resamples;
it is below ``alpha`` exactly when the ``1 - alpha`` percentile interval of the
change excludes zero (up to that +1). The verdict rule, in order:

1. ``"untested"`` when no p-value exists (min, max, too few requests or blocks,
   a percentile the sample cannot support);
2. ``"~"`` when ``p >= alpha`` or the change is smaller than ``min_effect``
   (relative), however small its p-value;
3. otherwise ``"better"`` or ``"worse"`` by the direction of the change and
   ``lower_is_better``.

``alpha`` is ``1 - confidence`` unless given. :func:`adjust` recomputes p-values
and verdicts for many comparisons at once (Benjamini-Hochberg by default).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perfreport.analysis import bootstrap
from perfreport.analysis.blocklength import politis_white_block_length
from perfreport.analysis.comparability import check_comparability
from perfreport.analysis.multiple import (
    CORRECTION_METHODS,
    DEFAULT_CORRECTION,
    adjust_p_values,
)
from perfreport.analysis.ranktests import MannWhitneyView, mann_whitney_view
from perfreport.errors import UsageError
from perfreport.model import AnalysisWarning

__all__ = [
    "ChangeEstimate",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_CORRECTION",
    "DEFAULT_MIN_EFFECT",
    "DEFAULT_RESAMPLES",
    "MannWhitneyView",
    "adjust",
    "check_comparability",
    "estimate_change",
    "estimate_changes",
    "estimate_proportion_change",
    "estimate_rate_change",
    "mann_whitney_view",
    "parse_statistic",
    "validate_options",
]

DEFAULT_CONFIDENCE = 0.95
DEFAULT_MIN_EFFECT = 0.05
"""Changes smaller than 5 % (relative) are reported as ``~``."""

DEFAULT_RESAMPLES = 2000
"""Bootstrap resamples; raised to ``20 / (1 - confidence)`` for high confidence."""

MIN_BLOCKS_FOR_VERDICT = 10
"""Fewer blocks than this in either run leave the comparison untested."""

TAIL_REQUESTS = 10
"""Requests needed beyond a percentile: p(q) needs ``n >= 10 / (1 - q/100)``."""

MIN_EVENTS = 10
"""A proportion with fewer events (or non-events) than this gets a warning."""

VERDICTS = ("better", "worse", "~", "untested")


@dataclass(frozen=True)
class ChangeEstimate:
    """The change of one statistic from a baseline run to a candidate run.

    Values are in the statistic's own unit (milliseconds for latency, requests
    per second for throughput, a fraction in [0, 1] for proportions).
    ``change_pct`` is ``(candidate / baseline - 1) * 100``; it and the interval
    bounds are None when the baseline value is 0 or negative, and the interval is
    None when no interval was computed (min, max, untested). ``p_value`` is None
    when the method gives none; ``p_adjusted`` is None until :func:`adjust` sets
    it. ``block_length`` is in requests (seconds for throughput). ``verdict`` is
    one of ``"better"``, ``"worse"``, ``"~"``, ``"untested"``.
    """

    statistic: str
    baseline_value: float
    candidate_value: float
    change_pct: float | None
    ci_low_pct: float | None
    ci_high_pct: float | None
    p_value: float | None
    p_adjusted: float | None
    n_baseline: int
    n_candidate: int
    block_length: int | None
    method: str
    verdict: str
    warnings: tuple[AnalysisWarning, ...] = ()
    confidence: float = DEFAULT_CONFIDENCE
    alpha: float = 1 - DEFAULT_CONFIDENCE
    min_effect: float = DEFAULT_MIN_EFFECT
    lower_is_better: bool = True

    @property
    def significant(self) -> bool:
        """True when the verdict is ``better`` or ``worse``."""
        return self.verdict in ("better", "worse")


# ---------------------------------------------------------------- options


def validate_options(
    *,
    confidence: float | None = None,
    alpha: float | None = None,
    min_effect: float | None = None,
    n_resamples: int | None = None,
    correction: str | None = None,
    block_length: int | None = None,
) -> None:
    """Check option values before any work; None means "not given".

    Ranges: ``confidence`` in (0.5, 0.999], ``alpha`` in (0, 0.5], ``min_effect``
    in [0, 1), ``n_resamples`` an integer >= 100, ``correction`` ``"bh"`` or
    ``"holm"``, ``block_length`` an integer >= 1.

    Raises:
        UsageError: naming the option, the value and the allowed range.
    """
    _check_range("confidence", confidence, 0.5, 0.999, low_open=True)
    _check_range("alpha", alpha, 0.0, 0.5, low_open=True)
    _check_range("min_effect", min_effect, 0.0, 1.0, high_open=True)
    _check_integer("n_resamples", n_resamples, 100)
    _check_integer("block_length", block_length, 1)
    if correction is not None and correction not in CORRECTION_METHODS:
        raise UsageError(
            f"invalid correction {correction!r}; use one of "
            f"{', '.join(CORRECTION_METHODS)}"
        )


def _check_range(
    name: str,
    value: float | None,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    if value is None:
        return
    valid = isinstance(value, (int, float)) and not isinstance(value, bool)
    valid = valid and math.isfinite(value)
    if valid:
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        valid = above and below
    if not valid:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise UsageError(
            f"invalid {name} {value!r}; it must lie in {left}{low:g}, {high:g}{right}"
        )


def _check_integer(name: str, value: int | None, minimum: int) -> None:
    if value is None:
        return
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise UsageError(f"invalid {name} {value!r}; it must be an integer")
    if value < minimum:
        raise UsageError(f"invalid {name} {value}; it must be at least {minimum}")


_PERCENTILE = re.compile(r"^p\((\d+(?:\.\d+)?)\)$")


def parse_statistic(statistic: str) -> tuple[str, float | None]:
    """Return ``(kind, q)`` for a k6 statistic name.

    ``"avg"``/``"mean"`` give ``("mean", None)``, ``"med"`` gives
    ``("quantile", 0.5)``, ``"p(95)"`` gives ``("quantile", 0.95)``, ``"min"``
    and ``"max"`` (and ``"p(0)"``, ``"p(100)"``) give ``("min", 0.0)`` and
    ``("max", 1.0)``.

    Raises:
        UsageError: the name is none of these, or a percentile is outside [0, 100].
    """
    name = statistic.strip().lower()
    if name in ("avg", "mean"):
        return "mean", None
    if name == "med":
        return "quantile", 0.5
    if name in ("min", "max"):
        return name, 0.0 if name == "min" else 1.0
    match = _PERCENTILE.match(name)
    if match is None or float(match.group(1)) > 100:
        raise UsageError(
            f"unknown statistic {statistic!r}; use avg, mean, med, min, max or "
            f"p(X) with X in [0, 100], e.g. p(95)"
        )
    q = float(match.group(1)) / 100.0
    if q in (0.0, 1.0):
        return ("min", 0.0) if q == 0.0 else ("max", 1.0)
    return "quantile", q


# ---------------------------------------------------------------- inputs


def _to_seconds(times: np.ndarray) -> np.ndarray:
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.datetime64):
        return times.astype("datetime64[ns]").astype(np.int64) / 1e9
    if np.issubdtype(times.dtype, np.integer):
        return times.astype(np.int64) / 1e9
    return times.astype(np.float64)


@dataclass(frozen=True)
class _Series:
    values: np.ndarray
    warnings: tuple[AnalysisWarning, ...]


def _prepare(values: np.ndarray, times: np.ndarray | None, run: str) -> _Series:
    """Drop non-finite values and put the rest in time order, with warnings."""
    values = np.asarray(values, dtype=np.float64)
    warnings: list[AnalysisWarning] = []
    if times is not None:
        seconds = _to_seconds(times)
        if seconds.shape != values.shape:
            raise UsageError(
                f"{run} has {values.size} values but {seconds.size} timestamps; "
                f"pass one timestamp per value"
            )
        if seconds.size > 1 and bool(np.any(np.diff(seconds) < 0)):
            values = values[np.argsort(seconds, kind="stable")]
    finite = np.isfinite(values)
    if not bool(finite.all()):
        dropped = int(values.size - finite.sum())
        warnings.append(
            AnalysisWarning(
                "non-finite-values",
                f"{run}: {dropped} NaN or infinite values were left out",
            )
        )
        values = values[finite]
    return _Series(values=values, warnings=tuple(warnings))


def _dependence_series(values: np.ndarray) -> np.ndarray:
    # Heavy latency tails dominate raw autocovariances; their logarithm is tamer.
    if values.size and bool(np.all(values > 0)):
        return np.log(values)
    return values


def _choose_block_length(baseline: np.ndarray, candidate: np.ndarray) -> int:
    lengths = [
        politis_white_block_length(_dependence_series(series))
        for series in (baseline, candidate)
        if series.size
    ]
    return int(math.ceil(max(lengths, default=1.0)))


def _resample_count(n_resamples: int | None, confidence: float) -> int:
    if n_resamples is not None:
        return n_resamples
    return max(DEFAULT_RESAMPLES, int(math.ceil(20.0 / (1.0 - confidence))))


# ---------------------------------------------------------------- verdicts


def decide_verdict(
    change: float | None,
    difference: float,
    p_value: float | None,
    *,
    alpha: float,
    min_effect: float,
    lower_is_better: bool,
) -> str:
    """Apply the verdict rule of this module's docstring to one comparison.

    ``change`` is the relative change (None when the baseline is not positive,
    then ``difference`` gives the direction and any change passes ``min_effect``).
    """
    if p_value is None or math.isnan(p_value):
        return "untested"
    if p_value >= alpha:
        return "~"
    if change is not None and abs(change) < min_effect:
        return "~"
    direction = change if change is not None else difference
    if direction == 0:
        return "~"
    improved = direction < 0 if lower_is_better else direction > 0
    return "better" if improved else "worse"


def _bootstrap_p_value(
    baseline_draws: np.ndarray, candidate_draws: np.ndarray
) -> float:
    difference = candidate_draws - baseline_draws
    resamples = difference.size
    at_most = 1 + int(np.count_nonzero(difference <= 0))
    at_least = 1 + int(np.count_nonzero(difference >= 0))
    return min(1.0, 2.0 * min(at_most, at_least) / (resamples + 1))


def _relative_interval(
    baseline_draws: np.ndarray, candidate_draws: np.ndarray, confidence: float
) -> tuple[float | None, float | None]:
    if not bool(np.all(baseline_draws > 0)):
        return None, None
    ratio = candidate_draws / baseline_draws - 1.0
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratio, [tail, 1.0 - tail])
    return float(low) * 100.0, float(high) * 100.0


@dataclass(frozen=True)
class _Settings:
    confidence: float
    alpha: float
    min_effect: float
    lower_is_better: bool
    n_resamples: int


def _relative_change(baseline_value: float, candidate_value: float) -> float | None:
    if baseline_value > 0 and math.isfinite(baseline_value):
        return candidate_value / baseline_value - 1.0
    return None


def _build_estimate(
    statistic: str,
    points: tuple[float, float],
    draws: tuple[np.ndarray, np.ndarray] | None,
    sizes: tuple[int, int],
    block_length: int | None,
    method: str,
    warnings: list[AnalysisWarning],
    settings: _Settings,
) -> ChangeEstimate:
    baseline_value, candidate_value = points
    change = _relative_change(baseline_value, candidate_value)
    p_value: float | None = None
    ci_low = ci_high = None
    if draws is not None:
        p_value = _bootstrap_p_value(*draws)
        ci_low, ci_high = _relative_interval(*draws, settings.confidence)
    verdict = decide_verdict(
        change,
        candidate_value - baseline_value,
        p_value,
        alpha=settings.alpha,
        min_effect=settings.min_effect,
        lower_is_better=settings.lower_is_better,
    )
    return ChangeEstimate(
        statistic=statistic,
        baseline_value=float(baseline_value),
        candidate_value=float(candidate_value),
        change_pct=None if change is None else change * 100.0,
        ci_low_pct=ci_low,
        ci_high_pct=ci_high,
        p_value=p_value,
        p_adjusted=None,
        n_baseline=sizes[0],
        n_candidate=sizes[1],
        block_length=block_length,
        method=method,
        verdict=verdict,
        warnings=tuple(warnings),
        confidence=settings.confidence,
        alpha=settings.alpha,
        min_effect=settings.min_effect,
        lower_is_better=settings.lower_is_better,
    )


def _settings(
    confidence: float,
    alpha: float | None,
    min_effect: float,
    n_resamples: int | None,
    block_length: int | None,
    lower_is_better: bool,
) -> _Settings:
    validate_options(
        confidence=confidence,
        alpha=alpha,
        min_effect=min_effect,
        n_resamples=n_resamples,
        block_length=block_length,
    )
    return _Settings(
        confidence=confidence,
        alpha=round(1.0 - confidence, 12) if alpha is None else alpha,
        min_effect=min_effect,
        lower_is_better=lower_is_better,
        n_resamples=_resample_count(n_resamples, confidence),
    )


# ---------------------------------------------------------------- block checks


def _block_warnings(
    plans: tuple[bootstrap.BlockPlan, bootstrap.BlockPlan],
    confidence: float,
    unit: str,
) -> tuple[list[AnalysisWarning], bool]:
    """Return warnings about the number of blocks, and whether a test may run."""
    warnings: list[AnalysisWarning] = []
    testable = True
    wanted = max(2 * MIN_BLOCKS_FOR_VERDICT, int(math.ceil(1.0 / (1.0 - confidence))))
    for run, plan in zip(("baseline", "candidate"), plans):
        if plan.n < 2 or plan.n_blocks < MIN_BLOCKS_FOR_VERDICT:
            testable = False
            warnings.append(
                AnalysisWarning(
                    "run-too-short",
                    f"{run}: {plan.n} {unit} make {plan.n_blocks:.1f} blocks of "
                    f"{plan.block_length}; a test needs at least "
                    f"{MIN_BLOCKS_FOR_VERDICT} blocks, i.e. "
                    f"{MIN_BLOCKS_FOR_VERDICT * plan.block_length} {unit} at this "
                    f"correlation; run longer",
                )
            )
        elif plan.n_blocks < wanted:
            warnings.append(
                AnalysisWarning(
                    "few-blocks",
                    f"{run}: {plan.n} {unit} make only {plan.n_blocks:.1f} blocks of "
                    f"{plan.block_length}; a {confidence:.1%} interval wants "
                    f"{wanted} blocks ({wanted * plan.block_length} {unit}), so it "
                    f"may be too narrow",
                )
            )
    return warnings, testable


def _percentile_warning(
    q: float, sizes: tuple[int, int], statistic: str
) -> AnalysisWarning | None:
    tail = min(q, 1.0 - q)
    # Rounding first keeps 10 / (1 - 0.999) at 10000 despite binary fractions.
    needed = math.inf if tail == 0 else math.ceil(round(TAIL_REQUESTS / tail, 6))
    smallest = min(sizes)
    if smallest >= needed:
        return None
    return AnalysisWarning(
        "percentile-beyond-data",
        f"{statistic} of {smallest} requests rests on fewer than {TAIL_REQUESTS} "
        f"requests beyond it; it needs at least {needed} requests per run",
    )


# ---------------------------------------------------------------- latency statistics


def estimate_change(
    baseline: np.ndarray,
    candidate: np.ndarray,
    statistic: str,
    *,
    baseline_times: np.ndarray | None = None,
    candidate_times: np.ndarray | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    alpha: float | None = None,
    min_effect: float = DEFAULT_MIN_EFFECT,
    lower_is_better: bool = True,
    seed: int = 0,
    n_resamples: int | None = None,
    block_length: int | None = None,
) -> ChangeEstimate:
    """Estimate the change of one statistic; see :func:`estimate_changes`."""
    return estimate_changes(
        baseline,
        candidate,
        [statistic],
        baseline_times=baseline_times,
        candidate_times=candidate_times,
        confidence=confidence,
        alpha=alpha,
        min_effect=min_effect,
        lower_is_better=lower_is_better,
        seed=seed,
        n_resamples=n_resamples,
        block_length=block_length,
    )[0]


def estimate_changes(
    baseline: np.ndarray,
    candidate: np.ndarray,
    statistics: Sequence[str],
    *,
    baseline_times: np.ndarray | None = None,
    candidate_times: np.ndarray | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    alpha: float | None = None,
    min_effect: float = DEFAULT_MIN_EFFECT,
    lower_is_better: bool = True,
    seed: int = 0,
    n_resamples: int | None = None,
    block_length: int | None = None,
) -> list[ChangeEstimate]:
    """Estimate the change of several statistics of two runs, sharing the resamples.

    ``baseline`` and ``candidate`` hold one value per request (e.g. duration in
    ms) in time order; with ``*_times`` (int64 ns, datetime64 or float seconds)
    they are sorted by time first. Point values are exact, k6's definitions
    (percentiles by linear interpolation, ``numpy.quantile(method="linear")``).
    Intervals and p-values come from a circular block bootstrap with
    ``n_resamples`` resamples (default :data:`DEFAULT_RESAMPLES`) and one block
    length for both runs: ``block_length`` or the larger Politis-White length of
    the two runs' log-values. Resampled percentiles are binned, with a relative
    error of at most :data:`perfreport.analysis.bootstrap.QUANTILE_ERROR_BOUND`.
    The same inputs and ``seed`` give the same result.

    Warnings: ``non-finite-values``, ``run-too-short`` and
    ``percentile-beyond-data`` (verdict ``untested``), ``few-blocks``,
    ``no-interval`` (min and max).

    Raises:
        UsageError: an option is out of range or a statistic is unknown.
    """
    settings = _settings(
        confidence, alpha, min_effect, n_resamples, block_length, lower_is_better
    )
    parsed = [(name, *parse_statistic(name)) for name in statistics]
    base = _prepare(baseline, baseline_times, "baseline")
    cand = _prepare(candidate, candidate_times, "candidate")
    sizes = (base.values.size, cand.values.size)
    if block_length is None:
        block_length = _choose_block_length(base.values, cand.values)
        rule = f"Politis-White block length {block_length}"
    else:
        rule = f"block length {block_length}"
    plans = (
        bootstrap.plan_blocks(max(sizes[0], 1), block_length),
        bootstrap.plan_blocks(max(sizes[1], 1), block_length),
    )
    used_length = max(plan.block_length for plan in plans)
    block_warnings, testable = _block_warnings(plans, confidence, "requests")
    common = [*base.warnings, *cand.warnings, *block_warnings]

    resampler = _Resampler(base.values, cand.values, plans, settings, seed, testable)
    results = []
    for name, kind, q in parsed:
        warnings = list(common)
        points = _point_values(base.values, cand.values, kind, q)
        draws = None
        method = (
            f"circular block bootstrap ({rule}, {used_length} used), percentile "
            f"interval of the ratio, {settings.n_resamples} resamples"
        )
        if kind in ("min", "max"):
            warnings.append(_no_interval_warning(name))
            method = "point estimate only"
        elif kind == "quantile" and q is not None:
            beyond = _percentile_warning(q, sizes, name)
            if beyond is not None:
                warnings.append(beyond)
            elif testable:
                draws = resampler.quantiles(q)
                method += f", binned to {bootstrap.QUANTILE_ERROR_BOUND:.2%}"
        elif testable:
            draws = resampler.means()
        results.append(
            _build_estimate(
                name, points, draws, sizes, used_length, method, warnings, settings
            )
        )
    return results


def _point_values(
    baseline: np.ndarray, candidate: np.ndarray, kind: str, q: float | None
) -> tuple[float, float]:
    def one(values: np.ndarray) -> float:
        if values.size == 0:
            return math.nan
        if kind == "mean":
            return float(np.mean(values))
        if kind == "min":
            return float(np.min(values))
        if kind == "max":
            return float(np.max(values))
        return float(np.quantile(values, q, method="linear"))

    return one(baseline), one(candidate)


def _no_interval_warning(statistic: str) -> AnalysisWarning:
    return AnalysisWarning(
        "no-interval",
        f"{statistic} depends on a single request, so no interval or test is "
        f"possible; compare a high percentile such as p(99) instead",
    )


class _Resampler:
    """Resample weights of both runs, drawn once and shared by all statistics."""

    def __init__(
        self,
        baseline: np.ndarray,
        candidate: np.ndarray,
        plans: tuple[bootstrap.BlockPlan, bootstrap.BlockPlan],
        settings: _Settings,
        seed: int,
        testable: bool,
    ) -> None:
        self.runs = (baseline, candidate)
        self.plans = plans
        self.weights: tuple[np.ndarray, ...] = ()
        self.binned: tuple[bootstrap.BinnedSeries, ...] = ()
        if testable:
            rng = np.random.default_rng(seed)
            self.weights = tuple(
                bootstrap.resample_weights(plan, settings.n_resamples, rng)
                for plan in plans
            )

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        baseline, candidate = (
            bootstrap.resample_means(values, plan, weights)
            for values, plan, weights in zip(self.runs, self.plans, self.weights)
        )
        return baseline, candidate

    def quantiles(self, q: float) -> tuple[np.ndarray, np.ndarray]:
        if not self.binned:
            self.binned = tuple(
                bootstrap.bin_series(values, plan)
                for values, plan in zip(self.runs, self.plans)
            )
        baseline, candidate = (
            bootstrap.resample_quantiles(binned, weights, q)
            for binned, weights in zip(self.binned, self.weights)
        )
        return baseline, candidate


# ---------------------------------------------------------------- throughput and rates


def _compare_means(
    series: tuple[np.ndarray, np.ndarray],
    statistic: str,
    unit: str,
    settings: _Settings,
    seed: int,
    block_length: int | None,
    warnings: list[AnalysisWarning],
    sizes: tuple[int, int],
) -> ChangeEstimate:
    """Compare the means of two time-ordered series with the block bootstrap."""
    if block_length is None:
        block_length = _choose_block_length(*series)
        rule = f"Politis-White block length {block_length} {unit}"
    else:
        rule = f"block length {block_length} {unit}"
    plans = tuple(bootstrap.plan_blocks(max(s.size, 1), block_length) for s in series)
    used_length = max(plan.block_length for plan in plans)
    block_warnings, testable = _block_warnings(plans, settings.confidence, unit)
    resampler = _Resampler(*series, plans, settings, seed, testable)
    draws = resampler.means() if testable else None
    method = (
        f"circular block bootstrap of {unit} ({rule}, {used_length} used), "
        f"percentile interval of the ratio, {settings.n_resamples} resamples"
    )
    points = (
        float(np.mean(series[0])) if series[0].size else math.nan,
        float(np.mean(series[1])) if series[1].size else math.nan,
    )
    return _build_estimate(
        statistic,
        points,
        draws,
        sizes,
        used_length,
        method,
        [*warnings, *block_warnings],
        settings,
    )


def per_second_counts(times: np.ndarray) -> np.ndarray:
    """Return requests per whole second from the first request on.

    ``times`` are int64 ns, datetime64 or float seconds, in any order. The last,
    partial second is left out when the run lasts one second or more, because
    its count would understate the rate.
    """
    seconds = np.sort(_to_seconds(times))
    if seconds.size == 0:
        return np.zeros(0)
    offsets = seconds - seconds[0]
    whole = int(math.floor(offsets[-1]))
    buckets = np.floor(offsets).astype(np.int64)
    if whole >= 1:
        buckets = buckets[buckets < whole]
        return np.bincount(buckets, minlength=whole).astype(np.float64)
    return np.array([float(seconds.size)])


def estimate_rate_change(
    baseline_times: np.ndarray,
    candidate_times: np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    alpha: float | None = None,
    min_effect: float = DEFAULT_MIN_EFFECT,
    lower_is_better: bool = False,
    seed: int = 0,
    n_resamples: int | None = None,
    block_length: int | None = None,
) -> ChangeEstimate:
    """Estimate the change of throughput (requests per second) between two runs.

    Each run's timestamps become a series of per-second counts
    (:func:`per_second_counts`); their means are compared with the circular block
    bootstrap, blocks measured in seconds. ``n_baseline``/``n_candidate`` are the
    numbers of whole seconds. Higher is better unless ``lower_is_better``.

    Raises:
        UsageError: an option is out of range.
    """
    settings = _settings(
        confidence, alpha, min_effect, n_resamples, block_length, lower_is_better
    )
    counts = (per_second_counts(baseline_times), per_second_counts(candidate_times))
    sizes = (counts[0].size, counts[1].size)
    return _compare_means(
        counts, "rate", "seconds", settings, seed, block_length, [], sizes
    )


def estimate_proportion_change(
    baseline: np.ndarray,
    candidate: np.ndarray,
    baseline_times: np.ndarray | None = None,
    candidate_times: np.ndarray | None = None,
    *,
    lower_is_better: bool,
    statistic: str = "rate",
    confidence: float = DEFAULT_CONFIDENCE,
    alpha: float | None = None,
    min_effect: float = DEFAULT_MIN_EFFECT,
    seed: int = 0,
    n_resamples: int | None = None,
    block_length: int | None = None,
) -> ChangeEstimate:
    """Estimate the change of a proportion (error, check or cache-hit rate).

    ``baseline``/``candidate`` are booleans (or 0/1), one per request or check,
    in time order or sorted by ``*_times``. The proportions are compared with the
    circular block bootstrap of the 0/1 series, which keeps bursts of errors
    together. Pass ``lower_is_better=True`` for error rates, False for check
    and hit rates. With a baseline proportion of 0 the relative change is None
    and the verdict follows the difference. Fewer than :data:`MIN_EVENTS` events
    or non-events in a run give a ``rare-events`` warning, because a bootstrap
    interval of a handful of events is too narrow.

    Raises:
        UsageError: an option is out of range or the values are not 0/1.
    """
    settings = _settings(
        confidence, alpha, min_effect, n_resamples, block_length, lower_is_better
    )
    base = _prepare(_as_binary(baseline, "baseline"), baseline_times, "baseline")
    cand = _prepare(_as_binary(candidate, "candidate"), candidate_times, "candidate")
    warnings = [*base.warnings, *cand.warnings]
    for run, values in (("baseline", base.values), ("candidate", cand.values)):
        rare = _rare_events_warning(run, values)
        if rare is not None:
            warnings.append(rare)
    sizes = (base.values.size, cand.values.size)
    return _compare_means(
        (base.values, cand.values),
        statistic,
        "requests",
        settings,
        seed,
        block_length,
        warnings,
        sizes,
    )


def _as_binary(values: np.ndarray, run: str) -> np.ndarray:
    array = np.asarray(values)
    numeric = array.astype(np.float64)
    finite = numeric[np.isfinite(numeric)]
    if not bool(np.all((finite == 0) | (finite == 1))):
        raise UsageError(
            f"{run} proportion values must be booleans or 0/1; found "
            f"{np.unique(finite)[:5].tolist()}"
        )
    return numeric


def _rare_events_warning(run: str, values: np.ndarray) -> AnalysisWarning | None:
    events = int(values.sum())
    rarest = min(events, values.size - events)
    if rarest >= MIN_EVENTS or values.size == 0:
        return None
    return AnalysisWarning(
        "rare-events",
        f"{run}: {events} of {values.size} are events; an interval needs at least "
        f"{MIN_EVENTS} events and {MIN_EVENTS} non-events, so it may be too narrow",
    )


# ---------------------------------------------------------------- many comparisons


def adjust(
    estimates: Sequence[ChangeEstimate], method: str = DEFAULT_CORRECTION
) -> list[ChangeEstimate]:
    """Correct the p-values of many comparisons and recompute their verdicts.

    ``method`` is ``"bh"`` (Benjamini-Hochberg, false discovery rate, the
    default) or ``"holm"`` (Holm, family-wise error rate); see
    :mod:`perfreport.analysis.multiple`. Estimates without a p-value are
    returned unchanged and do not count towards the number of comparisons.
    Each estimate keeps its own alpha, min_effect and direction.

    Raises:
        UsageError: ``method`` is unknown.
    """
    validate_options(correction=method)
    tested = [i for i, e in enumerate(estimates) if e.p_value is not None]
    adjusted_p = adjust_p_values([estimates[i].p_value or 0.0 for i in tested], method)
    result = list(estimates)
    for index, p_adjusted in zip(tested, adjusted_p):
        estimate = estimates[index]
        change = None if estimate.change_pct is None else estimate.change_pct / 100.0
        verdict = decide_verdict(
            change,
            estimate.candidate_value - estimate.baseline_value,
            float(p_adjusted),
            alpha=estimate.alpha,
            min_effect=estimate.min_effect,
            lower_is_better=estimate.lower_is_better,
        )
        result[index] = dataclasses.replace(
            estimate,
            p_adjusted=float(p_adjusted),
            verdict=verdict,
            method=f"{estimate.method}, {method.upper()}-adjusted p",
        )
    return result
