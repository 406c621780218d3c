"""The version and metadata of perfreport's Parquet run files.

Kept apart from :mod:`perfreport.ingest.parquet` so that readers which need only
a run file's metadata and a few columns do not import pandas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from perfreport.errors import FormatVersionError, InputError
from perfreport.ingest.nesting import loads

FORMAT_NAME = "perfreport-run"
FORMAT_VERSION = f"{FORMAT_NAME}/1"
METADATA_KEY = b"perfreport"


def unreadable(path: str | Path, error: Exception) -> InputError:
    """Return the error for a Parquet run file that pyarrow cannot read."""
    return InputError(
        path,
        f"Parquet file is unreadable ({error})",
        hint="write it again with `perfreport ingest`",
    )


def read_run_metadata(path: str | Path) -> dict[str, Any]:
    """Return the ``perfreport`` metadata of a Parquet run file; check its version."""
    try:
        key_values = pq.ParquetFile(path).metadata.metadata or {}
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as error:
        # pyarrow decodes the footer's column names as it opens the file, so
        # a corrupt name raises UnicodeDecodeError.
        raise unreadable(path, error) from None
    raw = key_values.get(METADATA_KEY)
    if raw is None:
        raise InputError(
            path,
            "Parquet file has no perfreport metadata (not from `perfreport ingest`)",
            hint="pass k6's JSON output or a file written by `perfreport ingest`",
        )
    try:
        meta = loads(raw)
    except ValueError:
        raise InputError(
            path,
            "Parquet file's perfreport metadata is not valid JSON",
            hint="write it again with `perfreport ingest`",
        ) from None
    found = meta.get("format") if isinstance(meta, dict) else None
    if isinstance(found, str) and not found.startswith(FORMAT_NAME + "/"):
        raise InputError(
            path,
            f"Parquet file has perfreport data of format {found!r}, not a run",
            hint="pass k6's JSON output or a file written by `perfreport ingest`",
        )
    if found != FORMAT_VERSION:
        raise FormatVersionError(
            path,
            f"Parquet file has format version {found!r}; "
            f"this perfreport reads {FORMAT_VERSION!r}",
            hint="write it again with this perfreport's `perfreport ingest`",
        )
    return meta
