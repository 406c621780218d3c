"""The typer application and the error handling shared by every command.

Commands live in one module per topic in this package and register themselves on
:data:`app`. Each parses its options, calls one library function, picks a
renderer and lets :func:`main` map exceptions to exit codes: 0 success, 1 a
criterion or threshold failed, 2 bad input or options.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click.core import Context

from perfreport.errors import PerfreportError


class _Group(TyperGroup):
    """Maps perfreport's exceptions to a one-line message and an exit code.

    Doing it here, not only in :func:`main`, gives typer's CliRunner in the tests
    the same exit codes and messages that a user gets.
    """

    def invoke(self, ctx: "Context") -> object:
        try:
            return super().invoke(ctx)
        except PerfreportError as error:
            typer.echo(f"Error: {error}", err=True)
            # typer 0.29 ships its own copy of click, so only typer.Exit sets the status.
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=_Group,
    name="perfreport",
    help="Turn k6, Prometheus and Redis data into a release verdict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug details on stderr."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Hide progress bars and info logs."),
) -> None:
    level = logging.WARNING
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = logging.ERROR
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    os.environ["PERFREPORT_QUIET"] = "1" if quiet else ""


def main() -> None:
    """Run the command line; the console script's entry point."""
    # `perfreport compare ... | head` must end quietly, not with BrokenPipeError.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    import perfreport.cli._commands  # noqa: F401  (registers the commands)

    try:
        app()
    except PerfreportError as error:
        typer.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
