"""Guards against JSON that nests arrays and objects too deeply to decode safely.

Python's json module recurses once per level and raises RecursionError near the
interpreter's recursion limit (1000 by default). pyarrow's JSON reader (26.0.1)
crashed the process with a segmentation fault on a line nested 20,000 levels deep
(10,000 passed, on a thread with an 8 MiB stack), so no text goes to it before
:func:`max_nesting_bound` has checked it. k6 records nest 3 levels deep.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

MAX_NESTING = 1000
"""Maximum bracket depth of a line that is handed to pyarrow's JSON reader."""
_OPENING = (ord("{"), ord("["))
_CLOSING = (ord("}"), ord("]"))


class NestingTooDeepError(ValueError):
    """A JSON text nests arrays or objects deeper than the json module can decode."""

    def __init__(self) -> None:
        self.msg = "arrays or objects nest too deeply to decode"
        super().__init__(self.msg)


def loads(text: str | bytes | bytearray, *, first_key_wins: bool = False) -> Any:
    """Decode JSON as :func:`json.loads` does, raising ValueError for deep nesting.

    With ``first_key_wins``, an object that repeats a key keeps the first value,
    as DuckDB's parser does, instead of the last.
    Raises json.JSONDecodeError for invalid JSON and NestingTooDeepError (also a
    ValueError) where json.loads would raise RecursionError.
    """
    try:
        if first_key_wins:
            return json.loads(text, object_pairs_hook=_first_values)
        return json.loads(text)
    except RecursionError:
        raise NestingTooDeepError() from None


def _first_values(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        found.setdefault(key, value)
    return found


def max_nesting_bound(data: bytes | bytearray | memoryview | pa.Buffer) -> int:
    """Return an upper bound of the bracket depth of any line of ``data``.

    Brackets inside strings are counted too, so the bound can exceed the real
    depth (a tag value with many ``{``), never fall below it.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    opening = np.isin(buffer, _OPENING)
    opening_count = int(np.count_nonzero(opening))
    if opening_count <= MAX_NESTING:
        return opening_count
    step = opening.astype(np.int64)
    step[np.isin(buffer, _CLOSING)] = -1
    depth = np.cumsum(step)

    # Each line's depth is measured from the depth before its first byte.
    starts = np.flatnonzero(buffer == ord("\n")) + 1
    starts = np.concatenate(([0], starts[starts < len(buffer)]))
    peaks = np.maximum.reduceat(depth, starts)
    before = depth[starts] - step[starts]
    return int((peaks - before).max())


__all__ = ["MAX_NESTING", "NestingTooDeepError", "loads", "max_nesting_bound"]
