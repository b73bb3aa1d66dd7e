"""The mock provider as one particular provider: each named profile's rules, as quirks.

`PRESETS` maps every profile name to the mock quirks that make the mock behave like that
provider: what it rejects (with the provider's status and error text, from
../shared/spec/providers.md) and how it answers (which reasoning field, tool-call ids,
thought signatures). Choose one with `responses-gateway mock-provider --provider NAME`, or
put the name in front of the path: `http://127.0.0.1:9000/mistral/v1` acts like Mistral
whatever the flags (every preset at once, on one port).

Checks here are `check_rules` (the whole body, before the answer is planned); the answer is
shaped by `tool_call_id`, `shape_message` and `shape_deltas`. Where a provider does not
fail but silently loses something (MiniMax without its `<think>` text), the mock is stricter
than the provider and says so in its own words.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
from types import MappingProxyType
from typing import Any, Mapping

import orjson

from .mock_quirks import MockError, call_reasoning

__all__ = ["MODEL_ALIASES", "PRESETS", "RULE_QUIRKS", "check_rules", "shape_deltas",
           "shape_message", "thought_signature", "tool_call_id"]

RULE_QUIRKS = frozenset({
    "reasoning-field",      # reasoning comes as `reasoning`, not reasoning_content (Groq, vLLM)
    "reasoning-details",    # ... and as reasoning_details [{type: reasoning.text}] (OpenRouter)
    "hidden-reasoning",     # the model thinks but returns no reasoning (Anthropic, Gemini, grok-4)
    "thinking-parts",       # reasoning as {type: thinking} content parts (Mistral Magistral)
    "object-arguments",     # tool arguments as a JSON object; streamed calls as one object (TGI)
    "mistral-schema",       # 422 extra_forbidden for any field outside Mistral's schema
    "mistral-tool-ids",     # ids [A-Za-z0-9]{9} only (its own calls too); no user after tool
    "gemini-signatures",    # calls carry extra_content.google.thought_signature; needed back
    "gemini-fields",        # 400 "Invalid JSON payload received. Unknown name ..."
    "groq-fields",          # 400 for reasoning_content, name, logprobs, logit_bias, n != 1
    "xai-effort",           # grok-4 and friends: 400 for reasoning_effort
    "glm-messages",         # 1214 "messages 参数非法" for message fields GLM does not know
    "kimi-thinking",        # thinking {type}; reasoning_content on tool-call turns; no forced tools
    "deepseek-v4",          # with tools, every assistant turn needs reasoning_content
    "deepseek-r1",          # deepseek-reasoner (legacy R1) refuses reasoning_content
    "siliconflow-thinking",  # 20015 for enable_thinking on a model that cannot think
    "ark-thinking",         # thinking {type: enabled|disabled|auto} only
    "anthropic-thinking",   # thinking {type: enabled, budget_tokens >= 1024} | disabled
    "openrouter-reasoning",  # reasoning {effort | max_tokens | enabled | exclude} only
    "minimax-replay",       # stricter than MiniMax: the `<think>` text must come back as it was
})

# The quirks that make the mock act like each profile's provider (and a few variants).
PRESETS: Mapping[str, frozenset[str]] = MappingProxyType({name: frozenset(quirks) for name, quirks in {
    "openai": ("max-completion-tokens", "no-reasoning-replay"),
    "azure": ("azure", "max-completion-tokens", "no-reasoning-replay"),
    "dashscope": ("no-developer", "no-schema-key", "enable-thinking"),
    "deepseek": ("string-content", "no-developer", "no-schema-key", "deepseek-thinking",
                 "deepseek-v4", "deepseek-r1"),
    "moonshot": ("no-finish-reason", "no-developer", "no-schema-key", "kimi-thinking"),
    "vllm": ("no-developer", "reasoning-field", "verify-reasoning"),
    "ollama": ("think-tags", "no-developer", "no-schema-key", "no-reasoning-replay"),
    "openrouter": ("no-developer", "reasoning-field", "reasoning-details",
                   "openrouter-reasoning"),
    "groq": ("no-developer", "reasoning-field", "groq-fields"),
    "together": ("no-developer", "reasoning-field", "verify-reasoning"),
    "fireworks": ("no-developer",),
    "mistral": ("no-developer", "thinking-parts", "mistral-schema",
                "mistral-tool-ids"),
    "gemini": ("no-developer", "hidden-reasoning", "gemini-signatures", "gemini-fields"),
    "xai": ("no-developer", "xai-effort", "no-reasoning-replay"),
    "zhipu": ("no-developer", "deepseek-thinking", "glm-messages"),
    "minimax": ("no-developer", "think-tags", "minimax-replay", "no-reasoning-replay"),
    # Not a profile: vLLM before v0.11 (`reasoning_content` out, and wanted back), for the
    # `vllm` profile's "follow what the server sends".
    "vllm-legacy": ("no-developer", "verify-reasoning-content"),
    "ark": ("no-developer", "ark-thinking"),
    "siliconflow": ("no-developer", "enable-thinking", "siliconflow-thinking"),
    "anthropic": ("hidden-reasoning", "anthropic-thinking", "no-reasoning-replay"),
    "sglang": (),
    "llamacpp": ("no-developer",),
    "lmstudio": ("no-developer", "reasoning-field", "no-reasoning-replay"),
    "tgi": ("no-developer", "think-tags", "object-arguments", "no-reasoning-replay"),
    "generic": ("no-developer", "no-reasoning-replay"),
    # A provider without a profile that wants its reasoning back (DeepSeek V4's rule).
    "adaptive": ("no-developer", "deepseek-v4"),
}.items()})

# Real model names the mock serves like one of its own (for rules that depend on the model).
MODEL_ALIASES: Mapping[str, str] = MappingProxyType({
    "deepseek-reasoner": "mock-think",  # legacy R1 with deepseek-r1
    "deepseek-v4-flash": "mock-think",
    "grok-3-mini": "mock-think",        # takes reasoning_effort (xai-effort)
    "grok-4": "mock-echo",              # refuses it
})

_MISTRAL_TOP = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
    "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n",
    "prediction", "parallel_tool_calls", "prompt_mode", "safe_prompt", "reasoning_effort"})
_MISTRAL_MESSAGE = MappingProxyType({
    "system": frozenset({"role", "content"}), "user": frozenset({"role", "content"}),
    "assistant": frozenset({"role", "content", "tool_calls", "prefix"}),
    "tool": frozenset({"role", "content", "tool_call_id", "name"})})
_MISTRAL_CALL = frozenset({"id", "type", "function", "index"})
_GEMINI_TOP = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "n",
    "stop", "stream", "stream_options", "tools", "tool_choice", "response_format",
    "reasoning_effort", "seed", "presence_penalty", "frequency_penalty", "logprobs",
    "top_logprobs", "parallel_tool_calls", "extra_body"})
_GLM_MESSAGE = frozenset({"role", "content", "tool_calls", "tool_call_id", "reasoning_content"})
_XAI_NO_EFFORT = ("grok-3", "grok-4", "grok-4-*", "grok-4.20-0309-*", "grok-code-*")
_SKIP_SIGNATURE = "skip_thought_signature_validator"  # Gemini's documented bypass
_SIGNATURE_DOC = "https://ai.google.dev/gemini-api/docs/thought-signatures"


def tool_call_id(n: int, quirks: frozenset[str]) -> str:
    """The id of the mock's n-th tool call in a conversation."""
    return f"callmock{n}"[-9:].rjust(9, "0") if "mistral-tool-ids" in quirks \
        else f"call_mock_{n}"


def thought_signature(call_id: str) -> str:
    """The opaque signature the gemini-signatures mock puts on (and wants back with) a call."""
    return base64.b64encode(hashlib.sha256(f"sig:{call_id}".encode()).digest()).decode()


def check_rules(body: dict[str, Any], quirks: frozenset[str]) -> None:
    """The named providers' rules, in the providers' own words."""
    if "mistral-schema" in quirks:
        _check_mistral_schema(body)
    if "gemini-fields" in quirks:
        for key in body:
            if key not in _GEMINI_TOP:
                raise _gemini(f'Invalid JSON payload received. Unknown name "{key}": Cannot '
                              "find field.")
        for i, tool in enumerate(body.get("tools") or ()):
            parameters = (tool.get("function") or {}).get("parameters") or {}
            if "$schema" in parameters:
                raise _gemini('Invalid JSON payload received. Unknown name "$schema" at '
                              f"'tools[{i}].function.parameters': Cannot find field.")
    if "groq-fields" in quirks:
        for key in ("logprobs", "logit_bias", "top_logprobs"):
            if key in body:
                raise MockError(f"'{key}' : property '{key}' is unsupported", key)
        if body.get("n", 1) != 1:
            raise MockError("'n' : number must be at most 1", "n")
    if "xai-effort" in quirks and "reasoning_effort" in body and any(
            fnmatch.fnmatchcase(body["model"], pattern) for pattern in _XAI_NO_EFFORT):
        raise MockError("", body={"code": "Client specified an invalid argument",
                                  "error": f"Model {body['model']} does not support parameter "
                                           "reasoningEffort."})
    _check_knobs(body, quirks)
    for i, message in enumerate(body["messages"]):
        _check_message(i, message, body, quirks)


def _check_knobs(body: dict[str, Any], quirks: frozenset[str]) -> None:
    thinking = body.get("thinking")
    if "kimi-thinking" in quirks and thinking is not None and (
            not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled")):
        raise MockError("Invalid request: thinking.type must be enabled or disabled", "thinking")
    if "kimi-thinking" in quirks and _thinking_on(body) and (
            body.get("tool_choice") == "required" or isinstance(body.get("tool_choice"), dict)):
        raise MockError("tool_choice 'required' is incompatible with thinking enabled",
                        "tool_choice")
    if "ark-thinking" in quirks and thinking is not None and (
            not isinstance(thinking, dict)
            or thinking.get("type") not in ("enabled", "disabled", "auto")):
        raise MockError("Unsupported thinking type", "thinking",
                        code="InvalidParameter")
    if "anthropic-thinking" in quirks and thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, dict) else None
        budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
        if kind == "enabled" and (not isinstance(budget, int) or budget < 1024):
            raise MockError("", body={"type": "error", "error": {
                "type": "invalid_request_error", "message": "thinking.enabled.budget_tokens: "
                "Input should be greater than or equal to 1024"}})
        if kind not in ("enabled", "disabled"):
            raise MockError("", body={"type": "error", "error": {
                "type": "invalid_request_error",
                "message": "thinking: Input tag does not match any of the expected tags: "
                           "'enabled', 'disabled'"}})
    if "siliconflow-thinking" in quirks and "enable_thinking" in body \
            and _alias(body["model"]) != "mock-think":
        raise MockError("", status=400, body={
            "code": 20015, "message": "current model does not support parameter "
                                      "`enable_thinking`.", "data": None})
    reasoning = body.get("reasoning")
    if "openrouter-reasoning" in quirks and reasoning is not None and (
            not isinstance(reasoning, dict)
            or set(reasoning) - {"effort", "max_tokens", "enabled", "exclude"}):
        raise MockError("Invalid reasoning configuration", "reasoning")


def _check_message(i: int, message: dict[str, Any], body: dict[str, Any],
                   quirks: frozenset[str]) -> None:
    role, calls = message["role"], message.get("tool_calls") or []
    has_rc = "reasoning_content" in message
    if "groq-fields" in quirks:
        for key in ("reasoning_content", "name"):
            if key in message:
                raise MockError(f"'messages.{i}' : for 'role:{role}' the following must be "
                                f"satisfied[('messages.{i}' : property '{key}' is "
                                "unsupported)]", f"messages.{i}")
    if "glm-messages" in quirks and set(message) - _GLM_MESSAGE:
        raise MockError("", body={"error": {"code": "1214", "message": "messages 参数非法"}})
    if role != "assistant":
        return
    if "deepseek-r1" in quirks and body["model"] == "deepseek-reasoner" and has_rc:
        raise MockError("The reasoning_content is an intermediate result for display purposes "
                        "only and will not be included in the context for inference. Please "
                        "remove the reasoning_content from your message to reduce network "
                        "traffic.", f"messages[{i}].reasoning_content")
    if ("deepseek-v4" in quirks and body["model"] != "deepseek-reasoner" and body.get("tools")
            and _thinking_on(body) and not has_rc):
        raise MockError("The `reasoning_content` in the thinking mode must be passed back to "
                        "the API.", f"messages[{i}]")
    if "kimi-thinking" in quirks and calls and _thinking_on(body) \
            and not message.get("reasoning_content"):
        raise MockError("thinking is enabled but reasoning_content is missing in assistant tool "
                        f"call message at index {i}", f"messages[{i}]")
    if "gemini-signatures" in quirks and calls:
        first = calls[0]
        signature = ((first.get("extra_content") or {}).get("google") or {}).get(
            "thought_signature")
        if signature not in (thought_signature(first.get("id", "")), _SKIP_SIGNATURE):
            name = (first.get("function") or {}).get("name")
            raise _gemini("Function call is missing a thought_signature in functionCall parts. "
                          "This is required for tools to work correctly, and missing "
                          "thought_signature may lead to degraded model performance. "
                          f"Additional data, function call `default_api:{name}` , position "
                          f"{i + 1}. Please refer to {_SIGNATURE_DOC} for more details.")
    if "minimax-replay" in quirks and calls and str(calls[0].get("id")).startswith("call_mock_"):
        expected = f"<think>\n{call_reasoning(calls[0].get('id', ''))}\n</think>"
        if not str(message.get("content") or "").startswith(expected):
            raise MockError(f"(mock, stricter than MiniMax) the assistant message at index {i} "
                            "must carry its <think> text back unchanged.", f"messages[{i}]")
    if "mistral-tool-ids" in quirks:
        for call in calls:
            call_id = call.get("id", "")
            if not (len(call_id) == 9 and call_id.isascii() and call_id.isalnum()):
                raise _mistral(f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a "
                               "length of 9.", "3280")


def _check_mistral_schema(body: dict[str, Any]) -> None:
    errors: list[dict[str, Any]] = [_forbidden(["body", key], body[key])
                                    for key in body if key not in _MISTRAL_TOP]
    previous = None
    for i, message in enumerate(body["messages"]):
        role = message["role"]
        allowed = _MISTRAL_MESSAGE.get(role, frozenset())
        errors += [_forbidden(["body", "messages", i, role, key], value)
                   for key, value in message.items() if key not in allowed]
        for j, call in enumerate(message.get("tool_calls") or ()):
            errors += [_forbidden(["body", "messages", i, role, "tool_calls", j, key], value)
                       for key, value in call.items() if key not in _MISTRAL_CALL]
        if role == "user" and previous == "tool":
            raise _mistral("Unexpected role 'user' after role 'tool'", "3230")
        previous = role
    if errors:
        raise MockError("", status=422, body={
            "object": "error", "message": {"detail": errors}, "type": "invalid_request_error",
            "param": None, "code": None})


def _forbidden(loc: list[Any], value: Any) -> dict[str, Any]:
    return {"type": "extra_forbidden", "loc": loc, "msg": "Extra inputs are not permitted",
            "input": value}


def _mistral(message: str, code: str) -> MockError:
    return MockError("", body={"object": "error", "message": message,
                               "type": "invalid_request_message_order", "param": None,
                               "code": code})


def _gemini(message: str) -> MockError:
    # Gemini's compatibility layer answers with a list holding one error.
    return MockError(message, body=[{"error": {"code": 400, "message": message,
                                               "status": "INVALID_ARGUMENT"}}])


def _thinking_on(body: dict[str, Any]) -> bool:
    return (body.get("thinking") or {}).get("type") != "disabled"


def _alias(model: str) -> str:
    return MODEL_ALIASES.get(model, model)


# -- the answer ---------------------------------------------------------------------------------


def shape_message(message: dict[str, Any], quirks: frozenset[str]) -> dict[str, Any]:
    """A whole (non-streamed) assistant message as the provider would send it."""
    message = _shape(message, quirks)
    if "object-arguments" in quirks:
        for call in message.get("tool_calls") or ():
            call["function"]["arguments"] = _loads(call["function"]["arguments"])
    return message


def shape_deltas(deltas: list[dict[str, Any]], quirks: frozenset[str]) -> list[dict[str, Any]]:
    """Stream deltas as the provider would send them."""
    shaped = [_shape(delta, quirks) for delta in deltas]
    if "object-arguments" in quirks:
        # TGI: each call whole in one delta, `tool_calls` an object, arguments an object.
        calls: dict[int, dict[str, Any]] = {}
        for delta in shaped:
            for call in delta.pop("tool_calls", None) or ():
                whole = calls.setdefault(call["index"], {**call, "function": {
                    **call["function"], "arguments": ""}})
                whole["function"]["arguments"] += call["function"].get("arguments", "")
        shaped = [d for d in shaped if d] + [{"tool_calls": {
            **call, "function": {**call["function"],
                                 "arguments": _loads(call["function"]["arguments"])}}}
            for call in calls.values()]
    return shaped


def _shape(delta: dict[str, Any], quirks: frozenset[str]) -> dict[str, Any]:
    delta = {**delta}
    reasoning = delta.get("reasoning_content")
    if reasoning is not None and "hidden-reasoning" in quirks:
        del delta["reasoning_content"]
    elif reasoning is not None and "thinking-parts" in quirks:
        # Mistral: content becomes a list, a thinking chunk first, then the text.
        del delta["reasoning_content"]
        parts: list[dict[str, Any]] = [{"type": "thinking", "thinking": [
            {"type": "text", "text": reasoning}]}]
        if delta.get("content"):
            parts.append({"type": "text", "text": delta["content"]})
        delta["content"] = parts
    elif reasoning is not None and "reasoning-field" in quirks:
        delta["reasoning"] = delta.pop("reasoning_content")
        if "reasoning-details" in quirks:
            delta["reasoning_details"] = [{"type": "reasoning.text", "text": reasoning,
                                           "format": "unknown", "index": 0}]
    if "gemini-signatures" in quirks and delta.get("tool_calls"):
        calls = [dict(call) for call in delta["tool_calls"]]
        first = calls[0]
        if first.get("id") and first.get("index", 0) == 0:
            first["extra_content"] = {"google": {
                "thought_signature": thought_signature(first["id"])}}
        delta["tool_calls"] = calls
    return delta


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
