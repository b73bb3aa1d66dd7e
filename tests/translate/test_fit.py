"""translate/fit.py: each profile's rules applied to a chat request (tool ids, message order,
tool-call extras, reasoning placeholders, effort knobs, forced tools), and the stream's
reading of provider shapes those profiles bring (TGI's objects, Gemini's signatures)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any, Iterator

import orjson
import pytest

from responses_gateway.protocol.requests import parse_create_request
from responses_gateway.providers import PROFILES
from responses_gateway.translate.fit import (
    fit_messages,
    fit_tool_choice,
    reasoning_knob,
    short_tool_id,
)
from responses_gateway.translate.history import to_assistant_message
from responses_gateway.translate.reasoning_fields import Reasoning
from responses_gateway.translate.response import new_response
from responses_gateway.translate.stream import ResponseStream
from responses_gateway.translate.to_chat import to_chat_request

CALL = {"id": "call_abc_123", "type": "function",
        "function": {"name": "f", "arguments": "{}"},
        "extra_content": {"google": {"thought_signature": "sig"}}}
HISTORY = [
    {"role": "user", "content": "go"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_abc_123", "content": "ok"},
    {"role": "user", "content": "more"},
]


def test_short_tool_ids_are_nine_alphanumerics_stable_and_leave_valid_ids_alone() -> None:
    short = short_tool_id("call_abc_123")
    assert len(short) == 9 and short.isalnum() and short == short_tool_id("call_abc_123")
    assert short != short_tool_id("call_abc_124")
    assert short_tool_id("Ab3dE6gH9") == "Ab3dE6gH9"


def test_mistral_ids_both_places_an_assistant_after_tools_and_no_extras() -> None:
    fitted = fit_messages(HISTORY, PROFILES["mistral"], thinking=None)
    assert [m["role"] for m in fitted] == ["user", "assistant", "tool", "assistant", "user"]
    call = fitted[1]["tool_calls"][0]
    assert call["id"] == fitted[2]["tool_call_id"] == short_tool_id("call_abc_123")
    assert "extra_content" not in call
    assert HISTORY[1]["tool_calls"][0] is CALL and CALL["id"] == "call_abc_123"  # untouched


def test_gemini_keeps_extras_and_bypasses_the_validator_for_calls_without() -> None:
    kept = fit_messages(HISTORY, PROFILES["gemini"], thinking=None)
    assert kept[1]["tool_calls"][0] == CALL
    bare = [HISTORY[0], {**HISTORY[1], "tool_calls": [
        {k: v for k, v in CALL.items() if k != "extra_content"}, {**CALL, "id": "b"}]}]
    calls = fit_messages(bare, PROFILES["gemini"], thinking=None)[1]["tool_calls"]
    assert calls[0]["extra_content"] == {"google": {
        "thought_signature": "skip_thought_signature_validator"}}
    assert calls[1]["extra_content"] == CALL["extra_content"]  # only the first needs one


@pytest.mark.parametrize("profile", ["generic", "groq", "deepseek", "dashscope"])
def test_other_profiles_never_send_extras(profile: str) -> None:
    fitted = fit_messages(HISTORY, PROFILES[profile], thinking=None)
    assert "extra_content" not in fitted[1]["tool_calls"][0]


def test_deepseek_v4_reasoning_on_every_assistant_turn_with_tools_only() -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    deepseek = PROFILES["deepseek"]
    with_tools = fit_messages(messages, deepseek, thinking=None, model="deepseek-v4-pro",
                              tools=True)
    assert with_tools[1]["reasoning_content"] == ""
    assert "reasoning_content" not in fit_messages(messages, deepseek, thinking=None,
                                                   tools=False)[1]
    assert "reasoning_content" not in fit_messages(messages, deepseek, thinking=False,
                                                   tools=True)[1]
    legacy = [{**messages[1], "reasoning_content": "old"}]
    assert "reasoning_content" not in fit_messages(legacy, deepseek, thinking=None,
                                                   model="deepseek-reasoner", tools=True)[0]


@pytest.mark.parametrize(("profile", "thinking", "sent"), [
    ("deepseek", None, "auto"), ("deepseek", True, "auto"), ("deepseek", False, "required"),
    ("moonshot", None, "auto"), ("dashscope", None, "required"), ("dashscope", True, "auto"),
    ("zhipu", False, "auto"), ("openai", True, "required"),
])
def test_forced_tool_choice(profile: str, thinking: bool | None, sent: str) -> None:
    assert fit_tool_choice("required", PROFILES[profile], thinking) == sent
    assert fit_tool_choice("auto", PROFILES[profile], thinking) == "auto"


@pytest.mark.parametrize(("profile", "effort", "model", "body"), [
    ("zhipu", "high", "glm-5", {"thinking": {"type": "enabled", "clear_thinking": False}}),
    ("zhipu", "none", "glm-5", {"thinking": {"type": "disabled"}}),
    ("anthropic", "low", "claude", {"thinking": {"type": "enabled", "budget_tokens": 2048}}),
    ("anthropic", "none", "claude", {"thinking": {"type": "disabled"}}),
    ("openrouter", "medium", "x", {"reasoning": {"effort": "medium"}}),
    ("openrouter", "none", "x", {"reasoning": {"enabled": False}}),
    ("siliconflow", "minimal", "q", {"enable_thinking": True, "thinking_budget": 1024}),
    ("mistral", "xhigh", "mistral-small", {"reasoning_effort": "high"}),
    ("xai", "high", "grok-3-mini", {"reasoning_effort": "high"}),
    ("xai", "high", "grok-4", {}),
    ("minimax", "high", "MiniMax-M2", {}),
])
def test_reasoning_knobs(profile: str, effort: str, model: str, body: dict[str, Any]) -> None:
    sent: dict[str, Any] = {}
    reasoning_knob(effort, PROFILES[profile], sent, model)
    assert sent == body


def test_user_is_left_out_where_the_provider_rejects_it() -> None:
    request = parse_create_request(orjson.dumps({"model": "m", "input": "hi", "user": "u1"}))
    assert "user" not in to_chat_request(request, PROFILES["mistral"]).body
    assert to_chat_request(request, PROFILES["openai"]).body["user"] == "u1"


# -- reading the answer -------------------------------------------------------------------------


def _stream(profile: str, seal: Any = None) -> ResponseStream:
    request = parse_create_request(orjson.dumps({"model": "m", "input": "hi", "tools": [
        {"type": "function", "name": "f", "parameters": {"type": "object"}}]}))
    chat = to_chat_request(request, PROFILES[profile])
    counters: defaultdict[str, Iterator[int]] = defaultdict(itertools.count)
    response = new_response(request, response_id="resp_0", created_at=0,
                            tools_echo=chat.tools_echo)
    return ResponseStream(response, tool_map=chat.tool_map,
                          new_id=lambda prefix: f"{prefix}_{next(counters[prefix])}",
                          seal_reasoning=seal,
                          keep_call_extras=PROFILES[profile].tool_call_extras)


def _delta(**delta: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta}]}


def test_tool_calls_as_an_object_with_object_arguments_are_read() -> None:
    stream = _stream("tgi")
    stream.feed(_delta(tool_calls={"index": 0, "id": "c1", "type": "function",
                                   "function": {"name": "f", "arguments": {"a": 1}}}))
    stream.finish(completed_at=1)
    (call,) = stream.snapshot()["output"]
    assert call["type"] == "function_call" and orjson.loads(call["arguments"]) == {"a": 1}


def test_gemini_signature_is_sealed_in_a_reasoning_item_before_its_call() -> None:
    sealed: list[tuple[str, Any]] = []

    def seal(reasoning: Reasoning, extras: dict[str, Any] | None = None) -> str:
        sealed.append((reasoning.text, extras))
        return f"sealed{len(sealed)}"

    stream = _stream("gemini", seal)
    extra = {"google": {"thought_signature": "s1"}}
    stream.feed(_delta(tool_calls=[{"index": 0, "id": "c1", "type": "function",
                                    "extra_content": extra,
                                    "function": {"name": "f", "arguments": "{}"}}]))
    stream.finish(completed_at=1)
    reasoning, call = stream.snapshot()["output"]
    assert reasoning == {"id": "rs_0", "type": "reasoning", "status": "completed",
                         "summary": [], "encrypted_content": "sealed1"}
    assert sealed == [("", {"c1": extra})]
    assert call["call_id"] == "c1" and "extra_content" not in call
    message = to_assistant_message(stream.snapshot()["output"], _tool_map(), stream.call_extras)
    assert message is not None and message["tool_calls"][0]["extra_content"] == extra


def test_signatures_are_ignored_for_other_profiles() -> None:
    stream = _stream("generic", lambda text, extras=None: "x")
    stream.feed(_delta(tool_calls=[{"index": 0, "id": "c1", "type": "function",
                                    "extra_content": {"google": {}},
                                    "function": {"name": "f", "arguments": "{}"}}]))
    stream.finish(completed_at=1)
    assert [item["type"] for item in stream.snapshot()["output"]] == ["function_call"]
    assert stream.call_extras == {}


def _tool_map() -> Any:
    request = parse_create_request(orjson.dumps({"model": "m", "input": "hi"}))
    return to_chat_request(request, PROFILES["gemini"]).tool_map
