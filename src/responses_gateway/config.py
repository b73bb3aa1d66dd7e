"""Settings: one immutable object built once from flags and the environment.

Only this module and `cli.py` read the environment, and they receive it as an argument so
tests never touch `os.environ`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .providers import Profile, detect_profile, get_profile

__all__ = ["DEFAULT_LIMITS", "DEFAULT_TIMEOUTS", "Limits", "Settings", "Timeouts", "Upstream"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """One chat-completions provider: where it is, how to authenticate, which quirks it has."""

    name: str = "default"
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    profile: Profile

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"upstream base URL must be an http(s) URL, got {self.base_url!r}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @classmethod
    def from_url(cls, base_url: str, api_key: str | None = None, *,
                 profile: str | None = None, name: str = "default") -> Upstream:
        chosen = get_profile(profile) if profile else detect_profile(base_url)
        return cls(name=name, base_url=base_url, api_key=api_key or None, profile=chosen)

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def models_url(self) -> str:
        return f"{self.base_url}/models"


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Seconds. There is deliberately no total limit: long reasoning streams must not be cut."""

    connect: float = 10.0
    # Longest silence allowed while waiting for the first byte or between stream chunks.
    read: float = 600.0

    def __post_init__(self) -> None:
        if self.connect <= 0 or self.read <= 0:
            raise ValueError("timeouts must be positive")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    max_body_bytes: int = 64 * 1024 * 1024  # Codex histories with images get large
    max_connections: int = 1000  # pooled upstream connections per process

    def __post_init__(self) -> None:
        if self.max_body_bytes <= 0 or self.max_connections <= 0:
            raise ValueError("limits must be positive")


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the gateway is configured with."""

    upstream: Upstream
    host: str = "127.0.0.1"
    port: int = 8000
    # Keys clients must present as `Authorization: Bearer ...`; empty means any key is fine.
    api_keys: frozenset[str] = field(default=frozenset(), repr=False)
    timeouts: Timeouts = DEFAULT_TIMEOUTS
    limits: Limits = DEFAULT_LIMITS
    # "drop": hosted tools the provider cannot run are left out (logged); "error": 400.
    unsupported_tools: str = "drop"
    # Add a final `data: [DONE]` to streams (OpenAI sends none; Open Responses wants it).
    done_sentinel: bool = False

    def __post_init__(self) -> None:
        if self.unsupported_tools not in ("drop", "error"):
            raise ValueError("unsupported_tools must be 'drop' or 'error'")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
