"""Issue 10 item 1, "Done means": Codex CLI and the Agents SDK run a multi-turn reasoning tool
loop on default settings against a provider that has no profile and demands its reasoning back:
once under `reasoning_content` (DeepSeek/Kimi-like), once under `reasoning` (recent vLLM-like).

The gateways are started with nothing but a base URL the gateway does not recognise
(127.0.0.1), so the adaptive profile is what they run; `--store none` makes the sealed
reasoning item the only way the reasoning can come back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clients_support import (
    CodexRun,
    after_last_user,
    assistant_tool_calls,
    run_with_agents_sdk,
    tool_messages,
    unavailable,
)
from e2e_support import UPSTREAM_KEY, MockLog, Server, free_port

try:
    from agents import Agent, ModelSettings, Runner, function_tool
except ImportError:
    unavailable("openai-agents is not installed: pip install -e '.[test]'", module_level=True)

# The field a variant's provider sends reasoning in, and the quirks that make it insist on
# getting exactly that reasoning back in the same field.
VARIANTS = {
    "reasoning_content": ["--quirk", "require-reasoning-content",
                          "--quirk", "verify-reasoning-content"],
    "reasoning": ["--quirk", "reasoning-field", "--quirk", "verify-reasoning"],
}


@function_tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}, 21C"


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def adaptive_stack(request: pytest.FixtureRequest, spawn_server: Callable[..., Server],
                   tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[str, Server, Server]]:
    field = request.param
    port = free_port()
    provider = spawn_server(f"adaptive-provider-{field}", [
        "mock-provider", "--port", str(port), "--api-key", UPSTREAM_KEY, *VARIANTS[field],
    ], "/v1/models", port=port, ready_headers={"Authorization": f"Bearer {UPSTREAM_KEY}"})
    gateway_port = free_port()
    data_dir: Path = tmp_path_factory.mktemp(f"adaptive-{field}")
    gateway = spawn_server(f"adaptive-gateway-{field}", [
        "--base-url", f"{provider.url}/v1", "--store", "none", "--data-dir", str(data_dir),
        "--port", str(gateway_port),
    ], "/health", port=gateway_port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})
    yield field, provider, gateway
    gateway.stop()
    provider.stop()


def _log(provider: Server) -> MockLog:
    log = MockLog(provider)
    log.clear()
    return log


def _assert_own_reasoning(field: str, log: MockLog, turns: int) -> None:
    requests = log.chat_requests()
    assert len(requests) == turns + 1, [r["body"]["messages"][-1] for r in requests]
    turn = after_last_user(requests[-1]["body"]["messages"])
    calls = assistant_tool_calls(turn)
    assert len(calls) == turns and len(tool_messages(turn)) == turns
    other = {"reasoning_content", "reasoning"} - {field}
    for message in calls:
        call = message["tool_calls"][0]
        assert message.get(field) == f"Let me think about {call['id']}.", message
        assert not other & set(message), message


def test_codex_reasoning_loop_on_a_provider_without_a_profile(
        codex: Callable[..., CodexRun], adaptive_stack: tuple[str, Server, Server]) -> None:
    field, provider, gateway = adaptive_stack
    log = _log(provider)
    run = codex(gateway, "loop 3: run the exec_command tool", model="mock-think")

    assert run.finished.returncode == 0, run.describe()
    assert "Tool result:" in run.stdout, run.describe()
    _assert_own_reasoning(field, log, 3)
    assert "Let me think about call_mock_1." in run.finished.stderr, run.describe()


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
def test_agents_sdk_reasoning_loop_on_a_provider_without_a_profile(
        adaptive_stack: tuple[str, Server, Server], streamed: bool) -> None:
    field, provider, gateway = adaptive_stack
    log = _log(provider)
    agent = Agent(name="Assistant", instructions="Answer briefly.", tools=[get_weather],
                  model="mock-think", model_settings=ModelSettings(store=False))
    prompt = "loop 3: call the get_weather tool"

    async def main() -> object:
        if streamed:
            result = Runner.run_streamed(agent, prompt, max_turns=8)
            async for _ in result.stream_events():
                pass
            return result.final_output
        return (await Runner.run(agent, prompt, max_turns=8)).final_output

    final, sent = run_with_agents_sdk(gateway.url + "/v1", main)

    assert final == "Tool result: Sunny in Paris, 21C"
    assert all(body.get("stream", False) is streamed for body in sent)
    assert all(r["body"].get("stream", False) is streamed for r in log.chat_requests())
    _assert_own_reasoning(field, log, 3)
