"""The result of comparing one statistic of two runs, its options and its verdict.

:class:`ChangeEstimate` is what every estimator in
:mod:`perfreport.analysis.significance` returns. This module also contains the option
checks, the verdict rule, the bootstrap p-value and interval, and the input
preparation the estimators share.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from perfreport.analysis import bootstrap
from perfreport.analysis.blocklength import politis_white_block_length
from perfreport.analysis.multiple import CORRECTION_METHODS
from perfreport.errors import UsageError
from perfreport.model import AnalysisWarning

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

    Ranges: ``confidence`` in [0.5, 0.999], ``alpha`` in (0, 0.5], ``min_effect``
    in [0, 1), ``n_resamples`` an integer >= 100, ``correction`` ``"bh"`` or
    ``"holm"``, ``block_length`` an integer >= 1.

    Raises:
        UsageError: naming the option, the value and the allowed range.
    """
    _check_range("confidence", confidence, 0.5, 0.999)
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
        UsageError: the name is not one of these, or a percentile is outside [0, 100].
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


def to_seconds(times: np.ndarray) -> np.ndarray:
    """Return timestamps as float seconds; int64 is read as nanoseconds."""
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.datetime64):
        return times.astype("datetime64[ns]").astype(np.int64) / 1e9
    if np.issubdtype(times.dtype, np.integer):
        return times.astype(np.int64) / 1e9
    return times.astype(np.float64)


@dataclass(frozen=True)
class PreparedSeries:
    """A run's finite values in time order, with warnings about what was dropped."""

    values: np.ndarray
    warnings: tuple[AnalysisWarning, ...]


def prepare_series(
    values: np.ndarray, times: np.ndarray | None, run: str
) -> PreparedSeries:
    """Drop non-finite values and put the rest in time order, with warnings."""
    values = np.asarray(values, dtype=np.float64)
    warnings: list[AnalysisWarning] = []
    if times is not None:
        seconds = to_seconds(times)
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
    return PreparedSeries(values=values, warnings=tuple(warnings))


def _dependence_series(values: np.ndarray) -> np.ndarray:
    # Heavy latency tails dominate raw autocovariances, so use the logarithm.
    if values.size and bool(np.all(values > 0)):
        return np.log(values)
    return values


def choose_block_length(baseline: np.ndarray, candidate: np.ndarray) -> int:
    """Return the larger Politis-White block length of the two runs, rounded up."""
    lengths = [
        politis_white_block_length(_dependence_series(series))
        for series in (baseline, candidate)
        if series.size
    ]
    return math.ceil(max(lengths, default=1.0))


def _resample_count(n_resamples: int | None, confidence: float) -> int:
    if n_resamples is not None:
        return n_resamples
    return max(DEFAULT_RESAMPLES, math.ceil(20.0 / (1.0 - confidence)))


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
    """Apply the verdict rule of :mod:`~perfreport.analysis.significance` to one change.

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
class Settings:
    confidence: float
    alpha: float
    min_effect: float
    lower_is_better: bool
    n_resamples: int


def _relative_change(baseline_value: float, candidate_value: float) -> float | None:
    if baseline_value > 0 and math.isfinite(baseline_value):
        return candidate_value / baseline_value - 1.0
    return None


def build_estimate(
    statistic: str,
    points: tuple[float, float],
    draws: tuple[np.ndarray, np.ndarray] | None,
    sizes: tuple[int, int],
    block_length: int | None,
    method: str,
    warnings: list[AnalysisWarning],
    settings: Settings,
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


def make_settings(
    confidence: float,
    alpha: float | None,
    min_effect: float,
    n_resamples: int | None,
    block_length: int | None,
    lower_is_better: bool,
) -> Settings:
    validate_options(
        confidence=confidence,
        alpha=alpha,
        min_effect=min_effect,
        n_resamples=n_resamples,
        block_length=block_length,
    )
    return Settings(
        confidence=confidence,
        alpha=round(1.0 - confidence, 12) if alpha is None else alpha,
        min_effect=min_effect,
        lower_is_better=lower_is_better,
        n_resamples=_resample_count(n_resamples, confidence),
    )


# ---------------------------------------------------------------- block checks


def check_block_counts(
    plans: tuple[bootstrap.BlockPlan, bootstrap.BlockPlan],
    confidence: float,
    unit: str,
) -> tuple[list[AnalysisWarning], bool]:
    """Return warnings about the number of blocks, and whether a test may run."""
    warnings: list[AnalysisWarning] = []
    testable = True
    recommended = max(2 * MIN_BLOCKS_FOR_VERDICT, math.ceil(1.0 / (1.0 - confidence)))
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
        elif plan.n_blocks < recommended:
            warnings.append(
                AnalysisWarning(
                    "few-blocks",
                    f"{run}: {plan.n} {unit} make only {plan.n_blocks:.1f} blocks of "
                    f"{plan.block_length}; a {confidence:.1%} interval needs "
                    f"{recommended} blocks ({recommended * plan.block_length} "
                    f"{unit}), so it may be too narrow",
                )
            )
    return warnings, testable


def percentile_warning(
    q: float, sizes: tuple[int, int], statistic: str
) -> AnalysisWarning | None:
    """Return a warning when either run has too few requests beyond the percentile."""
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


class Resampler:
    """Resamples of both runs, drawn once and shared by all statistics.

    The draws are block starts. Means need nothing more. Quantiles need the
    (resamples x sub-blocks) weight matrix, which is built on first use.
    """

    def __init__(
        self,
        baseline: np.ndarray,
        candidate: np.ndarray,
        plans: tuple[bootstrap.BlockPlan, bootstrap.BlockPlan],
        settings: Settings,
        seed: int,
        testable: bool,
    ) -> None:
        self.runs = (baseline, candidate)
        self.plans = plans
        self.starts: tuple[np.ndarray, ...] = ()
        self.binned: tuple[bootstrap.BinnedSeries, ...] = ()
        if testable:
            self._draws = _shared_draws(plans, settings.n_resamples, seed)
            self.starts = self._draws.starts

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        if not self.starts:
            return ()
        return self._draws.weights(self.plans)

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        baseline, candidate = (
            bootstrap.resample_means_from_starts(values, plan, starts)
            for values, plan, starts in zip(self.runs, self.plans, self.starts)
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


_DRAWS_KEPT = 2


class _Draws:
    """The block starts of both runs for one key, and their weight matrices once built."""

    def __init__(self, starts: tuple[np.ndarray, ...]) -> None:
        self.starts = starts
        self._weights: tuple[np.ndarray, ...] = ()

    def weights(self, plans: tuple[bootstrap.BlockPlan, ...]) -> tuple[np.ndarray, ...]:
        if not self._weights:
            self._weights = tuple(
                bootstrap.weights_from_starts(plan, drawn) for plan, drawn in zip(plans, self.starts)
            )
            for array in self._weights:
                array.flags.writeable = False
        return self._weights


_draws_cache: dict[tuple[Any, ...], _Draws] = {}


def _shared_draws(
    plans: tuple[bootstrap.BlockPlan, bootstrap.BlockPlan], n_resamples: int, seed: int
) -> _Draws:
    """Draw both runs' block starts, or return the same draws made before.

    The draws depend only on the seed, the number of resamples and each run's
    sub-block grid, and every statistic of a compare draws from the same seed.
    On a large run most endpoints share one grid (the sub-block cap), so the
    last few draws are kept, with the weight matrices built from them: each
    matrix costs more to allocate and fill than the quantiles computed from it.
    """
    key = (seed, n_resamples, *((plan.n_sub, plan.sub_per_block) for plan in plans))
    found = _draws_cache.get(key)
    if found is None:
        rng = np.random.default_rng(seed)
        starts = tuple(bootstrap.draw_starts(plan, n_resamples, rng) for plan in plans)
        for array in starts:
            array.flags.writeable = False
        found = _Draws(starts)
        while len(_draws_cache) >= _DRAWS_KEPT:
            _draws_cache.pop(next(iter(_draws_cache)))
        _draws_cache[key] = found
    return found
