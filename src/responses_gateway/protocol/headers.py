"""Checking request headers before anything reads them. Pure: no I/O.

aiohttp decodes header bytes that are not UTF-8 into lone surrogates, which fail later when
the value is encoded again (comparing an API key, logging, forwarding). Such a header is
the client's mistake, so it is a 400 naming the header, before auth or routing.
"""

from __future__ import annotations

from typing import Iterable

from .errors import InvalidRequest

__all__ = ["check_headers"]


def check_headers(headers: Iterable[tuple[str, str]]) -> None:
    for name, value in headers:
        if value.isascii() and name.isascii():
            continue
        try:
            name.encode("utf-8")
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = name.encode("utf-8", "replace").decode("ascii", "replace")[:64]
            raise InvalidRequest(f"The '{shown}' header is not valid UTF-8.",
                                 param=shown.lower(), code="invalid_header") from None
