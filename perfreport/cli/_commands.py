"""Imports every command module so that each registers itself on the app."""

from perfreport.cli import compare  # noqa: F401
from perfreport.cli import server  # noqa: F401
from perfreport.cli import report  # noqa: F401
