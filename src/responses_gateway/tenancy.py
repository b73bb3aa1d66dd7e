"""Who a request acts for: the owner of what it stores and may read back.

The owner is a keyed hash (HMAC-SHA256 under a secret derived from the reasoning key) of the
client key the request presented, so the store never holds a client key, owners match across
replicas that share the reasoning key, and nobody can compute an owner without the secret.
With no client keys configured every request has the default owner: one tenant.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from .appkeys import keyring_key, owner_secret_key
from .store import DEFAULT_OWNER

__all__ = ["owner_of", "owner_secret", "presented_key"]


def owner_secret(reasoning_key: bytes) -> bytes:
    """The owner-hashing secret: derived, so owners reveal nothing about the sealing key."""
    return hmac.new(reasoning_key, b"responses-gateway owner v1", hashlib.sha256).digest()


def presented_key(request: web.Request) -> str | None:
    """The client key sent as `Authorization: Bearer KEY` or an `api-key` header."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("api-key") or None


def owner_of(request: web.Request) -> str:
    """The owner for this request (auth has already accepted its key, if keys are set)."""
    if not request.app[keyring_key].required:  # no client keys (--api-key, --keys-file)
        return DEFAULT_OWNER
    key = presented_key(request) or ""
    digest = hmac.new(request.app[owner_secret_key], key.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]  # 128 bits
