"""Every provider profile, as data, and the host names that identify a provider.

Sources for each setting are in ../shared/spec/providers.md (the per-provider reference) and
docs/providers.md; a setting here is "last seen", so the adaptive fallback stays on as well.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from .profile import Profile

__all__ = ["DASHSCOPE_THINKING_BUDGET", "DOMAIN_HINTS", "HOST_HINTS", "PROFILES"]

_NO_SCHEMA_KEY = frozenset({"$schema"})
# Servers that know only low / medium / high.
_THREE_EFFORTS = MappingProxyType({"none": None, "minimal": "low", "xhigh": "high",
                                   "max": "high"})
# Servers that also know "none" (it switches thinking off).
_FOUR_EFFORTS = MappingProxyType({"minimal": "low", "xhigh": "high", "max": "high"})
# Token budgets per effort (DashScope: thinking_budget; SiliconFlow: 128-32768; Anthropic).
DASHSCOPE_THINKING_BUDGET: Mapping[str, int] = MappingProxyType({
    "minimal": 1024, "low": 4096, "medium": 16384, "high": 32768,
})
_ANTHROPIC_BUDGETS = MappingProxyType({"minimal": 1024, "low": 2048, "medium": 8192,
                                       "high": 16384, "xhigh": 32000, "max": 32000})

PROFILES: Mapping[str, Profile] = MappingProxyType({profile.name: profile for profile in (
    Profile(name="openai", developer_role=True, max_tokens_field="max_completion_tokens",
            prompt_cache_key=True, verbosity=True, reasoning_knob="reasoning_effort"),
    Profile(name="azure", developer_role=True, max_tokens_field="max_completion_tokens",
            reasoning_knob="reasoning_effort", auth_header="api-key", api_version="2024-10-21"),
    Profile(name="dashscope", strip_schema_keys=_NO_SCHEMA_KEY, reasoning_knob="enable_thinking",
            thinking_budgets=DASHSCOPE_THINKING_BUDGET, reasoning_replay=True,
            forced_tools="without_thinking", stream_upstream=True),
    # V4 thinking mode wants reasoning_content on every assistant turn once tools are sent;
    # R1 (the legacy deepseek-reasoner) refuses it anywhere.
    Profile(name="deepseek", text_parts_as_string=True, strip_schema_keys=_NO_SCHEMA_KEY,
            reasoning_knob="thinking", reasoning_replay=True, reasoning_placeholder_all=True,
            reasoning_placeholder="", no_replay_models=("deepseek-reasoner",),
            forced_tools="without_thinking", thinks_by_default=True, json_schema=False),
    Profile(name="moonshot", max_tokens_field="max_completion_tokens",
            strip_schema_keys=_NO_SCHEMA_KEY, reasoning_knob="thinking", reasoning_replay=True,
            reasoning_placeholder="(reasoning omitted)", forced_tools="without_thinking",
            thinks_by_default=True, finish_reason_optional=True),
    # vLLM reads `reasoning` back since v0.11 and sends `reasoning_content` before it (and
    # `<think>` without a reasoning parser): whatever the server sent goes back that way.
    Profile(name="vllm", reasoning_knob="reasoning_effort", think_tags=True,
            effort_map=_THREE_EFFORTS, reasoning_replay=True, reasoning_field=None),
    Profile(name="ollama", strip_schema_keys=_NO_SCHEMA_KEY, reasoning_knob="reasoning_effort",
            think_tags=True, effort_map=_THREE_EFFORTS),
    # `reasoning_details` back unchanged (Anthropic, Gemini and MiniMax routes need it).
    Profile(name="openrouter", reasoning_knob="reasoning", reasoning_replay=True,
            reasoning_field=None),
    # reasoning_format "raw" (Qwen's default there) leaves `<think>` in the content.
    Profile(name="groq", reasoning_knob="reasoning_effort", effort_map=_THREE_EFFORTS,
            think_tags=True, logprobs=False),
    # `reasoning` out on most models; Kimi and GLM served there want it back.
    Profile(name="together", reasoning_knob="reasoning_effort", effort_map=_THREE_EFFORTS,
            reasoning_replay=True, reasoning_field=None),
    Profile(name="fireworks", reasoning_knob="reasoning_effort", effort_map=_FOUR_EFFORTS,
            reasoning_replay=True),
    # 422 for any field outside its schema; tool ids [A-Za-z0-9]{9}; no user after tool.
    Profile(name="mistral", stream_options=False, user_field=False,
            reasoning_knob="reasoning_effort", effort_map=_FOUR_EFFORTS,
            tool_id_format="alnum9", assistant_after_tool=True, logprobs=False),
    Profile(name="gemini", user_field=False, strip_schema_keys=_NO_SCHEMA_KEY,
            reasoning_knob="reasoning_effort", effort_map={"xhigh": "high", "max": "high"},
            tool_call_extras=True, missing_call_extra={"google": {
                "thought_signature": "skip_thought_signature_validator"}}),
    # grok-4 / 4.20 / code-fast reject reasoning_effort; grok-3-mini and grok-4.3 take it.
    Profile(name="xai", reasoning_knob="reasoning_effort", effort_map=_FOUR_EFFORTS,
            effort_models=("grok-3-mini*", "grok-4.3*")),
    Profile(name="zhipu", stream_options=False, tool_strict=False, user_field=False,
            reasoning_knob="thinking", thinking_extra={"clear_thinking": False},
            reasoning_replay=True, forced_tools="no"),
    # M2 always thinks, inline (`<think>`, or `reasoning_details` with reasoning_split), and
    # wants that text back as it was.
    Profile(name="minimax", max_tokens_field="max_completion_tokens", think_tags=True,
            reasoning_replay=True, reasoning_field=None),
    Profile(name="ark", reasoning_knob="thinking", reasoning_replay=True),
    Profile(name="siliconflow", reasoning_knob="enable_thinking",
            thinking_budgets=DASHSCOPE_THINKING_BUDGET, reasoning_replay=True),
    # Anthropic's compatibility layer ignores reasoning_effort and response_format.
    Profile(name="anthropic", tool_strict=False, user_field=False,
            reasoning_knob="thinking_budget", thinking_budgets=_ANTHROPIC_BUDGETS,
            json_schema=False),
    Profile(name="sglang", reasoning_knob="reasoning_effort", effort_map=_THREE_EFFORTS,
            reasoning_replay=True),
    Profile(name="llamacpp", think_tags=True, reasoning_replay=True, json_object_schema=True),
    Profile(name="lmstudio", reasoning_knob="reasoning_effort", effort_map=_THREE_EFFORTS),
    Profile(name="tgi", think_tags=True),
    # Conservative: nothing beyond the common fields, no reasoning sent back, no effort.
    Profile(name="generic"),
    # The default for base URLs not recognised: reasoning read from every field and sent
    # back under the one the provider used; effort forwarded; what the provider rejects is
    # learned (lessons.py).
    Profile(name="adaptive", reasoning_knob="reasoning_effort", effort_map=_THREE_EFFORTS,
            reasoning_replay=True, reasoning_field=None, reasoning_placeholder="",
            reasoning_placeholder_all=True, think_tags=True),
)})

# Host fragments that identify a provider (checked in order; substring of the host name).
HOST_HINTS = (
    ("openai.azure.com", "azure"),
    ("cognitiveservices.azure.com", "azure"),
    ("services.ai.azure.com", "azure"),
    ("api.openai.com", "openai"),
    ("dashscope", "dashscope"),
    ("aliyuncs.com", "dashscope"),
    ("deepseek", "deepseek"),
    ("moonshot", "moonshot"),
    ("kimi", "moonshot"),
    ("openrouter.ai", "openrouter"),
    ("api.groq.com", "groq"),
    ("together.xyz", "together"),
    ("together.ai", "together"),
    ("fireworks.ai", "fireworks"),
    ("api.mistral.ai", "mistral"),
    ("generativelanguage.googleapis.com", "gemini"),
    ("bigmodel.cn", "zhipu"),
    ("minimax", "minimax"),
    ("volces.com", "ark"),
    ("bytepluses.com", "ark"),
    ("siliconflow", "siliconflow"),
    ("api.anthropic.com", "anthropic"),
)
# Short domains: the host is the domain or one of its subdomains (`x.ai` is in `max.ai`).
DOMAIN_HINTS = (
    ("x.ai", "xai"),
    ("z.ai", "zhipu"),
)
