"""The mock provider's quirks: rules that copy particular real providers, and its error type.

`mock_provider` checks every request as strictly as OpenAI does; each quirk switched on adds
one provider's own rule. The checks live here: `check_auth` (who may call), `check_body`
(top-level fields), `check_message` (each message). Quirks that change the answer rather
than the checks (`think-tags`, `no-finish-reason`, and whether `mock-think` reasons at all,
`thinks`) are applied by `mock_provider._plan`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

import orjson
from aiohttp import web

__all__ = ["ADAPTIVE_QUIRKS", "ERROR_TYPES", "MIDSTREAM_REFUSAL", "QUIRKS", "MockError", "call_reasoning",
           "check_auth", "check_body", "check_message", "thinks"]

# -- Reasoning that must come back in the field it went out in (issue 10 item 1, adaptive) ---
# A separate block. With mock_rules' `reasoning-field` (and `reasoning-details`) mock-think's
# reasoning goes out as `reasoning` (and `reasoning_details`); these quirks demand it back
# there, exactly. Checked by `check_adaptive_message`.
ADAPTIVE_QUIRKS = MappingProxyType({
    "verify-reasoning": "tool-call turns must carry their own reasoning under `reasoning`",
    "verify-reasoning-details": "... under `reasoning_details`, unchanged",
    "midstream-400": "streams break off after two chunks with an in-band 400 naming a field",
})
# What `midstream-400` sends after the first chunks: a refusal the gateway could fix, but only
# after bytes reached the client, when it must not retry.
MIDSTREAM_REFUSAL = {"error": {"message": "Unrecognized request argument supplied: "
                               "stream_options", "type": "invalid_request_error",
                               "param": "stream_options", "code": None}}
# -- end of the adaptive block ---------------------------------------------------------------

QUIRKS = frozenset({
    "no-developer",               # role `developer` rejected (DeepSeek)
    "require-reasoning-content",  # tool-calling assistant turns need reasoning_content (DeepSeek)
    "verify-reasoning-content",   # ... and it must be exactly the reasoning this mock produced
    "no-stream-options",          # `stream_options` rejected (some self-hosted servers)
    "max-completion-tokens",      # `max_tokens` rejected; use `max_completion_tokens` (OpenAI o*)
    "no-schema-key",              # `$schema` rejected inside JSON schemas (DashScope, Moonshot)
    "string-content",             # content arrays of only text parts rejected (DeepSeek)
    "azure",                      # key in `api-key` (Bearer alone: 401) + `api-version` query
    "think-tags",                 # mock-think reasons inline, `<think>...</think>` (vLLM, Ollama)
    "no-finish-reason",           # streams end with no finish_reason and no [DONE] (Kimi)
    "enable-thinking",            # DashScope: enable_thinking (default off) + thinking_budget only
    "deepseek-thinking",          # DeepSeek: thinking {"type": enabled|disabled} only; default on
    "no-reasoning-replay",        # `reasoning_content` on input messages rejected (OpenAI-style)
}) | frozenset(ADAPTIVE_QUIRKS)
ERROR_TYPES = MappingProxyType({
    400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
    429: "rate_limit_error", 500: "server_error", 503: "service_unavailable_error",
})
# Reasoning switches each thinking quirk rejects: only the provider's own knob is understood.
_FOREIGN_KNOBS = MappingProxyType({
    "enable-thinking": ("reasoning_effort", "thinking"),
    "deepseek-thinking": ("reasoning_effort", "enable_thinking"),
})
_AZURE_DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make "
                 "sure to provide a valid key for an active subscription and use a correct "
                 "regional API endpoint for your resource.")


class MockError(Exception):
    """An OpenAI-style error answer; raised anywhere, rendered by the mock's middleware."""

    def __init__(self, message: str, param: str | None = None, *, status: int = 400,
                 code: str | None = None, headers: dict[str, str] | None = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers
        self.body = body  # a provider's own error shape, sent instead of OpenAI's

    def response(self) -> web.Response:
        error = {"message": self.message, "type": ERROR_TYPES.get(self.status, "server_error"),
                 "param": self.param, "code": self.code}
        body = {"error": error} if self.body is None else self.body
        return web.Response(body=orjson.dumps(body), status=self.status,
                            headers=self.headers, content_type="application/json")


def call_reasoning(call_id: str) -> str:
    """What mock-think reasons on a tool-call turn (verify-reasoning-content wants it back)."""
    return f"Let me think about {call_id}."


_THINKING_TYPE_QUIRKS = ("deepseek-thinking", "kimi-thinking", "ark-thinking",
                         "anthropic-thinking")


def thinks(body: dict[str, Any], quirks: frozenset[str]) -> bool:
    """Whether mock-think reasons: DashScope's switch defaults to off; DeepSeek's, Kimi's,
    Ark's and Anthropic's `thinking: {"type": "disabled"}` switches it off."""
    if "enable-thinking" in quirks:
        return body.get("enable_thinking") is True
    if any(quirk in quirks for quirk in _THINKING_TYPE_QUIRKS):
        thinking = body.get("thinking")
        return not (isinstance(thinking, dict) and thinking.get("type") == "disabled")
    return True


def check_auth(headers: Mapping[str, str], query: Mapping[str, str], api_key: str,
               quirks: frozenset[str]) -> None:
    """The key (`api_key`; "" accepts any): a Bearer token, or Azure's `api-key` header."""
    if "azure" in quirks:
        given = headers.get("api-key")
        if not given or (api_key and given != api_key):
            raise MockError(_AZURE_DENIED, status=401, code="401")
        if not query.get("api-version"):
            raise MockError("Resource not found: the 'api-version' query parameter is "
                            "required.", "api-version", status=404, code="404")
    elif api_key and headers.get("Authorization") != f"Bearer {api_key}":
        raise MockError("Incorrect API key provided.", status=401, code="invalid_api_key")


def check_body(body: dict[str, Any], quirks: frozenset[str]) -> None:
    """The quirks' rules for top-level fields."""
    if "no-stream-options" in quirks and "stream_options" in body:
        raise MockError("Unrecognized request argument supplied: stream_options",
                        "stream_options")
    if "max-completion-tokens" in quirks and "max_tokens" in body:
        raise MockError("Unsupported parameter: 'max_tokens' is not supported with this model. "
                        "Use 'max_completion_tokens' instead.", "max_tokens")
    for key in ("response_format", "tools"):
        if "no-schema-key" in quirks and _has_schema_key(body.get(key)):
            raise MockError(f"Unsupported JSON schema keyword '$schema' in '{key}'.", key)
    for quirk, knobs in _FOREIGN_KNOBS.items():
        foreign = [key for key in knobs if key in body and quirk in quirks]
        if foreign:
            raise MockError(f"Unrecognized request argument supplied: {foreign[0]}", foreign[0])
    if "enable-thinking" in quirks:
        if "enable_thinking" in body and not isinstance(body["enable_thinking"], bool):
            raise MockError("'enable_thinking' must be a boolean.", "enable_thinking")
        budget = body.get("thinking_budget", 1)
        if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
            raise MockError("'thinking_budget' must be a positive integer.", "thinking_budget")
    if "deepseek-thinking" in quirks and "thinking" in body:
        thinking = body["thinking"]
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
            raise MockError("'thinking' must be {\"type\": \"enabled\"} or "
                            "{\"type\": \"disabled\"}.", "thinking")


def check_message(i: int, message: dict[str, Any], quirks: frozenset[str]) -> None:
    """The quirks' rules for `messages[i]`, which already passed the base checks."""
    where = f"messages[{i}]"
    role, content, calls = message["role"], message.get("content"), message.get("tool_calls")
    if role == "developer" and "no-developer" in quirks:
        raise MockError("Invalid value: 'developer'. Supported values are: system, user, "
                        "assistant, tool.", f"{where}.role")
    if ("string-content" in quirks and isinstance(content, list) and content
            and all(part.get("type") == "text" for part in content)):
        raise MockError(f"Failed to deserialize the JSON body into the target type: {where}: "
                        "invalid type: sequence, expected a string.", f"{where}.content")
    if "no-reasoning-replay" in quirks and "reasoning_content" in message:
        raise MockError("Additional properties are not allowed ('reasoning_content' was "
                        f"unexpected) - '{where}'.", f"{where}.reasoning_content")
    if calls and "require-reasoning-content" in quirks and not message.get("reasoning_content"):
        raise MockError(f"Missing `reasoning_content` field in the assistant message at "
                        f"message index {i}. In thinking mode it must be passed back with tool "
                        "calls.", where)
    check_adaptive_message(i, message, quirks)
    if calls and "verify-reasoning-content" in quirks:
        # Stricter than any provider: the exact reasoning this mock produced must come back,
        # so a placeholder cannot pass for a real round trip.
        expected = call_reasoning(calls[0].get("id", ""))
        if message.get("reasoning_content") != expected:
            raise MockError(f"The assistant message at index {i} must carry its own "
                            f"reasoning_content {expected!r}, got "
                            f"{message.get('reasoning_content')!r}.", where)


def _has_schema_key(node: Any) -> bool:
    if isinstance(node, dict):
        return "$schema" in node or any(_has_schema_key(value) for value in node.values())
    return isinstance(node, list) and any(_has_schema_key(value) for value in node)


# -- the adaptive block (see ADAPTIVE_QUIRKS) -------------------------------------------------

def check_adaptive_message(i: int, message: dict[str, Any], quirks: frozenset[str]) -> None:
    """Tool-call turns must bring back their own reasoning, under the field it went out in."""
    calls = message.get("tool_calls")
    if not calls or not str(calls[0].get("id", "")).startswith("call_mock_"):
        return  # only what this mock produced can be demanded back
    expected = call_reasoning(calls[0].get("id", ""))
    if "verify-reasoning" in quirks and message.get("reasoning") != expected:
        raise MockError(f"The assistant message at index {i} must carry its own reasoning "
                        f"{expected!r} in 'reasoning', got {message.get('reasoning')!r}.",
                        f"messages[{i}].reasoning")
    if "verify-reasoning-details" in quirks:
        # As mock_rules' `reasoning-details` sends it.
        wanted = [{"type": "reasoning.text", "text": expected, "format": "unknown", "index": 0}]
        if message.get("reasoning_details") != wanted:
            raise MockError(f"The assistant message at index {i} must carry its own "
                            f"reasoning_details unchanged, got "
                            f"{message.get('reasoning_details')!r}.",
                            f"messages[{i}].reasoning_details")
