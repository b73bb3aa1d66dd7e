"""Writing HTTP answers: JSON bodies, error bodies, SSE headers and paginated lists."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .protocol.errors import GatewayError, InvalidRequest

__all__ = ["SSE_HEADERS", "error_response", "int_query", "json_response", "list_page"]

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # keep reverse proxies from buffering the stream
}


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(error: GatewayError) -> web.Response:
    response = json_response(error.to_body(), status=error.status)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response


def int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"Invalid '{name}': expected an integer.", param=name,
                             code="invalid_type") from None


def list_page(request: web.Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A cursor page of `items` (stored oldest first) per ?after, ?limit, ?order."""
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("Invalid 'order': expected 'asc' or 'desc'.", param="order",
                             code="invalid_value")
    limit = int_query(request, "limit", 20)
    if not 1 <= limit <= 100:
        raise InvalidRequest("Invalid 'limit': expected 1 to 100.", param="limit",
                             code="invalid_value")
    ordered = items if order == "asc" else items[::-1]
    after = request.query.get("after")
    if after:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise InvalidRequest(f"Invalid 'after': no item with id '{after}'.", param="after",
                                 code="invalid_value")
        ordered = ordered[ids.index(after) + 1:]
    page = ordered[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(ordered) > limit,
    }
