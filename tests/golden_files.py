"""Golden-file comparison: on a mismatch, show a diff and write the new output beside the golden file.

Regenerate a golden file by reviewing the ``.got`` file and moving it over the
golden one.
"""

from __future__ import annotations

import difflib
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent / "golden"


def assert_matches_golden(name: str, text: str) -> None:
    """Fail with a unified diff when ``text`` differs from ``tests/golden/<name>``."""
    golden = GOLDEN_DIR / name
    got = golden.with_name(f"{golden.stem}.got{golden.suffix}")
    expected = golden.read_text(encoding="utf-8") if golden.exists() else ""
    if text == expected:
        got.unlink(missing_ok=True)
        return
    got.write_text(text, encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=str(golden),
            tofile=str(got),
        )
    )
    raise AssertionError(f"output differs from {golden.name}; new output written to {got}\n{diff}")
