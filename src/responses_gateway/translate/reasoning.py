"""The reasoning carrier: raw reasoning sealed into `encrypted_content`, and unsealed on replay.

Thinking-mode providers (DeepSeek, Qwen, Kimi) want an assistant turn's `reasoning_content`
back on the next request, while stateless clients such as Codex (`store: false`) send back
only the reasoning item they were given. So the reasoning travels inside the item, sealed
with AES-256-GCM under the gateway's key and tagged with provider and model. A blob that was
tampered with, sealed under another key or for another provider is ignored, never trusted.
Pure: the nonce comes in as an argument.

Blob format: "rgw1." + base64url(nonce[12] + ciphertext+tag) over
orjson({"k": kind, "p": provider, "m": model, "r": text[, "x": extras]}), with associated data
b"rgw1". `extras` maps tool call ids to what the provider attached to those calls and wants
back unchanged (Gemini's `extra_content` with its thought signature). Reasoning blobs also
name the provider field that carried the text ("f") and keep a `reasoning_details` array as
sent ("d"), so the next turn sends it back the same way from any replica, after any restart.
The same carrier holds compaction summaries (kind "compaction").
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .reasoning_fields import VIAS, Reasoning

__all__ = ["SEALED_PREFIX", "ReasoningSeal", "derive_key", "reasoning_text_of"]

SEALED_PREFIX = _PREFIX = "rgw1."
_AAD = b"rgw1"
NONCE_BYTES = 12


def derive_key(secret: str | bytes) -> bytes:
    """A 32-byte key from any operator-supplied secret (raw 32 bytes are used as they are)."""
    if isinstance(secret, bytes) and len(secret) == 32:
        return secret
    if isinstance(secret, str):
        secret = secret.encode()
    return hashlib.sha256(b"responses-gateway reasoning key\0" + secret).digest()


@dataclass(frozen=True, slots=True)
class ReasoningSeal:
    """Seals and unseals reasoning for one gateway key."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise ValueError("the reasoning key must be 32 bytes")

    def seal(self, reasoning: str, *, provider: str, model: str, nonce: bytes,
             kind: str = "reasoning", extras: dict[str, Any] | None = None,
             via: str | None = None, details: list[dict[str, Any]] | None = None) -> str:
        if len(nonce) != NONCE_BYTES:
            raise ValueError("nonce must be 12 bytes")
        payload: dict[str, Any] = {"k": kind, "p": provider, "m": model, "r": reasoning}
        if extras:
            payload["x"] = extras
        if via is not None:
            payload["f"] = via
        if details:
            payload["d"] = details
        plain = orjson.dumps(payload)
        sealed = AESGCM(self.key).encrypt(nonce, plain, _AAD)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def unseal(self, blob: Any, *, provider: str | None, kind: str = "reasoning") -> str | None:
        """The text sealed in `blob`, or None if it is not ours, was altered, is of another
        kind, or is for another provider (its reasoning would be rejected or misleading
        there). `provider=None` accepts any provider."""
        payload = self._open(blob, provider=provider, kind=kind)
        reasoning = payload.get("r") if payload is not None else None
        return reasoning if isinstance(reasoning, str) else None

    def unseal_reasoning(self, blob: Any, *, provider: str | None) -> Reasoning | None:
        """As `unseal`, with the field that carried the reasoning and any details array."""
        payload = self._open(blob, provider=provider, kind="reasoning")
        text = payload.get("r") if payload is not None else None
        if payload is None or not isinstance(text, str):
            return None
        via, details = payload.get("f"), payload.get("d")
        return Reasoning(text, via if via in VIAS else None,
                         details if isinstance(details, list) else None)

    def unseal_extras(self, blob: Any, *, provider: str | None) -> dict[str, Any]:
        """The per-tool-call extras sealed in `blob` ({} when none, or not trusted)."""
        payload = self._open(blob, provider=provider, kind="reasoning")
        extras = payload.get("x") if payload is not None else None
        return extras if isinstance(extras, dict) else {}

    def _open(self, blob: Any, *, provider: str | None, kind: str) -> dict[str, Any] | None:
        if not isinstance(blob, str) or not blob.startswith(_PREFIX):
            return None
        body = blob[len(_PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = AESGCM(self.key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _AAD)
            payload = orjson.loads(plain)
        except (ValueError, InvalidTag, orjson.JSONDecodeError):
            return None
        if not isinstance(payload, dict) or payload.get("k", "reasoning") != kind:
            return None
        if provider is not None and payload.get("p") != provider:
            return None
        return payload


def reasoning_text_of(item: dict[str, Any]) -> str | None:
    """Plain reasoning text a client replayed in the item's `content` (if any)."""
    content = item.get("content")
    if not isinstance(content, list):
        return None
    texts = [str(p["text"]) for p in content
             if isinstance(p, dict) and p.get("type") == "reasoning_text"
             and isinstance(p.get("text"), str)]
    return "".join(texts) if texts else None
