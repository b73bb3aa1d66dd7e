"""Errors the gateway reports, and their OpenAI-style bodies.

GatewayError                 status, type, code, param, message; to_body() -> {"error": {...}}
├── InvalidRequest           400 invalid_request_error; param names the field
├── AuthenticationFailed     401
├── NotFound                 404
├── MethodNotAllowed         405
├── Forbidden                403: a browser request the gateway does not serve (Origin, Host)
├── TooManyRequests          429 with Retry-After: a per-key concurrency limit
├── StoreUnavailable         503: the response store cannot be reached
└── UpstreamError
    ├── UpstreamStatus       provider 4xx/429 passed through; keeps retry_after
    ├── UpstreamKeyRejected  502 upstream_auth_failed: the provider's 401/403 (the gateway's key)
    ├── UpstreamUnavailable  502: refused, reset, provider 5xx
    ├── UpstreamTimeout      504: no answer in time
    ├── UpstreamBusy         503: no upstream connection slot came free in time
    └── UpstreamProtocolError  502: malformed chunk or body
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationFailed",
    "PermissionDenied",
    "Forbidden",
    "StoreUnavailable",
    "TooManyRequests",
    "UpstreamBusy",
    "UpstreamKeyRejected",
    "GatewayError",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "ServerShuttingDown",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamStatus",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class GatewayError(Exception):
    """Base of every error that is shown to a client as an OpenAI-style error body."""

    status: int = 500
    type: str = "server_error"
    default_code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code

    def to_body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, param={self.param!r}, code={self.code!r})"


class InvalidRequest(GatewayError):
    """The client's request is malformed or asks for something we cannot carry."""

    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    """The client did not present one of the gateway's own API keys."""

    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class NotFound(GatewayError):
    """An unknown path or object id."""

    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class MethodNotAllowed(GatewayError):
    """A known path called with a method it does not serve."""

    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


class ServerShuttingDown(GatewayError):
    """The gateway stopped (SIGTERM) before the response finished."""

    status = 503
    default_code = "server_shutting_down"

    def __init__(self, message: str = "The gateway shut down before the response finished; "
                                      "send the request again.") -> None:
        super().__init__(message)


class Forbidden(GatewayError):
    """A request the gateway refuses to serve from where it came (a browser's Origin, an
    unknown Host, a body that is not JSON)."""

    status = 403
    type = "invalid_request_error"
    default_code = "forbidden"


class PermissionDenied(GatewayError):
    """The client's key may not do this (a model outside the key's `models`)."""

    status = 403
    type = "permission_error"
    default_code = "model_not_allowed"


class TooManyRequests(GatewayError):
    """A per-key concurrency limit is reached; `retry_after` goes out as Retry-After."""

    status = 429
    type = "rate_limit_error"

    def __init__(self, message: str, *, code: str, retry_after: str) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class StoreUnavailable(GatewayError):
    """The response store (Redis, the SQLite file) cannot be reached or written."""

    status = 503
    type = "server_error"
    default_code = "store_unavailable"
    retry_after = "5"


class UpstreamError(GatewayError):
    """Something went wrong between the gateway and the provider."""

    status = 502
    type = "upstream_error"
    default_code = "upstream_error"


class UpstreamStatus(UpstreamError):
    """The provider answered with a 4xx; its status and message are passed through."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.status = status
        self.type = type or _TYPE_BY_STATUS.get(status, "invalid_request_error")
        self.retry_after = retry_after


class UpstreamKeyRejected(UpstreamError):
    """The provider refused the gateway's own key (its 401/403). A 502, not a 401: the
    client's key was fine, and its SDK must not take this for its own key being wrong."""

    status = 502
    default_code = "upstream_auth_failed"


class UpstreamUnavailable(UpstreamError):
    """The provider refused the connection, reset it, or answered with a 5xx."""

    status = 502
    default_code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    """The provider did not answer (or went silent mid-stream) within the configured time."""

    status = 504
    type = "timeout_error"
    default_code = "upstream_timeout"


class UpstreamBusy(UpstreamError):
    """Every pooled upstream connection stayed busy for the whole pool timeout."""

    status = 503
    default_code = "upstream_pool_exhausted"
    retry_after = "1"


class UpstreamProtocolError(UpstreamError):
    """The provider sent a body or stream chunk we could not understand."""

    status = 502
    default_code = "upstream_protocol_error"


_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
