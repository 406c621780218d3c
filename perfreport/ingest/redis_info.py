"""``redis-cli INFO`` output, parsed into a typed snapshot.

The text is ``# Section`` headers followed by ``key:value`` lines, with CRLF
line ends when saved straight from the server. Values become ``int`` or
``float`` when they are numbers and stay ``str`` otherwise; values made of
``k=v`` pairs (``db0:keys=1,expires=0,avg_ttl=0``, ``cmdstat_get:calls=...``)
become dicts of such values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from perfreport.errors import InputError

Scalar = int | float | str
Value = Scalar | Mapping[str, Scalar]

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_PAIRS = re.compile(r"[A-Za-z_][\w-]*=[^,]*(,[A-Za-z_][\w-]*=[^,]*)*")


@dataclass(frozen=True)
class KeyspaceDb:
    """One ``dbN`` line of the Keyspace section."""

    keys: int
    expires: int
    avg_ttl_ms: int


@dataclass(frozen=True)
class RedisInfo:
    """One ``INFO`` snapshot.

    ``sections`` maps a section name as written (``Stats``, ``Server``) to its
    fields; ``fields`` is the same fields in one flat mapping. A snapshot of
    ``INFO stats`` alone has no ``uptime_in_seconds`` or ``run_id``, so those
    properties are None.
    """

    sections: Mapping[str, Mapping[str, Value]]
    fields: Mapping[str, Value]
    source: str = "<input>"
    keyspace: Mapping[str, KeyspaceDb] = field(default_factory=dict)

    def counter(self, name: str) -> int | None:
        """Return an integer field such as ``keyspace_hits``, None when absent."""
        value = self.fields.get(name)
        return value if isinstance(value, int) else None

    @property
    def keyspace_hits(self) -> int | None:
        """Successful key lookups since the server started or ``CONFIG RESETSTAT``."""
        return self.counter("keyspace_hits")

    @property
    def keyspace_misses(self) -> int | None:
        """Failed key lookups since the server started or ``CONFIG RESETSTAT``."""
        return self.counter("keyspace_misses")

    @property
    def uptime_s(self) -> int | None:
        """``uptime_in_seconds`` of the Server section."""
        return self.counter("uptime_in_seconds")

    @property
    def run_id(self) -> str | None:
        """The server process's random id; it changes on every restart."""
        value = self.fields.get("run_id")
        return str(value) if value is not None else None

    @property
    def used_memory_bytes(self) -> int | None:
        """``used_memory`` of the Memory section."""
        return self.counter("used_memory")


def parse_value(text: str) -> Value:
    """Convert one INFO value to int, float, a dict of ``k=v`` pairs, or str."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if _PAIRS.fullmatch(text):
        pairs = (item.split("=", 1) for item in text.split(","))
        return {key: _scalar(value) for key, value in pairs}
    return text


def _scalar(text: str) -> Scalar:
    value = parse_value(text)
    return value if not isinstance(value, Mapping) else text


def parse_redis_info(text: str, source: str = "<input>") -> RedisInfo:
    """Parse ``redis-cli INFO`` text into a :class:`RedisInfo`.

    Raises :class:`InputError` (naming ``source`` and the line) for a line that
    is neither a header, blank nor ``key:value``, and for text with no fields.
    """
    first_line = text.lstrip().split("\n", 1)[0].strip()
    if first_line.startswith(("NOAUTH", "WRONGPASS", "ERR", "Could not connect")):
        raise InputError(
            source,
            f"this is a redis-cli error, not INFO output: {first_line[:80]!r}",
            line=1,
            hint="run redis-cli with REDISCLI_AUTH set (or -a PASSWORD) and save again",
        )
    sections: dict[str, dict[str, Value]] = {}
    current = sections.setdefault("", {})
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = sections.setdefault(line.lstrip("#").strip(), {})
            continue
        key, sep, value = line.partition(":")
        if not sep or not key:
            raise InputError(
                source,
                f"line is not 'key:value' or '# Section': {line[:60]!r}",
                line=number,
                hint="save the output of `redis-cli INFO` unchanged",
            )
        current[key] = parse_value(value)
    return _snapshot(sections, source)


def _snapshot(sections: dict[str, dict[str, Value]], source: str) -> RedisInfo:
    if not sections[""]:
        del sections[""]
    flat: dict[str, Value] = {}
    for values in sections.values():
        flat.update(values)
    if not flat:
        raise InputError(source, "no INFO fields found", hint="run `redis-cli INFO`")
    keyspace = {}
    for name, value in sections.get("Keyspace", {}).items():
        if isinstance(value, Mapping):
            keyspace[name] = KeyspaceDb(
                int(value.get("keys", 0)),
                int(value.get("expires", 0)),
                int(value.get("avg_ttl", 0)),
            )
    frozen = {name: MappingProxyType(values) for name, values in sections.items()}
    return RedisInfo(
        MappingProxyType(frozen),
        MappingProxyType(flat),
        source,
        MappingProxyType(keyspace),
    )


def read_redis_info(path: str | Path) -> RedisInfo:
    """Read a file of ``redis-cli INFO`` output; see :func:`parse_redis_info`."""
    path = Path(path)
    try:
        # utf-8-sig drops a byte order mark, which would join the first key.
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, f"cannot read the file ({error})") from None
    return parse_redis_info(text, str(path))
