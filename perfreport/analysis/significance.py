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
over the resamples, with one added to each count and to the number of resamples.
It is below ``alpha`` exactly when the ``1 - alpha`` percentile interval of the
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
from collections.abc import Sequence

import numpy as np

from perfreport.analysis import bootstrap
from perfreport.analysis.change import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_EFFECT,
    DEFAULT_RESAMPLES,
    ChangeEstimate,
    Resampler,
    build_estimate,
    check_block_counts,
    choose_block_length,
    decide_verdict,
    make_settings,
    parse_statistic,
    percentile_warning,
    prepare_series,
    validate_options,
)
from perfreport.analysis.comparability import check_comparability
from perfreport.analysis.multiple import DEFAULT_CORRECTION, adjust_p_values
from perfreport.analysis.percentiles import k6_average, k6_quantile
from perfreport.analysis.ranktests import MannWhitneyView, mann_whitney_view
from perfreport.analysis.rates import (
    estimate_proportion_change,
    estimate_rate_change,
    per_second_counts,
)
from perfreport.model import AnalysisWarning

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_CORRECTION",
    "DEFAULT_MIN_EFFECT",
    "DEFAULT_RESAMPLES",
    "ChangeEstimate",
    "MannWhitneyView",
    "adjust",
    "check_comparability",
    "decide_verdict",
    "estimate_change",
    "estimate_changes",
    "estimate_proportion_change",
    "estimate_rate_change",
    "mann_whitney_view",
    "parse_statistic",
    "per_second_counts",
    "validate_options",
]


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
    (percentiles by k6's interpolation, :func:`~perfreport.analysis.percentiles.k6_quantile`).
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
    settings = make_settings(
        confidence, alpha, min_effect, n_resamples, block_length, lower_is_better
    )
    parsed = [(name, *parse_statistic(name)) for name in statistics]
    base = prepare_series(baseline, baseline_times, "baseline")
    cand = prepare_series(candidate, candidate_times, "candidate")
    sizes = (base.values.size, cand.values.size)
    if block_length is None:
        block_length = choose_block_length(base.values, cand.values)
        rule = f"Politis-White block length {block_length}"
    else:
        rule = f"block length {block_length}"
    plans = (
        bootstrap.plan_blocks(sizes[0], block_length),
        bootstrap.plan_blocks(sizes[1], block_length),
    )
    used_length = max(plan.block_length for plan in plans)
    block_warnings, testable = check_block_counts(plans, confidence, "requests")
    common = [*base.warnings, *cand.warnings, *block_warnings]

    resampler = Resampler(base.values, cand.values, plans, settings, seed, testable)
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
            beyond = percentile_warning(q, sizes, name)
            if beyond is not None:
                warnings.append(beyond)
            elif testable:
                draws = resampler.quantiles(q)
                method += f", binned to {bootstrap.QUANTILE_ERROR_BOUND:.2%}"
        elif testable:
            draws = resampler.means()
        results.append(
            build_estimate(
                name, points, draws, sizes, used_length, method, warnings, settings
            )
        )
    return results


def _point_values(
    baseline: np.ndarray, candidate: np.ndarray, kind: str, q: float | None
) -> tuple[float, float]:
    # k6's definitions: the mean sums in arrival order, percentiles interpolate.
    def one(values: np.ndarray) -> float:
        if values.size == 0:
            return math.nan
        if kind == "mean":
            return k6_average(values)
        if kind == "min":
            return float(np.min(values))
        if kind == "max":
            return float(np.max(values))
        return k6_quantile(values, float(q or 0.0))

    return one(baseline), one(candidate)


def _no_interval_warning(statistic: str) -> AnalysisWarning:
    return AnalysisWarning(
        "no-interval",
        f"{statistic} depends on a single request, so no interval or test is "
        f"possible; compare a high percentile such as p(99) instead",
    )


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
