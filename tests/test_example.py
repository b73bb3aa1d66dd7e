"""The README's promises, checked: the example script runs against a real gateway process,
and the docs keep naming every command-line flag and environment variable the code has.

- `test_example_script_against_mock_gateway` starts `python -m responses_gateway
  --mock-upstream` on a free port, as `bash scripts/serve` does, and runs
  `examples/online_serving/openai_responses_proxy_example.py` against it.
- The doc tests read `cli.build_parser()` and `cli.py` itself, so a new flag or environment
  variable that the README does not mention fails here instead of drifting silently.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from responses_gateway import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "online_serving" / "openai_responses_proxy_example.py"
README = ROOT / "README.md"
README_ZH = ROOT / "docs" / "README.zh-CN.md"
DOCS = (README, README_ZH, ROOT / "docs" / "architecture.md",
        ROOT / "docs" / "configuration.md", ROOT / "docs" / "providers.md", EXAMPLE)
START_TIMEOUT = 20.0

# Something shaped like a real OpenAI-style secret key. Placeholders such as `sk-...` or
# `sk-local` are fine; 20+ key characters are not.
_REAL_LOOKING_KEY = re.compile(r"sk-[A-Za-z0-9]{20,}")
# Environment names that cli.py reads: pick(flag, "NAME", ...) and ENV_PREFIX + "NAME".
_ENV_READ = re.compile(r'pick\([^()]*?"([A-Z_]+)"|ENV_PREFIX\s*\+\s*"([A-Z_]+)"')


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    # Nothing from the caller's RESPONSES_GATEWAY_* or OPENAI_* settings may leak in.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RESPONSES_GATEWAY_", "OPENAI_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _wait_for_health(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the gateway exited with {process.returncode} before it was ready:\n"
                        f"{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = repr(exc)
        time.sleep(0.05)  # bounded polling until the port answers
    pytest.fail(f"GET {url} did not answer within {START_TIMEOUT} s (last: {last}):\n"
                f"{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_example_script_against_mock_gateway(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "responses_gateway", "--mock-upstream", "--store", "memory",
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
            # The data directory holds the generated reasoning key: keep it out of $HOME.
            env=_clean_env(RESPONSES_GATEWAY_DATA_DIR=str(tmp_path / "data")))
    try:
        _wait_for_health(gateway, f"http://127.0.0.1:{port}/health", log)
        run = subprocess.run(
            [sys.executable, str(EXAMPLE)],
            capture_output=True, text=True, timeout=120,
            env=_clean_env(RESPONSES_GATEWAY_URL=f"http://127.0.0.1:{port}/v1",
                           OPENAI_API_KEY="sk-local", MODEL="mock-echo"))
    finally:
        _stop(gateway)
    report = (f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}\n"
              f"gateway log:\n{log.read_text(errors='replace')}")
    assert run.returncode == 0, report
    # The built-in mock echoes the last user message, and answers a tool output with it.
    assert "You said: Say hello in one short sentence." in run.stdout, report
    assert "You said: Count from one to five." in run.stdout, report
    assert "You said: Name three colours." in run.stdout, report
    assert "model called get_weather" in run.stdout, report
    assert "Tool result:" in run.stdout, report
    assert "all examples passed" in run.stdout, report


def _flags() -> list[str]:
    return sorted(option for action in cli.build_parser()._actions
                  for option in action.option_strings
                  if option.startswith("--") and option != "--help")


def _env_names() -> list[str]:
    source = Path(cli.__file__).read_text()
    names = {cli.ENV_PREFIX + (a or b) for a, b in _ENV_READ.findall(source)}
    assert names, "found no environment variables in cli.py; has the reading code moved?"
    return sorted(names)


@pytest.mark.parametrize("doc", [README, README_ZH], ids=lambda p: p.name)
def test_readme_mentions_every_flag(doc: Path) -> None:
    text = doc.read_text()
    missing = [flag for flag in _flags() if not re.search(re.escape(flag) + r"(?![\w-])", text)]
    assert not missing, f"{doc.relative_to(ROOT)} does not mention {missing}"


@pytest.mark.parametrize("doc", [README, README_ZH, ROOT / "docs" / "configuration.md"],
                         ids=lambda p: p.name)
def test_docs_mention_every_environment_variable(doc: Path) -> None:
    text = doc.read_text()
    missing = [name for name in _env_names() if not re.search(rf"\b{name}\b", text)]
    assert not missing, f"{doc.relative_to(ROOT)} does not mention {missing}"


def test_docs_name_every_provider_profile() -> None:
    text = (ROOT / "docs" / "providers.md").read_text()
    from responses_gateway.providers import PROFILES

    missing = [name for name in PROFILES if f"`{name}`" not in text]
    assert not missing, f"docs/providers.md does not describe the profiles {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_real_looking_keys_in_docs(doc: Path) -> None:
    found = _REAL_LOOKING_KEY.findall(doc.read_text())
    assert not found, f"{doc.relative_to(ROOT)} contains key-like strings: {found}"
