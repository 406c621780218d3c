"""The ``perfreport`` command line: a thin layer over the library."""

from perfreport.cli.app import app, main

__all__ = ["app", "main"]

import perfreport.cli._commands  # noqa: E402,F401  (registers the commands)
