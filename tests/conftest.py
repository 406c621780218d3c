"""Shared pytest configuration: fixtures live in tests/fixtures/, one module per component."""

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))

pytest_plugins = [
    "fixtures.k6",
    "fixtures.servers",
]


@pytest.fixture(autouse=True, scope="session")
def session_cache_directory(tmp_path_factory: pytest.TempPathFactory):
    """Keep the session's ingest and comparison caches out of the user's ~/.cache."""
    previous = os.environ.get("PERFREPORT_CACHE_DIR")
    os.environ["PERFREPORT_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("PERFREPORT_CACHE_DIR", None)
    else:
        os.environ["PERFREPORT_CACHE_DIR"] = previous
