"""Recognise an input file by its content, and read its bytes whatever the compression.

Detection never trusts the file name: gzip is recognised by its magic bytes,
Parquet by ``PAR1``, and the rest by the first :data:`HEAD_BYTES` bytes of the
(decompressed) content. A file that perfreport does not read as a run raises
:class:`~perfreport.errors.UnknownFormatError` saying what it looks like.

Kinds returned by :func:`detect_kind`:

``k6-json``
    k6's NDJSON output (``--out json``): the first non-empty line is an object
    with ``"type"`` ``"Metric"`` or ``"Point"``.
``k6-csv``
    k6's CSV output (``--out csv``): the header starts ``metric_name,timestamp,``
    ``metric_value``.
``parquet``
    A Parquet file (perfreport's own run format is checked when it is read).
``k6-summary-export``, ``k6-handle-summary``, ``k6-machine-summary``,
``baseline-runbook``, ``baseline-perfreport``
    JSON documents read by :func:`perfreport.ingest.k6_summary.read_summary_document`.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from perfreport.errors import InputError, UnknownFormatError
from perfreport.ingest.nesting import NestingTooDeepError, loads

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
HEAD_BYTES = 64 * 1024
# Summary and baseline documents are small; a larger JSON document is classified
# by the keys in its head instead of being parsed whole.
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
_RAW_CHUNK_BYTES = 1024 * 1024

K6_CSV_HEADER = b"metric_name,timestamp,metric_value"
# k6 v1.1.0 starts Metric lines with {"type":"Metric" and Point lines with
# {"metric":"NAME","type":"Point".
_K6_LINE_PREFIX = re.compile(
    r'^\{"(type":"(Metric|Point)"|metric":"[^"]*","type":"(Point|Metric)")'
)
# The first lines are tried in turn, so one damaged line does not hide the kind.
_LINES_TO_TRY = 5
_REDIS_SECTION = re.compile(r"^# (Server|Stats|Memory|Clients)\s*$", re.MULTILINE)
K6_OUTPUT_HINT = "pass the file written by `k6 run --out json=FILE` or `--out csv=FILE`"
_EMPTY_HINT = "k6 writes nothing when it fails before the test starts; check the k6 run"
DOCUMENT_KINDS = (
    "k6-summary-export",
    "k6-handle-summary",
    "k6-machine-summary",
    "baseline-runbook",
    "baseline-perfreport",
)


class ByteSource:
    """A file's bytes, gzip-decompressed when the content starts with gzip's magic.

    A gzip stream cut before its trailer (k6 killed before closing the file) does
    not raise: :meth:`read` returns what could be decoded, then ``b""``, and
    :attr:`gzip_incomplete` becomes true. Concatenated gzip members are read in
    turn. :attr:`raw_position_bytes` counts the bytes read from disk, for progress.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: BinaryIO = open(self.path, "rb")
        self.total_bytes = self.path.stat().st_size
        self.compressed = self._file.read(2) == GZIP_MAGIC
        self._file.seek(0)
        self._inflater = zlib.decompressobj(wbits=31) if self.compressed else None
        self._member_has_data = False
        self._pending_raw = b""
        self._spill = b""
        self.raw_position_bytes = 0
        self.gzip_incomplete = False
        self.gzip_error: str | None = None
        self._finished = False

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def read(self, size: int) -> bytes:
        """Return about ``size`` bytes of content (more for gzip), or ``b""``."""
        if self._finished:
            return b""
        if self._inflater is None:
            data = self._file.read(size)
            self.raw_position_bytes += len(data)
            self._finished = not data
            return data
        return self._read_gzip(size)

    def readinto(self, target: memoryview) -> int:
        """Read content into the start of ``target`` and return its size, 0 at the end.

        A plain file is read straight into ``target``, with no copy on the way.
        """
        if self._finished and not self._spill:
            return 0
        if self._inflater is None:
            size = self._file.readinto(target)
            self.raw_position_bytes += size
            self._finished = not size
            return size
        data = self._spill or self._read_gzip(len(target))
        # Decoding can return more bytes than fit, so the rest go to the next call.
        self._spill = data[len(target) :]
        size = min(len(data), len(target))
        target[:size] = data[:size]
        return size

    def _read_gzip(self, size: int) -> bytes:
        pieces: list[bytes] = []
        produced = 0
        while produced < size and not self._finished:
            if not self._pending_raw:
                self._pending_raw = self._file.read(_RAW_CHUNK_BYTES)
                self.raw_position_bytes += len(self._pending_raw)
                if not self._pending_raw:
                    pieces.append(self._finish_gzip())
                    break
            piece = self._inflate(size - produced)
            pieces.append(piece)
            produced += len(piece)
        return b"".join(pieces)

    def _inflate(self, max_bytes: int) -> bytes:
        """Decompress pending input into at most ``max_bytes``; keep the rest pending.

        The bound keeps a block near ``size``: k6 output compresses about 27 to 1,
        so 1 MiB of gzip can hold 27 MiB of lines.
        """
        assert self._inflater is not None
        if not self._member_has_data:
            # Zero bytes after a member are padding, which Python's gzip module
            # also skips.
            self._pending_raw = self._pending_raw.lstrip(b"\0")
            if not self._pending_raw:
                return b""
        before = self._inflater.copy()
        try:
            piece = self._inflater.decompress(self._pending_raw, max_bytes)
        except zlib.error as error:
            # The failed call returns nothing, so decode its input again in small
            # steps to keep the lines before the damage.
            piece = _decode_until_error(before, self._pending_raw)
            self.gzip_error = f"{error} at compressed byte {self.raw_position_bytes}"
            self.gzip_incomplete = True
            self._finished = True
            self._pending_raw = b""
            return piece
        self._member_has_data = True
        self._pending_raw = self._inflater.unconsumed_tail
        if self._inflater.eof:
            # A new gzip member may follow (files joined with cat).
            self._pending_raw = self._inflater.unused_data
            self._inflater = zlib.decompressobj(wbits=31)
            self._member_has_data = False
        return piece

    def _finish_gzip(self) -> bytes:
        assert self._inflater is not None
        self._finished = True
        if self._member_has_data and not self._inflater.eof:
            self.gzip_incomplete = True
        # After a cut stream, flush() can still release decoded bytes.
        return self._inflater.flush()


def _decode_until_error(inflater: Any, raw: bytes, step: int = 64) -> bytes:
    """Return what ``inflater`` decodes from ``raw`` before the byte that fails it."""
    pieces = []
    for start in range(0, len(raw), step):
        chunk = raw[start : start + step]
        saved = inflater.copy()
        try:
            pieces.append(inflater.decompress(chunk))
            continue
        except zlib.error:
            inflater = saved
        for offset in range(len(chunk)):
            try:
                pieces.append(inflater.decompress(chunk[offset : offset + 1]))
            except zlib.error:
                return b"".join(pieces)
    return b"".join(pieces)


def read_head(path: str | Path, size: int = HEAD_BYTES) -> bytes:
    """Return the first ``size`` bytes of a file's content, decompressed if gzip."""
    with ByteSource(path) as source:
        head = source.read(size)
    return head[:size]


NOT_REGULAR_FILE = "is a pipe, socket or device, not a regular file"
NOT_REGULAR_HINT = "perfreport reads an input more than once, so save the data to a file first"


def detect_kind(path: str | Path) -> str:
    """Return the kind of an input file, judged by its content.

    Raises InputError for a missing or empty file and UnknownFormatError for a
    file perfreport does not read as a run, saying what the file looks like.
    """
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        raise InputError(path, NOT_REGULAR_FILE, hint=NOT_REGULAR_HINT)
    if not path.is_file():
        raise InputError(path, "file not found", hint="check the path")
    with open(path, "rb") as file:
        magic = file.read(4)
    if magic == PARQUET_MAGIC:
        return "parquet"

    head = read_head(path)
    if not head.strip():
        raise InputError(path, "file is empty", hint=_EMPTY_HINT)
    text = _decode_text(path, head)
    stripped = text.lstrip("\ufeff \t\r\n")

    if stripped.startswith(("{", "[")):
        return _detect_json(path, stripped)
    first_line = stripped.split("\n", 1)[0].rstrip("\r")
    if first_line.encode().startswith(K6_CSV_HEADER):
        return "k6-csv"
    raise UnknownFormatError(path, _describe_text(stripped, first_line))


def _decode_text(path: Path, head: bytes) -> str:
    if b"\x00" in head:
        raise UnknownFormatError(
            path,
            "file is binary (it contains NUL bytes), not k6 output",
            hint=K6_OUTPUT_HINT,
        )
    try:
        # A head cut inside a multi-byte character is still text.
        return head.decode("utf-8", errors="strict")
    except UnicodeDecodeError as error:
        if error.start >= len(head) - 3:
            return head[: error.start].decode("utf-8")
        raise UnknownFormatError(
            path,
            f"file is binary (byte {error.start} is not UTF-8), not k6 output",
            hint=K6_OUTPUT_HINT,
        ) from None


def _is_k6_record_line(line: str) -> bool:
    try:
        record = loads(line)
    except ValueError:
        # A truncated, very long or deeply nested line: judge by k6's prefix.
        return _K6_LINE_PREFIX.match(line) is not None
    return isinstance(record, dict) and record.get("type") in ("Metric", "Point")


def _detect_json(path: Path, text: str) -> str:
    lines = [line for line in text.split("\n")[:_LINES_TO_TRY] if line.strip()]
    if any(_is_k6_record_line(line) for line in lines[:_LINES_TO_TRY]):
        return "k6-json"

    doc = _load_document(path, text)
    if doc is not None:
        return _classify_document(path, doc)
    return _classify_document_head(path, text)


def _load_document(path: Path, head: str) -> Any:
    """Return the parsed document when it is small enough to read whole, else None."""
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        return None
    if len(head.encode()) < HEAD_BYTES:
        content = head
    else:
        with ByteSource(path) as source:
            data = b"".join(iter(lambda: source.read(HEAD_BYTES * 16), b""))
        content = data.decode("utf-8-sig", errors="replace")
    try:
        return loads(content)
    except NestingTooDeepError as error:
        raise UnknownFormatError(
            path,
            f"file starts like JSON but its {error.msg}",
            hint="pass k6's JSON output, a k6 summary file or a perfreport baseline",
        ) from None
    except json.JSONDecodeError as error:
        raise UnknownFormatError(
            path,
            f"file starts like JSON but is not valid JSON "
            f"({error.msg} at line {error.lineno})",
            hint="pass k6's JSON output, a k6 summary file or a perfreport baseline",
        ) from None


def _classify_document(path: Path, doc: Any) -> str:
    if not isinstance(doc, dict):
        raise UnknownFormatError(
            path,
            f"file is a JSON {type(doc).__name__}, not a k6 run or summary",
            hint="pass k6's JSON output, a k6 summary file or a perfreport baseline",
        )
    metrics = doc.get("metrics")
    if str(doc.get("format", "")).startswith("perfreport-baseline/"):
        return "baseline-perfreport"
    if (
        isinstance(doc.get("data"), dict)
        and "status" in doc
        and "resultType" in doc["data"]
    ):
        raise UnknownFormatError(path, _PROMETHEUS_MESSAGE)
    # handleSummary data has a root_group too, so its state and values go first.
    if isinstance(metrics, dict) and "state" in doc and _has_values(metrics):
        return "k6-handle-summary"
    if isinstance(metrics, dict) and "root_group" in doc:
        return "k6-summary-export"
    results = doc.get("results")
    if "version" in doc and isinstance(results, dict) and "metrics" in results:
        return "k6-machine-summary"
    if isinstance(metrics, dict) and _is_runbook(metrics):
        return "baseline-runbook"
    keys = ", ".join(sorted(map(str, doc))[:8])
    raise UnknownFormatError(
        path,
        f"file is a JSON document of an unknown kind (top-level keys: {keys})",
        hint="pass k6's JSON output, a k6 summary file or a perfreport baseline",
    )


def _has_values(metrics: dict[str, Any]) -> bool:
    return any(isinstance(body, dict) and "values" in body for body in metrics.values())


def _is_runbook(metrics: dict[str, Any]) -> bool:
    times = metrics.get("response_times")
    return isinstance(times, dict) and any(
        str(k).endswith("_single_user_ms") for k in times
    )


def _classify_document_head(path: Path, head: str) -> str:
    """Classify a document too large to parse by the keys in its head."""

    def has(key: str) -> bool:
        return re.search(rf'"{re.escape(key)}"\s*:', head) is not None

    if has("resultType") and has("status"):
        raise UnknownFormatError(path, _PROMETHEUS_MESSAGE)
    if has("state") and has("values"):
        return "k6-handle-summary"
    if has("root_group"):
        return "k6-summary-export"
    raise UnknownFormatError(
        path,
        "file is a large JSON document of an unknown kind, not k6 output",
        hint="pass the file written by `k6 run --out json=FILE`",
    )


_PROMETHEUS_MESSAGE = (
    "file is a Prometheus HTTP API response (status and data.resultType), "
    "not a k6 run; read it as server data with "
    "'perfreport prometheus --response FILE -o FRAME.parquet'"
)
_REDIS_MESSAGE = (
    "file is Redis INFO output, not a k6 run; read it as server data with "
    "'perfreport redis-hit-rate BEFORE AFTER'"
)


def _describe_text(text: str, first_line: str) -> str:
    lowered = text[:2048].lower()
    if lowered.startswith(("<!doctype html", "<html")) or "<html" in lowered[:512]:
        return (
            "file is an HTML page, not k6 output (a saved error or login page?); "
            + K6_OUTPUT_HINT
        )
    if "redis_version:" in text or _REDIS_SECTION.search(text):
        return _REDIS_MESSAGE
    if text.startswith(("# HELP ", "# TYPE ")):
        return (
            "file is Prometheus exposition text (/metrics), not a k6 run; "
            "query the Prometheus server instead"
        )
    if "," in first_line:
        return (
            f"file is a CSV whose header is not k6's ({first_line[:80]!r}); "
            "k6's CSV output starts with 'metric_name,timestamp,metric_value'"
        )
    return (
        f"file is text that is not k6 output (first line {first_line[:60]!r}); "
        + K6_OUTPUT_HINT
    )
