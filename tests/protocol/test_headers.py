"""protocol/headers.py: header values must be UTF-8."""

from __future__ import annotations

import pytest

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.protocol.headers import check_headers


def test_ascii_and_utf8_pass() -> None:
    check_headers([("Authorization", "Bearer k"), ("X-Name", "José 名前")])


def test_undecodable_bytes_are_a_400_naming_the_header() -> None:
    # How aiohttp hands over bytes that are not UTF-8: lone surrogates.
    value = b"Bearer \xff\xfe".decode("utf-8", "surrogateescape")
    with pytest.raises(InvalidRequest) as info:
        check_headers([("Content-Type", "application/json"), ("Authorization", value)])
    assert (info.value.param, info.value.code) == ("authorization", "invalid_header")
