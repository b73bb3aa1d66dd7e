"""The Response object: its echo of the request, and chat usage -> Responses usage. Pure."""

from __future__ import annotations

from typing import Any

from ..protocol.errors import GatewayError
from ..protocol.requests import CreateRequest

__all__ = ["INCOMPLETE_REASONS", "TERMINAL_EVENT_TYPES", "new_response", "response_error",
           "to_responses_usage"]

_DEFAULT_TEXT = {"verbosity": "medium"}
# A chat finish_reason that makes the response `incomplete` -> its incomplete_details.reason.
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
# A response's final status -> the type of its terminal stream event.
TERMINAL_EVENT_TYPES = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
    "cancelled": "response.failed",
}


def new_response(
    request: CreateRequest,
    *,
    response_id: str,
    created_at: int,
    tools_echo: list[dict[str, Any]],
    status: str = "in_progress",
) -> dict[str, Any]:
    """A fresh Response (`in_progress`, or `queued` for background runs) carrying every field
    the Open Responses schema requires."""
    body = request.body
    text = body.get("text") or {}
    reasoning = body.get("reasoning") or {}
    tool_choice = body.get("tool_choice") or "auto"
    limit = body.get("max_output_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": request.background,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": limit,
        "max_tool_calls": body.get("max_tool_calls"),
        "model": request.model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "previous_response_id": body.get("previous_response_id"),
        "conversation": _conversation_ref(body.get("conversation")),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": "default",
        "store": request.store,
        "temperature": _number(body.get("temperature"), 1.0),
        "text": {"format": _echo_format(text.get("format")),
                 "verbosity": text.get("verbosity") or _DEFAULT_TEXT["verbosity"]},
        "tool_choice": tool_choice,
        "tools": tools_echo,
        "top_logprobs": body.get("top_logprobs") or 0,
        "top_p": _number(body.get("top_p"), 1.0),
        "presence_penalty": _number(body.get("presence_penalty"), 0.0),
        "frequency_penalty": _number(body.get("frequency_penalty"), 0.0),
        "truncation": body.get("truncation") or "disabled",
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
        "safety_identifier": body.get("safety_identifier"),
        "prompt_cache_key": body.get("prompt_cache_key"),
    }


def _echo_format(fmt: Any) -> dict[str, Any]:
    if not isinstance(fmt, dict):
        return {"type": "text"}
    if fmt.get("type") == "json_schema":
        # The echo carries every field of the format, defaults filled in.
        return {**fmt, "description": fmt.get("description"),
                "strict": bool(fmt.get("strict", False))}
    return fmt


def _conversation_ref(value: Any) -> dict[str, str] | None:
    if isinstance(value, str):
        return {"id": value}
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return {"id": value["id"]}
    return None


def _number(value: Any, default: float) -> float:
    return default if value is None else value


def to_responses_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat `usage` -> Responses `usage` (None when the provider reported none)."""
    if not isinstance(usage, dict):
        return None
    input_tokens = _int(usage.get("prompt_tokens"))
    output_tokens = _int(usage.get("completion_tokens"))
    total = usage.get("total_tokens")
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    # DeepSeek reports cache hits at the top level instead of in the details.
    cached = prompt_details.get("cached_tokens")
    if cached is None:
        cached = usage.get("prompt_cache_hit_tokens")
    reasoning = completion_details.get("reasoning_tokens")
    if reasoning is None:
        reasoning = usage.get("reasoning_tokens")
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": _int(cached),
                                 "cache_write_tokens": _int(
                                     prompt_details.get("cache_write_tokens"))},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": _int(reasoning)},
        "total_tokens": _int(total) if total is not None else input_tokens + output_tokens,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def response_error(error: GatewayError) -> dict[str, str]:
    """`response.error` of a failed response. Its `code` takes only the API's own codes;
    the specific one travels on the stream's `error` event."""
    if error.status == 429:
        code = "rate_limit_exceeded"
    elif error.status in (400, 413, 422):
        code = "invalid_prompt"
    else:
        code = "server_error"
    return {"code": code, "message": error.message}
