"""protocol/errors.py: error classes, their HTTP statuses and OpenAI-style bodies."""

from __future__ import annotations

import pytest

from responses_gateway.protocol.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
)


def test_to_body_has_the_openai_error_shape() -> None:
    error = InvalidRequest("Bad temperature.", param="temperature", code="invalid_type")
    assert error.to_body() == {"error": {"message": "Bad temperature.",
                                         "type": "invalid_request_error",
                                         "param": "temperature", "code": "invalid_type"}}


def test_to_body_keeps_null_param_and_code() -> None:
    assert InvalidRequest("x").to_body()["error"] == {
        "message": "x", "type": "invalid_request_error", "param": None, "code": None}


@pytest.mark.parametrize(
    ("cls", "status", "type_", "code"),
    [
        (GatewayError, 500, "server_error", None),
        (InvalidRequest, 400, "invalid_request_error", None),
        (AuthenticationFailed, 401, "invalid_request_error", "invalid_api_key"),
        (NotFound, 404, "invalid_request_error", "not_found"),
        (MethodNotAllowed, 405, "invalid_request_error", "method_not_allowed"),
        (UpstreamError, 502, "upstream_error", "upstream_error"),
        (UpstreamUnavailable, 502, "upstream_error", "upstream_unavailable"),
        (UpstreamTimeout, 504, "timeout_error", "upstream_timeout"),
        (UpstreamProtocolError, 502, "upstream_error", "upstream_protocol_error"),
    ],
)
def test_status_type_and_default_code(cls: type[GatewayError], status: int, type_: str,
                                      code: str | None) -> None:
    error = cls("message")
    assert (error.status, error.type, error.code) == (status, type_, code)
    assert error.to_body()["error"]["type"] == type_


def test_explicit_code_overrides_the_default() -> None:
    assert NotFound("gone", code="response_not_found").code == "response_not_found"


def test_message_is_the_exception_text() -> None:
    assert str(UpstreamTimeout("upstream 'ds' did not answer")) == "upstream 'ds' did not answer"


@pytest.mark.parametrize(
    "cls", [UpstreamStatus, UpstreamUnavailable, UpstreamTimeout, UpstreamProtocolError])
def test_upstream_errors_share_a_base(cls: type[GatewayError]) -> None:
    assert issubclass(cls, UpstreamError)
    assert issubclass(cls, GatewayError)


def test_upstream_status_keeps_status_type_and_retry_after() -> None:
    error = UpstreamStatus("Slow down.", status=429, retry_after="3")
    assert (error.status, error.type, error.retry_after) == (429, "rate_limit_error", "3")
    assert error.to_body()["error"]["message"] == "Slow down."


def test_upstream_status_keeps_the_providers_type_param_and_code() -> None:
    error = UpstreamStatus("no such model", status=404, type="invalid_request_error",
                           param="model", code="model_not_found")
    assert error.to_body() == {"error": {"message": "no such model",
                                         "type": "invalid_request_error",
                                         "param": "model", "code": "model_not_found"}}
    assert error.status == 404


@pytest.mark.parametrize(
    ("status", "type_"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
     (404, "not_found_error"), (429, "rate_limit_error"), (418, "invalid_request_error")],
)
def test_upstream_status_type_follows_the_status(status: int, type_: str) -> None:
    assert UpstreamStatus("m", status=status).type == type_


def test_upstream_status_without_retry_after_has_none() -> None:
    assert UpstreamStatus("m", status=400).retry_after is None


def test_upstream_status_does_not_change_the_class_status() -> None:
    UpstreamStatus("m", status=429)
    assert UpstreamStatus.status == 502
    assert UpstreamError("m").status == 502


def test_repr_shows_message_param_and_code() -> None:
    error = InvalidRequest("bad", param="stop", code="invalid_type")
    assert repr(error) == "InvalidRequest('bad', param='stop', code='invalid_type')"
