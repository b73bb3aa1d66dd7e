"""Client keys with names, model limits and daily token budgets.

Keys come from `--api-key` / RESPONSES_GATEWAY_API_KEYS (`NAME=KEY`, or a bare `KEY` that is
named `key-` + 8 hex digits of its SHA-256) and from a TOML keys file (`--keys-file`), which
is read again on SIGHUP. Logs, metrics and usage name a key by its name only.

    [[keys]]
    name = "alice"
    key = "..."                # or key_env = "ALICE_KEY"
    models = ["qwen-*"]        # optional: model names or globs this key may use
    daily_tokens = 2000000     # optional: input + output tokens per UTC day
"""

from __future__ import annotations

import contextvars
import fnmatch
import hashlib
import hmac
import logging
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from typing import Any, Mapping

from .protocol.errors import PermissionDenied

__all__ = ["ClientKey", "KeyRing", "current_key", "keys_from_file", "parse_key_spec",
           "require_model", "using_key"]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_FILE_FIELDS = frozenset({"name", "key", "key_env", "models", "daily_tokens"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientKey:
    """One key a client may present, and what it may do."""

    name: str
    secret: str = field(repr=False)
    models: tuple[str, ...] = ()  # names or globs; empty: any model
    daily_tokens: int | None = None  # input + output tokens per UTC day; None: no budget

    def allows(self, model: str) -> bool:
        return not self.models or any(fnmatch.fnmatchcase(model, p) for p in self.models)


def digest_name(secret: str) -> str:
    """The name of a key given without one: never the key, a short digest of it."""
    return "key-" + hashlib.sha256(secret.encode()).hexdigest()[:8]


def parse_key_spec(spec: str) -> ClientKey:
    """`NAME=KEY` or a bare `KEY`. A name starts with a letter; a key that merely contains
    `=` (base64 padding) and no valid name before it stays a bare key."""
    name, sep, secret = spec.partition("=")
    if sep and secret and not secret.startswith("=") and _NAME.fullmatch(name):
        return ClientKey(name=name, secret=secret)
    return ClientKey(name=digest_name(spec), secret=spec)


def keys_from_file(path: str, environ: Mapping[str, str]) -> tuple[ClientKey, ...]:
    """The `[[keys]]` of a TOML keys file. ValueError (naming the file and entry) when it
    is unreadable, readable by others than its owner, or malformed."""
    try:
        info = os.stat(path)
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ValueError(f"keys file {path}: it holds secrets, so it must not be readable "
                             f"by group or others (mode {stat.S_IMODE(info.st_mode):o}; run "
                             f"chmod 600 {path})")
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"keys file {path}: {exc}") from None
    tables = data.get("keys")
    if not isinstance(tables, list):
        raise ValueError(f"keys file {path}: needs [[keys]] tables")
    return tuple(_key_from_table(table, i, path, environ) for i, table in enumerate(tables))


def _key_from_table(table: Any, i: int, path: str, environ: Mapping[str, str]) -> ClientKey:
    where = f"keys file {path}: keys[{i}]"
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    unknown = set(table) - _FILE_FIELDS
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{where}.name must be a name (a letter, then letters, digits, _.-)")
    secret = table.get("key")
    if "key_env" in table:
        variable = table["key_env"]
        if not isinstance(variable, str):
            raise ValueError(f"{where}.key_env must be a string")
        secret = environ.get(variable)
        if not secret:
            raise ValueError(f"{where}: environment variable {variable} is not set")
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"{where} needs `key` or `key_env`")
    models = table.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise ValueError(f"{where}.models must be a list of model names or globs")
    budget = table.get("daily_tokens")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool)
                               or budget <= 0):
        raise ValueError(f"{where}.daily_tokens must be a positive integer")
    return ClientKey(name=name, secret=secret, models=tuple(models), daily_tokens=budget)


def check_unique(keys: tuple[ClientKey, ...]) -> None:
    names = [k.name for k in keys]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"client key names must be unique: {', '.join(duplicates)}")
    secrets = [k.secret for k in keys]
    if len(set(secrets)) != len(secrets):
        raise ValueError("the same client key is given twice")


class KeyRing:
    """The keys in force. The fixed ones (flags, environment) stay; the file's are replaced
    by `reload()`, all at once, and only by a file that reads without error."""

    def __init__(self, fixed: tuple[ClientKey, ...], *, path: str | None = None,
                 environ: Mapping[str, str] | None = None,
                 from_file: tuple[ClientKey, ...] = ()) -> None:
        self._fixed = fixed
        self._path = path
        self._environ = dict(environ or {})
        self.keys = fixed + from_file

    @property
    def required(self) -> bool:
        return bool(self.keys)

    def match(self, presented: str) -> ClientKey | None:
        """The key presented, compared with every key in constant time per key."""
        found = None
        wanted = presented.encode()
        for key in self.keys:
            if hmac.compare_digest(wanted, key.secret.encode()):
                found = key
        return found

    def reload(self) -> str | None:
        """Read the keys file again; None on success, else why the old keys stay."""
        if self._path is None:
            return None
        try:
            keys = self._fixed + keys_from_file(self._path, self._environ)
            check_unique(keys)
            if not keys:
                raise ValueError("no keys left: refusing to open the gateway to anyone")
        except ValueError as exc:
            logger.error("keys not reloaded, the previous %d stay: %s", len(self.keys), exc)
            return str(exc)
        self.keys = keys
        logger.info("keys reloaded from %s: %d keys (%s)", self._path, len(keys),
                    ", ".join(k.name for k in keys))
        return None


# The key of the request being served (set by the auth middleware; a background run started
# by the request keeps it). None when the gateway has no keys.
_current: contextvars.ContextVar[ClientKey | None] = contextvars.ContextVar(
    "responses_gateway_client_key", default=None)


def using_key(key: ClientKey | None) -> None:
    _current.set(key)


def current_key() -> ClientKey | None:
    return _current.get()


def require_model(model: str) -> None:
    """Refuse (403, before anything goes upstream) a model the current key may not use."""
    key = _current.get()
    if key is not None and not key.allows(model):
        raise PermissionDenied(f"The key '{key.name}' may not use the model '{model}'.",
                               param="model", code="model_not_allowed")
