"""Property tests against the real gateway and mock provider (issue 12 item 5).

Bodies drawn from the request schema (tests/request_strategies.py) are posted to the gateway
process. Whatever they hold: never a 5xx, never an empty 200, and an invalid request (any
4xx) sends nothing upstream; the mock provider's request log is the witness. The runs are
bounded (a fixed number of derandomized examples, a deadline each) to keep CI fast.
"""

from __future__ import annotations

from typing import Any, Iterator

import httpx2
import orjson
import pytest
from e2e_support import CLIENT_KEY, TERMINAL_TYPES, Server, parse_sse
from hypothesis import given
from hypothesis import strategies as st
from request_strategies import examples, invalid_cases, valid_bodies, wild_bodies, wild_items


@pytest.fixture(scope="module")
def http(gateway: Server) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=gateway.url, timeout=30,
                       headers={"Authorization": f"Bearer {CLIENT_KEY}",
                                "Content-Type": "application/json"}) as client:
        yield client


class UpstreamLog:
    """The mock provider's request log, read over one kept-alive connection (it is read
    twice per example)."""

    def __init__(self, provider: Server) -> None:
        self._client = httpx2.Client(base_url=provider.url, timeout=10)

    def clear(self) -> None:
        assert self._client.delete("/_mock/requests").status_code in (200, 204)

    def chat_requests(self) -> list[dict[str, Any]]:
        requests = self._client.get("/_mock/requests").json()["requests"]
        return [r for r in requests if r["path"].endswith("/chat/completions")]

    def close(self) -> None:
        self._client.close()


@pytest.fixture(scope="module")
def log(mock_provider: Server) -> Iterator[UpstreamLog]:
    upstream = UpstreamLog(mock_provider)
    yield upstream
    upstream.close()


def create(http: httpx2.Client, log: UpstreamLog, body: Any) -> tuple[httpx2.Response, int]:
    """POST /v1/responses; returns the answer and how many chat requests went upstream."""
    log.clear()
    response = http.post("/v1/responses", content=orjson.dumps(body))
    return response, len(log.chat_requests())


def check_answer(response: httpx2.Response, upstream_calls: int) -> None:
    """The properties every answer has, whatever was asked."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert upstream_calls == 0, f"a {response.status_code} after calling upstream"
        error = response.json()["error"]
        assert error["message"] and error["type"], error
        return
    assert response.status_code == 200, response.text
    assert response.content, "an empty 200"
    if response.headers["content-type"].startswith("text/event-stream"):
        events = [frame.json() for frame in parse_sse(response.content)]
        assert events and events[-1]["type"] in TERMINAL_TYPES, events[-1:]
    else:
        body = response.json()
        assert body["object"] == "response" and body["id"], body


@examples(60)
@given(valid_bodies())
def test_valid_bodies_are_answered(http: httpx2.Client, log: UpstreamLog,
                                   body: dict[str, Any]) -> None:
    response, upstream_calls = create(http, log, body)
    assert response.status_code == 200, response.text
    assert upstream_calls == 1
    check_answer(response, upstream_calls)


@examples(100)
@given(invalid_cases())
def test_invalid_bodies_are_400_naming_the_field(http: httpx2.Client, log: UpstreamLog,
                                                 case: tuple[dict[str, Any], str]) -> None:
    body, param = case
    response, upstream_calls = create(http, log, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert upstream_calls == 0


@examples(100)
@given(wild_bodies())
def test_any_body_is_answered_without_5xx(http: httpx2.Client, log: UpstreamLog,
                                          body: dict[str, Any]) -> None:
    check_answer(*create(http, log, body))


@examples(50)
@given(st.lists(wild_items(), min_size=1, max_size=3))
def test_conversation_items_never_break_a_later_turn(http: httpx2.Client, log: UpstreamLog,
                                                     items: list[Any]) -> None:
    log.clear()
    added = http.post("/v1/conversations", content=orjson.dumps({"items": items}))
    assert added.status_code in (200, 400), added.text
    assert log.chat_requests() == []
    if added.status_code == 200:
        turn = {"model": "mock-echo", "input": "next", "conversation": added.json()["id"]}
        response, upstream_calls = create(http, log, turn)
        assert response.status_code == 200, response.text
        check_answer(response, upstream_calls)
