"""The pooled HTTP client to the chat-completions provider.

One `aiohttp.ClientSession` per process. Every aiohttp error and timeout is translated to an
`UpstreamError` in one place (`_map_errors`), as httpx does with httpcore's errors; nothing
else in the gateway catches aiohttp client errors. Messages name the upstream, never its key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator, Iterator

import aiohttp
import orjson

from .config import Limits, Timeouts, Upstream
from .protocol.errors import (
    UpstreamBusy,
    UpstreamError,
    UpstreamKeyRejected,
    UpstreamProtocolError,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .observe import request_id_header
from .protocol.sse import SseDecoder

__all__ = ["PoolSlots", "UpstreamClient", "create_session"]

logger = logging.getLogger(__name__)

_MAX_ERROR_BODY = 64 * 1024
# A provider's error message reaches clients trimmed to this many characters.
_MAX_ERROR_MESSAGE = 500
# Error type/code words -> the HTTP status they stand for, for errors a provider reports
# inside a 200 answer (checked in order).
_STATUS_HINTS = (
    ("rate_limit", 429), ("quota", 429), ("throttl", 429),
    ("authentication", 401), ("api_key", 401), ("permission", 403),
    ("not_found", 404), ("context_length", 400), ("invalid", 400), ("bad_request", 400),
)


def create_session(timeouts: Timeouts, limits: Limits) -> aiohttp.ClientSession:
    """The process-wide session. Must be created inside the running event loop."""
    connector = aiohttp.TCPConnector(limit=limits.max_connections, ttl_dns_cache=300,
                                     enable_cleanup_closed=True)
    timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=timeouts.connect,
                                    sock_read=timeouts.read)
    return aiohttp.ClientSession(connector=connector, timeout=timeout,
                                 json_serialize=lambda o: orjson.dumps(o).decode(),
                                 auto_decompress=True,
                                 # Proxies are resolved once per upstream at start-up
                                 # (Upstream.proxy); per-request lookups halve throughput.
                                 trust_env=False)


class PoolSlots:
    """The upstream connections one process may use at once, and how long a request waits
    for one (aiohttp's own pool queue has no timeout). A slot is held from the request until
    its answer is read or its stream closed."""

    __slots__ = ("_free", "size", "timeout")

    def __init__(self, size: int, timeout: float) -> None:
        self._free = asyncio.Semaphore(size)
        self.size = size
        self.timeout = timeout

    async def acquire(self) -> None:
        if not self._free.locked():  # the common case: no timer to arm
            await self._free.acquire()
            return
        try:
            async with asyncio.timeout(self.timeout):
                await self._free.acquire()
        except TimeoutError:
            raise UpstreamBusy(
                f"All {self.size} upstream connections stayed busy for {self.timeout:g} s "
                "(--upstream-connections, --pool-timeout); retry shortly.") from None

    def release(self) -> None:
        self._free.release()


class UpstreamClient:
    """Talks to one upstream. Cheap to build per request; the session is shared."""

    __slots__ = ("_headers", "_session", "_slots", "_timeouts", "frames_pending", "stream_done",
                 "upstream")

    def __init__(self, session: aiohttp.ClientSession, upstream: Upstream,
                 timeouts: Timeouts, slots: PoolSlots | None = None) -> None:
        self._session = session
        self._slots = slots
        self.upstream = upstream
        self._timeouts = timeouts
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   **request_id_header()}
        if upstream.api_key:
            if upstream.profile.auth_header == "api-key":
                headers["api-key"] = upstream.api_key
            else:
                headers["Authorization"] = f"Bearer {upstream.api_key}"
        self._headers = headers
        # Set once a stream ended with `data: [DONE]` (or was a single JSON body).
        self.stream_done = False
        # While a stream is read: how many frames of the current network read come after the
        # chunk just yielded (they are parsed without waiting). The caller may hold events
        # back until the read's last chunk and send them in one write.
        self.frames_pending = 0

    def __repr__(self) -> str:
        return f"<UpstreamClient {self.upstream.name} {self.upstream.display_url}>"

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """One non-streamed chat completion."""
        async with self._slot():
            with self._map_errors():
                async with self._session.post(self.upstream.chat_url,
                                              data=orjson.dumps(body), headers=self._headers,
                                              proxy=self.upstream.proxy) as response:
                    await self._raise_for_status(response)
                    payload = await response.read()
        return self._parse_completion(payload)

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._slots is None:
            yield
            return
        await self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Open a streamed completion; raises before the first chunk if the provider refuses.

        Returns an async iterator of chunk dicts. Errors after the stream started are raised
        from the iterator as UpstreamError. The connection is released when the iterator is
        closed or exhausted.
        """
        slots = self._slots
        if slots is not None:
            await slots.acquire()
        try:
            with self._map_errors():
                response = await self._session.post(self.upstream.chat_url,
                                                    data=orjson.dumps(body),
                                                    headers=self._headers,
                                                    proxy=self.upstream.proxy)
                try:
                    await self._raise_for_status(response)
                except BaseException:
                    response.release()
                    raise
        except BaseException:
            if slots is not None:
                slots.release()
            raise
        return self._iter_chunks(response, slots)

    async def list_models(self) -> dict[str, Any]:
        async with self._slot():
            with self._map_errors():
                async with self._session.get(self.upstream.models_url, headers=self._headers,
                                             proxy=self.upstream.proxy) as response:
                    await self._raise_for_status(response)
                    payload = await response.read()
        models = self._decode_object(payload, "a model list")
        return models

    async def _iter_chunks(self, response: aiohttp.ClientResponse, slots: PoolSlots | None
                           ) -> AsyncIterator[dict[str, Any]]:
        try:
            if "json" in response.headers.get("Content-Type", ""):
                # Some servers ignore `stream` and answer with one JSON completion.
                with self._map_errors():
                    payload = await response.read()
                self.stream_done = True
                yield self._parse_completion(payload)
                return
            decoder = SseDecoder()
            with self._map_errors():
                async for data in response.content.iter_any():
                    frames = decoder.feed(data)
                    for n, frame in enumerate(frames, 1):
                        chunk = self._parse_chunk(frame)
                        if chunk is None:
                            return
                        self.frames_pending = len(frames) - n
                        yield chunk
            frames = decoder.flush()
            for n, frame in enumerate(frames, 1):
                chunk = self._parse_chunk(frame)
                if chunk is None:
                    return
                self.frames_pending = len(frames) - n
                yield chunk
        finally:
            self.frames_pending = 0
            response.release()
            if slots is not None:
                slots.release()

    def _parse_chunk(self, frame: str) -> dict[str, Any] | None:
        if frame == "[DONE]":
            self.stream_done = True
            return None
        return self._decode_object(frame, "a stream chunk")

    def _parse_completion(self, payload: bytes) -> dict[str, Any]:
        completion = self._decode_object(payload, "a completion")
        if not isinstance(completion.get("choices"), list):
            raise UpstreamProtocolError(
                f"The upstream '{self.upstream.name}' answered without 'choices'.")
        return completion

    def _decode_object(self, raw: str | bytes, what: str) -> dict[str, Any]:
        """A JSON object from the provider; its `{"error": ...}` payloads are raised."""
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # Its bytes are not shown: an HTML error page or a proxy's banner may carry
            # internal details (hosts, tokens); the log has the size only, too.
            raise UpstreamProtocolError(
                f"The upstream '{self.upstream.name}' sent {what} that is not JSON "
                f"({len(raw)} bytes).") from None
        if not isinstance(decoded, dict):
            raise UpstreamProtocolError(
                f"The upstream '{self.upstream.name}' sent {what} that is not a JSON object.")
        if decoded.get("error"):
            raise self._error_from_payload(decoded, status=None)
        return decoded

    async def _raise_for_status(self, response: aiohttp.ClientResponse) -> None:
        if response.status < 400:
            return
        pieces: list[bytes] = []
        size = 0
        while size < _MAX_ERROR_BODY:  # read() returns what is buffered, not all of it
            piece = await response.content.read(_MAX_ERROR_BODY - size)
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        raw = b"".join(pieces)
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # Only a parsed JSON message reaches clients: a non-JSON body (an HTML page, a
            # proxy's text) is described, never quoted.
            kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no type"
            payload = {"error": {"message": f"{response.reason or 'error'} (a {len(raw)}-byte "
                                            f"{kind} body that is not JSON)"}}
        if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], dict):
            payload = payload[0]  # Gemini's compatibility layer: a list of one error
        if not isinstance(payload, dict):
            payload = {"error": {"message": orjson.dumps(payload).decode()}}
        error = self._error_from_payload(payload, status=response.status)
        if isinstance(error, UpstreamStatus):
            error.retry_after = response.headers.get("Retry-After")
        raise error

    def _error_from_payload(self, payload: dict[str, Any], *, status: int | None) -> UpstreamError:
        detail = payload.get("error", payload)
        if isinstance(detail, str):
            detail = {"message": detail}
        if not isinstance(detail, dict):
            detail = {}
        message = detail.get("message") or payload.get("message") or "unknown error"
        if not isinstance(message, str):  # Mistral: {"detail": [{"type", "loc", "msg"}]}
            message = orjson.dumps(message).decode()
        message = self._clean(message)
        code = detail.get("code")
        code = str(code) if code is not None else None
        name = self.upstream.name
        if status in (401, 403) or status is None and _refuses_key(detail, code):
            shown = f"HTTP {status}" if status else "an authentication error"
            return UpstreamKeyRejected(
                f"The upstream '{name}' refused the gateway's API key ({shown}): {message}. "
                "Check the key the gateway is configured with (RESPONSES_GATEWAY_UPSTREAM_API_KEY "
                "or the upstream's api_key_env), not the client's.",
                code="upstream_auth_failed")
        if status is not None and 400 <= status < 500:
            kind = detail.get("type")
            param = detail.get("param")
            return UpstreamStatus(message, status=status,
                                  type=kind if isinstance(kind, str) else None,
                                  param=param if isinstance(param, str) else None, code=code)
        if status is not None:
            return UpstreamUnavailable(
                f"The upstream '{name}' answered HTTP {status}: {message}", code=code)
        # An error inside a 200 (a stream frame or a JSON body): classify it by its words.
        words = f"{detail.get('type') or ''} {code or ''}".lower()
        for hint, implied in _STATUS_HINTS:
            if hint in words:
                kind = detail.get("type")
                return UpstreamStatus(message, status=implied,
                                      type=kind if isinstance(kind, str) else None, code=code)
        return UpstreamUnavailable(f"The upstream '{name}' reported an error: {message}",
                                   code=code or "upstream_error")

    def _clean(self, message: str) -> str:
        """A provider's message as clients see it: trimmed, and without the gateway's key
        should the provider echo it."""
        key = self.upstream.api_key
        if key and len(key) >= 8 and key in message:
            message = message.replace(key, "***")
        if len(message) > _MAX_ERROR_MESSAGE:
            message = message[:_MAX_ERROR_MESSAGE].rstrip() + "..."
        return message

    @contextlib.contextmanager
    def _map_errors(self) -> Iterator[None]:
        name = self.upstream.name
        where = self.upstream.display_url
        try:
            yield
        except UpstreamError:
            raise
        except aiohttp.ConnectionTimeoutError as exc:
            raise UpstreamTimeout(
                f"Could not connect to the upstream '{name}' ({where}) within "
                f"{self._timeouts.connect:g} s.", code="upstream_connect_timeout") from exc
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(
                f"The upstream '{name}' ({where}) did not answer within "
                f"{self._timeouts.read:g} s.") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnavailable(
                f"Could not connect to the upstream '{name}' ({where}): "
                f"{exc.os_error.strerror or exc.os_error}.",
                code="upstream_unreachable") from exc
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
                aiohttp.ClientOSError) as exc:
            raise UpstreamUnavailable(
                f"The connection to the upstream '{name}' ({where}) was lost: "
                f"{type(exc).__name__}.", code="upstream_connection_lost") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                f"The request to the upstream '{name}' ({where}) failed: {exc}.") from exc


def _refuses_key(detail: dict[str, Any], code: str | None) -> bool:
    """Whether an error inside a 200 says the provider refused the key."""
    words = f"{detail.get('type') or ''} {code or ''}".lower()
    return any(hint in words for hint in ("authentication", "api_key", "permission"))
