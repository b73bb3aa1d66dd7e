"""mock_rules.py: each provider preset rejects what that provider rejects, with its status and
error text (../shared/spec/providers.md), and answers in its shape. Driven over loopback HTTP,
by path (`/<profile>/v1`) and by `create_mock_app(quirks=PRESETS[...])`."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from test_mock_provider import serve

from responses_gateway.mock_rules import PRESETS, thought_signature

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]
CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"}}


def turns(assistant: dict[str, Any] | None = None, then: str = "tool") -> list[dict[str, Any]]:
    """user, assistant (a tool call), tool result (and a user message after it)."""
    messages = [{"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "tool_calls": [CALL],
                 **(assistant or {})},
                {"role": "tool", "tool_call_id": CALL["id"], "content": "sunny"}]
    if then == "user":
        messages.append({"role": "user", "content": "thanks"})
    return messages


CASES: list[tuple[str, dict[str, Any], int, Any]] = [
    ("deepseek", {"tools": TOOLS, "messages": turns()}, 400,
     "The `reasoning_content` in the thinking mode must be passed back to the API."),
    ("deepseek", {"model": "deepseek-reasoner", "messages": turns({"reasoning_content": "x"})},
     400, "The reasoning_content is an intermediate result for display purposes only and "
          "will not be included in the context for inference. Please remove the "
          "reasoning_content from your message to reduce network traffic."),
    ("moonshot", {"tools": TOOLS, "messages": turns()}, 400,
     "thinking is enabled but reasoning_content is missing in assistant tool call message "
     "at index 1"),
    ("moonshot", {"tools": TOOLS, "tool_choice": "required",
                  "messages": [{"role": "user", "content": "hi"}]}, 400,
     "tool_choice 'required' is incompatible with thinking enabled"),
    ("mistral", {"stream": True, "stream_options": {"include_usage": True}}, 422,
     {"object": "error", "message": {"detail": [{
         "type": "extra_forbidden", "loc": ["body", "stream_options"],
         "msg": "Extra inputs are not permitted", "input": {"include_usage": True}}]},
      "type": "invalid_request_error", "param": None, "code": None}),
    ("mistral", {"messages": turns({"reasoning_content": "x"})}, 422,
     "['body', 'messages', 1, 'assistant', 'reasoning_content']"),
    ("mistral", {"messages": [{"role": "user", "content": "hi", "name": "bob"}]}, 422,
     "['body', 'messages', 0, 'user', 'name']"),
    ("mistral", {"max_completion_tokens": 5}, 422, "['body', 'max_completion_tokens']"),
    ("mistral", {"messages": turns()}, 400,
     "Tool call id was call_1 but must be a-z, A-Z, 0-9, with a length of 9."),
    ("gemini", {"messages": turns()}, 400, [{"error": {"code": 400, "message": (
        "Function call is missing a thought_signature in functionCall parts. This is "
        "required for tools to work correctly, and missing thought_signature may lead to "
        "degraded model performance. Additional data, function call "
        "`default_api:get_weather` , position 2. Please refer to "
        "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."),
        "status": "INVALID_ARGUMENT"}}]),
    ("gemini", {"thinking": {"type": "enabled"}}, 400,
     'Invalid JSON payload received. Unknown name "thinking": Cannot find field.'),
    ("groq", {"messages": turns({"reasoning_content": "x"})}, 400,
     "'messages.1' : for 'role:assistant' the following must be satisfied[('messages.1' : "
     "property 'reasoning_content' is unsupported)]"),
    ("groq", {"logprobs": True}, 400, "'logprobs' : property 'logprobs' is unsupported"),
    ("xai", {"model": "grok-4", "reasoning_effort": "high"}, 400,
     {"code": "Client specified an invalid argument",
      "error": "Model grok-4 does not support parameter reasoningEffort."}),
    ("zhipu", {"messages": [{"role": "user", "content": "hi", "name": "bob"}]}, 400,
     {"error": {"code": "1214", "message": "messages 参数非法"}}),
    ("siliconflow", {"model": "mock-echo", "enable_thinking": True}, 400,
     {"code": 20015, "message": "current model does not support parameter `enable_thinking`.",
      "data": None}),
    ("ark", {"thinking": {"type": "sometimes"}}, 400, "Unsupported thinking type"),
    ("anthropic", {"thinking": {"type": "enabled", "budget_tokens": 100}}, 400,
     "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
    ("openai", {"max_tokens": 5}, 400, "Unsupported parameter: 'max_tokens' is not supported "
     "with this model. Use 'max_completion_tokens' instead."),
]


@pytest.mark.parametrize(("preset", "body", "status", "error"), CASES,
                         ids=[f"{case[0]}-{n}" for n, case in enumerate(CASES)])
def test_each_preset_rejects_as_its_provider_does(preset: str, body: dict[str, Any],
                                                  status: int, error: Any) -> None:
    request = {"model": "mock-think", "messages": [{"role": "user", "content": "hi"}], **body}

    async def scenario(session: aiohttp.ClientSession) -> tuple[int, Any]:
        async with session.post(f"/{preset}/v1/chat/completions", json=request) as response:
            return response.status, await response.json()

    got_status, got = serve(scenario)
    assert got_status == status
    if isinstance(error, str):
        assert error in str(got) or error in repr(got), got
    else:
        assert got == error


def test_the_same_request_passes_where_the_provider_takes_it() -> None:
    good = turns({"reasoning_content": "Let me think about call_1."})

    async def scenario(session: aiohttp.ClientSession) -> list[int]:
        statuses = []
        for path, body in [("/deepseek/v1", {"tools": TOOLS, "messages": good}),
                           ("/moonshot/v1", {"tools": TOOLS, "messages": good}),
                           ("/xai/v1", {"model": "grok-3-mini", "reasoning_effort": "high"}),
                           ("/v1", {"max_tokens": 5})]:
            request = {"model": "mock-think", "messages": [{"role": "user", "content": "hi"}],
                       **body}
            async with session.post(f"{path}/chat/completions", json=request) as response:
                statuses.append(response.status)
        return statuses

    assert serve(scenario) == [200, 200, 200, 200]


def test_presets_by_flag_equal_presets_by_path() -> None:
    async def scenario(session: aiohttp.ClientSession) -> int:
        async with session.post("/v1/chat/completions", json={
                "model": "m", "messages": turns()}) as response:
            return response.status

    assert serve(scenario, quirks=PRESETS["mistral"]) == 400


def test_unknown_preset_path_is_404() -> None:
    async def scenario(session: aiohttp.ClientSession) -> int:
        async with session.post("/nope/v1/chat/completions", json={}) as response:
            return response.status

    assert serve(scenario) == 404


def test_answers_in_the_providers_shape() -> None:
    ask = {"model": "mock-think", "tools": TOOLS,
           "messages": [{"role": "user", "content": "weather? use the tool"}]}

    async def scenario(session: aiohttp.ClientSession) -> dict[str, Any]:
        answers = {}
        for preset in ("mistral", "gemini", "groq", "openrouter", "tgi", "anthropic"):
            async with session.post(f"/{preset}/v1/chat/completions", json=ask) as response:
                answers[preset] = (await response.json())["choices"][0]["message"]
        return answers

    answers = serve(scenario)
    mistral_id = answers["mistral"]["tool_calls"][0]["id"]
    assert len(mistral_id) == 9 and mistral_id.isalnum()
    gemini_call = answers["gemini"]["tool_calls"][0]
    assert gemini_call["extra_content"] == {"google": {
        "thought_signature": thought_signature(gemini_call["id"])}}
    assert "reasoning_content" not in answers["gemini"]
    assert answers["groq"]["reasoning"] == "Let me think about call_mock_1."
    assert answers["openrouter"]["reasoning_details"][0]["type"] == "reasoning.text"
    assert answers["tgi"]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert "reasoning_content" not in answers["anthropic"]


@pytest.mark.parametrize(("preset", "body", "status", "message"), [
    ("gemini", {"messages": turns()}, 400,
     "Function call is missing a thought_signature in functionCall parts."),
    ("mistral", {"max_completion_tokens": 5}, 422,
     '{"detail":[{"type":"extra_forbidden","loc":["body","max_completion_tokens"]'),
    ("xai", {"model": "grok-4", "reasoning_effort": "high"}, 400,
     "Model grok-4 does not support parameter reasoningEffort."),
    ("siliconflow", {"model": "mock-echo", "enable_thinking": True}, 400,
     "current model does not support parameter `enable_thinking`."),
])
def test_the_gateway_reads_each_providers_error_shape(preset: str, body: dict[str, Any],
                                                      status: int, message: str) -> None:
    """UpstreamClient turns a list of one error (Gemini), a structured message (Mistral) and
    bare `error`/`message` bodies (xAI, SiliconFlow) into the status and a readable message."""
    from responses_gateway.config import DEFAULT_LIMITS, DEFAULT_TIMEOUTS, Upstream
    from responses_gateway.protocol.errors import UpstreamStatus
    from responses_gateway.upstream import UpstreamClient, create_session

    request = {"model": "mock-think", "messages": [{"role": "user", "content": "hi"}], **body}

    async def scenario(session: aiohttp.ClientSession) -> UpstreamStatus:
        base = str(session._base_url)  # the mock's address (serve() opened the session)
        upstream = Upstream.from_url(f"{base.rstrip('/')}/{preset}/v1", profile="generic")
        async with create_session(DEFAULT_TIMEOUTS, DEFAULT_LIMITS) as client_session:
            client = UpstreamClient(client_session, upstream, DEFAULT_TIMEOUTS)
            with pytest.raises(UpstreamStatus) as caught:
                await client.complete(request)
        return caught.value

    error = serve(scenario)
    assert error.status == status
    assert message in error.message
    assert not error.message.startswith(("[{'", "{'"))  # never a Python repr
