"""Decoding JSON request bodies, with a nesting limit the gateway's own writer can honour.

orjson reads JSON nested up to 1024 levels but writes at most 254. A request nested deeper
than the writer can go would be accepted, sent upstream (and billed), and only then fail
when its response or stored record is written. So depth is checked at parse time, with room
left for the objects the gateway wraps around request values (events, stored records, the
chat request): `MAX_JSON_DEPTH` levels of arrays and objects, the body itself being level 1.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson

from .errors import InvalidRequest

__all__ = ["MAX_JSON_DEPTH", "check_depth", "parse_json_object"]

MAX_JSON_DEPTH = 128
_WRITER_DEPTH = 254  # orjson.dumps raises beyond this many levels


def parse_json_object(raw: bytes | str) -> dict[str, Any]:
    """Decode a body that must be a JSON object nested at most MAX_JSON_DEPTH deep."""
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    check_depth(body)
    return body


def check_depth(body: dict[str, Any]) -> None:
    """Raise InvalidRequest naming the field whose value nests deeper than MAX_JSON_DEPTH."""
    # The writer itself is the exact test, padded so that it stops at MAX_JSON_DEPTH. It is
    # cheaper than counting brackets in the raw body (a 40 KB Codex request: ~15 us).
    try:
        _dump_padded(body)
    except orjson.JSONEncodeError:
        path = _too_deep(body)
        if path is None:  # not a depth problem: something the writer cannot encode
            raise InvalidRequest("The request body holds a value that cannot be written "
                                 "back as JSON.") from None
        raise InvalidRequest(f"Invalid '{path}': JSON nested too deeply. Expected at most "
                             f"{MAX_JSON_DEPTH} levels of arrays and objects in a request.",
                             param=path, code="nesting_too_deep") from None


_padding = threading.local()  # per thread: the nest is filled in and emptied around a dump


def _dump_padded(body: Any) -> None:
    """orjson.dumps(body) inside _WRITER_DEPTH - MAX_JSON_DEPTH lists, so it fails exactly
    when body is nested deeper than MAX_JSON_DEPTH. The lists are made once per thread, not
    per request (building them cost as much as the dump of a small body)."""
    nest = getattr(_padding, "nest", None)
    if nest is None:
        hole: list[Any] = [None]
        outer: list[Any] = hole
        for _ in range(_WRITER_DEPTH - MAX_JSON_DEPTH - 1):
            outer = [outer]
        nest = _padding.nest = (outer, hole)
    outer, hole = nest
    hole[0] = body
    try:
        orjson.dumps(outer)
    finally:
        hole[0] = None


def _too_deep(body: dict[str, Any]) -> str | None:
    """The path (at most three steps, like 'tools[0].parameters') to a too-deep value."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(body, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return _path_text(path[:3])
        if isinstance(value, dict):
            stack.extend((v, depth + 1, (*path, k)) for k, v in value.items()
                         if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1, (*path, i)) for i, v in enumerate(value)
                         if isinstance(v, (dict, list)))
    return None


def _path_text(path: tuple[str | int, ...]) -> str:
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text
