"""protocol/sse.py: the incremental SSE decoder (upstream chunks) and our event framing."""

from __future__ import annotations

from pathlib import Path

import orjson

from responses_gateway.protocol.sse import DONE_FRAME, SseDecoder, encode_event

CLIENTS = Path(__file__).parent.parent / "fixtures" / "clients"

# One of each shape a chat provider sends: plain JSON, a keep-alive comment, an `event:`
# line, a two-byte UTF-8 character (so some splits fall inside it), multi-line data, [DONE].
STREAM = (
    b'data: {"id":"c1","choices":[]}\n\n'
    b": keep-alive\n\n"
    b'event: message\nid: 7\nretry: 100\ndata: {"text":"caf\xc3\xa9"}\n\n'
    b"data: first line\ndata: second line\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = ['{"id":"c1","choices":[]}', '{"text":"café"}', "first line\nsecond line", "[DONE]"]


def decode(pieces: list[bytes]) -> list[str]:
    decoder = SseDecoder()
    out: list[str] = []
    for piece in pieces:
        out += decoder.feed(piece)
    return out + decoder.flush()


def test_whole_stream_in_one_chunk() -> None:
    assert decode([STREAM]) == EXPECTED


def test_split_at_every_byte_offset_gives_the_same_events() -> None:
    for offset in range(len(STREAM) + 1):
        assert decode([STREAM[:offset], STREAM[offset:]]) == EXPECTED, f"split at {offset}"


def test_fed_byte_by_byte_gives_the_same_events() -> None:
    assert decode([STREAM[i:i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_crlf_line_endings_split_at_every_offset() -> None:
    # Splits fall between the CR and the LF of a line ending too.
    crlf = STREAM.replace(b"\n", b"\r\n")
    for offset in range(len(crlf) + 1):
        assert decode([crlf[:offset], crlf[offset:]]) == EXPECTED, f"split at {offset}"


def test_crlf_fed_byte_by_byte() -> None:
    crlf = STREAM.replace(b"\n", b"\r\n")
    assert decode([crlf[i:i + 1] for i in range(len(crlf))]) == EXPECTED


def test_event_is_returned_as_soon_as_its_blank_line_arrives() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == ["a"]


def test_comment_lines_produce_no_event() -> None:
    assert decode([b": ping\n\n: another comment\n\n"]) == []


def test_comment_inside_an_event_is_ignored() -> None:
    assert decode([b"data: a\n: comment\ndata: b\n\n"]) == ["a\nb"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode([b"data: {\ndata:   \"k\": 1\ndata: }\n\n"]) == ['{\n  "k": 1\n}']


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert decode([b"data:x\n\ndata:  y\n\n"]) == ["x", " y"]


def test_empty_data_line_is_an_empty_event() -> None:
    assert decode([b"data:\n\n"]) == [""]


def test_blank_lines_without_data_produce_no_event() -> None:
    assert decode([b"\n\n\r\n\n", b"event: ping\n\n"]) == []


def test_flush_returns_last_event_without_blank_line() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b'data: {"last":true}') == []
    assert decoder.flush() == ['{"last":true}']


def test_flush_returns_last_event_ended_by_a_single_newline() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: tail\r\n") == []
    assert decoder.flush() == ["tail"]


def test_flush_of_an_empty_decoder_returns_nothing() -> None:
    assert SseDecoder().flush() == []


def test_flush_does_not_repeat_events_already_returned() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\n\n") == ["a"]
    assert decoder.flush() == []


def test_large_data_line_split_into_many_chunks() -> None:
    # One tool-call chunk can exceed a line reader's limit (DESIGN §3): no line limit here.
    payload = orjson.dumps({"arguments": "x" * 200_000})
    frame = b"data: " + payload + b"\n\n"
    pieces = [frame[i:i + 4096] for i in range(0, len(frame), 4096)]
    assert decode(pieces) == [payload.decode()]


def test_real_capture_split_at_every_offset_decodes_every_event() -> None:
    raw = (CLIENTS / "sse-example-message.sse.txt").read_bytes()
    expected = decode([raw])
    assert len(expected) == raw.count(b"\nevent: ") + 1
    assert [orjson.loads(d)["type"] for d in expected][0] == "response.created"
    for offset in range(0, len(raw) + 1, 7):
        assert decode([raw[:offset], raw[offset:]]) == expected, f"split at {offset}"


def test_encode_event_has_event_line_equal_to_type_and_json_data_line() -> None:
    event = {"type": "response.output_text.delta", "sequence_number": 4, "delta": "a\nb"}
    frame = encode_event(event)
    assert frame.endswith(b"\n\n")
    lines = frame[:-2].split(b"\n")
    assert lines[0] == b"event: response.output_text.delta"
    assert lines[1].startswith(b"data: ")
    assert orjson.loads(lines[1][len(b"data: "):]) == event
    assert len(lines) == 2  # a newline inside a value is escaped, never a raw line break


def test_encode_event_round_trips_through_the_decoder() -> None:
    event = {"type": "response.completed", "sequence_number": 9, "response": {"id": "r"}}
    assert decode([encode_event(event)]) == [orjson.dumps(event).decode()]


def test_done_frame_decodes_to_done() -> None:
    assert decode([DONE_FRAME]) == ["[DONE]"]
