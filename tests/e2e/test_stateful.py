"""End to end: the stateful Responses API (issue #5) on one gateway, SQLite and Redis backends.

Real processes: the mock provider (behind a TCP relay that shows when the gateway closes an
upstream connection) and gateways started with `--store ...` and a short `--run-lease 2`.
Every Response the gateway returns, stores or replays is checked by the strict openai SDK and
against the Open Responses schema (schema_check), every SSE event too. Redis tests use
database 15 (flushed at the start and end); without Redis they skip, or fail when CI=true.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx2
import openai
import orjson
import pytest
from e2e_support import (
    WEATHER_TOOL,
    CLIENT_KEY,
    TERMINAL_TYPES,
    MockLog,
    Server,
    checked_stream,
    parse_sse,
    post_stream,
)
from schema_check import check_event_sequence, validate_event, validate_response

REDIS_URL = os.environ.get("RG_TEST_REDIS", "redis://127.0.0.1:6379") + "/15"
BACKENDS = ["sqlite", "redis", "postgres"]



def _words(count: int) -> str:
    return " ".join(f"w{n}" for n in range(count))


# -- helpers ----------------------------------------------------------------------------------


def sdk(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                         timeout=30, _strict_response_validation=True)


def raw_http(server: Server) -> httpx2.Client:
    return httpx2.Client(base_url=server.url, timeout=30,
                         headers={"Authorization": f"Bearer {CLIENT_KEY}"})


def _checked(raw: Any) -> dict[str, Any]:
    """A raw SDK answer holding a Response: parsed strictly and schema-checked; its JSON."""
    raw.parse()  # strict SDK validation
    body = orjson.loads(raw.content)
    validate_response(body)
    return body  # type: ignore[no-any-return]


def create(client: openai.OpenAI, **params: Any) -> dict[str, Any]:
    return _checked(client.responses.with_raw_response.create(**params))


def retrieve(client: openai.OpenAI, response_id: str) -> dict[str, Any]:
    return _checked(client.responses.with_raw_response.retrieve(response_id))


def cancel(client: openai.OpenAI, response_id: str) -> dict[str, Any]:
    return _checked(client.responses.with_raw_response.cancel(response_id))


def stream_create(client: openai.OpenAI, **params: Any) -> list[dict[str, Any]]:
    """Stream with the SDK; every event validated; the stream as a whole checked."""
    events = [e.to_dict() for e in client.responses.create(stream=True, **params)]
    for event in events:
        validate_event(event)
    check_event_sequence(events)
    validate_response(events[-1]["response"])
    return events


def replay(http: httpx2.Client, response_id: str, after: int | None = None,
           timeout: float = 20) -> list[dict[str, Any]]:
    """GET /v1/responses/{id}?stream=true[&starting_after=N] as raw SSE; every frame checked.

    The events must be numbered after+1, after+2, ... with at most one terminal event, last.
    """
    params = {"stream": "true"}
    if after is not None:
        params["starting_after"] = str(after)
    response = http.get(f"/v1/responses/{response_id}", params=params, timeout=timeout)
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:500]}"
    content_type = response.headers.get("content-type", "")
    assert content_type.split(";")[0].strip() == "text/event-stream", content_type
    events = []
    for frame in parse_sse(response.content):
        event = frame.json()
        assert frame.event == event.get("type"), (frame.event, event.get("type"))
        validate_event(event)
        events.append(event)
    first = (after if after is not None else -1) + 1
    numbers = [e["sequence_number"] for e in events]
    assert numbers == list(range(first, first + len(events))), numbers
    terminals = [n for n, e in enumerate(events) if e["type"] in TERMINAL_TYPES]
    assert terminals in ([], [len(events) - 1]), [e["type"] for e in events]
    if terminals:
        validate_response(events[-1]["response"])
    return events


def wait_for(client: openai.OpenAI, response_id: str, done: Callable[[dict[str, Any]], bool],
             timeout: float = 10.0, seen: list[str] | None = None) -> dict[str, Any]:
    """Poll retrieve (each answer validated) until `done(body)`; statuses go to `seen`."""
    deadline = time.monotonic() + timeout
    while True:
        body = retrieve(client, response_id)
        if seen is not None:
            seen.append(body["status"])
        if done(body):
            return body
        assert time.monotonic() < deadline, f"still {body['status']} after {timeout} s: {body}"
        time.sleep(0.05)


def settled(body: dict[str, Any]) -> bool:
    return body["status"] not in ("queued", "in_progress")


def chat_messages(mock_log: MockLog) -> list[list[dict[str, Any]]]:
    return [r["body"]["messages"] for r in mock_log.chat_requests()]


def _store_url(backend: str, directory: Path, request: pytest.FixtureRequest) -> str:
    if backend == "redis":
        request.getfixturevalue("redis_db")
        return REDIS_URL
    if backend == "postgres":
        return str(request.getfixturevalue("postgres_db")())
    return f"sqlite:///{directory / 'responses.db'}"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def stateful(backend: str, launch_gateway: Callable[..., Server],
             tmp_path_factory: pytest.TempPathFactory,
             request: pytest.FixtureRequest) -> Iterator[Server]:
    """One gateway per backend for the tests that need no process of their own."""
    url = _store_url(backend, tmp_path_factory.mktemp(f"store-{backend}"), request)
    server = launch_gateway(f"stateful-{backend}", url, "--run-lease", "2")
    yield server
    server.stop()


@pytest.fixture
def client(stateful: Server) -> Iterator[openai.OpenAI]:
    with sdk(stateful) as value:
        yield value


@pytest.fixture
def http(stateful: Server) -> Iterator[httpx2.Client]:
    with raw_http(stateful) as value:
        yield value


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A store for gateways started by the test itself (a fresh SQLite file, or Redis db 15)."""
    return _store_url(backend, tmp_path, request)


@pytest.fixture(scope="module")
def stateless(launch_gateway: Callable[..., Server]) -> Iterator[Server]:
    server = launch_gateway("stateless", "none")
    yield server
    server.stop()


# -- 1. store, retrieve, delete, input items, previous_response_id ---------------------------


def test_stored_by_default_and_retrieved_identical(client: openai.OpenAI) -> None:
    created = create(client, model="mock-echo", input="keep this", metadata={"k": "v"})
    assert created["store"] is True
    assert retrieve(client, created["id"]) == created


def test_streamed_response_is_retrieved_identical(client: openai.OpenAI) -> None:
    final = stream_create(client, model="mock-echo", input="streamed keep")[-1]["response"]
    assert final["status"] == "completed"
    assert retrieve(client, final["id"]) == final


def test_store_false_cannot_be_retrieved_or_continued(client: openai.OpenAI,
                                                      mock_log: MockLog) -> None:
    created = create(client, model="mock-echo", input="forget me", store=False)
    assert created["store"] is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created["id"])
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="mock-echo", input="next",
                                previous_response_id=created["id"])
    assert info.value.code == "previous_response_not_found"
    assert info.value.param == "previous_response_id"
    assert len(mock_log.chat_requests()) == 1  # the refused follow-up never went upstream


def test_unknown_previous_response_id_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="mock-echo", input="x",
                                previous_response_id="resp_0123456789abcdef01234567")
    assert info.value.code == "previous_response_not_found"


def test_delete_then_404(client: openai.OpenAI) -> None:
    created = create(client, model="mock-echo", input="delete me")
    client.responses.delete(created["id"])
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created["id"])
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(created["id"])
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created["id"])
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="mock-echo", input="x", previous_response_id=created["id"])
    assert info.value.code == "previous_response_not_found"


INPUT = [
    {"role": "developer", "content": "be brief"},
    {"role": "user", "content": "one"},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "two"}]},
    {"role": "user", "content": "three"},
    {"role": "user", "content": "four"},
]


def _texts(items: list[Any]) -> list[str]:
    return [item.content[0].text for item in items]


def test_input_items_order_limit_after(client: openai.OpenAI) -> None:
    created = create(client, model="mock-echo", input=INPUT)
    everything = client.responses.input_items.list(created["id"], order="asc")
    assert _texts(everything.data) == ["be brief", "one", "two", "three", "four"]
    assert not everything.has_more
    for item in everything.data:
        assert item.id and item.type == "message" and item.status == "completed"
    ids = [item.id for item in everything.data]
    assert len(set(ids)) == 5
    assert everything.first_id == ids[0] and everything.last_id == ids[-1]

    default = client.responses.input_items.list(created["id"])  # newest first by default
    assert [item.id for item in default.data] == ids[::-1]

    page = client.responses.input_items.list(created["id"], order="asc", limit=2)
    assert [item.id for item in page.data] == ids[:2] and page.has_more
    page = client.responses.input_items.list(created["id"], order="asc", limit=2,
                                             after=page.last_id)
    assert [item.id for item in page.data] == ids[2:4] and page.has_more
    page = client.responses.input_items.list(created["id"], order="asc", limit=2,
                                             after=page.last_id)
    assert [item.id for item in page.data] == ids[4:] and not page.has_more
    page = client.responses.input_items.list(created["id"], order="desc", limit=3,
                                             after=ids[3])
    assert [item.id for item in page.data] == ids[2::-1] and not page.has_more
    # The SDK's auto-pagination walks every page.
    walked = [item.id for item in client.responses.input_items.list(created["id"], limit=2)]
    assert walked == ids[::-1]
    # Stable: listing again gives the same ids.
    again = client.responses.input_items.list(created["id"], order="asc")
    assert [item.id for item in again.data] == ids


def test_input_items_with_an_assistant_message_parse_strictly(client: openai.OpenAI) -> None:
    created = create(client, model="mock-echo", input=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"}])
    listed = client.responses.input_items.list(created["id"], order="asc")
    assert [item.role for item in listed.data] == ["user", "assistant", "user"]


def test_instructions_are_not_carried_over(client: openai.OpenAI, mock_log: MockLog) -> None:
    first = create(client, model="mock-echo", input="hello", instructions="FIRST RULES")
    second = create(client, model="mock-echo", input="again", previous_response_id=first["id"],
                    instructions="SECOND RULES")
    third = create(client, model="mock-echo", input="once more",
                   previous_response_id=second["id"])
    sent = chat_messages(mock_log)
    assert sent[0][0] == {"role": "system", "content": "FIRST RULES"}
    assert sent[1][0] == {"role": "system", "content": "SECOND RULES"}
    assert sent[2][0] == {"role": "user", "content": "hello"}
    for messages in sent[1:]:
        assert "FIRST RULES" not in orjson.dumps(messages).decode()
    assert "SECOND RULES" not in orjson.dumps(sent[2]).decode()
    assert [m["role"] for m in sent[2]] == ["user", "assistant", "user", "assistant", "user"]
    assert second["instructions"] == "SECOND RULES"
    assert third["instructions"] is None
    assert second["previous_response_id"] == first["id"]


def test_three_turn_chain_keeps_tool_call_and_output(client: openai.OpenAI,
                                                     mock_log: MockLog) -> None:
    # Turn 1: the model calls the tool.
    first = create(client, model="mock-echo", input="what is the weather in Paris?",
                   tools=[WEATHER_TOOL])
    assert [i["type"] for i in first["output"]] == ["function_call"]
    call = first["output"][0]
    # Turn 2: only the tool's output, streamed.
    events = stream_create(client, model="mock-echo", tools=[WEATHER_TOOL],
                           previous_response_id=first["id"],
                           input=[{"type": "function_call_output", "call_id": call["call_id"],
                                   "output": "sunny, 21 C"}])
    second = events[-1]["response"]
    assert second["output"][0]["content"][0]["text"] == "Tool result: sunny, 21 C"
    # Turn 3: plain text, no tools.
    third = create(client, model="mock-echo", input="thanks", previous_response_id=second["id"])
    assert third["output"][0]["content"][0]["text"] == "You said: thanks"

    sent = chat_messages(mock_log)
    assert len(sent) == 3
    assert sent[0] == [{"role": "user", "content": "what is the weather in Paris?"}]
    user, assistant, tool = sent[1]
    assert user == sent[0][0]
    assert assistant["role"] == "assistant" and not assistant.get("content")
    assert assistant["tool_calls"] == [{
        "id": call["call_id"], "type": "function",
        "function": {"name": "get_weather", "arguments": call["arguments"]}}]
    assert tool == {"role": "tool", "tool_call_id": call["call_id"], "content": "sunny, 21 C"}
    assert sent[2][:3] == sent[1]
    assert sent[2][3:] == [{"role": "assistant", "content": "Tool result: sunny, 21 C"},
                           {"role": "user", "content": "thanks"}]
    # Each turn lists only its own input.
    items = client.responses.input_items.list(second["id"])
    assert [(i.type, getattr(i, "call_id", None)) for i in items.data] == [
        ("function_call_output", call["call_id"])]


def test_follow_up_sent_on_the_terminal_event_finds_the_response(
        client: openai.OpenAI, mock_log: MockLog) -> None:
    """Stored before the terminal event: a follow-up sent the moment response.completed
    arrives (the stream not even closed yet, no sleep) finds it."""
    previous = None
    for turn in range(4):
        params: dict[str, Any] = {"model": "mock-echo", "input": f"turn {turn}"}
        if previous:
            params["previous_response_id"] = previous
        follow_up = None
        stream = client.responses.create(stream=True, **params)
        for event in stream:
            validate_event(event.to_dict())
            if event.type == "response.completed":
                follow_up = create(client, model="mock-echo", input=f"after {turn}",
                                   previous_response_id=event.response.id)
                previous = event.response.id
        assert follow_up is not None and follow_up["status"] == "completed"
        sent = chat_messages(mock_log)[-1]
        assert sent[-3:] == [{"role": "user", "content": f"turn {turn}"},
                             {"role": "assistant", "content": f"You said: turn {turn}"},
                             {"role": "user", "content": f"after {turn}"}]
        assert len(sent) == 2 * turn + 3


# -- 2. --store none ----------------------------------------------------------------------


def _store_disabled(info: pytest.ExceptionInfo[openai.BadRequestError], param: str) -> None:
    assert info.value.status_code == 400
    assert info.value.code == "store_disabled"
    assert info.value.param == param
    message = info.value.body["message"]  # type: ignore[index]
    assert "store" in message and "--store none" in message, message


def test_store_none_rejects_previous_response_id(stateless: Server, mock_log: MockLog) -> None:
    with sdk(stateless) as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model="mock-echo", input="x",
                                    previous_response_id="resp_0123456789abcdef01234567")
    _store_disabled(info, "previous_response_id")
    assert mock_log.chat_requests() == []


def test_store_none_rejects_background(stateless: Server, mock_log: MockLog) -> None:
    with sdk(stateless) as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model="mock-echo", input="x", background=True)
    _store_disabled(info, "background")
    assert mock_log.chat_requests() == []


def test_store_none_rejects_conversation(stateless: Server, mock_log: MockLog) -> None:
    with sdk(stateless) as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.create(model="mock-echo", input="x",
                                    conversation="conv_0123456789abcdef01234567")
        _store_disabled(info, "conversation")
        with pytest.raises(openai.BadRequestError) as created:
            client.conversations.create()
        assert created.value.code == "store_disabled"
    assert mock_log.chat_requests() == []


def test_store_none_still_answers_and_cannot_retrieve(stateless: Server) -> None:
    with sdk(stateless) as client:
        body = create(client, model="mock-echo", input="stateless")
        assert body["status"] == "completed"
        with pytest.raises(openai.BadRequestError) as info:
            client.responses.retrieve(body["id"])
    assert info.value.code == "store_disabled"


# -- 3. background runs: poll, stream, resume, cancel ---------------------------------------


def test_background_returns_at_once_then_polls_to_completed(client: openai.OpenAI) -> None:
    started = time.monotonic()
    queued = create(client, model="mock-slow", input="poll me now", background=True)
    assert time.monotonic() - started < 0.8  # mock-slow needs about 1.2 s
    assert queued["status"] in ("queued", "in_progress")
    assert queued["background"] is True and queued["output"] == []
    seen: list[str] = []
    final = wait_for(client, queued["id"], settled, seen=seen)
    assert "in_progress" in seen, seen
    assert seen.index("in_progress") < len(seen) - 1
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "You said: poll me now"
    assert final["id"] == queued["id"] and final["created_at"] == queued["created_at"]


def test_background_stream_then_replay_after_the_end(client: openai.OpenAI,
                                                     http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-echo", "input": "bg stream",
                                          "background": True, "stream": True})
    events = checked_stream(response, frames)
    assert events[-1]["type"] == "response.completed"
    final = events[-1]["response"]
    assert final["background"] is True
    assert retrieve(client, final["id"]) == final
    assert replay(http, final["id"]) == events
    for after in (0, 3, len(events) - 2):
        assert replay(http, final["id"], after) == events[after + 1:]
    # The SDK's resume call reads the same events.
    resumed = [e.to_dict() for e in client.responses.retrieve(final["id"], stream=True,
                                                              starting_after=4)]
    assert resumed == events[5:]


def test_resume_after_the_terminal_event_ends_at_once(client: openai.OpenAI,
                                                      http: httpx2.Client) -> None:
    queued = create(client, model="mock-echo", input="finished", background=True)
    final = wait_for(client, queued["id"], settled)
    events = replay(http, final["id"])
    assert events[-1]["type"] == "response.completed"
    started = time.monotonic()
    try:
        tail = replay(http, final["id"], len(events) - 1, timeout=1.0)
    except httpx2.TimeoutException:
        raise AssertionError(f"no end of stream after {time.monotonic() - started:.1f} s") \
            from None
    assert tail == []


def test_background_replay_while_running(client: openai.OpenAI, http: httpx2.Client) -> None:
    queued = create(client, model="mock-slow", input="resume me while running",
                    background=True)
    wait_for(client, queued["id"], lambda b: b["status"] == "in_progress")
    live = replay(http, queued["id"], 2)  # follows the run to its end
    assert retrieve(client, queued["id"])["status"] == "completed"
    assert live[-1]["type"] == "response.completed"
    assert live[0]["sequence_number"] == 3
    deltas = "".join(e["delta"] for e in live if e["type"] == "response.output_text.delta")
    full = replay(http, queued["id"])
    check_event_sequence(full)
    assert full[3:] == live
    assert deltas == "".join(e["delta"] for e in full
                             if e["type"] == "response.output_text.delta")
    assert full[-1]["response"] == retrieve(client, queued["id"])
    assert full[-1]["response"]["output"][0]["content"][0]["text"] == \
        "You said: resume me while running"


def test_background_sdk_resume_while_running(client: openai.OpenAI, http: httpx2.Client) -> None:
    queued = create(client, model="mock-slow", input="sdk resume", background=True)
    wait_for(client, queued["id"], lambda b: b["status"] == "in_progress")
    resumed = [e.to_dict() for e in client.responses.retrieve(queued["id"], stream=True,
                                                              starting_after=1)]
    for event in resumed:
        validate_event(event)
    assert [e["sequence_number"] for e in resumed] == list(range(2, 2 + len(resumed)))
    assert resumed[-1]["type"] == "response.completed"
    assert replay(http, queued["id"], 1) == resumed


def test_background_stream_survives_the_client_leaving(client: openai.OpenAI,
                                                        http: httpx2.Client) -> None:
    """The usual resume: the client drops a background stream, then picks it up again."""
    body = {"model": "mock-slow", "input": "drop and resume", "background": True,
            "stream": True}
    raw = b""
    with http.stream("POST", "/v1/responses", content=orjson.dumps(body),
                     headers={"Content-Type": "application/json"}) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            raw += chunk
            if raw.endswith(b"\n\n") and raw.count(b"response.output_text.delta") >= 2:
                break  # leave mid-run
    seen = [frame.json() for frame in parse_sse(raw)]
    for event in seen:
        validate_event(event)
    assert seen[-1]["type"] not in TERMINAL_TYPES
    rest = replay(http, seen[0]["response"]["id"], seen[-1]["sequence_number"])
    assert rest[-1]["type"] == "response.completed"
    check_event_sequence(seen + rest)
    assert rest[-1]["response"]["output"][0]["content"][0]["text"] == \
        "You said: drop and resume"
    assert retrieve(client, seen[0]["response"]["id"]) == rest[-1]["response"]


def test_deleting_a_running_response_keeps_it_deleted(client: openai.OpenAI,
                                                      http: httpx2.Client) -> None:
    queued = create(client, model="mock-slow", input=_words(8), background=True)
    wait_for(client, queued["id"], lambda b: b["status"] == "in_progress")
    assert http.delete(f"/v1/responses/{queued['id']}").json() == {
        "id": queued["id"], "object": "response.deleted", "deleted": True}
    for _ in range(6):
        time.sleep(0.15)
        again = http.get(f"/v1/responses/{queued['id']}")
        assert again.status_code == 404, f"HTTP {again.status_code}: {again.text[:300]}"


def test_cancel_a_running_background_response(backend: str, client: openai.OpenAI,
                                              http: httpx2.Client, provider_relay: Any,
                                              request: pytest.FixtureRequest) -> None:
    words = 15  # about 3.6 s of mock-slow: cancelled long before its end
    wait_for(client, create(client, model="mock-echo", input="warm", background=True)["id"],
             settled)
    provider_relay.reset()
    queued = create(client, model="mock-slow", input=_words(words), background=True)
    deadline = time.monotonic() + 5
    while provider_relay.data_frames() < 3:
        assert time.monotonic() < deadline, "the provider never started answering"
        time.sleep(0.02)
    cancelled = cancel(client, queued["id"])
    assert cancelled["status"] == "cancelled"
    assert retrieve(client, queued["id"])["status"] == "cancelled"
    # The gateway closed its upstream connection: the provider never got to the end.
    deadline = time.monotonic() + 2
    while provider_relay.closed_by_gateway() < 1:
        assert time.monotonic() < deadline, (
            f"the upstream connection was not closed: {provider_relay.summary()}")
        time.sleep(0.02)
    sent = provider_relay.data_frames()
    assert provider_relay.done_frames() == 0
    assert sent < words, f"{sent} data frames reached the gateway before the cancel took effect"
    time.sleep(0.5)
    later = retrieve(client, queued["id"])
    assert later["status"] == "cancelled" and later["output"] == cancelled["output"]
    assert cancel(client, queued["id"])["status"] == "cancelled"  # idempotent
    events = replay(http, queued["id"])
    check_event_sequence(events)
    assert events[-1]["type"] in TERMINAL_TYPES
    assert events[-1]["response"]["status"] == "cancelled"


def _cancel_many(client: openai.OpenAI, count: int) -> list[tuple[str, dict[str, Any], float]]:
    """Start `count` long background runs, cancel them all at once; (id, answer, seconds)."""
    ids = [create(client, model="mock-slow", input=_words(30), background=True)["id"]
           for _ in range(count)]
    for response_id in ids:
        wait_for(client, response_id, lambda b: b["status"] == "in_progress")
    time.sleep(0.3)

    def cancel_one(response_id: str) -> tuple[str, dict[str, Any], float]:
        started = time.monotonic()
        answer = cancel(client, response_id)
        return response_id, answer, time.monotonic() - started

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(cancel_one, ids))


def test_many_cancels_all_stop_their_runs(backend: str, client: openai.OpenAI,
                                          request: pytest.FixtureRequest) -> None:
    """Every cancel must stop its run, whatever the run was awaiting when it arrived."""
    results = _cancel_many(client, 16)
    assert [answer["status"] for _, answer, _ in results] == ["cancelled"] * len(results)
    time.sleep(3.0)  # longer than what was left of any run
    problems = []
    for response_id, answer, seconds in results:
        later = retrieve(client, response_id)
        if later["status"] != "cancelled" or later["output"] != answer["output"]:
            problems.append(f"{response_id}: cancel answered 'cancelled' in {seconds:.2f} s, "
                            f"3 s later it is {later['status']!r}")
        elif seconds > 1.0:
            problems.append(f"{response_id}: the cancel took {seconds:.2f} s")
    assert not problems, problems


def test_cancel_a_foreground_response_is_400(client: openai.OpenAI) -> None:
    created = create(client, model="mock-echo", input="not background")
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.cancel(created["id"])
    assert info.value.status_code == 400
    assert retrieve(client, created["id"]) == created


def test_cancel_unknown_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_0123456789abcdef01234567")


def test_background_with_store_false_is_400(client: openai.OpenAI, mock_log: MockLog) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="mock-echo", input="x", background=True, store=False)
    assert info.value.param == "store"
    assert mock_log.chat_requests() == []


# -- 4. conversations -----------------------------------------------------------------------


def test_conversation_feeds_and_collects_items(client: openai.OpenAI,
                                               mock_log: MockLog) -> None:
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "my number is 42"}],
        metadata={"topic": "numbers"})
    assert conversation.id.startswith("conv_") and conversation.metadata == {"topic": "numbers"}
    first = create(client, model="mock-echo", input="what is my number?",
                   conversation=conversation.id)
    assert first["conversation"] == {"id": conversation.id}
    assert chat_messages(mock_log)[-1] == [
        {"role": "user", "content": "my number is 42"},
        {"role": "user", "content": "what is my number?"}]
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [(i.type, i.role) for i in items] == [("message", "user"), ("message", "user"),
                                                 ("message", "assistant")]
    assert items[1].content[0].text == "what is my number?"
    assert items[2].id == first["output"][0]["id"]
    assert items[2].content[0].text == "You said: what is my number?"

    events = stream_create(client, model="mock-echo", input="and again?",
                           conversation={"id": conversation.id})
    second = events[-1]["response"]
    assert chat_messages(mock_log)[-1] == [
        {"role": "user", "content": "my number is 42"},
        {"role": "user", "content": "what is my number?"},
        {"role": "assistant", "content": "You said: what is my number?"},
        {"role": "user", "content": "and again?"}]
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert len(items) == 5 and items[-1].id == second["output"][0]["id"]
    newest_first = client.conversations.items.list(conversation.id, limit=2)
    assert [i.id for i in newest_first.data] == [items[4].id, items[3].id]
    assert newest_first.has_more
    assert retrieve(client, second["id"]) == second


def test_conversation_retrieve_update_delete(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(metadata={"a": "1"})
    fetched = client.conversations.retrieve(conversation.id)
    assert fetched.to_dict() == conversation.to_dict()
    updated = client.conversations.update(conversation.id, metadata={"a": "2", "b": "3"})
    assert updated.metadata == {"a": "2", "b": "3"}
    assert client.conversations.retrieve(conversation.id).metadata == {"a": "2", "b": "3"}
    deleted = client.conversations.delete(conversation.id)
    assert deleted.deleted and deleted.id == conversation.id
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="mock-echo", input="x", conversation=conversation.id)
    assert info.value.code == "conversation_not_found"


def test_conversation_item_get_and_delete(client: openai.OpenAI, mock_log: MockLog) -> None:
    conversation = client.conversations.create(items=[
        {"type": "message", "role": "user", "content": "keep"},
        {"type": "message", "role": "user", "content": "drop"}])
    listed = client.conversations.items.list(conversation.id, order="asc").data
    keep, drop = listed
    got = client.conversations.items.retrieve(drop.id, conversation_id=conversation.id)
    assert got.to_dict() == drop.to_dict()
    client.conversations.items.delete(drop.id, conversation_id=conversation.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(drop.id, conversation_id=conversation.id)
    remaining = client.conversations.items.list(conversation.id).data
    assert [i.id for i in remaining] == [keep.id]
    create(client, model="mock-echo", input="next", conversation=conversation.id)
    assert chat_messages(mock_log)[-1] == [{"role": "user", "content": "keep"},
                                           {"role": "user", "content": "next"}]
    added = client.conversations.items.create(
        conversation.id, items=[{"type": "message", "role": "user", "content": "added"}])
    assert [i.content[0].text for i in added.data] == ["added"]  # type: ignore[union-attr]


def test_unknown_conversation_is_404(client: openai.OpenAI, mock_log: MockLog) -> None:
    unknown = "conv_0123456789abcdef01234567"
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(unknown)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(unknown)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="mock-echo", input="x", conversation=unknown)
    assert info.value.code == "conversation_not_found"
    assert mock_log.chat_requests() == []


def test_concurrent_responses_on_one_conversation_keep_all_items(
        backend: str, client: openai.OpenAI, request: pytest.FixtureRequest) -> None:
    conversation = client.conversations.create()
    texts = [f"turn{n}" for n in range(8)]

    def start(text: str) -> str:
        return create(client, model="mock-slow", input=text, background=True,
                      conversation=conversation.id)["id"]

    with ThreadPoolExecutor(len(texts)) as pool:  # all end at about the same time
        ids = list(pool.map(start, texts))
    for response_id in ids:
        wait_for(client, response_id, settled)
    listed = [i.content[0].text  # type: ignore[union-attr]
              for i in client.conversations.items.list(conversation.id, limit=100).data]
    assert sorted(listed) == sorted(texts + [f"You said: {t}" for t in texts])


def test_conversation_assistant_item_parses_strictly(client: openai.OpenAI) -> None:
    conversation = client.conversations.create(items=[
        {"type": "message", "role": "user", "content": "hi"},
        {"type": "message", "role": "assistant", "content": "hello"}])
    listed = client.conversations.items.list(conversation.id, order="asc")
    assert [i.role for i in listed.data] == ["user", "assistant"]  # type: ignore[union-attr]


# -- 5. TTL and size bound -------------------------------------------------------------------


def test_ttl_expires_responses(store_url: str, launch_gateway: Callable[..., Server]) -> None:
    gateway = launch_gateway("ttl", store_url, "--store-ttl", "1", "--run-lease", "2")
    try:
        with sdk(gateway) as client:
            created_at = time.monotonic()
            body = create(client, model="mock-echo", input="short lived")
            assert retrieve(client, body["id"]) == body
            time.sleep(max(0.0, created_at + 1.5 - time.monotonic()))
            with pytest.raises(openai.NotFoundError):
                client.responses.retrieve(body["id"])
            with pytest.raises(openai.NotFoundError) as info:
                client.responses.create(model="mock-echo", input="x",
                                        previous_response_id=body["id"])
            assert info.value.code == "previous_response_not_found"
    finally:
        gateway.stop()


def test_max_entries_evicts_the_oldest(backend: str, store_url: str,
                                       launch_gateway: Callable[..., Server],
                                       request: pytest.FixtureRequest) -> None:
    if backend == "redis":
        request.getfixturevalue("redis_db").flushdb()  # the bound counts the whole database
    gateway = launch_gateway("bounded", store_url, "--store-max-entries", "3")
    try:
        with sdk(gateway) as client:
            ids = [create(client, model="mock-echo", input=f"n{n}")["id"] for n in range(5)]
            for gone in ids[:2]:
                with pytest.raises(openai.NotFoundError):
                    client.responses.retrieve(gone)
            for kept in ids[2:]:
                assert retrieve(client, kept)["id"] == kept
    finally:
        gateway.stop()


# -- 7. restart and crash -------------------------------------------------------------------


def test_restart_keeps_everything(store_url: str, launch_gateway: Callable[..., Server],
                                  tmp_path: Path, mock_log: MockLog) -> None:
    data_dir = tmp_path / "data"
    first = launch_gateway("restart-a", store_url, "--run-lease", "2", data_dir=data_dir)
    with sdk(first) as client, raw_http(first) as http:
        one = create(client, model="mock-echo", input="first turn", instructions="rules")
        two = stream_create(client, model="mock-echo", input="second turn",
                            previous_response_id=one["id"])[-1]["response"]
        bg = create(client, model="mock-echo", input="in the background", background=True)
        wait_for(client, bg["id"], settled)
        ids = [one["id"], two["id"], bg["id"]]
        bodies = {i: retrieve(client, i) for i in ids}
        items = {i: http.get(f"/v1/responses/{i}/input_items").json() for i in ids}
        events = replay(http, bg["id"])
    assert bodies[one["id"]] == one and bodies[two["id"]] == two
    assert bodies[bg["id"]]["status"] == "completed"
    first.stop()  # SIGTERM
    assert first.process.poll() is not None

    second = launch_gateway("restart-b", store_url, "--run-lease", "2", data_dir=data_dir)
    try:
        with sdk(second) as client, raw_http(second) as http:
            for response_id in ids:
                assert retrieve(client, response_id) == bodies[response_id]
                assert http.get(f"/v1/responses/{response_id}/input_items").json() == \
                    items[response_id]
            assert replay(http, bg["id"]) == events
            three = create(client, model="mock-echo", input="third turn",
                           previous_response_id=two["id"])
            assert three["output"][0]["content"][0]["text"] == "You said: third turn"
    finally:
        second.stop()
    assert chat_messages(mock_log)[-1] == [
        {"role": "user", "content": "first turn"},
        {"role": "assistant", "content": "You said: first turn"},
        {"role": "user", "content": "second turn"},
        {"role": "assistant", "content": "You said: second turn"},
        {"role": "user", "content": "third turn"}]


def test_shutdown_mid_run_fails_it_at_once(store_url: str,
                                          launch_gateway: Callable[..., Server],
                                          tmp_path: Path) -> None:
    """SIGTERM during a background run (with no time allowed to finish it): the run is
    settled (failed) before the process exits, with a terminal event, so nobody has to wait
    for its lease. (test_shutdown.py covers the deadline itself.)"""
    first = launch_gateway("term-a", store_url, "--run-lease", "2", "--shutdown-timeout", "0",
                           data_dir=tmp_path)
    with sdk(first) as client:
        queued = create(client, model="mock-slow", input=_words(20), background=True)
        wait_for(client, queued["id"], lambda b: b["status"] == "in_progress")
    first.stop()  # SIGTERM
    assert first.process.returncode == 0, first.output()[-2000:]
    second = launch_gateway("term-b", store_url, "--run-lease", "2", data_dir=tmp_path)
    try:
        with sdk(second) as client, raw_http(second) as http:
            final = retrieve(client, queued["id"])
            assert final["status"] == "failed" and final["error"]["code"] == "server_error"
            started = time.monotonic()
            events = replay(http, queued["id"])
            assert time.monotonic() - started < 1.0
    finally:
        second.stop()
    check_event_sequence(events)
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"] == final


def _crash_mid_run(store_url: str, launch_gateway: Callable[..., Server],
                   data_dir: Path) -> tuple[str, float]:
    """Start a long background run, SIGKILL its gateway mid-run; (response id, kill time)."""
    doomed = launch_gateway("crash-a", store_url, "--run-lease", "2", data_dir=data_dir)
    with sdk(doomed) as client, raw_http(doomed) as http:
        queued = create(client, model="mock-slow", input=_words(25), background=True)
        wait_for(client, queued["id"], lambda b: b["status"] == "in_progress")
        deadline = time.monotonic() + 5
        while not any(e["type"] == "response.output_text.delta"
                      for e in replay_nowait(http, queued["id"])):
            assert time.monotonic() < deadline, "the run never produced text"
            time.sleep(0.05)
    doomed.process.kill()  # SIGKILL: no chance to settle anything
    doomed.process.wait(timeout=5)
    return queued["id"], time.monotonic()


def replay_nowait(http: httpx2.Client, response_id: str) -> list[dict[str, Any]]:
    """The events logged so far, read from a replay stream that is closed early."""
    events: list[dict[str, Any]] = []
    with http.stream("GET", f"/v1/responses/{response_id}",
                     params={"stream": "true"}) as response:
        raw = b""
        for chunk in response.iter_bytes():
            raw += chunk
            if raw.endswith(b"\n\n"):
                events = [f.json() for f in parse_sse(raw)]
                for event in events:
                    validate_event(event)
                if any(e["type"] == "response.output_text.delta" for e in events):
                    break
    return events


@dataclass
class Crash:
    """A background run whose gateway was SIGKILLed mid-run, and the gateway started after."""

    response_id: str
    successor: Server
    settled: dict[str, Any]  # the first retrieve (on the successor) that was not in progress
    settled_after: float  # seconds from the SIGKILL to that retrieve


@pytest.fixture(scope="module")
def crash(backend: str, launch_gateway: Callable[..., Server],
          tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[Crash]:
    directory = tmp_path_factory.mktemp(f"crash-{backend}")
    url = _store_url(backend, directory, request)
    response_id, killed_at = _crash_mid_run(url, launch_gateway, directory / "data")
    successor = launch_gateway("crash-b", url, "--run-lease", "2", data_dir=directory / "data")
    try:
        with sdk(successor) as client:
            final = wait_for(client, response_id, settled, timeout=5)
        yield Crash(response_id, successor, final, time.monotonic() - killed_at)
    finally:
        successor.stop()


def test_crash_mid_run_is_failed_not_stuck(crash: Crash) -> None:
    assert crash.settled["status"] == "failed"
    # The lease is 2 s; the rest is starting the successor gateway, which takes seconds on a
    # loaded machine. "Stuck" would be the 600 s idle timeout.
    assert crash.settled_after < 8, f"settled {crash.settled_after:.1f} s after the crash"
    assert crash.settled["error"] and crash.settled["error"]["code"] == "server_error"
    with sdk(crash.successor) as client, raw_http(crash.successor) as http:
        assert retrieve(client, crash.response_id) == crash.settled
        started = time.monotonic()
        events = replay(http, crash.response_id, 1, timeout=10)  # terminates
        assert time.monotonic() - started < 3.5
    assert events and events[0]["sequence_number"] == 2
    assert any(e["type"] == "response.output_text.delta" for e in events)


def test_crash_mid_run_resume_ends_with_response_failed(crash: Crash) -> None:
    with raw_http(crash.successor) as http:
        events = replay(http, crash.response_id, timeout=10)
    assert events[-1]["type"] == "response.failed", [e["type"] for e in events[-3:]]
    assert events[-1]["response"]["status"] == "failed"
    check_event_sequence(events)

