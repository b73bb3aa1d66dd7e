"""Responses tool definitions and tool_choice -> chat `tools`/`tool_choice`. Pure: no I/O.

Chat Completions knows only function tools, so:
- `function` tools are re-shaped (flat -> nested under "function");
- `custom` (freeform) tools become a function with one string parameter, `input`;
- `namespace` tools are flattened to `<namespace>__<name>`, a name we can map back;
- hosted tools (web_search, file_search, ...) cannot run on a chat provider and are dropped,
  or rejected when the operator asks for that or when `tool_choice` forces one.
The `ToolMap` built here lets the stream translator turn calls back into the right items.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import orjson

from ..protocol.errors import InvalidRequest
from ..providers import Profile

__all__ = ["ToolMap", "ToolRef", "ToolSet", "complete_json", "new_tool_call_item", "to_chat_tools",
           "unwrap_custom_input"]

NAMESPACE_SEPARATOR = "__"
_MAX_NAME = 64
_CUSTOM_PARAMETERS_DESCRIPTION = "The raw input for this tool, as free-form text."


@dataclass(frozen=True, slots=True)
class ToolRef:
    """How a chat function name maps back to the client's tool."""

    kind: str  # "function" or "custom"
    name: str
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class ToolMap:
    """chat function name -> ToolRef, and the reverse lookups the translators need."""

    by_chat_name: Mapping[str, ToolRef] = field(default_factory=dict)

    def chat_name(self, name: str, namespace: str | None = None) -> str:
        """The chat function name for a client tool name (identity when not renamed)."""
        if namespace:
            return _flat_name(namespace, name)
        return name

    def resolve(self, chat_name: str) -> ToolRef:
        ref = self.by_chat_name.get(chat_name)
        return ref if ref is not None else ToolRef("function", chat_name)


@dataclass(frozen=True, slots=True)
class ToolSet:
    """The translated tools part of a chat request."""

    tools: list[dict[str, Any]]
    tool_choice: Any  # None when not forwarded
    tool_map: ToolMap
    echo: list[dict[str, Any]]  # tools as the response echoes them (Responses shape)
    dropped: tuple[str, ...]  # hosted tool types we could not forward


def to_chat_tools(
    tools: list[dict[str, Any]] | None,
    tool_choice: Any,
    profile: Profile,
    *,
    reject_unsupported: bool = False,
) -> ToolSet:
    """Translate `tools` + `tool_choice`; raises InvalidRequest for what cannot be honoured."""
    chat_tools: list[dict[str, Any]] = []
    echo: list[dict[str, Any]] = []
    refs: dict[str, ToolRef] = {}
    dropped: list[str] = []
    for i, tool in enumerate(tools or ()):
        kind = tool["type"]
        if kind == "function":
            chat_tools.append(_function_tool(tool, f"tools[{i}]", profile, None, refs))
            echo.append(_echo_function(tool))
        elif kind == "custom":
            chat_tools.append(_custom_tool(tool, f"tools[{i}]", None, refs))
            echo.append(tool)
        elif kind == "namespace":
            namespace = tool.get("name")
            if not isinstance(namespace, str) or not namespace:
                raise InvalidRequest("A namespace tool needs a 'name'.", param=f"tools[{i}].name")
            members = tool.get("tools") or []
            if not isinstance(members, list):
                raise InvalidRequest("A namespace tool's 'tools' must be an array.",
                                     param=f"tools[{i}].tools", code="invalid_type")
            for j, sub in enumerate(members):
                param = f"tools[{i}].tools[{j}]"
                sub_kind = sub.get("type") if isinstance(sub, dict) else None
                if sub_kind == "function":
                    chat_tools.append(_function_tool(sub, param, profile, namespace, refs))
                elif sub_kind == "custom":
                    chat_tools.append(_custom_tool(sub, param, namespace, refs))
                else:
                    raise InvalidRequest(
                        f"Unsupported tool type {sub_kind!r} inside namespace {namespace!r}.",
                        param=param)
            echo.append(tool)
        elif reject_unsupported:
            raise InvalidRequest(
                f"Tool type '{kind}' is a hosted tool that this gateway's upstream cannot run.",
                param=f"tools[{i}].type", code="unsupported_tool")
        else:
            dropped.append(kind)

    tool_map = ToolMap(refs)
    if not chat_tools:
        _check_forced_tool(tool_choice, tool_map, chat_tools)
        return ToolSet([], None, tool_map, echo, tuple(dropped))
    choice, chat_tools = _to_chat_tool_choice(tool_choice, tool_map, chat_tools)
    return ToolSet(chat_tools, choice, tool_map, echo, tuple(dropped))


def _function_tool(tool: dict[str, Any], param: str, profile: Profile, namespace: str | None,
                   refs: dict[str, ToolRef]) -> dict[str, Any]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("A function tool needs a 'name'.", param=f"{param}.name",
                             code="missing_required_parameter")
    parameters = tool.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    elif not isinstance(parameters, dict):
        raise InvalidRequest("A function tool's 'parameters' must be a JSON schema object.",
                             param=f"{param}.parameters", code="invalid_type")
    elif profile.strip_schema_keys:
        parameters = strip_schema_keys(parameters, profile.strip_schema_keys)
    chat_name = _register(refs, ToolRef("function", name, namespace))
    function: dict[str, Any] = {"name": chat_name, "parameters": parameters}
    description = tool.get("description")
    if description:
        function["description"] = description
    if profile.tool_strict and tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _custom_tool(tool: dict[str, Any], param: str, namespace: str | None,
                 refs: dict[str, ToolRef]) -> dict[str, Any]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("A custom tool needs a 'name'.", param=f"{param}.name",
                             code="missing_required_parameter")
    input_description = _CUSTOM_PARAMETERS_DESCRIPTION
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and fmt.get("definition"):
        # The model cannot see a grammar any other way; it goes in the description.
        input_description += (f" It must match this {fmt.get('syntax', 'lark')} grammar:\n"
                              f"{fmt['definition']}")
    chat_name = _register(refs, ToolRef("custom", name, namespace))
    function: dict[str, Any] = {
        "name": chat_name,
        "parameters": {
            "type": "object",
            "properties": {"input": {"type": "string", "description": input_description}},
            "required": ["input"],
            "additionalProperties": False,
        },
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _register(refs: dict[str, ToolRef], ref: ToolRef) -> str:
    chat_name = _flat_name(ref.namespace, ref.name) if ref.namespace else ref.name
    refs[chat_name] = ref
    return chat_name


def _flat_name(namespace: str, name: str) -> str:
    flat = f"{namespace}{NAMESPACE_SEPARATOR}{name}"
    if len(flat) <= _MAX_NAME:
        return flat
    # Providers cap function names at 64 characters; keep it unique and stable.
    digest = hashlib.sha1(flat.encode()).hexdigest()[:8]
    return f"{flat[:_MAX_NAME - 9]}_{digest}"


def _echo_function(tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.get("name"),
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict") if tool.get("strict") is not None else True,
    }


def _forced_name(choice: dict[str, Any], tool_map: ToolMap) -> str | None:
    name = choice.get("name")
    if not isinstance(name, str):
        return None
    chat_name = tool_map.chat_name(name, choice.get("namespace"))
    return chat_name


def _check_forced_tool(tool_choice: Any, tool_map: ToolMap, chat_tools: list[Any]) -> None:
    """With no forwardable tools, a choice that forces a tool cannot be honoured."""
    if isinstance(tool_choice, dict):
        kind = tool_choice.get("type")
        if kind in ("function", "custom", "allowed_tools") and not chat_tools:
            if kind == "allowed_tools" and tool_choice.get("mode") != "required":
                return
            raise InvalidRequest("'tool_choice' names a tool that is not in 'tools'.",
                                 param="tool_choice", code="invalid_value")
        if kind not in ("function", "custom", "allowed_tools"):
            raise _hosted_choice(kind)
    elif tool_choice == "required":
        raise InvalidRequest("'tool_choice' is 'required' but no tool can be forwarded.",
                             param="tool_choice", code="invalid_value")
    elif tool_choice not in (None, "none", "auto"):
        raise InvalidRequest(f"Invalid 'tool_choice': {tool_choice!r}.",
                             param="tool_choice", code="invalid_value")


def _hosted_choice(kind: Any) -> InvalidRequest:
    return InvalidRequest(
        f"'tool_choice' forces the hosted tool '{kind}', which this gateway's upstream "
        "cannot run.", param="tool_choice", code="unsupported_tool")


def _to_chat_tool_choice(tool_choice: Any, tool_map: ToolMap,
                         chat_tools: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    if tool_choice is None:
        return None, chat_tools
    if isinstance(tool_choice, str):
        if tool_choice not in ("none", "auto", "required"):
            raise InvalidRequest(f"Invalid 'tool_choice': {tool_choice!r}.",
                                 param="tool_choice", code="invalid_value")
        return tool_choice, chat_tools
    kind = tool_choice.get("type")
    names = {t["function"]["name"] for t in chat_tools}
    if kind in ("function", "custom"):
        name = _forced_name(tool_choice, tool_map)
        if name not in names:
            raise InvalidRequest(f"'tool_choice' names {tool_choice.get('name')!r}, which is "
                                 "not in 'tools'.", param="tool_choice.name",
                                 code="invalid_value")
        return {"type": "function", "function": {"name": name}}, chat_tools
    if kind == "allowed_tools":
        mode = tool_choice.get("mode", "auto")
        if mode not in ("none", "auto", "required"):
            raise InvalidRequest(f"Invalid 'tool_choice.mode': {mode!r}.",
                                 param="tool_choice.mode", code="invalid_value")
        allowed = set()
        allowed_refs = tool_choice.get("tools") or []
        if not isinstance(allowed_refs, list):
            raise InvalidRequest("'tool_choice.tools' must be an array.",
                                 param="tool_choice.tools", code="invalid_type")
        for i, ref in enumerate(allowed_refs):
            if not isinstance(ref, dict):
                raise InvalidRequest("Each allowed tool must be an object.",
                                     param=f"tool_choice.tools[{i}]", code="invalid_type")
            if ref.get("type") not in ("function", "custom"):
                if mode == "required":
                    raise _hosted_choice(ref.get("type"))
                continue
            allowed.add(_forced_name(ref, tool_map))
        # Chat has no allowed-tools list: narrow the tools offered instead.
        kept = [t for t in chat_tools if t["function"]["name"] in allowed]
        if not kept:
            if mode == "required":
                raise InvalidRequest("'tool_choice.tools' allows no tool that is in 'tools'.",
                                     param="tool_choice.tools", code="invalid_value")
            return "none", chat_tools
        return mode, kept
    raise _hosted_choice(kind)


def strip_schema_keys(schema: Any, keys: frozenset[str]) -> Any:
    """A copy of a JSON schema without the given keys at any depth."""
    if isinstance(schema, dict):
        return {k: strip_schema_keys(v, keys) for k, v in schema.items() if k not in keys}
    if isinstance(schema, list):
        return [strip_schema_keys(v, keys) for v in schema]
    return schema


def new_tool_call_item(ref: ToolRef, call_id: str, new_id: Any) -> dict[str, Any]:
    """The in-progress output item for a call of `ref` (function_call or custom_tool_call)."""
    if ref.kind == "custom":
        item = {"id": new_id("ctc"), "type": "custom_tool_call", "status": "in_progress",
                "call_id": call_id, "name": ref.name, "input": ""}
    else:
        item = {"id": new_id("fc"), "type": "function_call", "status": "in_progress",
                "call_id": call_id, "name": ref.name, "arguments": ""}
    if ref.namespace:
        item["namespace"] = ref.namespace
    return item


def unwrap_custom_input(raw: str) -> str:
    """The string a model passed to a custom tool: `{"input": "..."}` -> `...`."""
    try:
        value = orjson.loads(raw) if raw else ""
    except orjson.JSONDecodeError:
        return raw
    if isinstance(value, dict):
        inner = value.get("input")
        if isinstance(inner, str):
            return inner
        if len(value) == 1:
            only = next(iter(value.values()))
            if isinstance(only, str):
                return only
    return raw if not isinstance(value, str) else value


def complete_json(fragments: list[str]) -> bool:
    """Whether a call's arguments so far form a whole JSON value (the stream checks only when
    another call starts, not per chunk)."""
    try:
        orjson.loads("".join(fragments))
    except orjson.JSONDecodeError:
        return False
    return True
