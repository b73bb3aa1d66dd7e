"""The client matrix of issue 10's "Done means": Codex CLI, the Python and JavaScript Agents
SDKs, the AI SDK, LangChain and Pydantic AI each run a multi-turn tool loop with a reasoning
model, on the client's default settings, through a gateway on its default settings (responses
stored), against fake providers that answer 400 unless each tool-call turn carries its own
reasoning back (SETUPS).

Every run asks for two tool turns ("loop 2"): the provider is called three times, and its last
request holds two assistant tool-call messages, each with the exact reasoning it produced
("Let me think about call_mock_N."). A client that loses the reasoning on the way gets the
provider's 400. Each client also has to surface the reasoning to its user.

Depth (CI time): every client runs in each of its modes (streamed and not) against the first
setup; against the others, in its default mode only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import openai
import orjson
import pytest
from clients_support import (
    CLIENTS_DIR,
    CodexRun,
    after_last_user,
    assistant_tool_calls,
    client_env,
    run_bounded,
    run_with_agents_sdk,
    unavailable,
)
from e2e_support import CLIENT_KEY, UPSTREAM_KEY, MockLog, Server, free_port

PROMPT = "loop 2: call the get_weather tool"
FINAL = "Tool result: Sunny in Paris, 21C"
MODEL = "mock-think"
NODE_TIMEOUT = 90.0


@dataclass(frozen=True)
class Setup:
    """A fake provider (its quirks) and how the gateway in front of it is started."""

    id: str
    quirks: tuple[str, ...]
    gateway_args: tuple[str, ...] = ()


SETUPS = [
    # DeepSeek's thinking mode: the profile replays reasoning_content.
    Setup("deepseek", ("require-reasoning-content", "verify-reasoning-content"),
          ("--provider", "deepseek")),
]


@dataclass(frozen=True)
class Stack:
    setup: Setup
    gateway: Server
    log: MockLog

    @property
    def base_url(self) -> str:
        return self.gateway.url + "/v1"


@pytest.fixture(scope="session")
def stacks(spawn_server: Callable[..., Server],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Setup], Stack]]:
    """`stacks(setup)`: its provider and gateway, started on first use, kept for the session."""
    started: dict[str, Stack] = {}

    def get(setup: Setup) -> Stack:
        if setup.id not in started:
            port = free_port()
            provider = spawn_server(f"matrix-provider-{setup.id}", [
                "mock-provider", "--port", str(port), "--api-key", UPSTREAM_KEY,
                *[arg for quirk in setup.quirks for arg in ("--quirk", quirk)],
            ], "/v1/models", port=port, ready_headers={"Authorization": f"Bearer {UPSTREAM_KEY}"})
            data_dir = tmp_path_factory.mktemp(f"matrix-{setup.id}")
            port = free_port()
            gateway = spawn_server(f"matrix-gateway-{setup.id}", [
                "--base-url", f"{provider.url}/v1", *setup.gateway_args,
                "--data-dir", str(data_dir), "--port", str(port),
            ], "/health", port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})
            started[setup.id] = Stack(setup, gateway, MockLog(provider))
        stack = started[setup.id]
        stack.log.clear()
        return stack

    yield get


def _assert_reasoning_went_back(stack: Stack) -> None:
    """Three provider calls; the last carries both tool turns, each with its own reasoning."""
    requests = stack.log.chat_requests()
    assert len(requests) == 3, [r["body"]["messages"] for r in requests]
    turn = after_last_user(requests[-1]["body"]["messages"])
    calls = assistant_tool_calls(turn)
    assert len(calls) == 2, turn
    for message in calls:
        (call,) = message["tool_calls"]
        assert message.get("reasoning_content") == f"Let me think about {call['id']}.", message


def _cases(modes: tuple[str, ...]) -> list[Any]:
    """(setup, mode): every mode on the first setup, the first (default) mode on the rest."""
    return ([pytest.param(SETUPS[0], mode, id=f"{SETUPS[0].id}-{mode}") for mode in modes]
            + [pytest.param(setup, modes[0], id=f"{setup.id}-{modes[0]}")
               for setup in SETUPS[1:]])


# -- Codex CLI ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("setup", "mode"), _cases(("stream",)))
def test_codex(codex: Callable[..., CodexRun], stacks: Callable[[Setup], Stack],
               setup: Setup, mode: str) -> None:
    stack = stacks(setup)
    run = codex(stack.gateway, "loop 2: run the exec_command tool", model=MODEL)

    assert run.finished.returncode == 0, run.describe()
    assert "Tool result:" in run.stdout, run.describe()
    _assert_reasoning_went_back(stack)
    assert "Let me think about call_mock_1." in run.finished.stderr, run.describe()


# -- OpenAI Agents SDK (Python) -------------------------------------------------------------------


@pytest.mark.parametrize(("setup", "mode"), _cases(("run", "streamed")))
def test_agents_sdk_python(stacks: Callable[[Setup], Stack], setup: Setup, mode: str) -> None:
    from agents import Agent, Runner, function_tool
    from agents.items import ReasoningItem

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return f"Sunny in {city}, 21C"

    stack = stacks(setup)
    agent = Agent(name="Assistant", instructions="Answer briefly.", tools=[get_weather],
                  model=MODEL)

    async def main() -> Any:
        if mode == "run":
            return await Runner.run(agent, PROMPT, max_turns=10)
        streamed = Runner.run_streamed(agent, PROMPT, max_turns=10)
        async for _ in streamed.stream_events():
            pass
        return streamed

    result, sent = run_with_agents_sdk(stack.base_url, main)

    assert result.final_output == FINAL
    assert len(sent) == 3
    _assert_reasoning_went_back(stack)
    reasoning = [item for item in result.new_items if isinstance(item, ReasoningItem)]
    assert [item.raw_item.summary[0].text for item in reasoning][:2] == [
        "Let me think about call_mock_1.", "Let me think about call_mock_2."]


# -- JavaScript clients: the AI SDK and the OpenAI Agents SDK -----------------------------------

_JS_VERSIONS = {"ai": "7.0.173", "@ai-sdk/openai": "4.0.118", "@openai/agents": "0.20.0"}


@pytest.fixture(scope="session")
def js_clients(node: str) -> str:
    for name, version in _JS_VERSIONS.items():
        manifest = CLIENTS_DIR / "node_modules" / name / "package.json"
        found = orjson.loads(manifest.read_bytes()).get("version") if manifest.is_file() else None
        if found != version:
            unavailable(f"{name} {version} is not installed in {CLIENTS_DIR / 'node_modules'}; "
                        "run `bash scripts/test` (or `npm ci --prefix tests/e2e/clients`)")
    return node


def _run_js(node: str, stack: Stack, client: str, mode: str) -> dict[str, Any]:
    finished = run_bounded([node, str(CLIENTS_DIR / "tool_loop.mjs"), stack.base_url, MODEL,
                            client, mode, PROMPT], cwd=CLIENTS_DIR,
                           env=client_env({"OPENAI_API_KEY": CLIENT_KEY}), timeout=NODE_TIMEOUT)
    if "'item_reference' input items need a stored response" in finished.stderr:
        # Until the store resolves item_reference (issue 10 item 3, landing separately).
        pytest.xfail("the gateway cannot resolve item_reference yet")
    assert finished.returncode == 0, finished.describe()
    result = orjson.loads(finished.stdout)
    assert isinstance(result, dict), finished.describe()
    return result


@pytest.mark.parametrize(("setup", "mode"), _cases(("generate", "stream")))
def test_ai_sdk(js_clients: str, stacks: Callable[[Setup], Stack], setup: Setup,
                mode: str) -> None:
    """The AI SDK stores by default and sends `item_reference`s to the earlier output on later
    turns: the gateway resolves them from its store."""
    stack = stacks(setup)
    result = _run_js(js_clients, stack, "ai-sdk", mode)

    assert result["text"] == FINAL
    assert result["calls"] == ["Paris", "Paris"]
    _assert_reasoning_went_back(stack)
    assert result["reasoning"][:2] == ["Let me think about call_mock_1.",
                                       "Let me think about call_mock_2."]
    if mode == "stream":
        assert "Let me think about call_mock_1." in result["streamed_reasoning"]


@pytest.mark.parametrize(("setup", "mode"), _cases(("run", "stream")))
def test_agents_sdk_js(js_clients: str, stacks: Callable[[Setup], Stack], setup: Setup,
                       mode: str) -> None:
    stack = stacks(setup)
    result = _run_js(js_clients, stack, "agents-js", mode)

    assert result["text"] == FINAL
    assert result["calls"] == ["Paris", "Paris"]
    _assert_reasoning_went_back(stack)
    assert result["reasoning"][:2] == ["Let me think about call_mock_1.",
                                       "Let me think about call_mock_2."]
    replayed = [item for item in result["sent"][-1]["input"] if item.get("type") == "reasoning"]
    assert len(replayed) == 2, result["sent"][-1]


# -- LangChain (ChatOpenAI on the Responses API) --------------------------------------------------


def _recording_clients(sent: list[dict[str, Any]]) -> tuple[Any, Any]:
    def record(request: Any) -> None:
        if request.method == "POST" and request.url.path.endswith("/responses"):
            sent.append(json.loads(request.content))

    async def arecord(request: Any) -> None:
        record(request)

    return (openai.DefaultHttpxClient(event_hooks={"request": [record]}),
            openai.DefaultAsyncHttpxClient(event_hooks={"request": [arecord]}))


@pytest.mark.parametrize(("setup", "mode"), _cases(("invoke", "stream")))
def test_langchain(stacks: Callable[[Setup], Stack], setup: Setup, mode: str) -> None:
    try:
        from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
        from langchain_core.tools import tool
        from langchain_openai import ChatOpenAI
    except ImportError:
        unavailable("langchain-openai is not installed: pip install -e '.[test]'")

    @tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        return f"Sunny in {city}, 21C"

    stack = stacks(setup)
    sent: list[dict[str, Any]] = []
    http_client, _ = _recording_clients(sent)
    llm = ChatOpenAI(model=MODEL, base_url=stack.base_url, api_key=CLIENT_KEY,  # type: ignore[arg-type]
                     use_responses_api=True, max_retries=0, timeout=30,
                     http_client=http_client, streaming=mode == "stream")
    bound = llm.bind_tools([get_weather])
    messages: list[BaseMessage] = [HumanMessage(PROMPT)]
    replies: list[AIMessage] = []
    for _ in range(5):
        reply = bound.invoke(messages)
        assert isinstance(reply, AIMessage)
        replies.append(reply)
        messages.append(reply)
        if not reply.tool_calls:
            break
        messages += [ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])
                     for call in reply.tool_calls]

    assert replies[-1].text == FINAL
    assert len(sent) == 3
    _assert_reasoning_went_back(stack)
    reasoning = [block for block in replies[0].content
                 if isinstance(block, dict) and block.get("type") == "reasoning"]
    assert [s["text"] for block in reasoning for s in block["summary"]] == [
        "Let me think about call_mock_1."]


# -- Pydantic AI (OpenAIResponsesModel) -----------------------------------------------------------


@pytest.mark.parametrize(("setup", "mode"), _cases(("run", "stream")))
def test_pydantic_ai(stacks: Callable[[Setup], Stack], setup: Setup, mode: str) -> None:
    try:
        from pydantic_ai import Agent
        from pydantic_ai.messages import ModelResponse, ThinkingPart
        from pydantic_ai.models.openai import OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider
    except ImportError:
        unavailable("pydantic-ai is not installed: pip install -e '.[test]'")

    stack = stacks(setup)
    sent: list[dict[str, Any]] = []
    _, http_client = _recording_clients(sent)

    async def main() -> tuple[str, list[Any]]:
        async with openai.AsyncOpenAI(base_url=stack.base_url, api_key=CLIENT_KEY, max_retries=0,
                                      timeout=30, http_client=http_client) as client:
            model = OpenAIResponsesModel(MODEL, provider=OpenAIProvider(openai_client=client))
            agent = Agent(model, instructions="Answer briefly.")

            @agent.tool_plain
            def get_weather(city: str) -> str:
                """Get the weather for a city."""
                return f"Sunny in {city}, 21C"

            if mode == "run":
                result = await agent.run(PROMPT)
                return result.output, result.all_messages()
            async with agent.run_stream(PROMPT) as streamed:
                output = await streamed.get_output()
            return output, streamed.all_messages()

    output, messages = asyncio.run(asyncio.wait_for(main(), 60))

    assert output == FINAL
    assert len(sent) == 3
    _assert_reasoning_went_back(stack)
    thinking = [part.content for message in messages if isinstance(message, ModelResponse)
                for part in message.parts if isinstance(part, ThinkingPart)]
    assert thinking[:2] == ["Let me think about call_mock_1.", "Let me think about call_mock_2."]

