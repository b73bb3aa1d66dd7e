"""Where providers put reasoning: read from every place, sent back under the one used. Pure.

Reading (spec/providers.md, "Recommended default" 1): `reasoning_content` (DeepSeek, Qwen,
Kimi, SGLang), `reasoning` (vLLM >= 0.11, Ollama, LM Studio, OpenRouter, Groq), and
`reasoning_text`, each a string; `reasoning_details` (OpenRouter, MiniMax with
`reasoning_split`), an array kept whole because it must go back unchanged; `{"type":
"thinking"}` parts of a content array (Mistral); and, where the profile says so, a leading
`<think>...</think>` block in the content (servers without a reasoning parser).

Which of them carried a turn's reasoning (its "via") travels with the turn: in the sealed
reasoning item and in stored history, under the private message keys VIA_KEY / DETAILS_KEY,
which `replay_reasoning` turns into the provider's own field (or removes) before sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..providers import Profile
from .think import ThinkSplitter

__all__ = ["DETAILS", "DETAILS_KEY", "PARTS", "STRING_FIELDS", "THINK", "VIA_KEY", "VIAS",
           "Reasoning", "ReasoningReader", "attach_reasoning", "details_text",
           "replay_reasoning"]

STRING_FIELDS = ("reasoning_content", "reasoning", "reasoning_text")
DETAILS = "reasoning_details"
THINK = "think"  # a `<think>...</think>` block leading the content
PARTS = "thinking"  # `{"type": "thinking"}` content parts: read, never sent back
VIAS = frozenset({*STRING_FIELDS, DETAILS, THINK, PARTS})
# Private keys of an assistant message between translation steps (and in stored history);
# never sent upstream.
VIA_KEY = "_reasoning_via"
DETAILS_KEY = "_reasoning_details"
_TEXT = "reasoning_content"  # the key that holds the reasoning text inside the gateway
_DETAIL_TEXT_KEYS = ("text", "summary", "data", "signature")


@dataclass(frozen=True, slots=True)
class Reasoning:
    """One turn's reasoning: its text, the provider field that carried it, and the
    `reasoning_details` array as the provider sent it (when it used that field)."""

    text: str
    via: str | None = None
    details: list[dict[str, Any]] | None = None


def details_text(details: list[Any]) -> str:
    """The readable text of a `reasoning_details` array (encrypted entries have none)."""
    texts = []
    for entry in details:
        if not isinstance(entry, dict):
            continue
        kind = entry.get("type")
        value = entry.get("summary") if kind == "reasoning.summary" else entry.get("text")
        if kind != "reasoning.encrypted" and isinstance(value, str):
            texts.append(value)
    return "".join(texts)


def _merge_details(merged: list[dict[str, Any]], fragments: list[Any]) -> None:
    """Stream fragments of `reasoning_details` -> whole entries: fragments with the same
    `index` (or, without one, the same type as the last entry) are one entry whose strings
    continue."""
    for fragment in fragments:
        if not isinstance(fragment, dict):
            continue
        last = merged[-1] if merged else None
        same = last is not None and (
            last.get("index") == fragment["index"] if "index" in fragment
            else "index" not in last and last.get("type") == fragment.get("type"))
        if last is None or not same:
            merged.append(dict(fragment))
            continue
        for key, value in fragment.items():
            if key in _DETAIL_TEXT_KEYS and isinstance(value, str) and isinstance(
                    last.get(key), str):
                last[key] += value
            elif last.get(key) is None:
                last[key] = value


class ReasoningReader:
    """Feed chat deltas (or whole messages); get (reasoning, content) text back, in order.

    `via` names the field that carried the reasoning; `details` is the merged
    `reasoning_details` array, if the provider sent one.
    """

    __slots__ = ("_separate", "_think", "details", "via")

    def __init__(self, *, think_tags: bool) -> None:
        self._think = ThinkSplitter() if think_tags else None
        self._separate = False  # reasoning came in a field of its own
        self.via: str | None = None
        self.details: list[dict[str, Any]] | None = None

    def read(self, delta: dict[str, Any]) -> tuple[str, str]:
        reasoning = ""
        present = [key for key in STRING_FIELDS
                   if isinstance(delta.get(key), str) and delta[key]]
        if present:
            reasoning = delta[present[0]]
            # vLLM 0.11-0.15 sends both names but reads only `reasoning` back (#38488).
            self._note("reasoning" if "reasoning" in present else present[0])
        details = delta.get(DETAILS)
        if isinstance(details, list) and details:
            if self.details is None:
                self.details = []
            _merge_details(self.details, details)
            self._separate = True
            self.via = DETAILS  # the lossless form: it goes back byte for byte
            if not reasoning:
                reasoning = details_text(details)
        content = delta.get("content")
        text = ""
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "thinking":
                    thought = _thinking_text(part.get("thinking"))
                    if thought:
                        reasoning += thought
                        self._note(PARTS)
                elif isinstance(part.get("text"), str):
                    text += part["text"]
        elif isinstance(content, str):
            text = content
        if text and self._think is not None:
            inline, text = self._think.feed(text)
            reasoning += self._inline(inline)
        return reasoning, text

    def flush(self) -> tuple[str, str]:
        """What is held back when the answer ends."""
        if self._think is None:
            return "", ""
        inline, text = self._think.flush()
        return self._inline(inline), text

    def _inline(self, reasoning: str) -> str:
        if not reasoning:
            return ""
        if self._separate:
            # llama.cpp `deepseek-legacy` sends both: the block only repeats the field.
            return ""
        if self.via is None:
            self.via = THINK
        return reasoning

    def _note(self, via: str) -> None:
        self._separate = True
        if self.via is None or self.via == THINK:
            self.via = via


def _thinking_text(thinking: Any) -> str:
    """Mistral: `thinking` is a list of text chunks; others use a plain string."""
    if isinstance(thinking, str):
        return thinking
    if isinstance(thinking, list):
        return "".join(c["text"] for c in thinking
                       if isinstance(c, dict) and isinstance(c.get("text"), str))
    return ""


def attach_reasoning(message: dict[str, Any], reasoning: Reasoning) -> None:
    """Put a turn's reasoning on its assistant message, in the gateway's own keys."""
    message[_TEXT] = reasoning.text
    if reasoning.via is not None:
        message[VIA_KEY] = reasoning.via
    if reasoning.details:
        message[DETAILS_KEY] = reasoning.details


def replay_reasoning(message: dict[str, Any], profile: Profile, *, replay: bool,
                     thinking: bool | None, seen: str | None, tools: bool) -> dict[str, Any]:
    """An assistant message with its reasoning under the field this provider reads (or
    without it, if `replay` is off): a copy whenever anything changes, never the caller's.

    The field is the profile's own, else the one the provider used for that turn, else
    the one it used lately (`seen`); a provider that never showed a field gets none.
    """
    text = message.get(_TEXT)
    details = message.get(DETAILS_KEY)
    via = message.get(VIA_KEY)
    if not ({_TEXT, VIA_KEY, DETAILS_KEY} & message.keys() or replay):
        return message
    out = {k: v for k, v in message.items() if k not in (_TEXT, VIA_KEY, DETAILS_KEY)}
    if not replay:
        return out
    field = profile.reasoning_field or (via if via in VIAS else None) or seen
    text = text if isinstance(text, str) else ""
    if field == DETAILS:
        if isinstance(details, list) and details:
            out[DETAILS] = details
        elif text:
            out[DETAILS] = [{"type": "reasoning.text", "text": text}]
    elif field == THINK:
        if text:
            content = out.get("content")
            body = content if isinstance(content, str) else ""
            out["content"] = f"<think>\n{text}\n</think>\n\n{body}"
    elif field in STRING_FIELDS:
        if text:
            out[field] = text
        elif thinking is not False:
            if profile.reasoning_placeholder_all and tools:
                out[field] = ""
            elif profile.reasoning_placeholder is not None and message.get("tool_calls"):
                out[field] = profile.reasoning_placeholder
    return out
