"""Report templates ship inside the built package, not only in the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_build_copies_templates(tmp_path):
    build_lib = tmp_path / "lib"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build_lib)],
        cwd=REPO, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    shipped = sorted(p.name for p in (build_lib / "perfreport" / "templates").iterdir())
    in_checkout = sorted(p.name for p in (REPO / "templates").iterdir() if p.is_file())
    assert shipped == in_checkout

    # The built package, imported on its own, finds its own copy first.
    probe = (
        "from perfreport.render.templates import template_dirs; "
        "print(template_dirs()[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path, env={"PYTHONPATH": str(build_lib)},
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert Path(result.stdout.strip()) == build_lib / "perfreport" / "templates"
