"""translate/response.py: the Response's echo of the request, and chat usage -> Responses usage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import schema_check
from responses_gateway.protocol.requests import parse_create_request
from responses_gateway.providers import PROFILES
from responses_gateway.translate.response import new_response, to_responses_usage
from responses_gateway.translate.to_chat import to_chat_request

CAPTURES = sorted((Path(__file__).parent.parent / "fixtures" / "clients").glob("*.json"))


def response_for(body: dict[str, Any]) -> dict[str, Any]:
    request = parse_create_request(orjson.dumps(body))
    chat = to_chat_request(request, PROFILES["generic"])
    return new_response(request, response_id="resp_0", created_at=1_700_000_000,
                        tools_echo=chat.tools_echo)


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_fresh_response_for_every_capture_matches_both_schemas(capture: Path) -> None:
    schema_check.validate_response(response_for(orjson.loads(capture.read_bytes())["body"]))


def test_fresh_response_fills_openai_defaults() -> None:
    response = response_for({"model": "m", "input": "hi"})
    assert {k: response[k] for k in (
        "status", "output", "usage", "error", "completed_at", "temperature", "top_p",
        "presence_penalty", "frequency_penalty", "top_logprobs", "truncation", "tool_choice",
        "tools", "metadata", "text", "reasoning", "store", "background", "parallel_tool_calls",
    )} == {
        "status": "in_progress", "output": [], "usage": None, "error": None,
        "completed_at": None, "temperature": 1.0, "top_p": 1.0, "presence_penalty": 0.0,
        "frequency_penalty": 0.0, "top_logprobs": 0, "truncation": "disabled",
        "tool_choice": "auto", "tools": [], "metadata": {},
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "reasoning": {"effort": None, "summary": None}, "store": True, "background": False,
        "parallel_tool_calls": True}


def test_fresh_response_echoes_the_request() -> None:
    body = {"model": "m", "input": "hi", "instructions": "Be brief.", "temperature": 0.2,
            "max_output_tokens": 64, "tool_choice": "none", "metadata": {"k": "v"},
            "previous_response_id": "resp_prev", "store": False, "truncation": "auto",
            "parallel_tool_calls": False, "user": "u", "prompt_cache_key": "pk",
            "reasoning": {"effort": "low", "summary": "auto"}}
    response = response_for(body)
    for key in ("instructions", "temperature", "tool_choice", "metadata",
                "previous_response_id", "truncation", "user", "prompt_cache_key", "reasoning"):
        assert response[key] == body[key], key
    assert (response["max_output_tokens"], response["store"],
            response["parallel_tool_calls"]) == (64, False, False)


def test_json_schema_format_echo_fills_description_and_strict() -> None:
    schema = {"type": "object", "properties": {}}
    fmt = response_for({"model": "m", "input": "hi", "text": {"format": {
        "type": "json_schema", "name": "out", "schema": schema}}})["text"]["format"]
    assert fmt == {"type": "json_schema", "name": "out", "schema": schema,
                   "description": None, "strict": False}


def test_usage_is_mapped_with_details() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
             "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 1},
             "completion_tokens_details": {"reasoning_tokens": 2}}
    assert to_responses_usage(usage) == {
        "input_tokens": 12, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 1},
        "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 17}


def test_usage_without_details_has_zero_details_and_computed_total() -> None:
    assert to_responses_usage({"prompt_tokens": 3, "completion_tokens": 4}) == {
        "input_tokens": 3, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 7}


def test_deepseek_cache_hits_at_the_top_level_are_read() -> None:
    usage = to_responses_usage({"prompt_tokens": 10, "completion_tokens": 1,
                                "prompt_cache_hit_tokens": 8, "reasoning_tokens": 3})
    assert usage is not None
    assert usage["input_tokens_details"]["cached_tokens"] == 8
    assert usage["output_tokens_details"]["reasoning_tokens"] == 3


@pytest.mark.parametrize("usage", [None, "n/a", []])
def test_missing_usage_stays_null(usage: Any) -> None:
    assert to_responses_usage(usage) is None


def test_non_integer_counts_become_zero() -> None:
    usage = to_responses_usage({"prompt_tokens": None, "completion_tokens": True})
    assert usage is not None
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (0, 0, 0)
