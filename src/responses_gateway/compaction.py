"""`POST /v1/responses/compact`: condense a conversation into one compaction item.

The provider only speaks chat completions, so the gateway asks the model itself for a
summary and seals it (with the user messages) into the item; see translate/compaction.py.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aiohttp import web

from .appkeys import seal_key
from .generation import new_id, prepare_generation
from .protocol.errors import InvalidRequest
from .protocol.requests import parse_json_object, validate_create_request
from .tenancy import owner_of
from .rendering import json_response
from .translate.compaction import COMPACTION_PROMPT, seal_compaction
from .translate.response import to_responses_usage
from .translate.think import ThinkSplitter
from .upstream import UpstreamClient

__all__ = ["compact_response"]

# The fields of a compact request; anything else a client sends along is ignored.
_FIELDS = ("model", "input", "instructions", "previous_response_id", "prompt_cache_key")


async def compact_response(request: web.Request) -> web.Response:
    body = parse_json_object(await request.read())
    if not body.get("model"):
        raise InvalidRequest("Missing required parameter: 'model'.", param="model",
                             code="missing_required_parameter")
    create = validate_create_request({**{k: body[k] for k in _FIELDS if k in body},
                                      "store": False})
    generation = await prepare_generation(request.app, create, owner=owner_of(request),
                                          stream_upstream=False)
    chat = generation.chat
    completion = await _ask(generation.client, {
        "model": chat.body["model"],
        "messages": [*chat.messages, {"role": "user", "content": COMPACTION_PROMPT}],
    })
    summary = _summary_text(completion, think_tags=generation.upstream.profile.think_tags)
    users = [m for m in chat.carried_messages if m.get("role") == "user"]
    item = {
        "id": new_id("cmp"),
        "type": "compaction",
        "encrypted_content": seal_compaction(request.app[seal_key], user_messages=users,
                                             summary=summary, model=create.model,
                                             nonce=os.urandom(12)),
    }
    return json_response({
        "id": new_id("resp"),
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": [item],
        "usage": to_responses_usage(completion.get("usage") or {}),
    })


async def _ask(client: UpstreamClient, body: dict[str, Any]) -> dict[str, Any]:
    """One completion; streamed and gathered for profiles that must stream (DashScope)."""
    profile = client.upstream.profile
    if not profile.stream_upstream:
        return await client.complete(body)
    body = {**body, "stream": True}
    if profile.stream_options:
        body["stream_options"] = {"include_usage": True}
    texts: list[str] = []
    usage = None
    chunks = await client.stream(body)
    try:
        async for chunk in chunks:
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or choice.get("message") or {}).get("content")
                if isinstance(content, str):
                    texts.append(content)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    return {"choices": [{"message": {"content": "".join(texts)}}], "usage": usage}


def _summary_text(completion: dict[str, Any], *, think_tags: bool) -> str:
    choices = completion.get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content") or ""
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if think_tags:
        splitter = ThinkSplitter()
        _, text = splitter.feed(content)
        content = text + splitter.flush()[1]
    return str(content).strip()
