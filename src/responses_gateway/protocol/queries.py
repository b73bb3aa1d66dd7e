"""Validating the query parameters of the retrieval routes. Pure: no I/O.

`?limit=&order=&after=&include=` on the list routes, `?stream=&starting_after=` on
`GET /v1/responses/{id}`. Array parameters come as `include=a&include=b` or, as the openai
SDKs send them, `include[]=a&include[]=b`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .errors import InvalidRequest
from .fields import check_enum, check_string
from .requests import check_include

__all__ = ["ListQuery", "parse_include", "parse_list_query", "parse_replay_query"]

_MAX_SEQUENCE = 2**63 - 1  # the stores keep sequence numbers as signed 64-bit integers
_MAX_ID = 256  # no id the gateway makes is near this long; longer ones match nothing


class Query(Protocol):
    """A URL query as aiohttp gives it (a multidict): one value per name, or all of them."""

    def get(self, key: str, /) -> str | None: ...
    def getall(self, key: str, default: list[str], /) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The cursor of a list route: page size, order and the id to start after."""

    limit: int
    order: str
    after: str | None


def parse_list_query(query: Query) -> ListQuery:
    order = query.get("order") or "desc"
    check_enum(order, "order", ("asc", "desc"))
    limit = _integer(query, "limit", 20, low=1, high=100)
    after = query.get("after")
    if after is not None:
        check_string(after, "after", max_length=_MAX_ID)
    parse_include(query)
    return ListQuery(limit=limit, order=order, after=after or None)


def parse_include(query: Query) -> list[str]:
    values = [*query.getall("include", []), *query.getall("include[]", [])]
    check_include(values, "include")
    return values


def parse_replay_query(query: Query) -> tuple[bool, int]:
    """`?stream=` (a boolean) and `?starting_after=` (a sequence number; -1 when absent)."""
    raw = query.get("stream")
    stream = False
    if raw is not None:
        flag = raw.lower()
        if flag not in ("true", "false", "1", "0"):
            raise InvalidRequest(f"Invalid type for 'stream': expected a boolean, but got "
                                 f"'{raw[:20]}' instead.", param="stream", code="invalid_type")
        stream = flag in ("true", "1")
    after = _integer(query, "starting_after", -1, low=0, high=_MAX_SEQUENCE)
    parse_include(query)
    return stream, after


def _integer(query: Query, name: str, default: int, *,
             low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    text = raw.strip()
    digits = text[1:] if text[:1] in ("-", "+") else text
    if not digits.isascii() or not digits.isdigit():
        raise InvalidRequest(f"Invalid type for '{name}': expected an integer, but got "
                             f"'{raw[:20]}' instead.", param=name, code="invalid_type")
    shown = text if len(text) <= 24 else f"{text[:20]}..."
    if len(digits) > 20:  # more digits than any allowed value: no need to convert them all
        value = high + 1 if text[:1] != "-" else low - 1
    else:
        value = int(text)
    if value < low:
        raise InvalidRequest(f"Invalid '{name}': integer below minimum value. Expected a value "
                             f">= {low}, but got {shown} instead.", param=name,
                             code="integer_below_min_value")
    if value > high:
        raise InvalidRequest(f"Invalid '{name}': integer above maximum value. Expected a value "
                             f"<= {high}, but got {shown} instead.", param=name,
                             code="integer_above_max_value")
    return value
