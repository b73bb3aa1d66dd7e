"""protocol/queries.py: the query parameters of the retrieval routes."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.protocol.queries import ListQuery, parse_list_query, parse_replay_query


def query(text: str) -> "MultiDict[str]":
    pairs = [tuple(p.split("=", 1)) for p in text.split("&") if p]
    return MultiDict(pairs)  # type: ignore[arg-type]


def test_defaults() -> None:
    assert parse_list_query(query("")) == ListQuery(limit=20, order="desc", after=None)
    assert parse_replay_query(query("")) == (False, -1)


def test_values() -> None:
    assert parse_list_query(query("limit=100&order=asc&after=msg_1&include[]="
                                  "reasoning.encrypted_content")) == \
        ListQuery(limit=100, order="asc", after="msg_1")
    assert parse_replay_query(query("stream=true&starting_after=7")) == (True, 7)
    assert parse_replay_query(query("stream=0")) == (False, -1)


@pytest.mark.parametrize("text, param, code", [
    ("limit=0", "limit", "integer_below_min_value"),
    ("limit=101", "limit", "integer_above_max_value"),
    ("limit=1e3", "limit", "invalid_type"),
    ("limit=" + "9" * 10_000, "limit", "integer_above_max_value"),
    ("limit=-" + "9" * 10_000, "limit", "integer_below_min_value"),
    ("limit=٣", "limit", "invalid_type"),  # a digit, but not an ASCII one
    ("order=up", "order", "invalid_value"),
    ("include=x", "include[0]", "invalid_value"),
    ("after=" + "a" * 257, "after", "string_above_max_length"),
])
def test_bad_list_query(text: str, param: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_list_query(query(text))
    assert (info.value.param, info.value.code) == (param, code)
    assert len(info.value.message) < 400  # a huge value is not echoed whole


@pytest.mark.parametrize("text, param", [
    ("starting_after=9223372036854775808", "starting_after"),
    ("starting_after=-1", "starting_after"),
    ("starting_after=x", "starting_after"),
    ("stream=yes", "stream"),
])
def test_bad_replay_query(text: str, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_replay_query(query(text))
    assert info.value.param == param


def test_the_largest_sequence_number_is_accepted() -> None:
    assert parse_replay_query(query("starting_after=9223372036854775807")) == \
        (False, 2**63 - 1)
