"""Provider profiles: each upstream's quirks stated as data, not as code paths.

A profile says what a chat-completions provider accepts so the translator can shape the
request for it. Profiles are picked from the base URL where the host is unambiguous, or named
explicitly (`--provider`). The record is `profile.Profile`; the profiles are `table.PROFILES`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .profile import KNOBS, Profile
from .table import DASHSCOPE_THINKING_BUDGET, DOMAIN_HINTS, HOST_HINTS, PROFILES

__all__ = ["DASHSCOPE_THINKING_BUDGET", "KNOBS", "PROFILES", "Profile", "detect_profile",
           "get_profile"]

_OLLAMA_PORT = 11434
_LMSTUDIO_PORT = 1234


def get_profile(name: str) -> Profile:
    """The named profile; raises ValueError listing the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown provider profile {name!r}; known: "
                         f"{', '.join(PROFILES)}") from None


def detect_profile(base_url: str) -> Profile:
    """Guess the profile from a base URL's host (never its path); `adaptive` when nothing
    matches. Self-hosted servers (vLLM, SGLang, llama.cpp, TGI) cannot be told apart by URL,
    except Ollama's and LM Studio's default ports."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    for hint, name in HOST_HINTS:
        if hint in host:
            return PROFILES[name]
    for domain, name in DOMAIN_HINTS:
        if host == domain or host.endswith("." + domain):
            return PROFILES[name]
    try:
        port = parts.port
    except ValueError:
        port = None
    if port == _OLLAMA_PORT or "ollama" in host:
        return PROFILES["ollama"]
    if port == _LMSTUDIO_PORT or "lmstudio" in host:
        return PROFILES["lmstudio"]
    return PROFILES["adaptive"]
