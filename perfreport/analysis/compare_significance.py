"""Fills the significance columns of a comparison frame from the runs' raw samples.

Each row is tested with the method that fits its statistic (see
:mod:`perfreport.analysis.significance`): a circular block bootstrap of the
requests for Trend statistics, of the per-second counts for Counter rates
(throughput), and of the 0/1 samples for Rate metrics (error, check and cache hit
rates). All tested rows of one candidate form one family whose p-values are
corrected together (Benjamini-Hochberg by default, Holm on request).

A row stays ``untested`` when either run has only precomputed statistics, when
the metric has no better direction (counts, data volumes, gauges), or when the
test itself reports that it cannot run (too few requests, min and max).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from perfreport.analysis import significance
from perfreport.analysis.change import ChangeEstimate
from perfreport.analysis.summary import endpoint_keys, split_positions
from perfreport.model import AnalysisWarning, Run

NO_SAMPLES_METHOD = "not tested: a run has only precomputed statistics"


class _Samples:
    """One run's samples by (metric, endpoint), in time order.

    The first lookup splits the run by metric and by (metric, endpoint) with a
    stable sort of small integer codes. Every lookup after that is a slice.
    """

    def __init__(self, run: Run, endpoints: pd.Series | None = None) -> None:
        self.run = run
        self._endpoints = endpoints
        self._groups: dict[tuple[str, str], np.ndarray] | None = None
        self._values: np.ndarray | None = None
        self._times: np.ndarray | None = None

    def get(self, metric: str, endpoint: str) -> tuple[np.ndarray, np.ndarray]:
        if self._groups is None:
            self._split()
        assert self._groups is not None
        assert self._values is not None
        assert self._times is not None
        positions = self._groups.get((metric, endpoint), np.empty(0, dtype=np.int64))
        return self._values[positions], self._times[positions]

    def _split(self) -> None:
        points = self.run.points
        assert points is not None
        self._values = points["value"].to_numpy(dtype=np.float64)
        self._times = pd.DatetimeIndex(points["time"]).asi8
        metric_codes, metric_names = pd.factorize(points["metric"], sort=False)
        keys = self._endpoints if self._endpoints is not None else endpoint_keys(points)
        key_codes = keys.cat.codes.to_numpy(dtype=np.int64)
        key_names = [str(name) for name in keys.cat.categories]
        groups: dict[tuple[str, str], np.ndarray] = {}
        for code, positions in split_positions(metric_codes):
            groups[(str(metric_names[code]), "")] = positions
        combined = metric_codes.astype(np.int64) * (len(key_names) + 1) + key_codes + 1
        for code, positions in split_positions(combined):
            metric, key = divmod(code, len(key_names) + 1)
            if key > 0 and key_names[key - 1]:
                groups[(str(metric_names[metric]), key_names[key - 1])] = positions
        self._groups = groups


def run_profile(run: Run) -> dict[str, Any]:
    """Describe how a run was driven, for the comparability checks.

    Keys the run's info already has (``script``, ``k6_version``,
    ``planned_duration_s``, ``scenarios``) are kept. From raw samples it adds the
    scenario names (the ``scenario`` tag) and, for a single scenario, its
    largest VU count (the ``vus_max`` gauge), since k6's raw output records
    neither the executor nor the planned duration.
    """
    profile = {key: run.info[key] for key in PROFILE_KEYS if run.info.get(key) is not None}
    points = run.points
    if "scenarios" in profile or points is None or "tag.scenario" not in points.columns:
        return profile
    # unique() of a categorical column touches each category once, not each point.
    names = sorted({str(name) for name in points["tag.scenario"].dropna().unique()} - {""})
    if not names:
        return profile
    scenarios: dict[str, dict[str, Any]] = {name: {} for name in names}
    vus_max = points.loc[points["metric"] == "vus_max", "value"]
    if len(names) == 1 and not vus_max.empty:
        scenarios[names[0]]["max_vus"] = float(vus_max.max())
    profile["scenarios"] = scenarios
    return profile


PROFILE_KEYS = ("script", "k6_version", "planned_duration_s", "scenarios")


def assess(
    frame: pd.DataFrame,
    baseline: Run,
    candidate: Run,
    *,
    confidence: float,
    min_effect: float,
    alpha: float | None,
    correction: str,
    seed: int,
    endpoints: tuple[pd.Series | None, pd.Series | None] = (None, None),
) -> list[AnalysisWarning]:
    """Test each row of ``frame`` in place and return the warnings the tests raised.

    ``endpoints`` are the runs' :func:`endpoint_keys`, when the caller has them.
    """
    warnings = significance.check_comparability(run_profile(baseline), run_profile(candidate))
    if baseline.points is None or candidate.points is None:
        frame["method"] = NO_SAMPLES_METHOD
        return warnings
    options = {"confidence": confidence, "alpha": alpha, "min_effect": min_effect, "seed": seed}
    samples = (_Samples(baseline, endpoints[0]), _Samples(candidate, endpoints[1]))
    estimates: dict[int, ChangeEstimate] = {}
    for (metric, endpoint), rows in frame.groupby(["metric", "endpoint"], sort=False):
        tester = _tester_for(baseline, candidate, str(metric))
        if tester is None:
            continue
        tested = rows[rows["lower_is_better"].notna()]
        if tested.empty:
            continue
        found = tester(samples, str(metric), str(endpoint), tested, options)
        estimates.update(found)
    _record(frame, estimates, correction, warnings)
    return warnings


Tester = Callable[[tuple[_Samples, _Samples], str, str, pd.DataFrame, dict[str, Any]], dict[int, ChangeEstimate]]


def _tester_for(baseline: Run, candidate: Run, metric: str) -> Tester | None:
    definition = candidate.metrics.get(metric) or baseline.metrics.get(metric)
    if definition is None:
        return None
    return {"trend": _test_trend, "rate": _test_rate, "counter": _test_counter}.get(definition.type)


def _test_trend(samples, metric, endpoint, rows, options) -> dict[int, ChangeEstimate]:
    (base_values, base_times), (cand_values, cand_times) = (s.get(metric, endpoint) for s in samples)
    lower = bool(rows["lower_is_better"].iloc[0])
    results = significance.estimate_changes(
        base_values, cand_values, list(rows["statistic"]),
        baseline_times=base_times, candidate_times=cand_times, lower_is_better=lower, **options,
    )
    return dict(zip(rows.index, results))


def _test_rate(samples, metric, endpoint, rows, options) -> dict[int, ChangeEstimate]:
    (base_values, base_times), (cand_values, cand_times) = (s.get(metric, endpoint) for s in samples)
    found: dict[int, ChangeEstimate] = {}
    for index, row in rows.iterrows():
        if row["statistic"] != "rate":
            continue
        found[index] = significance.estimate_proportion_change(
            base_values != 0, cand_values != 0, base_times, cand_times,
            lower_is_better=bool(row["lower_is_better"]), **options,
        )
    return found


def _test_counter(samples, metric, endpoint, rows, options) -> dict[int, ChangeEstimate]:
    (base_values, base_times), (cand_values, cand_times) = (s.get(metric, endpoint) for s in samples)
    found: dict[int, ChangeEstimate] = {}
    # The per-second test counts samples, which equals the Counter's sum only
    # when every sample adds 1 (http_reqs, iterations).
    if not (np.all(base_values == 1) and np.all(cand_values == 1)):
        return found
    for index, row in rows.iterrows():
        if row["statistic"] != "rate":
            continue
        found[index] = significance.estimate_rate_change(
            base_times, cand_times, lower_is_better=bool(row["lower_is_better"]), **options,
        )
    return found


def _record(
    frame: pd.DataFrame,
    estimates: dict[int, ChangeEstimate],
    correction: str,
    warnings: list[AnalysisWarning],
) -> None:
    indexes = list(estimates)
    adjusted = significance.adjust([estimates[i] for i in indexes], method=correction)
    for index, estimate in zip(indexes, adjusted):
        frame.at[index, "ci_low_pct"] = _nan(estimate.ci_low_pct)
        frame.at[index, "ci_high_pct"] = _nan(estimate.ci_high_pct)
        frame.at[index, "p_value"] = _nan(estimate.p_value)
        frame.at[index, "p_adjusted"] = _nan(estimate.p_adjusted)
        frame.at[index, "method"] = estimate.method
        frame.at[index, "block_length"] = _nan(estimate.block_length)
        frame.at[index, "verdict"] = estimate.verdict
        label = _row_label(frame.loc[index])
        for warning in estimate.warnings:
            warnings.append(AnalysisWarning(warning.code, f"{label}: {warning.message}", warning.source))


def _row_label(row: pd.Series) -> str:
    endpoint = f" {row['endpoint']}" if row["endpoint"] else ""
    return f"{row['run']} {row['metric']}{endpoint} {row['statistic']}"


def _nan(value: float | int | None) -> float:
    return math.nan if value is None else float(value)
