"""The mock chat.completions provider, driven over real loopback HTTP."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import aiohttp
import orjson
import pytest
from aiohttp import web

from responses_gateway.mock_provider import MODELS, QUIRKS, create_mock_app

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def serve(scenario: Callable[[aiohttp.ClientSession], Awaitable[Any]], **app_options: Any) -> Any:
    """Run `scenario` against a fresh mock provider on an ephemeral loopback port."""

    async def main() -> Any:
        runner = web.AppRunner(create_mock_app(**app_options))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
                return await scenario(session)
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def chat(text: str, model: str = "mock-echo", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


async def post(session: aiohttp.ClientSession, body: Any) -> tuple[int, Any]:
    async with session.post("/v1/chat/completions", json=body) as response:
        return response.status, await response.json()


async def post_stream(session: aiohttp.ClientSession,
                      body: dict[str, Any]) -> tuple[list[Any], str]:
    """The data frames of a streamed answer (parsed, except `[DONE]`) and the raw text."""
    async with session.post("/v1/chat/completions", json={**body, "stream": True}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        raw = await response.text()
    frames = []
    for block in raw.split("\n\n")[:-1]:
        assert block.startswith("data: ")
        data = block.removeprefix("data: ")
        frames.append(data if data == "[DONE]" else orjson.loads(data))
    assert raw.endswith("\n\n")
    return frames, raw


def test_echo_non_stream() -> None:
    body = {"model": "mock-echo", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hello"},
                                     {"type": "image_url", "image_url": {"url": "data:,"}},
                                     {"type": "text", "text": "there"}]},
    ]}
    status, answer = serve(lambda s: post(s, body))
    assert status == 200
    assert answer["object"] == "chat.completion"
    assert answer["id"] == "chatcmpl-mock-1"
    choice = answer["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "You said: hello there"
    assert choice["finish_reason"] == "stop"
    assert answer["usage"]["prompt_tokens"] == 4
    assert answer["usage"]["completion_tokens"] == 4
    assert answer["usage"]["total_tokens"] == 8


def test_echo_stream_reassembles_exactly_with_done_and_usage() -> None:
    text = "hello   wide  world \n again"
    body = chat(text, stream_options={"include_usage": True})
    frames, _ = serve(lambda s: post_stream(s, body))
    assert frames[-1] == "[DONE]"
    usage_chunk = frames[-2]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 4
    assert usage_chunk["usage"]["completion_tokens"] == 6
    assert usage_chunk["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}
    chunks = frames[:-2]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert {c["id"] for c in chunks} == {"chatcmpl-mock-1"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert content == f"You said: {text}"
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) > 2
    reasons = [c["choices"][0]["finish_reason"] for c in chunks]
    assert reasons[-1] == "stop" and set(reasons[:-1]) == {None}


def test_tool_call_stream_deltas() -> None:
    body = chat("What is the weather in Paris?", tools=[WEATHER_TOOL])
    frames, _ = serve(lambda s: post_stream(s, body))
    assert frames[-1] == "[DONE]"
    deltas = [f["choices"][0]["delta"] for f in frames[:-1]]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0] == {"index": 0, "id": "call_mock_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    fragments = calls[1:]
    assert 2 <= len(fragments) <= 3
    assert all(set(f) == {"index", "function"} and set(f["function"]) == {"arguments"}
               for f in fragments)
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    assert orjson.loads(arguments) == {"city": "Paris"}
    assert not any(d.get("content") for d in deltas)
    assert frames[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_parallel_tool_calls_and_patch_input() -> None:
    patch_tool = {"type": "function", "function": {
        "name": "apply_patch",
        "parameters": {"type": "object", "properties": {"input": {"type": "string"}}}}}
    body = chat("use two tools please", tools=[WEATHER_TOOL, patch_tool])
    status, answer = serve(lambda s: post(s, body))
    assert status == 200
    message = answer["choices"][0]["message"]
    assert message["content"] is None
    assert [c["id"] for c in message["tool_calls"]] == ["call_mock_1", "call_mock_2"]
    assert orjson.loads(message["tool_calls"][1]["function"]["arguments"]) == {
        "input": "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"}
    assert answer["choices"][0]["finish_reason"] == "tool_calls"


def test_request_log_records_rejected_requests_and_clears() -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        await post(session, chat("one"))
        await post(session, chat("two", store=True))
        async with session.get("/v1/models", headers={"X-Trace": "abc"}) as response:
            assert [m["id"] for m in (await response.json())["data"]] == list(MODELS)
        async with session.get("/_mock/requests") as response:
            log = (await response.json())["requests"]
        assert [entry["path"] for entry in log] == ["/v1/chat/completions"] * 2 + ["/v1/models"]
        assert log[0]["body"] == chat("one")
        assert log[1]["body"]["store"] is True
        assert log[0]["headers"]["content-type"] == "application/json"
        assert log[2]["headers"]["x-trace"] == "abc" and log[2]["body"] is None
        async with session.delete("/_mock/requests") as response:
            assert response.status == 204
        async with session.get("/_mock/requests") as response:
            assert (await response.json()) == {"requests": []}

    serve(scenario)


def test_store_is_rejected_like_a_chat_provider() -> None:
    status, answer = serve(lambda s: post(s, chat("hi", store=False)))
    assert status == 400
    assert answer["error"]["message"] == "Unrecognized request argument supplied: store"
    assert answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["param"] == "store"


def test_rate_limit_error_has_retry_after() -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        body = chat("hi", model="mock-error-429", stream=True)
        async with session.post("/v1/chat/completions", json=body) as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "7"
            assert response.content_type == "application/json"
            error = (await response.json())["error"]
        assert error == {"message": "mock error 429", "type": "rate_limit_error",
                         "param": None, "code": "mock_429"}

    serve(scenario)


def test_require_reasoning_content_quirk() -> None:
    def history(**assistant_extra: Any) -> dict[str, Any]:
        call = {"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        return {"model": "mock-think", "tools": [WEATHER_TOOL], "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call], **assistant_extra},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ]}

    async def scenario(session: aiohttp.ClientSession) -> None:
        status, answer = await post(session, history())
        assert status == 400
        assert "reasoning_content" in answer["error"]["message"]
        status, answer = await post(session, history(reasoning_content="Need the weather."))
        assert status == 200
        message = answer["choices"][0]["message"]
        assert message["content"] == "Tool result: sunny"
        assert message["reasoning_content"] == "Let me think about this."
        assert answer["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5

    serve(scenario, quirks=frozenset({"require-reasoning-content"}))
    status, _ = serve(lambda s: post(s, history()))  # without the quirk it is accepted
    assert status == 200


def test_unanswered_tool_call_is_rejected() -> None:
    call = {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = {"model": "mock-echo", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "well?"},
    ]}
    status, answer = serve(lambda s: post(s, body))
    assert status == 400
    assert answer["error"]["message"].startswith(
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'")


def test_fail_and_drop_midstream() -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        frames, _ = await post_stream(session, chat("a b c d", model="mock-fail-midstream"))
        assert [f["choices"][0]["delta"].get("content") for f in frames[1:3]] == ["You ", "said: "]
        assert frames[3]["error"]["code"] == "mock_midstream" and len(frames) == 4
        body = chat("a b c d", model="mock-drop-midstream", stream=True)
        async with session.post("/v1/chat/completions", json=body) as response:
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()

    serve(scenario)


def test_api_key_and_unknown_quirk() -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.get("/models") as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "invalid_api_key"
        async with session.get("/models", headers={"Authorization": "Bearer sk-mock"}) as response:
            assert response.status == 200

    serve(scenario, api_key="sk-mock")
    assert "no-developer" in QUIRKS
    with pytest.raises(ValueError, match="no-such-quirk"):
        create_mock_app(quirks=frozenset({"no-such-quirk"}))


def test_json_answer_follows_schema() -> None:
    schema = {"type": "object", "required": ["city", "when"], "properties": {
        "city": {"type": "string"},
        "when": {"type": "object", "properties": {"day": {"type": "integer"}}}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    body = chat("hi", model="mock-json", response_format=response_format)
    status, answer = serve(lambda s: post(s, body))
    assert status == 200
    assert orjson.loads(answer["choices"][0]["message"]["content"]) == {
        "city": "Paris", "when": {"day": 1}}
