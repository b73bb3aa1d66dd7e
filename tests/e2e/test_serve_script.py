"""README's first command, `bash scripts/serve`, from a fresh clone: the first start installs
into the venv, the second starts without installing and without any package index."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx2
import pytest
from e2e_support import free_port

ROOT = Path(__file__).resolve().parents[2]


def _start(clone: Path, venv: Path, environ: dict[str, str]) -> tuple[float, str]:
    """Run scripts/serve until /health answers; return the seconds it took and its output."""
    port = free_port()
    log = clone / f"serve-{port}.log"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(["bash", "scripts/serve", "--port", str(port), "--store",
                                    "memory"], cwd=clone, stdout=out, stderr=subprocess.STDOUT,
                                   env={**environ, "RESPONSES_GATEWAY_VENV": str(venv)})
    try:
        deadline = started + 240
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"scripts/serve exited {process.returncode}:\n{log.read_text()}")
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    return time.monotonic() - started, log.read_text()
            except httpx2.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail(f"scripts/serve did not answer within 240 s:\n{log.read_text()}")
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.timeout(600)
def test_second_start_installs_nothing_and_needs_no_index(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed to make a fresh clone")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
                   check=True, timeout=120)
    # The checkout under test may have uncommitted changes: serve what is on disk.
    for name in ("scripts", "src", "pyproject.toml"):
        source, target = ROOT / name, clone / name
        if source.is_dir():
            shutil.rmtree(target)
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.egg-info",
                                                                          "__pycache__"))
        else:
            shutil.copy2(source, target)
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("RESPONSES_GATEWAY_", "VIRTUAL_ENV"))}
    environ["HOME"] = str(tmp_path)  # the default data directory goes there
    venv = tmp_path / "venv"
    _, first = _start(clone, venv, environ)
    assert "installing responses-gateway" in first, first
    # No index reachable now: a pip call would fail (or hang until its timeout).
    offline = {**environ, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1",
               "PIP_FIND_LINKS": "", "PIP_TIMEOUT": "1"}
    seconds, second = _start(clone, venv, offline)
    assert "installing" not in second, second
    assert "built-in mock provider" in second, second
    assert seconds < 30, f"second start took {seconds:.1f} s:\n{second}"
    # A changed pyproject.toml installs again.
    pyproject = clone / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# changed\n")
    _, third = _start(clone, venv, environ)
    assert "installing responses-gateway" in third, third
