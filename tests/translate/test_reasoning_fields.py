"""Reasoning read from every field a provider may use, and sent back under the one it used."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from responses_gateway.providers import PROFILES
from responses_gateway.translate.fit import fit_messages
from responses_gateway.translate.reasoning import ReasoningSeal, derive_key
from responses_gateway.translate.reasoning_fields import (
    DETAILS_KEY,
    VIA_KEY,
    Reasoning,
    ReasoningReader,
    attach_reasoning,
)
from responses_gateway.translate.stream import ResponseStream
from responses_gateway.translate.tools import ToolMap

ADAPTIVE = PROFILES["adaptive"]


def _read(deltas: list[dict[str, Any]], *, think_tags: bool = True) -> tuple[str, str, Any, Any]:
    reader = ReasoningReader(think_tags=think_tags)
    reasoning, content = "", ""
    for delta in deltas:
        r, c = reader.read(delta)
        reasoning, content = reasoning + r, content + c
    r, c = reader.flush()
    return reasoning + r, content + c, reader.via, reader.details


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "reasoning_text"])
def test_each_string_field_is_read_and_named(field: str) -> None:
    assert _read([{field: "hm, "}, {field: "ok"}, {"content": "Hi"}]) == (
        "hm, ok", "Hi", field, None)


def test_vllm_sending_both_names_is_answered_under_reasoning() -> None:
    # vLLM 0.11-0.15 streams `reasoning` plus the `reasoning_content` alias but reads back
    # only `reasoning` (providers.md §1, §2).
    assert _read([{"reasoning": "a", "reasoning_content": "a"}])[::2] == ("a", "reasoning")


def test_reasoning_details_are_read_merged_and_kept_for_replay() -> None:
    reasoning, content, via, details = _read([
        {"reasoning_details": [{"type": "reasoning.text", "text": "Let ", "index": 0,
                                "format": "x"}]},
        {"reasoning_details": [{"type": "reasoning.text", "text": "me.", "index": 0}]},
        {"reasoning_details": [{"type": "reasoning.encrypted", "data": "QUJD", "index": 1}]},
        {"content": "Done"},
    ])
    assert (reasoning, content, via) == ("Let me.", "Done", "reasoning_details")
    assert details == [{"type": "reasoning.text", "text": "Let me.", "index": 0, "format": "x"},
                       {"type": "reasoning.encrypted", "data": "QUJD", "index": 1}]


def test_openrouter_string_and_details_take_the_text_once_and_keep_the_details() -> None:
    details = [{"type": "reasoning.summary", "summary": "S", "index": 0}]
    assert _read([{"reasoning": "S", "reasoning_details": details}]) == (
        "S", "", "reasoning_details", details)


def test_mistral_thinking_parts_are_reasoning_and_text_parts_are_content() -> None:
    parts = [{"type": "thinking", "thinking": [{"type": "text", "text": "Hmm."}]},
             {"type": "text", "text": "Answer"}]
    assert _read([{"content": parts}]) == ("Hmm.", "Answer", "thinking", None)


def test_a_leading_think_block_is_reasoning() -> None:
    assert _read([{"content": "<thi"}, {"content": "nk>\nHmm\n</th"}, {"content": "ink>\n\nHi"}]
                 ) == ("Hmm", "Hi", "think", None)


def test_a_think_block_next_to_a_separate_field_is_only_stripped() -> None:
    # llama.cpp `--reasoning-format deepseek-legacy` sends both.
    assert _read([{"reasoning_content": "Hmm"}, {"content": "<think>Hmm</think>Hi"}]) == (
        "Hmm", "Hi", "reasoning_content", None)


def test_without_think_tags_the_block_stays_content() -> None:
    assert _read([{"content": "<think>x</think>y"}], think_tags=False)[:2] == (
        "", "<think>x</think>y")


def _stream(chunks: list[dict[str, Any]]) -> ResponseStream:
    response = {"id": "resp_1", "output": [], "status": "in_progress"}
    ids = iter(range(100))
    machine = ResponseStream(response, tool_map=ToolMap(), new_id=lambda p: f"{p}_{next(ids)}",
                             seal_reasoning=lambda r: f"{r.via}:{r.text}", think_tags=True)
    for chunk in chunks:
        machine.feed(chunk)
    machine.finish(completed_at=1)
    return machine


@pytest.mark.parametrize("whole", [False, True], ids=["stream", "whole"])
def test_the_response_stream_reads_reasoning_field_and_remembers_it(whole: bool) -> None:
    if whole:
        chunks = [{"choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "reasoning": "Think.", "content": "Hi"}}]}]
    else:
        chunks = [{"choices": [{"index": 0, "delta": {"reasoning": "Thi"}}]},
                  {"choices": [{"index": 0, "delta": {"reasoning": "nk."}}]},
                  {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}]
    machine = _stream(chunks)
    reasoning_item, message = machine.snapshot()["output"]
    assert reasoning_item["content"] == [{"type": "reasoning_text", "text": "Think."}]
    assert reasoning_item["encrypted_content"] == "reasoning:Think."
    assert message["content"][0]["text"] == "Hi"
    assert machine.reasoning == {reasoning_item["id"]: Reasoning("Think.", "reasoning")}


def test_the_seal_keeps_the_field_and_the_details() -> None:
    seal = ReasoningSeal(derive_key("k"))
    details = [{"type": "reasoning.text", "text": "T", "signature": "s"}]
    blob = seal.seal("T", provider="p", model="m", nonce=b"\0" * 12, via="reasoning_details",
                     details=details)
    assert seal.unseal_reasoning(blob, provider="p") == Reasoning("T", "reasoning_details",
                                                                  details)
    assert seal.unseal(blob, provider="p") == "T"
    old = seal.seal("T", provider="p", model="m", nonce=b"\0" * 12)  # before fields were kept
    assert seal.unseal_reasoning(old, provider="p") == Reasoning("T")


def _assistant(reasoning: Reasoning | None, *, calls: bool = True) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if calls else "Hi"}
    if calls:
        message["tool_calls"] = [{"id": "c1", "type": "function",
                                  "function": {"name": "f", "arguments": "{}"}}]
    if reasoning is not None:
        attach_reasoning(message, reasoning)
    return message


def _fit(message: dict[str, Any], profile: Any = ADAPTIVE, **kw: Any) -> dict[str, Any]:
    (fitted,) = fit_messages([message], profile, thinking=None, **kw)
    assert VIA_KEY not in fitted and DETAILS_KEY not in fitted
    return fitted


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "reasoning_text"])
def test_replay_goes_back_under_the_field_the_provider_used(field: str) -> None:
    fitted = _fit(_assistant(Reasoning("T", field)))
    assert fitted[field] == "T"
    assert {"reasoning_content", "reasoning", "reasoning_text"} - {field} - set(fitted) == {
        "reasoning_content", "reasoning", "reasoning_text"} - {field}


def test_replay_of_details_is_unchanged() -> None:
    details = [{"type": "reasoning.encrypted", "data": "x", "id": "r1"}]
    fitted = _fit(_assistant(Reasoning("", "reasoning_details", details)))
    assert fitted["reasoning_details"] is details and "reasoning_content" not in fitted


def test_replay_of_a_think_block_goes_before_the_content() -> None:
    fitted = _fit(_assistant(Reasoning("T", "think"), calls=False))
    assert fitted["content"] == "<think>\nT\n</think>\n\nHi"


def test_thinking_parts_are_not_sent_back() -> None:
    fitted = _fit(_assistant(Reasoning("T", "thinking")))
    assert set(fitted) == {"role", "content", "tool_calls"}


def test_reasoning_of_unknown_origin_follows_what_the_upstream_used_lately() -> None:
    assert _fit(_assistant(Reasoning("T")), reasoning_seen="reasoning")["reasoning"] == "T"
    # Never a field the provider has not shown.
    assert set(_fit(_assistant(Reasoning("T")))) == {"role", "content", "tool_calls"}


def test_every_assistant_turn_gets_an_empty_field_once_the_provider_used_it_with_tools() -> None:
    # DeepSeek V4 (providers.md §2): reasoning_content on every assistant message, "" allowed.
    plain = _assistant(None, calls=False)
    assert _fit(plain, reasoning_seen="reasoning_content", tools=True)["reasoning_content"] == ""
    assert "reasoning_content" not in _fit(plain, reasoning_seen="reasoning_content")
    assert "reasoning_content" not in _fit(plain, tools=True)


def test_profiles_that_do_not_replay_drop_every_carried_form() -> None:
    generic = PROFILES["generic"]
    for reasoning in (Reasoning("T", "reasoning"), Reasoning("T", "reasoning_details", [{}])):
        assert set(_fit(_assistant(reasoning), generic)) == {"role", "content", "tool_calls"}


def test_a_profile_field_wins_over_the_turns_own() -> None:
    profile = replace(ADAPTIVE, reasoning_field="reasoning_content")
    fitted = _fit(_assistant(Reasoning("T", "reasoning")), profile)
    assert fitted["reasoning_content"] == "T" and "reasoning" not in fitted


def test_stored_history_is_not_changed_by_fitting() -> None:
    message = _assistant(Reasoning("T", "reasoning"))
    before = dict(message)
    _fit(message)
    assert message == before
