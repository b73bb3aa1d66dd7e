"""The package type-checks under mypy --strict (STYLE.md §6: strict tooling)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_src_passes_mypy_strict() -> None:
    # mypy is in the `test` extra: a missing mypy fails here rather than skipping.
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "src"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
