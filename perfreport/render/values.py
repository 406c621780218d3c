"""Text for criterion values and the escaping of input text in Markdown.

Values arrive in base units (ms, bytes, per second, shares from 0 to 1); these
functions pick the shown unit. Markdown escaping makes text from input files
(tag values, endpoint names, metadata) inert: it cannot close a table cell,
start a heading, open a link or inject HTML.
"""

from __future__ import annotations

import math
import re

from perfreport.render.units import byte_scale, format_value, number, time_scale

MISSING = "no data"

# Parentheses, braces and "!" need no escape: with "[" and "]" escaped, no link
# or image can form around them.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_URL_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)")


def format_measure(value: float | bool | None, kind: str) -> str:
    """Format a criterion's value (base units) for its kind of metric."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if kind == "bool" or isinstance(value, bool):
        return "leak detected" if value else "no leak"
    if kind == "time":
        divisor, unit = time_scale(value)
        return format_value(value, divisor, unit)
    if kind == "data":
        divisor, unit = byte_scale(value)
        return format_value(value, divisor, unit)
    if kind == "share":
        return f"{value * 100:.2f} %"
    if kind == "per_second":
        return f"{number(value, 1)} req/s"
    return number(value, 1)


def format_change(
    change_pct: float | None, ratio: float | None, relative_unit: str | None
) -> str:
    """Format a change from the baseline as the criterion states it (% or x)."""
    if relative_unit == "x" and ratio is not None:
        return f"{ratio:.2f}x"
    if change_pct is None:
        return "n/a"
    return f"{change_pct:+.1f} %"


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def show_control_characters(text: str) -> str:
    """Write control characters (ANSI escapes among them) as visible ``\\xNN`` text.

    A tag value could otherwise recolour or rewrite a terminal, or hide text in a
    Markdown file.
    """
    return _CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def escape_markdown(text: object) -> str:
    """Escape ``text`` for a Markdown table cell or paragraph.

    Markdown punctuation (pipes, backticks, emphasis, link brackets) gets a
    backslash, and ``&``, ``<`` and ``>`` become entities so that no HTML
    survives. Line breaks become spaces. A leading ``#`` or list marker (``- ``,
    ``+ ``, ``1.``) is escaped, and ``scheme://`` is broken so that no URL is
    autolinked.
    """
    value = str(text)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MD_SPECIAL.sub(r"\\\1", value)
    value = re.sub(r"[\r\n\t\v\f]+", " ", value)
    value = show_control_characters(value)
    value = _URL_SCHEME.sub(r"\1&#58;", value)
    value = re.sub(r"(?i)\bwww\.", "www&#46;", value)
    stripped = value.lstrip()
    if stripped.startswith("#") or re.match(r"^[-+=] ", stripped):
        value = "\\" + stripped
    elif re.match(r"^\d+[.)](\s|$)", stripped):
        value = re.sub(r"^(\d+)([.)])", r"\1\\\2", stripped)
    return value
