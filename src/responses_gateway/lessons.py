"""What each upstream has taught us: the field its reasoning comes in, and the request fixes
its errors asked for. Per process, per (upstream, model), for the process's life; no I/O.

A 400 or 422 that names a field (spec/providers.md, "Recommended default" 5) becomes a `Fix`
(`diagnose`): drop the field, rename it, add the reasoning the provider misses, or one of a
few rewrites. `generation.py` retries once with it, before anything reached the client, and
`learn` keeps it, so later requests are shaped right from the start: `profile_for` (fixes
that need the translator) and `apply` (fixes to the finished body). Each new fix is logged
once. `stats` counts what happened and `listeners` are told, for metrics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import string
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from .protocol.errors import UpstreamStatus
from .providers import Profile
from .translate.reasoning_fields import VIAS
from .translate.tools import strip_schema_keys

__all__ = ["Fix", "Lessons", "apply", "diagnose"]

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (upstream name, upstream model)
Listener = Callable[[str, str, str, str], None]  # (event, upstream, model, fix)


@dataclass(frozen=True, slots=True)
class Fix:
    """One change to every request: `action` "drop" / "rename" / "add" / "rewrite".

    `where` is "body", "messages", "tools" (inside each `function`) or "schema" (a JSON
    schema key in tools and response_format); `to` is a rename's new name.
    """

    action: str
    name: str
    where: str = "body"
    to: str | None = None

    def __str__(self) -> str:
        place = "" if self.where == "body" else f" ({self.where})"
        if self.action == "rename":
            return f"send '{self.name}' as '{self.to}'"
        return f"{self.action} '{self.name}'{place}"

    def opposes(self, other: Fix) -> bool:
        """A later lesson replaces an earlier opposite one (add vs drop, a rename back)."""
        if self.action == "rename" and other.action == "rename":
            return (self.name, self.to) == (other.to, other.name)
        return ({self.action, other.action} == {"add", "drop"}
                and (self.name, self.where) == (other.name, other.where))


# Fields that carry the conversation itself: never dropped.
_PROTECTED = frozenset({"model", "messages", "role", "content", "tool_calls", "tool_call_id",
                        "tools", "function", "type", "id", "arguments", "parameters", "body",
                        "stream"})
_RULE_TEXTS = (
    # DeepSeek V4 / V3.2, Kimi: the reasoning must come back.
    (r"reasoning_content.{0,80}(missing|must be passed back)"
     r"|(missing|must carry).{0,40}reasoning_content", Fix("add", "reasoning_content", "messages")),
    (r"\breasoning\b.{0,30}(is missing|must be passed back)"
     r"|(missing|must carry).{0,200}in 'reasoning'", Fix("add", "reasoning", "messages")),
    # DeepSeek R1: it must not.
    (r"remove the reasoning_content", Fix("drop", "reasoning_content", "messages")),
    (r"Use 'max_completion_tokens'", Fix("rename", "max_tokens", to="max_completion_tokens")),
    (r"'developer'|unknown variant `developer`|role.{0,20}developer",
     Fix("rewrite", "developer", "messages")),
    (r"tool_choice.{0,80}(thinking|reasoning)|(thinking|reasoning).{0,80}tool_choice"
     r"|does not support being set to required", Fix("rewrite", "tool_choice")),
    (r"enable_thinking must be set to false for non-streaming", Fix("rewrite", "stream")),
    (r"json_schema.{0,5} is unavailable|response_format type is unavailable",
     Fix("rewrite", "json_schema")),
    (r"invalid type: sequence, expected a string", Fix("rewrite", "text_parts", "messages")),
    (r"Tool call id was .{0,200} must be a-z, A-Z, 0-9, with a length of 9",
     Fix("rewrite", "tool_ids", "messages")),
    (r"Unexpected role 'user' after role 'tool'", Fix("rewrite", "user_after_tool", "messages")),
    (r"invalid tool call arguments", Fix("rewrite", "tool_arguments", "messages")),
    (r"reasoning_effort.{0,40}thinking_budget.{0,40}simultaneously",
     Fix("drop", "reasoning_effort")),
)
_RULES = tuple((re.compile(text, re.I | re.S), fix) for text, fix in _RULE_TEXTS)
# Ways a provider names a field it does not accept.
_NAMED = tuple(re.compile(p, re.I) for p in (
    r"Unrecognized request argument supplied: ([\w.]+)",
    r"Unknown parameter: '([\w.\[\]]+)'",
    r"Unsupported parameter: '([\w.\[\]]+)'",
    r"Unknown name \\?\"([\w$]+)\\?\"",
    r"property '([\w.]+)' is unsupported",
    r"does not support parameter `?([\w.]+)`?",
    r"Additional properties are not allowed \('([\w.]+)' was unexpected\)",
    r"'loc': \[([^\]]*)\]", r"\"loc\": ?\[([^\]]*)\]",
    r"unknown field `([\w.]+)`",
    r"Unsupported JSON schema keyword '([\w$]+)'",
    r"Unsupported thinking type()",
    r"(?:not supported|unsupported)[^:.]{0,60}: ?'?([\w.\[\]]+)",
))
_REJECTS = re.compile(r"unsupported|not supported|unknown|unrecognized|not allowed|extra"
                      r"|forbidden|not permitted", re.I)


def diagnose(status: int, message: str, param: str | None,
             body: dict[str, Any]) -> Fix | None:
    """The fix an error asks for, or None. Only 400 and 422 are read."""
    if status not in (400, 422):
        return None
    for pattern, fix in _RULES:
        if pattern.search(message):
            return fix
    names = []
    for pattern in _NAMED:
        found = pattern.search(message)
        if found:
            names.append(found.group(1) or "thinking")
    if param and _REJECTS.search(message):
        names.append(param)
    for raw in names:
        words = re.findall(r"[\w$]+", raw)
        name = words[-1] if words else ""
        schema = ("Unknown name" in message and "parameters" in message
                  or "schema keyword" in message)
        # xAI names fields in camelCase ("reasoningEffort").
        snake = re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)
        for candidate in dict.fromkeys((name, snake)):
            located = _locate(candidate, body, schema=schema)
            if located is not None:
                return located
    return None


def _locate(name: str, body: dict[str, Any], *, schema: bool) -> Fix | None:
    """Where the rejected field is in the request that was sent."""
    if not name or name in _PROTECTED:
        return None
    if name == "max_completion_tokens" and name in body:
        return Fix("rename", name, to="max_tokens")
    if schema:
        return Fix("drop", name, "schema")
    if name in body:
        return Fix("drop", name)
    if any(isinstance(m, dict) and name in m for m in body.get("messages") or ()):
        return Fix("drop", name, "messages")
    if name != "name" and any(name in (t.get("function") or {}) for t in body.get("tools") or ()
                              if isinstance(t, dict)):
        return Fix("drop", name, "tools")
    return None


def profile_for(profile: Profile, fixes: frozenset[Fix]) -> Profile:
    """The profile with the fixes that the translator has to make."""
    changes: dict[str, Any] = {}
    for fix in fixes:
        if fix.action == "add" and fix.where == "messages" and fix.name in VIAS:
            changes.update(reasoning_replay=True, reasoning_field=fix.name,
                           reasoning_placeholder_all=True)
            if profile.reasoning_placeholder is None:
                changes["reasoning_placeholder"] = ""
        elif fix == Fix("rewrite", "json_schema"):
            changes["json_schema"] = False
        elif fix == Fix("rewrite", "stream"):
            changes["stream_upstream"] = True
    return dataclasses.replace(profile, **changes) if changes else profile


def apply(body: dict[str, Any], fixes: frozenset[Fix]) -> dict[str, Any]:
    """A copy of a finished chat request body with the fixes made."""
    body = dict(body)
    for fix in sorted(fixes, key=str):
        if fix.action == "drop" and fix.where == "body":
            body.pop(fix.name, None)
        elif fix.action == "rename" and fix.name in body:
            body[fix.to or fix.name] = body.pop(fix.name)
        elif fix.action == "drop" and fix.where == "messages":
            body["messages"] = [{k: v for k, v in m.items() if k != fix.name}
                                for m in body["messages"]]
        elif fix.action == "drop" and fix.where == "tools" and "tools" in body:
            body["tools"] = [{**t, "function": {k: v for k, v in t["function"].items()
                                                if k != fix.name}} for t in body["tools"]]
        elif fix.action == "drop" and fix.where == "schema":
            _strip_schemas(body, frozenset({fix.name}))
        elif fix.action == "rewrite" and fix.name in _REWRITES:
            _REWRITES[fix.name](body)
    return body


def _strip_schemas(body: dict[str, Any], keys: frozenset[str]) -> None:
    if "tools" in body:
        body["tools"] = [{**t, "function": {**t["function"], "parameters": strip_schema_keys(
            t["function"].get("parameters"), keys)}} for t in body["tools"]]
    schema = (body.get("response_format") or {}).get("json_schema")
    if isinstance(schema, dict):
        body["response_format"] = {**body["response_format"], "json_schema": {
            **schema, "schema": strip_schema_keys(schema.get("schema"), keys)}}


def _developer(body: dict[str, Any]) -> None:
    body["messages"] = [{**m, "role": "system"} if m.get("role") == "developer" else m
                        for m in body["messages"]]


def _text_parts(body: dict[str, Any]) -> None:
    def joined(m: dict[str, Any]) -> dict[str, Any]:
        content = m.get("content")
        if isinstance(content, list) and content and all(
                isinstance(p, dict) and p.get("type") == "text" for p in content):
            return {**m, "content": "\n".join(str(p.get("text", "")) for p in content)}
        return m
    body["messages"] = [joined(m) for m in body["messages"]]


def _tool_choice(body: dict[str, Any]) -> None:
    if body.get("tool_choice") not in (None, "auto", "none"):
        body["tool_choice"] = "auto"


_ALNUM = string.ascii_letters + string.digits


def short_id(call_id: str) -> str:
    """A 9-character [A-Za-z0-9] id derived from `call_id` (the same one every time, so a
    call and its tool message stay paired across turns); ids that fit are kept."""
    if len(call_id) == 9 and call_id.isalnum() and call_id.isascii():
        return call_id
    digest = int.from_bytes(hashlib.sha256(call_id.encode()).digest(), "big")
    chars = []
    for _ in range(9):
        digest, index = divmod(digest, len(_ALNUM))
        chars.append(_ALNUM[index])
    return "".join(chars)


def _tool_ids(body: dict[str, Any]) -> None:
    def fixed(m: dict[str, Any]) -> dict[str, Any]:
        if m.get("tool_calls"):
            m = {**m, "tool_calls": [{**c, "id": short_id(str(c.get("id", "")))}
                                     for c in m["tool_calls"]]}
        if isinstance(m.get("tool_call_id"), str):
            m = {**m, "tool_call_id": short_id(m["tool_call_id"])}
        return m
    body["messages"] = [fixed(m) for m in body["messages"]]


def _user_after_tool(body: dict[str, Any]) -> None:
    messages: list[dict[str, Any]] = []
    for message in body["messages"]:
        if message.get("role") == "user" and messages and messages[-1].get("role") == "tool":
            messages.append({"role": "assistant", "content": "(tool results received)"})
        messages.append(message)
    body["messages"] = messages


def _tool_arguments(body: dict[str, Any]) -> None:
    def valid(arguments: Any) -> str:
        try:
            if isinstance(orjson.loads(arguments), dict):
                return str(arguments)
        except (orjson.JSONDecodeError, TypeError):
            pass
        return orjson.dumps({"input": arguments}).decode()
    body["messages"] = [{**m, "tool_calls": [
        {**c, "function": {**c["function"], "arguments": valid(c["function"].get("arguments"))}}
        for c in m["tool_calls"]]} if m.get("tool_calls") else m for m in body["messages"]]


_REWRITES: dict[str, Callable[[dict[str, Any]], None]] = {
    "developer": _developer, "text_parts": _text_parts, "tool_choice": _tool_choice,
    "tool_ids": _tool_ids, "user_after_tool": _user_after_tool,
    "tool_arguments": _tool_arguments,
}


@dataclass(slots=True)
class _Taught:
    reasoning_field: str | None = None
    fixes: frozenset[Fix] = frozenset()


@dataclass(slots=True)
class Lessons:
    """The process's memory of its upstreams."""

    _taught: dict[Key, _Taught] = field(default_factory=dict)
    # Counters for metrics: "learned" (new fixes), "retried" (requests sent again with a
    # fix), "retry_failed" (... and refused again).
    stats: dict[str, int] = field(default_factory=lambda: {
        "learned": 0, "retried": 0, "retry_failed": 0})
    # Called as listener(event, upstream, model, fix) with each counted event.
    listeners: list[Listener] = field(default_factory=list)

    def reasoning_seen(self, upstream: str, model: str) -> str | None:
        """The field this upstream's model last carried its reasoning in (None: unknown)."""
        taught = self._taught.get((upstream, model))
        return taught.reasoning_field if taught is not None else None

    def saw_reasoning(self, upstream: str, model: str, via: str | None) -> None:
        if via is None or via not in VIAS:
            return
        taught = self._taught.setdefault((upstream, model), _Taught())
        if taught.reasoning_field != via:
            logger.info("upstream %s, model %s: reasoning comes in %r", upstream, model, via)
            taught.reasoning_field = via

    def fixes(self, upstream: str, model: str) -> frozenset[Fix]:
        taught = self._taught.get((upstream, model))
        return taught.fixes if taught is not None else frozenset()

    def learn(self, upstream: str, model: str, fix: Fix, error: str) -> None:
        """Keep `fix` for every later request to this upstream and model (logged once)."""
        taught = self._taught.setdefault((upstream, model), _Taught())
        if fix in taught.fixes:
            return
        taught.fixes = frozenset({f for f in taught.fixes if not fix.opposes(f)} | {fix})
        logger.warning("upstream %s, model %s rejected a request (%s); from now on the "
                       "gateway will %s", upstream, model, error[:300], fix)
        self.count("learned", upstream, model, fix)

    def relearn(self, upstream: str, model: str, error: UpstreamStatus,
                body: dict[str, Any]) -> Fix | None:
        """Keep the fix a refusal of `body` asks for, if any, and return it."""
        fix = diagnose(error.status, error.message, error.param, body)
        if fix is not None:
            self.learn(upstream, model, fix, error.message)
        return fix

    def count(self, event: str, upstream: str, model: str, fix: Fix | str) -> None:
        self.stats[event] = self.stats.get(event, 0) + 1
        for listener in self.listeners:
            listener(event, upstream, model, str(fix))
