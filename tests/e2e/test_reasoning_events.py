"""Raw reasoning events for both client families (issue 10 item 4).

OpenAI names them `response.reasoning_text.*`, the Open Responses spec `response.reasoning.*`;
each family's strict clients reject the other's name. An unknown client's stream uses only
events both define; an OpenAI SDK gets OpenAI's names too; the `X-Reasoning-Events` header
decides for any client.
The real clients' side is in tests/e2e/clients (test_sdk_stream_helpers.py and the matrix).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx2
import openai
import orjson
import pytest
from e2e_support import CLIENT_KEY, TERMINAL_TYPES, Server, checked_stream, parse_sse, post_stream
from schema_check import (
    check_event_sequence,
    open_responses_validate_event,
    sdk_validate_event,
    validate_response,
)

THINK = {"model": "mock-think", "input": "ponder", "stream": True}
RAW_PREFIXES = ("response.reasoning_text.", "response.reasoning.")


def test_default_reasoning_stream_is_valid_for_both_families(http: httpx2.Client) -> None:
    response, frames = post_stream(http, THINK)
    events = checked_stream(response, frames)  # every event: openai SDK and Open Responses

    types = [e["type"] for e in events]
    assert not [t for t in types if t.startswith(RAW_PREFIXES)], types
    summary = "".join(e["delta"] for e in events
                      if e["type"] == "response.reasoning_summary_text.delta")
    assert summary == "Let me think about this."
    reasoning = events[-1]["response"]["output"][0]
    assert reasoning["content"] == [{"type": "reasoning_text", "text": summary}]
    assert reasoning["summary"] == [{"type": "summary_text", "text": summary}]


@pytest.mark.parametrize(("value", "prefix", "validate"), [
    ("openai", "response.reasoning_text", sdk_validate_event),
    ("Open-Responses", "response.reasoning", open_responses_validate_event),
])
def test_header_adds_one_familys_raw_reasoning_events(http: httpx2.Client, value: str,
                                                      prefix: str, validate: Any) -> None:
    _, frames = post_stream(http, THINK, headers={"X-Reasoning-Events": value})
    events = [frame.json() for frame in frames]

    for event in events:
        validate(event)
    check_event_sequence(events)
    raw = "".join(e["delta"] for e in events if e["type"] == f"{prefix}.delta")
    (done,) = [e for e in events if e["type"] == f"{prefix}.done"]
    assert raw == done["text"] == "Let me think about this."
    other = {"response.reasoning_text": "response.reasoning.",
             "response.reasoning": "response.reasoning_text."}[prefix]
    assert not [e for e in events if e["type"].startswith(other)]


def test_openai_sdk_clients_get_openai_names_unless_they_ask_otherwise(
        client: openai.OpenAI) -> None:
    kinds = [e.type for e in client.responses.create(**THINK)]  # type: ignore[call-overload]
    assert "response.reasoning_text.delta" in kinds and "response.reasoning_text.done" in kinds
    quiet = client.responses.create(**THINK,  # type: ignore[call-overload]
                                    extra_headers={"X-Reasoning-Events": "summary"})
    assert not [e for e in quiet if e.type.startswith(RAW_PREFIXES)]


def test_unknown_header_value_is_a_400_naming_the_header(http: httpx2.Client) -> None:
    response = http.post("/v1/responses", json=THINK, headers={"X-Reasoning-Events": "both"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "X-Reasoning-Events" and error["code"] == "invalid_value"
    assert "openai" in error["message"] and "open-responses" in error["message"]


def test_non_streamed_reasoning_is_the_same_item(http: httpx2.Client) -> None:
    response = http.post("/v1/responses", json={**THINK, "stream": False},
                         headers={"X-Reasoning-Events": "openai"})
    body = response.json()
    validate_response(body)
    assert body["output"][0]["content"] == [{"type": "reasoning_text",
                                             "text": "Let me think about this."}]


async def _socket_turn(gateway: Server, headers: dict[str, str]) -> list[dict[str, Any]]:
    url = gateway.url.replace("http://", "ws://") + "/v1/responses"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
                url, headers={"Authorization": f"Bearer {CLIENT_KEY}", **headers}) as ws:
            await ws.send_str(orjson.dumps({"type": "response.create", "model": "mock-think",
                                            "input": "ponder"}).decode())
            events: list[dict[str, Any]] = []
            while not events or events[-1]["type"] not in (*TERMINAL_TYPES, "error"):
                message = await asyncio.wait_for(ws.receive(), 10)
                events.append(orjson.loads(message.data))
            return events


@pytest.mark.parametrize(("headers", "raw"), [
    ({}, []),
    ({"X-Reasoning-Events": "open-responses"}, ["response.reasoning.delta"] * 5
     + ["response.reasoning.done"]),
])
def test_websocket_takes_the_choice_from_the_upgrade_request(gateway: Server,
                                                             headers: dict[str, str],
                                                             raw: list[str]) -> None:
    events = asyncio.run(_socket_turn(gateway, headers))
    for event in events:
        open_responses_validate_event(event)
    assert [e["type"] for e in events if e["type"].startswith(RAW_PREFIXES)] == raw
    assert events[-1]["type"] == "response.completed"


def test_stored_background_replay_keeps_the_creating_requests_choice(
        http: httpx2.Client) -> None:
    created = http.post("/v1/responses", json={**THINK, "stream": False, "background": True},
                        headers={"X-Reasoning-Events": "openai"}).json()
    replay = http.get(f"/v1/responses/{created['id']}", params={"stream": "true"},
                      timeout=10)
    types = [frame.json()["type"] for frame in parse_sse(replay.content)]
    assert "response.reasoning_text.delta" in types and types[-1] == "response.completed"
