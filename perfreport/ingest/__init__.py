"""Reading test-run files: one module per input format, :func:`load` picks by content.

``load`` recognises the file's kind from its bytes, never from its name (see
:mod:`perfreport.ingest.detect`), and returns a :class:`~perfreport.model.Run`.
Raw k6 output (JSON or CSV) becomes a points frame. Summary and baseline documents
become a summary frame through :mod:`perfreport.ingest.k6_summary`.
"""

from __future__ import annotations

import os
from pathlib import Path

from perfreport.errors import InputError
from perfreport.ingest.detect import DOCUMENT_KINDS, ByteSource, detect_kind
from perfreport.ingest.nesting import loads
from perfreport.model import Run

__all__ = ["default_run_name", "detect_kind", "load"]

_KNOWN_SUFFIXES = {".gz", ".json", ".ndjson", ".jsonl", ".csv", ".parquet", ".txt"}


def default_run_name(path: str | Path) -> str:
    """Return the file name without known extensions (``stress.json.gz``: stress)."""
    name = Path(path).name
    while True:
        stem, suffix = os.path.splitext(name)
        if not stem or suffix.lower() not in _KNOWN_SUFFIXES:
            return name
        name = stem


def load(
    path: str | Path,
    *,
    name: str | None = None,
    skip_bad_lines: bool = True,
    cache: bool = True,
    progress: bool = False,
    sample_metadata: bool = True,
) -> Run:
    """Read a test-run file of any supported kind into a Run.

    Args:
        path: k6 JSON output (plain or gzip), k6 CSV output, a Parquet file written
            by perfreport, a k6 summary file or a baseline file.
        name: the run's name; defaults to the file name without extensions.
        skip_bad_lines: skip lines that are not k6 records, counting them in
            ``run.stats`` and ``run.warnings``; when false, the first one raises.
        cache: reuse (and write) a Parquet copy of raw k6 output, keyed by the
            input's path, size, inode, modification and status-change times and
            a hash of its first and last 64 KiB
            (see :func:`perfreport.ingest.parquet.cache_identity`).
        progress: show a progress bar (bytes read) on stderr.
        sample_metadata: keep k6's per-sample metadata (the ``meta.*`` columns).
            No statistic uses them; leaving them out of a cached or Parquet run
            saves about 30 % of the reading time.

    Raises:
        InputError: the file is missing, empty, malformed or has no usable record.
        UnknownFormatError: the content is not a kind perfreport reads as a run.
        FormatVersionError: a perfreport Parquet file of an unknown format version.
    """
    path = Path(path)
    run_name = name if name is not None else default_run_name(path)
    kind = detect_kind(path)
    if kind in ("k6-json", "k6-csv"):
        run = _load_raw(path, kind, run_name, skip_bad_lines, cache, progress, sample_metadata)
        if not sample_metadata and run.points is not None:
            run.points = run.points.drop(columns=[c for c in run.points.columns if c.startswith("meta.")])
        return run
    if kind == "parquet":
        from perfreport.ingest.parquet import read_parquet

        return read_parquet(path, name=name, sample_metadata=sample_metadata)
    if kind in DOCUMENT_KINDS:
        return _load_document(path, kind, run_name)
    raise InputError(path, f"no reader for files of kind {kind!r}")


def _load_raw(
    path: Path,
    kind: str,
    name: str,
    skip_bad_lines: bool,
    cache: bool,
    progress: bool,
    sample_metadata: bool,
) -> Run:
    from perfreport.ingest import parquet

    if cache:
        return parquet.load_cached(
            path,
            kind,
            name=name,
            skip_bad_lines=skip_bad_lines,
            progress=progress,
            sample_metadata=sample_metadata,
        )
    return parquet.read_raw(
        path, kind, name=name, skip_bad_lines=skip_bad_lines, progress=progress
    )


def _load_document(path: Path, kind: str, name: str) -> Run:
    from perfreport.ingest.k6_summary import read_summary_document

    # utf-8-sig drops a byte order mark, which the json module rejects.
    text = b"".join(_read_all(path)).decode("utf-8-sig", errors="replace")
    try:
        doc = loads(text)
    except ValueError as error:
        raise InputError(
            path,
            f"file is not valid JSON ({error})",
            hint="pass the file as k6 wrote it",
        ) from None
    return read_summary_document(path, doc, kind, name)


def _read_all(path: Path) -> list[bytes]:
    with ByteSource(path) as source:
        return list(iter(lambda: source.read(1 << 20), b""))
