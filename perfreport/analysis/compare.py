"""Candidate runs against a baseline: change, direction and significance per statistic.

:func:`compare` lines up the summaries of the baseline and each candidate by
(metric, endpoint, statistic) and returns a :class:`Comparison` whose ``frame``
has one row per compared statistic:

``run``, ``metric``, ``endpoint``, ``statistic``, ``unit``
    What is compared; ``endpoint`` "" is the whole metric.
``baseline``, ``candidate``
    The two values, in base units (ms, bytes, per second, shares 0..1).
``change``, ``change_pct``, ``ratio``
    candidate − baseline, that change as a percentage of the baseline, and
    candidate / baseline (NaN when the baseline is 0).
``lower_is_better``
    True for latencies and error rates, False for throughput, check and cache hit
    rates, None where a change is neither good nor bad (counts, data volumes).
``direction``
    "better", "worse" or "same" from the raw change and ``lower_is_better``;
    None when the metric has no direction.
``ci_low_pct``, ``ci_high_pct``, ``p_value``, ``p_adjusted``, ``method``,
``n_baseline``, ``n_candidate``, ``block_length``, ``verdict``
    The significance test (see :mod:`perfreport.analysis.significance`):
    ``verdict`` is "better", "worse", "~" (no significant change) or "untested"
    when a side has only precomputed statistics or the test could not run.

Statistics present on one side only are listed in ``not_compared`` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from perfreport.analysis.percentiles import DEFAULT_TREND_STATS
from perfreport.analysis.summary import ENDPOINT, endpoint_keys, summarize
from perfreport.model import AnalysisWarning, Run

COMPARE_COLUMNS = (
    "run",
    "metric",
    "endpoint",
    "statistic",
    "unit",
    "baseline",
    "candidate",
    "change",
    "change_pct",
    "ratio",
    "lower_is_better",
    "direction",
    "ci_low_pct",
    "ci_high_pct",
    "p_value",
    "p_adjusted",
    "method",
    "n_baseline",
    "n_candidate",
    "block_length",
    "verdict",
)

# Built-in k6 metrics compared by default; every custom metric is compared too.
DEFAULT_METRICS = (
    "http_req_duration",
    "iteration_duration",
    "http_reqs",
    "http_req_failed",
    "checks",
    "iterations",
    "data_sent",
    "data_received",
    "vus_max",
)
# Statistics compared by default, by metric type: the ones a verdict rests on.
# Rate passes and fails, Gauge min and the like stay in the summary only.
DEFAULT_STATS_BY_TYPE = {
    "rate": ("rate",),
    "counter": ("count", "rate"),
    "gauge": ("value", "max"),
}
K6_BUILTIN_METRICS = frozenset(
    {
        "http_req_blocked",
        "http_req_connecting",
        "http_req_tls_handshaking",
        "http_req_waiting",
        "http_req_sending",
        "http_req_receiving",
        "group_duration",
        "vus",
        "dropped_iterations",
        "ws_connecting",
        "ws_session_duration",
        "ws_msgs_sent",
        "ws_msgs_received",
        "ws_sessions",
        "ws_ping",
        "grpc_req_duration",
    }
) | set(DEFAULT_METRICS)

# Metrics where a lower value is better, by name; Trends of durations are too.
LOWER_IS_BETTER = frozenset(
    {
        "http_req_failed",
        "db_connections",
        "cpu_usage",
        "memory_usage",
        "error_rate",
    }
)
HIGHER_IS_BETTER = frozenset(
    {"checks", "http_reqs", "iterations", "cache_hit_rate", "cache_hit_ratio"}
)


@dataclass
class Comparison:
    """Candidates compared with a baseline; see the module docstring for ``frame``."""

    baseline: Run
    candidates: tuple[Run, ...]
    frame: pd.DataFrame
    not_compared: pd.DataFrame
    warnings: list[AnalysisWarning] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the comparison frame."""
        return self.frame.copy()

    def _repr_html_(self) -> str:
        from perfreport.render.compare_table import comparison_html

        return comparison_html(self)


def metric_direction(metric: str, statistic: str, unit: str, metric_type: str | None) -> bool | None:
    """Return True when lower is better, False when higher is better, None when neither.

    Counts (and a Rate's passes and fails) grow with the run's length, so they
    have no better direction; their rates do.
    """
    if statistic in ("count", "passes", "fails"):
        return None
    if metric in LOWER_IS_BETTER:
        return True
    if metric in HIGHER_IS_BETTER or "cache_hit" in metric:
        return False
    if metric_type == "trend" and unit == "ms":
        return True
    return None


def compare(
    baseline: Run,
    *candidates: Run,
    stats: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    confidence: float = 0.95,
    min_effect: float = 0.05,
    alpha: float | None = None,
    correction: str = "bh",
    seed: int = 0,
    significance: bool = True,
) -> Comparison:
    """Compare each candidate run with the baseline, statistic by statistic.

    ``stats`` chooses the Trend statistics (default :data:`DEFAULT_TREND_STATS`).
    ``metrics`` limits the metrics (default: :data:`DEFAULT_METRICS` and every
    custom metric; ``["all"]`` compares every metric). ``confidence``,
    ``min_effect``, ``correction`` and ``seed`` go to the significance tests.
    """
    if not candidates:
        raise ValueError("compare() needs at least one candidate run")
    for run in (baseline, *candidates):
        if not isinstance(run, Run):
            raise TypeError(
                f"compare() takes Run objects as separate arguments, got {type(run).__name__}; "
                "pass compare(baseline, *candidates) and load files with perfreport.load()"
            )
    trend_stats = tuple(stats or DEFAULT_TREND_STATS)
    # Built once per run: the statistics and the tests both group by endpoint.
    endpoints = {
        id(run): endpoint_keys(run.points) for run in (baseline, *candidates) if run.points is not None
    }
    base_summary = summarize(baseline, stats=trend_stats, endpoints=endpoints.get(id(baseline)))
    frames, missing, warnings = [], [], []
    for candidate in candidates:
        cand_summary = summarize(candidate, stats=trend_stats, endpoints=endpoints.get(id(candidate)))
        aligned = _align_endpoints(base_summary, cand_summary)
        joined, only = _join(aligned, cand_summary, baseline, candidate, metrics)
        frames.append(joined)
        missing.append(only)
        if significance:
            from perfreport.analysis.compare_significance import assess

            warnings += assess(
                joined, baseline, candidate, confidence=confidence, min_effect=min_effect,
                alpha=alpha, correction=correction, seed=seed,
                endpoints=(endpoints.get(id(baseline)), endpoints.get(id(candidate))),
            )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COMPARE_COLUMNS)
    not_compared = pd.concat(missing, ignore_index=True)
    for run in (baseline, *candidates):
        warnings.extend(run.warnings)
    return Comparison(
        baseline=baseline,
        candidates=tuple(candidates),
        frame=frame[list(COMPARE_COLUMNS)],
        not_compared=not_compared,
        warnings=warnings,
        options={
            "stats": list(trend_stats), "confidence": confidence, "min_effect": min_effect,
            "correction": correction, "seed": seed,
        },
    )


def _align_endpoints(base: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    """Rename baseline endpoints given as paths to the candidate's endpoint names.

    A baseline file records endpoints as the paths it requested (``/api/stats``),
    while k6 runs name them (``GET /api/stats``). A path matches the one candidate
    endpoint that ends with " " + path, or the GET one among several.
    """
    candidate_endpoints = set(candidate[ENDPOINT].unique()) - {""}
    renames = {}
    for endpoint in set(base[ENDPOINT].unique()) - {""} - candidate_endpoints:
        matches = [c for c in candidate_endpoints if c.endswith(" " + endpoint)]
        # A baseline file's timings come from plain GET requests (curl).
        if len(matches) > 1:
            matches = [c for c in matches if c.startswith("GET ")]
        if len(matches) == 1:
            renames[endpoint] = matches[0]
    if not renames:
        return base
    aligned = base.copy()
    aligned[ENDPOINT] = aligned[ENDPOINT].replace(renames)
    return aligned


def _selected(
    frame: pd.DataFrame, metrics: Sequence[str] | None, types: Mapping[str, str]
) -> pd.DataFrame:
    if metrics and "all" in metrics:
        return frame
    if metrics:
        return frame[frame["metric"].isin(metrics)]
    names = frame["metric"].astype(str)
    keep = names.isin(DEFAULT_METRICS) | ~names.isin(K6_BUILTIN_METRICS)
    # Sub-metrics with a selector other than the name tag stay out by default.
    keep &= ~names.str.contains("{", regex=False)
    wanted = [
        statistic in DEFAULT_STATS_BY_TYPE.get(types.get(metric, "trend"), (statistic,))
        for metric, statistic in zip(names, frame["statistic"])
    ]
    keep &= pd.Series(wanted, index=frame.index, dtype=bool)
    # Per-endpoint counts repeat the rates; keep the whole-run count only.
    keep &= ~(
        (frame["statistic"] == "count")
        & (frame[ENDPOINT] != "")
        & names.map(lambda m: types.get(m) == "counter")
    )
    return frame[keep]


def _join(
    base: pd.DataFrame,
    cand: pd.DataFrame,
    baseline: Run,
    candidate: Run,
    metrics: Sequence[str] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = ["metric", ENDPOINT, "statistic"]
    types = {name: m.type for name, m in baseline.metrics.items()}
    types.update({name: m.type for name, m in candidate.metrics.items()})
    base = _selected(base, metrics, types)
    cand = _selected(cand, metrics, types)
    merged = base.merge(
        cand, on=keys, how="outer", suffixes=("_b", "_c"), indicator=True
    )
    only = merged[merged["_merge"] != "both"]
    not_compared = pd.DataFrame(
        {
            "run": candidate.name,
            "metric": only["metric"],
            "endpoint": only[ENDPOINT],
            "statistic": only["statistic"],
            "reason": np.where(
                only["_merge"] == "left_only",
                f"only in the baseline ({baseline.name})",
                f"only in {candidate.name}",
            ),
        }
    )
    both = merged[merged["_merge"] == "both"].copy()
    # A Trend's count is the number of samples, not a speed, so it is left out.
    both = both[~((both["statistic"] == "count") & (both["unit_b"] == "") & both["metric"].map(
        lambda m: _metric_type(baseline, candidate, m) == "trend"
    ))]
    rows = _rows(both, baseline, candidate)
    return rows, not_compared.reset_index(drop=True)


def _metric_type(baseline: Run, candidate: Run, metric: str) -> str | None:
    definition = candidate.metrics.get(metric) or baseline.metrics.get(metric)
    return definition.type if definition is not None else None


def _rows(both: pd.DataFrame, baseline: Run, candidate: Run) -> pd.DataFrame:
    base_values = both["value_b"].to_numpy(dtype=float)
    cand_values = both["value_c"].to_numpy(dtype=float)
    change = cand_values - base_values
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(base_values != 0, cand_values / base_values, np.nan)
        change_pct = np.where(base_values != 0, change / np.abs(base_values) * 100.0, np.nan)
    units = both["unit_c"].where(both["unit_c"].astype(bool), both["unit_b"]).fillna("")
    lower_is_better = [
        metric_direction(m, s, u, _metric_type(baseline, candidate, m))
        for m, s, u in zip(both["metric"], both["statistic"], units)
    ]
    directions = pd.array(
        [_direction(c, lower) for c, lower in zip(change, lower_is_better)],
        dtype="object",
    )
    frame = pd.DataFrame(
        {
            "run": candidate.name,
            "metric": both["metric"].to_numpy(),
            "endpoint": both[ENDPOINT].to_numpy(),
            "statistic": both["statistic"].to_numpy(),
            "unit": units.to_numpy(),
            "baseline": base_values,
            "candidate": cand_values,
            "change": change,
            "change_pct": change_pct,
            "ratio": ratio,
            "lower_is_better": pd.array(lower_is_better, dtype="boolean"),
            "direction": directions,
            "ci_low_pct": math.nan,
            "ci_high_pct": math.nan,
            "p_value": math.nan,
            "p_adjusted": math.nan,
            "method": "",
            "n_baseline": both["n_b"].to_numpy(dtype=float),
            "n_candidate": both["n_c"].to_numpy(dtype=float),
            "block_length": math.nan,
            "verdict": "untested",
        }
    )
    return frame.sort_values(["metric", "endpoint", "statistic"], kind="stable").reset_index(drop=True)


def _direction(change: float, lower_is_better: bool | None) -> str | None:
    if lower_is_better is None or math.isnan(change):
        return None
    if change == 0:
        return "same"
    improved = change < 0 if lower_is_better else change > 0
    return "better" if improved else "worse"
