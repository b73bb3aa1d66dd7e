"""lessons.py: what each upstream has taught the gateway.

Every error text in ../shared/spec/providers.md is here, exactly as quoted there (plus the
shapes the mock presets send), with the fix it must lead to, or None where no change to the
request can help (the gateway then passes the error on without a retry).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from responses_gateway.lessons import Fix, Lessons, apply, diagnose, profile_for, short_id
from responses_gateway.protocol.errors import UpstreamStatus
from responses_gateway.providers import PROFILES

CALL = {"id": "call_abc", "type": "function", "function": {"name": "f", "arguments": "{}"}}
BODY: dict[str, Any] = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi", "name": "alice"},
        {"role": "assistant", "content": None, "tool_calls": [CALL],
         "reasoning_content": "thought"},
        {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"},
        {"role": "user", "content": "thanks"},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "strict": True, "parameters": {
        "type": "object", "additionalProperties": False, "properties": {}}}}],
    "tool_choice": "required",
    "stream": True,
    "stream_options": {"include_usage": True},
    "max_tokens": 100,
    "reasoning_effort": "high",
    "temperature": 0.2,
    "parallel_tool_calls": True,
    "enable_thinking": True,
    "thinking": {"type": "enabled"},
}

RC_ADD = Fix("add", "reasoning_content", "messages")
RC_DROP = Fix("drop", "reasoning_content", "messages")
MISTRAL_422 = orjson.dumps({"detail": [{"type": "extra_forbidden", "loc": [
    "body", "messages", 2, "assistant", "reasoning_content"],
    "msg": "Extra inputs are not permitted", "input": "thought"}]}).decode()

# (source in providers.md, status, error message, param) -> the fix
CASES: list[tuple[str, int, str, str | None, Fix | None]] = [
    ("§1 OpenAI/§3 max_tokens", 400, "Unsupported parameter: 'max_tokens' is not supported "
     "with this model. Use 'max_completion_tokens' instead.", "max_tokens",
     Fix("rename", "max_tokens", to="max_completion_tokens")),
    ("§3 OpenAI reasoning models, temperature", 400, "Unsupported parameter: 'temperature' is "
     "not supported with this model.", "temperature", Fix("drop", "temperature")),
    ("§3 Azure stream_options", 400, "Unrecognized request argument supplied: stream_options",
     None, Fix("drop", "stream_options")),
    ("§3 Azure parallel_tool_calls", 400, "Unrecognized request argument supplied: "
     "parallel_tool_calls", None, Fix("drop", "parallel_tool_calls")),
    ("§3 DashScope non-streaming", 400, "parameter.enable_thinking must be set to false for "
     "non-streaming calls", None, Fix("rewrite", "stream")),
    ("§3 DashScope forced tools", 400, "The tool_choice parameter does not support being set to "
     "required or object in thinking mode", None, Fix("rewrite", "tool_choice")),
    ("§3 DashScope effort + budget", 400, "reasoning_effort and thinking_budget cannot be set "
     "simultaneously", None, Fix("drop", "reasoning_effort")),
    ("§3 DeepSeek json_schema 2025", 422, "Failed to deserialize the JSON body into the target "
     "type: response_format: `json_schema` is unavailable now", None,
     Fix("rewrite", "json_schema")),
    ("§3 DeepSeek json_schema 2026", 400, "This response_format type is unavailable now", None,
     Fix("rewrite", "json_schema")),
    ("§3 DeepSeek 422 text parts", 422, "Failed to deserialize the JSON body into the target "
     "type: messages[1]: invalid type: sequence, expected a string at line 1 column 99", None,
     Fix("rewrite", "text_parts", "messages")),
    ("§3 DeepSeek 422 unknown field", 422, "Failed to deserialize the JSON body into the target "
     "type: unknown field `parallel_tool_calls`, expected one of `model`, `messages`", None,
     Fix("drop", "parallel_tool_calls")),
    ("§3 Kimi forced tools", 400, "tool_choice 'required' is incompatible with thinking "
     "enabled", None, Fix("rewrite", "tool_choice")),
    ("§3 GLM 1214", 400, "messages 参数非法", None, None),
    ("§3 SiliconFlow 20015", 400, "current model does not support parameter `enable_thinking`.",
     None, Fix("drop", "enable_thinking")),
    ("§3 Groq property", 400, "'messages.1' : for 'role:user' the following must be "
     "satisfied[('messages.1' : property 'name' is unsupported)]", None,
     Fix("drop", "name", "messages")),
    ("§3 Mistral 422 stream_options", 422, orjson.dumps({"detail": [{
        "type": "extra_forbidden", "loc": ["body", "stream_options"],
        "msg": "Extra inputs are not permitted"}]}).decode(), None,
     Fix("drop", "stream_options")),
    ("§3 Mistral 422 max_completion_tokens", 422, "{'detail': [{'type': 'extra_forbidden', "
     "'loc': ['body', 'max_completion_tokens'], 'msg': 'Extra inputs are not permitted'}]}",
     None, None),  # not in BODY; see test_mistral_rejecting_max_completion_tokens_renames_it
    ("§3 Gemini unknown field", 400, 'Invalid JSON payload received. Unknown name "temperature":'
     " Cannot find field.", None, Fix("drop", "temperature")),
    ("§3 Gemini schema keyword", 400, 'Invalid JSON payload received. Unknown name '
     '"additionalProperties" at \'tools[0].function.parameters\': Cannot find field.', None,
     Fix("drop", "additionalProperties", "schema")),
    ("§3 xAI grok-4 effort", 400, "Model grok-4 does not support parameter reasoningEffort.",
     None, Fix("drop", "reasoning_effort")),
    ("§3 Ollama arguments", 400, "invalid tool call arguments", None,
     Fix("rewrite", "tool_arguments", "messages")),
    ("§1 Ark thinking type", 400, "Unsupported thinking type", None, Fix("drop", "thinking")),
    ("§2 DeepSeek V4", 400, "The `reasoning_content` in the thinking mode must be passed back "
     "to the API.", None, RC_ADD),
    ("§2 DeepSeek V3.2", 400, "Missing `reasoning_content` field in the assistant message at "
     "message index 2", None, RC_ADD),
    ("§2 DeepSeek R1", 400, "The reasoning_content is an intermediate result for display "
     "purposes only and will not be included in the context for inference. Please remove the "
     "reasoning_content from your message to reduce network traffic.", None, RC_DROP),
    ("§2 Kimi", 400, "thinking is enabled but reasoning_content is missing in assistant tool "
     "call message at index 2", None, RC_ADD),
    ("§2 Gemini signature", 400, "Function call is missing a thought_signature in functionCall "
     "parts. This is required for tools to work correctly, and missing thought_signature may "
     "lead to degraded model performance.", None, None),
    ("§2 Groq reasoning_content", 400, "'messages.2' : for 'role:assistant' the following must "
     "be satisfied[('messages.2' : property 'reasoning_content' is unsupported)]", None,
     RC_DROP),
    ("§2 Mistral 422 reasoning_content", 422, MISTRAL_422, None, RC_DROP),
    ("§4 Mistral tool id", 400, "Tool call id was call_abc but must be a-z, A-Z, 0-9, with a "
     "length of 9.", None, Fix("rewrite", "tool_ids", "messages")),
    ("§4 Mistral user after tool", 400, "Unexpected role 'user' after role 'tool'", None,
     Fix("rewrite", "user_after_tool", "messages")),
    ("§5 developer role", 400, "Invalid value: 'developer'. Supported values are: system, user, "
     "assistant, tool.", "messages[0].role", Fix("rewrite", "developer", "messages")),
    ("OpenAI unknown nested parameter", 400, "Unknown parameter: 'messages[2].reasoning_content'.",
     "messages[2].reasoning_content", RC_DROP),
    ("JSON-schema style", 400, "Additional properties are not allowed ('reasoning_content' was "
     "unexpected) - 'messages[2]'.", None, RC_DROP),
    ("a field named by param only", 400, "This field is not supported.", "seed", None),
    ("tool strict named by param", 400, "Extra inputs are not permitted", "strict",
     Fix("drop", "strict", "tools")),
]


@pytest.mark.parametrize(("status", "message", "param", "fix"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_documented_error_text_gives_its_fix(status: int, message: str,
                                                  param: str | None, fix: Fix | None) -> None:
    assert diagnose(status, message, param, BODY) == fix


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 502, 503])
def test_only_400_and_422_are_read(status: int) -> None:
    assert diagnose(status, "Unrecognized request argument supplied: stream_options", None,
                    BODY) is None


def test_fields_that_carry_the_conversation_are_never_dropped() -> None:
    for name in ("messages", "model", "tools", "content", "tool_calls", "stream"):
        assert diagnose(400, f"Unrecognized request argument supplied: {name}", None,
                        BODY) is None, name
    # A tool's name is never a field to drop, even when a message has none.
    assert diagnose(400, "property 'name' is unsupported", None,
                    {**BODY, "messages": [{"role": "user", "content": "x"}]}) is None


def test_mistral_rejecting_max_completion_tokens_renames_it() -> None:
    body = {**BODY, "max_completion_tokens": 5}
    del body["max_tokens"]
    fix = diagnose(422, "{'detail': [{'type': 'extra_forbidden', 'loc': ['body', "
                   "'max_completion_tokens'], 'msg': 'Extra inputs are not permitted'}]}",
                   None, body)
    assert fix == Fix("rename", "max_completion_tokens", to="max_tokens")
    assert apply(body, frozenset({fix}))["max_tokens"] == 5


def test_drops_renames_and_rewrites_change_a_copy() -> None:
    fixes = frozenset({
        Fix("drop", "stream_options"), Fix("drop", "name", "messages"),
        Fix("drop", "strict", "tools"), Fix("drop", "additionalProperties", "schema"),
        Fix("rename", "max_tokens", to="max_completion_tokens"),
        Fix("rewrite", "tool_choice"), Fix("rewrite", "user_after_tool", "messages"),
        Fix("rewrite", "tool_ids", "messages"),
    })
    before = orjson.dumps(BODY)
    fixed = apply(BODY, fixes)
    assert orjson.dumps(BODY) == before
    assert "stream_options" not in fixed and fixed["max_completion_tokens"] == 100
    assert "max_tokens" not in fixed and fixed["tool_choice"] == "auto"
    assert all("name" not in m for m in fixed["messages"])
    function = fixed["tools"][0]["function"]
    assert "strict" not in function and "additionalProperties" not in function["parameters"]
    roles = [m["role"] for m in fixed["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    new_id = fixed["messages"][2]["tool_calls"][0]["id"]
    assert len(new_id) == 9 and new_id.isalnum() and new_id == short_id("call_abc")
    assert fixed["messages"][3]["tool_call_id"] == new_id


def test_short_ids_are_stable_and_keep_ids_that_fit() -> None:
    assert short_id("abcDEF123") == "abcDEF123"
    assert short_id("call_1") == short_id("call_1") != short_id("call_2")


def test_other_rewrites() -> None:
    body = {"model": "m", "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "a"},
                                          {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {**CALL, "function": {"name": "f", "arguments": "not json"}}]}]}
    fixed = apply(body, frozenset({Fix("rewrite", "developer", "messages"),
                                   Fix("rewrite", "text_parts", "messages"),
                                   Fix("rewrite", "tool_arguments", "messages")}))
    assert fixed["messages"][0] == {"role": "system", "content": "a\nb"}
    arguments = fixed["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert orjson.loads(arguments) == {"input": "not json"}


def test_fixes_the_translator_makes_go_into_the_profile() -> None:
    generic = PROFILES["generic"]
    profile = profile_for(generic, frozenset({RC_ADD, Fix("rewrite", "json_schema"),
                                              Fix("rewrite", "stream")}))
    assert profile.reasoning_replay and profile.reasoning_field == "reasoning_content"
    assert profile.reasoning_placeholder == "" and profile.reasoning_placeholder_all
    assert not profile.json_schema and profile.stream_upstream
    assert profile_for(generic, frozenset({Fix("drop", "stream_options")})) is generic


def _error(message: str, status: int = 400) -> UpstreamStatus:
    return UpstreamStatus(message, status=status)


def test_a_fix_is_learned_once_per_upstream_and_model_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    lessons = Lessons()
    heard: list[tuple[str, str, str, str]] = []
    lessons.listeners.append(lambda *event: heard.append(event))
    error = _error("Unrecognized request argument supplied: stream_options")
    with caplog.at_level("WARNING", logger="responses_gateway.lessons"):
        for _ in range(3):
            assert lessons.relearn("u", "m", error, BODY) == Fix("drop", "stream_options")
    assert lessons.fixes("u", "m") == {Fix("drop", "stream_options")}
    assert lessons.fixes("u", "other") == frozenset() == lessons.fixes("v", "m")
    assert len([r for r in caplog.records if "stream_options" in r.getMessage()]) == 1
    assert lessons.stats["learned"] == 1
    assert heard == [("learned", "u", "m", "drop 'stream_options'")]
    assert lessons.relearn("u", "m", _error("quota", 429), BODY) is None


def test_a_later_opposite_lesson_replaces_the_earlier_one() -> None:
    lessons = Lessons()
    lessons.learn("u", "m", RC_ADD, "missing")
    lessons.learn("u", "m", RC_DROP, "remove it")
    assert lessons.fixes("u", "m") == {RC_DROP}


def test_the_reasoning_field_is_remembered_per_upstream_and_model() -> None:
    lessons = Lessons()
    assert lessons.reasoning_seen("u", "m") is None
    lessons.saw_reasoning("u", "m", "reasoning")
    lessons.saw_reasoning("u", "other", "reasoning_content")
    lessons.saw_reasoning("u", "m", None)  # a turn without reasoning teaches nothing
    lessons.saw_reasoning("u", "m", "bogus")
    assert lessons.reasoning_seen("u", "m") == "reasoning"
    assert lessons.reasoning_seen("u", "other") == "reasoning_content"
    assert lessons.reasoning_seen("v", "m") is None
    lessons.saw_reasoning("u", "m", "reasoning_details")  # a redeployed upstream changed
    assert lessons.reasoning_seen("u", "m") == "reasoning_details"
