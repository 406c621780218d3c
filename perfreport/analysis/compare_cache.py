"""Finished comparisons kept on disk, so that running the same compare again is quick.

The ingest cache spares a second ``perfreport compare`` the parse of k6's JSON,
but not the analysis. On two 1 GB runs, reading the cached Parquet files and
running the bootstrap took about 5 s, and the first compare about 12 s. This
cache keeps the finished :class:`~perfreport.analysis.compare.Comparison`.

An entry is a Parquet file in :func:`perfreport.ingest.parquet.cache_dir`. Its
table is the comparison frame, and the rest (the rows not compared, warnings,
options, and the runs' names, sources and kinds) is JSON under the key-value
metadata key :data:`METADATA_KEY`. Its name is a hash of everything the result
depends on: each input's cache identity and its path as given, the options, and
perfreport's version and source files, so editing or upgrading perfreport
starts afresh. Only the command line uses it. A library caller who calls
:func:`~perfreport.analysis.compare.compare` gets a new analysis every time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import perfreport
from perfreport.analysis.compare import Comparison
from perfreport.ingest.nesting import loads
from perfreport.ingest.parquet import cache_dir, cache_identity
from perfreport.model import AnalysisWarning, Run

log = logging.getLogger(__name__)

FORMAT_VERSION = "perfreport-comparison/1"
METADATA_KEY = b"perfreport-comparison"


def _code_identity() -> list[tuple[str, int, int]]:
    """Return the name, size and modification time of each perfreport source file."""
    package = Path(perfreport.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        found.append((str(path.relative_to(package)), stat.st_size, stat.st_mtime_ns))
    return found


def _library_versions() -> dict[str, str]:
    """Return the versions of the libraries whose results the comparison holds."""
    versions = {}
    for name in ("numpy", "pandas", "pyarrow", "scipy"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


def comparison_key(paths: Sequence[Path], options: dict[str, Any]) -> str:
    """Return the cache key of comparing the files ``paths`` (baseline first).

    ``options`` are every setting the comparison depends on, as JSON values.
    Raises OSError when an input cannot be read.
    """
    identity = {
        "format": FORMAT_VERSION,
        "perfreport": perfreport.__version__,
        "code": _code_identity(),
        "libraries": _library_versions(),
        "inputs": [
            {"given": str(path), **cache_identity(Path(path))} for path in paths
        ],
        "options": options,
    }
    text = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(text).hexdigest()[:32]


def entry_path(key: str) -> Path:
    """Return the path of the cache entry for ``key``."""
    return cache_dir() / f"comparison-{key}.parquet"


def write_comparison(key: str, comparison: Comparison) -> None:
    """Store ``comparison`` under ``key``, or log a warning when that fails.

    The file is written beside its final name and renamed into place, so that a
    reader never sees half of it.
    """
    target = entry_path(key)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(comparison.frame)
        extra = {METADATA_KEY: json.dumps({**_rest_of(comparison), "key": key}).encode()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, target)
    except (OSError, pa.ArrowException, TypeError, ValueError) as error:
        log.warning("failed to write the comparison cache entry %s (%s)", target, error)
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def read_comparison(key: str) -> Comparison | None:
    """Return the comparison stored under ``key``, or None.

    An entry that cannot be read, belongs to another key, or does not render is
    deleted, and the caller computes the comparison again.
    """
    path = entry_path(key)
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        rest = loads((table.schema.metadata or {})[METADATA_KEY])
        if not isinstance(rest, dict) or rest.get("format") != FORMAT_VERSION:
            raise ValueError("not a comparison of this format")
        if rest.get("key") != key:
            raise ValueError("the entry belongs to another key")
        comparison = _comparison_from(table.to_pandas(), rest)
        _check_renders(comparison)
    except Exception as error:  # noqa: BLE001 - any fault in an entry means "compute again"
        log.warning("ignoring the invalid comparison cache entry %s (%s)", path, error)
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return None
    return comparison


def _check_renders(comparison: Comparison) -> None:
    """Render the comparison in every format and read its verdicts, or raise.

    An entry can be well-formed Parquet and JSON and still hold fields of the
    wrong type, and the command would then fail after a cache hit.
    """
    from perfreport.render import compare_table

    compare_table.comparison_text(comparison)
    compare_table.comparison_markdown(comparison)
    compare_table.comparison_json(comparison)
    bool((comparison.frame["verdict"] == "worse").any())


def _run_identity(run: Run) -> dict[str, str]:
    return {"name": run.name, "source": run.source, "kind": run.kind}


def _rest_of(comparison: Comparison) -> dict[str, Any]:
    not_compared = comparison.not_compared
    return {
        "format": FORMAT_VERSION,
        "baseline": _run_identity(comparison.baseline),
        "candidates": [_run_identity(run) for run in comparison.candidates],
        "not_compared": {
            "columns": [str(name) for name in not_compared.columns],
            "rows": not_compared.astype(object).values.tolist(),
        },
        "warnings": [dataclasses.asdict(warning) for warning in comparison.warnings],
        "options": comparison.options,
    }


def _comparison_from(frame: pd.DataFrame, rest: dict[str, Any]) -> Comparison:
    not_compared = rest["not_compared"]
    rows = pd.DataFrame(not_compared["rows"], columns=not_compared["columns"])
    return Comparison(
        baseline=Run(**rest["baseline"]),
        candidates=tuple(Run(**run) for run in rest["candidates"]),
        frame=frame,
        not_compared=rows,
        warnings=[AnalysisWarning(**warning) for warning in rest["warnings"]],
        options=rest["options"],
    )


__all__ = ["comparison_key", "entry_path", "read_comparison", "write_comparison"]
