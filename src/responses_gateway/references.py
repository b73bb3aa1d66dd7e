"""`item_reference` input items, resolved from the store's item index before translation.

Clients that store responses (the Vercel AI SDK by default) send earlier items back as
`{"type": "item_reference", "id": ...}` (or just `{"id": ...}`). Each is replaced by the item
it names, found among the caller's own stored responses and conversations, or among the
turns a WebSocket connection remembers. The fast path (no references) costs nothing.
"""

from __future__ import annotations

from typing import Any, Mapping

from .protocol.errors import InvalidRequest, NotFound
from .store import ResponseStore, StoredResponse

__all__ = ["resolve_references"]

_NOT_PERSISTED = (" Items are not persisted when `store` is set to false. Try again with "
                  "`store` set to true, or remove this item from your input.")


def _is_reference(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    kind = item.get("type")
    return kind == "item_reference" or (kind is None and "role" not in item and "id" in item)


async def resolve_references(store: ResponseStore | None, items: list[dict[str, Any]], *,
                             owner: str, storing: bool,
                             local: Mapping[str, StoredResponse] | None = None,
                             field: str = "input") -> list[dict[str, Any]]:
    """`items` with every reference replaced by the item it names; 404 (param
    `{field}[i]`) for an id that is unknown or another owner's, 400 when the store is off."""
    wanted: dict[int, str] = {}
    for index, item in enumerate(items):
        if _is_reference(item):
            item_id = item.get("id")
            if not isinstance(item_id, str) or not item_id:
                raise InvalidRequest(f"Invalid '{field}[{index}].id': an item reference needs "
                                     "the id of a stored item.", param=f"{field}[{index}].id",
                                     code="invalid_value")
            wanted[index] = item_id
    if not wanted:
        return items
    found: dict[str, dict[str, Any]] = {}
    for record in (local or {}).values():  # turns this connection keeps (store: false)
        for item in record.items():
            if item.get("id") in wanted.values():
                found.setdefault(item["id"], item)
    missing = [i for i in wanted.values() if i not in found]
    if missing and store is None:
        index = next(i for i, item_id in wanted.items() if item_id in missing)
        raise InvalidRequest("'item_reference' input items need the response store, which is "
                             "off on this gateway (--store none); send the item itself.",
                             param=f"{field}[{index}]", code="store_disabled")
    if missing and store is not None:
        found.update(await store.find_items(missing, owner))
    resolved = []
    for index, item in enumerate(items):
        item_id = wanted.get(index)
        if item_id is None:
            resolved.append(item)
        elif item_id in found:
            resolved.append(dict(found[item_id]))
        else:
            raise NotFound(f"Item with id '{item_id}' not found."
                           + ("" if storing else _NOT_PERSISTED),
                           param=f"{field}[{index}]", code="item_not_found")
    return resolved
