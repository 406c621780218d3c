"""Exceptions raised by perfreport.

Every error a user can fix derives from :class:`PerfreportError`. The command line
prints ``Error: <message>`` on stderr and exits with :attr:`PerfreportError.exit_code`
(2 for bad input or bad options); the library never prints or exits.
"""

from __future__ import annotations

from pathlib import Path


class PerfreportError(Exception):
    """Base class of every error perfreport raises on purpose."""

    exit_code = 2


class UsageError(PerfreportError):
    """An option or argument has an invalid value."""


class InputError(PerfreportError):
    """An input file is unreadable, empty, of the wrong kind or malformed.

    The message names the file, the line (when one is known), what is wrong and
    what to do, as ``stress.json:14: line is not JSON; pass --skip-bad-lines``.
    """

    def __init__(
        self,
        path: str | Path | None,
        message: str,
        *,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.path or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        text = f"{where}: {self.reason}"
        if self.hint:
            text = f"{text}; {self.hint}"
        return text


class UnknownFormatError(InputError):
    """The file's content matches none of the formats perfreport reads."""


class FormatVersionError(InputError):
    """A file written by perfreport carries a format version this release cannot read."""


class CriteriaError(InputError):
    """A sign-off criteria file is malformed or names an unknown metric or unit."""


class ConfigError(InputError):
    """A report configuration file is malformed."""


class FrameError(InputError, ValueError):
    """A DataFrame passed to the library lacks a points-frame column or has a bad one."""


class RemoteError(PerfreportError):
    """A server (Prometheus) rejected a request or could not be reached."""
