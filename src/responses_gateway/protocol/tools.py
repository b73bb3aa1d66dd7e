"""Validating `tools` and `tool_choice` of a create request. Pure: no I/O.

A tool of a type OpenAI defines but a chat provider cannot run (web_search, mcp, ...) passes
here; translate/tools.py then drops it or refuses it (--unsupported-tools). A type nobody
defines is a 400 here, before anything is sent upstream.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidRequest
from .fields import (
    check_array,
    check_bool,
    check_enum,
    check_object,
    check_string,
    missing,
    type_error,
)

__all__ = ["HOSTED_TOOL_TYPES", "TOOL_TYPES", "check_tool_choice", "check_tools"]

HOSTED_TOOL_TYPES = frozenset({
    "file_search", "web_search", "web_search_2025_08_26", "web_search_preview",
    "web_search_preview_2025_03_11", "computer", "computer_use", "computer_use_preview",
    "mcp", "code_interpreter", "programmatic_tool_calling", "image_generation", "local_shell",
    "shell", "tool_search", "apply_patch",
})
TOOL_TYPES = HOSTED_TOOL_TYPES | {"function", "custom", "namespace"}
_CHOICE_MODES = ("none", "auto", "required")
# What OpenAI and chat providers accept as a function name (longer ones are shortened when a
# namespace is flattened into the name: translate/tools.py).
_NAME = re.compile(r"[a-zA-Z0-9_-]+")


def check_tools(tools: Any) -> None:
    for i, tool in enumerate(check_array(tools, "tools", " of objects")):
        _check_tool(tool, f"tools[{i}]", nested=False)


def _check_tool(tool: Any, param: str, *, nested: bool) -> None:
    check_object(tool, param)
    kind = tool.get("type")
    if kind is None:
        raise missing(f"{param}.type")
    if not isinstance(kind, str):
        raise type_error(f"{param}.type", "a string", kind)
    allowed = ("function", "custom") if nested else TOOL_TYPES
    if kind not in allowed:
        shown = kind if len(kind) <= 64 else kind[:61] + "..."
        raise InvalidRequest(f"Invalid value: '{shown}'. Supported values are: "
                             f"{', '.join(repr(t) for t in sorted(allowed))}.",
                             param=f"{param}.type", code="invalid_value")
    if kind in ("function", "custom", "namespace"):
        name = tool.get("name")
        if name is None:
            raise missing(f"{param}.name")
        check_string(name, f"{param}.name", non_empty=True)
        if not _NAME.fullmatch(name):
            raise InvalidRequest(f"Invalid '{param}.name': string does not match pattern. "
                                 "Expected a string that matches the pattern "
                                 "'^[a-zA-Z0-9_-]+$'.", param=f"{param}.name",
                                 code="invalid_value")
        if tool.get("description") is not None:
            check_string(tool["description"], f"{param}.description")
    if kind == "function":
        if tool.get("parameters") is not None:
            check_object(tool["parameters"], f"{param}.parameters")
        if tool.get("strict") is not None:
            check_bool(tool["strict"], f"{param}.strict")
    elif kind == "custom":
        if tool.get("format") is not None:
            check_object(tool["format"], f"{param}.format")
    elif kind == "namespace":
        members = tool.get("tools")
        if members is None:
            raise missing(f"{param}.tools")
        for j, member in enumerate(check_array(members, f"{param}.tools", " of objects")):
            _check_tool(member, f"{param}.tools[{j}]", nested=True)


def check_tool_choice(choice: Any) -> None:
    if isinstance(choice, str):
        check_enum(choice, "tool_choice", _CHOICE_MODES)
        return
    if not isinstance(choice, dict):
        raise type_error("tool_choice", "one of 'none', 'auto', or 'required' or an object",
                         choice)
    kind = choice.get("type")
    if kind is None:
        raise missing("tool_choice.type")
    check_string(kind, "tool_choice.type")
    if kind in ("function", "custom"):
        name = choice.get("name")
        if name is None:
            raise missing("tool_choice.name")
        check_string(name, "tool_choice.name")
    elif kind == "allowed_tools":
        if choice.get("mode") is not None:
            check_enum(choice["mode"], "tool_choice.mode", ("auto", "required"))
        refs = choice.get("tools")
        if refs is None:
            raise missing("tool_choice.tools")
        for i, ref in enumerate(check_array(refs, "tool_choice.tools", " of objects")):
            check_object(ref, f"tool_choice.tools[{i}]")
            if ref.get("type") is None:
                raise missing(f"tool_choice.tools[{i}].type")
            check_string(ref["type"], f"tool_choice.tools[{i}].type")
