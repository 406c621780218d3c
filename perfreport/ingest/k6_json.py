"""k6's NDJSON output (``k6 run --out json=FILE``, plain or gzip) into a points frame.

The file is read in blocks of about :data:`BLOCK_BYTES`, cut at newlines, and
:data:`PARSE_THREADS` threads parse blocks while the reading thread consumes the
results in file order. A block is parsed in up to three ways, each slower and
more forgiving than the one before:

1. :mod:`perfreport.ingest.k6_json_duckdb`, for blocks of well-formed Points.
2. pyarrow's JSON reader on the whole block, which is all-or-nothing.
3. When pyarrow rejects the block (a line that is not JSON, a record that is not
   a k6 Point), it is split in halves until the bad lines are found. Only they
   are skipped, and each is counted with its line number.

Facts about k6 v1.1.0's output this reader relies on:

* A "Metric" line comes just before that metric's first "Point". It lists the
  thresholds (strings, or objects ``{threshold, abortOnFail, delayAbortEval}``)
  and the sub-metrics (``{name, suffix, tags}``, or null).
* Times are RFC 3339 in k6's local time zone, ``Z`` or ``+05:30``, with 0 to 9
  fraction digits. Arrow's ISO 8601 cast converts them to UTC nanoseconds exactly.
* Tag values are strings. ``vu``, ``iter`` and trace ids sit under ``metadata``.
* A script can add a tag key at any point of a run, so the tag columns are
  inferred per block and unified at the end, never taken from the file's head.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from perfreport.errors import InputError
from perfreport.ingest import k6_json_duckdb
from perfreport.ingest.detect import ByteSource
from perfreport.ingest.nesting import (
    MAX_NESTING,
    NestingTooDeepError,
    loads,
    max_nesting_bound,
)
from perfreport.ingest.points import (
    TIME_TYPE,
    BlockResult,
    MemorySink,
    MetricLine,
    PointSink,
    ReadState,
    build_run,
    count_negative_values,
    dictionary_encode,
    table_to_frame,
)
from perfreport.model import (
    META_PREFIX,
    METRIC,
    TAG_PREFIX,
    TIME,
    VALUE,
    AnalysisWarning,
    MetricContains,
    MetricDef,
    MetricType,
    Run,
    Submetric,
)

BLOCK_BYTES = 6 * 1024 * 1024
"""Bytes of content handed to the JSON parser at a time."""
PARSE_THREADS = 2
# Blocks read ahead, so that a thread has its next block while the reading
# thread writes the previous one's points.
MAX_BLOCKS_IN_FLIGHT = 2 * PARSE_THREADS
# A rejected block is halved until a piece has at most this many lines, which are
# then checked one by one with the json module.
LINE_CHECK_LINES = 64
_METRIC_MARKER = b'"Metric"'
_POINT_THIRD_BYTE = ord("m")
_METRIC_TYPES = ("counter", "gauge", "rate", "trend")
_CONTAINS = ("default", "time", "data")


class _BadChunk(Exception):
    """pyarrow rejected a piece of the file, or the piece has non-Point records."""


# ---------------------------------------------------------------------------
# Parsing one block (runs in a worker thread)


def _parse_options(
    tag_keys: Sequence[str], meta_keys: Sequence[str]
) -> pa_json.ParseOptions:
    """Build a schema with the keys seen so far; keys new in a block are inferred."""
    data_fields = [("time", pa.string()), ("value", pa.float64())]
    if tag_keys:
        data_fields.append(("tags", pa.struct([(k, pa.string()) for k in tag_keys])))
    if meta_keys:
        data_fields.append(
            ("metadata", pa.struct([(k, pa.string()) for k in meta_keys]))
        )
    schema = pa.schema(
        [
            ("metric", pa.string()),
            ("type", pa.string()),
            ("data", pa.struct(data_fields)),
        ]
    )
    return pa_json.ParseOptions(
        explicit_schema=schema, unexpected_field_behavior="infer"
    )


def _read_json(data: bytes | bytearray, options: pa_json.ParseOptions) -> pa.Table:
    # One pyarrow block for the whole piece: the table comes back as one chunk
    # (nothing to concatenate), and no line can straddle two blocks.
    read_options = pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1)
    if max_nesting_bound(data) > MAX_NESTING:
        # pyarrow crashes on deep nesting; the json module finds the bad lines.
        raise _BadChunk("a line may nest too deeply for pyarrow")
    try:
        return pa_json.read_json(pa.BufferReader(data), read_options, options)
    except pa.ArrowInvalid as error:
        raise _BadChunk(str(error)) from None


def _single_chunk(column: pa.ChunkedArray) -> pa.Array:
    if column.num_chunks == 1:
        return column.chunk(0)
    return column.combine_chunks()


def _struct_columns(
    data: pa.StructArray, name: str, prefix: str
) -> dict[str, pa.Array]:
    """Return the string children of ``data.<name>`` as ``<prefix><key>`` columns."""
    index = data.type.get_field_index(name)
    if index < 0:
        return {}
    parent = data.field(index)
    if pa.types.is_null(parent.type):
        return {}
    if not pa.types.is_struct(parent.type):
        raise _BadChunk(f"{name} is not an object")
    columns = {}
    # flatten() folds the parent's nulls (``"tags": null``) into each child.
    for key_field, child in zip(parent.type, parent.flatten()):
        if pa.types.is_null(child.type):
            child = child.cast(pa.string())
        if not pa.types.is_string(child.type):
            raise _BadChunk(f"{name}.{key_field.name} is not a string")
        columns[prefix + key_field.name] = child
    return columns


def _normalize(raw: pa.Table, expected_rows: int) -> pa.Table:
    """Turn pyarrow's nested table into the points columns, or raise _BadChunk."""
    if raw.num_rows != expected_rows:
        raise _BadChunk("row count differs from line count")
    names = raw.column_names
    if "type" not in names or "metric" not in names or "data" not in names:
        raise _BadChunk("missing fields")
    record_type = raw.column("type")
    if record_type.null_count or not pc.all(pc.equal(record_type, "Point")).as_py():
        raise _BadChunk("record that is not a Point")
    data = _single_chunk(raw.column("data"))
    metric = _single_chunk(raw.column("metric"))
    if not pa.types.is_struct(data.type) or not pa.types.is_string(metric.type):
        raise _BadChunk("unexpected types")
    time_text = data.field("time")
    value = data.field("value")
    if data.null_count or metric.null_count or time_text.null_count or value.null_count:
        raise _BadChunk("missing metric, time or value")
    if not pc.all(pc.is_finite(value)).as_py():
        raise _BadChunk("value is NaN or infinite")
    try:
        time = time_text.cast(TIME_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _BadChunk("invalid time") from None

    columns: dict[str, pa.Array] = {TIME: time, METRIC: metric, VALUE: value}
    columns.update(_struct_columns(data, "tags", TAG_PREFIX))
    columns.update(_struct_columns(data, "metadata", META_PREFIX))
    table = pa.table(columns)
    try:
        # pyarrow's JSON reader passes bytes that are not UTF-8, and lone
        # surrogate escapes, into its strings without a check.
        table.validate(full=True)
    except pa.ArrowInvalid:
        raise _BadChunk("text that is not UTF-8") from None
    return table


def _check_point(record: Any) -> str | None:
    """Return why a decoded line is not a usable k6 Point, or None when it is."""
    if not isinstance(record, dict):
        return f"line is a JSON {type(record).__name__}, not a k6 record"
    if record.get("type") != "Point":
        return f"record type {record.get('type')!r} is neither Metric nor Point"
    data = record.get("data")
    if not isinstance(record.get("metric"), str) or not isinstance(data, dict):
        return "Point has no metric name or no data"
    value = data.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"Point value {value!r} is not a number"
    if not math.isfinite(value):
        # The json module accepts NaN and Infinity; k6 never writes them.
        return f"Point value {value!r} is not a finite number"
    if not isinstance(data.get("time"), str):
        return "Point has no time"
    texts = [record["metric"], data["time"]]
    for key in ("tags", "metadata"):
        mapping = data.get(key)
        if mapping is None:
            continue
        # A null value is kept as a missing tag, as the fast path keeps it.
        if not isinstance(mapping, dict) or not all(
            isinstance(v, str) or v is None for v in mapping.values()
        ):
            return f"Point {key} is not an object of strings"
        texts += [text for item in mapping.items() for text in item if text is not None]
    if any(_lone_surrogate(text) for text in texts):
        return "Point has an escaped lone UTF-16 surrogate (such as \\ud800), not text"
    return None


def _lone_surrogate(text: str) -> bool:
    """Return whether ``text`` has a code point that UTF-8 cannot encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _table_from_records(records: list[dict[str, Any]]) -> pa.Table:
    """Build the points columns from decoded Point records (the slow, sure path)."""
    columns: dict[str, list[Any]] = {TIME: [], METRIC: [], VALUE: []}
    for row, record in enumerate(records):
        data = record["data"]
        columns[TIME].append(data["time"])
        columns[METRIC].append(record["metric"])
        columns[VALUE].append(float(data["value"]))
        for key, prefix in (("tags", TAG_PREFIX), ("metadata", META_PREFIX)):
            for tag, tag_value in (data.get(key) or {}).items():
                columns.setdefault(prefix + tag, [None] * row).append(tag_value)
        for values in columns.values():
            if len(values) == row:
                values.append(None)
    arrays = {
        name: pa.array(values, pa.float64() if name == VALUE else pa.string())
        for name, values in columns.items()
    }
    arrays[TIME] = arrays[TIME].cast(TIME_TYPE)
    return pa.table(arrays)


def _check_lines(
    lines: Sequence[bytes], numbers: Sequence[int], result: BlockResult
) -> None:
    """Decode lines one by one; keep Points and Metrics, record the rest as bad."""
    records: list[dict[str, Any]] = []
    record_numbers: list[int] = []
    for number, line in zip(numbers, lines):
        if not line.strip():
            continue
        try:
            # The fast path keeps the first of repeated keys, so this path does too.
            record = loads(line, first_key_wins=True)
        except NestingTooDeepError as error:
            result.bad_lines.append((number, f"line is unusable JSON: its {error.msg}"))
            continue
        except ValueError as error:
            reason = getattr(error, "msg", str(error))
            result.bad_lines.append((number, f"line is not JSON ({reason})"))
            continue
        if isinstance(record, dict) and record.get("type") == "Metric":
            result.metric_lines.append(metric_line_from_record(number, record))
            continue
        problem = _check_point(record)
        if problem is None:
            problem = _check_time(record["data"]["time"])
        if problem is not None:
            result.bad_lines.append((number, problem))
            continue
        records.append(record)
        record_numbers.append(number)
    if records:
        _add_table(result, _table_from_records(records), record_numbers)


def _add_table(result: BlockResult, table: pa.Table, numbers: Sequence[int]) -> None:
    """Append a points table whose rows come from the lines ``numbers``."""
    count_negative_values(table, numbers, result)
    result.tables.append(table)


def _check_time(text: str) -> str | None:
    try:
        pa.array([text]).cast(TIME_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return f"Point time {text[:40]!r} is not an RFC 3339 time"
    return None


def _parse_lines(
    lines: Sequence[bytes],
    numbers: Sequence[int],
    options: pa_json.ParseOptions,
    result: BlockResult,
) -> None:
    """Parse lines fast, halving the piece around bad lines until they are isolated."""
    if len(lines) <= LINE_CHECK_LINES:
        _check_lines(lines, numbers, result)
        return
    try:
        raw = _read_json(b"\n".join(lines) + b"\n", options)
        _add_table(result, _normalize(raw, len(lines)), numbers)
        return
    except _BadChunk:
        pass
    middle = len(lines) // 2
    _parse_lines(lines[:middle], numbers[:middle], options, result)
    _parse_lines(lines[middle:], numbers[middle:], options, result)


def _split_metric_lines(
    block: bytes | bytearray, first_line: int, result: BlockResult
) -> tuple[list[bytes], list[int]]:
    """Take the Metric lines out of a block; return the other lines and numbers."""
    lines = bytes(block).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    kept: list[bytes] = []
    numbers: list[int] = []
    for offset, line in enumerate(lines):
        number = first_line + offset
        if _METRIC_MARKER in line:
            try:
                record = loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict) and record.get("type") == "Metric":
                result.metric_lines.append(metric_line_from_record(number, record))
                continue
        kept.append(line)
        numbers.append(number)
    return kept, numbers


def _point_lines_only(data: bytes | bytearray, newlines: np.ndarray) -> bool:
    """Return whether every line starts as k6 writes a Point line, ``{"metric":``.

    A k6 Metric line starts with ``{"type":``. Looking at one byte per line costs
    far less than searching the block for ``"Metric"``. A line that starts
    otherwise sends the block through :func:`_split_metric_lines`, and a Metric
    line written another way is still found, by the slower paths.
    """
    if len(newlines) == 0:
        return True
    starts = np.empty(len(newlines), dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines[:-1] + 1
    third = np.frombuffer(data, dtype=np.uint8)[np.minimum(starts + 2, len(data) - 1)]
    return bool((third == _POINT_THIRD_BYTE).all())


def parse_block(
    block: LineBlock, tag_keys: Sequence[str], meta_keys: Sequence[str]
) -> BlockResult:
    """Parse a block of complete lines into points, metric definitions and bad lines.

    Lines are numbered from 1 at the block's start, and
    :meth:`BlockResult.shift_lines` moves the numbers to the file's. Tries, in
    turn: DuckDB with deduplicated tags (the fast path), pyarrow on the whole
    block, and pyarrow on halves of the block down to single lines, so that bad
    lines are found and counted.
    """
    data = block.data
    newlines = k6_json_duckdb.newline_positions(data)
    result = BlockResult(lines=len(newlines))
    lines: Sequence[bytes] | None = None
    numbers: Sequence[int] = range(1, len(newlines) + 1)
    if not _point_lines_only(data, newlines):
        # Metric lines come early in a file, so this copy happens in few blocks.
        lines, numbers = _split_metric_lines(data, 1, result)
        data = b"".join(line + b"\n" for line in lines)
        newlines = None
    count = len(numbers)
    if count == 0:
        return result

    try:
        points = k6_json_duckdb.parse_points(data, count, newlines)
        _add_table(result, points, numbers)
        return result
    except k6_json_duckdb.FastPathRejected:
        pass
    options = _parse_options(tag_keys, meta_keys)
    if lines is None:
        try:
            raw = _read_json(data, options)
            _add_table(result, dictionary_encode(_normalize(raw, count)), numbers)
            return result
        except _BadChunk:
            lines = bytes(data).split(b"\n")[:count]
    _parse_lines(lines, numbers, options, result)
    result.tables = [dictionary_encode(table) for table in result.tables]
    return result


# ---------------------------------------------------------------------------
# Metric definitions


def _threshold_texts(
    raw: Any, metric: str, options: dict[str, dict[str, Any]]
) -> tuple[str, ...]:
    """Return threshold expressions; store abortOnFail/delayAbortEval in ``options``."""
    texts = []
    for item in raw or ():
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and isinstance(item.get("threshold"), str):
            texts.append(item["threshold"])
            extra = {k: v for k, v in item.items() if k != "threshold"}
            options.setdefault(metric, {})[item["threshold"]] = extra
    return tuple(texts)


def metric_line_from_record(number: int, record: dict[str, Any]) -> MetricLine:
    """Build the definition on a decoded "Metric" line (None when malformed)."""
    options: dict[str, dict[str, Any]] = {}
    return MetricLine(number, metric_def_from_record(record, options), options)


def metric_def_from_record(
    record: dict[str, Any], threshold_options: dict[str, dict[str, Any]]
) -> MetricDef | None:
    """Build a MetricDef from a decoded "Metric" line, or None when it is malformed.

    Threshold objects add their ``abortOnFail``/``delayAbortEval`` options to
    ``threshold_options[metric][expression]``.
    """
    data = record.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    metric_type = data.get("type")
    contains = data.get("contains") or "default"
    if metric_type not in _METRIC_TYPES or contains not in _CONTAINS:
        return None
    submetrics = tuple(
        Submetric(
            name=str(sub.get("name", "")),
            suffix=str(sub.get("suffix", "")),
            tags={str(k): str(v) for k, v in (sub.get("tags") or {}).items()},
        )
        for sub in data.get("submetrics") or ()
        if isinstance(sub, dict)
    )
    return MetricDef(
        name=data["name"],
        type=cast(MetricType, metric_type),
        contains=cast(MetricContains, contains),
        thresholds=_threshold_texts(
            data.get("thresholds"), data["name"], threshold_options
        ),
        submetrics=submetrics,
    )


# ---------------------------------------------------------------------------
# Reading a whole file


@dataclass(frozen=True)
class LineBlock:
    """Whole lines of content, or (``complete`` false) the content after the last newline.

    A block does not know where it starts in the file: the reading thread only
    reads, and the lines are counted by the thread that parses the block.
    """

    data: bytes | bytearray | memoryview
    complete: bool = True


def iter_line_blocks(
    source: ByteSource, block_bytes: int, spare: list[bytearray] | None = None
) -> Iterator[LineBlock]:
    """Yield the content in pieces of about ``block_bytes``, cut after a newline.

    Each block is read into a buffer of its own, after the partial line carried
    over from the previous block, so that its bytes are copied once. A block's
    data is a view of that buffer. Buffers put back in ``spare`` are filled
    again: new ones would cost a page fault per 4 KiB.
    """
    rest = b""
    while True:
        buffer = spare.pop() if spare else bytearray(block_bytes)
        if len(buffer) - len(rest) < max(1, block_bytes // 2):
            # A line longer than half a block: make room for more of it.
            buffer = bytearray(len(rest) + block_bytes)
        buffer[: len(rest)] = rest
        size = len(rest) + source.readinto(memoryview(buffer)[len(rest) :])
        if size == len(rest):
            break
        cut = buffer.rfind(b"\n", 0, size) + 1
        if cut == 0:
            rest = bytes(buffer[:size])  # no newline yet: keep reading
            continue
        rest = bytes(buffer[cut:size])
        yield LineBlock(memoryview(buffer)[:cut])
    if rest:
        yield LineBlock(rest, complete=False)


def read_k6_json_points(
    path: str | Path,
    sink: PointSink,
    *,
    skip_bad_lines: bool = True,
    progress: Any = None,
) -> ReadState:
    """Stream a k6 NDJSON file's points into ``sink`` and return what was read.

    ``progress`` is an object with ``update(done_bytes)``, or None.
    Raises InputError at the first bad line when ``skip_bad_lines`` is false.
    """
    state = ReadState(Path(path), skip_bad_lines, sink)
    spare: list[bytearray] = []
    with ByteSource(path) as source, ThreadPoolExecutor(PARSE_THREADS) as pool:
        pending: deque[tuple[Future[BlockResult], LineBlock]] = deque()
        for block in iter_line_blocks(source, BLOCK_BYTES, spare):
            if not block.complete:
                _drain(pending, state, 0, spare)
                _read_last_piece(block.data, state)
                break
            tags, meta = list(state.tag_keys), list(state.meta_keys)
            pending.append((pool.submit(parse_block, block, tags, meta), block))
            _drain(pending, state, MAX_BLOCKS_IN_FLIGHT, spare)
            if progress is not None:
                progress.update(source.raw_position_bytes)
        _drain(pending, state, 0, spare)
        if source.gzip_incomplete:
            state.warn_gzip_incomplete(source.gzip_error)
    _warn_undefined_metrics(state)
    return state


def _drain(
    pending: deque[tuple[Future[BlockResult], LineBlock]],
    state: ReadState,
    keep: int,
    spare: list[bytearray],
) -> None:
    """Consume parsed blocks, oldest first, until ``keep`` are left in flight.

    A consumed block's buffer goes back to ``spare``: its parse is over, and no
    table refers to it.
    """
    while len(pending) > keep:
        future, block = pending.popleft()
        try:
            _consume(state, future.result())
        except InputError:
            for other, _ in pending:
                other.cancel()
            raise
        if isinstance(block.data, memoryview) and isinstance(block.data.obj, bytearray):
            spare.append(block.data.obj)


def _consume(state: ReadState, result: BlockResult) -> None:
    """Move a block's line numbers to the file's, then add the block to ``state``."""
    result.shift_lines(state.stats.lines_read)
    state.consume(result)


def _read_last_piece(piece: bytes | bytearray, state: ReadState) -> None:
    """Read the content after the last newline: a whole record, or a truncated one."""
    if not piece.strip():
        return
    try:
        loads(piece)
    except NestingTooDeepError:
        pass  # a whole line, reported as bad by parse_block
    except ValueError:
        state.warn_truncated(state.stats.lines_read + 1)
        return
    whole = LineBlock(bytes(piece) + b"\n")
    tags, meta = list(state.tag_keys), list(state.meta_keys)
    _consume(state, parse_block(whole, tags, meta))


def _warn_undefined_metrics(state: ReadState) -> None:
    # A Metric line may come after the metric's first points, in a later block.
    undefined = [name for name in state.undefined_metrics if name not in state.metrics]
    if not undefined:
        return
    listed = ", ".join(sorted(undefined)[:10])
    message = (
        f"{state.path}: no Metric line defines {listed}; their type and unit are "
        "unknown (is the file cut at the start?)"
    )
    state.warnings.append(AnalysisWarning("metric-undefined", message, str(state.path)))


def read_k6_json(
    path: str | Path,
    *,
    name: str,
    skip_bad_lines: bool = True,
    progress: Any = None,
) -> Run:
    """Read a k6 NDJSON file (plain or gzip) into a Run with its points frame."""
    sink = MemorySink()
    state = read_k6_json_points(
        path, sink, skip_bad_lines=skip_bad_lines, progress=progress
    )
    points = table_to_frame(sink.table(state))
    return build_run(state, points, name, "k6-json", json_info())


def json_info() -> dict[str, Any]:
    """Return the ``Run.info`` entries that describe k6 JSON input."""
    return {"format": "k6 NDJSON", "time_resolution_s": 1e-9, "values_rounded": False}
