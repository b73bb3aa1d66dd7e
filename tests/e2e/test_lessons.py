"""Issue 10 item 1: a refusal that names a field is fixed, retried once before anything reaches
the client, and remembered, so the next request is right the first time (lessons.py).

Each test starts a gateway with nothing but a base URL it does not recognise (the adaptive
profile) in front of a mock provider that rejects something with a real provider's status
and text (mock quirks, or a mock preset chosen by the path: `/mistral/v1`). The mock's
request log shows what was sent and how often.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from e2e_support import CLIENT_KEY, UPSTREAM_KEY, MockLog, Server, free_port

WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"]}}


class Stack:
    """A mock provider with some quirks and an adaptive gateway in front of it."""

    def __init__(self, spawn: Callable[..., Server], tmp: Path, name: str, quirks: list[str],
                 path: str = "/v1") -> None:
        port = free_port()
        args = [arg for quirk in quirks for arg in ("--quirk", quirk)]
        self.mock = spawn(f"lessons-mock-{name}", [
            "mock-provider", "--port", str(port), "--api-key", UPSTREAM_KEY, *args,
        ], "/v1/models", port=port, ready_headers={"Authorization": f"Bearer {UPSTREAM_KEY}"})
        gateway_port = free_port()
        self.gateway = spawn(f"lessons-gateway-{name}", [
            "--base-url", f"{self.mock.url}{path}", "--store", "memory",
            "--data-dir", str(tmp), "--port", str(gateway_port),
        ], "/health", port=gateway_port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})
        self.log = MockLog(self.mock)
        self.client = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=CLIENT_KEY,
                                    max_retries=0, timeout=30)

    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.log.chat_requests()]

    def ask(self, stream: bool, **options: Any) -> Any:
        """A response, streamed or not; a stream's terminal event's response."""
        if not stream:
            return self.client.responses.create(**options)
        with self.client.responses.stream(**options) as events:
            for _ in events:
                pass
            return events.get_final_response()


@pytest.fixture(scope="module")
def stack_of(spawn_server: Callable[..., Server],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Stack]]:
    """`stack_of(name, quirks, path)`: one stack per name for the module (a fresh gateway
    each, so each test starts with nothing learned)."""
    stacks: dict[str, Stack] = {}

    def get(name: str, quirks: list[str], path: str = "/v1") -> Stack:
        if name not in stacks:
            stacks[name] = Stack(spawn_server, tmp_path_factory.mktemp(name), name, quirks, path)
        stack = stacks[name]
        stack.log.clear()
        return stack

    yield get
    for stack in stacks.values():
        stack.client.close()
        stack.gateway.stop()
        stack.mock.stop()


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_rejected_field_is_dropped_retried_once_and_remembered(
        stack_of: Callable[..., Stack], stream: bool) -> None:
    # Mistral (the mock's preset, by path): 422 extra_forbidden for stream_options, user,
    # max_completion_tokens; the gateway does not know the host, so it cannot know that.
    stack = stack_of(f"mistral-{stream}", [], "/mistral/v1")
    # One refused field per request: a stream's stream_options, a whole answer's user.
    user = {} if stream else {"safety_identifier": "u1"}
    first = stack.ask(stream, model="mock-echo", input="hello", **user)

    assert first.status == "completed" and first.output_text == "You said: hello"
    tried, retried = stack.bodies()
    refused = "stream_options" if stream else "user"
    assert refused in tried and refused not in retried
    stack.log.clear()
    second = stack.ask(stream, model="mock-echo", input="again", **user)

    assert second.output_text == "You said: again"
    (body,) = stack.bodies()  # no failing first try: the fix was remembered
    assert refused not in body


def test_max_tokens_is_renamed_when_the_provider_asks_for_max_completion_tokens(
        stack_of: Callable[..., Stack]) -> None:
    stack = stack_of("max-completion-tokens", ["max-completion-tokens"])
    answer = stack.ask(False, model="mock-echo", input="hi", max_output_tokens=50)

    assert answer.output_text == "You said: hi"
    tried, retried = stack.bodies()
    assert tried["max_tokens"] == 50 and retried["max_completion_tokens"] == 50
    assert "max_tokens" not in retried
    stack.log.clear()
    stack.ask(True, model="mock-echo", input="hi", max_output_tokens=50)
    (body,) = stack.bodies()
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_missing_reasoning_is_added_under_the_field_the_provider_names(
        stack_of: Callable[..., Stack], stream: bool) -> None:
    """DeepSeek V4's rule (the mock's deepseek-v4 rule, its exact text): with tools, every
    assistant turn needs reasoning_content. History from elsewhere has none, and this
    gateway has not seen the provider reason yet, so the first try lacks it."""
    stack = stack_of(f"deepseek-v4-{stream}", ["deepseek-v4"])
    history: list[Any] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "thanks"},
    ]
    answer = stack.ask(stream, model="mock-echo", input=history, tools=[WEATHER_TOOL])

    assert answer.status == "completed" and answer.output_text == "You said: thanks"
    tried, retried = stack.bodies()
    assert "reasoning_content" not in tried["messages"][1]
    assert retried["messages"][1] == {"role": "assistant", "content": "Hello.",
                                      "reasoning_content": ""}
    stack.log.clear()
    stack.ask(stream, model="mock-echo", input=history, tools=[WEATHER_TOOL])
    (body,) = stack.bodies()
    assert body["messages"][1]["reasoning_content"] == ""


def test_a_second_refusal_is_passed_on_and_learned_for_next_time(
        stack_of: Callable[..., Stack]) -> None:
    stack = stack_of("two-refusals", ["no-stream-options", "max-completion-tokens"])
    options: dict[str, Any] = {"model": "mock-echo", "input": "hi", "max_output_tokens": 9}
    with pytest.raises(openai.BadRequestError) as refused:
        stack.ask(True, **options)

    assert "max_completion_tokens" in str(refused.value)  # the retry's own refusal
    assert len(stack.bodies()) == 2  # one retry, never more
    stack.log.clear()
    answer = stack.ask(True, **options)

    assert answer.output_text == "You said: hi"
    (body,) = stack.bodies()  # both fixes learned: right the first time
    assert "stream_options" not in body and body["max_completion_tokens"] == 9


def _failed_stream(stack: Stack, text: str) -> list[str]:
    """The event types of a stream that breaks off with an error event (which the SDK raises
    as APIError once it arrives)."""
    events: list[str] = []
    with pytest.raises(openai.APIError, match="stream_options"):
        with stack.client.responses.create(model="mock-echo", input=text, stream=True) as s:
            for event in s:
                events.append(event.type)
    assert "response.output_text.delta" in events, events
    return events


def test_no_retry_once_bytes_reached_the_client(stack_of: Callable[..., Stack]) -> None:
    """The provider refuses with a fixable 400 only after its first chunks: the client already
    has events, so the response fails and nothing is sent again (or learned)."""
    stack = stack_of("midstream", ["midstream-400"])
    assert _failed_stream(stack, "hello there friend")[:2] == [
        "response.created", "response.in_progress"]
    (body,) = stack.bodies()
    stack.log.clear()
    stack.ask(False, model="mock-echo", input="hi")
    (later,) = stack.bodies()
    assert "stream_options" not in later  # a whole request: it never had them
    stack.log.clear()
    _failed_stream(stack, "again")
    (streamed,) = stack.bodies()
    assert "stream_options" in streamed  # nothing was learned from the mid-stream refusal


def test_an_error_that_names_nothing_fixable_is_passed_on_without_a_retry(
        stack_of: Callable[..., Stack]) -> None:
    stack = stack_of("plain", [])
    with pytest.raises(openai.BadRequestError) as refused:
        stack.ask(False, model="mock-error-400", input="hi")
    assert "mock error 400" in str(refused.value)
    assert len(stack.bodies()) == 1


def test_metrics_count_what_was_learned_and_retried(stack_of: Callable[..., Stack]) -> None:
    import httpx2

    stack = stack_of("metrics-max-completion-tokens", ["max-completion-tokens"])
    stack.ask(False, model="mock-echo", input="hi", max_output_tokens=50)
    stack.ask(False, model="mock-echo", input="hi again", max_output_tokens=50)
    text = httpx2.get(stack.gateway.url + "/metrics", timeout=10).text
    lines = [line for line in text.splitlines()
             if line.startswith("responses_gateway_upstream_retries_total{")]
    fix = "send 'max_tokens' as 'max_completion_tokens'"
    assert any(f'fix="{fix}"' in line and 'outcome="retried"' in line and line.endswith(" 1.0")
               for line in lines), lines
    assert any('outcome="learned"' in line and line.endswith(" 1.0") for line in lines), lines
