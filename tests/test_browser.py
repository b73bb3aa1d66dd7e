"""BrowserPolicy (browser.py): which Host, Origin and Content-Type a keyless gateway serves."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from responses_gateway.browser import BrowserPolicy
from responses_gateway.config import Settings, Upstream
from responses_gateway.protocol.errors import GatewayError

UPSTREAM = Upstream.from_url("http://127.0.0.1:9/v1")


def _check(headers: dict[str, str], method: str = "POST", **settings: object) -> int:
    policy = BrowserPolicy(Settings(upstreams=(UPSTREAM,), **settings))  # type: ignore[arg-type]
    try:
        policy.check(make_mocked_request(method, "/v1/responses", headers=headers))
    except GatewayError as exc:
        return exc.status
    return 200


@pytest.mark.parametrize("headers, status", [
    ({"Host": "127.0.0.1:8000"}, 200),
    ({"Host": "localhost"}, 200),
    ({"Host": "[::1]:8000"}, 200),
    ({"Host": "evil.example"}, 403),
    ({"Host": "127.0.0.1.evil.example"}, 403),
    ({"Host": "127.0.0.1", "Origin": "http://localhost:3000"}, 200),
    ({"Host": "127.0.0.1", "Origin": "https://evil.example"}, 403),
    ({"Host": "127.0.0.1", "Origin": "null"}, 403),
    ({"Host": "127.0.0.1", "Origin": "chrome-extension://abc"}, 403),
    ({"Host": "127.0.0.1", "Content-Type": "text/plain"}, 415),
    ({"Host": "127.0.0.1", "Content-Type": "application/json; charset=utf-8"}, 200),
    ({"Host": "127.0.0.1"}, 200),  # no Content-Type: not a browser form
])
def test_keyless_gateway(headers: dict[str, str], status: int) -> None:
    assert _check(headers) == status


def test_wildcard_listen_accepts_addresses_but_not_names() -> None:
    assert _check({"Host": "192.168.1.5:8000"}, host="0.0.0.0") == 200
    assert _check({"Host": "gateway.lan:8000"}, host="0.0.0.0") == 403
    assert _check({"Host": "gateway.lan:8000"}, host="0.0.0.0",
                  allowed_hosts=("gateway.lan",)) == 200


def test_allowed_origins_and_keys() -> None:
    assert _check({"Origin": "https://app.example/"},
                  allowed_origins=("https://app.example",)) == 200
    # With client keys the middleware skips the policy altogether.
    assert not BrowserPolicy(Settings(upstreams=(UPSTREAM,), api_keys=frozenset({"k"}))).active
    assert BrowserPolicy(Settings(upstreams=(UPSTREAM,))).active
