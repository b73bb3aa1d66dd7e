"""The mock provider's adaptive-block quirks: the demand to get mock-think's reasoning back in
the field it went out in (mock_quirks.ADAPTIVE_QUIRKS)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from responses_gateway.mock_provider import create_mock_app

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


def _exchange(quirks: set[str], bodies: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    """POST each body (streamed ones come back as their list of data frames)."""
    async def main() -> list[tuple[int, Any]]:
        runner = web.AppRunner(create_mock_app(quirks=frozenset(quirks)))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        answers = []
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
                for body in bodies:
                    async with session.post("/v1/chat/completions", json=body) as response:
                        raw = await response.read()
                    if body.get("stream") and response.status == 200:
                        frames = [orjson.loads(b[6:]) for b in raw.split(b"\n\n")
                                  if b.startswith(b"data: {")]
                        answers.append((response.status, frames))
                    else:
                        answers.append((response.status, orjson.loads(raw)))
        finally:
            await runner.cleanup()
        return answers

    return asyncio.run(main())


def _ask(**extra: Any) -> dict[str, Any]:
    return {"model": "mock-think", "messages": [{"role": "user", "content": "weather?"}],
            "tools": [TOOL], **extra}


def _history(**reasoning: Any) -> dict[str, Any]:
    call = {"id": "call_mock_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"}}
    return {"model": "mock-think", "tools": [TOOL], "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call], **reasoning},
        {"role": "tool", "tool_call_id": "call_mock_1", "content": "sunny"}]}


def test_verify_reasoning_wants_the_exact_reasoning_under_reasoning() -> None:
    own = "Let me think about call_mock_1."
    answers = _exchange({"verify-reasoning"}, [
        _history(), _history(reasoning_content=own), _history(reasoning="other"),
        _history(reasoning=own)])
    assert [status for status, _ in answers] == [400, 400, 400, 200]
    assert answers[0][1]["error"]["param"] == "messages[1].reasoning"


def test_verify_reasoning_details_wants_the_array_unchanged() -> None:
    own = [{"type": "reasoning.text", "text": "Let me think about call_mock_1.", "index": 0,
            "format": "unknown"}]
    # What mock_rules' reasoning-details quirk sends is what must come back.
    ((_, whole),) = _exchange({"reasoning-field", "reasoning-details"}, [_ask()])
    assert whole["choices"][0]["message"]["reasoning_details"] == own
    answers = _exchange({"verify-reasoning-details"}, [
        _history(reasoning="Let me think about call_mock_1."),
        _history(reasoning_details=[{**own[0], "format": "x"}]),
        _history(reasoning_details=own)])
    assert [status for status, _ in answers] == [400, 400, 200]
