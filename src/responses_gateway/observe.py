"""Per-request observation: the request id, one access-log line per request, and the metrics
that the request feeds.

The middleware opens a `RequestLog` and makes it the current one (a context variable, so a
background run started by the request keeps reporting its tokens to it). Code deeper in the
pipeline reports what only it knows with the `note_*` functions: the routed model and
upstream, the first chunk, the usage, an upstream error. Those are no-ops outside a request.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web

from .accounting import accounting_key
from .metrics import Metrics

__all__ = ["JsonFormatter", "RequestLog", "add_request_id", "current",
           "make_observe_middleware", "note_error", "note_first_token", "note_result",
           "note_route", "request_id_header"]

access_logger = logging.getLogger("responses_gateway.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Any  # aiohttp's middleware protocol; the decorator makes the function one

_current: contextvars.ContextVar[RequestLog | None] = contextvars.ContextVar(
    "responses_gateway_request", default=None)
# A client's X-Request-Id is kept when it is this simple; otherwise the gateway makes one.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
# The ids the gateway makes: `req_` and a version-4 UUID's 32 hex digits. The provider gets
# the hex digits alone, a UUID: llama-cpp-python's server answers 400 (with no body) to an
# X-Request-Id that is not one.
_MADE_ID = re.compile(r"req_([0-9a-f]{32})")
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\"\\]")
_BODY_LOG_LIMIT = 8192  # characters of a body or output kept with --log-bodies
# Exception class name -> the `error_class` label of the upstream error counter.
_ERROR_CLASSES = {"UpstreamStatus": "provider_4xx", "UpstreamKeyRejected": "auth",
                  "UpstreamUnavailable": "unavailable", "UpstreamTimeout": "timeout",
                  "UpstreamProtocolError": "protocol"}


@dataclass(slots=True, kw_only=True)
class RequestLog:
    """What one request did, filled in as it goes; logged and counted when it ends."""

    request_id: str
    method: str
    path: str
    route: str
    started: float
    metrics: Metrics | None
    key: str = "-"
    model: str = "-"
    upstream: str = "-"
    stream: bool = False
    streaming_counted: bool = False
    first_chunk: float | None = None
    usage: dict[str, Any] | None = None
    error_code: str | None = None
    response_id: str | None = None
    status: int = 0
    # --log-bodies: the request body and the output, for debugging only.
    keep_bodies: bool = False
    body: str | None = None
    output: Any = None
    accounting: Any = None  # accounting.Accounting, when the app has one


def current() -> RequestLog | None:
    return _current.get()


def request_id_header() -> dict[str, str]:
    """The header that carries the current request id to the provider ({} outside one)."""
    log = _current.get()
    if log is None:
        return {}
    made = _MADE_ID.fullmatch(log.request_id)
    return {"X-Request-Id": made.group(1) if made else log.request_id}


def note_route(model: str, upstream: str, *, stream: bool, response_id: str) -> None:
    log = _current.get()
    if log is None:
        return
    log.model, log.upstream, log.response_id = model, upstream, response_id
    if stream and not log.streaming_counted and log.metrics is not None:
        log.stream = log.streaming_counted = True
        log.metrics.streams.inc()


def note_first_token() -> None:
    log = _current.get()
    if log is not None and log.first_chunk is None:
        log.first_chunk = time.perf_counter()
        if log.metrics is not None and log.stream:
            log.metrics.ttft.labels(log.metrics.model_label(log.model), log.upstream).observe(
                log.first_chunk - log.started)


def note_result(response: dict[str, Any]) -> None:
    """The final Response: its usage is counted (and its output kept with --log-bodies)."""
    log = _current.get()
    if log is None:
        return
    if log.keep_bodies:
        log.output = response.get("output")
    usage = response.get("usage")
    if not isinstance(usage, dict):
        return
    log.usage = usage
    if log.accounting is not None:
        log.accounting.count_tokens(key=log.key, model=log.model, usage=usage)
    if log.metrics is not None:
        log.metrics.count_tokens(usage, model=log.model, upstream=log.upstream, key=log.key)


def note_error(exc: Exception) -> None:
    """An error the request ended with (or a stream failed with)."""
    log = _current.get()
    if log is None:
        return
    log.error_code = getattr(exc, "code", None) or type(exc).__name__
    kind = _ERROR_CLASSES.get(type(exc).__name__)
    if kind is not None and log.metrics is not None:
        log.metrics.upstream_errors.labels(log.upstream, kind).inc()


def make_observe_middleware(metrics: Metrics | None, *, log_bodies: bool = False
                            ) -> Middleware:
    """The outermost middleware: request id, in-flight gauge, access line, request metrics."""

    @web.middleware
    async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get("X-Request-Id", "")
        rid = incoming if _CLIENT_ID.fullmatch(incoming) else f"req_{uuid.uuid4().hex}"
        resource = request.match_info.route.resource
        log = RequestLog(request_id=rid, method=request.method, path=request.path,
                         route=resource.canonical if resource is not None else "unmatched",
                         started=time.perf_counter(), metrics=metrics, keep_bodies=log_bodies)
        request["rg.log"] = log
        log.accounting = request.app.get(accounting_key)
        if log_bodies and request.body_exists:
            # Read (and cached for the handler) within the app's body size limit.
            with contextlib.suppress(Exception):
                log.body = (await request.read())[:_BODY_LOG_LIMIT].decode("utf-8", "replace")
        token = _current.set(log)
        if metrics is not None:
            metrics.in_flight.inc()
        try:
            response = await handler(request)
            log.status = response.status
            return response
        except BaseException:
            log.status = 499  # the client left (or the server is stopping) mid-answer
            raise
        finally:
            _current.reset(token)
            log.key = request.get("rg.key_name", log.key)
            _finish(log, metrics)
            if log.accounting is not None:
                log.accounting.count_request(key=log.key, model=log.model, route=log.route,
                                             status=log.status, request_id=log.request_id,
                                             error=log.error_code)

    return observe_middleware


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer, streamed or not, carries its request id."""
    log = request.get("rg.log")
    if log is not None:
        response.headers["X-Request-Id"] = log.request_id


def _finish(log: RequestLog, metrics: Metrics | None) -> None:
    duration = time.perf_counter() - log.started
    if metrics is not None:
        model = metrics.model_label(log.model)
        metrics.in_flight.dec()
        if log.streaming_counted:
            metrics.streams.dec()
        metrics.requests.labels(log.route, log.method, str(log.status), model, log.upstream,
                                log.key).inc()
        metrics.latency.labels(log.route, model, log.upstream).observe(duration)
    if not access_logger.isEnabledFor(logging.INFO):
        return
    fields: dict[str, Any] = {
        "method": log.method, "path": log.path, "status": log.status,
        "duration_ms": round(duration * 1000, 1),
        "ttft_ms": round((log.first_chunk - log.started) * 1000, 1)
        if log.first_chunk is not None else None,
        "model": log.model, "upstream": log.upstream, "key": log.key,
        "request_id": log.request_id, "response_id": log.response_id,
        "input_tokens": (log.usage or {}).get("input_tokens"),
        "output_tokens": (log.usage or {}).get("output_tokens"),
        "error": log.error_code,
    }
    if log.keep_bodies:
        fields["body"] = log.body
        fields["output"] = orjson.dumps(log.output).decode()[:_BODY_LOG_LIMIT] \
            if log.output is not None else None
    text = " ".join(f"{name}={_clean(value)}" for name, value in fields.items()
                    if value is not None)
    access_logger.info("%s", text, extra={"access": fields})


def _clean(value: Any) -> str:
    """A log value on one line: control characters, quotes and spaces escaped, never raw."""
    text = value if isinstance(value, str) else str(value)
    if _UNSAFE.search(text):
        return '"' + _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", text) + '"'
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line (`--log-format json`); access lines carry their fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record), "level": record.levelname,
            "logger": record.name,
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            entry.update({k: v for k, v in access.items() if v is not None})
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()
