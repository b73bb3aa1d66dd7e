"""translate/logprobs.py and the stream's logprobs (issue 10 item 5): `include` /
`top_logprobs` -> chat `logprobs` / `top_logprobs`, and the chat answer's token logprobs ->
`logprobs` on output_text deltas, done events and parts."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

import schema_check
from fixtures.chat_chunks import CASES, Case
from responses_gateway.protocol.requests import parse_create_request
from responses_gateway.providers import PROFILES
from responses_gateway.translate.logprobs import chat_logprobs
from responses_gateway.translate.response import new_response
from responses_gateway.translate.stream import ResponseStream
from responses_gateway.translate.to_chat import to_chat_request

INCLUDE = ["message.output_text.logprobs"]


@dataclasses.dataclass(frozen=True)
class Run:
    events: list[dict[str, Any]]
    snapshot: dict[str, Any]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


def run(case: Case) -> Run:
    request = parse_create_request(orjson.dumps({"model": "m", "input": "hi"}))
    chat = to_chat_request(request, PROFILES["generic"])
    stream = ResponseStream(new_response(request, response_id="resp_0", created_at=1,
                                         tools_echo=[]),
                            tool_map=chat.tool_map, new_id=lambda prefix: f"{prefix}_0")
    events = [e for c in case.chunks for e in stream.feed(c)] + stream.finish(completed_at=2)
    return Run(events, stream.snapshot())


def chat_body(profile: str = "generic", **fields: Any) -> dict[str, Any]:
    request = parse_create_request(orjson.dumps({"model": "m", "input": "hi", **fields}))
    return to_chat_request(request, PROFILES[profile]).body


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, {}),
    ({"include": INCLUDE}, {"logprobs": True}),
    ({"include": INCLUDE, "top_logprobs": 3}, {"logprobs": True, "top_logprobs": 3}),
    ({"top_logprobs": 2}, {"logprobs": True, "top_logprobs": 2}),
    ({"include": INCLUDE, "top_logprobs": 0}, {"logprobs": True}),
    ({"top_logprobs": 0}, {}),
    ({"include": ["reasoning.encrypted_content"]}, {}),
])
def test_include_and_top_logprobs_become_chat_fields(fields: dict[str, Any],
                                                     expected: dict[str, Any]) -> None:
    body = chat_body(**fields)
    assert {k: body[k] for k in ("logprobs", "top_logprobs") if k in body} == expected


def test_a_profile_whose_provider_rejects_logprobs_leaves_them_out() -> None:
    quiet = dataclasses.replace(PROFILES["generic"], logprobs=False)
    request = parse_create_request(orjson.dumps({"model": "m", "input": "hi",
                                                 "include": INCLUDE, "top_logprobs": 2}))
    body = to_chat_request(request, quiet).body
    assert "logprobs" not in body and "top_logprobs" not in body


def test_chat_logprobs_fill_missing_bytes_and_skip_junk() -> None:
    value = {"content": [
        {"token": "é", "logprob": -0.1, "bytes": None,
         "top_logprobs": [{"token": "e", "logprob": -2.0}, "junk"]},
        {"logprob": -1.0},
    ]}
    assert chat_logprobs(value) == [{
        "token": "é", "logprob": -0.1, "bytes": [195, 169],
        "top_logprobs": [{"token": "e", "logprob": -2.0, "bytes": [101]}]}]
    assert chat_logprobs(None) == chat_logprobs({"content": None}) == []


def test_stream_puts_each_chunks_logprobs_on_its_delta_and_all_on_the_part() -> None:
    result = run(CASES["text_with_logprobs"])
    deltas = result.of("response.output_text.delta")
    assert [[e["token"] for e in d["logprobs"]] for d in deltas] == [["Hel"], ["lo", " world"]]
    (done,) = result.of("response.output_text.done")
    (part,) = result.snapshot["output"][0]["content"]
    assert [e["token"] for e in part["logprobs"]] == ["Hel", "lo", " world"]
    assert done["logprobs"] == part["logprobs"]
    assert part["logprobs"][0]["top_logprobs"] == [{"token": "HEL", "logprob": -1.5,
                                                    "bytes": [72, 69, 76]}]
    for event in result.events:
        schema_check.validate_event(event)
    schema_check.validate_response(result.snapshot)


def test_without_logprobs_parts_carry_an_empty_list() -> None:
    result = run(CASES["text"])
    assert result.snapshot["output"][0]["content"][0]["logprobs"] == []
    assert all(d["logprobs"] == [] for d in result.of("response.output_text.delta"))
