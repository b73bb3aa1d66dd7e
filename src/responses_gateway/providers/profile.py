"""What a profile can say about a provider: the `Profile` record. The profiles themselves are
data, in `table.py`."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["KNOBS", "Profile"]

# How `reasoning.effort` can reach a provider (Profile.reasoning_knob):
KNOBS = frozenset({
    "reasoning_effort",  # reasoning_effort: <effort>
    "enable_thinking",   # enable_thinking: bool + thinking_budget (DashScope, SiliconFlow)
    "thinking",          # thinking: {"type": "enabled" | "disabled", **thinking_extra}
    "thinking_budget",   # thinking: {"type": "enabled", "budget_tokens": N} | disabled (Anthropic)
    "reasoning",         # reasoning: {"effort": <effort>} | {"enabled": false} (OpenRouter)
})
_FORCED_TOOLS = frozenset({"yes", "without_thinking", "no"})
_TOOL_ID_FORMATS = frozenset({"alnum9"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """What one kind of provider accepts on `POST /chat/completions`."""

    name: str
    # `developer` role passed as is; otherwise it becomes `system`.
    developer_role: bool = False
    # Which field carries the output token limit.
    max_tokens_field: str = "max_tokens"
    # Whether `stream_options: {include_usage: true}` is understood (usage on streams).
    stream_options: bool = True
    # Whether `prompt_cache_key` and `verbosity` are accepted.
    prompt_cache_key: bool = False
    verbosity: bool = False
    # Whether `strict` may be sent inside function tool definitions.
    tool_strict: bool = True
    # Whether `user` (from `safety_identifier` or `user`) may be sent.
    user_field: bool = True
    # Whether a content array of only text parts must be sent as one string.
    text_parts_as_string: bool = False
    # JSON-schema keys the provider rejects inside response_format / tool parameters.
    strip_schema_keys: frozenset[str] = field(default_factory=frozenset)
    # Image detail values the provider accepts; others are mapped to the nearest one.
    image_details: frozenset[str] = frozenset({"low", "high", "auto"})
    # How `reasoning.effort` reaches the provider: one of KNOBS, or None (not sent).
    reasoning_knob: str | None = None
    # Added inside `thinking` when the `thinking` knob switches thinking on (GLM:
    # `clear_thinking: false` keeps earlier turns' reasoning in the model's context).
    thinking_extra: Mapping[str, Any] = field(default_factory=dict)
    # Token budget per effort, for the `enable_thinking` and `thinking_budget` knobs; other
    # efforts leave the provider's default budget (`thinking_budget` needs one: "medium"'s).
    thinking_budgets: Mapping[str, int] = field(default_factory=dict)
    # Reasoning efforts the provider does not know -> the nearest one it does (None: omit).
    effort_map: Mapping[str, str | None] = field(default_factory=dict)
    # Provider model names (globs) that take the effort; empty: every model (xAI: only some).
    effort_models: tuple[str, ...] = ()
    # Whether earlier turns' reasoning is sent back on assistant messages (thinking
    # providers require it on tool-call turns; others reject the unknown field).
    reasoning_replay: bool = False
    # The field it goes back under: `reasoning_content`, `reasoning`, `reasoning_text`,
    # `reasoning_details`, or "think" (a `<think>` block before the content). None: the
    # field the provider used for that turn, else lately (translate/reasoning_fields.py).
    reasoning_field: str | None = "reasoning_content"
    # Sent under that field on a tool-call assistant message that has none, for
    # providers that reject such messages outright.
    reasoning_placeholder: str | None = None
    # ... and on every assistant message (not only tool-call turns) when the request has
    # tools and thinking is not switched off (DeepSeek V4 thinking mode).
    reasoning_placeholder_all: bool = False
    # Provider model names (globs) that must never get `reasoning_content` back (legacy
    # deepseek-reasoner, R1: "Please remove the reasoning_content from your message").
    no_replay_models: tuple[str, ...] = ()
    # Whether `<think>...</think>` at the start of content is reasoning (servers without a
    # reasoning parser).
    think_tags: bool = False
    # Whether a forced `tool_choice` ("required" or a named function) is accepted: "yes",
    # "without_thinking" (refused while the model thinks) or "no" (only "auto", GLM). When
    # not accepted it is sent as "auto".
    forced_tools: str = "yes"
    # Whether the model thinks when the request does not say (DeepSeek V4, Kimi K2.5+).
    thinks_by_default: bool = False
    # Tool-call ids the provider accepts: None (any) or "alnum9" (9 characters [A-Za-z0-9],
    # Mistral). Other ids are replaced by a digest of themselves, on the call and its output.
    tool_id_format: str | None = None
    # An assistant message is put between tool results and a user message after them
    # (Mistral: "Unexpected role 'user' after role 'tool'").
    assistant_after_tool: bool = False
    # Whether tool calls' `extra_content` (Gemini's thought signatures) is kept and sent back.
    tool_call_extras: bool = False
    # Put on the first call of an assistant message that has no extras of its own (history
    # from another provider, a client's own calls): Gemini's documented validator bypass.
    missing_call_extra: Mapping[str, Any] | None = None
    # Whether a stream may end without any finish_reason (and even without [DONE]) and still
    # count as complete (Kimi does this).
    finish_reason_optional: bool = False
    # Header that carries the key: "authorization" (Bearer) or "api-key" (Azure).
    auth_header: str = "authorization"
    # `api-version` query parameter (Azure deployment URLs need one).
    api_version: str | None = None
    # Whether `response_format: json_schema` is understood; if not, json_object is sent and
    # the schema goes into a system message (DeepSeek).
    json_schema: bool = True
    # Whether structured output goes as JSON mode with the schema inside it,
    # `{type: json_object, schema}`: llama-cpp-python's server rejects the json_schema type
    # (HTTP 500, a validation error), llama.cpp's llama-server takes either.
    json_object_schema: bool = False
    # Always stream from the provider, also for non-streamed clients (DashScope refuses
    # non-streamed calls while thinking).
    stream_upstream: bool = False
    # Whether `logprobs` / `top_logprobs` may be sent when the client asks for them (Groq
    # answers 400 to both, Mistral 422): if not, the answer carries none.
    logprobs: bool = True

    def __post_init__(self) -> None:
        if self.reasoning_knob is not None and self.reasoning_knob not in KNOBS:
            raise ValueError(f"profile {self.name}: unknown reasoning_knob "
                             f"{self.reasoning_knob!r}")
        if self.forced_tools not in _FORCED_TOOLS:
            raise ValueError(f"profile {self.name}: unknown forced_tools {self.forced_tools!r}")
        if self.tool_id_format is not None and self.tool_id_format not in _TOOL_ID_FORMATS:
            raise ValueError(f"profile {self.name}: unknown tool_id_format "
                             f"{self.tool_id_format!r}")
        for name in ("thinking_extra", "thinking_budgets", "effort_map"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def takes_effort(self, model: str) -> bool:
        """Whether `reasoning.effort` is sent for this provider model."""
        return self.reasoning_knob is not None and (
            not self.effort_models or _matches(model, self.effort_models))

    def replays_reasoning(self, model: str) -> bool:
        """Whether earlier reasoning goes back to this provider model."""
        return self.reasoning_replay and not _matches(model, self.no_replay_models)


def _matches(model: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in patterns)
