"""Writing HTTP answers: JSON bodies, error bodies, SSE headers and paginated lists."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .protocol.errors import GatewayError, InvalidRequest
from .protocol.queries import parse_list_query

__all__ = ["SSE_HEADERS", "error_response", "json_response", "list_page"]

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


def list_page(request: web.Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A cursor page of `items` (stored oldest first) per ?after, ?limit, ?order."""
    query = parse_list_query(request.query)
    limit, after = query.limit, query.after
    ordered = items if query.order == "asc" else items[::-1]
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
