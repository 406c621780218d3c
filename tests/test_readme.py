"""Every ``perfreport ...`` example in the README runs and succeeds."""

import json
import os
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfreport.cli import app

REPO = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def readme_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("perfreport "):
                commands.append(line)
    return commands


def test_readme_has_examples():
    assert len(readme_commands()) >= 8


@pytest.mark.parametrize("command", readme_commands())
def test_readme_example_runs(command, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("PERFREPORT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    out.mkdir()
    args = [arg.replace("out/", f"{out}{os.sep}") for arg in shlex.split(command)[1:]]
    # The memory-trend example reads the frame the prometheus example writes.
    if args[0] == "memory-trend":
        prometheus = next(c for c in readme_commands() if c.startswith("perfreport prometheus "))
        setup = [arg.replace("out/", f"{out}{os.sep}") for arg in shlex.split(prometheus)[1:]]
        assert CliRunner().invoke(app, setup).exit_code == 0
    result = CliRunner().invoke(app, args)
    # check exits 1 when a criterion fails; that is its documented verdict.
    allowed = (0, 1) if args[0] == "check" else (0,)
    assert result.exit_code in allowed, result.output
    assert "Traceback" not in result.output
    # Each file an example writes is of the kind its suffix names.
    for written in out.glob("*.pdf"):
        assert written.read_bytes().startswith(b"%PDF-"), written
    for written in out.glob("*.json"):
        json.loads(written.read_text(encoding="utf-8"))
