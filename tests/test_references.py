"""references.resolve_references: reasoning items replayed without their seal get it back."""
from __future__ import annotations

import asyncio
from typing import Any

from responses_gateway.references import resolve_references

_STORED = {"rs_1": {"type": "reasoning", "id": "rs_1", "summary": [],
                    "encrypted_content": "rgw1.sealed"},
           "msg_1": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}}


class _Store:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    async def find_items(self, item_ids: list[str], owner: str) -> dict[str, dict[str, Any]]:
        self.asked.append(sorted(item_ids))
        return {i: _STORED[i] for i in item_ids if i in _STORED and owner == "me"}


def _resolve(store: _Store, items: list[dict[str, Any]], owner: str = "me") -> Any:
    return asyncio.run(resolve_references(store, items, owner=owner,  # type: ignore[arg-type]
                                          storing=True))


def test_a_reasoning_item_without_its_seal_gets_the_stored_one() -> None:
    replayed = {"type": "reasoning", "id": "rs_1", "encrypted_content": None,
                "summary": [], "content": [{"type": "reasoning_text", "text": "t"}]}
    (item,) = _resolve(_Store(), [replayed])
    assert item == {**replayed, "encrypted_content": "rgw1.sealed"}


def test_unknown_foreign_or_sealed_items_stay_as_sent() -> None:
    unknown = {"type": "reasoning", "id": "rs_2", "summary": []}
    sealed = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "mine"}
    store = _Store()
    assert _resolve(store, [unknown, sealed]) == [unknown, sealed]
    assert store.asked == [["rs_2"]]  # an item that has its seal costs no lookup
    foreign = {"type": "reasoning", "id": "rs_1", "summary": []}
    assert _resolve(_Store(), [foreign], owner="other") == [foreign]
    not_reasoning = {"type": "reasoning", "id": "msg_1", "summary": []}
    assert _resolve(_Store(), [not_reasoning]) == [not_reasoning]


def test_without_references_or_reasoning_ids_the_store_is_not_asked() -> None:
    store = _Store()
    items = [{"role": "user", "content": "hi"}, {"type": "reasoning", "summary": []}]
    assert _resolve(store, items) == items
    assert store.asked == []
