"""Compaction items: a conversation condensed into one sealed item, and opened again. Pure.

`POST /v1/responses/compact` asks the model for a summary; the item it returns seals the
user messages and that summary (translate/reasoning.py's carrier, kind "compaction"). When
the item comes back as input it stands for those messages, so a client can continue from it
with any upstream of this gateway.
"""

from __future__ import annotations

from typing import Any

import orjson

from .reasoning import ReasoningSeal

__all__ = ["COMPACTION_PROMPT", "open_compaction", "seal_compaction"]

COMPACTION_PROMPT = (
    "You are compacting this conversation so it can continue in a fresh context. Write a "
    "concise summary of everything needed to carry on: the user's goals and constraints, "
    "decisions made, facts established, tool calls and their results, open questions and the "
    "next steps. Do not answer the user; only write the summary."
)
_SUMMARY_PREFIX = "Summary of the earlier conversation (compacted):\n"


def seal_compaction(seal: ReasoningSeal, *, user_messages: list[dict[str, Any]], summary: str,
                    model: str, nonce: bytes) -> str:
    payload = orjson.dumps({"users": user_messages, "summary": summary}).decode()
    return seal.seal(payload, provider="*", model=model, nonce=nonce, kind="compaction")


def open_compaction(seal: ReasoningSeal, item: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The chat messages a compaction item stands for; None if it is not ours or altered."""
    sealed = seal.unseal(item.get("encrypted_content"), provider=None, kind="compaction")
    if sealed is None:
        return None
    payload = orjson.loads(sealed)
    messages = [m for m in payload.get("users") or () if isinstance(m, dict)]
    summary = payload.get("summary")
    if isinstance(summary, str) and summary:
        messages.append({"role": "user", "content": _SUMMARY_PREFIX + summary})
    return messages
