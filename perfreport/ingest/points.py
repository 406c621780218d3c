"""What the raw-output readers share: the state of a read and the points tables.

A reader (k6 JSON or CSV) turns each block of its input into a :class:`BlockResult`
(normalized Arrow tables, metric definitions, bad lines). It passes the results,
in file order, to a :class:`ReadState`. The state counts them, applies the
``skip_bad_lines`` rule and sends the tables to a :class:`PointSink`, which keeps
them in memory for :func:`perfreport.ingest.load` or writes them to Parquet.

A normalized table has the columns ``time`` (timestamp[ns, UTC]), ``metric`` and
``tag.<key>`` (dictionary-encoded strings), ``value`` (float64) and ``meta.<key>``
(strings); tables of different blocks may have different tag and meta keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from perfreport.errors import InputError
from perfreport.ingest.detect import K6_OUTPUT_HINT
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
)

MAX_BAD_LINES_LISTED = 20
SKIP_HINT = "pass --skip-bad-lines to ingest the rest"
TIME_TYPE = pa.timestamp("ns", tz="UTC")
TAG_TYPE = pa.dictionary(pa.int32(), pa.string())


class PointSink(Protocol):
    """Receives the points of a run, one normalized Arrow table at a time, in order."""

    def add(self, table: pa.Table) -> None: ...


@dataclass
class MetricLine:
    """A metric definition read at ``line``; ``definition`` is None when malformed."""

    line: int
    definition: MetricDef | None
    threshold_options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class BlockResult:
    """The tables, metric lines and bad lines of one block of input, in its order."""

    tables: list[pa.Table] = field(default_factory=list)
    metric_lines: list[MetricLine] = field(default_factory=list)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    lines: int = 0
    negative_values: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Metric name to (count of negative values, line of the first one)."""

    def shift_lines(self, offset: int) -> None:
        """Add ``offset`` to every line number (block-relative to file numbers)."""
        if not offset:
            return
        self.bad_lines = [(number + offset, why) for number, why in self.bad_lines]
        for metric_line in self.metric_lines:
            metric_line.line += offset
        self.negative_values = {
            metric: (count, line + offset)
            for metric, (count, line) in self.negative_values.items()
        }


@dataclass
class ReadState:
    """Counts, definitions and warnings gathered while a file is read."""

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
    negative_values: dict[str, tuple[int, int]] = field(default_factory=dict)
    first_time_ns: int | None = None
    last_time_ns: int | None = None

    def consume(self, result: BlockResult) -> None:
        """Account for one block; raise InputError on a bad line unless skipping."""
        self.stats.lines_read += result.lines
        problems = list(result.bad_lines)
        for metric_line in result.metric_lines:
            problem = self._metric_line(metric_line)
            if problem is not None:
                problems.append(problem)
        # In file order, so that the first bad line is the one raised or listed.
        for number, reason in sorted(problems, key=lambda problem: problem[0]):
            self.bad_line(number, reason)
        for table in result.tables:
            self._points(table)
        for metric, (count, first_line) in result.negative_values.items():
            _add_negative(self.negative_values, metric, count, first_line)

    def bad_line(self, number: int, reason: str) -> None:
        """Skip and count a bad line, or raise InputError when not skipping."""
        if not self.skip_bad_lines:
            raise InputError(self.path, reason, line=number, hint=SKIP_HINT)
        self.stats.lines_skipped += 1
        if len(self.stats.bad_lines) < MAX_BAD_LINES_LISTED:
            self.stats.bad_lines.append((number, reason))
            message = f"{self.path}:{number}: {reason}; line skipped"
            self.warnings.append(AnalysisWarning("bad-line", message, str(self.path)))

    def _metric_line(self, metric_line: MetricLine) -> tuple[int, str] | None:
        """Record a metric definition; return the line and reason when it is malformed."""
        self.stats.metric_lines += 1
        definition = metric_line.definition
        if definition is None:
            return metric_line.line, "Metric line has no valid name, type or contains"
        if definition.name not in self.metrics:
            self.metrics[definition.name] = definition
            self.threshold_options.update(metric_line.threshold_options)

    def _points(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.stats.points += table.num_rows
        for name in table.column_names:
            if name.startswith(TAG_PREFIX):
                self.tag_keys.setdefault(name[len(TAG_PREFIX) :])
            elif name.startswith(META_PREFIX):
                self.meta_keys.setdefault(name[len(META_PREFIX) :])
        bounds = pc.min_max(table.column(TIME))
        low, high = bounds["min"].value, bounds["max"].value
        self.first_time_ns = (
            low if self.first_time_ns is None else min(self.first_time_ns, low)
        )
        self.last_time_ns = (
            high if self.last_time_ns is None else max(self.last_time_ns, high)
        )
        for chunk in table.column(METRIC).chunks:
            for metric in chunk.dictionary.to_pylist():
                if metric not in self.metrics:
                    self.undefined_metrics.setdefault(metric)
        self.sink.add(table)

    def complete_lines(self) -> int:
        """Return the lines read, less a truncated last line."""
        return self.stats.lines_read - int(self.stats.truncated_last_line)

    def warn_truncated(self, line: int) -> None:
        """Record that the last line (number ``line``) was cut off mid-write."""
        self.stats.lines_read += 1
        self.stats.truncated_last_line = True
        kept = self.complete_lines() - self.stats.lines_skipped
        message = (
            f"{self.path}:{line}: last line is truncated (k6 killed mid-write?); "
            f"{kept} complete lines kept"
        )
        self.warnings.append(AnalysisWarning("truncated-line", message, str(self.path)))

    def warn_gzip_incomplete(self, cause: str | None) -> None:
        """Record that the gzip stream ended before its trailer."""
        self.stats.gzip_incomplete = True
        detail = f" ({cause})" if cause else ""
        message = (
            f"{self.path}: gzip stream ends before its trailer{detail} (k6 stopped "
            "before closing the file?); the content decoded up to there was read "
            f"({self.complete_lines()} complete lines) and the rest is lost"
        )
        self.warnings.append(
            AnalysisWarning("gzip-incomplete", message, str(self.path))
        )


# ---------------------------------------------------------------------------
# Tables


def points_schema(tag_keys: Sequence[str], meta_keys: Sequence[str]) -> pa.Schema:
    """Return the Arrow schema of the points columns, tag and meta keys sorted."""
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


def dictionary_encode(table: pa.Table) -> pa.Table:
    """Dictionary-encode the metric and tag columns (few distinct values)."""
    for i, name in enumerate(table.column_names):
        if name == METRIC or name.startswith(TAG_PREFIX):
            table = table.set_column(i, name, pc.dictionary_encode(table.column(i)))
    return table


def count_negative_values(
    table: pa.Table, lines: Sequence[int] | np.ndarray, result: BlockResult
) -> None:
    """Add each metric's negative values to ``result.negative_values``.

    ``lines`` are the line numbers of the table's rows, in the same order.
    """
    negative = pc.fill_null(pc.less(table.column(VALUE), 0.0), False)
    if not pc.any(negative).as_py():
        return
    rows = np.flatnonzero(negative.to_numpy())
    found = pa.table(
        {
            "metric": table.column(METRIC).filter(negative).cast(pa.string()),
            "line": pa.array(np.asarray(lines)[rows], pa.int64()),
        }
    )
    grouped = found.group_by("metric").aggregate([("line", "count"), ("line", "min")])
    for metric, count, first_line in zip(
        grouped.column("metric").to_pylist(),
        grouped.column("line_count").to_pylist(),
        grouped.column("line_min").to_pylist(),
    ):
        _add_negative(result.negative_values, metric, count, first_line)


def _add_negative(
    into: dict[str, tuple[int, int]], metric: str, count: int, first_line: int
) -> None:
    earlier_count, earlier_line = into.get(metric, (0, first_line))
    into[metric] = (earlier_count + count, min(earlier_line, first_line))


class MemorySink:
    """Keeps tables in memory; :meth:`table` concatenates them."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []

    def add(self, table: pa.Table) -> None:
        self.tables.append(table)

    def table(self, state: ReadState) -> pa.Table:
        """Return one table with every tag and meta column seen, in file order."""
        schema = points_schema(list(state.tag_keys), list(state.meta_keys))
        aligned = [align_table(table, schema) for table in self.tables]
        self.tables.clear()
        if not aligned:
            return schema.empty_table()
        return pa.concat_tables(aligned)


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """Convert a points table to the pandas points frame (categoricals for tags)."""
    return table.to_pandas(split_blocks=True, self_destruct=True)


# ---------------------------------------------------------------------------
# The Run


def build_run(
    state: ReadState,
    points: pd.DataFrame | None,
    name: str,
    kind: str,
    info: dict[str, Any],
) -> Run:
    """Assemble a Run from a finished read; ``points`` is the frame or None.

    Raises InputError when the file held no usable record at all.
    """
    if state.stats.points == 0 and state.stats.metric_lines == 0:
        raise InputError(
            state.path,
            "no line of the file is a k6 Metric or Point record",
            hint=K6_OUTPUT_HINT,
        )
    warnings = list(state.warnings)
    if state.stats.points == 0:
        message = (
            f"{state.path}: the run has metric definitions but no points "
            "(k6 stopped before the first request?); nothing to analyse"
        )
        warnings.append(AnalysisWarning("no-samples", message, str(state.path)))
    warnings += _negative_time_warnings(state)
    full_info = {
        **info,
        "first_point_time": _iso(state.first_time_ns),
        "last_point_time": _iso(state.last_time_ns),
        "tag_keys": sorted(state.tag_keys),
        "meta_keys": sorted(state.meta_keys),
        "threshold_options": state.threshold_options,
    }
    return Run(
        name=name,
        source=str(state.path),
        kind=kind,
        points=points,
        metrics=dict(state.metrics),
        info=full_info,
        stats=state.stats,
        warnings=warnings,
    )


def _negative_time_warnings(state: ReadState) -> list[AnalysisWarning]:
    """Warn about negative values of time Trends, which k6 never measures."""
    warnings = []
    for metric, (count, first_line) in sorted(state.negative_values.items()):
        definition = state.metrics.get(metric)
        if definition is None or definition.type != "trend":
            continue
        if definition.contains != "time":
            continue
        message = (
            f"{state.path}:{first_line}: {metric} has {count} negative value(s), "
            "the first on this line. k6 never measures a negative time, so the file "
            "was probably edited or written by another tool. The values are kept "
            "and count in every statistic"
        )
        warnings.append(AnalysisWarning("negative-duration", message, str(state.path)))
    return warnings


def _iso(nanoseconds: int | None) -> str | None:
    if nanoseconds is None:
        return None
    return pd.Timestamp(nanoseconds, unit="ns", tz="UTC").isoformat()
