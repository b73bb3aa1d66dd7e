"""protocol/requests.py: parsing a Responses create body, and the 400s naming the bad field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.protocol.requests import parse_create_request, parse_json_object

CAPTURES = sorted((Path(__file__).parent.parent / "fixtures" / "clients").glob("*.json"))


def body_of(capture: Path) -> dict[str, Any]:
    return orjson.loads(capture.read_bytes())["body"]  # type: ignore[no-any-return]


def parse(body: dict[str, Any]) -> Any:
    return parse_create_request(orjson.dumps(body))


def rejection(raw: bytes) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse_create_request(raw)
    assert info.value.status == 400
    assert info.value.type == "invalid_request_error"
    return info.value


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_accepts_every_client_capture(capture: Path) -> None:
    body = body_of(capture)
    request = parse(body)
    assert request.model == body["model"]
    assert request.body == body
    assert all(isinstance(item, dict) for item in request.input)
    assert request.stream is (body.get("stream") is True)


def test_string_input_becomes_one_user_message() -> None:
    assert parse({"model": "m", "input": "say hi"}).input == [
        {"type": "message", "role": "user", "content": "say hi"}]


def test_list_input_is_kept_as_given() -> None:
    items = [{"role": "user", "content": "hi", "id": "msg_1", "status": "completed"}]
    assert parse({"model": "m", "input": items}).input == items


def test_missing_input_is_an_empty_list() -> None:
    assert parse({"model": "m"}).input == []


def test_unknown_top_level_fields_are_ignored() -> None:
    body = {"model": "m", "input": "x", "client_metadata": {"a": "b"}, "brand_new": [1, 2]}
    request = parse(body)
    assert request.body == body  # kept for echoing, never validated


def test_flags_default_like_openai() -> None:
    request = parse({"model": "m", "input": "x"})
    assert (request.stream, request.store, request.background) == (False, True, False)


def test_flags_as_sent() -> None:
    request = parse({"model": "m", "stream": True, "store": False, "background": True})
    assert (request.stream, request.store, request.background) == (True, False, True)


def test_get_treats_null_as_missing() -> None:
    request = parse({"model": "m", "instructions": None})
    assert request.get("instructions", "default") == "default"


def test_invalid_json_is_rejected_without_param() -> None:
    error = rejection(b'{"model": "m",')
    assert error.param is None
    assert "JSON" in error.message


def test_empty_body_is_rejected() -> None:
    assert rejection(b"").param is None


@pytest.mark.parametrize("raw", [b"[]", b'"model"', b"null", b"42"])
def test_non_object_body_is_rejected(raw: bytes) -> None:
    assert "object" in rejection(raw).message


def test_parse_json_object_returns_the_dict() -> None:
    assert parse_json_object(b'{"a": 1}') == {"a": 1}


def test_missing_model_names_model() -> None:
    error = rejection(b'{"input": "hi"}')
    assert (error.param, error.code) == ("model", "missing_required_parameter")


def test_empty_model_names_model() -> None:
    assert rejection(b'{"model": ""}').param == "model"


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [
        ("model", 5, "model"),
        ("temperature", "0.5", "temperature"),
        ("top_p", True, "top_p"),
        ("max_output_tokens", 1.5, "max_output_tokens"),
        ("max_output_tokens", -1, "max_output_tokens"),
        ("max_output_tokens", True, "max_output_tokens"),
        ("stream", "true", "stream"),
        ("store", 1, "store"),
        ("parallel_tool_calls", "no", "parallel_tool_calls"),
        ("instructions", ["be brief"], "instructions"),
        ("previous_response_id", 7, "previous_response_id"),
        ("metadata", [], "metadata"),
        ("text", "json", "text"),
        ("text", {"format": "json"}, "text.format"),
        ("text", {"format": {"name": "x"}}, "text.format.type"),
        ("include", "reasoning.encrypted_content", "include"),
        ("input", 42, "input"),
        ("input", {"role": "user", "content": "hi"}, "input"),
        ("input", ["hi"], "input[0]"),
        ("tools", {"type": "function"}, "tools"),
        ("tools", [{"name": "get_weather"}], "tools[0].type"),
        ("tools", [{"type": "function", "name": "a"}, "b"], "tools[1]"),
        ("tool_choice", 3, "tool_choice"),
        ("stop", 5, "stop"),
        ("stop", ["ok", 1], "stop"),
    ],
)
def test_ill_typed_field_is_rejected_naming_it(field: str, value: Any, param: str) -> None:
    error = rejection(orjson.dumps({"model": "m", field: value}))
    assert error.param == param
    assert field in error.message


def test_type_error_message_says_what_was_expected_and_got() -> None:
    error = rejection(b'{"model": "m", "temperature": "hot"}')
    # OpenAI's own wording (observed from the live API).
    assert error.message == ("Invalid type for 'temperature': expected a decimal, "
                             "but got a string instead.")
    assert error.code == "invalid_type"


@pytest.mark.parametrize("stop", ["END", ["a", "b"], []])
def test_stop_as_string_or_list_of_strings_is_accepted(stop: Any) -> None:
    assert parse({"model": "m", "stop": stop}).body["stop"] == stop


def test_null_optional_fields_are_accepted() -> None:
    body = {"model": "m", "temperature": None, "tools": None, "text": None, "input": None}
    assert parse(body).input == []
