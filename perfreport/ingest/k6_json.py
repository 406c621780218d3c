"""k6's NDJSON output (``k6 run --out json=FILE``, plain or gzip) into a points frame.

The file is read in blocks of about :data:`BLOCK_BYTES`, cut at newlines. Each
block goes whole to pyarrow's JSON reader, which is fast but all-or-nothing: when
it rejects a block (a line that is not JSON, a record that is not a k6 Point), the
block is split in halves until the bad lines are found, so only they are skipped
and counted with their line numbers. Two blocks are parsed at a time in threads
(pyarrow releases the GIL); results are consumed in file order.

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

import json
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from perfreport.errors import InputError
from perfreport.ingest.detect import ByteSource
from perfreport.model import (
    META_PREFIX,
    METRIC,
    TAG_PREFIX,
    TIME,
    VALUE,
    AnalysisWarning,
    IngestStats,
    MetricDef,
    Run,
    Submetric,
)

BLOCK_BYTES = 16 * 1024 * 1024
"""Bytes of content handed to the JSON parser at a time."""
PARSE_THREADS = 2
# A rejected block is halved until a piece has at most this many lines, which are
# then checked one by one with the json module.
LINE_CHECK_LINES = 64
MAX_BAD_LINES_LISTED = 20
SKIP_HINT = "pass --skip-bad-lines to ingest the rest"

TIME_TYPE = pa.timestamp("ns", tz="UTC")
TAG_TYPE = pa.dictionary(pa.int32(), pa.string())
_METRIC_MARKER = b'"Metric"'
_METRIC_TYPES = ("counter", "gauge", "rate", "trend")
_CONTAINS = ("default", "time", "data")


class PointSink(Protocol):
    """Receives the points of a run, one normalized Arrow table per block, in order."""

    def add(self, table: pa.Table) -> None: ...


class _BadChunk(Exception):
    """pyarrow rejected a piece of the file, or it holds records that are not Points."""


@dataclass
class _BlockResult:
    tables: list[pa.Table] = field(default_factory=list)
    metric_lines: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    lines: int = 0


# ---------------------------------------------------------------------------
# Parsing one block (runs in a worker thread)


def _parse_options(tag_keys: Sequence[str], meta_keys: Sequence[str]) -> pa_json.ParseOptions:
    """Build a schema with the keys seen so far; keys new in a block are inferred."""
    data_fields = [("time", pa.string()), ("value", pa.float64())]
    if tag_keys:
        data_fields.append(("tags", pa.struct([(k, pa.string()) for k in tag_keys])))
    if meta_keys:
        data_fields.append(("metadata", pa.struct([(k, pa.string()) for k in meta_keys])))
    schema = pa.schema(
        [("metric", pa.string()), ("type", pa.string()), ("data", pa.struct(data_fields))]
    )
    return pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")


def _read_json(data: bytes, options: pa_json.ParseOptions) -> pa.Table:
    buffer = pa.py_buffer(data)
    read_options = pa_json.ReadOptions(use_threads=False, block_size=4 * 1024 * 1024)
    try:
        return pa_json.read_json(pa.BufferReader(buffer), read_options, options)
    except pa.ArrowInvalid as error:
        if "straddl" not in str(error):
            raise _BadChunk(str(error)) from None
    # A line longer than pyarrow's block: read the piece as one block.
    read_options = pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1)
    try:
        return pa_json.read_json(pa.BufferReader(buffer), read_options, options)
    except pa.ArrowInvalid as error:
        raise _BadChunk(str(error)) from None


def _struct_columns(data: pa.StructArray, name: str, prefix: str) -> dict[str, pa.Array]:
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
    for i in range(parent.type.num_fields):
        child = parent.field(i)
        key = parent.type.field(i).name
        if pa.types.is_null(child.type):
            child = child.cast(pa.string())
        if not pa.types.is_string(child.type):
            raise _BadChunk(f"{name}.{key} is not a string")
        # A struct child ignores the parent's null mask; fold it in.
        if parent.null_count:
            child = pc.if_else(pc.is_valid(parent), child, pa.scalar(None, pa.string()))
        columns[prefix + key] = child
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
    data = raw.column("data").combine_chunks()
    metric = raw.column("metric").combine_chunks()
    if not pa.types.is_struct(data.type) or not pa.types.is_string(metric.type):
        raise _BadChunk("unexpected types")
    time_text = data.field("time")
    value = data.field("value")
    if data.null_count or metric.null_count or time_text.null_count or value.null_count:
        raise _BadChunk("missing metric, time or value")
    try:
        time = time_text.cast(TIME_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _BadChunk("invalid time") from None

    columns: dict[str, pa.Array] = {TIME: time, METRIC: metric, VALUE: value}
    columns.update(_struct_columns(data, "tags", TAG_PREFIX))
    columns.update(_struct_columns(data, "metadata", META_PREFIX))
    return pa.table(columns)


def _encode(table: pa.Table) -> pa.Table:
    """Dictionary-encode the metric and tag columns (few distinct values)."""
    for i, name in enumerate(table.column_names):
        if name == METRIC or name.startswith(TAG_PREFIX):
            table = table.set_column(i, name, pc.dictionary_encode(table.column(i)))
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
    if not isinstance(data.get("time"), str):
        return "Point has no time"
    for key in ("tags", "metadata"):
        mapping = data.get(key)
        if mapping is None:
            continue
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            return f"Point {key} is not an object of strings"
    return None


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


def _check_lines(lines: Sequence[bytes], numbers: Sequence[int], result: _BlockResult) -> None:
    """Decode lines one by one; keep Points and Metrics, record the rest as bad."""
    records: list[dict[str, Any]] = []
    for number, line in zip(numbers, lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            reason = getattr(error, "msg", str(error))
            result.bad_lines.append((number, f"line is not JSON ({reason})"))
            continue
        if isinstance(record, dict) and record.get("type") == "Metric":
            result.metric_lines.append((number, record))
            continue
        problem = _check_point(record)
        if problem is None:
            problem = _check_time(record["data"]["time"])
        if problem is not None:
            result.bad_lines.append((number, problem))
            continue
        records.append(record)
    if records:
        result.tables.append(_table_from_records(records))


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
    result: _BlockResult,
) -> None:
    """Parse lines fast, halving the piece around bad lines until they are isolated."""
    if len(lines) <= LINE_CHECK_LINES:
        _check_lines(lines, numbers, result)
        return
    try:
        raw = _read_json(b"\n".join(lines) + b"\n", options)
        result.tables.append(_normalize(raw, len(lines)))
        return
    except _BadChunk:
        pass
    middle = len(lines) // 2
    _parse_lines(lines[:middle], numbers[:middle], options, result)
    _parse_lines(lines[middle:], numbers[middle:], options, result)


def _split_metric_lines(
    block: bytes, first_line: int, result: _BlockResult
) -> tuple[list[bytes], list[int]]:
    """Take the Metric lines out of a block; return the other lines and their numbers."""
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    kept: list[bytes] = []
    numbers: list[int] = []
    for offset, line in enumerate(lines):
        number = first_line + offset
        if _METRIC_MARKER in line:
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict) and record.get("type") == "Metric":
                result.metric_lines.append((number, record))
                continue
        kept.append(line)
        numbers.append(number)
    return kept, numbers


def parse_block(
    block: bytes, first_line: int, tag_keys: Sequence[str], meta_keys: Sequence[str]
) -> _BlockResult:
    """Parse complete lines (``block`` ends with a newline) starting at ``first_line``."""
    result = _BlockResult(lines=block.count(b"\n"))
    options = _parse_options(tag_keys, meta_keys)
    if _METRIC_MARKER not in block:
        try:
            raw = _read_json(block, options)
            result.tables.append(_encode(_normalize(raw, result.lines)))
            return result
        except _BadChunk:
            pass
        lines = block.split(b"\n")[: result.lines]
        numbers: Sequence[int] = range(first_line, first_line + result.lines)
    else:
        lines, numbers = _split_metric_lines(block, first_line, result)
    _parse_lines(lines, numbers, options, result)
    result.tables = [_encode(table) for table in result.tables]
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


def metric_def_from_record(
    record: dict[str, Any], threshold_options: dict[str, dict[str, Any]]
) -> MetricDef | None:
    """Build a MetricDef from a decoded "Metric" line, or None when it is malformed."""
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
        type=metric_type,
        contains=contains,
        thresholds=_threshold_texts(data.get("thresholds"), data["name"], threshold_options),
        submetrics=submetrics,
    )


# ---------------------------------------------------------------------------
# Reading a whole file


def iter_line_blocks(source: ByteSource, block_bytes: int) -> Iterator[tuple[bytes, int, bool]]:
    """Yield ``(bytes, first line number, complete)`` pieces of whole lines.

    Every piece but possibly the last ends with a newline; the last one is yielded
    with ``complete=False`` when the content does not end with a newline.
    """
    rest = b""
    line = 1
    while True:
        chunk = source.read(block_bytes)
        if not chunk:
            break
        data = rest + chunk if rest else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data  # a line longer than a block: keep reading
            continue
        block = data[:cut]
        rest = data[cut:]
        yield block, line, True
        line += block.count(b"\n")
    if rest:
        yield rest, line, False


@dataclass
class _ReadState:
    path: Path
    skip_bad_lines: bool
    sink: PointSink
    stats: IngestStats = field(default_factory=IngestStats)
    metrics: dict[str, MetricDef] = field(default_factory=dict)
    threshold_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[AnalysisWarning] = field(default_factory=list)
    tag_keys: dict[str, None] = field(default_factory=dict)
    meta_keys: dict[str, None] = field(default_factory=dict)
    undefined_metrics: dict[str, None] = field(default_factory=dict)
    first_time: Any = None
    last_time: Any = None
    malformed_metric_lines: int = 0

    def consume(self, result: _BlockResult) -> None:
        self.stats.lines_read += result.lines
        for number, reason in result.bad_lines:
            self._bad_line(number, reason)
        for number, record in result.metric_lines:
            self._metric_line(number, record)
        for table in result.tables:
            self._points(table)

    def _bad_line(self, number: int, reason: str) -> None:
        if not self.skip_bad_lines:
            raise InputError(self.path, reason, line=number, hint=SKIP_HINT)
        self.stats.lines_skipped += 1
        if len(self.stats.bad_lines) < MAX_BAD_LINES_LISTED:
            self.stats.bad_lines.append((number, reason))
            self.warnings.append(
                AnalysisWarning("bad-line", f"{self.path}:{number}: {reason}; line skipped", str(self.path))
            )

    def _metric_line(self, number: int, record: dict[str, Any]) -> None:
        self.stats.metric_lines += 1
        definition = metric_def_from_record(record, self.threshold_options)
        if definition is None:
            self._bad_line(number, "Metric line has no valid name, type or contains")
            return
        self.metrics.setdefault(definition.name, definition)

    def _points(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.stats.points += table.num_rows
        for name in table.column_names:
            if name.startswith(TAG_PREFIX):
                self.tag_keys.setdefault(name[len(TAG_PREFIX):])
            elif name.startswith(META_PREFIX):
                self.meta_keys.setdefault(name[len(META_PREFIX):])
        bounds = pc.min_max(table.column(TIME))
        low, high = bounds["min"].value, bounds["max"].value
        self.first_time = low if self.first_time is None else min(self.first_time, low)
        self.last_time = high if self.last_time is None else max(self.last_time, high)
        for chunk in table.column(METRIC).chunks:
            for metric in chunk.dictionary.to_pylist():
                if metric not in self.metrics:
                    self.undefined_metrics.setdefault(metric)
        self.sink.add(table)


def read_k6_json_points(
    path: str | Path,
    sink: PointSink,
    *,
    skip_bad_lines: bool = True,
    progress: Any = None,
) -> _ReadState:
    """Stream a k6 NDJSON file's points into ``sink``; return what was read.

    ``progress`` is an object with ``update(done_bytes)`` or None.
    Raises InputError at the first bad line when ``skip_bad_lines`` is false.
    """
    state = _ReadState(Path(path), skip_bad_lines, sink)
    with ByteSource(path) as source, ThreadPoolExecutor(PARSE_THREADS) as pool:
        pending: deque[Future[_BlockResult]] = deque()
        for block, first_line, complete in iter_line_blocks(source, BLOCK_BYTES):
            if not complete:
                _drain(pending, state, 0)
                _read_last_piece(block, first_line, state)
                break
            tags, meta = list(state.tag_keys), list(state.meta_keys)
            pending.append(pool.submit(parse_block, block, first_line, tags, meta))
            _drain(pending, state, PARSE_THREADS)
            if progress is not None:
                progress.update(source.raw_position_bytes)
        _drain(pending, state, 0)
        state.stats.gzip_incomplete = source.gzip_incomplete
        if source.gzip_incomplete:
            _warn_gzip(state, source)
    return state


def _drain(pending: deque[Future[_BlockResult]], state: _ReadState, keep: int) -> None:
    while len(pending) > keep:
        future = pending.popleft()
        try:
            state.consume(future.result())
        except InputError:
            for other in pending:
                other.cancel()
            raise


def _read_last_piece(piece: bytes, line: int, state: _ReadState) -> None:
    """Read the content after the last newline: a whole record, or a truncated one."""
    try:
        json.loads(piece)
    except ValueError:
        if not piece.strip():
            return
        state.stats.lines_read += 1
        state.stats.truncated_last_line = True
        kept = _complete_lines(state.stats) - state.stats.lines_skipped
        state.warnings.append(
            AnalysisWarning(
                "truncated-line",
                f"{state.path}:{line}: last line is truncated (k6 killed mid-write?); "
                f"{kept} complete lines kept",
                str(state.path),
            )
        )
        return
    state.consume(parse_block(piece + b"\n", line, list(state.tag_keys), list(state.meta_keys)))


def _complete_lines(stats: IngestStats) -> int:
    return stats.lines_read - int(stats.truncated_last_line)


def _warn_gzip(state: _ReadState, source: ByteSource) -> None:
    cause = f" ({source.gzip_error})" if source.gzip_error else ""
    state.warnings.append(
        AnalysisWarning(
            "gzip-incomplete",
            f"{state.path}: gzip stream ends before its trailer{cause} (k6 stopped "
            f"before closing the file?); the content decoded up to there was read "
            f"({_complete_lines(state.stats)} complete lines) and the rest is lost",
            str(state.path),
        )
    )


# ---------------------------------------------------------------------------
# Assembling the points frame


def unify_tables(tables: Sequence[pa.Table], tag_keys: Sequence[str], meta_keys: Sequence[str]) -> pa.Table:
    """Concatenate block tables into one with every tag and meta column, in file order."""
    schema = points_schema(tag_keys, meta_keys)
    aligned = [align_table(table, schema) for table in tables]
    if not aligned:
        return schema.empty_table()
    return pa.concat_tables(aligned)


def points_schema(tag_keys: Sequence[str], meta_keys: Sequence[str]) -> pa.Schema:
    """Return the Arrow schema of the points columns; tag and meta keys sorted."""
    fields = [
        pa.field(TIME, TIME_TYPE),
        pa.field(METRIC, TAG_TYPE),
        pa.field(VALUE, pa.float64()),
    ]
    fields += [pa.field(TAG_PREFIX + key, TAG_TYPE) for key in sorted(tag_keys)]
    fields += [pa.field(META_PREFIX + key, pa.string()) for key in sorted(meta_keys)]
    return pa.schema(fields)


def align_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder a block table to ``schema``, adding null columns for absent keys."""
    columns = []
    for schema_field in schema:
        index = table.schema.get_field_index(schema_field.name)
        if index < 0:
            columns.append(pa.nulls(table.num_rows, schema_field.type))
        else:
            columns.append(table.column(index))
    return pa.Table.from_arrays(columns, schema=schema)


class MemorySink:
    """Keeps block tables in memory for :func:`unify_tables`."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []

    def add(self, table: pa.Table) -> None:
        self.tables.append(table)


def build_run(state: _ReadState, points: Any, name: str, source_label: str) -> Run:
    """Assemble a Run from a finished read; ``points`` is the frame or None."""
    if state.stats.points == 0 and state.stats.metric_lines == 0:
        raise InputError(
            state.path,
            "no line of the file is a k6 Metric or Point record",
            hint="pass the file written by `k6 run --out json=FILE`",
        )
    warnings = list(state.warnings)
    if state.stats.points == 0:
        warnings.append(
            AnalysisWarning(
                "no-samples",
                f"{state.path}: the run has metric definitions but no points "
                "(k6 stopped before the first request?); nothing to analyse",
                str(state.path),
            )
        )
    if state.undefined_metrics:
        listed = ", ".join(sorted(state.undefined_metrics)[:10])
        warnings.append(
            AnalysisWarning(
                "metric-undefined",
                f"{state.path}: no Metric line defines {listed}; their type and unit "
                "are unknown (is the file cut at the start?)",
                str(state.path),
            )
        )
    info: dict[str, Any] = {
        "format": "k6 NDJSON",
        "first_point_time": _iso(state.first_time),
        "last_point_time": _iso(state.last_time),
        "tag_keys": sorted(state.tag_keys),
        "meta_keys": sorted(state.meta_keys),
        "threshold_options": state.threshold_options,
    }
    return Run(
        name=name,
        source=source_label,
        kind="k6-json",
        points=points,
        metrics=dict(state.metrics),
        info=info,
        stats=state.stats,
        warnings=warnings,
    )


def _iso(nanoseconds: int | None) -> str | None:
    if nanoseconds is None:
        return None
    import pandas as pd

    return pd.Timestamp(nanoseconds, unit="ns", tz="UTC").isoformat()


def read_k6_json(
    path: str | Path,
    *,
    name: str,
    skip_bad_lines: bool = True,
    progress: Any = None,
) -> Run:
    """Read a k6 NDJSON file (plain or gzip) into a Run with its points frame in memory."""
    sink = MemorySink()
    state = read_k6_json_points(path, sink, skip_bad_lines=skip_bad_lines, progress=progress)
    table = unify_tables(sink.tables, list(state.tag_keys), list(state.meta_keys))
    sink.tables.clear()
    points = table_to_frame(table)
    return build_run(state, points, name, str(path))


def table_to_frame(table: pa.Table) -> Any:
    """Convert a points table to the pandas points frame (categoricals for tags)."""
    return table.to_pandas(split_blocks=True, self_destruct=True)
