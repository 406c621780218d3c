"""Shared pytest configuration: fixtures live in tests/fixtures/, one module per component."""

import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))

pytest_plugins = [
    "fixtures.k6",
    "fixtures.servers",
]
