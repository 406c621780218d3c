"""Renderers of a :class:`~perfreport.analysis.compare.Comparison`: text, Markdown, JSON, HTML."""

from __future__ import annotations

import html
import json
import math
from typing import Any

import pandas as pd

from perfreport.render.values import escape_markdown, show_control_characters
from perfreport.render.units import (
    format_percent_change,
    format_ratio,
    format_value,
    is_missing,
    scale_for,
)

COMPARE_FORMAT = "perfreport-compare/1"
VERDICT_MARKS = {"better": "better", "worse": "WORSE", "~": "~", "untested": "untested"}
HEADER = ("Metric", "Endpoint", "Stat", "Baseline", "Candidate", "Change", "Ratio", "95% CI", "p", "Verdict")


def _interval(row: Any) -> str:
    if is_missing(row.ci_low_pct) or is_missing(row.ci_high_pct):
        return ""
    return f"[{row.ci_low_pct:+.1f}, {row.ci_high_pct:+.1f}] %"


def _p_value(row: Any) -> str:
    value = row.p_adjusted if not is_missing(row.p_adjusted) else row.p_value
    if is_missing(value):
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _verdict(row: Any) -> str:
    if row.verdict == "untested" and row.lower_is_better is pd.NA:
        return ""
    verdict = VERDICT_MARKS.get(row.verdict, str(row.verdict))
    if row.verdict == "untested" and isinstance(row.direction, str):
        return f"{row.direction} (untested)"
    return verdict


def comparison_title(baseline: str, candidate: str) -> str:
    """Return the heading of one candidate's table, e.g. ``stress vs baseline``."""
    if baseline == "baseline":
        return f"{candidate} vs baseline"
    return f"{candidate} vs baseline {baseline}"


def table_rows(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    """Return the cells of the comparison table, one tuple per compared statistic."""
    rows: list[tuple[str, ...]] = []
    for row in frame.itertuples(index=False):
        divisor, unit = scale_for(row.unit, row.statistic, row.baseline, row.candidate)
        rows.append(
            (
                str(row.metric),
                str(row.endpoint) or "(all)",
                str(row.statistic),
                format_value(row.baseline, divisor, unit),
                format_value(row.candidate, divisor, unit),
                format_percent_change(row.change_pct),
                format_ratio(row.ratio),
                _interval(row),
                _p_value(row),
                _verdict(row),
            )
        )
    return rows


def _confidence_header(comparison: Any) -> tuple[str, ...]:
    confidence = comparison.options.get("confidence", 0.95)
    return HEADER[:7] + (f"{confidence * 100:g}% CI",) + HEADER[8:]


def _text_cell(value: str) -> str:
    # Tag values come from input files: keep a hostile value on one line and
    # show its control characters instead of sending them to the terminal.
    return show_control_characters(value.replace("\t", " ").replace("\r", "\\r").replace("\n", "\\n"))


def comparison_text(comparison: Any) -> str:
    """Render the comparison as aligned plain-text tables, one per candidate run."""
    parts = []
    header = _confidence_header(comparison)
    for candidate in comparison.candidates:
        frame = comparison.frame[comparison.frame["run"] == candidate.name]
        rows = [tuple(_text_cell(c) for c in row) for row in table_rows(frame)]
        header_row = header[:4] + (candidate.name,) + header[5:]
        widths = [max(len(r[i]) for r in [header_row, *rows]) for i in range(len(header))]
        right = {3, 4, 5, 6}
        lines = [_text_cell(comparison_title(comparison.baseline.name, candidate.name))]
        for cells in [header_row, *rows]:
            padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
            lines.append("  ".join(padded).rstrip())
            if cells is header_row:
                lines.append("  ".join("-" * w for w in widths))
        parts.append("\n".join(lines))
    parts.append(_footer_text(comparison))
    return "\n\n".join(p for p in parts if p) + "\n"


def _footer_text(comparison: Any) -> str:
    lines = []
    options = comparison.options
    lines.append(
        "Percentiles as k6 computes them (sort, index p·(n−1), linear interpolation). "
        f"Intervals and p from a circular block bootstrap; p adjusted with "
        f"{CORRECTION_NAMES.get(options.get('correction', 'bh'), options.get('correction'))}. "
        f"'~' means no significant change at {options.get('confidence', 0.95) * 100:g}% confidence "
        f"or a change under the minimum effect of {options.get('min_effect', 0.05) * 100:g}%."
    )
    for reason, rows in comparison.not_compared.groupby("reason", sort=True):
        names = [
            " ".join(part for part in (row.metric, row.endpoint, row.statistic) if part)
            for row in rows.itertuples(index=False)
        ]
        shown = ", ".join(names[:6])
        more = f" and {len(names) - 6} more" if len(names) > 6 else ""
        lines.append(_text_cell(f"Not compared, {reason}: {shown}{more}."))
    prefixes = tuple(f"{run.name} " for run in comparison.candidates)
    for number, (message, labels) in enumerate(grouped_warnings(comparison.warnings, prefixes), start=1):
        where = ""
        if labels:
            shown = ", ".join(labels[:3])
            more = f" and {len(labels) - 3} more" if len(labels) > 3 else ""
            where = f" ({shown}{more})"
        lines.append(_text_cell(f"[{number}] {message}{where}"))
    return "\n".join(lines)


CORRECTION_NAMES = {"bh": "Benjamini-Hochberg (false discovery rate)", "holm": "Holm (family-wise error)"}


def grouped_warnings(warnings: list[Any], row_prefixes: tuple[str, ...] = ()) -> list[tuple[str, list[str]]]:
    """Group warnings that differ only in the row they name: (message, [row labels]).

    Significance warnings read ``"<run> <metric> [endpoint] <stat>: <message>"``,
    where ``<run>`` is a candidate's name (given as ``row_prefixes``). The part
    after the first ": " is the message that many rows share. Other warnings stay
    whole.
    """
    groups: dict[str, list[str]] = {}
    for warning in warnings:
        label, separator, message = warning.message.partition(": ")
        if not separator or not label.startswith(row_prefixes) or not row_prefixes:
            label, message = "", warning.message
        labels = groups.setdefault(message, [])
        if label and label not in labels:
            labels.append(label)
    return list(groups.items())


def markdown_cell(value: str) -> str:
    """Escape a value for a Markdown table cell (see :func:`escape_markdown`)."""
    return escape_markdown(value)


def comparison_markdown(comparison: Any) -> str:
    """Render the comparison as GitHub-flavoured Markdown tables."""
    parts = []
    header = _confidence_header(comparison)
    for candidate in comparison.candidates:
        frame = comparison.frame[comparison.frame["run"] == candidate.name]
        header_row = header[:4] + (candidate.name,) + header[5:]
        lines = [f"### {markdown_cell(comparison_title(comparison.baseline.name, candidate.name))}", ""]
        lines.append("| " + " | ".join(markdown_cell(c) for c in header_row) + " |")
        lines.append("|" + "|".join(["---"] * 3 + ["---:"] * 4 + ["---"] * 3) + "|")
        for cells in table_rows(frame):
            lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
        parts.append("\n".join(lines))
    footer = _footer_text(comparison)
    if footer:
        parts.append("\n".join(markdown_cell(line) for line in footer.splitlines()).replace("\n", "\n\n"))
    return "\n\n".join(parts) + "\n"


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return _json_value(value.item())
    return value


def comparison_dict(comparison: Any) -> dict[str, Any]:
    """Return the comparison as a JSON-ready dictionary (raw numbers, base units)."""
    rows = [
        {key: _json_value(value) for key, value in record.items()}
        for record in comparison.frame.to_dict(orient="records")
    ]
    return {
        "format": COMPARE_FORMAT,
        "baseline": {"name": comparison.baseline.name, "source": comparison.baseline.source,
                     "kind": comparison.baseline.kind},
        "candidates": [
            {"name": run.name, "source": run.source, "kind": run.kind} for run in comparison.candidates
        ],
        "options": comparison.options,
        "rows": rows,
        "not_compared": comparison.not_compared.to_dict(orient="records"),
        "warnings": [
            {"code": w.code, "message": w.message, "source": w.source} for w in comparison.warnings
        ],
    }


def comparison_json(comparison: Any) -> str:
    """Render the comparison as JSON text."""
    return json.dumps(comparison_dict(comparison), indent=2, allow_nan=False) + "\n"


def comparison_html(comparison: Any) -> str:
    """Render the comparison as an HTML table (used by Jupyter's rich display)."""
    header = _confidence_header(comparison)
    parts = []
    for candidate in comparison.candidates:
        frame = comparison.frame[comparison.frame["run"] == candidate.name]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in header[:4] + (candidate.name,) + header[5:])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
            for cells in table_rows(frame)
        )
        parts.append(
            f"<h4>{html.escape(comparison_title(comparison.baseline.name, candidate.name))}</h4>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
    footer = _footer_text(comparison)
    if footer:
        parts.append("".join(f"<p><small>{html.escape(line)}</small></p>" for line in footer.splitlines()))
    return "\n".join(parts)
