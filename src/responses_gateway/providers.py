"""Provider profiles: each upstream's quirks stated as data, not as code paths.

A profile says what a chat-completions provider accepts so the translator can shape the
request for it. Profiles are picked from the base URL, or named explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping
from urllib.parse import urlsplit

__all__ = ["PROFILES", "Profile", "detect_profile", "get_profile"]


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
    # Whether `prompt_cache_key`, `verbosity` and `reasoning_effort` are accepted.
    prompt_cache_key: bool = False
    verbosity: bool = False
    reasoning_effort: bool = False
    # Whether `strict` may be sent inside function tool definitions.
    tool_strict: bool = True
    # Whether a content array of only text parts must be sent as one string.
    text_parts_as_string: bool = False
    # JSON-schema keys the provider rejects inside response_format / tool parameters.
    strip_schema_keys: frozenset[str] = field(default_factory=frozenset)
    # Image detail values the provider accepts; others are mapped to the nearest one.
    image_details: frozenset[str] = frozenset({"low", "high", "auto"})


PROFILES: Mapping[str, Profile] = MappingProxyType({
    "openai": Profile(
        name="openai",
        developer_role=True,
        max_tokens_field="max_completion_tokens",
        prompt_cache_key=True,
        verbosity=True,
        reasoning_effort=True,
    ),
    "azure": Profile(
        name="azure",
        developer_role=True,
        max_tokens_field="max_completion_tokens",
        reasoning_effort=True,
    ),
    "dashscope": Profile(name="dashscope", strip_schema_keys=frozenset({"$schema"})),
    "deepseek": Profile(
        name="deepseek",
        text_parts_as_string=True,
        strip_schema_keys=frozenset({"$schema"}),
    ),
    "moonshot": Profile(name="moonshot", strip_schema_keys=frozenset({"$schema"})),
    "vllm": Profile(name="vllm", reasoning_effort=True),
    "ollama": Profile(name="ollama", strip_schema_keys=frozenset({"$schema"})),
    "generic": Profile(name="generic"),
})

# Host fragments that identify a provider (checked in order).
_HOST_HINTS = (
    ("openai.azure.com", "azure"),
    ("azure", "azure"),
    ("api.openai.com", "openai"),
    ("dashscope", "dashscope"),
    ("aliyuncs.com", "dashscope"),
    ("deepseek", "deepseek"),
    ("moonshot", "moonshot"),
    ("kimi", "moonshot"),
)


def get_profile(name: str) -> Profile:
    """The named profile; raises KeyError listing the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown provider profile {name!r}; known: {', '.join(PROFILES)}") from None


def detect_profile(base_url: str) -> Profile:
    """Guess the profile from a base URL; `generic` when nothing matches."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    for hint, name in _HOST_HINTS:
        if hint in host:
            return PROFILES[name]
    if parts.port == 11434 or "ollama" in host:
        return PROFILES["ollama"]
    return PROFILES["generic"]
