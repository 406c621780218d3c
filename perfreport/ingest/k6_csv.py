"""k6's CSV output (``k6 run --out csv=FILE``, plain or gzip) into a points frame.

k6 v1.1.0 writes the header ``metric_name,timestamp,metric_value``, one column per
system tag, then ``extra_tags`` and ``metadata``. It loses information that the
JSON output keeps, and ``Run.info`` records what is lost:

* timestamps are whole Unix seconds (``time_resolution_s`` is 1);
* values are printed with 6 decimals (``values_rounded`` is true);
* an empty cell cannot be told from an absent tag, so both become null;
* ``extra_tags`` and ``metadata`` are ``k=v&k=v`` in no fixed order, without
  escaping, so a value that contains ``&`` cannot be told from two pairs. A piece
  without ``=`` is taken as part of the previous value;
* there are no metric definitions: the types of k6's built-in metrics are filled
  in from :data:`BUILTIN_METRICS`, and other metrics get a warning.

The file is read by pyarrow's streaming CSV reader; rows with the wrong number of
cells are skipped and counted with their line numbers.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from perfreport.errors import InputError
from perfreport.ingest.detect import ByteSource, read_head
from perfreport.ingest.points import (
    TIME_TYPE,
    BlockResult,
    MemorySink,
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
    MetricDef,
    Run,
)

REQUIRED_COLUMNS = ("metric_name", "timestamp", "metric_value")
EXTRA_TAGS_COLUMN = "extra_tags"
METADATA_COLUMN = "metadata"
CSV_BLOCK_BYTES = 8 * 1024 * 1024
_NS_PER_S = 1_000_000_000

# (type, contains) of the metrics k6 v1.1.0 defines itself.
BUILTIN_METRICS: dict[str, tuple[str, str]] = {
    "vus": ("gauge", "default"),
    "vus_max": ("gauge", "default"),
    "iterations": ("counter", "default"),
    "iteration_duration": ("trend", "time"),
    "dropped_iterations": ("counter", "default"),
    "data_received": ("counter", "data"),
    "data_sent": ("counter", "data"),
    "checks": ("rate", "default"),
    "group_duration": ("trend", "time"),
    "http_reqs": ("counter", "default"),
    "http_req_failed": ("rate", "default"),
    "http_req_duration": ("trend", "time"),
    "http_req_blocked": ("trend", "time"),
    "http_req_connecting": ("trend", "time"),
    "http_req_tls_handshaking": ("trend", "time"),
    "http_req_sending": ("trend", "time"),
    "http_req_waiting": ("trend", "time"),
    "http_req_receiving": ("trend", "time"),
    "ws_connecting": ("trend", "time"),
    "ws_session_duration": ("trend", "time"),
    "ws_ping": ("trend", "time"),
    "ws_sessions": ("counter", "default"),
    "ws_msgs_sent": ("counter", "default"),
    "ws_msgs_received": ("counter", "default"),
    "grpc_req_duration": ("trend", "time"),
    "grpc_streams": ("counter", "default"),
    "grpc_streams_msgs_sent": ("counter", "default"),
    "grpc_streams_msgs_received": ("counter", "default"),
}


class _SourceFile(io.RawIOBase):
    """A readable file over a ByteSource, remembering the last byte of content."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._pending = b""
        self.last_byte = b""
        self.newlines = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            self._pending = self._source.read(max(len(buffer), 1 << 16))
            if self._pending:
                self.last_byte = self._pending[-1:]
                self.newlines += self._pending.count(b"\n")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def read_header(path: Path) -> list[str]:
    """Return the column names on the first line, checking the required ones."""
    head = read_head(path)
    # utf-8-sig drops the byte order mark that Excel writes when it saves CSV.
    first_line = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    first_line = first_line.rstrip("\r")
    columns = next(csv.reader([first_line]))
    if tuple(columns[:3]) != REQUIRED_COLUMNS:
        raise InputError(
            path,
            f"CSV header starts {columns[:3]}, not {list(REQUIRED_COLUMNS)}",
            line=1,
            hint="pass the file written by `k6 run --out csv=FILE`",
        )
    if len(set(columns)) != len(columns):
        raise InputError(path, "CSV header names a column twice", line=1)
    return columns


def _split_pairs(column: pa.Array, prefix: str) -> dict[str, pa.Array]:
    """Pivot a ``k=v&k=v`` column into one string column per key."""
    texts = column.to_pylist()
    keyed: dict[str, list[str | None]] = {}
    for row, text in enumerate(texts):
        if not text:
            continue
        for key, value in _parse_pairs(text):
            values = keyed.setdefault(prefix + key, [None] * len(texts))
            values[row] = value
    return {name: pa.array(values, pa.string()) for name, values in keyed.items()}


def _parse_pairs(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for piece in text.split("&"):
        key, sep, value = piece.partition("=")
        if sep or not pairs:
            pairs.append((key, value))
        else:
            # No "=": the previous value contained an "&".
            last_key, last_value = pairs[-1]
            pairs[-1] = (last_key, f"{last_value}&{piece}")
    return pairs


def _pair_columns(batch: pa.RecordBatch, name: str, prefix: str) -> dict[str, pa.Array]:
    index = batch.schema.get_field_index(name)
    if index < 0:
        return {}
    column = batch.column(index)
    if column.null_count == len(column):
        return {}
    # Rows repeat few distinct texts (vu=1&iter=0 ...): parse each text once.
    encoded = pc.dictionary_encode(column)
    parsed = _split_pairs(encoded.dictionary, prefix)
    return {key: values.take(encoded.indices) for key, values in parsed.items()}


def _bad_numbers(texts: pa.Array, target: pa.DataType) -> np.ndarray:
    """Return the rows whose text does not convert to ``target``."""
    bad = []
    for row, text in enumerate(texts.to_pylist()):
        try:
            pa.array([text]).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad.append(row)
    return np.array(bad, dtype=np.int64)


def _convert(texts: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Cast a string column; return it and the rows that failed (nulls there)."""
    try:
        return texts.cast(target), np.array([], dtype=np.int64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        bad = _bad_numbers(texts, target)
    keep = np.ones(len(texts), dtype=bool)
    keep[bad] = False
    cleaned = pc.if_else(pa.array(keep), texts, pa.scalar(None, pa.string()))
    return cleaned.cast(target), bad


def _drop_non_finite(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Null the NaN and infinite values; return the column and their rows.

    Arrow's cast reads 'nan' and 'inf' as numbers, but k6 never writes them.
    """
    finite = pc.is_finite(values).fill_null(True)
    if pc.all(finite).as_py():
        return values, np.array([], dtype=np.int64)
    rows = np.flatnonzero(~finite.to_numpy(zero_copy_only=False))
    return pc.if_else(finite, values, pa.scalar(None, pa.float64())), rows


class _LineCounter:
    """Maps row indexes to physical line numbers across batches.

    A row takes one line plus one per newline inside its quoted cells, and rows
    that pyarrow skipped as invalid take lines too.
    """

    def __init__(self, invalid_lines: list[int]) -> None:
        self.next_line = 2  # line 1 is the header
        self.invalid_lines = invalid_lines
        self._invalid_used = 0

    def lines_of(self, batch: pa.RecordBatch) -> np.ndarray:
        extra = np.zeros(batch.num_rows, dtype=np.int64)
        for column in batch.columns:
            if pa.types.is_string(column.type):
                counts = pc.count_substring(column, "\n").fill_null(0)
                extra += counts.to_numpy(zero_copy_only=False)
        starts = np.empty(batch.num_rows, dtype=np.int64)
        line = self.next_line
        for row in range(batch.num_rows):
            while self._skip_invalid(line):
                line += 1
            starts[row] = line
            line += 1 + int(extra[row])
        self.next_line = line
        return starts

    def _skip_invalid(self, line: int) -> bool:
        pending = self.invalid_lines[self._invalid_used :]
        if pending and pending[0] == line:
            self._invalid_used += 1
            return True
        return False


def _empty_rows(cells: pa.Array, blank: np.ndarray) -> np.ndarray:
    return np.flatnonzero(cells.is_null().to_numpy(zero_copy_only=False) & ~blank)


def _normalize_batch(
    batch: pa.RecordBatch,
    tag_columns: list[str],
    lines: np.ndarray,
    result: BlockResult,
) -> None:
    """Turn a CSV batch into a points table, recording unconvertible rows as bad."""
    metric = batch.column(0)
    seconds, bad_time = _convert(batch.column(1), pa.int64())
    value, bad_value = _convert(batch.column(2), pa.float64())
    value, non_finite = _drop_non_finite(value)
    missing = metric.is_null().to_numpy(zero_copy_only=False)
    blank = missing & batch.column(1).is_null().to_numpy(zero_copy_only=False)
    bad_metric = np.flatnonzero(missing & ~blank)
    reasons: dict[int, str] = {}
    for rows, reason in (
        (bad_metric, "metric_name is empty"),
        (bad_time, "timestamp is not whole Unix seconds"),
        (bad_value, "metric_value is not a number"),
        (non_finite, "metric_value is not a finite number"),
        (_empty_rows(batch.column(1), blank), "timestamp is empty"),
        (_empty_rows(batch.column(2), blank), "metric_value is empty"),
    ):
        for row in rows:
            reasons.setdefault(int(row), reason)
    result.bad_lines.extend((int(lines[row]), reasons[row]) for row in sorted(reasons))

    time = pc.multiply(seconds, _NS_PER_S).cast(pa.int64()).cast(TIME_TYPE)
    columns: dict[str, pa.Array] = {TIME: time, METRIC: metric, VALUE: value}
    for name in tag_columns:
        cells = batch.column(batch.schema.get_field_index(name))
        # A column that is empty so far is a tag not seen yet, as in JSON output.
        if cells.null_count < len(cells):
            columns[TAG_PREFIX + name] = cells
    for key, values in _pair_columns(batch, EXTRA_TAGS_COLUMN, TAG_PREFIX).items():
        columns.setdefault(key, values)
    columns.update(_pair_columns(batch, METADATA_COLUMN, META_PREFIX))
    table = pa.table(columns)

    keep = ~blank & ~missing
    keep &= seconds.is_valid().to_numpy(zero_copy_only=False)
    keep &= value.is_valid().to_numpy(zero_copy_only=False)
    if not keep.all():
        table = table.filter(pa.array(keep))
    count_negative_values(table, lines[keep], result)
    result.tables.append(dictionary_encode(table))


def read_k6_csv_points(
    path: str | Path,
    sink: PointSink,
    *,
    skip_bad_lines: bool = True,
    progress: Any = None,
) -> ReadState:
    """Stream a k6 CSV file's rows into ``sink`` and return what was read.

    ``progress`` is an object with ``update(done_bytes)``, or None. Raises
    InputError at the first bad row when ``skip_bad_lines`` is false.
    """
    path = Path(path)
    state = ReadState(path, skip_bad_lines, sink)
    header = read_header(path)
    tag_columns = [
        c for c in header[3:] if c not in (EXTRA_TAGS_COLUMN, METADATA_COLUMN)
    ]
    invalid: list[tuple[int, str]] = []

    def on_invalid_row(row: Any) -> str:
        number = row.number if row.number is not None else -1
        reason = (
            f"row has {row.actual_columns} cells, the header {row.expected_columns}"
        )
        invalid.append((number, reason))
        return "skip"

    with ByteSource(path) as source:
        stream = _SourceFile(source)
        reader = _open_reader(path, stream, header, on_invalid_row)
        counter = _LineCounter([])
        held: tuple[pa.RecordBatch, np.ndarray] | None = None
        for batch in _batches(path, reader):
            counter.invalid_lines = [number for number, _ in invalid]
            lines = counter.lines_of(batch)
            if held is not None:
                _consume_batch(state, held, tag_columns, invalid, final=False)
            held = (batch, lines)
            if progress is not None:
                progress.update(source.raw_position_bytes)
        truncated = stream.last_byte not in (b"\n", b"")
        _finish(state, held, tag_columns, invalid, stream.newlines, truncated=truncated)
        if source.gzip_incomplete:
            state.warn_gzip_incomplete(source.gzip_error)
    _define_metrics(state)
    return state


def _open_reader(
    path: Path, stream: io.RawIOBase, header: list[str], on_invalid_row: Any
) -> pa_csv.CSVStreamingReader:
    convert = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        null_values=[""],
        strings_can_be_null=True,
    )
    # Blank lines become rows of nulls (dropped later) rather than being skipped,
    # because pyarrow's line numbers of invalid rows do not count skipped lines.
    parse = pa_csv.ParseOptions(
        newlines_in_values=True,
        ignore_empty_lines=False,
        invalid_row_handler=on_invalid_row,
    )
    # pyarrow reports the line numbers of invalid rows only without threads.
    read = pa_csv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES)
    try:
        return pa_csv.open_csv(io.BufferedReader(stream), read, parse, convert)
    except pa.ArrowInvalid as error:
        raise InputError(
            path, f"CSV cannot be parsed ({error})", hint="pass the file as k6 wrote it"
        ) from None


def _batches(path: Path, reader: pa_csv.CSVStreamingReader) -> Any:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as error:
            raise InputError(
                path,
                f"CSV cannot be parsed ({error})",
                hint="pass the file as k6 wrote it",
            ) from None
        yield batch


def _consume_batch(
    state: ReadState,
    held: tuple[pa.RecordBatch, np.ndarray] | None,
    tag_columns: list[str],
    invalid: list[tuple[int, str]],
    *,
    final: bool,
) -> None:
    """Pass a batch, and the invalid rows before its end, to ``state`` in line order."""
    result = BlockResult()
    last_line = int(held[1][-1]) if held is not None and len(held[1]) else 0
    while invalid and (final or invalid[0][0] <= last_line):
        result.bad_lines.append(invalid.pop(0))
    if held is not None and held[0].num_rows:
        _normalize_batch(held[0], tag_columns, held[1], result)
    result.bad_lines.sort()
    state.consume(result)


def _finish(
    state: ReadState,
    held: tuple[pa.RecordBatch, np.ndarray] | None,
    tag_columns: list[str],
    invalid: list[tuple[int, str]],
    newlines: int,
    *,
    truncated: bool,
) -> None:
    """Consume the last batch; a last line without newline is reported as truncated."""
    last_line = newlines + 1
    if truncated:
        if invalid and invalid[-1][0] in (last_line, -1):
            invalid.pop()
        elif held is not None and held[0].num_rows:
            batch, lines = held
            held = (batch.slice(0, batch.num_rows - 1), lines[:-1])
    _consume_batch(state, held, tag_columns, invalid, final=True)
    state.stats.lines_read = newlines
    if truncated:
        state.warn_truncated(last_line)


def _define_metrics(state: ReadState) -> None:
    """Fill in k6's built-in metric definitions; warn about the others."""
    unknown = []
    for name in state.undefined_metrics:
        known = BUILTIN_METRICS.get(name)
        if known is None:
            unknown.append(name)
            continue
        metric_type, contains = known
        definition = MetricDef(name, metric_type, contains)  # type: ignore[arg-type]
        state.metrics[name] = definition
    state.undefined_metrics.clear()
    if unknown:
        listed = ", ".join(sorted(unknown)[:10])
        message = (
            f"{state.path}: k6's CSV output has no metric definitions, so the type and "
            f"unit of {listed} are unknown; use `--out json` to keep them"
        )
        state.warnings.append(
            AnalysisWarning("metric-undefined", message, str(state.path))
        )


def csv_info() -> dict[str, Any]:
    """Return the ``Run.info`` entries that describe k6 CSV input."""
    return {"format": "k6 CSV", "time_resolution_s": 1.0, "values_rounded": True}


def read_k6_csv(
    path: str | Path, *, name: str, skip_bad_lines: bool = True, progress: Any = None
) -> Run:
    """Read a k6 CSV file (plain or gzip) into a Run with its points frame."""
    sink = MemorySink()
    state = read_k6_csv_points(
        path, sink, skip_bad_lines=skip_bad_lines, progress=progress
    )
    return build_run(
        state, table_to_frame(sink.table(state)), name, "k6-csv", csv_info()
    )
