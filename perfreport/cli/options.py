"""Option parsing shared by several commands, checked before any work starts."""

from __future__ import annotations

import re
from pathlib import Path

from perfreport.analysis.percentiles import validate_trend_stats
from perfreport.errors import UsageError
from perfreport.ingest.detect import NOT_REGULAR_FILE, NOT_REGULAR_HINT

_PERCENT = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*%?\s*$")


def parse_fraction(
    text: str, option: str, *, low: float, high: float, example: str = "5%"
) -> float:
    """Parse ``5%``, ``5`` (percent) or ``0.05`` into a fraction within [low, high]."""
    match = _PERCENT.match(text)
    if match is None:
        raise UsageError(
            f"invalid value {text!r} for {option}; give a percentage such as "
            f"'{example}' or the same as a fraction"
        )
    number = float(match.group(1))
    fraction = number / 100.0 if ("%" in text or number > 1) else number
    if fraction < low or fraction > high:
        raise UsageError(
            f"{option} {text!r} is out of range; use a value from {low * 100:g}% to {high * 100:g}%"
        )
    return fraction


def parse_stats(values: list[str] | None) -> tuple[str, ...]:
    """Check ``--stat`` values; a value may list several, comma-separated."""
    if not values:
        return ()
    names: list[str] = []
    for value in values:
        names.extend(part for part in _split_stats(value) if part)
    return validate_trend_stats(names)


def _split_stats(value: str) -> list[str]:
    # Commas separate statistics, except inside "p(99,9)" which k6 does not accept anyway.
    return [part.strip() for part in value.split(",")]


def check_output(path: Path | None) -> Path | None:
    """Fail early, with the fix, when ``-o`` cannot name a file to write."""
    if path is None:
        return None
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; give a file name for -o, e.g. {path / 'out.txt'}")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent}: folder not found; create it or choose another -o path")
    return path


def check_input(path: Path) -> Path:
    """Fail early, with the fix, when an input path does not name a readable file."""
    if not path.exists():
        raise UsageError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; give the k6 output or summary file inside it")
    if not path.is_file():
        raise UsageError(f"{path}: {NOT_REGULAR_FILE}; {NOT_REGULAR_HINT}")
    return path
