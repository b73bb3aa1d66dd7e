"""WebSocket mode on GET /v1/responses: `response.create` in, the SSE events out as messages."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
from e2e_support import CLIENT_KEY, TERMINAL_TYPES, WEATHER_TOOL, MockLog, Server
from schema_check import check_event_sequence, validate_event



class Socket:
    """A test client for one WebSocket connection."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def turn(self, **body: Any) -> list[dict[str, Any]]:
        """Send one response.create; collect messages until a terminal event or an error."""
        await self.ws.send_str(orjson.dumps({"type": "response.create", **body}).decode())
        events: list[dict[str, Any]] = []
        while True:
            message = await asyncio.wait_for(self.ws.receive(), 10)
            assert message.type is aiohttp.WSMsgType.TEXT, message
            event = orjson.loads(message.data)
            events.append(event)
            if event["type"] in TERMINAL_TYPES or event["type"] == "error":
                return events


async def _with_socket(gateway: Server, *turns: Any) -> list[list[dict[str, Any]]]:
    url = gateway.url.replace("http://", "ws://") + "/v1/responses"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
                url, headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as ws:
            socket = Socket(ws)
            results = []
            for turn in turns:
                body = turn(results) if callable(turn) else turn
                results.append(await socket.turn(**body))
            return results


def run(gateway: Server, *turns: Any) -> list[list[dict[str, Any]]]:
    return asyncio.run(_with_socket(gateway, *turns))


def _checked(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        validate_event(event)
    check_event_sequence(events)
    return events


def test_a_turn_streams_the_same_events_as_sse(gateway: Server) -> None:
    [events] = run(gateway, {"model": "mock-echo", "input": "hello socket"})
    _checked(events)
    assert events[-1]["type"] == "response.completed"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "You said: hello socket"


def test_store_false_turn_is_continued_on_the_same_socket(gateway: Server,
                                                          mock_log: MockLog) -> None:
    first, second = run(
        gateway,
        {"model": "mock-echo", "input": "my code word is cobalt", "store": False},
        lambda done: {"model": "mock-echo", "input": "what was it?", "store": False,
                      "previous_response_id": done[0][-1]["response"]["id"]})
    _checked(second)
    messages = mock_log.last_body()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "my code word is cobalt"
    assert messages[1]["content"] == "You said: my code word is cobalt"


def test_store_false_turn_is_unknown_on_another_socket(gateway: Server) -> None:
    [first] = run(gateway, {"model": "mock-echo", "input": "hi", "store": False})
    [second] = run(gateway, {"model": "mock-echo", "input": "again", "store": False,
                             "previous_response_id": first[-1]["response"]["id"]})
    assert second == [{"type": "error", "status": 404, "error": second[0]["error"]}]
    assert second[0]["error"]["code"] == "previous_response_not_found"


def test_failed_continuation_forgets_its_parent(gateway: Server) -> None:
    def parent_id(done: list[list[dict[str, Any]]]) -> str:
        return str(done[0][-1]["response"]["id"])

    first, failed, again = run(
        gateway,
        {"model": "mock-echo", "input": "hi", "store": False},
        lambda done: {"model": "mock-echo", "store": False, "previous_response_id": parent_id(done),
                      "input": [{"type": "function_call_output", "call_id": "call_nope",
                                 "output": "x"}]},
        lambda done: {"model": "mock-echo", "input": "retry", "store": False,
                      "previous_response_id": parent_id(done)})
    assert failed[-1]["type"] == "error" and failed[-1]["status"] == 400
    assert again[-1]["error"]["code"] == "previous_response_not_found"


def test_tool_call_turn_then_output_turn(gateway: Server) -> None:
    first, second = run(
        gateway,
        {"model": "mock-echo", "input": "weather tool please", "tools": [WEATHER_TOOL], "store": False},
        lambda done: {"model": "mock-echo", "tools": [WEATHER_TOOL], "store": False,
                      "previous_response_id": done[0][-1]["response"]["id"],
                      "input": [{"type": "function_call_output", "output": "sunny",
                                 "call_id": done[0][-1]["response"]["output"][0]["call_id"]}]})
    assert first[-1]["response"]["output"][0]["type"] == "function_call"
    _checked(second)
    assert second[-1]["response"]["output"][0]["content"][0]["text"] == "Tool result: sunny"


def test_http_only_fields_are_rejected(gateway: Server) -> None:
    [events] = run(gateway, {"model": "mock-echo", "input": "hi", "stream": True})
    assert events[-1]["type"] == "error" and events[-1]["status"] == 400
    assert events[-1]["error"]["param"] == "stream"


def test_bad_input_is_an_error_event_and_the_socket_stays_open(gateway: Server) -> None:
    bad, good = run(gateway, {"input": "no model"}, {"model": "mock-echo", "input": "ok"})
    assert bad[-1]["type"] == "error" and bad[-1]["error"]["param"] == "model"
    assert good[-1]["type"] == "response.completed"
