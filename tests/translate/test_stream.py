"""translate/stream.py: chat chunks -> Responses events, the state machine (DESIGN §4).

Each case in tests/fixtures/chat_chunks.py is a chunk sequence a provider sends; golden tests
pin the events that come out. Every event of every case is validated against the openai SDK
types and the Open Responses schema, and every stream against the ordering rules clients
depend on (tests/schema_check.py).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import orjson
import pytest

import schema_check
from fixtures.chat_chunks import CASES, NON_STREAMING, TOOLS, Case, call, chunk
from responses_gateway.protocol.errors import UpstreamStatus, UpstreamUnavailable
from responses_gateway.protocol.requests import parse_create_request
from responses_gateway.providers import PROFILES
from responses_gateway.translate.response import new_response
from responses_gateway.translate.stream import Phase, ResponseStream, StreamStateError
from responses_gateway.translate.to_chat import to_chat_request
from responses_gateway.translate.tools import ToolMap

CREATED_AT, COMPLETED_AT = 1_700_000_000, 1_700_000_009


def new_ids() -> Callable[[str], str]:
    """Deterministic ids: one counter per prefix (msg_0, msg_1, fc_0, ...)."""
    counters: defaultdict[str, Iterator[int]] = defaultdict(itertools.count)
    return lambda prefix: f"{prefix}_{next(counters[prefix])}"


def new_stream(body: dict[str, Any] | None = None, **kwargs: Any) -> ResponseStream:
    request = parse_create_request(orjson.dumps({"model": "m", "input": "hi", **(body or {})}))
    chat = to_chat_request(request, PROFILES["generic"])
    response = new_response(request, response_id="resp_0", created_at=CREATED_AT,
                            tools_echo=chat.tools_echo)
    return ResponseStream(response, tool_map=chat.tool_map, new_id=new_ids(), **kwargs)


@dataclass(frozen=True)
class Run:
    events: list[dict[str, Any]]
    snapshot: dict[str, Any]

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


def run(case: Case, **kwargs: Any) -> Run:
    """Feed every chunk, then finish (or fail with the case's error)."""
    stream = new_stream(case.body, **kwargs)
    events = [e for c in case.chunks for e in stream.feed(c)]
    events += stream.fail(case.error) if case.error else stream.finish(completed_at=COMPLETED_AT)
    return Run(events, stream.snapshot())


# -- every case: schemas and invariants -------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_every_event_matches_the_openai_sdk(name: str) -> None:
    for event in run(CASES[name]).events:
        schema_check.sdk_validate_event(event)


@pytest.mark.parametrize("name", CASES)
def test_every_event_matches_open_responses(name: str) -> None:
    for event in run(CASES[name]).events:
        schema_check.open_responses_validate_event(event)


@pytest.mark.parametrize("name", CASES)
def test_final_snapshot_matches_the_openai_sdk(name: str) -> None:
    schema_check.sdk_validate_response(run(CASES[name]).snapshot)


@pytest.mark.parametrize("name", CASES)
def test_final_snapshot_matches_open_responses(name: str) -> None:
    schema_check.open_responses_validate_response(run(CASES[name]).snapshot)


@pytest.mark.parametrize("name", CASES)
def test_stream_keeps_ordering_and_identity_rules(name: str) -> None:
    schema_check.check_event_sequence(run(CASES[name]).events)


@pytest.mark.parametrize("name", CASES)
def test_snapshot_is_the_terminal_response(name: str) -> None:
    result = run(CASES[name])
    assert result.events[-1]["response"] == result.snapshot


@pytest.mark.parametrize("name", CASES)
def test_events_survive_json_serialisation(name: str) -> None:
    events = run(CASES[name]).events
    assert orjson.loads(orjson.dumps(events)) == events


# -- plain text ----------------------------------------------------------------------------


def test_text_stream_golden_events() -> None:
    events = run(CASES["text"]).events
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    text_part = {"type": "output_text", "annotations": [], "logprobs": []}
    where = {"item_id": "msg_0", "output_index": 0, "content_index": 0}
    assert events[2:-1] == [
        {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
         "item": {"id": "msg_0", "type": "message", "status": "in_progress",
                  "role": "assistant", "content": []}},
        {"type": "response.content_part.added", "sequence_number": 3, **where,
         "part": {**text_part, "text": ""}},
        {"type": "response.output_text.delta", "sequence_number": 4, **where, "delta": "Hel",
         "logprobs": []},
        {"type": "response.output_text.delta", "sequence_number": 5, **where, "delta": "lo",
         "logprobs": []},
        {"type": "response.output_text.delta", "sequence_number": 6, **where,
         "delta": " world", "logprobs": []},
        {"type": "response.output_text.done", "sequence_number": 7, **where,
         "text": "Hello world", "logprobs": []},
        {"type": "response.content_part.done", "sequence_number": 8, **where,
         "part": {**text_part, "text": "Hello world"}},
        {"type": "response.output_item.done", "sequence_number": 9, "output_index": 0,
         "item": {"id": "msg_0", "type": "message", "status": "completed", "role": "assistant",
                  "content": [{**text_part, "text": "Hello world"}]}},
    ]
    assert (events[-1]["type"], events[-1]["sequence_number"]) == ("response.completed", 10)


def test_created_and_in_progress_carry_the_empty_response() -> None:
    created, in_progress = run(CASES["text"]).events[:2]
    for event in (created, in_progress):
        response = event["response"]
        assert (response["id"], response["status"]) == ("resp_0", "in_progress")
        assert (response["output"], response["usage"], response["completed_at"]) == ([], None,
                                                                                     None)


def test_completed_response_has_output_usage_and_completed_at() -> None:
    snapshot = run(CASES["text"]).snapshot
    assert (snapshot["status"], snapshot["completed_at"]) == ("completed", COMPLETED_AT)
    assert snapshot["incomplete_details"] is None and snapshot["error"] is None
    assert snapshot["usage"] == {
        "input_tokens": 12, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 17}


def test_start_sends_created_and_in_progress_once() -> None:
    stream = new_stream()
    assert [e["type"] for e in stream.start()] == ["response.created", "response.in_progress"]
    assert stream.phase is Phase.OPEN
    assert [e["sequence_number"] for e in stream.feed(chunk(content="a"))] == [2, 3, 4]


def test_other_choices_than_the_first_are_ignored() -> None:
    second = {"choices": [{"index": 1, "delta": {"content": "other"}, "finish_reason": None}]}
    result = run(Case([chunk(content="mine"), second, chunk("stop")]))
    assert [e["delta"] for e in result.of("response.output_text.delta")] == ["mine"]


def test_content_given_as_parts_is_joined() -> None:
    result = run(Case([chunk(content=[{"type": "text", "text": "a"}, {"type": "text",
                                                                      "text": "b"}])]))
    assert result.snapshot["output"][0]["content"][0]["text"] == "ab"


def test_repr_shows_phase_index_and_sequence_number() -> None:
    stream = new_stream()
    stream.feed(chunk(content="a"))
    assert repr(stream) == "<ResponseStream resp_0 phase=message output_index=0 sequence_number=5>"


def test_queued_response_is_announced_queued_then_runs() -> None:
    request = parse_create_request(b'{"model": "m", "input": "hi", "background": true}')
    response = new_response(request, response_id="resp_0", created_at=CREATED_AT,
                            tools_echo=[], status="queued")
    created, in_progress = ResponseStream(response, tool_map=ToolMap(), new_id=new_ids()).start()
    assert (created["response"]["status"], in_progress["response"]["status"]) == (
        "queued", "in_progress")


# -- reasoning ------------------------------------------------------------------------------


def test_reasoning_item_is_closed_before_the_message_is_added() -> None:
    result = run(CASES["reasoning_then_text"])
    added = result.of("response.output_item.added")
    done = result.of("response.output_item.done")
    assert [e["item"]["type"] for e in added] == ["reasoning", "message"]
    assert done[0]["sequence_number"] < added[1]["sequence_number"]
    assert [e["output_index"] for e in added] == [0, 1]


def test_reasoning_streams_as_summary_events_both_client_families_know() -> None:
    result = run(CASES["reasoning_then_text"])
    assert [e["delta"] for e in result.of("response.reasoning_summary_text.delta")] == [
        "think", "ing"]
    # Neither family's raw text events by default: each family's strict clients reject the
    # other's name (protocol/reasoning_events.py).
    assert not [t for t in result.types if t.startswith(("response.reasoning_text.",
                                                         "response.reasoning."))]
    (part_done,) = [e for e in result.of("response.content_part.done") if e["item_id"] == "rs_0"]
    assert part_done["part"] == {"type": "reasoning_text", "text": "thinking"}
    assert result.snapshot["output"][0] == {
        "id": "rs_0", "type": "reasoning", "status": "completed",
        "summary": [{"type": "summary_text", "text": "thinking"}],
        "content": [{"type": "reasoning_text", "text": "thinking"}]}


@pytest.mark.parametrize(("prefix", "validate"), [
    ("response.reasoning_text", schema_check.sdk_validate_event),
    ("response.reasoning", schema_check.open_responses_validate_event),
])
def test_raw_reasoning_events_carry_the_family_name_asked_for(
        prefix: str, validate: Callable[[dict[str, Any]], None]) -> None:
    result = run(CASES["reasoning_then_text"], raw_reasoning=prefix)
    assert [e["delta"] for e in result.of(f"{prefix}.delta")] == ["think", "ing"]
    (done,) = result.of(f"{prefix}.done")
    assert done["text"] == "thinking" and done["content_index"] == 0
    for event in result.events:
        validate(event)
    schema_check.check_event_sequence(result.events)


def test_reasoning_field_of_vllm_is_read_too() -> None:
    result = run(Case([chunk(reasoning="hmm"), chunk(content="ok"), chunk("stop")]))
    assert [i["type"] for i in result.snapshot["output"]] == ["reasoning", "message"]


def test_sealed_reasoning_becomes_encrypted_content() -> None:
    result = run(CASES["reasoning_then_text"], seal_reasoning=lambda r: f"sealed:{r.text}")
    assert result.snapshot["output"][0]["encrypted_content"] == "sealed:thinking"


def test_think_tags_split_across_chunks_become_a_reasoning_item() -> None:
    chunks = [chunk(content="<thi"), chunk(content="nk>\nplan"), chunk(content=" it</th"),
              chunk(content="ink>\nAnswer"), chunk("stop")]
    output = run(Case(chunks), think_tags=True).snapshot["output"]
    assert [(i["type"], i["content"][0]["text"]) for i in output] == [
        ("reasoning", "plan it"), ("message", "Answer")]


# -- tool calls -----------------------------------------------------------------------------


def test_call_split_over_chunks_streams_its_arguments() -> None:
    result = run(CASES["one_call_split"])
    assert [e["delta"] for e in result.of("response.function_call_arguments.delta")] == [
        '{"ci', 'ty":"Paris"}']
    done = result.of("response.function_call_arguments.done")
    assert [(e["item_id"], e["name"], e["arguments"]) for e in done] == [
        ("fc_0", "get_weather", '{"city":"Paris"}')]
    assert result.snapshot["output"] == [{
        "id": "fc_0", "type": "function_call", "status": "completed", "call_id": "call_a",
        "name": "get_weather", "arguments": '{"city":"Paris"}'}]


@pytest.mark.parametrize("name", ["two_calls_in_later_chunks", "two_calls_in_one_chunk"])
def test_two_calls_become_two_items(name: str) -> None:
    result = run(CASES[name])
    assert [(i["id"], i["call_id"], i["arguments"]) for i in result.snapshot["output"]] == [
        ("fc_0", "call_a", '{"city":"Paris"}'), ("fc_1", "call_b", '{"city":"Rome"}')]
    assert [e["output_index"] for e in result.of("response.output_item.added")] == [0, 1]


def test_repeated_id_and_name_do_not_duplicate_the_call() -> None:
    result = run(CASES["repeated_id_and_name"])
    assert len(result.of("response.output_item.added")) == 1
    assert result.snapshot["output"][0]["arguments"] == '{"city":"Paris"}'


def test_text_before_and_after_a_call_are_separate_messages() -> None:
    output = run(CASES["text_call_text"]).snapshot["output"]
    assert [(i["type"], i["id"]) for i in output] == [
        ("message", "msg_0"), ("function_call", "fc_0"), ("message", "msg_1")]
    assert [output[0]["content"][0]["text"], output[2]["content"][0]["text"]] == [
        "Checking.", "Done."]


def test_custom_tool_call_is_unwrapped_into_a_custom_tool_call_item() -> None:
    result = run(CASES["custom_tool_call"])
    patch = "*** Begin Patch\n*** End Patch\n"
    assert result.snapshot["output"] == [{
        "id": "ctc_0", "type": "custom_tool_call", "status": "completed", "call_id": "call_p",
        "name": "apply_patch", "input": patch}]
    assert [e["delta"] for e in result.of("response.custom_tool_call_input.delta")] == [patch]
    assert [e["input"] for e in result.of("response.custom_tool_call_input.done")] == [patch]
    assert not result.of("response.function_call_arguments.delta")


def test_custom_tool_input_that_is_not_json_is_kept_raw() -> None:
    result = run(Case([chunk(tool_calls=[call(0, "call_p", "apply_patch", "*** Begin Patch")])],
                      TOOLS))
    assert result.snapshot["output"][0]["input"] == "*** Begin Patch"

def test_namespace_call_gets_its_original_name_and_namespace() -> None:
    item = run(CASES["namespace_call"]).snapshot["output"][0]
    assert (item["type"], item["name"], item["namespace"]) == ("function_call", "lookup", "ns")


def test_call_without_id_gets_a_minted_call_id() -> None:
    result = run(Case([chunk(tool_calls=[call(0, None, "get_weather", "{}")])], TOOLS))
    assert result.snapshot["output"][0]["call_id"] == "call_0"


def test_index_less_calls_in_separate_chunks_are_separate_items() -> None:
    # Gemini sends parallel calls without `index`, one per chunk (openai/openai-python#2806):
    # a new id is a new call.
    result = run(Case([chunk(tool_calls=[call(None, "call_a", "get_weather", '{"city":"A"}')]),
                       chunk(tool_calls=[call(None, "call_b", "get_weather", '{"city":"B"}')]),
                       chunk("tool_calls")], TOOLS))
    assert [(i["call_id"], i["arguments"]) for i in result.snapshot["output"]] == [
        ("call_a", '{"city":"A"}'), ("call_b", '{"city":"B"}')]


# -- incomplete endings -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "reason"), [("length", "max_output_tokens"),
                                              ("content_filter", "content_filter"),
                                              ("length_in_call", "max_output_tokens")])
def test_cut_off_stream_ends_incomplete(name: str, reason: str) -> None:
    result = run(CASES[name])
    assert result.types[-1] == "response.incomplete"
    assert result.snapshot["status"] == "incomplete"
    assert result.snapshot["incomplete_details"] == {"reason": reason}
    assert result.snapshot["completed_at"] is None
    assert result.of("response.output_item.done")[-1]["item"]["status"] == "incomplete"
    assert result.snapshot["output"][-1]["status"] == "incomplete"


def test_refusal_is_a_refusal_part() -> None:
    result = run(CASES["refusal"])
    assert [e["delta"] for e in result.of("response.refusal.delta")] == ["I can't", " help."]
    assert [e["refusal"] for e in result.of("response.refusal.done")] == ["I can't help."]
    assert result.of("response.content_part.added")[0]["part"] == {"type": "refusal",
                                                                  "refusal": ""}
    assert result.snapshot["output"][0]["content"] == [{"type": "refusal",
                                                        "refusal": "I can't help."}]


def test_text_then_refusal_are_two_parts_of_one_message() -> None:
    result = run(Case([chunk(content="Sure"), chunk(refusal="no"), chunk("stop")]))
    assert [p["type"] for p in result.snapshot["output"][0]["content"]] == ["output_text",
                                                                             "refusal"]
    assert [e["content_index"] for e in result.of("response.content_part.added")] == [0, 1]


def test_empty_completion_has_no_output() -> None:
    result = run(CASES["empty"])
    assert (result.snapshot["output"], result.snapshot["status"]) == ([], "completed")


# -- non-streaming: one whole completion --------------------------------------------------


@pytest.mark.parametrize("name", NON_STREAMING)
def test_whole_completion_gives_the_same_snapshot_as_its_stream(name: str) -> None:
    chunks, whole = NON_STREAMING[name]
    streamed = run(Case(chunks, TOOLS)).snapshot
    assert run(Case([whole], TOOLS)).snapshot == streamed
    schema_check.validate_response(streamed)


# -- failure mid-stream ---------------------------------------------------------------------


def test_failure_mid_message_closes_the_item_incomplete() -> None:
    result = run(CASES["failed_mid_message"])
    assert result.types[-5:] == ["response.output_text.done", "response.content_part.done",
                                 "response.output_item.done", "error", "response.failed"]
    item = result.of("response.output_item.done")[0]["item"]
    assert (item["status"], item["content"][0]["text"]) == ("incomplete", "Hel")


def test_error_event_has_nested_and_flat_fields() -> None:
    error = run(CASES["failed_mid_message"]).of("error")[0]
    assert error["error"] == {"type": "upstream_error", "code": "upstream_unavailable",
                              "message": "upstream 'x' reset the stream", "param": None}
    assert (error["code"], error["message"], error["param"]) == (
        "upstream_unavailable", "upstream 'x' reset the stream", None)


def test_failed_response_carries_code_and_message() -> None:
    snapshot = run(CASES["failed_mid_message"]).snapshot
    assert snapshot["status"] == "failed"
    # response.error.code takes only the API's own codes (the SDK's ResponseError enum); our
    # specific code stays on the `error` event.
    assert snapshot["error"] == {"code": "server_error",
                                 "message": "upstream 'x' reset the stream"}
    assert snapshot["output"][0]["status"] == "incomplete"


@pytest.mark.parametrize(("status", "code"), [(429, "rate_limit_exceeded"),
                                              (400, "invalid_prompt"), (404, "server_error")])
def test_failed_response_code_follows_the_upstream_status(status: int, code: str) -> None:
    error = UpstreamStatus("provider said no", status=status)
    assert run(Case([chunk(content="a")], error=error)).snapshot["error"]["code"] == code


def test_failure_before_any_output_still_sends_in_progress_first() -> None:
    assert run(CASES["failed_before_output"]).types == [
        "response.created", "response.in_progress", "error", "response.failed"]


@pytest.mark.parametrize("end", ["feed", "finish", "fail"])
def test_driving_the_stream_after_its_terminal_event_raises(end: str) -> None:
    stream = new_stream()
    stream.feed(chunk(content="a"))
    stream.fail(UpstreamUnavailable("gone"))
    assert stream.phase is Phase.DONE
    with pytest.raises(StreamStateError):
        if end == "feed":
            stream.feed(chunk(content="b"))
        elif end == "finish":
            stream.finish(completed_at=COMPLETED_AT)
        else:
            stream.fail(UpstreamUnavailable("again"))


# -- the oracles are not vacuous ------------------------------------------------------------


def test_oracles_reject_a_delta_without_its_item_id() -> None:
    event = {**run(CASES["text"]).of("response.output_text.delta")[0]}
    del event["item_id"]
    with pytest.raises(AssertionError, match="ResponseTextDeltaEvent"):
        schema_check.sdk_validate_event(event)
    with pytest.raises(AssertionError, match="Open Responses"):
        schema_check.open_responses_validate_event(event)


def test_oracles_reject_a_response_without_output() -> None:
    snapshot = {k: v for k, v in run(CASES["text"]).snapshot.items() if k != "output"}
    with pytest.raises(AssertionError, match="openai SDK"):
        schema_check.sdk_validate_response(snapshot)
    with pytest.raises(AssertionError, match="ResponseResource"):
        schema_check.open_responses_validate_response(snapshot)


def test_sequence_check_rejects_a_gap_and_an_item_id_change() -> None:
    events = run(CASES["text"]).events
    with pytest.raises(AssertionError, match="sequence_number"):
        schema_check.check_event_sequence(events[:3] + events[4:])
    changed = [*events[:-2], {**events[-2], "item": {**events[-2]["item"], "id": "msg_x"}},
               events[-1]]
    with pytest.raises(AssertionError, match="differs from the added one"):
        schema_check.check_event_sequence(changed)


# -- parallel calls streamed interleaved (peers.md §4 item 12) ---------------------------


INTERLEAVED = [
    chunk(tool_calls=[call(0, "call_a", "get_weather", '{"city":')]),
    chunk(tool_calls=[call(1, "call_b", "get_time", '{"zone":')]),
    chunk(tool_calls=[call(0, arguments='"Paris"}')]),
    chunk(tool_calls=[call(1, arguments='"CET"}')]),
    chunk("tool_calls"),
]


def test_interleaved_parallel_calls_become_two_whole_items() -> None:
    result = run(Case(INTERLEAVED, body=TOOLS))
    calls = [(i["call_id"], i["name"], i["arguments"]) for i in result.snapshot["output"]]
    assert calls == [("call_a", "get_weather", '{"city":"Paris"}'),
                     ("call_b", "get_time", '{"zone":"CET"}')]
    done = [e["item"] for e in result.of("response.output_item.done")]
    assert done == result.snapshot["output"]
    schema_check.check_event_sequence(result.events)
    for event in result.events:
        schema_check.validate_event(event)


def test_interleaved_call_that_keeps_streaming_after_promotion() -> None:
    # call 0 completes, call 1 (held back) is promoted and then streams live; a third call
    # starting while call 1 is incomplete waits in turn.
    chunks = [
        chunk(tool_calls=[call(0, "call_a", "get_weather", '{"city":')]),
        chunk(tool_calls=[call(1, "call_b", "get_time", '{"zo')]),
        chunk(tool_calls=[call(0, arguments='"Rome"}')]),
        chunk(tool_calls=[call(2, "call_c", "get_weather", '{"city":"Oslo"}')]),
        chunk(tool_calls=[call(1, arguments='ne":"UTC"}')]),
        chunk("tool_calls"),
    ]
    result = run(Case(chunks, body=TOOLS))
    calls = [(i["call_id"], i["arguments"]) for i in result.snapshot["output"]]
    assert calls == [("call_a", '{"city":"Rome"}'), ("call_b", '{"zone":"UTC"}'),
                     ("call_c", '{"city":"Oslo"}')]
    schema_check.check_event_sequence(result.events)


def test_stray_delta_for_a_finished_call_is_ignored() -> None:
    chunks = [
        chunk(tool_calls=[call(0, "call_a", "get_weather", '{"city":"Rome"}')]),
        chunk(tool_calls=[call(1, "call_b", "get_weather", '{"city":"Oslo"}')]),
        chunk(tool_calls=[call(0, arguments="")]),  # a trailing empty delta for call 0
        chunk("tool_calls"),
    ]
    result = run(Case(chunks, body=TOOLS))
    assert [(i["call_id"], i["name"]) for i in result.snapshot["output"]] == [
        ("call_a", "get_weather"), ("call_b", "get_weather")]
