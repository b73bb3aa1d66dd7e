"""Responses input items -> chat messages. Pure: no I/O.

Tool history is re-paired by `call_id` because chat providers insist on adjacency: an
assistant message with `tool_calls` must be followed directly by one `tool` message per call.
Clients do not always send that order (peers.md §4 item 5), so:
- consecutive calls merge into one assistant message (also onto assistant text before them);
- messages that arrive between a call and its output are moved after the outputs;
- an output whose call is unknown becomes user text, not an invalid tool message;
- a call that never gets an output is left out (the provider would reject it).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import orjson

from ..protocol.errors import InvalidRequest
from ..protocol.items import HOSTED_ITEM_TYPES
from ..providers import Profile
from .reasoning_fields import Reasoning, attach_reasoning
from .tools import ToolMap

__all__ = ["CompactionExpander", "ExtrasResolver", "ReasoningResolver", "to_chat_messages"]

# Given a replayed reasoning item, the raw reasoning to send back (or None).
ReasoningResolver = Callable[[dict[str, Any]], "Reasoning | None"]
# Given a replayed reasoning item, the tool-call extras sealed in it, by call id.
ExtrasResolver = Callable[[dict[str, Any]], "dict[str, Any]"]
# Given a compaction item, the chat messages it stands for (or None to drop it).
CompactionExpander = Callable[[dict[str, Any]], "list[dict[str, Any]] | None"]

# Items produced by hosted tools: nothing a chat provider can take, so they are skipped. One
# list with validation (protocol/items.py), which accepts them; a `compaction` item is skipped
# here too once expanded (it is sealed by us).
_HOSTED_ITEMS = HOSTED_ITEM_TYPES | {"compaction"}
_CALL_ITEMS = frozenset({"function_call", "custom_tool_call"})
_OUTPUT_ITEMS = frozenset({"function_call_output", "custom_tool_call_output"})
_ROLES = frozenset({"user", "assistant", "system", "developer"})
_DETAIL_FALLBACK = {"original": "high"}


def to_chat_messages(
    items: Iterable[dict[str, Any]],
    profile: Profile,
    tool_map: ToolMap,
    *,
    history: list[dict[str, Any]] | None = None,
    resolve_reasoning: ReasoningResolver | None = None,
    expand_compaction: CompactionExpander | None = None,
    strict_tool_outputs: bool = False,
    resolve_extras: ExtrasResolver | None = None,
) -> list[dict[str, Any]]:
    """Translate input items (after any stored `history` messages) into chat messages.

    `resolve_reasoning` opens replayed reasoning items, `expand_compaction` compaction items.
    With `strict_tool_outputs` (a continuation of stored history, where the server knows
    every call), an output for an unknown call is a 400 instead of becoming user text.
    `resolve_extras` opens the tool-call extras (thought signatures) of reasoning items; they
    go back onto their calls wherever the reasoning item stood.
    """
    builder = _Builder(profile, tool_map, history or [], resolve_reasoning, expand_compaction,
                       strict_tool_outputs)
    items = list(items)
    for i, item in enumerate(items):
        if not isinstance(item.get("type", ""), str):
            raise InvalidRequest(f"Invalid '{f'input[{i}]'}.type': expected a string.",
                                 param=f"input[{i}].type", code="invalid_type")
    builder.answered = {it["call_id"] for it in items if it.get("type") in _OUTPUT_ITEMS
                        and isinstance(it.get("call_id"), str)}
    builder.adopt_open_history_calls()
    extras: dict[str, Any] = {}
    for i, item in enumerate(items):
        if resolve_extras is not None and item.get("type") == "reasoning":
            extras.update(resolve_extras(item))
        builder.add(item, f"input[{i}]")
    builder.messages.extend(builder.deferred)
    return _with_call_extras(builder.messages, extras) if extras else builder.messages


def _with_call_extras(messages: list[dict[str, Any]],
                      extras: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages whose tool calls carry their extras again (copies; history is not ours)."""
    def fitted(call: Any) -> Any:
        if isinstance(call, dict) and call.get("id") in extras and "extra_content" not in call:
            return {**call, "extra_content": extras[call["id"]]}
        return call
    return [{**m, "tool_calls": [fitted(c) for c in m["tool_calls"]]}
            if m.get("role") == "assistant" and m.get("tool_calls") else m for m in messages]


class _Builder:
    """The state of one translation: messages so far and the tool calls awaiting outputs."""

    def __init__(self, profile: Profile, tool_map: ToolMap, history: list[dict[str, Any]],
                 resolve_reasoning: ReasoningResolver | None,
                 expand_compaction: CompactionExpander | None, strict: bool) -> None:
        self.profile = profile
        self.tool_map = tool_map
        self.messages: list[dict[str, Any]] = list(history)
        self.known_calls = {call.get("id") for m in self.messages
                            for call in m.get("tool_calls") or ()}
        self.answered: set[Any] = set()  # call ids that get an output somewhere in the input
        self.placed_outputs = {m.get("tool_call_id") for m in self.messages
                               if m.get("role") == "tool"}
        self.pending: set[str] = set()  # calls sent whose outputs have not been placed yet
        self.deferred: list[dict[str, Any]] = []  # messages waiting for those outputs
        self.reasoning: Reasoning | None = None  # for the next assistant message
        self.resolve_reasoning = resolve_reasoning
        self.expand_compaction = expand_compaction
        self.strict = strict

    def adopt_open_history_calls(self) -> None:
        """Calls that stored history left open and this input answers are pending, so a
        message arriving before their outputs is placed after them (adjacency)."""
        answered_before = {m.get("tool_call_id") for m in self.messages
                           if m.get("role") == "tool"}
        for message in reversed(self.messages):
            if message.get("role") == "tool":
                continue
            if message.get("role") == "assistant":
                calls = {c.get("id") for c in message.get("tool_calls") or ()}
                self.pending |= (calls - answered_before) & self.answered
            return

    def place(self, message: dict[str, Any]) -> None:
        if self.pending:
            self.deferred.append(message)
        else:
            self.messages.append(message)

    def add(self, item: dict[str, Any], param: str) -> None:
        kind = item.get("type")
        if kind is None and "role" in item:
            kind = "message"
        if kind == "message":
            message = _message(item, param, self.profile)
            if message["role"] == "assistant" and self.reasoning is not None:
                attach_reasoning(message, self.reasoning)
                self.reasoning = None
            self.place(message)
        elif kind in _CALL_ITEMS:
            self.add_call(_tool_call(item, kind, param, self.tool_map))
        elif kind in _OUTPUT_ITEMS:
            self.add_output(item, param)
        elif kind == "reasoning":
            if self.resolve_reasoning is not None:
                self.reasoning = self.resolve_reasoning(item)
        elif kind == "compaction" and self.expand_compaction is not None:
            for message in self.expand_compaction(item) or ():
                self.place(message)
        elif kind == "item_reference":
            raise InvalidRequest("'item_reference' input items need a stored response; "
                                 "this gateway cannot resolve them.", param=f"{param}",
                                 code="unsupported_item")
        elif kind not in _HOSTED_ITEMS:
            raise InvalidRequest(f"Unsupported input item type {kind!r}.",
                                 param=f"{param}.type", code="unsupported_item")

    def add_call(self, call: dict[str, Any]) -> None:
        if call["id"] not in self.answered or call["id"] in self.known_calls:
            return  # never answered, or sent again (already in history or this input)
        target = _open_assistant(self.messages, self.deferred, self.pending)
        if target is None:
            target = {"role": "assistant", "content": None, "tool_calls": []}
            self.messages.append(target)
        target.setdefault("tool_calls", []).append(call)
        if self.reasoning is not None and "reasoning_content" not in target:
            attach_reasoning(target, self.reasoning)
        self.reasoning = None
        self.pending.add(call["id"])
        self.known_calls.add(call["id"])

    def add_output(self, item: dict[str, Any], param: str) -> None:
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequest(f"Invalid '{param}.call_id': a tool output needs the "
                                 "call_id of its call.", param=f"{param}.call_id",
                                 code="missing_required_parameter")
        text, extra = _tool_output(item.get("output"), f"{param}.output", self.profile)
        if call_id in self.placed_outputs:
            return  # the same output sent twice: providers reject a second tool message
        if call_id in self.known_calls:
            self.placed_outputs.add(call_id)
            self.messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
            self.pending.discard(call_id)
            if extra is not None:
                self.deferred.append(extra)
            if not self.pending and self.deferred:
                self.messages.extend(self.deferred)
                self.deferred.clear()
            return
        if self.strict:
            raise InvalidRequest(f"No tool call found for function call output with call_id "
                                 f"'{call_id}'.", param=f"{param}.call_id", code="invalid_value")
        # A call that only comes later counts as never answered: it is left out.
        self.answered.discard(call_id)
        self.place({"role": "user", "content": f"[output of tool call {call_id}]\n{text}"})
        if extra is not None:
            self.place(extra)


def _open_assistant(messages: list[dict[str, Any]], deferred: list[dict[str, Any]],
                    pending: set[str]) -> dict[str, Any] | None:
    """The assistant message a new call may join.

    While earlier calls await their outputs, that is their assistant message (otherwise it
    would be followed by another assistant message instead of its tool messages); else the
    last message, if it is an assistant one.
    """
    if pending:
        found: dict[str, Any] = next(m for m in reversed(messages)
                                     if m.get("role") == "assistant")
        return found
    if deferred or not messages:
        return None
    last = messages[-1]
    if last.get("role") != "assistant":
        return None
    # A copy: `messages` may hold the caller's stored history, which must not change.
    last = messages[-1] = {**last, "tool_calls": list(last.get("tool_calls") or ())}
    return last


def _tool_call(item: dict[str, Any], kind: str, param: str, tool_map: ToolMap) -> dict[str, Any]:
    call_id = item.get("call_id")
    name = item.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"Invalid '{param}.call_id': required.", param=f"{param}.call_id",
                             code="missing_required_parameter")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"Invalid '{param}.name': required.", param=f"{param}.name",
                             code="missing_required_parameter")
    chat_name = tool_map.chat_name(name, item.get("namespace"))
    if kind == "custom_tool_call":
        value = item.get("input")
        if not isinstance(value, str):
            raise InvalidRequest(f"Invalid '{param}.input': expected a string.",
                                 param=f"{param}.input", code="invalid_type")
        arguments = orjson.dumps({"input": value}).decode()
    else:
        raw = item.get("arguments")
        if raw is not None and not isinstance(raw, str):
            raise InvalidRequest(f"Invalid '{param}.arguments': expected a JSON string.",
                                 param=f"{param}.arguments", code="invalid_type")
        arguments = "{}" if raw is None else raw
    return {"id": call_id, "type": "function",
            "function": {"name": chat_name, "arguments": arguments}}


def _message(item: dict[str, Any], param: str, profile: Profile) -> dict[str, Any]:
    role = item.get("role")
    if role not in _ROLES:
        raise InvalidRequest(f"Invalid '{param}.role': {role!r}; expected one of user, "
                             "assistant, system, developer.", param=f"{param}.role",
                             code="invalid_value")
    if role == "developer" and not profile.developer_role:
        role = "system"
    content = item.get("content")
    if content is None:
        content = ""
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequest(f"Invalid '{param}.content': expected a string or an array.",
                             param=f"{param}.content", code="invalid_type")
    if role == "assistant":
        return {"role": role, "content": _assistant_text(content, f"{param}.content")}
    parts = [_content_part(part, f"{param}.content[{j}]", profile)
             for j, part in enumerate(content)]
    return {"role": role, "content": _collapse(parts, profile, role)}


def _assistant_text(content: list[Any], param: str) -> str:
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("output_text", "input_text", "text"):
            texts.append(_text_of(part, f"{param}[{j}]", "text"))
        elif kind == "refusal":
            texts.append(_text_of(part, f"{param}[{j}]", "refusal"))
        else:
            raise InvalidRequest(f"Unsupported content type {kind!r} in an assistant message.",
                                 param=f"{param}[{j}].type", code="unsupported_content")
    return "".join(texts)


def _text_of(part: dict[str, Any], param: str, key: str) -> str:
    text = part.get(key)
    if not isinstance(text, str):
        raise InvalidRequest(f"Invalid '{param}.{key}': expected a string.",
                             param=f"{param}.{key}", code="invalid_type")
    return text


def _content_part(part: Any, param: str, profile: Profile) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": _text_of(part, param, "text")}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            if part.get("file_id"):
                raise InvalidRequest("Images given by 'file_id' cannot be carried to a chat "
                                     "provider; send 'image_url' (a URL or data URL).",
                                     param=f"{param}.file_id", code="unsupported_content")
            raise InvalidRequest(f"Invalid '{param}.image_url': required.",
                                 param=f"{param}.image_url", code="missing_required_parameter")
        image: dict[str, Any] = {"url": url}
        detail = part.get("detail")
        if isinstance(detail, str):
            if detail not in profile.image_details:
                detail = _DETAIL_FALLBACK.get(detail, "auto")
            image["detail"] = detail
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        file: dict[str, Any] = {}
        for key in ("file_data", "file_id", "filename"):
            if isinstance(part.get(key), str):
                file[key] = part[key]
        if isinstance(part.get("file_url"), str):
            # Chat's file part has no URL field; most OpenAI-compatible servers accept a URL
            # in file_data, which is the closest carrier.
            file.setdefault("file_data", part["file_url"])
        if "file_data" not in file and "file_id" not in file:
            raise InvalidRequest(f"Invalid '{param}': an input_file needs file_data, file_url "
                                 "or file_id.", param=param, code="missing_required_parameter")
        return {"type": "file", "file": file}
    raise InvalidRequest(f"Unsupported content type {kind!r}.", param=f"{param}.type",
                         code="unsupported_content")


def _collapse(parts: list[dict[str, Any]], profile: Profile, role: str) -> Any:
    """Send text-only content as a string where that is what the provider needs."""
    if all(p["type"] == "text" for p in parts):
        if len(parts) == 1 or profile.text_parts_as_string or role == "system":
            return "\n".join(p["text"] for p in parts)
    return parts


def _tool_output(output: Any, param: str, profile: Profile) -> tuple[str, dict[str, Any] | None]:
    """A tool output as text for the tool message, plus a user message for any images/files.

    Chat `tool` messages carry only text, so non-text parts follow in a user message.
    """
    if output is None:
        return "", None
    if isinstance(output, str):
        return output, None
    if not isinstance(output, list):
        # Some clients send a JSON object; keep it as JSON text rather than fail.
        return orjson.dumps(output).decode(), None
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    for j, part in enumerate(output):
        converted = _content_part(part, f"{param}[{j}]", profile)
        if converted["type"] == "text":
            texts.append(converted["text"])
        else:
            media.append(converted)
    extra = None
    if media:
        extra = {"role": "user", "content": [{"type": "text", "text": "(attached tool output)"},
                                             *media]}
    return "\n".join(texts), extra
