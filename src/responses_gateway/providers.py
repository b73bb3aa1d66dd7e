"""Provider profiles: each upstream's quirks stated as data, not as code paths.

A profile says what a chat-completions provider accepts so the translator can shape the
request for it. Profiles are picked from the base URL, or named explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping
from urllib.parse import urlsplit

__all__ = ["DASHSCOPE_THINKING_BUDGET", "PROFILES", "Profile", "detect_profile", "get_profile"]


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
    # Whether a content array of only text parts must be sent as one string.
    text_parts_as_string: bool = False
    # JSON-schema keys the provider rejects inside response_format / tool parameters.
    strip_schema_keys: frozenset[str] = field(default_factory=frozenset)
    # Image detail values the provider accepts; others are mapped to the nearest one.
    image_details: frozenset[str] = frozenset({"low", "high", "auto"})
    # How `reasoning.effort` reaches the provider: "reasoning_effort", "enable_thinking"
    # (DashScope: a switch plus a token budget), "thinking" (DeepSeek: {"type": ...}) or None.
    reasoning_knob: str | None = None
    # Whether earlier turns' reasoning is sent back on assistant messages (thinking
    # providers require it on tool-call turns; others reject the unknown field).
    reasoning_replay: bool = False
    # The field it goes back under: `reasoning_content`, `reasoning`, `reasoning_text`,
    # `reasoning_details`, or "think" (a `<think>` block before the content). None: the
    # field the provider used for that turn (see translate/reasoning_fields.py).
    reasoning_field: str | None = None
    # Sent under that field on a tool-call assistant message that has no reasoning, for
    # providers that reject such messages outright.
    reasoning_placeholder: str | None = None
    # ... and on every assistant message when the request has tools (DeepSeek V4).
    reasoning_placeholder_all: bool = False
    # Whether `<think>...</think>` at the start of content is reasoning (servers without a
    # reasoning parser).
    think_tags: bool = False
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
    # Reasoning efforts the provider does not know -> the nearest one it does (None: omit).
    effort_map: Mapping[str, str | None] = field(default_factory=dict)
    # Always stream from the provider, also for non-streamed clients (DashScope refuses
    # non-streamed calls while thinking).
    stream_upstream: bool = False


_NO_SCHEMA_KEY = frozenset({"$schema"})
# Servers that know only low / medium / high.
_THREE_EFFORTS = MappingProxyType({"none": None, "minimal": "low", "xhigh": "high",
                                   "max": "high"})

PROFILES: Mapping[str, Profile] = MappingProxyType({
    "openai": Profile(
        name="openai",
        developer_role=True,
        max_tokens_field="max_completion_tokens",
        prompt_cache_key=True,
        verbosity=True,
        reasoning_knob="reasoning_effort",
    ),
    "azure": Profile(
        name="azure",
        developer_role=True,
        max_tokens_field="max_completion_tokens",
        reasoning_knob="reasoning_effort",
        auth_header="api-key",
        api_version="2024-10-21",
    ),
    "dashscope": Profile(
        name="dashscope",
        strip_schema_keys=_NO_SCHEMA_KEY,
        reasoning_knob="enable_thinking",
        reasoning_replay=True,
        reasoning_field="reasoning_content",
        stream_upstream=True,
    ),
    "deepseek": Profile(
        name="deepseek",
        text_parts_as_string=True,
        strip_schema_keys=_NO_SCHEMA_KEY,
        reasoning_knob="thinking",
        reasoning_replay=True,
        reasoning_field="reasoning_content",
        reasoning_placeholder="(reasoning omitted)",
        json_schema=False,
    ),
    "moonshot": Profile(
        name="moonshot",
        strip_schema_keys=_NO_SCHEMA_KEY,
        reasoning_replay=True,
        reasoning_field="reasoning_content",
        reasoning_placeholder="(reasoning omitted)",
        finish_reason_optional=True,
    ),
    "vllm": Profile(name="vllm", reasoning_knob="reasoning_effort", think_tags=True,
                    effort_map=_THREE_EFFORTS),
    "ollama": Profile(
        name="ollama",
        strip_schema_keys=_NO_SCHEMA_KEY,
        reasoning_knob="reasoning_effort",
        think_tags=True,
        effort_map=_THREE_EFFORTS,
    ),
    # Conservative: nothing beyond the common fields, no reasoning sent back.
    "generic": Profile(name="generic"),
    # The default for unrecognised base URLs: reasoning is read from every field and sent
    # back under the one the provider used; effort is forwarded; whatever the provider
    # rejects is learned (lessons.py).
    "adaptive": Profile(
        name="adaptive",
        reasoning_knob="reasoning_effort",
        effort_map=_THREE_EFFORTS,
        reasoning_replay=True,
        reasoning_placeholder="",
        reasoning_placeholder_all=True,
        think_tags=True,
    ),
})

# DashScope's thinking budget (tokens) for each reasoning effort; other efforts leave the
# model's default budget.
DASHSCOPE_THINKING_BUDGET: Mapping[str, int] = MappingProxyType({
    "minimal": 1024, "low": 4096, "medium": 16384, "high": 32768,
})

# Host fragments that identify a provider (checked in order).
_HOST_HINTS = (
    ("openai.azure.com", "azure"),
    ("cognitiveservices.azure.com", "azure"),
    ("services.ai.azure.com", "azure"),
    ("api.openai.com", "openai"),
    ("dashscope", "dashscope"),
    ("aliyuncs.com", "dashscope"),
    ("deepseek", "deepseek"),
    ("moonshot", "moonshot"),
    ("kimi", "moonshot"),
)


def get_profile(name: str) -> Profile:
    """The named profile; raises ValueError listing the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown provider profile {name!r}; known: "
                         f"{', '.join(PROFILES)}") from None


def detect_profile(base_url: str) -> Profile:
    """Guess the profile from a base URL; `adaptive` when nothing matches."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    for hint, name in _HOST_HINTS:
        if hint in host:
            return PROFILES[name]
    if parts.port == 11434 or "ollama" in host:
        return PROFILES["ollama"]
    return PROFILES["adaptive"]
