"""lessons.py: what each upstream has taught the gateway."""

from __future__ import annotations

from responses_gateway.lessons import Lessons


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
