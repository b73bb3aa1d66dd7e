"""End to end: two gateway replicas sharing one store (issue #5, "several replicas"), once
on Redis and once on PostgreSQL.

Gateways A and B run as separate processes on different ports with
`--store redis://127.0.0.1:6379/15` (or one PostgreSQL schema) and talk to the same mock provider (through the relay that
shows when an upstream connection is closed). Whatever is created on one is read, continued,
resumed and cancelled on the other. Every Response and SSE event is checked by the strict
openai SDK and the Open Responses schema. Without Redis or PostgreSQL these tests skip (fail with CI=true).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

import httpx2
import openai
import pytest
from e2e_support import TERMINAL_TYPES, MockLog, Server
from schema_check import check_event_sequence, validate_event
from test_stateful import (
    REDIS_URL,
    cancel,
    chat_messages,
    create,
    raw_http,
    replay,
    retrieve,
    sdk,
    settled,
    stream_create,
    wait_for,
)


@pytest.fixture(scope="module", params=["redis", "postgres"])
def replicas(launch_gateway: Callable[..., Server],
             request: pytest.FixtureRequest) -> Iterator[tuple[Server, Server]]:
    if request.param == "redis":
        request.getfixturevalue("redis_db")
        url = REDIS_URL
    else:
        url = request.getfixturevalue("postgres_db")()  # one schema, shared by A and B
    a = launch_gateway(f"replica-a-{request.param}", url, "--run-lease", "2")
    b = launch_gateway(f"replica-b-{request.param}", url, "--run-lease", "2")
    assert a.url != b.url
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture
def a(replicas: tuple[Server, Server]) -> Iterator[openai.OpenAI]:
    with sdk(replicas[0]) as client:
        yield client


@pytest.fixture
def b(replicas: tuple[Server, Server]) -> Iterator[openai.OpenAI]:
    with sdk(replicas[1]) as client:
        yield client


@pytest.fixture
def http_a(replicas: tuple[Server, Server]) -> Iterator[httpx2.Client]:
    with raw_http(replicas[0]) as client:
        yield client


@pytest.fixture
def http_b(replicas: tuple[Server, Server]) -> Iterator[httpx2.Client]:
    with raw_http(replicas[1]) as client:
        yield client


def test_created_on_a_is_retrieved_on_b(a: openai.OpenAI, b: openai.OpenAI,
                                        http_a: httpx2.Client, http_b: httpx2.Client) -> None:
    created = create(a, model="mock-echo", input=[{"role": "user", "content": "one"},
                                                  {"role": "user", "content": "two"}])
    assert retrieve(b, created["id"]) == created
    path = f"/v1/responses/{created['id']}/input_items"
    assert http_b.get(path).json() == http_a.get(path).json()
    assert [i.content[0].text for i in b.responses.input_items.list(  # type: ignore[union-attr]
        created["id"], order="asc").data] == ["one", "two"]


def test_streamed_on_a_is_on_b_by_its_terminal_event(a: openai.OpenAI, b: openai.OpenAI) -> None:
    """Stored before the terminal event, also across replicas."""
    found = None
    for event in a.responses.create(model="mock-echo", input="across", stream=True):
        validate_event(event.to_dict())
        if event.type == "response.completed":
            found = retrieve(b, event.response.id)
            assert found == event.response.to_dict()
    assert found is not None and found["status"] == "completed"


def test_continue_on_b_from_a_and_back(a: openai.OpenAI, b: openai.OpenAI,
                                       mock_log: MockLog) -> None:
    one = create(a, model="mock-echo", input="first on A", instructions="A rules")
    two = create(b, model="mock-echo", input="second on B", previous_response_id=one["id"])
    three = stream_create(a, model="mock-echo", input="third on A",
                          previous_response_id=two["id"])[-1]["response"]
    assert three["previous_response_id"] == two["id"]
    sent = chat_messages(mock_log)
    assert sent[0] == [{"role": "system", "content": "A rules"},
                       {"role": "user", "content": "first on A"}]
    assert sent[1] == [{"role": "user", "content": "first on A"},
                       {"role": "assistant", "content": "You said: first on A"},
                       {"role": "user", "content": "second on B"}]
    assert sent[2] == [*sent[1], {"role": "assistant", "content": "You said: second on B"},
                       {"role": "user", "content": "third on A"}]
    assert retrieve(b, three["id"]) == three


def test_background_on_a_resumed_on_b(a: openai.OpenAI, b: openai.OpenAI,
                                      http_a: httpx2.Client, http_b: httpx2.Client) -> None:
    queued = create(a, model="mock-slow", input="resume me on the other replica",
                    background=True)
    wait_for(b, queued["id"], lambda body: body["status"] == "in_progress")
    # Resumed on B while A still runs it: B follows it live to the end.
    resumed = [e.to_dict() for e in b.responses.retrieve(queued["id"], stream=True,
                                                         starting_after=2)]
    for event in resumed:
        validate_event(event)
    assert [e["sequence_number"] for e in resumed] == list(range(3, 3 + len(resumed)))
    assert resumed[-1]["type"] == "response.completed"
    final = retrieve(b, queued["id"])
    assert final == retrieve(a, queued["id"]) == resumed[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "You said: resume me on the other replica"
    # What A replays is exactly what B streamed.
    assert replay(http_a, queued["id"], 2) == resumed
    assert replay(http_b, queued["id"], 2) == resumed
    full = replay(http_a, queued["id"])
    check_event_sequence(full)
    assert full[3:] == resumed


def test_cancel_on_b_stops_the_run_on_a(a: openai.OpenAI, b: openai.OpenAI,
                                        http_a: httpx2.Client, provider_relay: Any) -> None:
    words = 15
    wait_for(a, create(a, model="mock-echo", input="warm", background=True)["id"], settled)
    provider_relay.reset()
    queued = create(a, model="mock-slow", input=" ".join(f"w{n}" for n in range(words)),
                    background=True)
    deadline = time.monotonic() + 5
    while provider_relay.data_frames() < 3:
        assert time.monotonic() < deadline, "the provider never started answering"
        time.sleep(0.02)
    assert retrieve(b, queued["id"])["status"] == "in_progress"
    cancel_started = time.monotonic()
    cancelled = cancel(b, queued["id"])
    assert cancelled["status"] == "cancelled"
    assert retrieve(a, queued["id"])["status"] == "cancelled"
    # A's run stopped: it closed its upstream connection before the provider finished.
    deadline = time.monotonic() + 2
    while provider_relay.closed_by_gateway() < 1:
        assert time.monotonic() < deadline, (
            "A did not close its upstream connection: "
            f"{provider_relay.summary()}, "
            f"{time.monotonic() - cancel_started:.2f} s after the cancel was sent")
        time.sleep(0.02)
    assert provider_relay.done_frames() == 0
    assert provider_relay.data_frames() < words
    time.sleep(0.5)
    later = retrieve(a, queued["id"])
    assert later["status"] == "cancelled" and later["output"] == cancelled["output"]
    events = replay(http_a, queued["id"])
    check_event_sequence(events)
    assert events[-1]["type"] in TERMINAL_TYPES
    assert events[-1]["response"]["status"] == "cancelled"


def test_conversation_created_on_a_used_on_b(a: openai.OpenAI, b: openai.OpenAI,
                                             mock_log: MockLog) -> None:
    conversation = a.conversations.create(
        items=[{"type": "message", "role": "user", "content": "shared note"}])
    assert b.conversations.retrieve(conversation.id).to_dict() == conversation.to_dict()
    on_b = create(b, model="mock-echo", input="on B", conversation=conversation.id)
    assert chat_messages(mock_log)[-1] == [{"role": "user", "content": "shared note"},
                                           {"role": "user", "content": "on B"}]
    items = a.conversations.items.list(conversation.id, order="asc").data
    assert len(items) == 3 and items[-1].id == on_b["output"][0]["id"]
    create(a, model="mock-echo", input="on A", conversation=conversation.id)
    assert chat_messages(mock_log)[-1] == [{"role": "user", "content": "shared note"},
                                           {"role": "user", "content": "on B"},
                                           {"role": "assistant", "content": "You said: on B"},
                                           {"role": "user", "content": "on A"}]
    b.conversations.delete(conversation.id)
    with pytest.raises(openai.NotFoundError):
        a.conversations.retrieve(conversation.id)


def test_deleted_on_b_is_gone_on_a(a: openai.OpenAI, b: openai.OpenAI) -> None:
    created = create(a, model="mock-echo", input="short story")
    b.responses.delete(created["id"])
    with pytest.raises(openai.NotFoundError):
        a.responses.retrieve(created["id"])
    with pytest.raises(openai.NotFoundError) as info:
        a.responses.create(model="mock-echo", input="x", previous_response_id=created["id"])
    assert info.value.code == "previous_response_not_found"


def test_deleted_on_b_while_running_on_a_stays_deleted(
        a: openai.OpenAI, b: openai.OpenAI, http_a: httpx2.Client, http_b: httpx2.Client,
        provider_relay: Any) -> None:
    wait_for(a, create(a, model="mock-echo", input="warm", background=True)["id"], settled)
    provider_relay.reset()
    queued = create(a, model="mock-slow", input=" ".join(f"w{n}" for n in range(12)),
                    background=True)
    wait_for(b, queued["id"], lambda body: body["status"] == "in_progress")
    b.responses.delete(queued["id"])
    for _ in range(8):  # longer than a lease renewal (run-lease / 3)
        time.sleep(0.15)
        for http in (http_a, http_b):
            again = http.get(f"/v1/responses/{queued['id']}")
            assert again.status_code == 404, f"HTTP {again.status_code}: {again.text[:300]}"
    assert provider_relay.closed_by_gateway() >= 1, "A did not stop the deleted run"
    assert provider_relay.done_frames() == 0
