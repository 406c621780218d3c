"""The fast path for blocks of k6 Point lines: DuckDB's JSON parser, tags deduplicated.

Each line of a block becomes one string of an Arrow array (no copy), and DuckDB's
``from_json`` splits it into the metric, type, time, value, tags and metadata.
The tags and metadata objects stay JSON text. A k6 run repeats a few tag sets
millions of times, so they are dictionary-encoded first, and only the distinct
texts are decoded with the json module.

On 16 MB blocks of real k6 output this took about 60 % of the CPU time of
pyarrow's JSON reader, measured with pyarrow 26.0.1 and duckdb 2.0.1 on the
2-core machine described in docs/benchmarks.md. Anything unexpected (a line that is
not JSON, a value that is not a number, a tag that is not a string) raises
:class:`FastPathRejected`, and the caller reads the block the slow, exact way.

NOTE: DuckDB's parser accepts a trailing comma (``{"a":"b",}``), which the exact
path counts as a bad line. k6 never writes one, and finding it here would mean
another pass over every block, so such a Point is kept when its block takes
this path.
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from perfreport.ingest.nesting import MAX_NESTING, loads, max_nesting_bound
from perfreport.ingest.points import TIME_TYPE
from perfreport.model import META_PREFIX, METRIC, TAG_PREFIX, TIME, VALUE

# Fields kept as JSON text are checked here (a quoted value is not a number),
# where DuckDB's conversion would accept "1" as the number 1.
# json_extract with a list of paths parses each line once and returns every field
# as JSON text (NULL where missing), so the checks here see the JSON types: a
# quoted value is not a number. It ran faster than from_json with a struct type.
# The fields come back as separate columns: taking them out of a list column on
# the Arrow side cost about a third as much as the parse itself.
_FIELDS = ("metric", "type", "time", "value", "tags", "metadata")
_PATHS = "['$.metric', '$.type', '$.data.time', '$.data.value', '$.data.tags', '$.data.metadata']"
_COLUMNS = ", ".join(f"fields[{i + 1}] AS {name}" for i, name in enumerate(_FIELDS))
_QUERY = (
    f"SELECT {_COLUMNS} FROM "
    f"(SELECT json_extract(line, {_PATHS}) AS fields FROM block_lines)"
)
_POINT = '"Point"'
_LARGE_STRING_BYTES = 2**31 - 1
# Up to this many distinct tag or metadata objects in a block are decoded with the
# json module; more (metadata changes with every iteration) go to pyarrow at once.
_PYTHON_DECODE_LIMIT = 256

_database: duckdb.DuckDBPyConnection | None = None
_database_lock = threading.Lock()
_thread_state = threading.local()


class FastPathRejected(Exception):
    """The block has something the fast path does not handle; read it exactly."""


def _cursor() -> duckdb.DuckDBPyConnection:
    """Return this thread's DuckDB cursor (connections are not shared by threads)."""
    global _database
    cursor = getattr(_thread_state, "cursor", None)
    if cursor is None:
        with _database_lock:
            if _database is None:
                _database = duckdb.connect()
                # Blocks are parsed in parallel by the caller's threads.
                _database.execute("SET threads = 1")
            cursor = _database.cursor()
        _thread_state.cursor = cursor
    return cursor


def newline_positions(data: bytes | bytearray) -> np.ndarray:
    """Return the offsets of the newlines in ``data``."""
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)


def _lines_array(
    data: bytes | bytearray, lines: int, newlines: np.ndarray | None = None
) -> pa.Array:
    """View the block's lines, newlines included, as Arrow strings without a copy."""
    if newlines is None:
        newlines = newline_positions(data)
    if len(newlines) != lines:
        raise FastPathRejected("line count differs")
    large = len(data) >= _LARGE_STRING_BYTES
    offsets = np.empty(lines + 1, dtype=np.int64 if large else np.int32)
    offsets[0] = 0
    offsets[1:] = newlines + 1
    string_type = pa.large_string() if large else pa.string()
    return pa.Array.from_buffers(
        string_type, lines, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _whole_text(data: bytes | bytearray | memoryview) -> pa.Array:
    """View the whole block as one Arrow string, so that one call checks its UTF-8."""
    large = len(data) >= _LARGE_STRING_BYTES
    offsets = np.array([0, len(data)], dtype=np.int64 if large else np.int32)
    string_type = pa.large_string() if large else pa.string()
    return pa.Array.from_buffers(
        string_type, 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _decode_texts(texts: pa.Array) -> tuple[pa.Array, list[Any]]:
    """Dictionary-encode JSON texts; return indices and the decoded distinct texts."""
    encoded = pc.dictionary_encode(texts)
    try:
        decoded = [loads(text) for text in encoded.dictionary.to_pylist()]
    except ValueError:
        raise FastPathRejected("invalid JSON text") from None
    return encoded.indices, decoded


def _decode_objects_in_python(texts: pa.Array) -> dict[str, pa.Array]:
    """Decode a few JSON objects of strings; return one array per key, row by row."""
    try:
        objects = [loads(text) for text in texts.to_pylist()]
    except ValueError:
        raise FastPathRejected("invalid JSON text") from None
    keys: dict[str, None] = {}
    for item in objects:
        if item is None:
            continue
        if not isinstance(item, dict) or not all(
            isinstance(v, str) or v is None for v in item.values()
        ):
            raise FastPathRejected("object of non-strings")
        keys.update(dict.fromkeys(item))
    return {
        key: pa.array(
            [item.get(key) if item else None for item in objects], pa.string()
        )
        for key in keys
    }


def _decode_objects_with_arrow(texts: pa.Array) -> dict[str, pa.Array]:
    """Decode many JSON objects of strings at once with pyarrow (without the GIL)."""
    objects = pc.if_else(pc.equal(texts, "null"), "{}", texts)
    as_list = pa.ListArray.from_arrays(pa.array([0, len(objects)], pa.int32()), objects)
    joined = pc.binary_join(as_list, "\n")[0].as_buffer()
    if max_nesting_bound(joined) > MAX_NESTING:
        raise FastPathRejected("objects may nest too deeply for pyarrow")
    options = pa_json.ParseOptions(newlines_in_values=False)
    read_options = pa_json.ReadOptions(use_threads=False, block_size=joined.size + 1)
    try:
        table = pa_json.read_json(pa.BufferReader(joined), read_options, options)
    except pa.ArrowInvalid:
        raise FastPathRejected("invalid JSON text") from None
    if table.num_rows != len(texts):
        raise FastPathRejected("object count differs")
    columns = {}
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_null(column.type):
            column = column.cast(pa.string())
        if not pa.types.is_string(column.type):
            raise FastPathRejected(f"{name} is not a string")
        column = column.combine_chunks()
        # An escaped lone surrogate comes out of pyarrow's reader as bytes that
        # are not UTF-8. The json module path raises UnicodeError for it instead.
        column.validate(full=True)
        columns[name] = column
    return columns


def _object_columns(
    texts: pa.Array, prefix: str, categorical: bool
) -> dict[str, pa.Array]:
    """Pivot a column of JSON objects of strings (or nulls) to one column per key.

    Each distinct text is decoded once: a k6 run repeats a few tag sets, and
    metadata repeats for every sample of an iteration.
    """
    encoded = pc.dictionary_encode(texts)
    distinct = encoded.dictionary
    if len(distinct) <= _PYTHON_DECODE_LIMIT:
        per_key = _decode_objects_in_python(distinct)
    else:
        per_key = _decode_objects_with_arrow(distinct)

    columns = {}
    for key, values in per_key.items():
        if categorical:
            small = pc.dictionary_encode(values)
            codes = small.indices.take(encoded.indices)
            columns[prefix + key] = pa.DictionaryArray.from_arrays(
                codes, small.dictionary
            )
        else:
            columns[prefix + key] = values.take(encoded.indices)
    return columns


def _metric_column(texts: pa.Array) -> pa.Array:
    indices, names = _decode_texts(texts)
    if indices.null_count or not all(isinstance(name, str) for name in names):
        raise FastPathRejected("metric is not a string")
    return pa.DictionaryArray.from_arrays(indices, pa.array(names, pa.string()))


def _query_fields(
    data: bytes | bytearray, lines: int, newlines: np.ndarray | None
) -> dict[str, pa.Array]:
    """Run DuckDB over the block's lines; return each field's JSON texts."""
    # DuckDB raises UnicodeDecodeError on bytes that are not UTF-8, past its
    # error handling, so check the block first (about 0.3 ms per 6 MiB).
    _whole_text(data).validate(full=True)
    cursor = _cursor()
    block_lines = pa.table({"line": _lines_array(data, lines, newlines)})
    cursor.register("block_lines", block_lines)
    try:
        table = cursor.sql(_QUERY).to_arrow_table()
    except duckdb.Error as error:
        raise FastPathRejected(str(error)) from None
    finally:
        cursor.unregister("block_lines")
    return {name: _single_chunk(table.column(name)) for name in _FIELDS}


def _single_chunk(column: pa.ChunkedArray) -> pa.Array:
    if column.num_chunks == 1:
        return column.chunk(0)
    return column.combine_chunks()


def _time_column(texts: pa.Array) -> pa.Array:
    """Convert quoted RFC 3339 texts (JSON strings without escapes) to UTC times.

    A string with an escape fails the cast (a backslash is no part of an RFC 3339
    time), so the exact path decodes it.
    """
    quoted = pc.and_(pc.starts_with(texts, '"'), pc.ends_with(texts, '"'))
    if texts.null_count or not pc.all(quoted).as_py():
        raise FastPathRejected("time is not a plain string")
    try:
        return pc.utf8_slice_codeunits(texts, 1, -1).cast(TIME_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise FastPathRejected("invalid time") from None


def _value_column(texts: pa.Array) -> pa.Array:
    if texts.null_count:
        raise FastPathRejected("missing value")
    try:
        values = texts.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise FastPathRejected("value is not a number") from None
    # k6 never writes NaN or Infinity; the exact path reports such lines as bad.
    if not pc.all(pc.is_finite(values)).as_py():
        raise FastPathRejected("value is not finite")
    return values


def parse_points(
    data: bytes | bytearray, lines: int, newlines: np.ndarray | None = None
) -> pa.Table:
    """Parse a block of k6 Point lines into the normalized points columns.

    ``newlines`` are the newline offsets when the caller has found them already.
    Raises FastPathRejected when any line is not a well-formed k6 Point.
    """
    try:
        return _parse_points(data, lines, newlines)
    except (UnicodeError, pa.ArrowInvalid) as error:
        # Text that is not UTF-8, or an escaped lone surrogate: the exact path
        # finds the line and reports it.
        raise FastPathRejected(str(error)) from None


def _parse_points(
    data: bytes | bytearray, lines: int, newlines: np.ndarray | None
) -> pa.Table:
    fields = _query_fields(data, lines, newlines)
    record_type = fields["type"]
    if record_type.null_count or not pc.all(pc.equal(record_type, _POINT)).as_py():
        raise FastPathRejected("record that is not a Point")

    columns: dict[str, pa.Array] = {
        TIME: _time_column(fields["time"]),
        METRIC: _metric_column(fields["metric"]),
        VALUE: _value_column(fields["value"]),
    }
    columns.update(_object_columns(fields["tags"], TAG_PREFIX, True))
    columns.update(_object_columns(fields["metadata"], META_PREFIX, False))
    return pa.table(columns)


__all__ = ["FastPathRejected", "newline_positions", "parse_points"]
