"""protocol/reasoning_events.py: which raw reasoning events a request gets."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.protocol.reasoning_events import raw_reasoning_events


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),  # curl, the Open Responses suite, the AI SDK: events both families define
    ({"User-Agent": "Bun/1.4.5"}, None),
    ({"X-Stainless-Lang": "python"}, "response.reasoning_text"),  # any OpenAI SDK
    ({"x-stainless-lang": "js"}, "response.reasoning_text"),
    ({"originator": "codex_exec"}, "response.reasoning_text"),  # Codex CLI
    ({"X-Reasoning-Events": "openai"}, "response.reasoning_text"),
    ({"x-reasoning-events": " Open-Responses "}, "response.reasoning"),
    ({"X-Reasoning-Events": "summary", "X-Stainless-Lang": "python"}, None),
    ({"X-Reasoning-Events": "open-responses", "X-Stainless-Lang": "js"}, "response.reasoning"),
    ({"X-Reasoning-Events": "", "X-Stainless-Lang": "js"}, "response.reasoning_text"),
])
def test_header_then_client_family_decide(headers: dict[str, str], expected: str | None) -> None:
    assert raw_reasoning_events(CIMultiDict(headers)) == expected


def test_unknown_value_names_the_header() -> None:
    with pytest.raises(InvalidRequest) as caught:
        raw_reasoning_events(CIMultiDict({"X-Reasoning-Events": "both"}))
    assert caught.value.param == "X-Reasoning-Events"
    assert "openai, open-responses" in caught.value.message
