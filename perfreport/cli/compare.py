"""``perfreport compare``, ``summary`` and ``ingest``."""

from __future__ import annotations

from perfreport.cli.app import app  # noqa: F401
