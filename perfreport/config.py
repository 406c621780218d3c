"""The report configuration file (TOML), so a team keeps one report setup in its repo.

Paths in the file are relative to the file's folder::

    format_version = 1
    title = "Staging Performance Report"
    criteria = "staging-criteria.toml"
    format = "markdown"
    output = "STAGING_PERFORMANCE_REPORT.md"

    [metadata]
    environment = "staging"
    branch = "release/2.4"
    version = "2.4.0"

    [baseline]
    path = "baseline.json.gz"

    [[run]]
    name = "load"
    path = "load.json.gz"

    [server]
    prometheus = ["prometheus/load"]
    redis_before = "redis-before.txt"
    redis_after = "redis-after.txt"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from perfreport.errors import ConfigError

CONFIG_FORMAT_VERSION = 1
FORMATS = ("markdown", "html", "pdf", "json")
TOP_KEYS = {
    "format_version", "title", "criteria", "format", "output", "metadata",
    "baseline", "run", "server",
}  # fmt: skip
METADATA_KEYS = {"environment", "branch", "version", "date"}
SERVER_KEYS = {"prometheus", "redis_before", "redis_after"}
_TOML_LINE = re.compile(r"at line (\d+)")


@dataclass(frozen=True)
class RunInput:
    """A run file and the name the report gives it (None: from the file name)."""

    path: Path
    name: str | None = None


@dataclass(frozen=True)
class ReportConfig:
    """A parsed report configuration with absolute paths; None means not set."""

    source: Path
    title: str | None = None
    criteria: Path | None = None
    format: str | None = None
    output: Path | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    baseline: RunInput | None = None
    runs: tuple[RunInput, ...] = ()
    prometheus: tuple[Path, ...] = ()
    redis_before: Path | None = None
    redis_after: Path | None = None


def load_config(path: str | Path) -> ReportConfig:
    """Read a report configuration file.

    Raises:
        ConfigError: the file is missing or not TOML, or it has an unknown key
            or a value of the wrong type. The message names the file, line and fix.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            path, f"cannot read the report config ({error.strerror})"
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = _TOML_LINE.search(str(error))
        raise ConfigError(
            path, f"not valid TOML ({error})", line=int(match.group(1)) if match else None,
            hint="fix the syntax",
        ) from None  # fmt: skip
    return _Parser(path, text).parse(document)


class _Parser:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.folder = path.resolve().parent
        self.lines = text.splitlines()

    def error(self, key: str, message: str, hint: str) -> ConfigError:
        pattern = re.compile(rf"^\s*(\[+\s*)?{re.escape(key)}\s*(=|\]+)")
        line = next(
            (i + 1 for i, ln in enumerate(self.lines) if pattern.match(ln)), None
        )
        return ConfigError(self.path, message, line=line, hint=hint)

    def parse(self, document: dict[str, Any]) -> ReportConfig:
        version = document.get("format_version", CONFIG_FORMAT_VERSION)
        if version != CONFIG_FORMAT_VERSION:
            raise self.error(
                "format_version", f"unsupported format_version {version!r}",
                f"this release reads format_version = {CONFIG_FORMAT_VERSION}",
            )  # fmt: skip
        self.check_keys(document, TOP_KEYS, "top-level key")
        output_format = self.text(document, "format")
        if output_format is not None and output_format not in FORMATS:
            raise self.error(
                "format",
                f"invalid format {output_format!r}",
                "use one of " + ", ".join(FORMATS),
            )
        server = self.table(document, "server")
        self.check_keys(server, SERVER_KEYS, "key in [server]")
        metadata = self.table(document, "metadata")
        self.check_keys(metadata, METADATA_KEYS, "key in [metadata]")
        return ReportConfig(
            source=self.path,
            title=self.text(document, "title"),
            criteria=self.path_of(document, "criteria"),
            format=output_format,
            output=self.path_of(document, "output"),
            metadata={k: self.text(metadata, k) or "" for k in metadata},
            baseline=self.run_input(document.get("baseline"), "baseline"),
            runs=self.run_inputs(document.get("run", [])),
            prometheus=self.paths(server, "prometheus"),
            redis_before=self.path_of(server, "redis_before"),
            redis_after=self.path_of(server, "redis_after"),
        )

    def check_keys(self, table: dict[str, Any], allowed: set[str], what: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(
                    key,
                    f"unknown {what} {key!r}",
                    "allowed: " + ", ".join(sorted(allowed)),
                )

    def table(self, document: dict[str, Any], key: str) -> dict[str, Any]:
        value = document.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"{key} must be a table", f"write [{key}]")
        return value

    def text(self, table: dict[str, Any], key: str) -> str | None:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise self.error(key, f"{key} must be a string, not {value!r}", "quote it")
        return value

    def path_of(self, table: dict[str, Any], key: str) -> Path | None:
        value = self.text(table, key)
        return (self.folder / value) if value else None

    def paths(self, table: dict[str, Any], key: str) -> tuple[Path, ...]:
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(
                key, f"{key} must be a list of paths", f'write {key} = ["a.parquet"]'
            )
        return tuple(self.folder / v for v in value)

    def run_input(self, value: Any, key: str) -> RunInput | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = {"path": value}
        if not isinstance(value, dict) or not isinstance(value.get("path"), str):
            raise self.error(
                key, f"{key} needs a path", f'write path = "file.json.gz" under [{key}]'
            )
        self.check_keys(value, {"path", "name"}, f"key in [{key}]")
        return RunInput(self.folder / value["path"], self.text(value, "name"))

    def run_inputs(self, value: Any) -> tuple[RunInput, ...]:
        if not isinstance(value, list):
            raise self.error(
                "run", "run must be [[run]] tables", "write [[run]] with a path"
            )
        return tuple(
            item for v in value if (item := self.run_input(v, "run")) is not None
        )
