"""The command line: flags over variables over defaults, every bad value reported at once,
one line each naming the flag or variable, and start-up problems without tracebacks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from responses_gateway.cli import Launch, load_settings, missing_key_warnings
from responses_gateway.options import OPTIONS, markdown_table

BASE = ["--base-url", "http://127.0.0.1:9/v1"]


def _load(tmp_path: Path, *argv: str, **env: str) -> Launch:
    environ = {"HOME": str(tmp_path), **{f"RESPONSES_GATEWAY_{k}": v for k, v in env.items()}}
    return load_settings(["--data-dir", str(tmp_path), *argv], environ)


def _refused(tmp_path: Path, *argv: str, **env: str) -> list[str]:
    with pytest.raises(SystemExit) as caught:
        _load(tmp_path, *argv, **env)
    lines = str(caught.value.code).splitlines()
    assert lines and all(line.startswith("responses-gateway: ") for line in lines), lines
    return lines


def test_flag_beats_variable_beats_default(tmp_path: Path) -> None:
    launch = _load(tmp_path, *BASE, "--port", "8101", PORT="8102", READ_TIMEOUT="7")
    assert launch.settings.port == 8101
    assert launch.settings.timeouts.read == 7
    assert launch.settings.timeouts.connect == 10
    assert launch.log_level == "INFO" and launch.workers == 1


def test_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    assert _load(tmp_path, *BASE, PORT="").settings.port == 8000


def test_booleans_and_lists_from_the_environment(tmp_path: Path) -> None:
    launch = _load(tmp_path, MOCK_UPSTREAM="yes", DONE_SENTINEL="on", API_KEYS="a, b,,c")
    assert launch.mock_upstream and launch.settings.done_sentinel
    assert launch.settings.api_keys == frozenset({"a", "b", "c"})


def test_every_bad_value_is_reported_at_once(tmp_path: Path) -> None:
    lines = _refused(tmp_path, "--port", "eighty", "--log-level", "loud", "--workers", "0",
                     "--bogus", READ_TIMEOUT="-1", UNSUPPORTED_TOOLS="maybe")
    text = "\n".join(lines)
    for needle in ("--port: 'eighty' is not an integer",
                   "--log-level: 'loud' is not one of debug, info, warning, error",
                   "--workers: '0' must be at least 1",
                   "--bogus: unknown flag",
                   "RESPONSES_GATEWAY_READ_TIMEOUT: '-1' must be greater than 0",
                   "RESPONSES_GATEWAY_UNSUPPORTED_TOOLS: 'maybe' is not one of drop, error",
                   "no upstream given"):
        assert needle in text, text
    assert len(lines) == 7, lines


def test_secret_values_are_not_echoed(tmp_path: Path) -> None:
    lines = _refused(tmp_path, "--port", "x", "--upstream-api-key", "sk-secret-value")
    assert not any("sk-secret-value" in line for line in lines)


def test_bad_boolean_variable_is_refused(tmp_path: Path) -> None:
    lines = _refused(tmp_path, *BASE, DONE_SENTINEL="perhaps")
    assert lines == ["responses-gateway: RESPONSES_GATEWAY_DONE_SENTINEL: 'perhaps' is not a "
                     "boolean (use 1/0, true/false, yes/no or on/off)"]


def test_bad_base_url_names_the_flag(tmp_path: Path) -> None:
    lines = _refused(tmp_path, "--base-url", "ftp://example")
    assert lines[0].startswith("responses-gateway: --base-url (RESPONSES_GATEWAY_BASE_URL): ")


def test_config_variables_of_single_upstream_are_ignored(tmp_path: Path) -> None:
    config = tmp_path / "u.toml"
    config.write_text('[[upstreams]]\nbase_url = "http://127.0.0.1:9/v1"\nname = "x"\n')
    launch = _load(tmp_path, "--config", str(config), BASE_URL="http://127.0.0.1:7/v1",
                   PROVIDER="openai")
    assert [u.name for u in launch.settings.upstreams] == ["x"]
    lines = _refused(tmp_path, "--config", str(config), "--provider", "openai")
    assert "--provider cannot be combined with --config" in lines[0]


@pytest.mark.parametrize("url, key, warned", [
    ("https://api.deepseek.com/v1", None, True),
    ("https://api.deepseek.com/v1", "sk-x", False),
    ("http://127.0.0.1:8001/v1", None, False),
    ("http://10.1.2.3:8001/v1", None, False),
    ("http://vllm:8000/v1", None, False),
])
def test_missing_upstream_key_warning(tmp_path: Path, url: str, key: str | None,
                                      warned: bool) -> None:
    argv = ["--base-url", url] + (["--upstream-api-key", key] if key else [])
    warnings = missing_key_warnings(_load(tmp_path, *argv).settings)
    assert bool(warnings) == warned, warnings
    if warned:
        assert "RESPONSES_GATEWAY_UPSTREAM_API_KEY" in warnings[0]


def test_help_is_grouped_and_names_variables_and_defaults() -> None:
    result = subprocess.run([sys.executable, "-m", "responses_gateway", "--help"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for title in ("upstream (the provider):", "server:", "security and limits:",
                  "store and state:", "logging:"):
        assert title in result.stdout
    assert "default: 8000; env: RESPONSES_GATEWAY_PORT" in " ".join(result.stdout.split())


def test_every_option_has_a_known_group_and_unique_names() -> None:
    flags = [flag for option in OPTIONS for flag in option.flags]
    assert len(flags) == len(set(flags))
    envs = [option.env for option in OPTIONS if option.env]
    assert len(envs) == len(set(envs))
    assert markdown_table().count("\n") == len(OPTIONS) + 2 + len({o.group for o in OPTIONS})


def test_port_in_use_is_one_line_without_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("RESPONSES_GATEWAY_")}
        result = subprocess.run(
            [sys.executable, "-m", "responses_gateway", "--mock-upstream", "--port", str(port),
             "--store", "memory", "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=30, env=environ)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("responses-gateway: --port (RESPONSES_GATEWAY_PORT): cannot listen "
                           f"on 127.0.0.1:{port}"), result.stderr


def test_bad_log_level_exits_with_one_line(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RESPONSES_GATEWAY_")}
    result = subprocess.run(
        [sys.executable, "-m", "responses_gateway", "--mock-upstream", "--log-level", "loud",
         "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=30, env=environ)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("responses-gateway: --log-level: 'loud' is not one of "
                                     "debug, info, warning, error")
