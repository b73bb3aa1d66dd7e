"""providers.py: provider profiles as data, and picking one from a base URL."""

from __future__ import annotations

import dataclasses

import pytest

from responses_gateway.providers import PROFILES, Profile, detect_profile, get_profile


@pytest.mark.parametrize(
    ("base_url", "name"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://my-resource.openai.azure.com/openai/v1", "azure"),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "dashscope"),
        ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "dashscope"),
        ("https://api.deepseek.com", "deepseek"),
        ("https://api.moonshot.cn/v1", "moonshot"),
        ("https://api.kimi.com/coding/v1", "moonshot"),
        ("http://localhost:11434/v1", "ollama"),
        ("http://ollama.internal:8080/v1", "ollama"),
        ("http://127.0.0.1:8000/v1", "adaptive"),
        ("https://API.DEEPSEEK.COM/v1", "deepseek"),
        ("not a url", "adaptive"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://api.groq.com/openai/v1", "groq"),
        ("https://api.together.xyz/v1", "together"),
        ("https://api.fireworks.ai/inference/v1", "fireworks"),
        ("https://api.mistral.ai/v1", "mistral"),
        ("https://generativelanguage.googleapis.com/v1beta/openai", "gemini"),
        ("https://api.x.ai/v1", "xai"),
        ("https://max.ai/v1", "adaptive"),  # x.ai is a domain, not a fragment
        ("https://open.bigmodel.cn/api/paas/v4", "zhipu"),
        ("https://api.z.ai/api/paas/v4", "zhipu"),
        ("https://api.minimax.io/v1", "minimax"),
        ("https://api.minimaxi.com/v1", "minimax"),
        ("https://ark.cn-beijing.volces.com/api/v3", "ark"),
        ("https://ark.ap-southeast.bytepluses.com/api/v3", "ark"),
        ("https://api.siliconflow.cn/v1", "siliconflow"),
        ("https://api.anthropic.com/v1", "anthropic"),
        ("http://localhost:1234/v1", "lmstudio"),
        ("http://127.0.0.1:30000/v1", "adaptive"),  # SGLang, llama.cpp, TGI: name them
    ],
)
def test_detect_profile_from_base_url(base_url: str, name: str) -> None:
    assert detect_profile(base_url).name == name


def test_hint_in_the_path_does_not_count() -> None:
    assert detect_profile("http://localhost:9000/deepseek/v1").name == "adaptive"


def test_get_profile_by_name() -> None:
    assert get_profile("vllm") is PROFILES["vllm"]


def test_get_profile_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: openai, azure"):
        get_profile("nope")


def test_every_profile_is_registered_under_its_own_name() -> None:
    assert all(key == profile.name for key, profile in PROFILES.items())
    assert "generic" in PROFILES


def test_profiles_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        PROFILES["mine"] = Profile(name="mine")  # type: ignore[index]


def test_profiles_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["generic"].developer_role = True  # type: ignore[misc]


def test_generic_profile_is_the_conservative_default() -> None:
    generic = PROFILES["generic"]
    assert not generic.developer_role
    assert generic.max_tokens_field == "max_tokens"
    assert not (generic.prompt_cache_key or generic.verbosity)
    assert generic.reasoning_knob is None


def test_openai_profile_uses_new_fields() -> None:
    openai = PROFILES["openai"]
    assert openai.developer_role
    assert openai.max_tokens_field == "max_completion_tokens"
    assert openai.prompt_cache_key
    assert openai.reasoning_knob == "reasoning_effort"


def test_profiles_that_reject_dollar_schema_strip_it() -> None:
    strip = {name for name, p in PROFILES.items() if "$schema" in p.strip_schema_keys}
    assert strip == {"dashscope", "deepseek", "moonshot", "ollama", "gemini"}


def test_every_hint_names_a_profile() -> None:
    from responses_gateway.providers.table import DOMAIN_HINTS, HOST_HINTS
    assert {name for _, name in (*HOST_HINTS, *DOMAIN_HINTS)} <= set(PROFILES)


def test_a_profile_with_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="reasoning_knob"):
        Profile(name="x", reasoning_knob="think_harder")
    with pytest.raises(ValueError, match="forced_tools"):
        Profile(name="x", forced_tools="maybe")
    with pytest.raises(ValueError, match="tool_id_format"):
        Profile(name="x", tool_id_format="uuid")


def test_effort_and_replay_follow_the_model_patterns() -> None:
    xai, deepseek = PROFILES["xai"], PROFILES["deepseek"]
    assert xai.takes_effort("grok-3-mini") and xai.takes_effort("grok-4.3-fast")
    assert not xai.takes_effort("grok-4") and not xai.takes_effort("grok-code-fast-1")
    assert deepseek.replays_reasoning("deepseek-v4-pro")
    assert not deepseek.replays_reasoning("deepseek-reasoner")
    assert not PROFILES["generic"].takes_effort("anything")
