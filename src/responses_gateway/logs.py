"""Log lines that a client cannot forge.

Ids, paths and provider messages come from outside; a CR or LF inside one (a `%0a` in a
path, an item id with a newline) would start what looks like a new log line. The formatter
escapes control characters in each message; a traceback, added after the message, keeps its
own lines.
"""

from __future__ import annotations

import logging
import re

__all__ = ["FORMAT", "EscapingFormatter", "escape"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text: str) -> str:
    """`text` with control characters (and Unicode line separators) as visible escapes."""
    if not _CONTROL.search(text):  # the common case costs one scan
        return text
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


class EscapingFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escape(record.message)
        return super().formatMessage(record)
