"""Settings: one immutable object built once from flags and the environment.

Only this module and `cli.py` read the environment, and they receive it as an argument so
tests never touch `os.environ`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

from .keys import ClientKey
from .providers import Profile, detect_profile, get_profile

__all__ = [
    "DEFAULT_LIMITS", "DEFAULT_TIMEOUTS", "Limits", "Settings", "Timeouts", "Upstream",
    "upstreams_from_toml", "with_env_proxy",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """One chat-completions provider: where it is, how to authenticate, which quirks it has."""

    name: str = "default"
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    profile: Profile
    # Client model names this upstream serves: exact names or globs ("deepseek-*").
    # Empty means "anything not claimed by another upstream".
    models: tuple[str, ...] = ()
    # Client model name -> the provider's model name.
    aliases: Mapping[str, str] = field(default_factory=dict)
    api_version: str | None = None  # Azure `api-version`; defaults to the profile's
    # HTTP proxy to reach it through (from HTTP(S)_PROXY / NO_PROXY; see with_env_proxy).
    proxy: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"upstream base URL must be an http(s) URL, got {self.base_url!r}")
        if (parts.username or parts.password) and self.api_key \
                and self.profile.auth_header != "api-key":
            # Both would be the Authorization header; aiohttp refuses that on every request.
            raise ValueError("upstream base URL carries user:password@ credentials and an API "
                             "key is set too; both would be the Authorization header. Use one "
                             "of them")
        base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), parts.query, ""))
        object.__setattr__(self, "base_url", base)

    @classmethod
    def from_url(cls, base_url: str, api_key: str | None = None, *,
                 profile: str | None = None, name: str = "default",
                 models: tuple[str, ...] = (), aliases: Mapping[str, str] | None = None,
                 api_version: str | None = None) -> Upstream:
        chosen = get_profile(profile) if profile else detect_profile(base_url)
        return cls(name=name, base_url=base_url, api_key=api_key or None, profile=chosen,
                   models=models, aliases=dict(aliases or {}), api_version=api_version)

    @property
    def chat_url(self) -> str:
        return self._url("/chat/completions")

    @property
    def models_url(self) -> str:
        return self._url("/models")

    def _url(self, path: str) -> str:
        parts = urlsplit(self.base_url)
        version = self.api_version
        if version is None and not parts.path.endswith("/openai/v1"):
            # Azure's v1 API takes no api-version; its deployment URLs need one.
            version = self.profile.api_version
        query = parts.query
        if version and "api-version=" not in query:
            query = f"{query}&api-version={version}" if query else f"api-version={version}"
        return urlunsplit((parts.scheme, parts.netloc, parts.path + path, query, ""))

    @property
    def display_url(self) -> str:
        """The base URL for logs, errors and /health: without user:password or query values,
        which some deployments use to carry credentials."""
        parts = urlsplit(self.base_url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        query = "&".join(f"{pair.split('=', 1)[0]}=..." for pair in parts.query.split("&")
                         if pair)
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))

    def serves(self, model: str) -> bool:
        """Whether this upstream claims `model` by alias, exact name or glob."""
        if model in self.aliases or model in self.models:
            return True
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Seconds. There is deliberately no total limit on an upstream answer: long reasoning
    streams must not be cut."""

    connect: float = 10.0
    # Longest silence allowed while waiting for the first byte or between stream chunks.
    read: float = 600.0
    # Longest wait for a free upstream connection when all `Limits.max_connections` are busy.
    pool: float = 30.0
    # Client side: a new connection must deliver its first request head within `header`;
    # a request body must arrive within `body`; an idle kept-alive connection (or one
    # sending the next head) is closed after `keepalive`.
    header: float = 20.0
    body: float = 120.0
    keepalive: float = 75.0

    def __post_init__(self) -> None:
        if min(self.connect, self.read, self.pool, self.header, self.body,
               self.keepalive) <= 0:
            raise ValueError("timeouts must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    max_body_bytes: int = 64 * 1024 * 1024  # after decompression; Codex histories get large
    # As sent (Content-Length, compressed or not); checked before anything is read.
    max_compressed_body_bytes: int = 64 * 1024 * 1024
    max_connections: int = 1000  # pooled upstream connections per process
    max_client_connections: int = 1000  # open client connections per process
    # Per client key (one shared bucket when no keys are configured), per process.
    max_requests_per_key: int = 256  # background runs included
    max_streams_per_key: int = 128  # SSE streams and WebSockets

    def __post_init__(self) -> None:
        if min(self.max_body_bytes, self.max_compressed_body_bytes, self.max_connections,
               self.max_client_connections, self.max_requests_per_key,
               self.max_streams_per_key) <= 0:
            raise ValueError("limits must be positive")


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the gateway is configured with."""

    upstreams: tuple[Upstream, ...]
    host: str = "127.0.0.1"
    port: int = 8000
    # Keys clients must present as `Authorization: Bearer ...`; empty means any key is fine.
    api_keys: frozenset[str] = field(default=frozenset(), repr=False)
    # Without client keys, browsers are refused (see browser.py) except from these origins
    # (`https://app.example`) and for these Host names besides the listen address.
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    timeouts: Timeouts = DEFAULT_TIMEOUTS
    limits: Limits = DEFAULT_LIMITS
    # "drop": hosted tools the provider cannot run are left out (logged); "error": 400.
    unsupported_tools: str = "drop"
    # Add a final `data: [DONE]` to streams (OpenAI sends none; Open Responses wants it).
    done_sentinel: bool = False
    # Where stored responses live: sqlite:///path, redis://host:port/db, memory or none.
    store_url: str = "memory"
    store_ttl: float = 30 * 86400.0
    # Per client key (owner): the most responses kept and their total serialised size; the
    # key's oldest go first. One stored response or conversation may not exceed the last.
    store_max_entries: int = 100_000
    store_max_key_bytes: int = 1 << 30
    store_max_response_bytes: int = 128 << 20
    # A background run renews a lease this often x3; one not renewed for this many seconds
    # is taken as dead (its process crashed or stopped) and reported failed.
    run_lease: float = 30.0
    # Seconds of upstream silence after which an SSE stream gets a `: keep-alive` comment
    # (0: never).
    sse_keepalive: float = 15.0
    # Seconds SIGTERM lets running streams and background runs finish before ending them.
    shutdown_timeout: float = 10.0
    # Key that seals reasoning into `encrypted_content` (32 bytes; see translate/reasoning).
    reasoning_key: bytes = field(default=b"", repr=False)
    # Named client keys (flags, environment) and those of the keys file at start; the key
    # ring on the app holds the keys in force (the file's are re-read on SIGHUP).
    client_keys: tuple[ClientKey, ...] = field(default=(), repr=False)
    file_keys: tuple[ClientKey, ...] = field(default=(), repr=False)
    keys_file: str | None = None
    # Key for GET /v1/usage and the /ui status page.
    admin_key: str | None = field(default=None, repr=False)
    # Prometheus metrics at GET /metrics; a token protects them instead of the client keys.
    metrics: bool = True
    metrics_token: str | None = field(default=None, repr=False)
    # Debugging only: request bodies and outputs in the access log.
    log_bodies: bool = False

    def __post_init__(self) -> None:
        if not self.upstreams:
            raise ValueError("at least one upstream is needed")
        names = [u.name for u in self.upstreams]
        if len(set(names)) != len(names):
            raise ValueError(f"upstream names must be unique, got {names}")
        if len(self.reasoning_key) not in (0, 32):
            raise ValueError("reasoning_key must be 32 bytes")
        if not (self.store_url in ("memory", "none", "off")
                or self.store_url.startswith(_STORE_SCHEMES)):
            raise ValueError(f"unknown store URL {self.store_url!r}; use sqlite:///path, "
                             "redis://host:port/db, postgresql://user@host/db, memory or "
                             "none")
        if self.run_lease <= 0:
            raise ValueError("run_lease must be positive")
        if self.sse_keepalive < 0 or self.shutdown_timeout < 0:
            raise ValueError("sse_keepalive and shutdown_timeout must not be negative")
        if (self.store_ttl <= 0 or self.store_max_entries <= 0
                or self.store_max_key_bytes <= 0 or self.store_max_response_bytes <= 0):
            raise ValueError("store_ttl, store_max_entries and the store byte limits must be "
                             "positive")
        if self.store_max_response_bytes > self.store_max_key_bytes:
            raise ValueError("--store-max-response-bytes cannot exceed --store-max-key-bytes")
        if self.unsupported_tools not in ("drop", "error"):
            raise ValueError("unsupported_tools must be 'drop' or 'error'")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")

    @property
    def upstream(self) -> Upstream:
        """The first (in single-upstream mode, the only) upstream."""
        return self.upstreams[0]

    def route(self, model: str) -> tuple[Upstream, str] | None:
        """The upstream for a client's model name and the model name to send it; None when
        no upstream serves that model."""
        for upstream in self.upstreams:
            if upstream.serves(model):
                return upstream, upstream.aliases.get(model, model)
        for upstream in self.upstreams:
            if not upstream.models:
                return upstream, model
        return None


def upstreams_from_toml(data: Mapping[str, object], environ: Mapping[str, str]
                        ) -> tuple[Upstream, ...]:
    """`[[upstreams]]` tables of a config file -> Upstreams. Keys come from the environment
    (`api_key_env`), never from the file itself, so the file can be shared."""
    tables = data.get("upstreams")
    if not isinstance(tables, list) or not tables:
        raise ValueError("the config file needs at least one [[upstreams]] table")
    upstreams = []
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            raise ValueError(f"upstreams[{i}] must be a table")
        unknown = set(table) - _UPSTREAM_KEYS
        if unknown:
            raise ValueError(f"upstreams[{i}]: unknown keys {sorted(unknown)}")
        base_url = table.get("base_url")
        if not isinstance(base_url, str):
            raise ValueError(f"upstreams[{i}].base_url is required")
        for key in ("name", "api_key_env", "profile", "api_version"):
            if key in table and not isinstance(table[key], str):
                raise ValueError(f"upstreams[{i}].{key} must be a string")
        key_env = table.get("api_key_env")
        api_key = environ.get(key_env) if key_env else None
        if key_env and not api_key:
            raise ValueError(f"upstreams[{i}]: environment variable {key_env} is not set")
        models = table.get("models", [])
        aliases = table.get("aliases", {})
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise ValueError(f"upstreams[{i}].models must be a list of strings")
        if not isinstance(aliases, dict) or not all(isinstance(v, str)
                                                    for v in aliases.values()):
            raise ValueError(f"upstreams[{i}].aliases must map names to strings")
        upstreams.append(Upstream.from_url(
            base_url, api_key, profile=table.get("profile"),
            name=str(table.get("name") or f"upstream{i}"), models=tuple(models),
            aliases=aliases, api_version=table.get("api_version")))
    return tuple(upstreams)


_STORE_SCHEMES = ("sqlite:", "redis://", "rediss://", "unix://", "postgresql://", "postgres://")

_UPSTREAM_KEYS = frozenset({"name", "base_url", "api_key_env", "profile", "models", "aliases",
                            "api_version"})


def with_env_proxy(upstream: Upstream, environ: Mapping[str, str]) -> Upstream:
    """The upstream with the proxy the environment asks for (HTTPS_PROXY / HTTP_PROXY,
    honouring NO_PROXY), resolved once rather than on every request."""
    parts = urlsplit(upstream.base_url)
    env = {k.lower(): v for k, v in environ.items() if k.lower().endswith("_proxy") and v}
    proxy = env.get(f"{parts.scheme}_proxy") or env.get("all_proxy")
    if not proxy:
        return upstream
    host = (parts.hostname or "").lower()
    for entry in env.get("no_proxy", "").split(","):
        entry = entry.strip().lower().lstrip(".")
        if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
            return upstream
    return replace(upstream, proxy=proxy)
