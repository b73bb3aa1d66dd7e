"""Token log probabilities, both ways. Pure: no I/O.

Request: `include: ["message.output_text.logprobs"]` and `top_logprobs` become the chat
`logprobs: true` / `top_logprobs`. Answer: a choice's `logprobs.content` becomes the `logprobs`
of the `output_text` delta and part it came with. Chat and Responses entries share a shape
(`token`, `logprob`, `bytes`, `top_logprobs`); `bytes` may be null in chat but is required by
the Responses types, so it is filled from the token's UTF-8.
"""

from __future__ import annotations

from typing import Any

from ..protocol.requests import CreateRequest
from ..providers import Profile

__all__ = ["LOGPROBS_INCLUDE", "chat_logprobs", "logprobs_options"]

LOGPROBS_INCLUDE = "message.output_text.logprobs"


def logprobs_options(request: CreateRequest, profile: Profile, body: dict[str, Any]) -> None:
    """Ask the provider for logprobs when the client did, unless the profile's provider
    rejects them (then the answer simply carries none)."""
    include = request.body.get("include") or ()
    top = request.body.get("top_logprobs")
    wanted = LOGPROBS_INCLUDE in include or (isinstance(top, int) and top > 0)
    if not wanted or not profile.logprobs:
        return
    body["logprobs"] = True
    if isinstance(top, int) and top > 0:
        body["top_logprobs"] = top


def chat_logprobs(value: Any) -> list[dict[str, Any]]:
    """A chat choice's `logprobs` -> the Responses entries for its content tokens."""
    content = value.get("content") if isinstance(value, dict) else None
    if not isinstance(content, list):
        return []
    entries = []
    for entry in content:
        if isinstance(entry, dict) and isinstance(entry.get("token"), str):
            top = entry.get("top_logprobs")
            entries.append({**_token(entry), "top_logprobs": [
                _token(t) for t in top if isinstance(t, dict) and isinstance(t.get("token"), str)
            ] if isinstance(top, list) else []})
    return entries


def _token(entry: dict[str, Any]) -> dict[str, Any]:
    raw = entry.get("bytes")
    token: str = entry["token"]
    logprob = entry.get("logprob")
    return {"token": token,
            "logprob": logprob if isinstance(logprob, (int, float)) else 0.0,
            "bytes": raw if isinstance(raw, list) else list(token.encode())}
