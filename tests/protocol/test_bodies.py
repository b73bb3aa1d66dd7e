"""protocol/bodies.py: JSON bodies, and nesting the gateway's own writer could not write."""

from __future__ import annotations

import orjson
import pytest

from responses_gateway.protocol.bodies import MAX_JSON_DEPTH, check_depth, parse_json_object
from responses_gateway.protocol.errors import InvalidRequest


def deep(depth: int) -> bytes:
    """A body whose "v" field makes it `depth` levels deep in all."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    return b'{"v": ' + inner + b"}"


def test_the_limit_itself_is_accepted() -> None:
    body = parse_json_object(deep(MAX_JSON_DEPTH))
    orjson.dumps([[[[body]]]])  # and it can be written inside the gateway's own wrappers


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 255, 1024])
def test_deeper_is_a_400_naming_the_field(depth: int) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_json_object(deep(depth))
    assert info.value.param == "v[0][0]"
    assert info.value.code == "nesting_too_deep"


def test_the_path_names_at_most_three_steps() -> None:
    raw = b'{"tools": [{"type": "function", "parameters": ' + b'{"a": ' * 200 + b"1" + \
        b"}" * 200 + b"}]}"
    with pytest.raises(InvalidRequest) as info:
        parse_json_object(raw)
    assert info.value.param == "tools[0].parameters"


def test_many_brackets_side_by_side_are_not_depth() -> None:
    body = parse_json_object(orjson.dumps({"v": [[] for _ in range(5000)]}))
    assert len(body["v"]) == 5000


def test_a_decoded_body_is_checked_too() -> None:
    value: object = "x"
    for _ in range(MAX_JSON_DEPTH + 1):
        value = {"k": value}
    with pytest.raises(InvalidRequest):
        check_depth(value)  # type: ignore[arg-type]


def test_text_is_accepted_like_bytes() -> None:
    assert parse_json_object('{"a": [1]}') == {"a": [1]}


def test_brackets_inside_strings_are_not_depth() -> None:
    text = "[" * 300 + "{" * 300
    assert parse_json_object(orjson.dumps({"v": text})) == {"v": text}


def test_a_decoded_body_at_the_limit_is_accepted_and_one_more_is_not() -> None:
    value: object = "x"
    for _ in range(MAX_JSON_DEPTH - 1):
        value = {"k": value}
    check_depth({"k": value})  # type: ignore[dict-item]
    check_depth({"k": value})  # the padding is reused: a second check sees the same limit
    with pytest.raises(InvalidRequest):
        check_depth({"k": {"k": value}})  # type: ignore[dict-item]
