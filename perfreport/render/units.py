"""Formatting of values for people: one scale per row, base units in the data.

Values stay in base units (ms, bytes, per second, shares from 0 to 1) everywhere
else; only renderers call these functions.
"""

from __future__ import annotations

import math

NO_SAMPLES = "no samples"
_BYTE_SCALES = ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB"), (1, "B"))


def is_missing(value: float | None) -> bool:
    """Return True for None and NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def time_scale(*values_ms: float | None) -> tuple[float, str]:
    """Choose one (divisor, unit) for durations in milliseconds: µs, ms or s."""
    finite = [abs(v) for v in values_ms if v is not None and not is_missing(v)]
    largest = max(finite, default=0.0)
    if largest >= 10_000:
        return 1000.0, "s"
    if 0 < largest < 1:
        return 0.001, "µs"
    return 1.0, "ms"


def byte_scale(*values: float | None) -> tuple[float, str]:
    """Choose one (divisor, unit) for byte counts."""
    largest = max((abs(v) for v in values if v is not None and not is_missing(v)), default=0.0)
    for divisor, unit in _BYTE_SCALES:
        if largest >= divisor:
            return float(divisor), unit
    return 1.0, "B"


def number(value: float | None, digits: int = 2) -> str:
    """Format a plain number with thousands separators and at most ``digits`` decimals."""
    if is_missing(value):
        return NO_SAMPLES
    assert value is not None
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def scale_for(unit: str, statistic: str, *values: float | None) -> tuple[float, str]:
    """Return (divisor, shown unit) for a row of ``unit`` values."""
    if unit == "ms":
        return time_scale(*values)
    if unit == "bytes":
        return byte_scale(*values)
    if unit == "bytes/s":
        divisor, shown = byte_scale(*values)
        return divisor, f"{shown}/s"
    if unit == "" and statistic == "rate":
        return 0.01, "%"
    return 1.0, unit


def format_value(value: float | None, divisor: float, unit: str) -> str:
    """Format ``value`` divided by ``divisor`` with its unit."""
    if is_missing(value):
        return NO_SAMPLES
    assert value is not None
    scaled = value / divisor
    digits = 2 if abs(scaled) < 1000 else 0
    text = number(scaled, digits)
    if unit == "%":
        return f"{text} %"
    return f"{text} {unit}".strip()


def format_percent_change(value: float | None) -> str:
    """Format a percent change with its sign, e.g. ``-62.1 %``."""
    if is_missing(value):
        return "n/a"
    assert value is not None
    return f"{value:+.1f} %"


def format_ratio(value: float | None) -> str:
    """Format a ratio as a multiplier, e.g. ``×2.40``."""
    if is_missing(value):
        return "n/a"
    assert value is not None
    return f"×{value:.2f}"
