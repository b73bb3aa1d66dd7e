"""Guards against web pages reaching a gateway that requires no client key.

A local gateway without `--api-key` trusts whoever can connect, and a browser on the same
machine can connect for any web page it shows. Three attacks follow, each refused here:

- cross-site WebSocket hijacking: a page opens `ws://127.0.0.1:8000/v1/responses` (browsers
  send its `Origin`, which must then be loopback or allowed with `--allowed-origin`);
- cross-site POSTs: a form or a `text/plain` fetch needs no CORS preflight, so it reaches
  the gateway; it carries an `Origin` too, and any body that is not `application/json` is
  refused with 415 (an absent Content-Type is accepted: plain HTTP clients omit it, and a
  browser sending one still shows its Origin);
- DNS rebinding: `evil.example` resolved to 127.0.0.1 makes the page same-origin, but its
  requests carry `Host: evil.example`, which must be the listen address, a loopback name or a
  name given with `--allowed-host`.

With client keys the checks are off: a page cannot present a key it does not have.
Health checks are exempt, so a load balancer may use any Host.
"""

from __future__ import annotations

import ipaddress
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from .config import Settings
from .protocol.errors import Forbidden, InvalidRequest

__all__ = ["BrowserPolicy", "browser_middleware", "browser_policy_key"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_EXEMPT = frozenset({"/health", "/healthz"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CACHE = 64  # Host / Origin values remembered as allowed (they rarely vary)


class BrowserPolicy:
    """Which Host and Origin values a keyless gateway serves; built once per app."""

    __slots__ = ("_allowed", "_any_ip", "_hosts", "_listen", "_origins", "active")

    def __init__(self, settings: Settings) -> None:
        self.active = not settings.api_keys
        listen = settings.host.strip("[]").lower()
        self._listen = listen
        self._any_ip = listen in _WILDCARDS
        self._hosts = frozenset({listen, *_LOOPBACK_NAMES,
                                 *(h.strip("[]").lower() for h in settings.allowed_hosts)})
        self._origins = frozenset(o.rstrip("/").lower() for o in settings.allowed_origins)
        self._allowed: set[str] = set()  # raw header values already found fine

    def check(self, request: web.Request) -> None:
        headers = request.headers
        host = headers.get("Host")
        if host is not None and host not in self._allowed:
            if not self._host_ok(host):
                raise Forbidden(
                    f"Host '{_shown(host)}' is not served: without client keys (--api-key) "
                    "the gateway answers only for its listen address and loopback names, "
                    "against DNS rebinding. Add the name with --allowed-host.",
                    code="host_not_allowed")
            self._remember(host)
        origin = headers.get("Origin")
        if origin is not None and origin not in self._allowed:
            if not self._origin_ok(origin, host):
                raise Forbidden(
                    f"Origin '{_shown(origin)}' is not allowed: without client keys "
                    "(--api-key) the gateway serves web pages only from loopback origins. "
                    "Allow this one with --allowed-origin.", code="origin_not_allowed")
            self._remember(origin)
        if request.method in _BODY_METHODS and "Content-Type" in headers \
                and request.content_type != "application/json":
            error = InvalidRequest(
                f"Content-Type '{_shown(request.content_type)}' is not accepted; send the "
                "body as application/json.", code="unsupported_media_type")
            error.status = 415
            raise error

    def _remember(self, value: str) -> None:
        if len(self._allowed) < _CACHE:
            self._allowed.add(value)

    def _host_ok(self, host: str) -> bool:
        name = _hostname(host)
        if name is None:
            return False
        if name in self._hosts or name.endswith(".localhost") or _is_loopback(name):
            return True
        # Listening on every interface: any address literal names this machine, and
        # rebinding needs a DNS name, so only names must be listed.
        return self._any_ip and _is_ip(name)

    def _origin_ok(self, origin: str, host: str | None) -> bool:
        normal = origin.rstrip("/").lower()
        if normal in self._origins or "*" in self._origins:
            return True
        parts = urlsplit(normal)
        if parts.scheme not in ("http", "https"):
            return False  # "null" (sandboxed frames, files) and browser-extension schemes
        name = parts.hostname or ""
        if name in _LOOPBACK_NAMES or name.endswith(".localhost") or _is_loopback(name):
            return True
        # Same origin: a page the gateway itself would serve under an allowed Host.
        return host is not None and parts.netloc == host.lower()


def _hostname(host: str) -> str | None:
    try:
        return urlsplit("//" + host).hostname
    except ValueError:
        return None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _shown(value: str) -> str:
    return value[:100]


browser_policy_key = web.AppKey("responses_gateway.browser_policy", BrowserPolicy)


@web.middleware
async def browser_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    policy = request.app[browser_policy_key]
    if policy.active and request.path not in _EXEMPT:
        policy.check(request)
    return await handler(request)
