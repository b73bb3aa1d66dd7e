"""Parsing and validating a Responses `create` request body. Pure: no I/O.

Only what the gateway reads is checked here, and each check names the offending field in
`param`. Unknown top-level fields are kept but ignored: clients add new ones often (Codex's
`client_metadata`, for example) and rejecting them would break those clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .errors import InvalidRequest

__all__ = ["CreateRequest", "parse_create_request", "parse_json_object", "validate_create_request"]

_NUMBER_FIELDS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
_INT_FIELDS = ("max_output_tokens", "max_tokens", "top_logprobs", "max_tool_calls")
_BOOL_FIELDS = ("stream", "store", "background", "parallel_tool_calls")
_STRING_FIELDS = (
    "instructions",
    "previous_response_id",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
    "truncation",
)
_DICT_FIELDS = ("text", "reasoning", "metadata", "stream_options", "prompt")
_LIST_FIELDS = ("include",)


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A validated `POST /v1/responses` body.

    `body` is the client's JSON object as sent (used for echoing fields back); `input` is
    always a list of item dicts, a string input having been turned into one user message.
    """

    body: dict[str, Any]
    model: str
    input: list[dict[str, Any]]
    stream: bool
    store: bool
    background: bool

    def get(self, key: str, default: Any = None) -> Any:
        value = self.body.get(key)
        return default if value is None else value


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode a request body that must be a JSON object, or raise InvalidRequest."""
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def parse_create_request(raw: bytes) -> CreateRequest:
    """Decode and validate a create body; raises InvalidRequest naming the first bad field."""
    return validate_create_request(parse_json_object(raw))


def validate_create_request(body: dict[str, Any]) -> CreateRequest:
    """Validate an already decoded create body (e.g. a WebSocket `response.create`)."""
    model = body.get("model")
    if model is None or model == "":
        raise InvalidRequest("Missing required parameter: 'model'.", param="model",
                             code="missing_required_parameter")
    if not isinstance(model, str):
        raise _type_error("model", "a string", model)

    for key in _NUMBER_FIELDS:
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _type_error(key, "a number", value)
    for key in _INT_FIELDS:
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _type_error(key, "an integer", value)
        if isinstance(value, int) and value < 0:
            raise InvalidRequest(f"Invalid '{key}': must not be negative.", param=key,
                                 code="invalid_value")
    for key in _BOOL_FIELDS:
        value = body.get(key)
        if value is not None and not isinstance(value, bool):
            raise _type_error(key, "a boolean", value)
    for key in _STRING_FIELDS:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise _type_error(key, "a string", value)
    for key in _DICT_FIELDS:
        value = body.get(key)
        if value is not None and not isinstance(value, dict):
            raise _type_error(key, "an object", value)
    for key in _LIST_FIELDS:
        value = body.get(key)
        if value is not None and not isinstance(value, list):
            raise _type_error(key, "an array", value)

    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _type_error("stop", "a string or an array of strings", stop)

    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _type_error("tools", "an array", tools)
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
                raise InvalidRequest(f"Invalid 'tools[{i}]': expected an object with a 'type'.",
                                     param=f"tools[{i}]", code="invalid_type")
    tool_choice = body.get("tool_choice")
    if tool_choice is not None and not isinstance(tool_choice, (str, dict)):
        raise _type_error("tool_choice", "a string or an object", tool_choice)

    text = body.get("text")
    if text is not None and text.get("format") is not None:
        fmt = text["format"]
        if not isinstance(fmt, dict) or not isinstance(fmt.get("type"), str):
            raise InvalidRequest("Invalid 'text.format': expected an object with a 'type'.",
                                 param="text.format", code="invalid_type")

    items = _parse_input(body.get("input"))
    return CreateRequest(
        body=body,
        model=model,
        input=items,
        stream=body.get("stream") is True,
        store=body.get("store") is not False,
        background=body.get("background") is True,
    )


def _parse_input(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise _type_error("input", "a string or an array of input items", value)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidRequest(f"Invalid 'input[{i}]': expected an object.",
                                 param=f"input[{i}]", code="invalid_type")
    return value


def _type_error(param: str, expected: str, value: Any) -> InvalidRequest:
    got = "null" if value is None else type(value).__name__
    if isinstance(value, bool):
        got = "boolean"
    elif isinstance(value, (int, float)):
        got = "number"
    elif isinstance(value, str):
        got = "string"
    elif isinstance(value, list):
        got = "array"
    elif isinstance(value, dict):
        got = "object"
    return InvalidRequest(f"Invalid type for '{param}': expected {expected}, but got {got}.",
                          param=param, code="invalid_type")
