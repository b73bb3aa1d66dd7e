"""The Conversations API (`/v1/conversations`): durable item lists that responses extend.

A response created with `conversation` sees the conversation's items before its own input,
and its input and output items are appended when it is stored (generation.py).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .appkeys import require_store, too_large
from .generation import new_id
from .protocol.errors import InvalidRequest, NotFound
from .protocol.fields import check_array, check_max_items, check_metadata, missing
from .protocol.items import check_items
from .protocol.queries import parse_include, parse_list_query
from .protocol.requests import parse_json_object
from .rendering import json_response, list_page
from .store import Conversation, RecordTooLarge, ResponseStore
from .tenancy import owner_of
from .translate.history import with_item_ids

__all__ = [
    "add_items", "create_conversation", "delete_conversation", "delete_item", "get_conversation",
    "get_item", "list_items", "update_conversation",
]

_MAX_ITEMS_PER_CALL = 20


async def _conversation(request: web.Request) -> tuple[ResponseStore, Conversation]:
    store = require_store(request.app, "Conversations")
    conversation_id = request.match_info["conversation_id"]
    conversation = await store.get_conversation_owned(conversation_id, owner_of(request))
    if conversation is None:
        raise NotFound(f"Conversation with id '{conversation_id}' not found.",
                       param="conversation_id", code="conversation_not_found")
    return store, conversation


def _items(body: dict[str, Any], *, required: bool) -> list[dict[str, Any]]:
    items = body.get("items")
    if items is None:
        if required:
            raise missing("items")
        return []
    check_array(items, "items", " of objects")
    check_max_items(items, "items", _MAX_ITEMS_PER_CALL)
    check_items(items, "items")  # as a create request's input: later turns must take them
    for i, item in enumerate(items):
        kind = item.get("type") or ("message" if "role" in item else "item_reference")
        if kind == "item_reference":
            raise InvalidRequest("A conversation keeps items, not references to them: add the "
                                 "item itself.", param=f"items[{i}].type",
                                 code="unsupported_item")
    return with_item_ids(items, new_id)


def _metadata(body: dict[str, Any], *, required: bool = False) -> dict[str, str]:
    if "metadata" not in body and required:
        raise missing("metadata")
    metadata = body.get("metadata")
    if metadata is None:
        return {}
    return dict(check_metadata(metadata))


async def create_conversation(request: web.Request) -> web.Response:
    store = require_store(request.app, "Conversations")
    raw = await request.read()
    body = parse_json_object(raw) if raw.strip() else {}
    conversation = Conversation(id=new_id("conv"), created_at=int(time.time()),
                                metadata=_metadata(body),
                                items=_items(body, required=False),
                                expires_at=store.expiry(), owner=owner_of(request))
    try:
        await store.put_conversation(conversation)
    except RecordTooLarge as exc:
        raise too_large(exc.size, exc.limit, "items") from None
    return json_response(conversation.to_object())


async def get_conversation(request: web.Request) -> web.Response:
    _, conversation = await _conversation(request)
    return json_response(conversation.to_object())


async def update_conversation(request: web.Request) -> web.Response:
    metadata = _metadata(parse_json_object(await request.read()), required=True)
    store, conversation = await _conversation(request)

    def update(found: Conversation) -> None:
        found.metadata = metadata

    return json_response(_edited(await store.edit_conversation(conversation.id, update),
                                 conversation.id).to_object())


async def delete_conversation(request: web.Request) -> web.Response:
    store, conversation = await _conversation(request)
    await store.delete_conversation(conversation.id)
    return json_response({"id": conversation.id, "object": "conversation.deleted",
                          "deleted": True})


async def list_items(request: web.Request) -> web.Response:
    parse_list_query(request.query)  # a bad query is a 400 before the lookup
    _, conversation = await _conversation(request)
    return json_response(list_page(request, conversation.items))


async def add_items(request: web.Request) -> web.Response:
    parse_include(request.query)
    added = _items(parse_json_object(await request.read()), required=True)
    store, conversation = await _conversation(request)
    try:
        appended = await store.append_conversation_items(conversation.id, added)
    except RecordTooLarge as exc:
        raise too_large(exc.size, exc.limit, "items") from None
    if not appended:
        _edited(None, conversation.id)
    return json_response({"object": "list", "data": added,
                          "first_id": added[0]["id"] if added else None,
                          "last_id": added[-1]["id"] if added else None, "has_more": False})


def _find(conversation: Conversation, item_id: str) -> int:
    for index, item in enumerate(conversation.items):
        if item.get("id") == item_id:
            return index
    raise NotFound(f"Item with id '{item_id}' not found.", param="item_id",
                   code="item_not_found")


async def get_item(request: web.Request) -> web.Response:
    parse_include(request.query)
    _, conversation = await _conversation(request)
    return json_response(conversation.items[_find(conversation, request.match_info["item_id"])])


async def delete_item(request: web.Request) -> web.Response:
    store, conversation = await _conversation(request)
    item_id = request.match_info["item_id"]
    _find(conversation, item_id)  # 404 for an unknown item

    def remove(found: Conversation) -> None:
        found.items[:] = [item for item in found.items if item.get("id") != item_id]

    return json_response(_edited(await store.edit_conversation(conversation.id, remove),
                                 conversation.id).to_object())


def _edited(conversation: Conversation | None, conversation_id: str) -> Conversation:
    if conversation is None:  # deleted meanwhile
        raise NotFound(f"Conversation with id '{conversation_id}' not found.",
                       param="conversation_id", code="conversation_not_found")
    return conversation
