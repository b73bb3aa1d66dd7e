"""Shared test setup: makes `tests/` importable (e.g. `import schema_check`) under
pytest's `--import-mode=importlib`, which does not put test directories on sys.path."""

import sys
from pathlib import Path

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
