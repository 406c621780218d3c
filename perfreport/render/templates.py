"""Locating and loading the report templates.

The templates live in the repository's top-level ``templates/`` folder. A wheel
installs them as ``perfreport/templates/`` (pyproject.toml maps the folder into
the package); an editable install reads them from the checkout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from perfreport.errors import PerfreportError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def template_dirs() -> list[Path]:
    """Return the folders searched for templates, installed package first."""
    candidates = [_PACKAGE_DIR / "templates", _PACKAGE_DIR.parent / "templates"]
    return [path for path in candidates if (path / "report.html.j2").is_file()]


def environment(
    *, autoescape: bool, finalize: Callable[[Any], Any] | None = None
) -> jinja2.Environment:
    """Return a jinja2 environment over :func:`template_dirs`.

    Raises:
        PerfreportError: no templates folder was found (a broken installation).
    """
    folders = template_dirs()
    if not folders:
        raise PerfreportError(
            "report templates not found next to the perfreport package; "
            "reinstall perfreport (pip install .)"
        )
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(f) for f in folders]),
        autoescape=autoescape,
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
