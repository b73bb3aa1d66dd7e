"""End to end: every provider profile against a fake provider that enforces that provider's quirks.

Issue #4 "Done means": each profile (openai, azure, dashscope, deepseek, moonshot, vllm, ollama,
generic) gets its own mock provider, started with the quirks of the real provider, and its own
gateway started with `--provider <name>` (the mocks are on 127.0.0.1, so nothing can be
detected from the URL). All 16 processes start once, in parallel, for this module. The openai
SDK drives each gateway with `_strict_response_validation=True`; what the provider received is
read from the mock's request log, so each quirk is checked on the wire, not only by the lack of
a 400.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx2
import openai
import orjson
import pydantic
import pytest
from e2e_support import CLIENT_KEY, MockLog, Server, checked_stream, free_port, post_stream

from responses_gateway.translate.reasoning import ReasoningSeal

AZURE_VERSION = "2024-10-21"  # the azure profile's default api-version
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
    """A real provider's quirks (as mock quirks) and what its profile must send it."""

    quirks: tuple[str, ...]
    developer: bool = False  # `developer` reaches the provider as is (else: `system`)
    limit_field: str = "max_tokens"
    strips_schema: bool = False  # `$schema` removed from response_format
    knob_high: dict[str, Any] = field(default_factory=dict)  # for reasoning.effort "high"
    knob_none: dict[str, Any] = field(default_factory=dict)  # for reasoning.effort "none"
    none_stops_thinking: bool = False  # with effort "none" the model gives no reasoning
    replay: bool = False  # earlier reasoning goes back as reasoning_content
    placeholder: str | None = None  # reasoning_content of a tool-call turn without reasoning
    string_content: bool = False  # text-only content arrays are sent as one string
    azure: bool = False


_EFFORT = {"reasoning_effort": "high"}
_EFFORT_NONE = {"reasoning_effort": "none"}
SPECS: dict[str, Spec] = {
    "openai": Spec(("max-completion-tokens", "no-reasoning-replay"), developer=True,
                   limit_field="max_completion_tokens", knob_high=_EFFORT,
                   knob_none=_EFFORT_NONE),
    "azure": Spec(("azure", "max-completion-tokens", "no-reasoning-replay"), developer=True,
                  limit_field="max_completion_tokens", knob_high=_EFFORT,
                  knob_none=_EFFORT_NONE, azure=True),
    "dashscope": Spec(("no-developer", "no-schema-key", "enable-thinking"), strips_schema=True,
                      knob_high={"enable_thinking": True, "thinking_budget": 32768},
                      knob_none={"enable_thinking": False}, none_stops_thinking=True,
                      replay=True),
    "deepseek": Spec(("string-content", "no-developer", "no-schema-key", "deepseek-thinking",
                      "require-reasoning-content"), strips_schema=True,
                     knob_high={"thinking": {"type": "enabled"}},
                     knob_none={"thinking": {"type": "disabled"}}, none_stops_thinking=True,
                     replay=True, placeholder="(reasoning omitted)", string_content=True),
    "moonshot": Spec(("no-finish-reason", "no-developer", "no-schema-key",
                      "require-reasoning-content"), strips_schema=True, replay=True,
                     placeholder="(reasoning omitted)"),
    # They know only low/medium/high: "none" is left out rather than sent (providers.py).
    "vllm": Spec(("think-tags", "no-developer", "no-reasoning-replay"), knob_high=_EFFORT),
    "ollama": Spec(("think-tags", "no-developer", "no-schema-key", "no-reasoning-replay"),
                   strips_schema=True, knob_high=_EFFORT),
    "generic": Spec(("no-developer", "no-reasoning-replay")),
}
ALL = list(SPECS)


@dataclass
class Stack:
    """One profile: its mock provider, its gateway and clients on that gateway."""

    profile: str
    spec: Spec
    key: str  # the upstream key the mock requires
    mock: Server
    gateway: Server
    log: MockLog
    client: openai.OpenAI
    http: httpx2.Client


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stacks(spawn_server: Callable[..., Server],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stack]]:
    """All profiles' processes, started in parallel (mocks and gateways at once: a gateway
    needs its provider only when a request comes)."""
    def start_mock(name: str) -> Server:
        spec, port = SPECS[name], free_port()
        quirks = [arg for quirk in spec.quirks for arg in ("--quirk", quirk)]
        ready, headers = "/v1/models", {"Authorization": f"Bearer {_key(name)}"}
        if spec.azure:
            ready, headers = f"/v1/models?api-version={AZURE_VERSION}", {"api-key": _key(name)}
        return spawn_server(f"mock-{name}", ["mock-provider", "--port", str(port), "--api-key",
                                             _key(name), *quirks], ready, port=port,
                            ready_headers=headers)

    def start_gateway(name: str, mock_port: int, data_dir: Path) -> Server:
        port = free_port()
        return spawn_server(f"gateway-{name}", [
            "--base-url", f"http://127.0.0.1:{mock_port}/v1", "--provider", name,
            "--port", str(port), "--store", "memory", "--data-dir", str(data_dir),
        ], "/health", port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": _key(name)})

    with ThreadPoolExecutor(max_workers=2 * len(ALL)) as pool:
        mocks = {name: pool.submit(start_mock, name) for name in ALL}
        # Each gateway starts as soon as its provider is up (it needs the provider's URL).
        gateways = {name: pool.submit(lambda n=name: start_gateway(
            n, int(mocks[n].result().url.rsplit(":", 1)[1]),
            tmp_path_factory.mktemp(f"data-{n}"))) for name in ALL}
        result = {}
        for name in ALL:
            mock, gateway = mocks[name].result(), gateways[name].result()
            result[name] = Stack(
                name, SPECS[name], _key(name), mock, gateway, MockLog(mock),
                openai.OpenAI(base_url=gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                              timeout=30, _strict_response_validation=True),
                httpx2.Client(base_url=gateway.url, timeout=30,
                              headers={"Authorization": f"Bearer {CLIENT_KEY}"}))
    yield result
    for stack in result.values():
        stack.client.close()
        stack.http.close()
        stack.gateway.stop()
        stack.mock.stop()


def _key(profile: str) -> str:
    return f"sk-upstream-{profile}"


def use(stacks: dict[str, Stack], profile: str) -> Stack:
    stack = stacks[profile]
    stack.log.clear()
    return stack


# -- helpers ------------------------------------------------------------------------------------


def assert_upstream_auth(stack: Stack, entry: dict[str, Any]) -> None:
    """The provider got its key the way it wants it, and nothing else."""
    headers, query = entry["headers"], entry["query"]
    if stack.spec.azure:
        assert headers.get("api-key") == stack.key
        assert "authorization" not in headers
        assert query == {"api-version": AZURE_VERSION}
    else:
        assert headers.get("authorization") == f"Bearer {stack.key}"
        assert "api-key" not in headers
        assert query == {}
    assert CLIENT_KEY not in orjson.dumps(headers).decode()


def knobs(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body[key] for key in KNOBS if key in body}


def messages_of(stack: Stack, role: str) -> list[dict[str, Any]]:
    return [m for m in stack.log.last_body()["messages"] if m["role"] == role]


def item_types(output: list[Any]) -> list[str]:
    return [item.type for item in output]


# -- every profile ------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL)
def test_text(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    response = stack.client.responses.create(model="mock-echo", input="hello")
    assert response.status == "completed"
    assert response.output_text == "You said: hello"
    entry = stack.log.last_chat()
    assert entry["path"] == "/v1/chat/completions"
    assert entry["body"]["model"] == "mock-echo"
    assert entry["body"]["messages"] == [{"role": "user", "content": "hello"}]
    assert_upstream_auth(stack, entry)


@pytest.mark.parametrize("profile", ALL)
def test_models_list(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    ids = [model.id for model in stack.client.models.list()]
    assert "mock-echo" in ids and "mock-think" in ids
    (entry,) = stack.log.requests()
    assert entry["path"] == "/v1/models"
    assert_upstream_auth(stack, entry)


@pytest.mark.parametrize("profile", ALL)
def test_streaming(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    response, frames = post_stream(stack.http, {"model": "mock-echo", "input": "hello stream",
                                                "stream": True})
    events = checked_stream(response, frames)
    assert events[-1]["type"] == "response.completed"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: hello stream"
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == text
    assert final["usage"]["input_tokens"] > 0  # the usage chunk was asked for and read
    entry = stack.log.last_chat()
    assert entry["body"]["stream"] is True
    assert entry["body"]["stream_options"] == {"include_usage": True}
    assert_upstream_auth(stack, entry)


class City(pydantic.BaseModel):
    # openai-node (zod-to-json-schema) puts `$schema` in every schema it sends.
    model_config = pydantic.ConfigDict(json_schema_extra={"$schema": SCHEMA_URI})
    city: str
    days: int


@pytest.mark.parametrize("profile", ALL)
def test_structured_output_parse(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    parsed = stack.client.responses.parse(model="mock-json", input="Where, how long?",
                                          text_format=City)
    assert parsed.output_parsed == City(city="Paris", days=1)
    sent = stack.log.last_body()
    response_format = sent["response_format"]
    if profile == "deepseek":
        # JSON mode only: the schema travels in a system message instead.
        assert response_format == {"type": "json_object"}
        instruction = sent["messages"][0]
        assert instruction["role"] == "system" and "JSON schema" in instruction["content"]
        assert "$schema" not in instruction["content"]
        return
    assert response_format["type"] == "json_schema"
    json_schema = response_format["json_schema"]
    assert json_schema["name"] == "City" and json_schema["strict"] is True
    schema = json_schema["schema"]
    assert ("$schema" in schema) is not stack.spec.strips_schema
    assert schema["required"] == ["city", "days"]
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("profile", ALL)
def test_reasoning_effort_uses_the_providers_knob(stacks: dict[str, Stack],
                                                  profile: str) -> None:
    stack = use(stacks, profile)
    response = stack.client.responses.create(model="mock-think", input="ponder",
                                             reasoning={"effort": "high"})
    assert knobs(stack.log.last_body()) == stack.spec.knob_high  # never `reasoning` itself
    assert response.reasoning is not None and response.reasoning.effort == "high"
    assert item_types(response.output) == ["reasoning", "message"]
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert [part.text.strip() for part in reasoning.content or []] == [THOUGHT]
    assert [part.text.strip() for part in reasoning.summary] == [THOUGHT]
    assert response.output_text == "You said: ponder"


@pytest.mark.parametrize("profile", ALL)
def test_reasoning_effort_none(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    response = stack.client.responses.create(model="mock-think", input="ponder",
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
    response = stack.client.responses.create(model="mock-echo", instructions="Be brief.", input=[
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
    response = stack.client.responses.create(model="mock-echo", input="hi",
                                             max_output_tokens=64)
    assert response.max_output_tokens == 64
    body = stack.log.last_body()
    other = {"max_tokens", "max_completion_tokens"} - {stack.spec.limit_field}
    assert body[stack.spec.limit_field] == 64
    assert not other & set(body)


@pytest.mark.parametrize("profile", ALL)
def test_text_parts(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    stack.client.responses.create(model="mock-echo", input=[{"role": "user", "content": [
        {"type": "input_text", "text": "one"}, {"type": "input_text", "text": "two"}]}])
    (user,) = messages_of(stack, "user")
    if stack.spec.string_content:
        assert user["content"] == "one\ntwo"
    else:
        assert user["content"] == [{"type": "text", "text": "one"},
                                   {"type": "text", "text": "two"}]


@pytest.mark.parametrize("profile", ALL)
def test_tool_round_trip_replays_reasoning(stacks: dict[str, Stack], profile: str) -> None:
    """Codex's way: store false, the first answer streamed, and its reasoning item, call and
    the call's output sent back whole; the provider gets the reasoning back where it wants
    it (and only there)."""
    stack = use(stacks, profile)
    ask = {"role": "user", "content": "What is the weather in Paris? Use the tool."}
    common: dict[str, Any] = {"model": "mock-think", "tools": [WEATHER_TOOL], "store": False,
                              "reasoning": {"effort": "high"}}
    with stack.client.responses.stream(input=[ask], **common) as stream:
        first = stream.get_final_response()
    assert first.status == "completed"
    assert item_types(first.output) == ["reasoning", "function_call"]
    reasoning, call = first.output
    assert reasoning.type == "reasoning" and call.type == "function_call"
    assert reasoning.encrypted_content
    assert [part.text.strip() for part in reasoning.content or []] == [
        f"Let me think about {call.call_id}."]
    assert call.name == "get_weather" and orjson.loads(call.arguments) == {"city": "Paris"}

    replayed = {"type": "reasoning", "id": reasoning.id, "encrypted_content":
                reasoning.encrypted_content,
                "summary": [part.model_dump() for part in reasoning.summary]}
    second = stack.client.responses.create(input=[
        ask, replayed, call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ], **common)
    assert second.status == "completed"
    assert second.output_text == "Tool result: sunny"
    assert item_types(second.output) == ["reasoning", "message"]
    body = stack.log.last_body()
    assert knobs(body) == stack.spec.knob_high
    parameters = body["tools"][0]["function"]["parameters"]
    assert ("$schema" in parameters) is not stack.spec.strips_schema
    (assistant,) = messages_of(stack, "assistant")
    assert [c["id"] for c in assistant["tool_calls"]] == [call.call_id]
    if stack.spec.replay:
        assert assistant["reasoning_content"].strip() == f"Let me think about {call.call_id}."
    else:
        assert "reasoning_content" not in assistant
    assert messages_of(stack, "tool") == [{"role": "tool", "tool_call_id": call.call_id,
                                           "content": "sunny"}]


@pytest.mark.parametrize("profile", ALL)
def test_foreign_reasoning_is_not_trusted(stacks: dict[str, Stack], profile: str) -> None:
    """A reasoning item sealed under another key is ignored: a placeholder goes where the
    provider needs reasoning_content, and its text never reaches the provider."""
    stack = use(stacks, profile)
    blob = ReasoningSeal(os.urandom(32)).seal("forged thoughts", provider="default",
                                              model="mock-think", nonce=os.urandom(12))
    response = stack.client.responses.create(model="mock-think", tools=[WEATHER_TOOL],
                                             reasoning={"effort": "high"}, store=False, input=[
        {"role": "user", "content": "Weather in Paris? Use the tool."},
        {"type": "reasoning", "id": "rs_forged", "encrypted_content": blob, "summary": []},
        {"type": "function_call", "call_id": "call_x", "name": "get_weather",
         "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_x", "output": "sunny"},
    ])
    assert response.output_text == "Tool result: sunny"
    (assistant,) = messages_of(stack, "assistant")
    assert "forged" not in orjson.dumps(stack.log.last_body()).decode()
    if stack.spec.replay and stack.spec.placeholder:
        assert assistant["reasoning_content"] == stack.spec.placeholder
    else:
        assert "reasoning_content" not in assistant


# -- particular providers -----------------------------------------------------------------------


@pytest.mark.parametrize("model, kind", [("mock-echo", "message"),
                                         ("mock-think", "reasoning")])
def test_moonshot_stream_without_finish_reason_or_done_completes(
        stacks: dict[str, Stack], model: str, kind: str) -> None:
    stack = use(stacks, "moonshot")
    response, frames = post_stream(stack.http, {"model": model, "input": "hello",
                                                "stream": True})
    events = checked_stream(response, frames)
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["type"] == kind
    assert events[-1]["response"]["output"][-1]["content"][0]["text"] == "You said: hello"
    assert stack.log.last_body()["stream"] is True


def test_moonshot_tool_call_stream_without_finish_reason_completes(
        stacks: dict[str, Stack]) -> None:
    stack = use(stacks, "moonshot")
    response, frames = post_stream(stack.http, {"model": "mock-echo", "input": "Use the tool.",
                                                "tools": [WEATHER_TOOL], "stream": True})
    events = checked_stream(response, frames)
    final = events[-1]["response"]
    assert events[-1]["type"] == "response.completed"
    assert [item["type"] for item in final["output"]] == ["function_call"]
    assert final["output"][0]["status"] == "completed"


@pytest.mark.parametrize("profile", ["vllm", "ollama"])
def test_think_tags_become_reasoning_non_streaming(stacks: dict[str, Stack],
                                                   profile: str) -> None:
    stack = use(stacks, profile)
    response = stack.client.responses.create(model="mock-think", input="ponder")
    assert item_types(response.output) == ["reasoning", "message"]
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert [part.text.strip() for part in reasoning.content or []] == [THOUGHT]
    assert response.output_text == "You said: ponder"
    assert "think>" not in response.model_dump_json()
    # The provider really sent tags in the content (and no reasoning_content).
    assert "reasoning_content" not in stack.log.last_body()


@pytest.mark.parametrize("profile", ["vllm", "ollama"])
def test_think_tags_become_reasoning_streaming(stacks: dict[str, Stack], profile: str) -> None:
    stack = use(stacks, profile)
    response, frames = post_stream(stack.http, {"model": "mock-think", "input": "ponder",
                                                "stream": True})
    events = checked_stream(response, frames)
    types = [e["type"] for e in events]
    assert types.index("response.reasoning_summary_text.delta") < types.index(
        "response.output_text.delta")
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added == ["reasoning", "message"]
    reasoning = "".join(e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta")
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert reasoning.strip() == THOUGHT
    assert text == "You said: ponder"
    assert "think>" not in orjson.dumps(events).decode()
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    # Streamed and non-streamed answers agree on the reasoning text, whitespace included.
    whole = stack.client.responses.create(model="mock-think", input="ponder")
    assert whole.output[0].content[0].text == reasoning == final["output"][0]["content"][0]["text"]


def test_think_tags_reasoning_has_no_layout_newlines(stacks: dict[str, Stack]) -> None:
    stack = use(stacks, "vllm")
    response = stack.client.responses.create(model="mock-think", input="ponder")
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    assert [part.text for part in reasoning.content or []] == [THOUGHT]
    assert [part.text for part in reasoning.summary] == [THOUGHT]
