"""Logprobs end to end (issue 10 item 5): the openai SDK asks with `include` and
`top_logprobs`, the fake provider answers with token logprobs, and they come back on the
`output_text` parts, streamed and not."""

from __future__ import annotations

import httpx2
import openai
from e2e_support import MockLog, checked_stream, post_stream

INCLUDE = ["message.output_text.logprobs"]


def test_logprobs_on_output_text_non_streaming(client: openai.OpenAI, mock_log: MockLog) -> None:
    response = client.responses.create(model="mock-echo", input="hello there",
                                       include=INCLUDE, top_logprobs=2)  # type: ignore[list-item]

    body = mock_log.last_body()
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    (part,) = response.output[0].content  # type: ignore[union-attr]
    assert part.type == "output_text"
    logprobs = part.logprobs or []
    assert "".join(entry.token for entry in logprobs) == part.text == "You said: hello there"
    assert all(len(entry.top_logprobs) == 2 for entry in logprobs)
    assert all(entry.top_logprobs[0].token == entry.token for entry in logprobs)


def test_logprobs_streamed_on_deltas_and_the_final_part(http: httpx2.Client,
                                                        mock_log: MockLog) -> None:
    response, frames = post_stream(http, {"model": "mock-echo", "input": "hello there",
                                          "stream": True, "include": INCLUDE})
    events = checked_stream(response, frames)

    assert mock_log.last_body()["logprobs"] is True
    assert "top_logprobs" not in mock_log.last_body()
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert all(len(d["logprobs"]) == 1 and d["logprobs"][0]["token"] == d["delta"]
               for d in deltas), deltas
    part = events[-1]["response"]["output"][0]["content"][0]
    assert [e["token"] for e in part["logprobs"]] == [d["delta"] for d in deltas]
    assert all(e["top_logprobs"] == [] for e in part["logprobs"])


def test_python_stream_helper_keeps_logprobs(client: openai.OpenAI) -> None:
    with client.responses.stream(model="mock-echo", input="hi", include=INCLUDE,  # type: ignore[list-item]
                                 top_logprobs=1) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    part = final.output[0].content[0]  # type: ignore[union-attr]
    assert "".join(e.token for e in part.logprobs or []) == "You said: hi"  # type: ignore[union-attr]


def test_without_include_nothing_is_asked_or_returned(client: openai.OpenAI,
                                                      mock_log: MockLog) -> None:
    response = client.responses.create(model="mock-echo", input="hi")
    assert "logprobs" not in mock_log.last_body()
    assert response.output[0].content[0].logprobs == []  # type: ignore[union-attr]
