"""The client matrix of issue 10's "Done means": Codex CLI, the Python and JavaScript Agents
SDKs, the AI SDK, LangChain and Pydantic AI each run a multi-turn tool loop with a reasoning
model, on the client's default settings, through a gateway on its default settings (responses
stored), against fake providers that reject a turn that lacks what they demand back.

Targets: DEEPSEEK, a provider in DeepSeek's thinking mode that answers 400 unless each tool-call
turn carries back exactly the reasoning it produced ("Let me think about call_mock_N."), and
every named profile against the mock provider acting as that provider, with that provider's
rejections (mock_rules.PRESETS; NAMED).

Every run asks for two tool turns ("loop 2"): the provider is called three times, and its last
request holds both tool-call turns. A client that loses what the provider needs gets its error.
Each client also has to surface the reasoning to its user, where the provider returns any.

Depth (CI time): every client runs in each of its modes (streamed and not) against DEEPSEEK,
and in its default mode against each named profile.
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

from responses_gateway.mock_rules import PRESETS
from responses_gateway.providers import PROFILES

PROMPT = "loop 2: call the get_weather tool"
FINAL = "Tool result: Sunny in Paris, 21C"
MODEL = "mock-think"
NODE_TIMEOUT = 90.0


@dataclass(frozen=True)
class Target:
    """Where a client run goes: a gateway, the model name, and what the provider demands."""

    id: str
    model: str
    # The provider checks that each tool-call turn carries back exactly the reasoning it
    # produced ("Let me think about <call id>.") under this field; the test checks the wire too.
    reasoning_field: str | None = None
    # The provider returns the model's reasoning on the client's default settings.
    shows_reasoning: bool = True
    profile: str | None = None  # a named profile's path on the shared mock provider
    # Otherwise the target has a mock provider and a gateway of its own:
    quirks: tuple[str, ...] = ()
    gateway_args: tuple[str, ...] = ()

    @property
    def exact_reasoning(self) -> bool:
        return self.reasoning_field is not None


_DEEPSEEK_QUIRKS = ("require-reasoning-content", "verify-reasoning-content")
# DeepSeek's thinking mode behind the deepseek profile.
DEEPSEEK = Target("deepseek", MODEL, "reasoning_content", quirks=_DEEPSEEK_QUIRKS,
                  gateway_args=("--provider", "deepseek"))
# Every named profile, each against the mock provider acting as that provider (mock_rules
# PRESETS, by path), through one gateway with one upstream per profile, chosen by model name
# `<profile>.<model>` (no "/": the Agents SDK would read a prefix as its own provider's name).
# Mistral, Gemini and Anthropic return no reasoning; DashScope's and SiliconFlow's models think
# only when asked to (`enable_thinking`), which a client's default settings do not do.
_NO_VISIBLE_REASONING = frozenset({"hidden-reasoning", "enable-thinking"})
NAMED = [Target(f"profile-{name}", f"{name}.{'grok-3-mini' if name == 'xai' else MODEL}",
                shows_reasoning=not PRESETS[name] & _NO_VISIBLE_REASONING, profile=name)
         for name in PROFILES if name != "generic"]
# Profiles whose own end-to-end tool loop is still an expected failure (test_profiles.py):
# none since MiniMax's `<think>` text goes back in its content.
_KNOWN_GAPS: dict[str, str] = {}


@dataclass(frozen=True)
class Stack:
    target: Target
    gateway: Server
    log: MockLog

    @property
    def base_url(self) -> str:
        return self.gateway.url + "/v1"


class _PathLog(MockLog):
    """The part of a shared mock's log that reached one path prefix."""

    def __init__(self, provider: Server, prefix: str) -> None:
        super().__init__(provider)
        self._prefix = prefix

    def requests(self) -> list[dict[str, Any]]:
        return [r for r in super().requests() if r["path"].startswith(self._prefix)]


def _profiles_config(mock_url: str) -> str:
    tables = []
    for name in PROFILES:
        version = 'api_version = "2024-10-21"\n' if name == "azure" else ""
        tables.append(
            f'[[upstreams]]\nname = "{name}"\nbase_url = "{mock_url}/{name}/v1"\n'
            f'api_key_env = "RG_E2E_UPSTREAM_KEY"\nprofile = "{name}"\n{version}'
            f'aliases = {{ "{name}.{MODEL}" = "{MODEL}", "{name}.grok-3-mini" = "grok-3-mini" }}\n'
            f"models = []\n")
    return "\n".join(tables)


@pytest.fixture(scope="session")
def stacks(spawn_server: Callable[..., Server],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Target], Stack]]:
    """`stacks(target)`: its provider and gateway, started on first use, kept for the session.
    Gateways run on their defaults: responses stored (SQLite in the data directory)."""
    started: dict[str, tuple[Server, Server]] = {}

    def start(key: str, mock_args: list[str], gateway_args: Callable[[Server], list[str]],
              config: Callable[[Server], str] | None = None) -> tuple[Server, Server]:
        if key not in started:
            port = free_port()
            provider = spawn_server(f"matrix-provider-{key}", [
                "mock-provider", "--port", str(port), "--api-key", UPSTREAM_KEY, *mock_args,
            ], "/v1/models", port=port, ready_headers={"Authorization": f"Bearer {UPSTREAM_KEY}"})
            data_dir = tmp_path_factory.mktemp(f"matrix-{key}")
            args = gateway_args(provider)
            if config is not None:
                (data_dir / "upstreams.toml").write_text(config(provider))
                args = ["--config", str(data_dir / "upstreams.toml")]
            port = free_port()
            gateway = spawn_server(f"matrix-gateway-{key}", [
                *args, "--data-dir", str(data_dir), "--port", str(port),
            ], "/health", port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY,
                                          "RG_E2E_UPSTREAM_KEY": UPSTREAM_KEY})
            started[key] = (provider, gateway)
        return started[key]

    def get(target: Target) -> Stack:
        if target.profile is None:
            provider, gateway = start(
                target.id, [arg for quirk in target.quirks for arg in ("--quirk", quirk)],
                lambda p: ["--base-url", f"{p.url}/v1", *target.gateway_args])
            log = MockLog(provider)
        else:
            provider, gateway = start("profiles", [], lambda p: [],
                                      lambda p: _profiles_config(p.url))
            log = _PathLog(provider, f"/{target.profile}/v1/")
        log.clear()
        return Stack(target, gateway, log)

    yield get


def _assert_reasoning_went_back(stack: Stack) -> None:
    """Three provider calls; the last carries both tool turns (with their own reasoning where
    the provider checks it; every provider's own rules are the mock's)."""
    requests = stack.log.chat_requests()
    assert len(requests) == 3, [r["body"]["messages"] for r in requests]
    turn = after_last_user(requests[-1]["body"]["messages"])
    calls = assistant_tool_calls(turn)
    assert len(calls) == 2, turn
    field = stack.target.reasoning_field
    if field is not None:
        for message in calls:
            (call,) = message["tool_calls"]
            assert message.get(field) == f"Let me think about {call['id']}.", message


def _assert_shown(stack: Stack, reasoning: list[str]) -> None:
    """The client surfaced each tool turn's reasoning (where the provider returns any)."""
    if not stack.target.shows_reasoning:
        return
    reasoning = [text for text in reasoning if text]  # not Gemini's signature-only items
    assert len(reasoning) >= 2, reasoning
    first, second = reasoning[:2]
    if stack.target.exact_reasoning:
        assert [first, second] == ["Let me think about call_mock_1.",
                                   "Let me think about call_mock_2."]
    else:  # some providers' call ids differ (Mistral's are 9 characters)
        assert first.strip().startswith("Let me think about"), reasoning
        assert second.strip().startswith("Let me think about"), reasoning


def _cases(modes: tuple[str, ...]) -> list[Any]:
    """(target, mode): every mode against DEEPSEEK, the default mode against each profile."""
    cases = [pytest.param(DEEPSEEK, mode, id=f"{DEEPSEEK.id}-{mode}") for mode in modes]
    for target in NAMED:
        marks = ([pytest.mark.xfail(reason=_KNOWN_GAPS[target.id], strict=True)]
                 if target.id in _KNOWN_GAPS else [])
        cases.append(pytest.param(target, modes[0], id=f"{target.id}-{modes[0]}", marks=marks))
    return cases


# -- Codex CLI ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "mode"), _cases(("stream",)))
def test_codex(codex: Callable[..., CodexRun], stacks: Callable[[Target], Stack],
               target: Target, mode: str) -> None:
    stack = stacks(target)
    run = codex(stack.gateway, "loop 2: run the exec_command tool", model=stack.target.model)

    assert run.finished.returncode == 0, run.describe()
    assert "Tool result:" in run.stdout, run.describe()
    _assert_reasoning_went_back(stack)
    if target.shows_reasoning:  # Codex prints the reasoning summary it streamed
        assert "Let me think about" in run.finished.stderr, run.describe()


# -- OpenAI Agents SDK (Python) -------------------------------------------------------------------


@pytest.mark.parametrize(("target", "mode"), _cases(("run", "streamed")))
def test_agents_sdk_python(stacks: Callable[[Target], Stack], target: Target, mode: str) -> None:
    from agents import Agent, Runner, function_tool
    from agents.items import ReasoningItem

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return f"Sunny in {city}, 21C"

    stack = stacks(target)
    agent = Agent(name="Assistant", instructions="Answer briefly.", tools=[get_weather],
                  model=stack.target.model)

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
    _assert_shown(stack, ["".join(part.text for part in item.raw_item.summary)
                          for item in reasoning])


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
    finished = run_bounded([node, str(CLIENTS_DIR / "tool_loop.mjs"), stack.base_url,
                            stack.target.model,
                            client, mode, PROMPT], cwd=CLIENTS_DIR,
                           env=client_env({"OPENAI_API_KEY": CLIENT_KEY}), timeout=NODE_TIMEOUT)
    if "'item_reference' input items need a stored response" in finished.stderr:
        # Until the store resolves item_reference (issue 10 item 3, landing separately).
        pytest.xfail("the gateway cannot resolve item_reference yet")
    assert finished.returncode == 0, finished.describe()
    result = orjson.loads(finished.stdout)
    assert isinstance(result, dict), finished.describe()
    return result


@pytest.mark.parametrize(("target", "mode"), _cases(("generate", "stream")))
def test_ai_sdk(js_clients: str, stacks: Callable[[Target], Stack], target: Target,
                mode: str) -> None:
    """The AI SDK stores by default and sends `item_reference`s to the earlier output on later
    turns: the gateway resolves them from its store."""
    stack = stacks(target)
    result = _run_js(js_clients, stack, "ai-sdk", mode)

    assert result["text"] == FINAL
    assert result["calls"] == ["Paris", "Paris"]
    _assert_reasoning_went_back(stack)
    _assert_shown(stack, result["reasoning"])
    if mode == "stream" and target.shows_reasoning:
        assert "Let me think about" in result["streamed_reasoning"]


@pytest.mark.parametrize(("target", "mode"), _cases(("run", "stream")))
def test_agents_sdk_js(js_clients: str, stacks: Callable[[Target], Stack], target: Target,
                       mode: str) -> None:
    stack = stacks(target)
    result = _run_js(js_clients, stack, "agents-js", mode)

    assert result["text"] == FINAL
    assert result["calls"] == ["Paris", "Paris"]
    _assert_reasoning_went_back(stack)
    _assert_shown(stack, result["reasoning"])
    if target.shows_reasoning:
        replayed = [item for item in result["sent"][-1]["input"]
                    if item.get("type") == "reasoning"]
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


@pytest.mark.parametrize(("target", "mode"), _cases(("invoke", "stream")))
def test_langchain(stacks: Callable[[Target], Stack], target: Target, mode: str) -> None:
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

    stack = stacks(target)
    sent: list[dict[str, Any]] = []
    http_client, _ = _recording_clients(sent)
    llm = ChatOpenAI(model=stack.target.model, base_url=stack.base_url,
                     api_key=CLIENT_KEY,  # type: ignore[arg-type]
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
    _assert_shown(stack, [summary["text"] for reply in replies for block in reply.content
                          if isinstance(block, dict) and block.get("type") == "reasoning"
                          for summary in block["summary"]])


# -- Pydantic AI (OpenAIResponsesModel) -----------------------------------------------------------


@pytest.mark.parametrize(("target", "mode"), _cases(("run", "stream")))
def test_pydantic_ai(stacks: Callable[[Target], Stack], target: Target, mode: str) -> None:
    try:
        from pydantic_ai import Agent
        from pydantic_ai.messages import ModelResponse, ThinkingPart
        from pydantic_ai.models.openai import OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider
    except ImportError:
        unavailable("pydantic-ai is not installed: pip install -e '.[test]'")

    stack = stacks(target)
    sent: list[dict[str, Any]] = []
    _, http_client = _recording_clients(sent)

    async def main() -> tuple[str, list[Any]]:
        async with openai.AsyncOpenAI(base_url=stack.base_url, api_key=CLIENT_KEY, max_retries=0,
                                      timeout=30, http_client=http_client) as client:
            model = OpenAIResponsesModel(stack.target.model,
                                         provider=OpenAIProvider(openai_client=client))
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
    _assert_shown(stack, [part.content for message in messages
                          if isinstance(message, ModelResponse)
                          for part in message.parts if isinstance(part, ThinkingPart)])

