"""k6's Trend statistics per metric and endpoint, straight from a Parquet run file.

:func:`summarize` loads a whole run into pandas and computes every statistic of
every metric. When only the Trend statistics of a run file are needed,
:func:`parquet_percentiles` is the fast way. It reads only the metric, value and
endpoint tag columns with pyarrow, a few row groups at a time. It sorts each
batch's points into buckets by a small integer group code (a radix sort). Then
it computes each bucket's statistics with
:func:`~perfreport.analysis.percentiles.trend_statistics`, so the numbers equal
``summarize``'s and k6's to the last bit. It does not import pandas.

The result is a list of :class:`TrendRow` in the long form of ``summarize``:
``metric``, ``endpoint`` ("" for the whole metric), ``statistic``, ``value``,
``unit`` and ``n``. ``pandas.DataFrame(rows)`` makes it a frame. It is a list
and not a pyarrow Table because building any pyarrow array imports pandas,
which takes longer than the whole computation.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from perfreport.analysis.endpoints import (
    ENDPOINT_TAGS,
    MAX_KEYS,
    combine_codes,
    endpoint_label,
)
from perfreport.analysis.percentiles import trend_statistics, validate_trend_stats
from perfreport.errors import InputError
from perfreport.ingest.run_metadata import read_run_metadata, unreadable

DEFAULT_STATS = ("med", "p(90)", "p(95)", "p(99)")
UNIT_BY_CONTAINS = {"time": "ms", "data": "bytes"}
REWRITE_HINT = "write it again with `perfreport ingest`"
ROW_GROUPS_PER_READ = 2
"""Row groups read at a time: ``perfreport ingest`` writes about 100,000 rows in each."""


class TrendRow(NamedTuple):
    """One statistic of one metric and endpoint, as in a ``summarize`` frame."""

    metric: str
    endpoint: str
    statistic: str
    value: float
    unit: str
    n: int


def parquet_percentiles(
    path: str | Path,
    stats: Sequence[str] = DEFAULT_STATS,
    *,
    metrics: Sequence[str] | None = None,
    max_keys: int = MAX_KEYS,
) -> list[TrendRow]:
    """Return the Trend statistics of a perfreport Parquet run file, per metric and endpoint.

    ``stats`` are k6 Trend statistic names (``count``, ``avg``, ``min``, ``med``,
    ``max``, ``p(X)``). ``metrics`` limits the result to these Trend metrics; by
    default every Trend metric of the run is included. As in ``summarize``, only
    the ``max_keys`` endpoints with the most points get rows of their own, and
    the whole-metric rows count every point. Raises InputError for a file that
    is not a perfreport run file.
    """
    stats = validate_trend_stats(stats, option="stats")
    meta = read_run_metadata(path)
    definitions = meta.get("metrics") or {}
    trend = {name for name, body in definitions.items() if body.get("type") == "trend"}
    if metrics is not None:
        trend &= set(metrics)
    metric_ids = {name: number for number, name in enumerate(definitions, start=1)}
    width = len(metric_ids) + 1
    try:
        buckets, labels, first_rows = _bucket_points(_read_batches(path), metric_ids, in_file_order="avg" in stats)
    except pa.ArrowInvalid as error:
        raise unreadable(path, error) from None
    kept_endpoints = _busiest_endpoints(buckets, width, first_rows, max_keys)

    rows: list[TrendRow] = []
    for name in sorted(trend):
        metric = metric_ids[name]
        unit = UNIT_BY_CONTAINS.get(definitions[name].get("contains", "default"), "")
        # A group code is endpoint number * width + metric number. The bucket
        # of code -metric has the metric's points in file order, for the average.
        if "avg" in stats:
            whole, owned = _joined(buckets.get(-metric, []))
        else:
            pieces = []
            for code, found in buckets.items():
                if code > 0 and code % width == metric:
                    pieces.extend(found)
            whole, owned = _joined(pieces)
        rows.extend(_rows(name, "", whole, stats, unit, owned=owned))
        keyed = []
        for number, label in enumerate(labels, start=1):
            pieces = buckets.get(number * width + metric)
            if label and pieces and number in kept_endpoints:
                keyed.append((label, *_joined(pieces)))
        for label, group_values, owned in sorted(keyed, key=lambda item: item[0]):
            rows.extend(_rows(name, label, group_values, stats, unit, owned=owned))
    return rows


def _read_batches(path: str | Path) -> Iterator[pa.RecordBatch]:
    """Yield the file's points, with the columns needed, a few row groups at a time.

    A thread reads the next few row groups while the caller groups the last
    ones, because pyarrow decodes without holding the GIL.
    """
    try:
        # ParquetFile reads without pyarrow.dataset, which would import pandas.
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as error:
        raise unreadable(path, error) from None
    names = set(file.schema_arrow.names)
    columns = ["metric", "value", *(column for column in ENDPOINT_TAGS if column in names)]
    if "metric" not in names or "value" not in names:
        raise InputError(path, "Parquet run file is missing the metric or value column", hint=REWRITE_HINT)
    value_type = file.schema_arrow.field("value").type
    if value_type != pa.float64():
        raise InputError(path, f"Parquet run file has a value column of {value_type}, not double", hint=REWRITE_HINT)
    starts = range(0, file.num_row_groups, ROW_GROUPS_PER_READ)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for start in starts:
            groups = list(range(start, min(start + ROW_GROUPS_PER_READ, file.num_row_groups)))
            future = pool.submit(_read_groups, file, groups, columns)
            if pending is not None:
                yield from _batches_of(pending, path)
            pending = future
        if pending is not None:
            yield from _batches_of(pending, path)


def _read_groups(file: pq.ParquetFile, groups: list[int], columns: list[str]) -> pa.Table:
    # One batch of several row groups: fewer, longer numpy calls per point.
    table = file.read_row_groups(groups, columns=columns).unify_dictionaries().combine_chunks()
    # The buffers are read directly below, so a corrupt file's invalid UTF-8
    # must raise ArrowInvalid here. Checking the few dictionary entries costs
    # little. The indices are checked against them as they are folded.
    table.validate()
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            for chunk in column.chunks:
                chunk.dictionary.validate(full=True)
    return table


def _batches_of(future: Future[pa.Table], path: str | Path) -> list[pa.RecordBatch]:
    try:
        return future.result().to_batches()
    except (pa.ArrowInvalid, OSError) as error:
        raise unreadable(path, error) from None


def _bucket_points(
    batches: Iterable[pa.RecordBatch], metric_ids: dict[str, int], *, in_file_order: bool
) -> tuple[dict[int, list[np.ndarray]], list[str], np.ndarray]:
    """Return the points' values in buckets by group code, the endpoint labels,
    and the file row of each endpoint's first point (index = endpoint number - 1).

    A group code is ``endpoint * (len(metric_ids) + 1) + metric``: the endpoint
    numbers count from 1 into the returned labels, and the metric numbers
    are ``metric_ids``' (0 for a metric the run's metadata does not declare).
    A bucket is a list of arrays, one per batch, each in file order. With
    ``in_file_order`` the bucket of code ``-metric`` has all of a metric's
    values in file order too. Each batch is coded on its own: the metric and
    tag codes of a point are folded into one number, the batch's few distinct
    numbers are decoded and labelled in Python, and every point gets its group
    through one lookup.
    """
    width = len(metric_ids) + 1
    labels: dict[str, int] = {}
    buckets: dict[int, list[np.ndarray]] = {}
    first_rows: dict[int, int] = {}
    batch_start = 0
    for batch in batches:
        # The columns are those of ``present``: the metric, then the endpoint
        # tags the file has. entries[c][k - 1] is what code k of column c is.
        indices: list[pa.Array] = []
        entries: list[list[str]] = []
        present = [column for column in ("metric", *ENDPOINT_TAGS) if column in batch.schema.names]
        for column in present:
            chunk = batch.column(column)
            indices.append(_indices(chunk))
            entries.append(_dictionary_entries(chunk))
        folded = _fold(indices, [len(names) + 1 for names in entries], batch.num_rows)
        if folded is not None:
            combined, distinct_values, widths = folded
            distinct = _unfold(distinct_values, widths)
        else:
            codes = [_chunk_codes(column, len(names)) for column, names in zip(indices, entries)]
            combined, distinct = combine_codes(codes, batch.num_rows)
            distinct_values = np.arange(len(distinct))
        # The group of each distinct (metric, name, method, url) of the batch.
        group_of = np.empty(len(distinct), dtype=np.int64)
        for index, row_codes in enumerate(distinct):
            values = ["" if code == 0 else names[code - 1] for code, names in zip(row_codes, entries)]
            tags = dict(zip(present, values))
            label = endpoint_label(*(tags.get(column, "") for column in ENDPOINT_TAGS))
            number = labels.setdefault(label, len(labels) + 1)
            group_of[index] = number * width + metric_ids.get(tags["metric"], 0)
        small = group_of.size == 0 or group_of.max() <= np.iinfo(np.uint16).max
        lookup = np.zeros(int(distinct_values.max()) + 1 if distinct_values.size else 1, dtype=np.uint16 if small else np.int64)
        lookup[distinct_values] = group_of
        groups = lookup[combined]
        values = _chunk_values(batch.column("value"))
        for code, row in _add_pieces(buckets, groups, values, 1).items():
            # An endpoint's points of several metrics have codes of their own.
            number = code // width
            first_rows[number] = min(first_rows.get(number, batch_start + row), batch_start + row)
        if in_file_order:
            _add_pieces(buckets, groups % width, values, -1)
        batch_start += batch.num_rows
    first = np.array([first_rows[number] for number in range(1, len(labels) + 1)], dtype=np.int64)
    return buckets, list(labels), first


def _add_pieces(
    buckets: dict[int, list[np.ndarray]], codes: np.ndarray, values: np.ndarray, sign: int
) -> dict[int, int]:
    """Append each code's values, in file order, to the bucket of ``sign * code``.

    Returns the row of each code's first value in ``codes``.
    """
    if codes.size == 0:
        return {}
    # numpy sorts integers of 16 bits or fewer with a stable radix sort, in
    # linear time. Wider codes take a stable comparison sort.
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    sorted_values = values[order]
    cuts = np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1
    bounds = [0, *cuts.tolist(), codes.size]
    first_rows = {}
    for start, end in itertools.pairwise(bounds):
        code = int(sorted_codes[start])
        buckets.setdefault(sign * code, []).append(sorted_values[start:end])
        # The sort is stable, so a code's first sorted entry is its first row.
        first_rows[code] = int(order[start])
    return first_rows


def _joined(pieces: list[np.ndarray]) -> tuple[np.ndarray, bool]:
    """Return the pieces as one array, and whether that array is a new one."""
    if not pieces:
        return np.zeros(0), True
    if len(pieces) == 1:
        return pieces[0], False
    return np.concatenate(pieces), True


def _busiest_endpoints(
    buckets: dict[int, list[np.ndarray]], width: int, first_rows: np.ndarray, max_keys: int
) -> set[int]:
    """Return the numbers of the ``max_keys`` endpoints with the most points of any metric.

    Of endpoints with equally many points, the one whose first point comes
    first in the file is kept, as ``summarize`` keeps it.
    """
    count = first_rows.size
    sizes = np.zeros(count + 1, dtype=np.int64)
    for code, pieces in buckets.items():
        if code >= 0:
            sizes[code // width] += sum(piece.size for piece in pieces)
    numbers = np.arange(1, count + 1)
    if count <= max_keys:
        return set(numbers.tolist())
    # np.lexsort sorts by its last key first.
    busiest = np.lexsort((first_rows, -sizes[1:]))[:max_keys]
    return set(numbers[busiest].tolist())


def _fold(indices: list[pa.Array], widths: list[int], size: int) -> tuple[np.ndarray, np.ndarray, list[int]] | None:
    """Fold dictionary indices into one int32 per row, ``c0 + w0 * (c1 + w1 * ...)``.

    ``c`` is a row's index plus one, or 0 where the row is null, and ``w`` the
    dictionary's length plus one. The indices are read in place, not copied.
    Returns the folded codes, the distinct folded values and the widths, or
    None when the folded range is too wide for a count per value (many
    distinct URLs), where :func:`combine_codes` takes over.
    """
    radix = math.prod(widths)
    if radix > 4 * size + 1024 or radix >= 1 << 31:
        return None
    combined = np.full(size, sum(math.prod(widths[:column]) for column in range(len(widths))), dtype=np.int32)
    step = 1
    for column, column_width in zip(indices, widths):
        raw = _index_array(column)
        if column.null_count:
            # The index under a null is undefined, and its code is -1 here.
            raw = np.where(_valid(column), raw, -1)
        _check_range(raw, column_width - 1)
        combined += raw * np.int32(step)
        step *= column_width
    distinct = np.flatnonzero(np.bincount(combined, minlength=radix))
    return combined, distinct, widths


def _unfold(folded: np.ndarray, widths: list[int]) -> np.ndarray:
    """Return the code columns of folded values, shape (values, columns)."""
    result = np.empty((folded.size, len(widths)), dtype=np.int64)
    remainder = folded.astype(np.int64)
    for column, column_width in enumerate(widths):
        remainder, result[:, column] = np.divmod(remainder, column_width)
    return result


def _dictionary_entries(chunk: pa.Array) -> list[str]:
    if not pa.types.is_dictionary(chunk.type):
        chunk = chunk.dictionary_encode()
    return [str(entry) for entry in chunk.dictionary.to_pylist()]


def _indices(chunk: pa.Array) -> pa.Array:
    if not pa.types.is_dictionary(chunk.type):
        chunk = chunk.dictionary_encode()
    return chunk.indices


# The two readers below take numpy arrays from the Arrow buffers directly,
# because pyarrow's to_numpy and fill_null import pandas on first use, which
# takes longer than the whole computation here.


def _chunk_codes(indices: pa.Array, size: int) -> np.ndarray:
    """Return one chunk's dictionary indices plus one, with 0 where a value is null."""
    codes = np.add(_index_array(indices), 1, dtype=np.int64)
    if indices.null_count:
        codes[~_valid(indices)] = 0
    _check_range(codes - 1, size)
    return codes


def _index_array(indices: pa.Array) -> np.ndarray:
    """Return the dictionary indices as numpy integers of their own width and sign."""
    kind = "i" if pa.types.is_signed_integer(indices.type) else "u"
    return _buffer_array(indices, f"<{kind}{indices.type.bit_width // 8}")


def _check_range(raw: np.ndarray, size: int) -> None:
    """Raise ArrowInvalid unless every index is -1 (null) or below ``size``."""
    if raw.size and (int(raw.min()) < -1 or int(raw.max()) >= size):
        raise pa.ArrowInvalid(f"dictionary index out of range 0..{size - 1}")


def _chunk_values(values: pa.Array) -> np.ndarray:
    """Return one chunk of the float64 value column, NaN where a value is null."""
    result = _buffer_array(values, "<f8")
    if values.null_count:
        result = result.copy()
        result[~_valid(values)] = np.nan
    return result


def _buffer_array(array: pa.Array, dtype: str) -> np.ndarray:
    data = array.buffers()[1]
    return np.frombuffer(data, dtype=dtype, count=array.offset + len(array))[array.offset :]


def _valid(array: pa.Array) -> np.ndarray:
    """Return a bool per element of ``array``: False where it is null."""
    validity = array.buffers()[0]
    if not array.null_count or validity is None:
        return np.ones(len(array), dtype=bool)
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    return bits[array.offset : array.offset + len(array)].astype(bool)


def _rows(
    metric: str, endpoint: str, values: np.ndarray, stats: Sequence[str], unit: str, *, owned: bool
) -> list[TrendRow]:
    # An array that _joined made is this call's alone, so it may be reordered in place.
    computed = trend_statistics(values, stats, overwrite=owned)
    return [
        TrendRow(metric, endpoint, statistic, value, "" if statistic == "count" else unit, values.size)
        for statistic, value in computed.items()
    ]


__all__ = ["DEFAULT_STATS", "TrendRow", "parquet_percentiles"]
