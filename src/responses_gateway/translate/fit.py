"""Shaping a chat request to one provider's profile. Pure: no I/O.

Messages may come from stored history produced for another upstream, so every message is
fitted here, not only the new ones. Messages are replaced by fitted copies, never edited:
history belongs to the caller (e.g. the store).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import orjson

from ..providers import Profile
from .reasoning_fields import replay_reasoning

__all__ = ["fit_messages", "fit_tool_choice", "reasoning_knob", "schema_instruction",
           "short_tool_id"]

_ALNUM9 = re.compile(r"[A-Za-z0-9]{9}")
# Said between tool results and a user message for providers that refuse that order.
_AFTER_TOOLS = "Done."


def fit_messages(messages: list[dict[str, Any]], profile: Profile, *, thinking: bool | None,
                 model: str = "", tools: bool = False,
                 reasoning_seen: str | None = None) -> list[dict[str, Any]]:
    """Roles, content shape, tool ids and reasoning fields as the provider accepts them.
    `thinking` is whether the request switched thinking on (None: it did not say), `tools`
    whether it carries tools, `model` the provider's model name, `reasoning_seen` the field
    this upstream and model used for reasoning lately (for turns that do not say)."""
    replay = profile.replays_reasoning(model)
    fitted: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if (profile.assistant_after_tool and role == "user" and fitted
                and fitted[-1].get("role") == "tool"):
            fitted.append({"role": "assistant", "content": _AFTER_TOOLS})
        changes: dict[str, Any] = {}
        drop: set[str] = set()
        if role == "developer" and not profile.developer_role:
            changes["role"] = "system"
        content = message.get("content")
        if (profile.text_parts_as_string and isinstance(content, list) and content
                and all(isinstance(p, dict) and p.get("type") == "text" for p in content)):
            changes["content"] = "\n".join(p.get("text", "") for p in content)
        if role == "assistant":
            message = replay_reasoning(message, profile, replay=replay, thinking=thinking,
                                       seen=reasoning_seen, tools=tools)
            calls = message.get("tool_calls")
            if calls and (profile.tool_id_format or not profile.tool_call_extras
                          or profile.missing_call_extra is not None):
                changes["tool_calls"] = [_fit_call(call, profile, first=n == 0)
                                         for n, call in enumerate(calls)]
        if role == "tool" and profile.tool_id_format and isinstance(
                message.get("tool_call_id"), str):
            changes["tool_call_id"] = short_tool_id(message["tool_call_id"])
        if changes or drop:
            message = {k: v for k, v in message.items() if k not in drop}
            message.update(changes)
        fitted.append(message)
    return fitted


def _fit_call(call: Any, profile: Profile, *, first: bool) -> Any:
    if not isinstance(call, dict):
        return call
    fitted = {k: v for k, v in call.items()
              if k != "extra_content" or profile.tool_call_extras}
    if (first and profile.tool_call_extras and profile.missing_call_extra is not None
            and "extra_content" not in fitted):
        fitted["extra_content"] = dict(profile.missing_call_extra)
    if profile.tool_id_format and isinstance(call.get("id"), str):
        fitted["id"] = short_tool_id(call["id"])
    return fitted


def short_tool_id(call_id: str) -> str:
    """A call id as 9 characters [A-Za-z0-9] (Mistral): unchanged if it already is, else a
    digest of it, so a call and its output keep matching on every turn, and ids the provider
    minted come back to it as they were."""
    if _ALNUM9.fullmatch(call_id):
        return call_id
    digest = base64.b32encode(hashlib.sha256(call_id.encode()).digest()).decode()
    return digest[:9]


def fit_tool_choice(choice: Any, profile: Profile, thinking: bool | None) -> Any:
    """A forced tool_choice ("required" or a named function) as the provider takes it:
    "auto" where it refuses forced tools, always or while the model thinks."""
    forced = choice == "required" or isinstance(choice, dict)
    if not forced or profile.forced_tools == "yes":
        return choice
    if thinking is None:
        thinking = profile.thinks_by_default
    if profile.forced_tools == "without_thinking" and not thinking:
        return choice
    return "auto"


def reasoning_knob(effort: Any, profile: Profile, body: dict[str, Any],
                   model: str = "") -> bool | None:
    """Put `reasoning.effort` on the provider's own knob (never the whole `reasoning`
    object). Returns whether thinking is on, off, or None when the client did not say."""
    if not isinstance(effort, str):
        return None
    thinking = effort != "none"
    if not profile.takes_effort(model):
        return thinking
    knob = profile.reasoning_knob
    mapped = profile.effort_map.get(effort, effort)
    budget = profile.thinking_budgets.get(effort)
    if knob == "reasoning_effort":
        if mapped is not None:
            body["reasoning_effort"] = mapped
    elif knob == "enable_thinking":
        body["enable_thinking"] = thinking
        if thinking and budget is not None:
            body["thinking_budget"] = budget
    elif knob == "thinking":
        body["thinking"] = ({"type": "enabled", **profile.thinking_extra} if thinking
                            else {"type": "disabled"})
    elif knob == "thinking_budget":
        if budget is None:
            budget = profile.thinking_budgets.get("medium", 1024)
        body["thinking"] = ({"type": "enabled", "budget_tokens": budget} if thinking
                            else {"type": "disabled"})
    elif knob == "reasoning":
        body["reasoning"] = {"effort": mapped} if thinking and mapped else {"enabled": False}
    return thinking


def schema_instruction(json_schema: dict[str, Any]) -> dict[str, Any]:
    """For providers with JSON mode but no schemas: the schema as a system message."""
    return {"role": "system", "content": (
        "Answer with a single JSON object that conforms to this JSON schema "
        f"(named {json_schema['name']!r}):\n{orjson.dumps(json_schema['schema']).decode()}")}
