"""End to end: every parameter of the mapping table, checked on what the provider received.

Issue #2 item 2 and "Done means": the fake provider records each chat request before it
validates it, so these tests see the exact body the gateway sent (generic provider profile).
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import orjson
import pydantic
import pytest
from e2e_support import MockLog, post_stream
from schema_check import open_responses_validate_response, sdk_validate_response

PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
       "z8AAAAMBAQAYRhzZAAAAAElFTkSuQmCC")
PDF = "data:application/pdf;base64,JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4K"


def _sent(client: openai.OpenAI, mock_log: MockLog, **params: Any) -> dict[str, Any]:
    """Create a (non-streamed) response and return the chat body the provider received."""
    params.setdefault("model", "mock-echo")
    params.setdefault("input", "hi")
    response = client.responses.create(**params)
    assert response.status == "completed", response
    return mock_log.last_body()


# -- model and messages --------------------------------------------------------------------------


def test_model_is_forwarded(client: openai.OpenAI, mock_log: MockLog) -> None:
    assert _sent(client, mock_log, model="mock-no-finish")["model"] == "mock-no-finish"


def test_string_input_becomes_one_user_message(client: openai.OpenAI,
                                               mock_log: MockLog) -> None:
    assert _sent(client, mock_log, input="just this")["messages"] == [
        {"role": "user", "content": "just this"}]


def test_instructions_become_the_first_system_message(client: openai.OpenAI,
                                                      mock_log: MockLog) -> None:
    body = _sent(client, mock_log, instructions="Be brief.", input="hello")
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "hello"}]


def test_developer_role_becomes_system(client: openai.OpenAI, mock_log: MockLog) -> None:
    body = _sent(client, mock_log, input=[
        {"role": "developer", "content": "House rules."},
        {"role": "user", "content": "hello"},
    ])
    assert body["messages"] == [{"role": "system", "content": "House rules."},
                                {"role": "user", "content": "hello"}]


def test_item_list_input_keeps_roles_and_order(client: openai.OpenAI, mock_log: MockLog) -> None:
    body = _sent(client, mock_log, input=[
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one"}]},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "two", "annotations": []}]},
        {"role": "user", "content": "three"},
    ])
    assert body["messages"] == [{"role": "user", "content": "one"},
                                {"role": "assistant", "content": "two"},
                                {"role": "user", "content": "three"}]


# -- sampling and limits -------------------------------------------------------------------------


@pytest.mark.parametrize("key, value", [("temperature", 0.3), ("top_p", 0.9)])
def test_sampling_parameter_is_forwarded(client: openai.OpenAI, mock_log: MockLog,
                                         key: str, value: float) -> None:
    assert _sent(client, mock_log, **{key: value})[key] == value


@pytest.mark.parametrize("key, value", [("presence_penalty", 0.5), ("frequency_penalty", -0.5)])
def test_penalty_is_forwarded(client: openai.OpenAI, mock_log: MockLog, key: str,
                              value: float) -> None:
    assert _sent(client, mock_log, extra_body={key: value})[key] == value


def test_max_output_tokens_becomes_max_tokens(client: openai.OpenAI, mock_log: MockLog) -> None:
    body = _sent(client, mock_log, max_output_tokens=50)
    assert body["max_tokens"] == 50
    assert "max_output_tokens" not in body


def test_legacy_max_tokens_becomes_max_tokens(client: openai.OpenAI, mock_log: MockLog) -> None:
    assert _sent(client, mock_log, extra_body={"max_tokens": 40})["max_tokens"] == 40


def test_max_output_tokens_is_echoed_in_the_response(client: openai.OpenAI,
                                                     mock_log: MockLog) -> None:
    assert client.responses.create(model="mock-echo", input="hi",
                                   max_output_tokens=33).max_output_tokens == 33


@pytest.mark.parametrize("stop", ["END", ["END", "STOP"]])
def test_stop_is_forwarded(client: openai.OpenAI, mock_log: MockLog, stop: Any) -> None:
    assert _sent(client, mock_log, extra_body={"stop": stop})["stop"] == stop


def test_sampling_parameters_absent_when_not_given(client: openai.OpenAI,
                                                   mock_log: MockLog) -> None:
    body = _sent(client, mock_log)
    for key in ("temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty",
                "stop", "user", "response_format", "tools", "tool_choice"):
        assert key not in body, key


# -- streaming -----------------------------------------------------------------------------------


def test_stream_requests_usage_from_the_provider(http: httpx2.Client, mock_log: MockLog) -> None:
    post_stream(http, {"model": "mock-echo", "input": "hi", "stream": True,
                       "stream_options": {"include_obfuscation": False}})
    body = mock_log.last_body()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_non_stream_sends_no_stream_options(client: openai.OpenAI, mock_log: MockLog) -> None:
    body = _sent(client, mock_log)
    assert not body.get("stream")
    assert "stream_options" not in body


# -- structured output ---------------------------------------------------------------------------


class Weather(pydantic.BaseModel):
    city: str
    temperature_c: int
    sunny: bool


def test_parse_with_pydantic_model_sends_json_schema(client: openai.OpenAI,
                                                     mock_log: MockLog) -> None:
    response = client.responses.parse(model="mock-json", input="weather in Paris as JSON",
                                      text_format=Weather)
    assert response.output_parsed == Weather(city="Paris", temperature_c=1, sunny=True)
    sent = mock_log.last_body()["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Weather"
    assert sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"]["required"] == ["city", "temperature_c", "sunny"]


ANSWER_FORMAT = {"type": "json_schema", "name": "answer", "strict": True, "schema": {
    "type": "object", "properties": {"answer": {"type": "string"}},
    "required": ["answer"], "additionalProperties": False}}


def test_json_schema_format_is_forwarded(client: openai.OpenAI, mock_log: MockLog) -> None:
    body = _sent(client, mock_log, model="mock-json", input="JSON please",
                 text={"format": ANSWER_FORMAT})
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "answer", "strict": True, "schema": ANSWER_FORMAT["schema"]}}


def test_json_schema_answer_is_the_providers_json(client: openai.OpenAI,
                                                  mock_log: MockLog) -> None:
    response = client.responses.create(model="mock-json", input="JSON please",
                                       text={"format": ANSWER_FORMAT})
    assert orjson.loads(response.output_text) == {"answer": "value"}


def test_json_schema_format_echo_passes_sdk(client: openai.OpenAI) -> None:
    raw = client.responses.with_raw_response.create(model="mock-json", input="JSON please",
                                                    text={"format": ANSWER_FORMAT})
    body = orjson.loads(raw.content)
    sdk_validate_response(body)
    assert body["text"]["format"]["schema"] == ANSWER_FORMAT["schema"]


def test_json_schema_format_echo_passes_open_responses(client: openai.OpenAI) -> None:
    raw = client.responses.with_raw_response.create(model="mock-json", input="JSON please",
                                                    text={"format": ANSWER_FORMAT})
    body = orjson.loads(raw.content)
    # Open Responses types the echoed `schema` as null, which contradicts the SDK (a required
    # object) and the live API; everything else in the format is checked against it.
    body["text"]["format"] = {**body["text"]["format"], "schema": None}
    open_responses_validate_response(body)


def test_json_object_format_is_forwarded(client: openai.OpenAI, mock_log: MockLog) -> None:
    body = _sent(client, mock_log, model="mock-json", input="JSON please",
                 text={"format": {"type": "json_object"}})
    assert body["response_format"] == {"type": "json_object"}


def test_text_format_is_not_forwarded(client: openai.OpenAI, mock_log: MockLog) -> None:
    body = _sent(client, mock_log, text={"format": {"type": "text"}})
    assert "response_format" not in body and "text" not in body


# -- end-user identity ---------------------------------------------------------------------------


def test_user_is_forwarded(client: openai.OpenAI, mock_log: MockLog) -> None:
    assert _sent(client, mock_log, user="user-123")["user"] == "user-123"


def test_safety_identifier_becomes_user(client: openai.OpenAI, mock_log: MockLog) -> None:
    body = _sent(client, mock_log, safety_identifier="safe-456")
    assert body["user"] == "safe-456"
    assert "safety_identifier" not in body


# -- images and files ----------------------------------------------------------------------------


@pytest.mark.parametrize("detail, sent_detail", [("original", "high"), ("low", "low"),
                                                 ("auto", "auto")])
def test_image_data_url_becomes_image_url_part(client: openai.OpenAI, mock_log: MockLog,
                                               detail: str, sent_detail: str) -> None:
    body = _sent(client, mock_log, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "what is this?"},
        {"type": "input_image", "image_url": PNG, "detail": detail},
    ]}])
    assert body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": PNG, "detail": sent_detail}},
    ]}]


def test_image_http_url_is_forwarded(client: openai.OpenAI, mock_log: MockLog) -> None:
    url = "https://example.com/cat.png"
    body = _sent(client, mock_log, input=[{"role": "user", "content": [
        {"type": "input_image", "image_url": url, "detail": "auto"}]}])
    assert body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": url, "detail": "auto"}}]


def test_large_image_body_is_carried(client: openai.OpenAI, mock_log: MockLog) -> None:
    # Bigger than aiohttp's 1 MiB default body limit on either side.
    big = "data:image/png;base64," + "A" * (3 * 1024 * 1024)
    body = _sent(client, mock_log, input=[{"role": "user", "content": [
        {"type": "input_image", "image_url": big, "detail": "low"}]}])
    assert body["messages"][0]["content"][0]["image_url"]["url"] == big


def test_input_file_data_becomes_chat_file_part(client: openai.OpenAI,
                                                mock_log: MockLog) -> None:
    body = _sent(client, mock_log, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "summarise"},
        {"type": "input_file", "filename": "doc.pdf", "file_data": PDF},
    ]}])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "summarise"},
        {"type": "file", "file": {"filename": "doc.pdf", "file_data": PDF}},
    ]


# -- what is never forwarded ---------------------------------------------------------------------

RESPONSES_ONLY = {
    "store": True,
    "include": ["reasoning.encrypted_content"],
    "metadata": {"team": "e2e"},
    "truncation": "auto",
    "service_tier": "auto",
    "reasoning": {"effort": "low", "summary": "auto"},
    "client_metadata": {"session": "abc"},
    "prompt_cache_key": "cache-key-1",
    "parallel_tool_calls": True,
    "max_tool_calls": 3,
    "top_logprobs": 0,
}


@pytest.mark.parametrize("key", sorted(RESPONSES_ONLY))
def test_responses_only_field_is_not_forwarded(client: openai.OpenAI, mock_log: MockLog,
                                               key: str) -> None:
    body = _sent(client, mock_log, extra_body={key: RESPONSES_ONLY[key]})
    assert key not in body
    # The default (adaptive) profile forwards only the effort, as `reasoning_effort`.
    assert body.get("reasoning_effort") == ("low" if key == "reasoning" else None)


def test_all_responses_only_fields_together_still_succeed(client: openai.OpenAI,
                                                          mock_log: MockLog) -> None:
    body = _sent(client, mock_log, extra_body=RESPONSES_ONLY)
    assert set(body) <= {"model", "messages", "reasoning_effort"}


def test_empty_tools_and_tool_choice_are_not_forwarded(client: openai.OpenAI,
                                                       mock_log: MockLog) -> None:
    body = _sent(client, mock_log, tools=[], tool_choice="auto")
    assert "tools" not in body and "tool_choice" not in body


def test_unknown_top_level_fields_are_accepted_and_dropped(client: openai.OpenAI,
                                                          mock_log: MockLog) -> None:
    body = _sent(client, mock_log, extra_body={"some_future_field": {"x": 1},
                                               "another_new_flag": True})
    assert "some_future_field" not in body and "another_new_flag" not in body


def test_function_tool_is_reshaped_for_chat(client: openai.OpenAI, mock_log: MockLog) -> None:
    tool = {"type": "function", "name": "get_weather", "description": "Weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"], "additionalProperties": False},
            "strict": True}
    client.responses.create(model="mock-echo", input="weather in Paris?", tools=[tool],
                            tool_choice="auto")
    body = mock_log.last_body()
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather.", "parameters": tool["parameters"],
        "strict": True}}]
    assert body["tool_choice"] == "auto"
