"""Property tests, in process: what validation accepts, translation can carry (issue 12 item 5).

The e2e twin (tests/e2e/test_properties.py) checks the same schema against the real
processes; this one is cheap, so it runs more examples and every provider profile.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from request_strategies import examples, invalid_cases, valid_bodies, wild_bodies, wild_items

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.protocol.items import check_items
from responses_gateway.protocol.requests import parse_create_request
from responses_gateway.providers import PROFILES
from responses_gateway.translate.to_chat import to_chat_request


def _translate(body: dict[str, Any], profile: str = "generic") -> None:
    request = parse_create_request(orjson.dumps(body))
    chat = to_chat_request(request, PROFILES[profile])
    orjson.dumps(chat.body)  # what goes upstream can be written


@examples(200)
@given(valid_bodies(), st.sampled_from(sorted(PROFILES)))
def test_valid_bodies_are_accepted_and_translated(body: dict[str, Any], profile: str) -> None:
    _translate(body, profile)


@examples(200)
@given(invalid_cases())
def test_one_invalid_field_is_a_400_naming_it(case: tuple[dict[str, Any], str]) -> None:
    body, param = case
    with pytest.raises(InvalidRequest) as info:
        parse_create_request(orjson.dumps(body))
    assert info.value.param == param, info.value


@examples(200)
@given(wild_bodies())
def test_anything_is_accepted_or_a_400(body: dict[str, Any]) -> None:
    try:
        _translate(body)
    except InvalidRequest as exc:
        assert exc.status == 400 and exc.param != ""


@examples(200)
@given(st.lists(wild_items(), min_size=1, max_size=3))
def test_items_that_pass_validation_translate(items: list[Any]) -> None:
    """Conversation items are checked with check_items at add time; a later turn sends them
    as input. Whatever passes the check must translate, or the conversation is broken."""
    try:
        check_items(items, "items")
    except InvalidRequest:
        return
    _translate({"model": "m", "input": [*items, {"role": "user", "content": "next"}]})
