"""End to end: upstream failures, bad input and inbound auth (issue #2 items 5-7; DESIGN §7)."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import orjson
import pytest
from e2e_support import (
    CLIENT_KEY,
    GATEWAY_KEY,
    UPSTREAM_KEY,
    MockLog,
    Server,
    checked_stream,
    parse_sse,
    post_stream,
)

# provider status -> (gateway status, the SDK's exception for it)
UPSTREAM_ERRORS = [
    (400, 400, openai.BadRequestError),
    (401, 502, openai.InternalServerError),
    (404, 404, openai.NotFoundError),
    (429, 429, openai.RateLimitError),
    (500, 502, openai.InternalServerError),
    (503, 502, openai.InternalServerError),
]


def _error_body(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and isinstance(error.get("message"), str), body
    assert {"message", "type", "param", "code"} <= set(error), body
    return error  # type: ignore[no-any-return]


# -- provider answers with an HTTP error ------------------------------------------------------


@pytest.mark.parametrize("upstream_status, status, exc_class", UPSTREAM_ERRORS)
def test_upstream_error_raises_matching_sdk_exception(
        client: openai.OpenAI, upstream_status: int, status: int,
        exc_class: type[openai.APIStatusError]) -> None:
    with pytest.raises(exc_class) as caught:
        client.responses.create(model=f"mock-error-{upstream_status}", input="hi")
    assert caught.value.status_code == status
    assert f"mock error {upstream_status}" in _error_body(caught.value)["message"]


@pytest.mark.parametrize("upstream_status, status, exc_class", UPSTREAM_ERRORS)
def test_upstream_error_on_stream_is_an_http_error(
        client: openai.OpenAI, upstream_status: int, status: int,
        exc_class: type[openai.APIStatusError]) -> None:
    with pytest.raises(exc_class) as caught:
        client.responses.create(model=f"mock-error-{upstream_status}", input="hi", stream=True)
    assert caught.value.status_code == status
    assert caught.value.response.headers["content-type"].startswith("application/json")
    assert f"mock error {upstream_status}" in _error_body(caught.value)["message"]


@pytest.mark.parametrize("upstream_status", [400, 401, 404, 429, 500, 503])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_error_body_never_contains_the_upstream_key(
        http: httpx2.Client, upstream_status: int, stream: bool) -> None:
    response = http.post("/v1/responses", content=orjson.dumps(
        {"model": f"mock-error-{upstream_status}", "input": "hi", "stream": stream}))
    assert response.status_code >= 400
    assert UPSTREAM_KEY not in response.text
    assert UPSTREAM_KEY not in str(response.headers)


def test_upstream_4xx_keeps_provider_error_code(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="mock-error-400", input="hi")
    error = _error_body(caught.value)
    assert error["message"] == "mock error 400"
    assert error["code"] == "mock_400"
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("stream", [False, True])
def test_provider_refusing_the_gateway_key_is_a_502_not_a_401(client: openai.OpenAI,
                                                             stream: bool) -> None:
    # A 401 would tell the client its own key is wrong; this is the operator's key.
    with pytest.raises(openai.InternalServerError) as caught:
        client.responses.create(model="mock-error-401", input="hi", stream=stream)
    assert caught.value.status_code == 502
    error = _error_body(caught.value)
    assert error["code"] == "upstream_auth_failed"
    assert "refused the gateway's API key (HTTP 401)" in error["message"]
    assert "mock error 401" in error["message"]


def test_upstream_429_carries_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="mock-error-429", input="hi")
    assert caught.value.response.headers.get("retry-after") == "7"


def test_upstream_429_on_stream_carries_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="mock-error-429", input="hi", stream=True)
    assert caught.value.response.headers.get("retry-after") == "7"


# -- provider fails after the stream started --------------------------------------------------


@pytest.mark.parametrize("model", ["mock-fail-midstream", "mock-drop-midstream"])
def test_midstream_failure_ends_with_error_then_response_failed(
        http: httpx2.Client, model: str) -> None:
    response, frames = post_stream(http, {"model": model, "input": "partial", "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    types = [frame.json()["type"] for frame in frames]
    assert [frame.event for frame in frames] == types
    assert types[-2:] == ["error", "response.failed"]
    assert types.count("response.failed") == 1
    assert "response.completed" not in types and "response.incomplete" not in types
    assert [frame.json()["sequence_number"] for frame in frames] == list(range(len(frames)))


@pytest.mark.parametrize("model", ["mock-fail-midstream", "mock-drop-midstream"])
def test_midstream_failure_keeps_partial_output_and_reports_error(
        http: httpx2.Client, model: str) -> None:
    _, frames = post_stream(http, {"model": model, "input": "partial", "stream": True})
    error_event, failed = frames[-2].json(), frames[-1].json()
    assert error_event["message"]
    assert error_event["error"]["message"] == error_event["message"]
    final = failed["response"]
    assert final["status"] == "failed"
    assert final["error"]["message"]
    assert final["output"][0]["content"][0]["text"] == "You said: "
    assert UPSTREAM_KEY not in frames[-2].data + frames[-1].data


@pytest.mark.parametrize("model", ["mock-fail-midstream", "mock-drop-midstream"])
def test_midstream_failure_events_pass_sdk_and_schema(http: httpx2.Client, model: str) -> None:
    response, frames = post_stream(http, {"model": model, "input": "partial", "stream": True})
    events = checked_stream(response, frames)
    assert events[-1]["type"] == "response.failed"


@pytest.mark.parametrize("model", ["mock-fail-midstream", "mock-drop-midstream"])
def test_midstream_failure_raises_api_error_in_sdk(client: openai.OpenAI, model: str) -> None:
    # The SDK raises on the `error` event, whose data carries a top-level `error` object
    # (spec/real-clients.md §3); the text streamed before it has already been delivered.
    seen: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        for event in client.responses.create(model=model, input="partial", stream=True):
            seen.append(event)
    assert not isinstance(caught.value, (openai.APIConnectionError, openai.APIStatusError))
    assert caught.value.message
    assert "".join(e.delta for e in seen if e.type == "response.output_text.delta") == \
        "You said: "


def test_fail_midstream_model_without_stream_is_502(client: openai.OpenAI) -> None:
    # Not streamed, the mock answers this model with a plain HTTP 500.
    with pytest.raises(openai.InternalServerError) as caught:
        client.responses.create(model="mock-fail-midstream", input="hi")
    assert caught.value.status_code == 502


# -- provider not reachable at all -------------------------------------------------------------


def _unreachable_client(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                         timeout=30, _strict_response_validation=True)


@pytest.mark.parametrize("stream", [False, True])
def test_unreachable_upstream_is_502_naming_it(unreachable_gateway: Server, stream: bool) -> None:
    assert unreachable_gateway.upstream
    with _unreachable_client(unreachable_gateway) as sdk, \
            pytest.raises(openai.InternalServerError) as caught:
        sdk.responses.create(model="mock-echo", input="anyone there?", stream=stream)
    assert caught.value.status_code == 502
    message = _error_body(caught.value)["message"]
    assert unreachable_gateway.upstream.removesuffix("/v1") in message
    assert UPSTREAM_KEY not in caught.value.response.text


def test_unreachable_upstream_models_is_502(unreachable_gateway: Server) -> None:
    with _unreachable_client(unreachable_gateway) as sdk, \
            pytest.raises(openai.InternalServerError) as caught:
        sdk.models.list()
    assert caught.value.status_code == 502
    assert UPSTREAM_KEY not in caught.value.response.text


# -- bad input -----------------------------------------------------------------------------------

BAD_INPUTS = [
    pytest.param(b'{"model": "mock-echo", "input": ', None, id="invalid-json"),
    pytest.param(b"", None, id="empty-body"),
    pytest.param(b'["mock-echo"]', None, id="body-not-an-object"),
    pytest.param({"input": "hi"}, "model", id="missing-model"),
    pytest.param({"model": 42, "input": "hi"}, "model", id="model-not-a-string"),
    pytest.param({"model": "mock-echo", "input": "hi", "temperature": "hot"}, "temperature",
                 id="temperature-string"),
    pytest.param({"model": "mock-echo", "input": "hi", "max_output_tokens": "ten"},
                 "max_output_tokens", id="max-output-tokens-string"),
    pytest.param({"model": "mock-echo", "input": "hi", "stream": "yes"}, "stream",
                 id="stream-string"),
    pytest.param({"model": "mock-echo", "input": "hi", "max_output_tokens": -5},
                 "max_output_tokens", id="max-output-tokens-negative"),
    pytest.param({"model": "mock-echo", "input": "hi", "instructions": ["be", "brief"]},
                 "instructions", id="instructions-array"),
    pytest.param({"model": "mock-echo", "input": 42}, "input", id="input-number"),
    pytest.param({"model": "mock-echo", "input": [{"type": "teleport", "to": "mars"}]},
                 "input[0].type", id="unknown-item-type"),
    pytest.param({"model": "mock-echo", "input": [
        {"role": "user", "content": [{"type": "input_hologram", "data": "x"}]}]},
                 "input[0].content[0].type", id="unknown-content-type"),
    pytest.param({"model": "mock-echo", "input": [{"role": "wizard", "content": "hi"}]},
                 "input[0].role", id="unknown-role"),
    pytest.param({"model": "mock-echo", "input": "hi", "tools": "all"}, "tools",
                 id="tools-not-an-array"),
    pytest.param({"model": "mock-echo", "input": "hi", "tools": [{"name": "f"}]}, "tools[0].type",
                 id="tool-without-type"),
    pytest.param({"model": "mock-echo", "input": "hi", "top_p": [1]}, "top_p",
                 id="top-p-array"),
    pytest.param({"model": "mock-echo"}, "input", id="missing-input"),
    pytest.param({"model": "mock-echo", "input": []}, "input", id="empty-input"),
    pytest.param({"model": "mock-echo", "input": [
        {"role": "user", "content": [{"type": "input_image", "detail": "auto"}]}]},
                 "input[0].content[0].image_url", id="image-without-url"),
    pytest.param({"model": "mock-echo", "input": [
        {"type": "function_call_output", "output": "42"}]},
                 "input[0].call_id", id="tool-output-without-call-id"),
    pytest.param({"model": "mock-echo", "input": "hi", "text": {"format": {"type": "yaml"}}},
                 "text.format.type", id="unknown-text-format"),
    pytest.param({"model": "mock-echo", "input": "hi",
                  "text": {"format": {"type": "json_schema", "name": "x"}}},
                 "text.format.schema", id="json-schema-without-schema"),
]


@pytest.mark.parametrize("body, param", BAD_INPUTS)
def test_bad_input_is_400_naming_the_param(http: httpx2.Client, mock_log: MockLog,
                                           body: Any, param: str | None) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    response = http.post("/v1/responses", content=raw,
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"] and "Traceback" not in response.text
    assert mock_log.chat_requests() == []  # nothing reached the provider


# The same bad bodies with `stream: true`: still a JSON 400, never a stream that fails.
BAD_STREAM_INPUTS = [case for case in BAD_INPUTS
                     if isinstance(case.values[0], dict) and case.values[1] != "stream"]


@pytest.mark.parametrize("body, param", BAD_STREAM_INPUTS)
def test_bad_input_on_stream_is_400_not_a_stream(http: httpx2.Client, body: dict[str, Any],
                                                 param: str) -> None:
    response = http.post("/v1/responses", content=orjson.dumps({**body, "stream": True}),
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["param"] == param


def test_bad_input_raises_bad_request_in_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="mock-echo", input="hi",
                                temperature="warm")  # type: ignore[arg-type]
    assert _error_body(caught.value)["param"] == "temperature"


# -- inbound auth --------------------------------------------------------------------------------


def _secured(server: Server, key: str | None) -> httpx2.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx2.post(server.url + "/v1/responses", headers=headers, timeout=30,
                       content=orjson.dumps({"model": "mock-echo", "input": "let me in"}))


def test_secured_gateway_rejects_missing_key(secured_gateway: Server, mock_log: MockLog) -> None:
    response = _secured(secured_gateway, None)
    assert response.status_code == 401
    assert response.json()["error"]["message"]
    assert mock_log.chat_requests() == []


def test_secured_gateway_rejects_wrong_key(secured_gateway: Server, mock_log: MockLog) -> None:
    with openai.OpenAI(base_url=secured_gateway.url + "/v1", api_key="gw-wrong", max_retries=0,
                       _strict_response_validation=True) as sdk, \
            pytest.raises(openai.AuthenticationError) as caught:
        sdk.responses.create(model="mock-echo", input="let me in")
    assert caught.value.status_code == 401
    assert GATEWAY_KEY not in caught.value.response.text
    assert mock_log.chat_requests() == []


def test_secured_gateway_accepts_right_key(secured_gateway: Server) -> None:
    with openai.OpenAI(base_url=secured_gateway.url + "/v1", api_key=GATEWAY_KEY,
                       max_retries=0, _strict_response_validation=True) as sdk:
        response = sdk.responses.create(model="mock-echo", input="let me in")
    assert response.output_text == "You said: let me in"


def test_secured_gateway_sends_env_upstream_key_not_client_key(
        secured_gateway: Server, mock_log: MockLog) -> None:
    assert _secured(secured_gateway, GATEWAY_KEY).status_code == 200
    headers = mock_log.last_chat()["headers"]
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert GATEWAY_KEY not in str(headers)


def test_secured_gateway_lists_models_with_env_key(secured_gateway: Server) -> None:
    with openai.OpenAI(base_url=secured_gateway.url + "/v1", api_key=GATEWAY_KEY,
                       max_retries=0, _strict_response_validation=True) as sdk:
        assert "mock-echo" in [model.id for model in sdk.models.list()]


def test_secured_gateway_models_need_the_key(secured_gateway: Server) -> None:
    response = httpx2.get(secured_gateway.url + "/v1/models")
    assert response.status_code == 401
    assert response.json()["error"]["message"]


def test_secured_gateway_health_needs_no_key(secured_gateway: Server) -> None:
    assert httpx2.get(secured_gateway.url + "/health").status_code == 200


def test_upstream_gets_upstream_key_never_client_key(client: openai.OpenAI,
                                                     mock_log: MockLog) -> None:
    client.responses.create(model="mock-echo", input="whose key?")
    headers = mock_log.last_chat()["headers"]
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert CLIENT_KEY not in str(headers)


def test_streamed_request_sends_upstream_key(http: httpx2.Client, mock_log: MockLog) -> None:
    response, frames = post_stream(http, {"model": "mock-echo", "input": "k", "stream": True})
    assert parse_sse(response.content) == frames
    headers = mock_log.last_chat()["headers"]
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert CLIENT_KEY not in str(headers)


# -- an error inside an HTTP 200 (DashScope and some gateways answer quota errors this way) ----


@pytest.mark.parametrize("stream", [False, True])
def test_error_inside_a_200_is_an_http_error_with_its_status(client: openai.OpenAI,
                                                             stream: bool) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        if stream:
            for _ in client.responses.create(model="mock-refuse-in-200", input="hi",
                                             stream=True):
                pass
        else:
            client.responses.create(model="mock-refuse-in-200", input="hi")
    assert caught.value.status_code == 429
    assert "mock quota exhausted" in caught.value.message
