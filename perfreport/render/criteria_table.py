"""The criteria verdict as a plain-text table for the terminal (``perfreport check``)."""

from __future__ import annotations

from perfreport.analysis.criteria import CriteriaResult
from perfreport.render.values import format_measure
from perfreport.reporting import achieved_text

HEADERS = ("Criterion", "Run", "Target", "Achieved", "Baseline", "Status", "Note")
MAX_CELL = 60


def _cell(text: str) -> str:
    # Input text (run names, endpoints) must not break the table's lines.
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_CELL else flat[: MAX_CELL - 1] + "…"


def criteria_rows(result: CriteriaResult) -> list[tuple[str, ...]]:
    """Return one tuple of cell texts per criterion row, in :data:`HEADERS` order."""
    rows: list[tuple[str, ...]] = []
    for row in result.rows:
        criterion = row.criterion
        target = f"{criterion.op} {criterion.target_text}"
        if criterion.is_relative:
            target += " vs baseline"
        note = row.reason
        if row.verdict == "NO DATA" and criterion.optional:
            note = f"optional: {note}"
        baseline = (
            format_measure(row.baseline, criterion.kind)
            if row.baseline is not None
            else ""
        )
        rows.append(
            (
                criterion.name,
                row.run,
                target,
                achieved_text(row),
                baseline,
                row.verdict,
                note,
            )
        )
    return rows


def criteria_table(result: CriteriaResult) -> str:
    """Format the rows as an aligned table followed by the gate's verdict line."""
    rows = [tuple(_cell(c) for c in row) for row in criteria_rows(result)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows
    ]
    failed = sum(1 for r in result.rows if r.gate_failed)
    verdict = (
        "PASS"
        if result.passed
        else f"FAIL ({failed} of {len(result.rows)} rows fail the gate)"
    )
    lines.append("")
    lines.append(f"Gate: {verdict}")
    return "\n".join(lines) + "\n"
