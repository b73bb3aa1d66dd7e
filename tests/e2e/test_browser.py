"""Issue 12 item 4: a gateway without client keys refuses what web pages could make it do.

Cross-site WebSocket hijacking (a foreign Origin on the upgrade), cross-site POSTs (a foreign
Origin, or a `text/plain` / form body) and DNS rebinding (a foreign Host). `--allowed-origin`
and `--allowed-host` let named ones in; a gateway with client keys needs none of this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import httpx2
import orjson
import pytest

from e2e_support import GATEWAY_KEY, UPSTREAM_KEY, MockLog, Server, free_port

BODY = orjson.dumps({"model": "mock-echo", "input": "hi"})
JSON = {"Content-Type": "application/json"}


def _post(server: Server, headers: dict[str, str], body: bytes = BODY) -> httpx2.Response:
    return httpx2.post(server.url + "/v1/responses", content=body, headers=headers, timeout=30)


def _upgrade(server: Server, headers: dict[str, str]) -> int:
    """The status of a WebSocket upgrade of /v1/responses (101 when accepted)."""
    async def attempt() -> int:
        url = server.url.replace("http://", "ws://") + "/v1/responses"
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status
    return asyncio.run(attempt())


@pytest.mark.parametrize("origin", ["https://evil.example", "null",
                                    "http://localhost.evil.example:8000"])
def test_websocket_from_a_foreign_origin_is_refused(gateway: Server, origin: str) -> None:
    assert _upgrade(gateway, {"Origin": origin}) == 403


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:5173",
                                    "http://[::1]:8080"])
def test_websocket_from_a_loopback_origin_or_none_is_accepted(gateway: Server,
                                                             origin: str) -> None:
    assert _upgrade(gateway, {"Origin": origin}) == 101
    assert _upgrade(gateway, {}) == 101  # not a browser: no Origin at all


def test_post_from_a_foreign_origin_is_403_and_not_sent_upstream(
        gateway: Server, mock_log: MockLog) -> None:
    response = _post(gateway, {**JSON, "Origin": "https://evil.example"})
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "origin_not_allowed"
    assert "--allowed-origin" in error["message"]
    assert mock_log.chat_requests() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_bodies_that_need_no_cors_preflight_are_415(gateway: Server, mock_log: MockLog,
                                                    content_type: str) -> None:
    response = _post(gateway, {"Content-Type": content_type})
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert mock_log.chat_requests() == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "localhost.evil.example"])
def test_a_foreign_host_is_refused_against_dns_rebinding(gateway: Server, mock_log: MockLog,
                                                         host: str) -> None:
    response = _post(gateway, {**JSON, "Host": host})
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "host_not_allowed"
    assert "--allowed-host" in error["message"]
    assert mock_log.chat_requests() == []
    assert httpx2.get(gateway.url + "/v1/models", headers={"Host": host},
                      timeout=30).status_code == 403
    # Health checks (load balancers) may use any name.
    assert httpx2.get(gateway.url + "/health", headers={"Host": host}, timeout=30)\
        .status_code == 200


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]:9", "api.localhost"])
def test_loopback_hosts_and_json_with_charset_are_served(gateway: Server, host: str) -> None:
    response = _post(gateway, {"Content-Type": "application/json; charset=utf-8",
                               "Host": host, "Origin": "http://localhost:3000"})
    assert response.status_code == 200, response.text


def test_named_origins_and_hosts_can_be_allowed(spawn_server: Callable[..., Server],
                                                mock_provider: Server) -> None:
    port = free_port()
    server = spawn_server("browser-gateway", [
        "--base-url", f"{mock_provider.url}/v1", "--upstream-api-key", UPSTREAM_KEY,
        "--port", str(port), "--store", "none",
        "--allowed-origin", "https://app.example", "--allowed-host", "gw.internal",
    ], "/health", port=port)
    assert _post(server, {**JSON, "Host": f"gw.internal:{port}",
                          "Origin": "https://app.example"}).status_code == 200
    assert _upgrade(server, {"Origin": "https://app.example"}) == 101
    assert _post(server, {**JSON, "Origin": "https://other.example"}).status_code == 403
    assert _post(server, {**JSON, "Host": "other.internal"}).status_code == 403


def test_a_gateway_with_client_keys_leaves_browsers_to_the_key(secured_gateway: Server) -> None:
    headers = {**JSON, "Authorization": f"Bearer {GATEWAY_KEY}",
               "Origin": "https://app.example", "Host": "gateway.example"}
    assert _post(secured_gateway, headers).status_code == 200
    refused = _post(secured_gateway, {**JSON, "Origin": "https://evil.example"})
    assert refused.status_code == 401  # no key: the page gets nothing
