"""The comparison cache: a second identical compare prints what the first printed.

Each test gets its own cache directory, so entries never leak between tests.
A compare of the sample runs takes seconds, so most tests check the cache key
directly and only a few run the command.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perfreport.analysis import compare_cache
from perfreport.analysis.compare import compare
from perfreport.cli import app
from perfreport.errors import InputError
from perfreport.ingest import load
from perfreport.render import compare_table

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
OPTIONS = {"stats": ["avg", "p(95)"], "metrics": None, "confidence": 0.95,
           "min_effect": 0.05, "correction": "bh", "seed": 0, "skip_bad_lines": False}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("PERFREPORT_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    """Return copies of two sample runs, which a test may rewrite."""
    copies = []
    for name in ("baseline.json.gz", "stress.json.gz"):
        copy = tmp_path / name
        shutil.copyfile(SAMPLE / name, copy)
        copies.append(copy)
    return copies


def run_compare(*args: str | Path) -> str:
    result = CliRunner().invoke(app, ["compare", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.stdout


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("comparison-*.parquet"))


RENDERERS = [
    compare_table.comparison_text,
    compare_table.comparison_markdown,
    compare_table.comparison_json,
    compare_table.comparison_html,
]


def test_stored_comparison_renders_the_same(cache: Path) -> None:
    baseline = load(SAMPLE / "baseline.json.gz")
    candidates = [load(SAMPLE / "stress.json.gz"), load(SAMPLE / "spike.json.gz")]
    fresh = compare(baseline, *candidates, metrics=["all"], stats=["avg", "p(99.9)"])
    assert not fresh.not_compared.empty

    compare_cache.write_comparison("k", fresh)
    stored = compare_cache.read_comparison("k")

    assert stored is not None
    for render in RENDERERS:
        assert render(stored) == render(fresh), render.__name__


def test_second_compare_reads_the_entry(cache: Path, runs: list[Path], monkeypatch) -> None:
    arguments = ["compare", *map(str, runs), "--fail-on-worse"]
    first = CliRunner().invoke(app, arguments)
    assert first.exit_code == 1, first.output
    assert len(entries(cache)) == 1

    def no_analysis(*args, **kwargs):
        raise AssertionError("the comparison was computed again")

    monkeypatch.setattr("perfreport.cli.compare.compare_runs", no_analysis)
    monkeypatch.setattr("perfreport.cli.compare._load", no_analysis)
    second = CliRunner().invoke(app, arguments)

    assert second.exit_code == 1, second.output
    assert second.stdout == first.stdout
    assert len(entries(cache)) == 1


def test_corrupt_entry_replaced(cache: Path, runs: list[Path]) -> None:
    first = run_compare(*runs)
    entry = entries(cache)[0]
    entry.write_bytes(b"PAR1 not really parquet")

    second = run_compare(*runs)

    assert second == first
    assert entry.stat().st_size > 100


def test_foreign_parquet_entry_ignored(cache: Path, runs: list[Path]) -> None:
    run_compare(*runs)
    entry = entries(cache)[0]
    run_file = next(p for p in cache.glob("*.parquet") if p != entry)
    shutil.copyfile(run_file, entry)

    assert compare_cache.read_comparison(entry.stem.removeprefix("comparison-")) is None
    assert not entry.exists()


def test_unwritable_cache_still_compares(tmp_path: Path, runs: list[Path], monkeypatch) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("PERFREPORT_CACHE_DIR", str(blocker / "cache"))

    out = run_compare(*runs)

    assert "http_req_duration" in out


@pytest.mark.parametrize(
    "name, value",
    [("seed", 1), ("confidence", 0.9), ("min_effect", 0.1), ("correction", "holm"),
     ("stats", ["avg", "p(75)"]), ("metrics", ["http_req_duration"]), ("skip_bad_lines", True)],
)
def test_key_changes_with_option(runs: list[Path], name: str, value) -> None:
    assert compare_cache.comparison_key(runs, {**OPTIONS, name: value}) != (
        compare_cache.comparison_key(runs, OPTIONS)
    )


def test_key_stable_for_same_call(runs: list[Path]) -> None:
    assert compare_cache.comparison_key(runs, OPTIONS) == compare_cache.comparison_key(runs, OPTIONS)


def test_key_changes_with_rewritten_input(runs: list[Path]) -> None:
    before = compare_cache.comparison_key(runs, OPTIONS)
    shutil.copyfile(SAMPLE / "spike.json.gz", runs[1])

    assert compare_cache.comparison_key(runs, OPTIONS) != before


def test_key_changes_with_path_spelling(runs: list[Path], monkeypatch) -> None:
    before = compare_cache.comparison_key(runs, OPTIONS)
    monkeypatch.chdir(runs[0].parent)

    relative = [Path(path.name) for path in runs]

    assert compare_cache.comparison_key(relative, OPTIONS) != before


def test_key_changes_with_order(runs: list[Path]) -> None:
    assert compare_cache.comparison_key(runs[::-1], OPTIONS) != (
        compare_cache.comparison_key(runs, OPTIONS)
    )


def test_key_changes_with_edited_source(runs: list[Path], monkeypatch) -> None:
    before = compare_cache.comparison_key(runs, OPTIONS)
    edited = [(name, size + 1, mtime) for name, size, mtime in compare_cache._code_identity()]
    monkeypatch.setattr(compare_cache, "_code_identity", lambda: edited)

    assert compare_cache.comparison_key(runs, OPTIONS) != before


def test_unreadable_input_clear_error(cache: Path, runs: list[Path], monkeypatch) -> None:
    """An input the key cannot read is left to the loader, which names it."""

    def unreadable(path: Path) -> dict:
        raise PermissionError(13, "Permission denied", str(path))

    def reject(path: Path, **kwargs) -> None:
        raise InputError(path, "cannot read")

    monkeypatch.setattr(compare_cache, "cache_identity", unreadable)
    monkeypatch.setattr("perfreport.cli.compare._load", reject)

    result = CliRunner().invoke(app, ["compare", *map(str, runs)])

    assert result.exit_code == 2
    assert "cannot read" in result.stderr
    assert entries(cache) == []


def test_entry_for_another_key_ignored(cache: Path) -> None:
    """An entry copied under another key's name is not taken for that key."""
    comparison = compare(load(SAMPLE / "baseline.json.gz"), load(SAMPLE / "stress.json.gz"),
                         significance=False)
    compare_cache.write_comparison("a", comparison)
    shutil.copyfile(compare_cache.entry_path("a"), compare_cache.entry_path("b"))

    assert compare_cache.read_comparison("b") is None
    assert compare_cache.read_comparison("a") is not None


def test_key_changes_with_library_version(runs: list[Path], monkeypatch) -> None:
    before = compare_cache.comparison_key(runs, OPTIONS)
    versions = {**compare_cache._library_versions(), "numpy": "0.0"}
    monkeypatch.setattr(compare_cache, "_library_versions", lambda: versions)

    assert compare_cache.comparison_key(runs, OPTIONS) != before
