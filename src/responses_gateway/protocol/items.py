"""Validating input items: a create request's `input` and the items added to a conversation.

Both go through `check_items`, so an item a conversation accepts is one a later turn can
send. Only what the gateway reads, stores or lists is checked; each item type keeps the
fields OpenAI defines (`id`, `status`, `phase`, ...) as the client sent them.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidRequest
from .fields import check_enum, check_string, missing, type_error

__all__ = ["HOSTED_ITEM_TYPES", "ITEM_TYPES", "ROLES", "check_item", "check_items"]

# Items that hosted tools produce: a chat provider cannot take them, so they are accepted
# and left out of what is sent upstream (translate/items.py).
HOSTED_ITEM_TYPES = frozenset({
    "file_search_call", "web_search_call", "computer_call", "computer_call_output",
    "image_generation_call", "code_interpreter_call", "local_shell_call",
    "local_shell_call_output", "shell_call", "shell_call_output", "apply_patch_call",
    "apply_patch_call_output", "mcp_list_tools", "mcp_approval_request",
    "mcp_approval_response", "mcp_call", "tool_search_call", "tool_search_output",
    "additional_tools", "compaction_trigger",
})
ITEM_TYPES = HOSTED_ITEM_TYPES | {
    "message", "function_call", "function_call_output", "custom_tool_call",
    "custom_tool_call_output", "reasoning", "item_reference", "compaction",
}
# OpenAI item types the gateway cannot carry at all (server-side programs and settings).
_UNSUPPORTED_ITEM_TYPES = frozenset({"program", "program_output", "configuration_update"})

ROLES = ("user", "assistant", "system", "developer")
_STATUSES = ("in_progress", "completed", "incomplete")
_USER_PARTS = frozenset({"input_text", "input_image", "input_file", "output_text", "text"})
_ASSISTANT_PARTS = frozenset({"output_text", "refusal", "input_text", "text"})
_IMAGE_DETAILS = ("low", "high", "auto", "original")


def check_items(items: list[Any], param: str) -> None:
    """Check each item of `items` (the array at `param`, e.g. 'input' or 'items')."""
    for i, item in enumerate(items):
        check_item(item, f"{param}[{i}]")


def check_item(item: Any, param: str) -> None:
    if not isinstance(item, dict):
        raise type_error(param, "an object", item)
    kind = item.get("type")
    if kind is None:
        if "role" in item and "type" not in item:  # an "easy" message: its type may be left out
            kind = "message"
        elif "id" in item and "role" not in item:  # an item_reference's type may be null
            kind = "item_reference"
        else:
            raise missing(f"{param}.type")
    if not isinstance(kind, str):
        raise type_error(f"{param}.type", "a string", kind)
    if kind not in ITEM_TYPES:
        shown = kind if len(kind) <= 64 else kind[:61] + "..."
        if kind in _UNSUPPORTED_ITEM_TYPES:
            raise InvalidRequest(f"Input items of type '{kind}' cannot be carried to a chat "
                                 "provider.", param=f"{param}.type", code="unsupported_item")
        raise InvalidRequest(f"Invalid value: '{shown}'. Expected a known input item type "
                             "(message, function_call, function_call_output, reasoning, ...).",
                             param=f"{param}.type", code="invalid_value")
    if item.get("id") is not None:
        check_string(item["id"], f"{param}.id")
    status = item.get("status")
    if status is not None and kind in _CHECKS:
        check_enum(status, f"{param}.status", _STATUSES)
    check = _CHECKS.get(kind)
    if check is not None:
        check(item, param)


def _message(item: dict[str, Any], param: str) -> None:
    role = item.get("role")
    if role is None:
        raise missing(f"{param}.role")
    check_enum(role, f"{param}.role", ROLES)
    content = item.get("content")
    if content is None or isinstance(content, str):
        return  # a missing content is sent as empty text, as before
    if not isinstance(content, list):
        raise type_error(f"{param}.content", "one of a string or array of objects", content)
    allowed = _ASSISTANT_PARTS if role == "assistant" else _USER_PARTS
    for j, part in enumerate(content):
        _content_part(part, f"{param}.content[{j}]", allowed)


def _content_part(part: Any, param: str, allowed: frozenset[str]) -> None:
    if not isinstance(part, dict):
        raise type_error(param, "an object", part)
    kind = part.get("type")
    if kind is None:
        raise missing(f"{param}.type")
    if not isinstance(kind, str):
        raise type_error(f"{param}.type", "a string", kind)
    if kind not in allowed:
        shown = kind if len(kind) <= 64 else kind[:61] + "..."
        raise InvalidRequest(f"Invalid value: '{shown}'. Supported values are: "
                             f"{', '.join(repr(k) for k in sorted(allowed))}.",
                             param=f"{param}.type", code="invalid_value")
    if kind in ("input_text", "output_text", "text"):
        _required_string(part, "text", param)
    elif kind == "refusal":
        _required_string(part, "refusal", param)
    elif kind == "input_image":
        if part.get("detail") is not None:
            check_enum(part["detail"], f"{param}.detail", _IMAGE_DETAILS)
        url = part.get("image_url")
        if url is not None:
            check_string(url, f"{param}.image_url", non_empty=True)
        elif part.get("file_id") is not None:
            check_string(part["file_id"], f"{param}.file_id")
            raise InvalidRequest("Images given by 'file_id' cannot be carried to a chat "
                                 "provider; send 'image_url' (a URL or data URL).",
                                 param=f"{param}.file_id", code="unsupported_content")
        else:
            raise missing(f"{param}.image_url")
    elif kind == "input_file":
        present = [key for key in ("file_data", "file_id", "file_url") if part.get(key) is not None]
        for key in (*present, "filename"):
            if part.get(key) is not None:
                check_string(part[key], f"{param}.{key}")
        if not present:
            raise InvalidRequest(f"Invalid '{param}': an input_file needs file_data, file_url "
                                 "or file_id.", param=param, code="missing_required_parameter")


def _required_string(item: dict[str, Any], key: str, param: str) -> str:
    value = item.get(key)
    if value is None:
        raise missing(f"{param}.{key}")
    return check_string(value, f"{param}.{key}")


def _call(item: dict[str, Any], param: str) -> None:
    check_string(_required_string(item, "call_id", param), f"{param}.call_id", non_empty=True)
    check_string(_required_string(item, "name", param), f"{param}.name", non_empty=True)
    if item.get("namespace") is not None:
        check_string(item["namespace"], f"{param}.namespace")
    if item["type"] == "custom_tool_call":
        _required_string(item, "input", param)
    elif item.get("arguments") is not None:
        check_string(item["arguments"], f"{param}.arguments")


def _output(item: dict[str, Any], param: str) -> None:
    check_string(_required_string(item, "call_id", param), f"{param}.call_id", non_empty=True)
    output = item.get("output")
    if isinstance(output, list):
        for j, part in enumerate(output):
            _content_part(part, f"{param}.output[{j}]", _USER_PARTS)
    elif output is not None and not isinstance(output, (str, dict)):
        # An object is kept as JSON text (some clients send one); anything else is wrong.
        raise type_error(f"{param}.output", "one of a string or array of objects", output)


def _reasoning(item: dict[str, Any], param: str) -> None:
    for key in ("summary", "content"):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise type_error(f"{param}.{key}", "an array of objects", value)
        for j, part in enumerate(value):
            if not isinstance(part, dict):
                raise type_error(f"{param}.{key}[{j}]", "an object", part)
            if part.get("text") is not None:
                check_string(part["text"], f"{param}.{key}[{j}].text")
    if item.get("encrypted_content") is not None:
        check_string(item["encrypted_content"], f"{param}.encrypted_content")


def _item_reference(item: dict[str, Any], param: str) -> None:
    if item.get("id") is None:
        raise missing(f"{param}.id")


def _compaction(item: dict[str, Any], param: str) -> None:
    _required_string(item, "encrypted_content", param)


_CHECKS = {
    "message": _message,
    "function_call": _call,
    "custom_tool_call": _call,
    "function_call_output": _output,
    "custom_tool_call_output": _output,
    "reasoning": _reasoning,
    "item_reference": _item_reference,
    "compaction": _compaction,
}

