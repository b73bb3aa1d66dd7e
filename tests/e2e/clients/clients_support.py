"""Helpers for the real-client tests: bounded subprocesses (Codex CLI, node), the Agents SDK
pointed at a gateway, and reading the chat messages the fake provider received.

Nothing here starts servers; the fixtures in conftest.py do.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx2
import openai
import orjson
import pytest
from e2e_support import CLIENT_KEY, MockLog

__all__ = [
    "CLIENTS_DIR",
    "NODE_MODULES",
    "CodexRun",
    "Finished",
    "after_last_user",
    "assistant_tool_calls",
    "chat_messages",
    "client_env",
    "in_ci",
    "run_bounded",
    "run_with_agents_sdk",
    "tool_messages",
    "unavailable",
]

CLIENTS_DIR = Path(__file__).resolve().parent
NODE_MODULES = CLIENTS_DIR / "node_modules"
# Variables that would point a client somewhere else than the gateway under test.
_FOREIGN_ENV_PREFIXES = ("OPENAI_", "CODEX_", "RESPONSES_GATEWAY_")
T = TypeVar("T")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str, *, module_level: bool = False) -> NoReturn:
    """Skip locally; under CI=true a missing client is a failure, never a silent skip."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this client is required)", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


def client_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without OPENAI_*/CODEX_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV_PREFIXES)}
    env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class Finished:
    """A subprocess that ran to its end within its time limit."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        """Everything needed to understand a failing run, for assertion messages."""
        return (f"command {self.command!r} exited with {self.returncode}\n"
                f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr[-6000:]}")


@dataclass(frozen=True, slots=True)
class CodexRun:
    """One finished `codex exec`, the directory it worked in and its environment (its own HOME
    and CODEX_HOME, where the session is kept for `resume`)."""

    finished: Finished
    workdir: Path
    env: Mapping[str, str]

    @property
    def stdout(self) -> str:
        return self.finished.stdout

    def describe(self) -> str:
        return self.finished.describe()


def run_bounded(command: list[str], *, cwd: Path, env: Mapping[str, str],
                timeout: float) -> Finished:
    """Run `command` with stdin closed; after `timeout` s kill its whole process group (Codex's
    node launcher starts a native child) and fail the test with what it printed."""
    process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=10)
        pytest.fail(f"{command!r} did not finish within {timeout} s\n--- stdout ---\n"
                    f"{stdout.decode(errors='replace')}\n--- stderr ---\n"
                    f"{stderr.decode(errors='replace')[-6000:]}")
    return Finished(command, process.returncode, stdout.decode(errors="replace"),
                    stderr.decode(errors="replace"))


def run_with_agents_sdk(base_url: str, main: Callable[[], Awaitable[T]], *,
                        timeout: float = 60) -> tuple[T, list[dict[str, Any]]]:
    """Run `main()` with the Agents SDK's default client set to `base_url` (Responses API, no
    retries, tracing off). Returns main's result and the JSON body of every POST /responses the
    SDK sent, in order, so tests can check what the client itself asked for."""
    from agents import set_default_openai_api, set_default_openai_client, set_tracing_disabled

    sent: list[dict[str, Any]] = []

    async def record(request: httpx2.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/responses"):
            sent.append(orjson.loads(request.content))

    async def run() -> T:
        http_client = openai.DefaultAsyncHttpxClient(event_hooks={"request": [record]})
        async with openai.AsyncOpenAI(base_url=base_url, api_key=CLIENT_KEY, max_retries=0,
                                      timeout=30, http_client=http_client) as client:
            set_default_openai_client(client, use_for_tracing=False)
            set_default_openai_api("responses")
            set_tracing_disabled(True)
            return await asyncio.wait_for(main(), timeout)

    return asyncio.run(run()), sent


def assistant_tool_calls(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The assistant messages that carry tool_calls, in order."""
    return [m for m in messages if m.get("role") == "assistant" and m.get("tool_calls")]


def tool_messages(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("role") == "tool"]


def after_last_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages that follow the last user message (the current turn's tool loop)."""
    last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    return messages[last_user + 1:]


def chat_messages(log: MockLog) -> list[list[dict[str, Any]]]:
    """The `messages` of every chat request the provider received, in order."""
    return [request["body"]["messages"] for request in log.chat_requests()]
