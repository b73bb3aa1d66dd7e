"""What a stored response keeps for the next turn. Pure: no I/O.

- `to_assistant_message`: a response's output items -> the chat assistant message that a
  follow-up (`previous_response_id`, `conversation`) replays, tool calls and reasoning included.
- `with_item_ids`: input items as `GET /v1/responses/{id}/input_items` lists them.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import orjson

from .reasoning_fields import Reasoning, attach_reasoning
from .tools import ToolMap

__all__ = ["to_assistant_message", "with_item_ids"]

_ID_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
}


def to_assistant_message(output: list[dict[str, Any]], tool_map: ToolMap,
                         call_extras: Mapping[str, Any] | None = None,
                         carried: Mapping[str, Reasoning] | None = None
                         ) -> dict[str, Any] | None:
    """The assistant chat message equivalent to `output`; None if nothing was produced.
    `call_extras` is what the provider attached to its tool calls (by call id), kept on them;
    `carried` says, by reasoning item id, which provider field carried that reasoning."""
    texts: list[str] = []
    reasoning: list[str] = []
    via: Reasoning | None = None
    calls: list[dict[str, Any]] = []
    for item in output:
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                texts.append(part.get("text") or part.get("refusal") or "")
        elif kind == "reasoning":
            reasoning.extend(p.get("text", "") for p in item.get("content") or ())
            via = via or (carried or {}).get(item.get("id", ""))
        elif kind == "function_call":
            calls.append(_call(item["call_id"],
                               tool_map.chat_name(item["name"], item.get("namespace")),
                               item.get("arguments") or "{}"))
        elif kind == "custom_tool_call":
            calls.append(_call(item["call_id"],
                               tool_map.chat_name(item["name"], item.get("namespace")),
                               orjson.dumps({"input": item.get("input", "")}).decode()))
    if not texts and not calls and not reasoning:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = [{**call, "extra_content": call_extras[call["id"]]}
                                 if call_extras and call["id"] in call_extras else call
                                 for call in calls]
    if reasoning:
        text = "".join(reasoning)
        attach_reasoning(message, Reasoning(text, via.via, via.details) if via else Reasoning(text))
    return message


def _call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _listed_content(content: Any, role: Any) -> list[Any]:
    """Message content as parts; assistant text parts complete with annotations/logprobs."""
    if content is None:
        return []
    if isinstance(content, str):
        content = [{"type": "output_text" if role == "assistant" else "input_text",
                    "text": content}]
    if role != "assistant":
        return list(content)
    return [{"annotations": [], "logprobs": [], **part}
            if isinstance(part, dict) and part.get("type") == "output_text" else part
            for part in content]


def with_item_ids(items: list[dict[str, Any]], new_id: Callable[[str], str]) -> list[dict[str, Any]]:
    """Copies of input items in their listed form: typed, with an id, messages as parts."""
    listed = []
    for item in items:
        item = dict(item)
        kind = item.get("type") or ("message" if "role" in item else "item")
        item["type"] = kind
        if kind == "message":
            item["content"] = _listed_content(item.get("content"), item.get("role"))
        if not item.get("status"):
            item["status"] = "completed"
        if not item.get("id"):
            item["id"] = new_id(_ID_PREFIXES.get(kind, "item"))
        listed.append(item)
    return listed
