"""`<think>...</think>` at the start of content -> reasoning. Pure, incremental.

Servers without a reasoning parser (plain vLLM, Ollama, llama.cpp with some templates) put a
model's thinking inline. Only a block that opens the answer counts; a tag later in the text is
the model talking about tags and stays content. Tags split across chunks are handled.
"""

from __future__ import annotations

__all__ = ["ThinkSplitter"]

_OPEN = "<think>"
_CLOSE = "</think>"


class ThinkSplitter:
    """Feed content deltas; get (reasoning, content) pieces back, in order."""

    __slots__ = ("_fresh", "_pending", "_state")

    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> closed -> content, or start -> content
        self._pending = ""  # text held back because it may be part of a tag
        self._fresh = True  # no reasoning emitted yet: a leading newline is dropped

    def feed(self, text: str) -> tuple[str, str]:
        if self._state == "content":
            return "", text
        if self._state == "closed":  # the newline after </think> is layout, not content
            text = text.lstrip("\n")
            if text:
                self._state = "content"
            return "", text
        text = self._pending + text
        self._pending = ""
        if self._state == "start":
            stripped = text.lstrip()
            if not stripped or (_OPEN.startswith(stripped) and len(stripped) < len(_OPEN)):
                self._pending = text  # cannot decide yet
                return "", ""
            if not stripped.startswith(_OPEN):
                self._state = "content"
                return "", text
            self._state = "thinking"
            text = stripped[len(_OPEN):]
        if self._fresh:
            text = text.lstrip("\n")
            if not text:
                return "", ""
            self._fresh = False
        end = text.find(_CLOSE)
        if end >= 0:
            self._state = "closed"
            rest = text[end + len(_CLOSE):].lstrip("\n")
            if rest:
                self._state = "content"
            # The newline before </think> is layout too.
            return text[:end].rstrip("\n"), rest
        # Hold back a tail that could be the start of the closing tag, and trailing
        # newlines, which are dropped if the tag follows.
        keep = 0
        for size in range(min(len(_CLOSE) - 1, len(text)), 0, -1):
            if _CLOSE.startswith(text[-size:]):
                keep = size
                break
        body = text[:len(text) - keep]
        newlines = len(body) - len(body.rstrip("\n"))
        keep += newlines
        if keep:
            self._pending = text[-keep:]
            return text[:-keep], ""
        return text, ""

    def flush(self) -> tuple[str, str]:
        """What is held back when the stream ends."""
        pending, self._pending = self._pending, ""
        if self._state == "thinking":
            return pending, ""
        return "", pending
