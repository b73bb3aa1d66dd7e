"""End to end: every kind of answer through the real gateway, in both modes (issue #2).

Each answer is checked by the openai SDK (strict), by the Open Responses schema and, for
streams, on the raw SSE bytes as well.
"""

from __future__ import annotations

from typing import Any

import time

import httpx2
import openai
import orjson
import pytest
from e2e_support import (
    UPSTREAM_KEY,
    WEATHER_TOOL,
    MockLog,
    Server,
    checked_stream,
    parse_sse,
    post_stream,
)
from schema_check import validate_event, validate_response

REASONING = "Let me think about this."
REFUSAL = "I can't help with that."
TIME_TOOL = {
    "type": "function",
    "name": "get_time",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}},
                   "required": ["zone"], "additionalProperties": False},
    "strict": True,
}


def _raw_create(client: openai.OpenAI, **params: Any) -> tuple[dict[str, Any], Any]:
    """Create without streaming; return the raw JSON body (validated) and the SDK's parse."""
    raw = client.responses.with_raw_response.create(**params)
    body = orjson.loads(raw.content)
    validate_response(body)
    return body, raw.parse()


def _sdk_events(client: openai.OpenAI, **params: Any) -> list[Any]:
    """Stream with the SDK (strict); every event is also checked against both oracles."""
    events = list(client.responses.create(stream=True, **params))
    for event in events:
        validate_event(event.to_dict())
    return events


# -- plain text ---------------------------------------------------------------------------------


def test_text_answer_non_streaming(client: openai.OpenAI) -> None:
    body, response = _raw_create(client, model="mock-echo", input="hello there")
    assert response.output_text == "You said: hello there"
    assert response.status == "completed"
    assert body["id"].startswith("resp_")
    assert [item["type"] for item in body["output"]] == ["message"]
    assert body["output"][0]["id"].startswith("msg_")


def test_non_streaming_response_has_integer_timestamps_and_usage(client: openai.OpenAI) -> None:
    body, _ = _raw_create(client, model="mock-echo", input="count my words")
    assert isinstance(body["created_at"], int) and isinstance(body["completed_at"], int)
    usage = body["usage"]
    assert usage["input_tokens"] == 3  # the mock counts words
    assert usage["output_tokens"] == 5
    assert usage["total_tokens"] == 8
    assert usage["input_tokens_details"]["cached_tokens"] == 0
    assert usage["output_tokens_details"]["reasoning_tokens"] == 0


def test_streamed_deltas_add_up_to_the_final_text(client: openai.OpenAI) -> None:
    events = _sdk_events(client, model="mock-echo", input="stream me please")
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert events[-1].type == "response.completed"
    assert deltas == events[-1].response.output_text == "You said: stream me please"


def test_stream_raw_frames_are_well_formed(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-echo", "input": "raw", "stream": True})
    events = checked_stream(response, frames)
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed",
    ]


def test_stream_terminal_event_carries_output_and_usage(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-echo", "input": "usage", "stream": True})
    final = checked_stream(response, frames)[-1]["response"]
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == "You said: usage"
    assert final["usage"]["input_tokens"] == 1
    assert final["usage"]["total_tokens"] == final["usage"]["input_tokens"] + \
        final["usage"]["output_tokens"]


def test_stream_ids_are_stable_across_events(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-echo", "input": "ids", "stream": True})
    events = checked_stream(response, frames)
    response_ids = {e["response"]["id"] for e in events if "response" in e}
    item_ids = {e["item"]["id"] for e in events if "item" in e}
    item_ids |= {e["item_id"] for e in events if "item_id" in e}
    item_ids |= {item["id"] for item in events[-1]["response"]["output"]}
    assert len(response_ids) == 1 and response_ids.pop().startswith("resp_")
    assert len(item_ids) == 1 and item_ids.pop().startswith("msg_")


def test_stream_is_forwarded_as_it_arrives(http: httpx2.Client) -> None:
    # mock-slow waits 0.2 s between chunks (about 1 s in all): the first text delta must reach
    # the client long before the provider has finished, i.e. nothing buffers the stream.
    started = time.monotonic()
    first_delta = None
    raw = b""
    with http.stream("POST", "/v1/responses", content=orjson.dumps(
            {"model": "mock-slow", "input": "take your time", "stream": True})) as response:
        for chunk in response.iter_bytes():
            raw += chunk
            if first_delta is None and b"response.output_text.delta" in raw:
                first_delta = time.monotonic() - started
    total = time.monotonic() - started
    assert first_delta is not None
    assert total >= 0.8
    assert first_delta < total - 0.4, (first_delta, total)
    assert parse_sse(raw)[-1].event == "response.completed"


def test_stream_helper_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model="mock-echo", input="helper") as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert deltas == final.output_text == "You said: helper"
    assert final.status == "completed"
    validate_response(final.to_dict())


UNICODE_TEXT = "héllo 世界 🙂 — ünïcödé"


def test_unicode_text_is_unchanged_non_streaming(client: openai.OpenAI) -> None:
    _, response = _raw_create(client, model="mock-echo", input=UNICODE_TEXT)
    assert response.output_text == f"You said: {UNICODE_TEXT}"


def test_unicode_text_is_unchanged_streaming(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-echo", "input": UNICODE_TEXT,
                                          "stream": True})
    events = checked_stream(response, frames)
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == f"You said: {UNICODE_TEXT}"


# -- reasoning ----------------------------------------------------------------------------------


def test_reasoning_item_precedes_message_non_streaming(client: openai.OpenAI) -> None:
    body, response = _raw_create(client, model="mock-think", input="ponder")
    assert [item["type"] for item in body["output"]] == ["reasoning", "message"]
    reasoning = body["output"][0]
    assert reasoning["id"].startswith("rs_")
    texts = [p["text"] for p in reasoning.get("summary", []) + (reasoning.get("content") or [])]
    assert texts and set(texts) == {REASONING}
    assert response.output_text == "You said: ponder"
    assert body["usage"]["output_tokens_details"]["reasoning_tokens"] == 5


def test_reasoning_item_precedes_message_streaming(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-think", "input": "ponder",
                                          "stream": True})
    events = checked_stream(response, frames)
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added == ["reasoning", "message"]
    summary = "".join(e["delta"] for e in events
                      if e["type"] == "response.reasoning_summary_text.delta")
    assert summary == REASONING
    assert [i["type"] for i in events[-1]["response"]["output"]] == ["reasoning", "message"]


def test_stream_helper_accepts_reasoning(client: openai.OpenAI) -> None:
    with client.responses.stream(model="mock-think", input="ponder") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output_text == "You said: ponder"


# -- refusal ------------------------------------------------------------------------------------


def test_refusal_part_non_streaming(client: openai.OpenAI) -> None:
    body, _ = _raw_create(client, model="mock-refusal", input="do something bad")
    assert body["status"] == "completed"
    assert body["output"][0]["content"] == [{"type": "refusal", "refusal": REFUSAL}]


def test_refusal_part_streaming(client: openai.OpenAI) -> None:
    events = _sdk_events(client, model="mock-refusal", input="do something bad")
    deltas = "".join(e.delta for e in events if e.type == "response.refusal.delta")
    assert deltas == REFUSAL
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output[0].content[0].type == "refusal"
    assert final.response.output[0].content[0].refusal == REFUSAL


def test_refusal_stream_raw_frames_are_well_formed(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-refusal", "input": "no",
                                          "stream": True})
    events = checked_stream(response, frames)
    assert "response.refusal.done" in [e["type"] for e in events]


# -- cut short: length, content filter, no finish reason --------------------------------------


def test_length_cut_is_incomplete_non_streaming(client: openai.OpenAI) -> None:
    body, response = _raw_create(client, model="mock-length", input="long story",
                                 max_output_tokens=4)
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response.output_text == "This answer is cut"


def test_length_cut_ends_stream_with_response_incomplete(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-length", "input": "long story",
                                          "stream": True})
    events = checked_stream(response, frames)
    final = events[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["status"] == "incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["response"]["output"][0]["content"][0]["text"] == "This answer is cut"


def test_length_cut_stream_passes_sdk_strict(client: openai.OpenAI) -> None:
    events = _sdk_events(client, model="mock-length", input="long story")
    assert events[-1].type == "response.incomplete"


def test_content_filter_is_incomplete_non_streaming(client: openai.OpenAI) -> None:
    body, _ = _raw_create(client, model="mock-filter", input="edgy")
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "content_filter"}


def test_content_filter_ends_stream_with_response_incomplete(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-filter", "input": "edgy",
                                          "stream": True})
    final = checked_stream(response, frames)[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "content_filter"}


def test_missing_finish_reason_still_completes_non_streaming(client: openai.OpenAI) -> None:
    body, response = _raw_create(client, model="mock-no-finish", input="no end")
    assert body["status"] == "completed"
    assert response.output_text == "You said: no end"


def test_missing_finish_reason_still_completes_streaming(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-no-finish", "input": "no end",
                                          "stream": True})
    final = checked_stream(response, frames)[-1]
    assert final["type"] == "response.completed"
    assert final["response"]["output"][0]["content"][0]["text"] == "You said: no end"


# -- tool calls ---------------------------------------------------------------------------------


def test_tool_call_non_streaming(client: openai.OpenAI) -> None:
    body, _ = _raw_create(client, model="mock-echo", input="what is the weather in Paris?",
                          tools=[WEATHER_TOOL])
    [call] = body["output"]
    assert call["type"] == "function_call"
    assert call["name"] == "get_weather"
    assert call["id"].startswith("fc_")
    assert orjson.loads(call["arguments"]) == {"city": "Paris"}
    assert call["call_id"]


def test_tool_call_arguments_stream_as_deltas(client: openai.OpenAI) -> None:
    events = _sdk_events(client, model="mock-echo", input="what is the weather in Paris?",
                         tools=[WEATHER_TOOL])
    deltas = "".join(e.delta for e in events
                     if e.type == "response.function_call_arguments.delta")
    [call] = events[-1].response.output
    assert call.type == "function_call"
    assert deltas == call.arguments
    assert orjson.loads(call.arguments) == {"city": "Paris"}


def test_stream_helper_final_response_has_the_tool_call(client: openai.OpenAI) -> None:
    with client.responses.stream(model="mock-echo", input="weather in Paris?",
                                 tools=[WEATHER_TOOL]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    [call] = final.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert orjson.loads(call.arguments) == {"city": "Paris"}


def test_parallel_tool_calls_stream_as_two_items(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {
        "model": "mock-echo", "input": "call two tools in parallel", "stream": True,
        "tools": [WEATHER_TOOL, TIME_TOOL]})
    events = checked_stream(response, frames)
    output = events[-1]["response"]["output"]
    assert [(i["type"], i["name"]) for i in output] == [("function_call", "get_weather"),
                                                        ("function_call", "get_time")]
    assert output[0]["call_id"] != output[1]["call_id"]


def test_tool_result_round_trip(client: openai.OpenAI) -> None:
    first = client.responses.create(model="mock-echo", input="weather in Paris?",
                                    tools=[WEATHER_TOOL])
    [call] = first.output
    assert call.type == "function_call"
    body, response = _raw_create(client, model="mock-echo", tools=[WEATHER_TOOL], input=[
        {"role": "user", "content": "weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
    ])
    assert response.output_text == "Tool result: sunny, 21 C"


# -- other endpoints ----------------------------------------------------------------------------


def test_models_list_is_the_providers(client: openai.OpenAI, mock_provider: Server) -> None:
    direct = httpx2.get(mock_provider.url + "/v1/models",
                        headers={"Authorization": f"Bearer {UPSTREAM_KEY}"}).json()
    models = client.models.list()
    assert [m.to_dict() for m in models] == direct["data"]
    assert "mock-echo" in [m.id for m in models]


def test_models_list_sends_the_upstream_key(client: openai.OpenAI, mock_log: MockLog) -> None:
    client.models.list()
    [request] = [r for r in mock_log.requests() if r["path"].endswith("/models")]
    assert request["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_health_answers_ok(http: httpx2.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status"] == "ok"
    assert "sk-upstream-test" not in response.text


@pytest.mark.parametrize("method, path", [("GET", "/v1/nothing-here"),
                                          ("POST", "/v1/chat/completions"),
                                          ("GET", "/")])
def test_unknown_path_is_json_404(http: httpx2.Client, method: str, path: str) -> None:
    response = http.request(method, path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_method_on_responses_is_json_405(http: httpx2.Client, method: str) -> None:
    response = http.request(method, "/v1/responses")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["message"]
    assert "POST" in response.headers.get("allow", "")


# -- streaming is decided by the body, not by Accept ---------------------------------------------


def test_stream_true_with_accept_json_streams(http: httpx2.Client) -> None:
    response, frames = post_stream(http, {"model": "mock-echo", "input": "sse please",
                                          "stream": True},
                                   headers={"Accept": "application/json"})
    events = checked_stream(response, frames)
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "You said: sse please"


def test_stream_false_with_accept_event_stream_returns_json(http: httpx2.Client) -> None:
    response = http.post("/v1/responses", headers={"Accept": "text/event-stream"},
                         content=orjson.dumps({"model": "mock-echo", "input": "json please",
                                               "stream": False}))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    validate_response(body)
    assert body["output"][0]["content"][0]["text"] == "You said: json please"


def test_stream_absent_with_accept_event_stream_returns_json(http: httpx2.Client) -> None:
    response = http.post("/v1/responses", headers={"Accept": "text/event-stream"},
                         content=orjson.dumps({"model": "mock-echo", "input": "json"}))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    validate_response(response.json())
