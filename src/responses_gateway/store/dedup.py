"""One copy of each large string in a stored response.

A record keeps this turn's input items and output for retrieval, and the chat messages for
the next turn; both hold the same texts, images and tool arguments. In `messages`, a large
string that also occurs in `input_items` or `response.output` is stored as a pointer to it:
`{"$rg_same": [path...]}`, and the record says so (`"deduplicated": true`), so records
written before this existed, or without large strings, load unchanged. Only strings from
this turn's items are looked for, so the common small record costs one short walk.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MARKER", "restore_messages", "shrink_messages"]

MARKER = "$rg_same"
_LARGE = 4096  # characters; smaller strings are not worth a pointer

Path = list[Any]


def _large_strings(value: Any, path: Path, found: dict[str, Path]) -> None:
    if isinstance(value, str):
        if len(value) >= _LARGE:
            found.setdefault(value, list(path))
    elif isinstance(value, dict):
        for key, item in value.items():
            path.append(key)
            _large_strings(item, path, found)
            path.pop()
    elif isinstance(value, list):
        for index, item in enumerate(value):
            path.append(index)
            _large_strings(item, path, found)
            path.pop()


class _Collision(Exception):
    """The messages already contain a dict keyed like a pointer: store them as they are."""


def _replace(value: Any, known: dict[str, Path]) -> Any:
    if isinstance(value, str):
        path = known.get(value) if len(value) >= _LARGE else None
        return value if path is None else {MARKER: path}
    if isinstance(value, dict):
        if MARKER in value:
            raise _Collision
        return {key: _replace(item, known) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, known) for item in value]
    return value


def shrink_messages(input_items: list[Any], response: dict[str, Any],
                    messages: list[Any]) -> list[Any] | None:
    """`messages` with pointers for large strings found in the input items or the output;
    None when there is nothing to share (store the messages as they are)."""
    known: dict[str, Path] = {}
    _large_strings(input_items, ["input_items"], known)
    _large_strings(response.get("output"), ["response", "output"], known)
    if not known:
        return None
    try:
        return [_replace(message, known) for message in messages]
    except _Collision:
        return None


def _follow(record: dict[str, Any], path: Path) -> Any:
    value: Any = record
    for step in path:
        value = value[step]
    return value


def _restore(value: Any, record: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        if MARKER in value and len(value) == 1:
            return _follow(record, value[MARKER])
        return {key: _restore(item, record) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore(item, record) for item in value]
    return value


def restore_messages(record: dict[str, Any]) -> list[Any]:
    """The messages of a deduplicated record (a decoded JSON object) in full."""
    return [_restore(message, record) for message in record.get("messages") or ()]
