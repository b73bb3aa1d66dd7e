"""End to end: every provider profile against the mock provider acting as that provider.

One mock provider process serves every provider's rules at once, each under its own path
(`/mistral/v1` acts like Mistral: mock_rules.PRESETS), and one gateway process has one
upstream per profile (a config file; the mocks are on 127.0.0.1, so nothing could be
detected from the URL). A client picks the profile by model name: `mistral/mock-think`.
The openai SDK drives the gateway with `_strict_response_validation=True`; what the provider
received is read from the mock's request log, so each rule is checked on the wire as well as
by the absence of the provider's rejection.

Each profile gets: plain text, streaming, model list, structured output, reasoning effort
("high" and "none"), developer role, output limit, text parts, a two-turn tool loop with
reasoning (streamed and not; stateless as Codex does it, and through `previous_response_id`),
and reasoning sealed by a stranger. Particular providers' rules follow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx2
import openai
import orjson
import pydantic
import pytest
from e2e_support import CLIENT_KEY, MockLog, Server, checked_stream, free_port, post_stream

from responses_gateway.mock_provider import MODELS
from responses_gateway.mock_rules import PRESETS, thought_signature
from responses_gateway.providers import PROFILES
from responses_gateway.translate.reasoning import ReasoningSeal

AZURE_VERSION = "2024-10-21"  # the azure profile's default api-version
KEY = "sk-upstream-profiles"
KNOBS = ("reasoning", "reasoning_effort", "enable_thinking", "thinking_budget", "thinking")
THOUGHT = "Let me think about this."  # mock-think's reasoning on a turn without tool calls

SCHEMA_URI = "http://json-schema.org/draft-07/schema#"
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"$schema": SCHEMA_URI, "type": "object",
                   "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False},
    "strict": True,
}


@dataclass(frozen=True)
class Spec:
    """What a profile must send its provider, and what the client then sees."""

    developer: bool = False  # `developer` reaches the provider as is (else: `system`)
    limit_field: str = "max_tokens"
    strips_schema: bool = False  # `$schema` removed from response_format and tools
    json_mode: bool = False  # json_object + the schema in a system message
    json_object_schema: bool = False  # {type: json_object, schema} (llama.cpp servers)
    knob_high: dict[str, Any] = field(default_factory=dict)  # for reasoning.effort "high"
    knob_none: dict[str, Any] = field(default_factory=dict)  # for reasoning.effort "none"
    none_stops_thinking: bool = False  # with effort "none" the model gives no reasoning
    shows_reasoning: bool = True  # the provider returns the model's reasoning
    replay: str | None = None  # the field earlier reasoning goes back in ("think": content)
    placeholder: str | None = None  # reasoning_content of a tool-call turn without reasoning
    string_content: bool = False  # text-only content arrays are sent as one string
    stream_usage: bool = True  # stream_options.include_usage is sent
    think_model: str = "mock-think"  # the provider model that reasons
    azure: bool = False


def _effort(value: str) -> dict[str, Any]:
    return {"reasoning_effort": value}


def _thinking(kind: str, **extra: Any) -> dict[str, Any]:
    return {"thinking": {"type": kind, **extra}}


_BUDGET = {"enable_thinking": True, "thinking_budget": 32768}
RC = "reasoning_content"
SPECS: dict[str, Spec] = {
    "openai": Spec(developer=True, limit_field="max_completion_tokens",
                   knob_high=_effort("high"), knob_none=_effort("none")),
    "azure": Spec(developer=True, limit_field="max_completion_tokens",
                  knob_high=_effort("high"), knob_none=_effort("none"), azure=True),
    "dashscope": Spec(strips_schema=True, knob_high=_BUDGET,
                      knob_none={"enable_thinking": False}, none_stops_thinking=True,
                      replay=RC),
    "deepseek": Spec(strips_schema=True, json_mode=True, knob_high=_thinking("enabled"),
                     knob_none=_thinking("disabled"), none_stops_thinking=True, replay=RC,
                     placeholder="", string_content=True),
    "moonshot": Spec(limit_field="max_completion_tokens", strips_schema=True,
                     knob_high=_thinking("enabled"), knob_none=_thinking("disabled"),
                     none_stops_thinking=True, replay=RC, placeholder="(reasoning omitted)"),
    # They know only low/medium/high: "none" is left out rather than sent.
    "vllm": Spec(knob_high=_effort("high"), replay="reasoning"),
    "ollama": Spec(strips_schema=True, knob_high=_effort("high")),
    "openrouter": Spec(knob_high={"reasoning": {"effort": "high"}},
                       knob_none={"reasoning": {"enabled": False}}, replay="reasoning_details"),
    "groq": Spec(knob_high=_effort("high")),
    "together": Spec(knob_high=_effort("high"), replay="reasoning"),
    "fireworks": Spec(knob_high=_effort("high"), knob_none=_effort("none"), replay=RC),
    "mistral": Spec(knob_high=_effort("high"), knob_none=_effort("none"), stream_usage=False),
    "gemini": Spec(strips_schema=True, knob_high=_effort("high"), knob_none=_effort("none"),
                   shows_reasoning=False),
    "xai": Spec(knob_high=_effort("high"), knob_none=_effort("none"), think_model="grok-3-mini"),
    "zhipu": Spec(knob_high=_thinking("enabled", clear_thinking=False),
                  knob_none=_thinking("disabled"), none_stops_thinking=True, replay=RC,
                  stream_usage=False),
    "minimax": Spec(limit_field="max_completion_tokens", replay="think"),
    "ark": Spec(knob_high=_thinking("enabled"), knob_none=_thinking("disabled"),
                none_stops_thinking=True, replay=RC),
    "siliconflow": Spec(knob_high=_BUDGET, knob_none={"enable_thinking": False},
                        none_stops_thinking=True, replay=RC),
    "anthropic": Spec(json_mode=True, knob_high=_thinking("enabled", budget_tokens=16384),
                      knob_none=_thinking("disabled"), none_stops_thinking=True,
                      shows_reasoning=False),
    "sglang": Spec(knob_high=_effort("high"), replay=RC),
    "llamacpp": Spec(replay=RC, json_object_schema=True),
    "lmstudio": Spec(knob_high=_effort("high")),
    "tgi": Spec(),
    "generic": Spec(),
    # Reasoning goes back in the field the provider used (reasoning_content here); "" on
    # turns without any once the provider was seen using it (earlier tests here did).
    "adaptive": Spec(knob_high=_effort("high"), replay=RC, placeholder=""),
}
ALL = list(SPECS)


def test_every_profile_has_a_spec_and_a_mock_preset() -> None:
    assert set(SPECS) == set(PROFILES) and set(PROFILES) <= set(PRESETS)


@dataclass
class Stack:
    """One profile: its path on the shared mock, and clients on the shared gateway."""

    profile: str
    spec: Spec
    log: "ProfileLog"
    client: openai.OpenAI
    http: httpx2.Client
    mock: Server

    def model(self, name: str) -> str:
        """The client's name for a provider model on this profile's upstream."""
        return f"{self.profile}/{name}"

    @property
    def think(self) -> str:
        return self.model(self.spec.think_model)


class ProfileLog(MockLog):
    """The part of the shared mock's log that reached one profile's path."""

    def __init__(self, mock: Server, profile: str) -> None:
        super().__init__(mock)
        self._prefix = f"/{profile}/v1/"

    def requests(self) -> list[dict[str, Any]]:
        return [r for r in super().requests() if r["path"].startswith(self._prefix)]


# -- fixtures -----------------------------------------------------------------------------------


def _config(mock_url: str) -> str:
    """One [[upstreams]] table per profile; `<profile>/<model>` names route to it."""
    models = [*MODELS, "deepseek-reasoner", "grok-3-mini", "grok-4"]
    tables = []
    # Each profile on its provider's preset, and variants: vllm on an old vLLM.
    for name, preset, profile in [*((name, name, name) for name in ALL),
                                  ("vllm-legacy", "vllm-legacy", "vllm")]:
        aliases = ", ".join(f'"{name}/{model}" = "{model}"' for model in models)
        version = f'api_version = "{AZURE_VERSION}"\n' if profile == "azure" else ""
        tables.append(f'[[upstreams]]\nname = "{name}"\nbase_url = "{mock_url}/{preset}/v1"\n'
                      f'api_key_env = "PROFILES_UPSTREAM_KEY"\nprofile = "{profile}"\n{version}'
                      f"aliases = {{ {aliases} }}\nmodels = []\n")
    return "\n".join(tables)


@pytest.fixture(scope="module")
def shared(spawn_server: Callable[..., Server],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """The mock provider (every preset by path) and one gateway with every profile."""
    mock_port, gateway_port = free_port(), free_port()
    mock = spawn_server("mock-profiles", ["mock-provider", "--port", str(mock_port),
                                          "--api-key", KEY], "/v1/models", port=mock_port,
                        ready_headers={"Authorization": f"Bearer {KEY}"})
    folder = tmp_path_factory.mktemp("profiles")
    config = Path(folder / "upstreams.toml")
    config.write_text(_config(mock.url))
    gateway = spawn_server("gateway-profiles", [
        "--config", str(config), "--port", str(gateway_port), "--store", "memory",
        "--data-dir", str(folder / "data"),
    ], "/health", port=gateway_port, env={"PROFILES_UPSTREAM_KEY": KEY})
    yield mock, gateway
    gateway.stop()
    mock.stop()


@pytest.fixture(scope="module")
def stacks(shared: tuple[Server, Server]) -> Iterator[dict[str, Stack]]:
    mock, gateway = shared
    result = {name: Stack(
        name, SPECS[name], ProfileLog(mock, name),
        openai.OpenAI(base_url=gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                      timeout=30, _strict_response_validation=True),
        httpx2.Client(base_url=gateway.url, timeout=30,
                      headers={"Authorization": f"Bearer {CLIENT_KEY}"}), mock) for name in ALL}
    yield result
    for stack in result.values():
        stack.client.close()
        stack.http.close()


def use(stacks: dict[str, Stack], profile: str) -> Stack:
    stack = stacks[profile]
    stack.log.clear()
    return stack


# -- helpers ------------------------------------------------------------------------------------


def assert_upstream_auth(stack: Stack, entry: dict[str, Any]) -> None:
    """The provider got its key the way it wants it, and nothing else."""
    headers, query = entry["headers"], entry["query"]
    if stack.spec.azure:
        assert headers.get("api-key") == KEY
        assert "authorization" not in headers
        assert query == {"api-version": AZURE_VERSION}
    else:
        assert headers.get("authorization") == f"Bearer {KEY}"
        assert "api-key" not in headers
        assert query == {}
    assert CLIENT_KEY not in orjson.dumps(headers).decode()


def knobs(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body[key] for key in KNOBS if key in body}


def messages_of(stack: Stack, role: str) -> list[dict[str, Any]]:
    return [m for m in stack.log.last_body()["messages"] if m["role"] == role]


def item_types(output: list[Any]) -> list[str]:
    return [item.type for item in output]


def texts(parts: Any) -> list[str]:
    return [part.text.strip() for part in parts or []]


# -- every profile ------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL)
def test_text(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    response = stack.client.responses.create(model=stack.model("mock-echo"), input="hello")
    assert response.status == "completed"
    assert response.output_text == "You said: hello"
    entry = stack.log.last_chat()
    assert entry["path"] == f"/{profile}/v1/chat/completions"
    assert entry["body"]["model"] == "mock-echo"
    assert entry["body"]["messages"] == [{"role": "user", "content": "hello"}]
    assert_upstream_auth(stack, entry)


@pytest.mark.parametrize("profile", ALL)
def test_streaming(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    response, frames = post_stream(stack.http, {"model": stack.model("mock-echo"),
                                                "input": "hello stream", "stream": True})
    events = checked_stream(response, frames)
    assert events[-1]["type"] == "response.completed"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: hello stream"
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == text
    entry = stack.log.last_chat()
    assert entry["body"]["stream"] is True
    if stack.spec.stream_usage:
        assert final["usage"]["input_tokens"] > 0  # the usage chunk was asked for and read
        assert entry["body"]["stream_options"] == {"include_usage": True}
    else:
        assert "stream_options" not in entry["body"]
    assert_upstream_auth(stack, entry)


class City(pydantic.BaseModel):
    # openai-node (zod-to-json-schema) puts `$schema` in every schema it sends.
    model_config = pydantic.ConfigDict(json_schema_extra={"$schema": SCHEMA_URI})
    city: str
    days: int


@pytest.mark.parametrize("profile", ALL)
def test_structured_output(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    parsed = stack.client.responses.parse(model=stack.model("mock-json"),
                                          input="Where, how long?", text_format=City)
    assert parsed.output_parsed == City(city="Paris", days=1)
    sent = stack.log.last_body()
    response_format = sent["response_format"]
    if stack.spec.json_mode:
        # JSON mode only: the schema travels in a system message instead.
        assert response_format == {"type": "json_object"}
        instruction = sent["messages"][0]
        assert instruction["role"] == "system" and "JSON schema" in instruction["content"]
        assert ("$schema" in instruction["content"]) is not stack.spec.strips_schema
        return
    if stack.spec.json_object_schema:
        assert response_format["type"] == "json_object"
        assert response_format["schema"]["required"] == ["city", "days"]
        return
    assert response_format["type"] == "json_schema"
    json_schema = response_format["json_schema"]
    assert json_schema["name"] == "City" and json_schema["strict"] is True
    schema = json_schema["schema"]
    assert ("$schema" in schema) is not stack.spec.strips_schema
    assert schema["required"] == ["city", "days"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("profile", ALL)
def test_reasoning_effort_uses_the_providers_knob(stacks: dict[str, Stack], profile: str,
                                                  stream: bool) -> None:
    stack = use(stacks, profile)
    request: dict[str, Any] = {"model": stack.think, "input": "ponder",
                               "reasoning": {"effort": "high"}}
    if stream:
        with stack.client.responses.stream(**request) as events:
            response = events.get_final_response()
    else:
        response = stack.client.responses.create(**request)
    assert knobs(stack.log.last_body()) == stack.spec.knob_high  # never `reasoning` itself
    assert response.reasoning is not None and response.reasoning.effort == "high"
    assert response.output_text == "You said: ponder"
    if not stack.spec.shows_reasoning:
        assert item_types(response.output) == ["message"]
        return
    assert item_types(response.output) == ["reasoning", "message"]
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert texts(reasoning.content) == [THOUGHT]
    assert texts(reasoning.summary) == [THOUGHT]


@pytest.mark.parametrize("profile", ALL)
def test_reasoning_effort_none(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    response = stack.client.responses.create(model=stack.think, input="ponder",
                                             reasoning={"effort": "none"})
    assert knobs(stack.log.last_body()) == stack.spec.knob_none
    assert response.output_text == "You said: ponder"
    if stack.spec.none_stops_thinking:
        assert item_types(response.output) == ["message"]
        assert response.usage is not None
        assert response.usage.output_tokens_details.reasoning_tokens == 0


@pytest.mark.parametrize("profile", ALL)
def test_developer_role(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    response = stack.client.responses.create(
        model=stack.model("mock-echo"), instructions="Be brief.", input=[
            {"role": "developer", "content": "House rules."},
            {"role": "user", "content": "hi"},
        ])
    assert response.output_text == "You said: hi"
    role = "developer" if stack.spec.developer else "system"
    assert stack.log.last_body()["messages"] == [{"role": role, "content": "Be brief."},
                                                 {"role": role, "content": "House rules."},
                                                 {"role": "user", "content": "hi"}]


@pytest.mark.parametrize("profile", ALL)
def test_max_output_tokens(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    response = stack.client.responses.create(model=stack.model("mock-echo"), input="hi",
                                             max_output_tokens=64)
    assert response.max_output_tokens == 64
    body = stack.log.last_body()
    other = {"max_tokens", "max_completion_tokens"} - {stack.spec.limit_field}
    assert body[stack.spec.limit_field] == 64
    assert not other & set(body)


@pytest.mark.parametrize("profile", ALL)
def test_text_parts(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    stack.client.responses.create(model=stack.model("mock-echo"), input=[
        {"role": "user", "content": [{"type": "input_text", "text": "one"},
                                     {"type": "input_text", "text": "two"}]}])
    (user,) = messages_of(stack, "user")
    if stack.spec.string_content:
        assert user["content"] == "one\ntwo"
    else:
        assert user["content"] == [{"type": "text", "text": "one"},
                                   {"type": "text", "text": "two"}]


def _turn(stack: Stack, stream: bool, **request: Any) -> Any:
    if stream:
        with stack.client.responses.stream(**request) as events:
            return events.get_final_response()
    return stack.client.responses.create(**request)


@pytest.mark.parametrize("stored", [False, True], ids=["stateless", "stored"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("profile", ALL)
def test_tool_loop_with_reasoning(stacks: dict[str, Stack], profile: str, stream: bool,
                                  stored: bool) -> None:
    """Two turns of a tool loop with reasoning on. Stateless: Codex's way (store false, the
    reasoning item, call and output sent back whole). Stored: previous_response_id. The
    provider gets back what it needs (reasoning, ids, signatures) and nothing it rejects."""
    stack = use(stacks, profile)
    ask = {"role": "user", "content": "What is the weather in Paris? Use the tool."}
    common: dict[str, Any] = {"model": stack.think, "tools": [WEATHER_TOOL], "store": stored,
                              "reasoning": {"effort": "high"}}
    first = _turn(stack, stream, input=[ask], **common)
    assert first.status == "completed"
    calls = [item for item in first.output if item.type == "function_call"]
    reasonings = [item for item in first.output if item.type == "reasoning"]
    (call,) = calls
    assert call.name == "get_weather" and orjson.loads(call.arguments) == {"city": "Paris"}
    if stack.spec.shows_reasoning:
        assert item_types(first.output) == ["reasoning", "function_call"]
        assert texts(reasonings[0].content) == [f"Let me think about {call.call_id}."]
    assert all(item.encrypted_content for item in reasonings)
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    if stored:
        second = _turn(stack, stream, input=[output], previous_response_id=first.id, **common)
    else:
        replayed = [item.model_dump(exclude_none=True) for item in first.output]
        second = _turn(stack, stream, input=[ask, *replayed, output], **common)
    assert second.status == "completed"
    assert second.output_text == "Tool result: sunny"
    body = stack.log.last_body()
    assert knobs(body) == stack.spec.knob_high
    parameters = body["tools"][0]["function"]["parameters"]
    assert ("$schema" in parameters) is not stack.spec.strips_schema
    (assistant,) = messages_of(stack, "assistant")
    (tool,) = messages_of(stack, "tool")
    assert [c["id"] for c in assistant["tool_calls"]] == [tool["tool_call_id"]]
    assert tool["content"] == "sunny"
    thought = f"Let me think about {call.call_id}."
    fields = {"reasoning_content", "reasoning", "reasoning_details"} & set(assistant)
    if stack.spec.replay == "think":
        assert assistant["content"].startswith(f"<think>\n{thought}\n</think>")
    elif stack.spec.replay == "reasoning_details":
        assert [d["text"] for d in assistant["reasoning_details"]] == [thought]
    elif stack.spec.replay:
        assert assistant[stack.spec.replay].strip() == thought
    assert fields == ({stack.spec.replay} - {"think"} if stack.spec.replay else set())


@pytest.mark.parametrize("profile", ALL)
def test_foreign_reasoning_is_not_trusted(stacks: dict[str, Stack], profile: str) -> None:
    """A reasoning item sealed under another key is ignored: a placeholder goes where the
    provider needs reasoning_content, and its text never reaches the provider."""
    stack = use(stacks, profile)
    blob = ReasoningSeal(os.urandom(32)).seal("forged thoughts", provider="default",
                                              model="mock-think", nonce=os.urandom(12))
    response = stack.client.responses.create(
        model=stack.think, tools=[WEATHER_TOOL], reasoning={"effort": "high"}, store=False,
        input=[
            {"role": "user", "content": "Weather in Paris? Use the tool."},
            {"type": "reasoning", "id": "rs_forged", "encrypted_content": blob, "summary": []},
            {"type": "function_call", "call_id": "call_x", "name": "get_weather",
             "arguments": '{"city":"Paris"}'},
            {"type": "function_call_output", "call_id": "call_x", "output": "sunny"},
        ])
    assert response.output_text == "Tool result: sunny"
    (assistant,) = messages_of(stack, "assistant")
    assert "forged" not in orjson.dumps(stack.log.last_body()).decode()
    if profile == "adaptive":  # a placeholder only once the provider showed its field
        assert assistant.get("reasoning_content", "") == ""
    elif stack.spec.replay and stack.spec.placeholder is not None:
        assert assistant[stack.spec.replay] == stack.spec.placeholder
    else:
        assert not {"reasoning_content", "reasoning", "reasoning_details"} & set(assistant)


# -- particular providers -----------------------------------------------------------------------


@pytest.mark.parametrize("model, kind", [("mock-echo", "message"),
                                         ("mock-think", "reasoning")])
def test_moonshot_stream_without_finish_reason_or_done_completes(
        stacks: dict[str, Stack], model: str, kind: str) -> None:
    stack = use(stacks, "moonshot")
    response, frames = post_stream(stack.http, {"model": stack.model(model), "input": "hello",
                                                "stream": True})
    events = checked_stream(response, frames)
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["type"] == kind
    assert events[-1]["response"]["output"][-1]["content"][0]["text"] == "You said: hello"


@pytest.mark.parametrize("profile", ["deepseek", "moonshot"])
def test_forced_tool_choice_becomes_auto_while_thinking(stacks: dict[str, Stack],
                                                        profile: str) -> None:
    stack = use(stacks, profile)
    response = stack.client.responses.create(model=stack.think, tools=[WEATHER_TOOL],
                                             tool_choice="required", input="Weather? Use it.")
    assert item_types(response.output)[-1] == "function_call"
    assert stack.log.last_body()["tool_choice"] == "auto"
    stack.client.responses.create(model=stack.think, tools=[WEATHER_TOOL],
                                  tool_choice="required", reasoning={"effort": "none"},
                                  input="Weather? Use it.")
    assert stack.log.last_body()["tool_choice"] == "required"


def test_deepseek_v4_gets_reasoning_content_on_every_assistant_turn(
        stacks: dict[str, Stack]) -> None:
    stack = use(stacks, "deepseek")
    response = stack.client.responses.create(model=stack.think, tools=[WEATHER_TOOL], input=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "and now?"},
    ])
    assert response.output_text == "You said: and now?"
    (assistant,) = messages_of(stack, "assistant")
    assert assistant == {"role": "assistant", "content": "Hello.", "reasoning_content": ""}


def stateless_tool_loop(stack: Stack, model: str) -> dict[str, Any]:
    """Two turns of a tool loop, Codex's way; the assistant message the provider got back."""
    ask = {"role": "user", "content": "Weather in Paris? Use the tool."}
    first = stack.client.responses.create(model=model, tools=[WEATHER_TOOL], store=False,
                                          input=[ask])
    call = first.output[-1]
    assert call.type == "function_call"
    replayed = [item.model_dump(exclude_none=True) for item in first.output]
    second = stack.client.responses.create(model=model, tools=[WEATHER_TOOL], store=False, input=[
        ask, *replayed, {"type": "function_call_output", "call_id": call.call_id,
                         "output": "sunny"}])
    assert second.output_text == "Tool result: sunny"
    (assistant,) = messages_of(stack, "assistant")
    return assistant


def test_legacy_deepseek_reasoner_never_gets_reasoning_content(
        stacks: dict[str, Stack]) -> None:
    stack = use(stacks, "deepseek")
    assistant = stateless_tool_loop(stack, stack.model("deepseek-reasoner"))
    assert "reasoning_content" not in assistant


@pytest.mark.parametrize(("upstream", "field"), [("vllm", "reasoning"),
                                               ("vllm-legacy", "reasoning_content")])
def test_vllm_gets_reasoning_back_in_the_field_the_server_sent(stacks: dict[str, Stack],
                                                               upstream: str, field: str) -> None:
    """vLLM >= 0.11 reads `reasoning` (and ignored `reasoning_content` for a while); older
    servers send and read `reasoning_content`. Both mocks reject anything else back."""
    stack = use(stacks, "vllm")
    stack = Stack(upstream, stack.spec, ProfileLog(stack.mock, upstream), stack.client,
                  stack.http, stack.mock)
    assistant = stateless_tool_loop(stack, f"{upstream}/mock-think")
    assert {"reasoning", "reasoning_content"} & set(assistant) == {field}


def test_xai_effort_only_for_models_that_take_it(stacks: dict[str, Stack]) -> None:
    stack = use(stacks, "xai")
    response = stack.client.responses.create(model=stack.model("grok-4"), input="hi",
                                             reasoning={"effort": "high"})
    assert response.output_text == "You said: hi"
    assert knobs(stack.log.last_body()) == {}


def test_mistral_tool_ids_are_mapped_and_the_user_waits_for_an_assistant(
        stacks: dict[str, Stack]) -> None:
    """Another provider's call ids go to Mistral as 9 alphanumerics, the same on the call and
    its output; a user message right after tool results gets an assistant message before it;
    the calls Mistral minted come back to it unchanged."""
    stack = use(stacks, "mistral")
    response = stack.client.responses.create(model=stack.model("mock-echo"),
                                             tools=[WEATHER_TOOL], input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_abc_123", "name": "get_weather",
         "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_abc_123", "output": "sunny"},
        {"role": "user", "content": "Thanks. And now use the tool again."},
    ])
    (call,) = [item for item in response.output if item.type == "function_call"]
    assert len(call.call_id) == 9 and call.call_id.isalnum()
    messages = stack.log.last_body()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "user"]
    sent_id = messages[1]["tool_calls"][0]["id"]
    assert len(sent_id) == 9 and sent_id.isalnum() and messages[2]["tool_call_id"] == sent_id
    second = stack.client.responses.create(
        model=stack.model("mock-echo"), tools=[WEATHER_TOOL], previous_response_id=response.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "rain"}])
    assert second.output_text == "Tool result: rain"
    assert stack.log.last_body()["messages"][-2]["tool_calls"][0]["id"] == call.call_id


@pytest.mark.parametrize("stored", [False, True], ids=["stateless", "stored"])
def test_gemini_thought_signature_goes_back_on_its_call(stacks: dict[str, Stack],
                                                        stored: bool) -> None:
    stack = use(stacks, "gemini")
    ask = {"role": "user", "content": "Weather in Paris? Use the tool."}
    first = stack.client.responses.create(model=stack.model("mock-echo"), tools=[WEATHER_TOOL],
                                          store=stored, input=[ask])
    assert item_types(first.output) == ["reasoning", "function_call"]
    assert "thought_signature" not in first.model_dump_json()  # sealed, not shown
    call = first.output[1]
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    if stored:
        stack.client.responses.create(model=stack.model("mock-echo"), tools=[WEATHER_TOOL],
                                      previous_response_id=first.id, input=[output])
    else:
        stack.client.responses.create(model=stack.model("mock-echo"), tools=[WEATHER_TOOL],
                                      store=False, input=[
            ask, *[item.model_dump(exclude_none=True) for item in first.output], output])
    (assistant,) = messages_of(stack, "assistant")
    assert assistant["tool_calls"][0]["extra_content"] == {
        "google": {"thought_signature": thought_signature(call.call_id)}}


def test_gemini_calls_without_a_signature_get_the_validator_bypass(
        stacks: dict[str, Stack]) -> None:
    stack = use(stacks, "gemini")
    stack.client.responses.create(model=stack.model("mock-echo"), tools=[WEATHER_TOOL], input=[
        {"role": "user", "content": "Weather?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ])
    (assistant,) = messages_of(stack, "assistant")
    assert assistant["tool_calls"][0]["extra_content"] == {
        "google": {"thought_signature": "skip_thought_signature_validator"}}


@pytest.mark.parametrize("profile", ["ollama", "minimax", "tgi"])
def test_think_tags_become_reasoning_streaming(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    response, frames = post_stream(stack.http, {"model": stack.think, "input": "ponder",
                                                "stream": True})
    events = checked_stream(response, frames)
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added == ["reasoning", "message"]
    reasoning = "".join(e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta")
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert reasoning == THOUGHT
    assert text == "You said: ponder"
    assert "think>" not in orjson.dumps(events).decode()


def test_tgi_tool_calls_as_objects_are_read(stacks: dict[str, Stack]) -> None:
    stack = use(stacks, "tgi")
    response, frames = post_stream(stack.http, {"model": stack.model("mock-echo"),
                                                "input": "Use the tool.",
                                                "tools": [WEATHER_TOOL], "stream": True})
    final = checked_stream(response, frames)[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["function_call"]
    assert orjson.loads(final["output"][0]["arguments"]) == {"city": "Paris"}
