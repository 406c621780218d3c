"""perfreport's Parquet run format, streaming ingest to it, and the ingest cache.

A run file stores the points columns (see :mod:`perfreport.model`) with the metric
and tag columns dictionary-encoded, zstd-compressed, and the rest of the Run as
JSON under the Parquet key-value metadata key ``perfreport``::

    {"format": "perfreport-run/1", "name": ..., "source": ..., "kind": ...,
     "duration_s": ..., "metrics": {...}, "stats": {...}, "warnings": [...],
     "info": {...}, "k6_thresholds": {...}, "cache_key": {...}}

Readers reject any other ``format`` with FormatVersionError.

The cache keeps one such file per raw input under ``$PERFREPORT_CACHE_DIR`` (or
``~/.cache/perfreport``), named by a hash of :func:`cache_identity`: the input's
resolved path, size, inode, modification and status-change times, a hash of its
first and last 64 KiB, and :data:`FORMAT_VERSION`. An entry that cannot be read
or does not match its input is deleted and rebuilt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from perfreport.errors import InputError
from perfreport.ingest import points
from perfreport.ingest.detect import K6_OUTPUT_HINT
from perfreport.ingest.run_metadata import (
    FORMAT_VERSION,
    METADATA_KEY,
    read_run_metadata,
    unreadable,
)
from perfreport.model import (
    META_PREFIX,
    METRIC,
    TAG_PREFIX,
    TIME,
    AnalysisWarning,
    IngestStats,
    MetricDef,
    Run,
    Submetric,
)

log = logging.getLogger(__name__)

COMPRESSION = "zstd"
ROW_GROUP_ROWS = 100_000
"""Rows gathered before a row group is written (blocks of k6 JSON hold about 25,000)."""
CACHE_EDGE_BYTES = 64 * 1024
"""Bytes hashed at each end of an input for its cache key."""


# ---------------------------------------------------------------------------
# Run metadata as JSON


def _metric_to_json(metric: MetricDef) -> dict[str, Any]:
    return dataclasses.asdict(metric)


def _metric_from_json(body: dict[str, Any]) -> MetricDef:
    return MetricDef(
        name=body["name"],
        type=body["type"],
        contains=body.get("contains", "default"),
        thresholds=tuple(body.get("thresholds", ())),
        submetrics=tuple(Submetric(**sub) for sub in body.get("submetrics", ())),
    )


def run_metadata(run: Run, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the JSON-ready metadata stored beside a run's points."""
    stats = dataclasses.asdict(run.stats)
    return {
        "format": FORMAT_VERSION,
        "name": run.name,
        "source": run.source,
        "kind": run.kind,
        "duration_s": run.duration_s,
        "metrics": {name: _metric_to_json(m) for name, m in run.metrics.items()},
        "k6_thresholds": run.k6_thresholds,
        "stats": stats,
        "warnings": [dataclasses.asdict(w) for w in run.warnings],
        "info": run.info,
        **(extra or {}),
    }


def _run_from_metadata(meta: dict[str, Any], points: Any, name: str | None) -> Run:
    stats_body = dict(meta.get("stats") or {})
    stats_body["bad_lines"] = [tuple(pair) for pair in stats_body.get("bad_lines", [])]
    return Run(
        name=name if name is not None else meta.get("name", ""),
        source=meta.get("source", ""),
        kind=meta.get("kind", "k6-json"),
        points=points,
        metrics={
            n: _metric_from_json(body)
            for n, body in (meta.get("metrics") or {}).items()
        },
        duration_s=meta.get("duration_s"),
        k6_thresholds=meta.get("k6_thresholds") or {},
        info=meta.get("info") or {},
        stats=IngestStats(**stats_body),
        warnings=[AnalysisWarning(**w) for w in meta.get("warnings") or []],
    )


def _encode_metadata(meta: dict[str, Any]) -> dict[bytes, bytes]:
    return {METADATA_KEY: json.dumps(meta, default=str).encode()}


# ---------------------------------------------------------------------------
# Writing


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    return [n for n in schema.names if n == METRIC or n.startswith(TAG_PREFIX)]


def _open_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    # Min/max statistics of the tag and meta columns cost about 40 % of the write
    # time and serve no reader here, so only time and metric keep them.
    return pq.ParquetWriter(
        path,
        schema,
        compression=COMPRESSION,
        use_dictionary=_dictionary_columns(schema),
        write_statistics=[TIME, METRIC],
    )


def write_parquet(run: Run, path: str | Path) -> None:
    """Write a run with points to a Parquet file of format :data:`FORMAT_VERSION`."""
    if run.points is None:
        raise InputError(
            path,
            f"run {run.name!r} has no points to write",
            hint="ingest k6's raw output (--out json), not a summary file",
        )
    table = pa.Table.from_pandas(run.points, preserve_index=False)
    table = table.replace_schema_metadata(_encode_metadata(run_metadata(run)))
    target = Path(path)
    temporary = target.with_name(f".{target.name}.tmp")
    writer = _open_writer(temporary, table.schema)
    try:
        writer.write_table(table)
    finally:
        writer.close()
    os.replace(temporary, target)


class ParquetSink:
    """Streams block tables to a Parquet file whose columns grow with new tag keys.

    A writer's schema is fixed when it opens, so a tag key first seen late in the
    input closes the current part file and opens a new one with the wider schema.
    :meth:`finish` merges the parts (reading Parquet back is much cheaper than
    parsing JSON) or, with a single part, keeps it as it is.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self._work_dir = Path(
            tempfile.mkdtemp(prefix=".perfreport-", dir=target.parent)
        )
        self._parts: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def add(self, table: pa.Table) -> None:
        names = set(table.column_names)
        if self._schema is None or not names <= set(self._schema.names):
            self._start_part(names)
        assert self._schema is not None
        self._pending.append(points.align_table(table, self._schema))
        self._pending_rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._write_pending()

    def _write_pending(self) -> None:
        """Write the gathered tables as one row group.

        A row group per block made the writer start a zstd context and a
        dictionary page per column for every 25,000 rows. The blocks' dictionaries
        differ, and unifying them first made the write about 15 % faster.
        """
        if not self._pending:
            return
        assert self._writer is not None
        table = pa.concat_tables(self._pending).unify_dictionaries()
        self._writer.write_table(table, row_group_size=table.num_rows)
        self._pending = []
        self._pending_rows = 0

    def _start_part(self, names: set[str]) -> None:
        if self._schema is not None:
            names |= set(self._schema.names)
        self._write_pending()
        self._close_writer()
        self._schema = _schema_for(names)
        part = self._work_dir / f"part-{len(self._parts):04d}.parquet"
        self._parts.append(part)
        self._writer = _open_writer(part, self._schema)

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish(self, meta: dict[str, Any]) -> None:
        """Write the metadata, merge the parts and move the result to the target."""
        if self._writer is None:
            self._start_part(set())
        self._write_pending()
        assert self._schema is not None
        if len(self._parts) == 1:
            assert self._writer is not None
            self._writer.add_key_value_metadata(_encode_metadata(meta))
            self._close_writer()
            os.replace(self._parts[0], self.target)
        else:
            self._close_writer()
            self._merge(meta)
        self.discard()

    def _merge(self, meta: dict[str, Any]) -> None:
        merged = self._work_dir / "merged.parquet"
        assert self._schema is not None
        writer = _open_writer(merged, self._schema)
        try:
            for part in self._parts:
                for batch in pq.ParquetFile(part).iter_batches():
                    table = pa.Table.from_batches([batch])
                    writer.write_table(points.align_table(table, self._schema))
            writer.add_key_value_metadata(_encode_metadata(meta))
        finally:
            writer.close()
        os.replace(merged, self.target)

    def discard(self) -> None:
        """Remove the part files (after :meth:`finish`, or after a failed read)."""
        self._pending = []
        self._close_writer()
        shutil.rmtree(self._work_dir, ignore_errors=True)


def _schema_for(names: set[str]) -> pa.Schema:
    tags = [n[len(TAG_PREFIX) :] for n in names if n.startswith(TAG_PREFIX)]
    meta = [n[len(META_PREFIX) :] for n in names if n.startswith(META_PREFIX)]
    return points.points_schema(tags, meta)


def ingest_to_parquet(
    path: str | Path,
    target: str | Path,
    *,
    name: str | None = None,
    skip_bad_lines: bool = True,
    progress: bool = False,
    extra_metadata: dict[str, Any] | None = None,
) -> Run:
    """Stream raw k6 output (JSON or CSV) to a perfreport Parquet file.

    Memory stays flat in the input's size: blocks go to the file as they are
    parsed. Returns the Run without its points (``points`` is None); read them
    with :func:`read_parquet`. Raises as :func:`perfreport.ingest.load` does.
    """
    from perfreport.ingest import default_run_name
    from perfreport.ingest.detect import detect_kind

    source = Path(path)
    kind = detect_kind(source)
    if kind not in ("k6-json", "k6-csv"):
        raise InputError(
            source,
            f"file is a {kind} file, not raw k6 output",
            hint=K6_OUTPUT_HINT,
        )
    run_name = name if name is not None else default_run_name(source)
    sink = ParquetSink(Path(target))
    try:
        state, info = _read_into(source, kind, sink, run_name, skip_bad_lines, progress)
        run = points.build_run(state, None, run_name, kind, info)
        sink.finish(run_metadata(run, extra_metadata))
    except BaseException:
        sink.discard()
        raise
    return run


def _read_into(
    source: Path,
    kind: str,
    sink: points.PointSink,
    name: str,
    skip_bad_lines: bool,
    progress: bool,
) -> tuple[points.ReadState, dict[str, Any]]:
    """Read raw k6 output into ``sink``; return the read's state and the Run's info."""
    from perfreport.progress import ProgressBar

    if kind == "k6-csv":
        from perfreport.ingest.k6_csv import (
            csv_info as info,
        )
        from perfreport.ingest.k6_csv import (
            read_k6_csv_points as read,
        )
    else:
        from perfreport.ingest.k6_json import (
            json_info as info,
        )
        from perfreport.ingest.k6_json import (
            read_k6_json_points as read,
        )
    bar = ProgressBar(source.stat().st_size, label=source.name) if progress else None
    try:
        state = read(source, sink, skip_bad_lines=skip_bad_lines, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    return state, info()


# ---------------------------------------------------------------------------
# Reading


def read_parquet(path: str | Path, *, name: str | None = None, sample_metadata: bool = True) -> Run:
    """Read a perfreport Parquet run file into a Run with its points frame.

    With ``sample_metadata`` false the ``meta.*`` columns (k6's per-sample
    metadata, which no statistic uses) are not read, which saves about 30 %
    of the reading time.
    """
    meta = read_run_metadata(path)
    try:
        table = _read_points(path, sample_metadata)
    except (pa.ArrowInvalid, OSError) as error:
        raise unreadable(path, error) from None
    table = table.replace_schema_metadata(None)
    return _run_from_metadata(meta, points.table_to_frame(table), name)


def read_raw(
    path: str | Path,
    kind: str,
    *,
    name: str,
    skip_bad_lines: bool = True,
    progress: bool = False,
) -> Run:
    """Read raw k6 output (``kind`` k6-json or k6-csv) into a Run, without the cache."""
    source = Path(path)
    sink = points.MemorySink()
    state, info = _read_into(source, kind, sink, name, skip_bad_lines, progress)
    frame = points.table_to_frame(sink.table(state))
    return points.build_run(state, frame, name, kind, info)


# ---------------------------------------------------------------------------
# Cache


def cache_dir() -> Path:
    """Return ``$PERFREPORT_CACHE_DIR``, or ``~/.cache/perfreport`` when it is unset."""
    configured = os.environ.get("PERFREPORT_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "perfreport"


def cache_identity(path: Path) -> dict[str, Any]:
    """Return what identifies an input for the cache.

    It contains the resolved path, size, inode, modification and status-change
    times, and a hash of the first and last :data:`CACHE_EDGE_BYTES`. ``cp -p`` and
    ``rsync -t`` restore the modification time. Writing a file always sets its
    status-change time, which users cannot set. The hash covers file systems
    whose timestamps are too coarse to tell two writes apart. A cache hit reads
    at most twice CACHE_EDGE_BYTES of the input.
    """
    resolved = path.resolve()
    stat = resolved.stat()
    return {
        "path": str(resolved),
        "size_bytes": stat.st_size,
        "inode": stat.st_ino,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
        "edges_sha256": _edges_sha256(resolved, stat.st_size),
        "format": FORMAT_VERSION,
    }


def _edges_sha256(path: Path, size_bytes: int) -> str:
    """Hash the first and last CACHE_EDGE_BYTES of a file (the whole of a small one)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        digest.update(file.read(CACHE_EDGE_BYTES))
        if size_bytes > CACHE_EDGE_BYTES:
            file.seek(max(CACHE_EDGE_BYTES, size_bytes - CACHE_EDGE_BYTES))
            digest.update(file.read(CACHE_EDGE_BYTES))
    return digest.hexdigest()


def cache_path(path: Path) -> Path:
    """Return where the cache keeps the Parquet copy of an input."""
    identity = json.dumps(cache_identity(path), sort_keys=True).encode()
    digest = hashlib.sha256(identity).hexdigest()[:32]
    return cache_dir() / f"{digest}.parquet"


def load_cached(
    path: Path,
    kind: str,
    *,
    name: str,
    skip_bad_lines: bool = True,
    progress: bool = False,
    sample_metadata: bool = True,
) -> Run:
    """Read raw k6 output through the cache, writing the cache entry on a miss."""
    entry = cache_path(path)
    identity = cache_identity(path)
    run = _read_cache_entry(entry, identity, name, sample_metadata)
    if run is None:
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            ingest_to_parquet(
                path,
                entry,
                name=name,
                skip_bad_lines=skip_bad_lines,
                progress=progress,
                extra_metadata={"cache_key": identity},
            )
        except OSError as error:
            log.warning(
                "cannot write the cache entry %s (%s); reading without cache",
                entry,
                error,
            )
            return read_raw(
                path, kind, name=name, skip_bad_lines=skip_bad_lines, progress=progress
            )
        run = _read_cache_entry(entry, identity, name, sample_metadata)
        if run is None:
            raise InputError(
                path,
                f"cache entry {entry} could not be read back",
                hint="pass cache=False, or set PERFREPORT_CACHE_DIR to a writable one",
            )
    _reject_skipped_lines(run, path, skip_bad_lines)
    run.source = str(path)
    return run


def _read_points(path: str | Path, sample_metadata: bool) -> pa.Table:
    """Read a run file's points, without the ``meta.*`` columns unless asked."""
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    if sample_metadata:
        return file.read()
    return file.read(columns=[column for column in names if not column.startswith(META_PREFIX)])


def _read_cache_entry(
    entry: Path, identity: dict[str, Any], name: str, sample_metadata: bool = True
) -> Run | None:
    """Return the cached run, or None (deleting the entry) when it is unusable."""
    if not entry.is_file():
        return None
    try:
        meta = read_run_metadata(entry)
        if meta.get("cache_key") != identity:
            raise InputError(entry, "cache entry belongs to another input")
        table = _read_points(entry, sample_metadata).replace_schema_metadata(None)
    except (InputError, pa.ArrowException, OSError, ValueError) as error:
        log.warning("ignoring unusable cache entry %s: %s", entry, error)
        entry.unlink(missing_ok=True)
        return None
    return _run_from_metadata(meta, points.table_to_frame(table), name)


def _reject_skipped_lines(run: Run, path: Path, skip_bad_lines: bool) -> None:
    """Raise as an uncached read would when lines were skipped but skipping is off."""
    if skip_bad_lines or not run.stats.bad_lines:
        return
    number, reason = run.stats.bad_lines[0]
    raise InputError(path, reason, line=number, hint=points.SKIP_HINT)


__all__: Sequence[str] = (
    "FORMAT_VERSION",
    "ParquetSink",
    "cache_dir",
    "cache_path",
    "ingest_to_parquet",
    "load_cached",
    "read_parquet",
    "read_raw",
    "read_run_metadata",
    "write_parquet",
)
