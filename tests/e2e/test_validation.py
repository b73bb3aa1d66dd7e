"""End to end: strict validation (issue 12 item 5).

Every case the probe found (a 500, or a 200 where OpenAI answers 400) is a 400 naming the
field in `param`, with OpenAI's code, and nothing reaches the provider.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import aiohttp
import httpx2
import orjson
import pytest
from e2e_support import CLIENT_KEY, GATEWAY_KEY, WEATHER_TOOL, MockLog, Server, parse_sse

BASE = {"model": "mock-echo", "input": "hi"}


def nested(depth: int, leaf: Any = "x") -> Any:
    """A value `depth` levels of objects deep: {"a": {"a": ... leaf}}."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


DEEP = "__deep__"  # stands for a value too deep for orjson to write: see encode()


def encode(body: Any, depth: int = 0) -> bytes:
    """`body` as JSON, with DEEP replaced by `depth` levels of {"a": ...}, as raw bytes."""
    raw = orjson.dumps(body)
    return raw.replace(orjson.dumps(DEEP), b'{"a":' * depth + b'"x"' + b"}" * depth)


def post(http: httpx2.Client, path: str, body: Any, **kwargs: Any) -> httpx2.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return http.post(path, content=raw, headers={"Content-Type": "application/json"}, **kwargs)


def assert_400(response: httpx2.Response, param: str | None, code: str | None = None) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    assert error["message"] and "Traceback" not in response.text


# -- create: the probe's cases -------------------------------------------------------------------

CREATE_CASES = [
    # (body fields over BASE, param, code)
    pytest.param({"input": [{"role": [], "content": "hi"}]}, "input[0].role", "invalid_type",
                 id="role-array"),
    pytest.param({"input": [{"role": "user", "content": 5}]}, "input[0].content",
                 "invalid_type", id="content-number"),
    pytest.param({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata",
                 "object_above_max_properties", id="metadata-17-keys"),
    pytest.param({"metadata": {"k": "v" * 513}}, "metadata.k", "string_above_max_length",
                 id="metadata-value-513"),
    pytest.param({"metadata": {"k" * 65: "v"}}, "metadata", "property_name_above_max_length",
                 id="metadata-key-65"),
    pytest.param({"metadata": {"k": 5}}, "metadata.k", "invalid_type", id="metadata-number"),
    pytest.param({"metadata": {"k": {"a": "b"}}}, "metadata.k", "invalid_type",
                 id="metadata-object"),
    pytest.param({"conversation": False}, "conversation", "invalid_type",
                 id="conversation-false"),
    pytest.param({"conversation": 0}, "conversation", "invalid_type", id="conversation-zero"),
    pytest.param({"conversation": {}}, "conversation.id", "missing_required_parameter",
                 id="conversation-without-id"),
    pytest.param({"include": [5]}, "include[0]", "invalid_type", id="include-number"),
    pytest.param({"include": ["bogus"]}, "include[0]", "invalid_value", id="include-bogus"),
    pytest.param({"reasoning": {"effort": 5}}, "reasoning.effort", "invalid_type",
                 id="effort-number"),
    pytest.param({"reasoning": {"effort": "ultra"}}, "reasoning.effort", "invalid_value",
                 id="effort-ultra"),
    pytest.param({"reasoning": {"summary": "long"}}, "reasoning.summary", "invalid_value",
                 id="summary-long"),
    pytest.param({"text": {"verbosity": 5}}, "text.verbosity", "invalid_type",
                 id="verbosity-number"),
    pytest.param({"text": {"verbosity": "loud"}}, "text.verbosity", "invalid_value",
                 id="verbosity-loud"),
    pytest.param({"truncation": "sometimes"}, "truncation", "invalid_value",
                 id="truncation-unknown"),
    pytest.param({"service_tier": "platinum"}, "service_tier", "invalid_value",
                 id="service-tier-unknown"),
    pytest.param({"tools": [{"type": "teleporter"}]}, "tools[0].type", "invalid_value",
                 id="tool-type-unknown"),
    pytest.param({"tools": [WEATHER_TOOL, {"type": "function"}]}, "tools[1].name",
                 "missing_required_parameter", id="function-tool-without-name"),
    pytest.param({"tools": [{**WEATHER_TOOL, "name": "get weather"}]}, "tools[0].name",
                 "invalid_value", id="tool-name-with-space"),
    pytest.param({"temperature": -5}, "temperature", "decimal_below_min_value",
                 id="temperature-negative"),
    pytest.param({"temperature": 100}, "temperature", "decimal_above_max_value",
                 id="temperature-100"),
    pytest.param({"top_p": 5}, "top_p", "decimal_above_max_value", id="top-p-5"),
    pytest.param({"presence_penalty": 3}, "presence_penalty", "decimal_above_max_value",
                 id="presence-penalty-3"),
    pytest.param({"top_logprobs": 21}, "top_logprobs", "integer_above_max_value",
                 id="top-logprobs-21"),
    pytest.param({"tool_choice": "sometimes"}, "tool_choice", "invalid_value",
                 id="tool-choice-unknown"),
    pytest.param({"input": [{"type": "function_call", "call_id": "c1", "name": "f",
                             "arguments": {"a": 1}}]}, "input[0].arguments", "invalid_type",
                 id="call-arguments-object"),
    pytest.param({"input": [{"type": "message", "role": "user",
                             "content": [{"type": "input_text", "text": 5}]}]},
                 "input[0].content[0].text", "invalid_type", id="text-part-number"),
    pytest.param({"input": [{"type": "reasoning", "summary": "thought"}]},
                 "input[0].summary", "invalid_type", id="reasoning-summary-string"),
    pytest.param({"input": [{"type": "program"}]}, "input[0].type", "unsupported_item",
                 id="program-item"),
    pytest.param({"text": {"format": {"type": "json_schema", "name": "x", "schema": []}}},
                 "text.format.schema", "invalid_type", id="schema-array"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fields, param, code", CREATE_CASES)
def test_create_case_is_openais_400_before_the_upstream(
        http: httpx2.Client, mock_log: MockLog, fields: dict[str, Any], param: str, code: str,
        stream: bool) -> None:
    assert_400(post(http, "/v1/responses", {**BASE, **fields, "stream": stream}), param, code)
    assert mock_log.chat_requests() == []


def test_enum_message_lists_the_supported_values(http: httpx2.Client) -> None:
    error = post(http, "/v1/responses", {**BASE, "reasoning": {"effort": "ultra"}}).json()
    assert error["error"]["message"] == (
        "Invalid value: 'ultra'. Supported values are: 'none', 'minimal', 'low', 'medium', "
        "'high', 'xhigh', and 'max'.")


def test_range_message_is_openais(http: httpx2.Client) -> None:
    error = post(http, "/v1/responses", {**BASE, "temperature": 100}).json()
    assert error["error"]["message"] == (
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got "
        "100 instead.")


def test_hosted_tool_is_still_dropped_and_valid_values_pass(http: httpx2.Client,
                                                            mock_log: MockLog) -> None:
    body = {**BASE, "tools": [{"type": "web_search"}], "metadata": {"k" * 64: "v" * 512},
            "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low"},
            "text": {"verbosity": "low"}, "truncation": "auto", "service_tier": "flex",
            "temperature": 2, "top_p": 0, "conversation": None}
    response = post(http, "/v1/responses", body)
    assert response.status_code == 200, response.text
    assert len(mock_log.chat_requests()) == 1
    assert "tools" not in mock_log.last_body()


# -- nesting beyond what the JSON writer can write -----------------------------------------------

DEEP_CASES = [
    pytest.param({"metadata": {"k": DEEP}}, "metadata.k.a", id="metadata"),
    pytest.param({"tools": [{**WEATHER_TOOL, "parameters": DEEP}]}, "tools[0].parameters",
                 id="tool-parameters"),
    pytest.param({"text": {"format": {"type": "json_schema", "name": "x", "schema": DEEP}}},
                 "text.format.schema", id="schema"),
    pytest.param({"input": [
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": DEEP}]},
                 "input[1].output", id="tool-output"),
]


@pytest.mark.parametrize("depth", [255, 1020])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fields, param", DEEP_CASES)
def test_too_deep_json_is_a_400_at_parse_time(
        http: httpx2.Client, mock_log: MockLog, fields: dict[str, Any], param: str,
        depth: int, stream: bool) -> None:
    response = post(http, "/v1/responses", encode({**BASE, **fields, "stream": stream}, depth))
    assert_400(response, param, "nesting_too_deep")
    assert mock_log.chat_requests() == []


def test_nesting_up_to_the_limit_is_written_and_stored(http: httpx2.Client,
                                                       mock_log: MockLog) -> None:
    # 128 levels in all: the body, "tools", the tool, "parameters" and 124 more objects.
    body = {**BASE, "stream": True, "tools": [{**WEATHER_TOOL, "parameters": nested(124, {})}]}
    response = post(http, "/v1/responses", body)
    assert response.status_code == 200, response.text
    last = parse_sse(response.content)[-1].json()
    assert last["type"] == "response.completed"
    stored = http.get(f"/v1/responses/{last['response']['id']}")
    assert stored.status_code == 200 and stored.json()["tools"][0]["parameters"]
    one_more = {**BASE, "tools": [{**WEATHER_TOOL, "parameters": nested(125, {})}]}
    assert_400(post(http, "/v1/responses", one_more), "tools[0].parameters", "nesting_too_deep")


def test_too_deep_json_on_a_websocket_is_an_error_event(gateway: Server,
                                                        mock_log: MockLog) -> None:
    async def one_turn() -> dict[str, Any]:
        url = gateway.url.replace("http://", "ws://") + "/v1/responses"
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(
                    url, headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as ws:
                await ws.send_str(encode({"type": "response.create", **BASE,
                                          "metadata": {"k": DEEP}}, 300).decode())
                message = await asyncio.wait_for(ws.receive(), 10)
                return orjson.loads(message.data)  # type: ignore[no-any-return]

    event = asyncio.run(one_turn())
    assert event["type"] == "error" and event["status"] == 400, event
    assert event["error"]["param"] == "metadata.k.a"
    assert mock_log.chat_requests() == []


# -- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("secured", [False, True], ids=["open", "secured"])
def test_non_utf8_authorization_is_a_400(gateway: Server, secured_gateway: Server,
                                         mock_log: MockLog, secured: bool) -> None:
    server = secured_gateway if secured else gateway
    response = httpx2.post(server.url + "/v1/responses", content=orjson.dumps(BASE),
                           headers={"Content-Type": "application/json",
                                    "Authorization": b"Bearer \xff\xfe" + GATEWAY_KEY.encode()},
                           timeout=30)
    assert_400(response, "authorization", "invalid_header")
    assert mock_log.chat_requests() == []


def raw_exchange(server: Server, head: bytes) -> bytes:
    """Send `head` as is on a new connection and read the answer to its end."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("head", [
    pytest.param(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"X-Request-Id: evil\x0bheader\r\nContent-Length: 0\r\n\r\n",
                 id="control-character-in-a-header"),
    pytest.param(b"GET /v1/responses/resp_1/input_items?after=" + b"evil" * 3000
                 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", id="request-line-over-8-kib"),
])
def test_malformed_http_is_a_json_400_and_one_log_line(gateway: Server, head: bytes) -> None:
    """aiohttp's parser refuses these before any handler runs; by default it answers
    text/plain quoting the bytes and logs a traceback at ERROR for each (a log flood anyone
    can cause)."""
    logged_before = len(gateway.output())
    answer = raw_exchange(gateway, head)
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 400 " in status_line, answer[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"application/json" in headers.lower(), answer[:300]
    error = orjson.loads(body)["error"]
    assert error["code"] == "malformed_http_request"
    assert error["type"] == "invalid_request_error"
    assert b"evil" not in answer  # nothing of the request is echoed
    time.sleep(0.2)
    logged = gateway.output()[logged_before:]
    assert "Traceback" not in logged and "ERROR" not in logged, logged
    assert "refused a malformed HTTP request" in logged, logged


# -- conversations -------------------------------------------------------------------------------


def new_conversation(http: httpx2.Client, **body: Any) -> str:
    response = post(http, "/v1/conversations", body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


CONVERSATION_ITEM_CASES = [
    pytest.param({"type": "message", "role": "user", "content": 5}, "items[0].content",
                 id="content-number"),
    pytest.param({"type": "teleport"}, "items[0].type", id="unknown-type"),
    pytest.param({"role": "wizard", "content": "hi"}, "items[0].role", id="unknown-role"),
    pytest.param({"type": "function_call_output", "output": "x"}, "items[0].call_id",
                 id="output-without-call-id"),
    pytest.param({"type": "message", "role": "user",
                  "content": [{"type": "input_image", "file_id": "file_1"}]},
                 "items[0].content[0].file_id", id="image-by-file-id"),
    pytest.param("hello", "items[0]", id="not-an-object"),
    pytest.param({"type": "item_reference", "id": "msg_1"}, "items[0].type",
                 id="item-reference"),
    pytest.param({"id": "msg_1"}, "items[0].type", id="bare-reference"),
    pytest.param({"type": "message", "role": "user", "content": "x", "type_": 1,
                  "status": "done"}, "items[0].status", id="unknown-status"),
]


@pytest.mark.parametrize("item, param", CONVERSATION_ITEM_CASES)
def test_conversation_items_are_validated_like_input_items(
        http: httpx2.Client, mock_log: MockLog, item: Any, param: str) -> None:
    assert_400(post(http, "/v1/conversations", {"items": [item]}), param)
    conversation = new_conversation(http)
    assert_400(post(http, f"/v1/conversations/{conversation}/items", {"items": [item]}), param)
    # Nothing was added, so the next turn on the conversation still works.
    assert http.get(f"/v1/conversations/{conversation}/items").json()["data"] == []
    response = post(http, "/v1/responses", {**BASE, "conversation": conversation})
    assert response.status_code == 200, response.text
    assert len(mock_log.chat_requests()) == 1


def test_conversation_with_valid_items_feeds_a_turn(http: httpx2.Client,
                                                    mock_log: MockLog) -> None:
    items = [{"type": "message", "role": "user", "content": [{"type": "input_text",
                                                              "text": "earlier"}]},
             {"type": "message", "role": "assistant",
              "content": [{"type": "output_text", "text": "noted"}]}]
    conversation = new_conversation(http, items=items, metadata={"topic": "x"})
    response = post(http, "/v1/responses", {**BASE, "conversation": {"id": conversation}})
    assert response.status_code == 200, response.text
    sent = mock_log.last_body()["messages"]
    assert [m["content"] for m in sent] == ["earlier", "noted", "hi"]


@pytest.mark.parametrize("body, param, code", [
    pytest.param({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata",
                 "object_above_max_properties", id="17-keys"),
    pytest.param({"metadata": {"k": "v" * 513}}, "metadata.k", "string_above_max_length",
                 id="long-value"),
    pytest.param({"metadata": {"k": 1}}, "metadata.k", "invalid_type", id="number-value"),
    pytest.param({"metadata": "x"}, "metadata", "invalid_type", id="string"),
    pytest.param({"items": [{"role": "user", "content": "x"}] * 21}, "items",
                 "array_above_max_length", id="21-items"),
    pytest.param({"items": {"role": "user"}}, "items", "invalid_type", id="items-object"),
    pytest.param(encode({"metadata": {"k": DEEP}}, 300), "metadata.k.a", "nesting_too_deep",
                 id="too-deep"),
])
def test_conversation_create_is_validated(http: httpx2.Client, body: Any,
                                          param: str, code: str) -> None:
    assert_400(post(http, "/v1/conversations", body), param, code)


@pytest.mark.parametrize("body, param, code", [
    pytest.param({}, "metadata", "missing_required_parameter", id="missing"),
    pytest.param({"metadata": {"k": ["v"]}}, "metadata.k", "invalid_type", id="array-value"),
    pytest.param({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata",
                 "object_above_max_properties", id="17-keys"),
])
def test_conversation_update_is_validated(http: httpx2.Client, body: dict[str, Any],
                                          param: str, code: str) -> None:
    conversation = new_conversation(http, metadata={"a": "1"})
    assert_400(post(http, f"/v1/conversations/{conversation}", body), param, code)
    assert http.get(f"/v1/conversations/{conversation}").json()["metadata"] == {"a": "1"}


def test_add_items_needs_items(http: httpx2.Client) -> None:
    conversation = new_conversation(http)
    assert_400(post(http, f"/v1/conversations/{conversation}/items", {}), "items",
               "missing_required_parameter")


# -- query parameters of the retrieval routes ----------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_gateway(launch_gateway: Callable[..., Server],
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway on SQLite, where a sequence number beyond 64 bits used to be a 500."""
    path: Path = tmp_path_factory.mktemp("validation-store") / "store.db"
    server = launch_gateway("validation-sqlite", f"sqlite:///{path}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stored(sqlite_gateway: Server) -> dict[str, str]:
    """A stored background response and a conversation with one item, on `sqlite_gateway`."""
    with httpx2.Client(base_url=sqlite_gateway.url, timeout=30) as http:
        response = post(http, "/v1/responses", {**BASE, "background": True})
        assert response.status_code == 200, response.text
        conversation = new_conversation(http, items=[{"role": "user", "content": "x"}])
        return {"response": response.json()["id"], "conversation": conversation}


QUERY_CASES = [
    pytest.param("limit=0", "limit", "integer_below_min_value", id="limit-0"),
    pytest.param("limit=101", "limit", "integer_above_max_value", id="limit-101"),
    pytest.param("limit=ten", "limit", "invalid_type", id="limit-word"),
    pytest.param("limit=" + "9" * 5000, "limit", "integer_above_max_value", id="limit-huge"),
    pytest.param("order=sideways", "order", "invalid_value", id="order-unknown"),
    pytest.param("include=bogus", "include[0]", "invalid_value", id="include-bogus"),
    pytest.param("include[]=reasoning.encrypted_content&include[]=x", "include[1]",
                 "invalid_value", id="include-brackets"),
    pytest.param("after=" + "x" * 300, "after", "string_above_max_length", id="after-huge"),
]


@pytest.mark.parametrize("query, param, code", QUERY_CASES)
@pytest.mark.parametrize("route", ["input_items", "conversation_items"])
def test_list_query_is_validated(sqlite_gateway: Server, stored: dict[str, str], route: str,
                                 query: str, param: str, code: str) -> None:
    path = (f"/v1/responses/{stored['response']}/input_items" if route == "input_items"
            else f"/v1/conversations/{stored['conversation']}/items")
    assert_400(httpx2.get(f"{sqlite_gateway.url}{path}?{query}", timeout=30), param, code)


@pytest.mark.parametrize("query, param, code", [
    pytest.param("stream=true&starting_after=99999999999999999999999", "starting_after",
                 "integer_above_max_value", id="starting-after-huge"),
    pytest.param("stream=true&starting_after=9223372036854775808", "starting_after",
                 "integer_above_max_value", id="starting-after-2-63"),
    pytest.param("stream=true&starting_after=-2", "starting_after", "integer_below_min_value",
                 id="starting-after-negative"),
    pytest.param("stream=true&starting_after=1.5", "starting_after", "invalid_type",
                 id="starting-after-decimal"),
    pytest.param("stream=perhaps", "stream", "invalid_type", id="stream-word"),
    pytest.param("include=bogus", "include[0]", "invalid_value", id="include-bogus"),
])
def test_retrieve_query_is_validated(sqlite_gateway: Server, stored: dict[str, str],
                                     query: str, param: str, code: str) -> None:
    url = f"{sqlite_gateway.url}/v1/responses/{stored['response']}?{query}"
    assert_400(httpx2.get(url, timeout=30), param, code)


def test_valid_queries_still_work(sqlite_gateway: Server, stored: dict[str, str]) -> None:
    base = sqlite_gateway.url
    items = httpx2.get(f"{base}/v1/conversations/{stored['conversation']}/items?limit=100"
                       "&order=asc&include[]=message.input_image.image_url", timeout=30)
    assert items.status_code == 200 and len(items.json()["data"]) == 1
    replay = httpx2.get(f"{base}/v1/responses/{stored['response']}?stream=true"
                        "&starting_after=0", timeout=30)
    assert replay.status_code == 200, replay.text
    assert parse_sse(replay.content)[-1].json()["type"] == "response.completed"
