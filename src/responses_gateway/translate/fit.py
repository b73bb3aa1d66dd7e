"""Shaping a chat request to one provider's profile. Pure: no I/O.

Messages may come from stored history produced for another upstream, so every message is
fitted here, not only the new ones. Messages are replaced by fitted copies, never edited:
history belongs to the caller (e.g. the store).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..providers import DASHSCOPE_THINKING_BUDGET, Profile
from .reasoning_fields import replay_reasoning

__all__ = ["fit_messages", "reasoning_knob", "schema_instruction"]


def fit_messages(messages: list[dict[str, Any]], profile: Profile, *,
                 thinking: bool | None, reasoning_seen: str | None = None,
                 tools: bool = False) -> list[dict[str, Any]]:
    """Roles, content shape and reasoning fields as the provider accepts them.

    `reasoning_seen` is the field this upstream and model used for reasoning lately (for
    turns that do not say which they came in); `tools` whether the request has tools.
    """
    fitted = []
    for message in messages:
        role = message.get("role")
        changes: dict[str, Any] = {}
        if role == "developer" and not profile.developer_role:
            changes["role"] = "system"
        content = message.get("content")
        if (profile.text_parts_as_string and isinstance(content, list) and content
                and all(isinstance(p, dict) and p.get("type") == "text" for p in content)):
            changes["content"] = "\n".join(p.get("text", "") for p in content)
        if role == "assistant":
            message = replay_reasoning(message, profile, thinking=thinking,
                                       seen=reasoning_seen, tools=tools)
        if changes:
            message = {**message, **changes}
        fitted.append(message)
    return fitted


def reasoning_knob(effort: Any, profile: Profile, body: dict[str, Any]) -> bool | None:
    """Put `reasoning.effort` on the provider's own knob (never the whole `reasoning`
    object). Returns whether thinking is on, off, or None when the client did not say."""
    if not isinstance(effort, str):
        return None
    thinking = effort != "none"
    if profile.reasoning_knob == "reasoning_effort":
        mapped = profile.effort_map.get(effort, effort)
        if mapped is not None:
            body["reasoning_effort"] = mapped
    elif profile.reasoning_knob == "enable_thinking":
        body["enable_thinking"] = thinking
        budget = DASHSCOPE_THINKING_BUDGET.get(effort)
        if thinking and budget is not None:
            body["thinking_budget"] = budget
    elif profile.reasoning_knob == "thinking":
        body["thinking"] = {"type": "enabled" if thinking else "disabled"}
    return thinking


def schema_instruction(json_schema: dict[str, Any]) -> dict[str, Any]:
    """For providers with JSON mode but no schemas: the schema as a system message."""
    return {"role": "system", "content": (
        "Answer with a single JSON object that conforms to this JSON schema "
        f"(named {json_schema['name']!r}):\n{orjson.dumps(json_schema['schema']).decode()}")}
