"""The mock chat.completions provider, driven over real loopback HTTP."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
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


# -- quirks copying particular providers ----------------------------------------------------------


def test_quirk_checks_are_off_by_default() -> None:
    body = {"model": "mock-think", "reasoning_effort": "high", "enable_thinking": True,
            "thinking": {"type": "enabled"}, "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "a"},
                                                  {"type": "text", "text": "b"}]},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "ok", "reasoning_content": "hmm"},
                {"role": "user", "content": "again"}]}
    status, answer = serve(lambda s: post(s, body))
    assert status == 200, answer
    assert answer["choices"][0]["message"]["reasoning_content"] == "Let me think about this."


def test_string_content_quirk() -> None:
    two_texts = [{"type": "text", "text": "hello"}, {"type": "text", "text": "there"}]
    image = [{"type": "text", "text": "look"},
             {"type": "image_url", "image_url": {"url": "data:,"}}]

    async def scenario(session: aiohttp.ClientSession) -> None:
        status, answer = await post(session, chat(two_texts))  # type: ignore[arg-type]
        assert status == 400
        assert answer["error"]["param"] == "messages[0].content"
        assert "expected a string" in answer["error"]["message"]
        system = {"model": "mock-echo", "messages": [{"role": "system", "content": two_texts},
                                                     {"role": "user", "content": "hi"}]}
        assert (await post(session, system))[0] == 400
        assert (await post(session, chat("hello there")))[0] == 200
        # Arrays that carry more than text stay arrays (DeepSeek has no images, but the
        # quirk is only about text-only arrays).
        assert (await post(session, chat(image)))[0] == 200  # type: ignore[arg-type]

    serve(scenario, quirks=frozenset({"string-content"}))


def test_azure_quirk_wants_api_key_header_and_api_version() -> None:
    url = "/v1/chat/completions"

    async def scenario(session: aiohttp.ClientSession) -> None:
        async def status_of(path: str, headers: dict[str, str]) -> tuple[int, Any]:
            async with session.post(path, json=chat("hi"), headers=headers) as response:
                return response.status, await response.json()

        status, answer = await status_of(f"{url}?api-version=2024-10-21",
                                         {"Authorization": "Bearer az-key"})
        assert status == 401 and "subscription key" in answer["error"]["message"]
        assert (await status_of(f"{url}?api-version=2024-10-21", {"api-key": "wrong"}))[0] == 401
        status, answer = await status_of(url, {"api-key": "az-key"})
        assert status == 404 and "api-version" in answer["error"]["message"]
        status, answer = await status_of(f"{url}?api-version=2024-10-21", {"api-key": "az-key"})
        assert status == 200 and answer["choices"][0]["message"]["content"] == "You said: hi"
        async with session.get("/models?api-version=2024-10-21",
                               headers={"api-key": "az-key"}) as response:
            assert response.status == 200
        async with session.get("/_mock/requests") as response:
            log = (await response.json())["requests"]
        assert [entry["query"] for entry in log[:3]] == [{"api-version": "2024-10-21"},
                                                         {"api-version": "2024-10-21"}, {}]
        assert log[3]["headers"]["api-key"] == "az-key"

    serve(scenario, quirks=frozenset({"azure"}), api_key="az-key")


def test_think_tags_quirk_puts_reasoning_inline() -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        status, answer = await post(session, chat("ponder", model="mock-think"))
        assert status == 200
        message = answer["choices"][0]["message"]
        assert "reasoning_content" not in message
        assert message["content"] == ("<think>\nLet me think about this.\n</think>\n\n"
                                      "You said: ponder")
        frames, _ = await post_stream(session, chat("ponder", model="mock-think"))
        deltas = [f["choices"][0]["delta"] for f in frames[:-1]]
        assert not any("reasoning_content" in d for d in deltas)
        pieces = [d["content"] for d in deltas if d.get("content")]
        assert "".join(pieces) == message["content"]
        # The tags are split across chunks, as a token-by-token server sends them.
        assert "<think>" not in pieces and not any("</think>" in p for p in pieces)
        calls = await post(session, chat("weather?", model="mock-think", tools=[WEATHER_TOOL]))
        assert calls[1]["choices"][0]["message"]["content"] == (
            "<think>\nLet me think about call_mock_1.\n</think>\n\n")
        status, answer = await post(session, chat("plain"))  # other models have no reasoning
        assert answer["choices"][0]["message"]["content"] == "You said: plain"

    serve(scenario, quirks=frozenset({"think-tags"}))


def test_no_finish_reason_quirk_ends_streams_without_finish_or_done() -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        body = chat("hi there", stream_options={"include_usage": True})
        frames, raw = await post_stream(session, body)
        assert "[DONE]" not in raw and frames[-1]["usage"]["completion_tokens"] == 4
        assert all(c["finish_reason"] is None for f in frames for c in f["choices"])
        content = "".join(f["choices"][0]["delta"].get("content") or ""
                          for f in frames if f["choices"])
        assert content == "You said: hi there"
        frames, raw = await post_stream(session, chat("weather?", tools=[WEATHER_TOOL]))
        assert "[DONE]" not in raw
        assert all(c["finish_reason"] is None for f in frames for c in f["choices"])
        status, answer = await post(session, chat("hi"))
        assert status == 200 and answer["choices"][0]["finish_reason"] is None

    serve(scenario, quirks=frozenset({"no-finish-reason"}))


def test_enable_thinking_quirk() -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        for extra, param in [({"reasoning_effort": "high"}, "reasoning_effort"),
                             ({"thinking": {"type": "enabled"}}, "thinking"),
                             ({"reasoning": {"effort": "high"}}, "reasoning"),
                             ({"enable_thinking": "yes"}, "enable_thinking"),
                             ({"enable_thinking": True, "thinking_budget": "big"},
                              "thinking_budget"),
                             ({"thinking_budget": True}, "thinking_budget")]:
            status, answer = await post(session, chat("hi", model="mock-think", **extra))
            assert (status, answer["error"]["param"]) == (400, param), extra
        for extra, reasons in [({}, False), ({"enable_thinking": False}, False),
                               ({"enable_thinking": True, "thinking_budget": 32768}, True)]:
            status, answer = await post(session, chat("hi", model="mock-think", **extra))
            assert status == 200
            message = answer["choices"][0]["message"]
            assert ("reasoning_content" in message) is reasons, extra
        frames, _ = await post_stream(session, chat("hi", model="mock-think"))
        assert not any("reasoning_content" in f["choices"][0]["delta"] for f in frames[:-1])

    serve(scenario, quirks=frozenset({"enable-thinking"}))


def test_deepseek_thinking_quirk() -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        for extra, param in [({"reasoning_effort": "high"}, "reasoning_effort"),
                             ({"enable_thinking": True}, "enable_thinking"),
                             ({"thinking": {"type": "on"}}, "thinking"),
                             ({"thinking": True}, "thinking")]:
            status, answer = await post(session, chat("hi", model="mock-think", **extra))
            assert (status, answer["error"]["param"]) == (400, param), extra
        for extra, reasons in [({}, True), ({"thinking": {"type": "enabled"}}, True),
                               ({"thinking": {"type": "disabled"}}, False)]:
            status, answer = await post(session, chat("hi", model="mock-think", **extra))
            assert status == 200
            message = answer["choices"][0]["message"]
            assert ("reasoning_content" in message) is reasons, extra
            assert answer["usage"]["completion_tokens_details"]["reasoning_tokens"] == (
                5 if reasons else 0)

    serve(scenario, quirks=frozenset({"deepseek-thinking"}))


def test_no_reasoning_replay_and_no_developer_quirks() -> None:
    def conversation(**assistant_extra: Any) -> dict[str, Any]:
        return {"model": "mock-echo", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello", **assistant_extra},
            {"role": "user", "content": "again"}]}

    async def scenario(session: aiohttp.ClientSession) -> None:
        status, answer = await post(session, conversation(reasoning_content="hmm"))
        assert status == 400 and answer["error"]["param"] == "messages[1].reasoning_content"
        assert (await post(session, conversation()))[0] == 200
        body = {"model": "mock-echo", "messages": [{"role": "developer", "content": "rules"},
                                                   {"role": "user", "content": "hi"}]}
        status, answer = await post(session, body)
        assert status == 400 and answer["error"]["param"] == "messages[0].role"
        assert "system, user, assistant, tool" in answer["error"]["message"]

    serve(scenario, quirks=frozenset({"no-reasoning-replay", "no-developer"}))


def test_verify_reasoning_content_quirk() -> None:
    call = {"id": "call_mock_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}

    def history(reasoning: str) -> dict[str, Any]:
        return {"model": "mock-think", "tools": [WEATHER_TOOL], "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call],
             "reasoning_content": reasoning},
            {"role": "tool", "tool_call_id": "call_mock_1", "content": "sunny"}]}

    async def scenario(session: aiohttp.ClientSession) -> None:
        status, answer = await post(session, history("(reasoning omitted)"))
        assert status == 400 and "Let me think about call_mock_1." in answer["error"]["message"]
        assert (await post(session, history("Let me think about call_mock_1.")))[0] == 200

    serve(scenario, quirks=frozenset({"verify-reasoning-content"}))


def test_listed_models_come_first() -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        async with session.get("/v1/models") as response:
            ids = [m["id"] for m in (await response.json())["data"]]
        assert ids == ["alpha-x", "mock-echo", *[m for m in MODELS if m != "mock-echo"]]
        status, answer = await post(session, chat("hi", model="alpha-x"))
        assert status == 200 and answer["model"] == "alpha-x"

    serve(scenario, models=("alpha-x", "mock-echo"))


def test_command_logs_like_the_gateway_without_a_banner(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "mock.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "responses_gateway", "mock-provider",
                                    "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while "listening" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=10)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines, "the mock provider logged nothing"
    assert "Running on" not in log.read_text() and "CTRL+C" not in log.read_text(), lines
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO responses_gateway\.mock_provider: "
                    rf"mock provider listening on http://127\.0\.0\.1:{port}/v1", lines[0]), lines


def test_stall_models_go_silent_until_the_client_closes() -> None:
    async def scenario(session: aiohttp.ClientSession) -> None:
        body = chat("a b c d", model="mock-stall", stream=True)
        async with session.post("/v1/chat/completions", json=body) as response:
            assert response.status == 200
            received = b""
            while received.count(b"data: ") < 3:
                received += await asyncio.wait_for(response.content.readany(), 5)
            with pytest.raises(asyncio.TimeoutError):  # then nothing, not even [DONE]
                await asyncio.wait_for(response.content.readany(), 0.5)
            assert received.count(b"data: ") == 3
        # Not streamed: no answer at all while the client waits.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(post(session, chat("x", model="mock-stall-start")), 0.5)

    serve(scenario)
