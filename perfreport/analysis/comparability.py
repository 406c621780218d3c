"""Checks that two runs measured the same thing before their numbers are compared.

:func:`check_comparability` reads two info dicts, one per run, with the keys
below. All are optional. A key missing from both runs is not checked, and a key
present in only one run gets a ``comparability-unknown`` warning.

``script``
    Script file name (``str``), e.g. ``"checkout.js"``.
``k6_version``
    k6 version string, e.g. ``"v1.1.0"``; major and minor must match.
``planned_duration_s``
    Planned test duration in seconds (``float``), from the options, not measured.
``scenarios``
    ``{name: {...}}`` per k6 scenario. Each value may carry ``executor``
    (``"ramping-vus"``, ``"constant-arrival-rate"``, ...) and the load profile:
    ``vus``, ``start_vus``, ``max_vus``, ``pre_allocated_vus``, ``rate``,
    ``start_rate``, ``time_unit_s``, ``duration_s``, ``iterations`` (numbers) and
    ``stages`` (a list of ``{"duration_s": float, "target": float}``).

Numbers count as equal within :data:`PROFILE_TOLERANCE` (relative).
"""

from __future__ import annotations

import re
from typing import Any

from perfreport.model import AnalysisWarning

PROFILE_TOLERANCE = 0.10
"""Largest relative difference of two profile numbers still called the same."""

PROFILE_NUMBERS = (
    "vus",
    "start_vus",
    "max_vus",
    "pre_allocated_vus",
    "rate",
    "start_rate",
    "time_unit_s",
    "duration_s",
    "iterations",
)

CODE = "not-comparable"


def check_comparability(
    baseline_info: dict[str, Any], candidate_info: dict[str, Any]
) -> list[AnalysisWarning]:
    """Return a warning for every way the two runs' setups differ.

    The keys are described in this module's docstring. An empty list means no
    difference was found among the keys both runs record.
    """
    warnings: list[AnalysisWarning] = []
    _compare_text(baseline_info, candidate_info, "script", "script", warnings)
    _compare_k6_version(baseline_info, candidate_info, warnings)
    _compare_number(
        baseline_info,
        candidate_info,
        "planned_duration_s",
        "planned duration (s)",
        warnings,
    )
    _compare_scenarios(baseline_info, candidate_info, warnings)
    return warnings


def _missing_in_one(
    baseline: dict[str, Any],
    candidate: dict[str, Any],
    key: str,
    label: str,
    warnings: list[AnalysisWarning],
) -> bool:
    # True when the key cannot be compared; warns when only one run records it.
    in_baseline = baseline.get(key) is not None
    in_candidate = candidate.get(key) is not None
    if in_baseline != in_candidate:
        run = "candidate" if in_baseline else "baseline"
        warnings.append(
            AnalysisWarning(
                "comparability-unknown",
                f"the {run} run does not record its {label}, so it cannot be "
                f"compared; record it in both runs",
            )
        )
    return not (in_baseline and in_candidate)


def _compare_text(
    baseline: dict[str, Any],
    candidate: dict[str, Any],
    key: str,
    label: str,
    warnings: list[AnalysisWarning],
) -> None:
    if _missing_in_one(baseline, candidate, key, label, warnings):
        return
    if str(baseline[key]) != str(candidate[key]):
        warnings.append(
            AnalysisWarning(
                CODE,
                f"{label} differs: baseline {baseline[key]!r}, candidate "
                f"{candidate[key]!r}; the runs may not measure the same thing",
            )
        )


def _major_minor(version: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _compare_k6_version(
    baseline: dict[str, Any],
    candidate: dict[str, Any],
    warnings: list[AnalysisWarning],
) -> None:
    if _missing_in_one(baseline, candidate, "k6_version", "k6 version", warnings):
        return
    old, new = str(baseline["k6_version"]), str(candidate["k6_version"])
    if _major_minor(old) != _major_minor(new):
        warnings.append(
            AnalysisWarning(
                CODE,
                f"k6 version differs: baseline {old}, candidate {new}; metric "
                f"definitions can change between k6 releases",
            )
        )


def _numbers_differ(old: float, new: float) -> bool:
    scale = max(abs(old), abs(new))
    return scale > 0 and abs(old - new) > PROFILE_TOLERANCE * scale


def _compare_number(
    baseline: dict[str, Any],
    candidate: dict[str, Any],
    key: str,
    label: str,
    warnings: list[AnalysisWarning],
) -> None:
    if _missing_in_one(baseline, candidate, key, label, warnings):
        return
    old, new = float(baseline[key]), float(candidate[key])
    if _numbers_differ(old, new):
        warnings.append(
            AnalysisWarning(
                CODE,
                f"{label} differs: baseline {old:g}, candidate {new:g} (more than "
                f"{PROFILE_TOLERANCE:.0%} apart); compare runs with the same load",
            )
        )


def _compare_scenarios(
    baseline: dict[str, Any],
    candidate: dict[str, Any],
    warnings: list[AnalysisWarning],
) -> None:
    if _missing_in_one(baseline, candidate, "scenarios", "scenarios", warnings):
        return
    old: dict[str, Any] = baseline["scenarios"]
    new: dict[str, Any] = candidate["scenarios"]
    if set(old) != set(new):
        warnings.append(
            AnalysisWarning(
                CODE,
                f"scenarios differ: baseline {sorted(old)}, candidate {sorted(new)}",
            )
        )
    for name in sorted(set(old) & set(new)):
        _compare_scenario(name, old[name] or {}, new[name] or {}, warnings)


def _compare_scenario(
    name: str,
    old: dict[str, Any],
    new: dict[str, Any],
    warnings: list[AnalysisWarning],
) -> None:
    prefix = f"scenario {name!r}:"
    _compare_text(old, new, "executor", f"{prefix} executor", warnings)
    for key in PROFILE_NUMBERS:
        _compare_number(old, new, key, f"{prefix} {key}", warnings)
    if _missing_in_one(old, new, "stages", f"{prefix} stages", warnings):
        return
    old_stages = [(float(s["duration_s"]), float(s["target"])) for s in old["stages"]]
    new_stages = [(float(s["duration_s"]), float(s["target"])) for s in new["stages"]]
    same = len(old_stages) == len(new_stages) and not any(
        _numbers_differ(a, c) or _numbers_differ(b, d)
        for (a, b), (c, d) in zip(old_stages, new_stages)
    )
    if not same:
        warnings.append(
            AnalysisWarning(
                CODE,
                f"{prefix} stages differ: baseline {old_stages}, candidate "
                f"{new_stages} as (duration s, target)",
            )
        )
