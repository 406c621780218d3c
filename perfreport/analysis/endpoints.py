"""Endpoint labels from tag codes, with numpy alone.

A point's endpoint is its ``name`` tag, else ``METHOD url``, else "". k6 copies
a request's ``name`` tag into ``url`` as well, so when ``name`` is set the real
address is gone and ``name`` is the only key that identifies it.

The tags arrive dictionary-encoded: one integer code per point and column, 0
for a point without the tag and ``i + 1`` for the dictionary's entry ``i``.
Labels are built once per distinct (name, method, url) combination, not once
per point, because a run repeats a few combinations millions of times. This
module imports no pandas, so that reading percentiles from a Parquet file
starts quickly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_KEYS = 200
"""Endpoints (or other keys) that get rows of their own in a summary, busiest first."""

ENDPOINT_TAGS = ("tag.name", "tag.method", "tag.url")
"""The tag columns an endpoint label is made from, in :func:`endpoint_label`'s order."""


def endpoint_label(name: str, method: str, url: str) -> str:
    """Return the endpoint of a point with these tags ("" for a missing tag)."""
    if name:
        return name
    return f"{method} {url}".strip()


def endpoint_codes(
    column_codes: Sequence[np.ndarray | None],
    dictionaries: Sequence[Sequence[str] | None],
    size: int,
) -> tuple[np.ndarray, list[str]]:
    """Return each point's endpoint number and the labels the numbers stand for.

    ``column_codes`` and ``dictionaries`` follow :data:`ENDPOINT_TAGS`; None
    stands for a column the run does not have. Two combinations of tags with the
    same label (a ``name`` used with two URLs) get the same number.
    """
    present = [(codes, dictionary) for codes, dictionary in zip(column_codes, dictionaries) if codes is not None]
    combination, distinct = combine_codes([codes for codes, _ in present], size)
    label_numbers: dict[str, int] = {}
    by_combination = np.empty(len(distinct), dtype=np.int64)
    for index, row_codes in enumerate(distinct):
        found = iter(row_codes)
        values = [
            "" if codes is None else _entry(dictionary, int(next(found)))
            for codes, dictionary in zip(column_codes, dictionaries)
        ]
        label = endpoint_label(*values)
        by_combination[index] = label_numbers.setdefault(label, len(label_numbers))
    return by_combination[combination], list(label_numbers)


def _entry(dictionary: Sequence[str] | None, code: int) -> str:
    """Return what a code stands for: "" for 0, else the dictionary's entry code - 1."""
    return "" if code == 0 or dictionary is None else str(dictionary[code - 1])


def combine_codes(column_codes: Sequence[np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct rows of several code columns.

    Returns each row's number and, for each number, the codes of its row: an
    array of shape (distinct rows, columns). Numbering one int64 column is much
    faster than numbering several together (0.2 s against 3.3 s for 3.6 million
    points with pandas' factorize), so the codes are folded into one integer
    per row, ``c0 + w0 * (c1 + w1 * c2)``. When that integer's range is small,
    as it is for a run's few endpoints, the distinct values are found with a
    count per value instead of a sort, and decoded back into codes.
    """
    limit = 4 * size + 1024
    combined = np.zeros(size, dtype=np.int64)
    radix = 1
    widths = []
    renumbered = False
    for codes in column_codes:
        width = int(codes.max()) + 1 if codes.size else 1
        widths.append(width)
        if radix * width > limit:
            # Renumber first, so that the range stays below size * width.
            combined = np.unique(combined, return_inverse=True)[1].reshape(-1)
            radix = int(combined.max()) + 1 if combined.size else 1
            renumbered = True
        combined += np.multiply(codes, radix, dtype=np.int64)
        radix *= width
    if radix <= limit and not renumbered:
        present = np.flatnonzero(np.bincount(combined, minlength=radix))
        numbers = np.full(radix, -1, dtype=np.int32)
        numbers[present] = np.arange(present.size, dtype=np.int32)
        distinct = np.empty((present.size, len(widths)), dtype=np.int64)
        remainder = present
        for column, width in enumerate(widths):
            remainder, distinct[:, column] = np.divmod(remainder, width)
        return numbers[combined], distinct
    combination = np.unique(combined, return_inverse=True)[1].reshape(-1)
    count = int(combination.max()) + 1 if combination.size else 0
    # Any row of a combination gives its codes. With repeated indexes one of
    # the writes wins, whichever it is.
    representative = np.zeros(count, dtype=np.int64)
    representative[combination] = np.arange(size)
    distinct = np.stack([codes[representative] for codes in column_codes], axis=1) if column_codes else np.zeros((count, 0), dtype=np.int64)
    return combination, distinct.astype(np.int64)
