"""notebooks/exploration.ipynb: committed without outputs, and runs from a clean kernel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOK = NOTEBOOK_DIR / "exploration.ipynb"
CELL_TIMEOUT_S = 120


def _generator():
    spec = importlib.util.spec_from_file_location(
        "build_exploration", NOTEBOOK_DIR / "build_exploration.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()
    return notebook


def test_notebook_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]


def test_notebook_matches_generator() -> None:
    built = _generator().build()
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in built.cells]
    assert [c.cell_type for c in committed.cells] == [c.cell_type for c in built.cells]


def test_notebook_runs_without_errors(executed: nbformat.NotebookNode) -> None:
    # nbclient raises CellExecutionError on the first failing cell; check again
    # that no output is an error, in case a cell is marked to allow errors.
    errors = [
        output
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []


def test_notebook_shows_figures_and_tables(executed: nbformat.NotebookNode) -> None:
    mime_types = [
        set(output.get("data", {}))
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    ]
    figures = sum("image/png" in types for types in mime_types)
    tables = sum("text/html" in types for types in mime_types)
    assert figures >= 5
    assert tables >= 8
    assert any("text/markdown" in types for types in mime_types)


def test_notebook_report_has_verdict(executed: nbformat.NotebookNode) -> None:
    last = [c for c in executed.cells if c.cell_type == "code"][-1]
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in last.outputs)
    assert "**Verdict:" in markdown
