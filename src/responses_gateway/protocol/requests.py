"""Parsing and validating a Responses `create` request body. Pure: no I/O.

Only what the gateway reads is checked here, and each check names the offending field in
`param`. Unknown top-level fields are kept but ignored: clients add new ones often (Codex's
`client_metadata`, for example) and rejecting them would break those clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .bodies import parse_json_object
from .errors import InvalidRequest
from .fields import (
    check_array,
    check_bool,
    check_enum,
    check_integer,
    check_metadata,
    check_number,
    check_object,
    check_string,
    missing,
    type_error,
)
from .items import check_items
from .tools import check_tool_choice, check_tools

__all__ = [
    "INCLUDABLE",
    "CreateRequest",
    "check_include",
    "parse_create_request",
    "parse_json_object",
    "validate_create_request",
]

# Numbers: (low, high) as OpenAI bounds them; None where it sets no bound.
_NUMBER_FIELDS: dict[str, tuple[float | None, float | None]] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}
_INT_FIELDS: dict[str, tuple[int | None, int | None]] = {
    "max_output_tokens": (0, None),
    "max_tokens": (0, None),
    "top_logprobs": (0, 20),
    "max_tool_calls": (0, None),
}
_BOOL_FIELDS = ("stream", "store", "background", "parallel_tool_calls")
_STRING_FIELDS = ("instructions", "previous_response_id", "user", "prompt_cache_key")
_DICT_FIELDS = ("text", "reasoning", "stream_options", "prompt")
_ENUM_FIELDS = {
    "truncation": ("auto", "disabled"),
    "service_tier": ("auto", "default", "flex", "scale", "priority", "fast", "ultrafast"),
    "prompt_cache_retention": ("in_memory", "24h"),
}
_REASONING_ENUMS = {
    "effort": ("none", "minimal", "low", "medium", "high", "xhigh", "max"),
    "summary": ("auto", "concise", "detailed"),
    "generate_summary": ("auto", "concise", "detailed"),
    "context": ("auto", "current_turn", "all_turns"),
}
_VERBOSITY = ("low", "medium", "high")
_FORMAT_TYPES = ("text", "json_object", "json_schema")
INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)


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
        raise type_error("model", "a string", model)

    for key, (low, high) in _NUMBER_FIELDS.items():
        if body.get(key) is not None:
            check_number(body[key], key, low, high)
    for key, (ilow, ihigh) in _INT_FIELDS.items():
        if body.get(key) is not None:
            check_integer(body[key], key, ilow, ihigh)
    for key in _BOOL_FIELDS:
        if body.get(key) is not None:
            check_bool(body[key], key)
    for key in _STRING_FIELDS:
        if body.get(key) is not None:
            check_string(body[key], key)
    if body.get("safety_identifier") is not None:
        check_string(body["safety_identifier"], "safety_identifier", max_length=64)
    for key in _DICT_FIELDS:
        if body.get(key) is not None:
            check_object(body[key], key)
    for key, allowed in _ENUM_FIELDS.items():
        if body.get(key) is not None:
            check_enum(body[key], key, allowed)
    if body.get("metadata") is not None:
        check_metadata(body["metadata"])
    _check_conversation(body.get("conversation"))
    if body.get("include") is not None:
        check_include(body["include"], "include")

    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise type_error("stop", "a string or an array of strings", stop)

    if body.get("tools") is not None:
        check_tools(body["tools"])
    if body.get("tool_choice") is not None:
        check_tool_choice(body["tool_choice"])
    reasoning = body.get("reasoning") or {}
    for key, allowed in _REASONING_ENUMS.items():
        if reasoning.get(key) is not None:
            check_enum(reasoning[key], f"reasoning.{key}", allowed)
    _check_text(body.get("text") or {})

    items = _parse_input(body.get("input"))
    return CreateRequest(
        body=body,
        model=model,
        input=items,
        stream=body.get("stream") is True,
        store=body.get("store") is not False,
        background=body.get("background") is True,
    )


def check_include(include: Any, param: str) -> None:
    """`include` (a body field or a query parameter): known includable names only."""
    for i, value in enumerate(check_array(include, param)):
        check_enum(value, f"{param}[{i}]", INCLUDABLE)


def _check_conversation(conversation: Any) -> None:
    if conversation is None:
        return
    if isinstance(conversation, dict):
        if conversation.get("id") is None:
            raise missing("conversation.id")
        check_string(conversation["id"], "conversation.id", non_empty=True)
    elif isinstance(conversation, str):
        check_string(conversation, "conversation", non_empty=True)
    else:
        raise type_error("conversation", "one of a string or an object", conversation)


def _check_text(text: dict[str, Any]) -> None:
    if text.get("verbosity") is not None:
        check_enum(text["verbosity"], "text.verbosity", _VERBOSITY)
    fmt = text.get("format")
    if fmt is None:
        return
    check_object(fmt, "text.format")
    if fmt.get("type") is None:
        raise missing("text.format.type")
    check_enum(fmt["type"], "text.format.type", _FORMAT_TYPES)
    if fmt["type"] == "json_schema":
        if fmt.get("name") is None:
            raise missing("text.format.name")
        check_string(fmt["name"], "text.format.name", max_length=64, non_empty=True)
        if fmt.get("schema") is None:
            raise missing("text.format.schema")
        check_object(fmt["schema"], "text.format.schema")
        if fmt.get("strict") is not None:
            check_bool(fmt["strict"], "text.format.strict")


def _parse_input(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise type_error("input", "one of a string or array of input items", value)
    check_items(value, "input")
    return value
