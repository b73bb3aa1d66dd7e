"""A Responses create request (+ stored history) -> a chat.completions request. Pure: no I/O.

Only what a chat provider understands is forwarded. Responses-only fields (store, include,
metadata, client_metadata, truncation, service_tier, background, ...) never are: providers
reject unknown fields, and these describe the gateway's own behaviour anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..protocol.errors import InvalidRequest
from ..protocol.requests import CreateRequest
from ..providers import Profile
from .fit import fit_messages, fit_tool_choice, reasoning_knob, schema_instruction
from .items import CompactionExpander, ExtrasResolver, ReasoningResolver, to_chat_messages
from .logprobs import logprobs_options
from .tools import ToolMap, strip_schema_keys, to_chat_tools

__all__ = ["ChatRequest", "to_chat_request"]

_PASSTHROUGH = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What to send upstream, and what the response translator needs to read the answer."""

    body: dict[str, Any]
    tool_map: ToolMap
    tools_echo: list[dict[str, Any]]
    dropped_tools: tuple[str, ...]
    instruction_messages: int = 0  # leading messages that came from `instructions`

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body["messages"]  # type: ignore[no-any-return]

    @property
    def carried_messages(self) -> list[dict[str, Any]]:
        """The messages a follow-up turn builds on: all but those from `instructions`."""
        return self.messages[self.instruction_messages:]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


def to_chat_request(
    request: CreateRequest,
    profile: Profile,
    *,
    upstream_model: str | None = None,
    history: list[dict[str, Any]] | None = None,
    reject_unsupported_tools: bool = False,
    resolve_reasoning: ReasoningResolver | None = None,
    expand_compaction: CompactionExpander | None = None,
    stream: bool | None = None,
    resolve_extras: ExtrasResolver | None = None,
    reasoning_seen: str | None = None,
) -> ChatRequest:
    """Build the chat request; raises InvalidRequest for anything that cannot be carried.

    `reasoning_seen`: the field the upstream used for reasoning lately (lessons.py).
    """
    toolset = to_chat_tools(request.body.get("tools"), request.body.get("tool_choice"), profile,
                            reject_unsupported=reject_unsupported_tools)
    messages: list[dict[str, Any]] = []
    instructions = request.body.get("instructions")
    if instructions:
        messages.append({"role": "developer" if profile.developer_role else "system",
                         "content": instructions})
    messages = to_chat_messages(request.input, profile, toolset.tool_map,
                                history=[*messages, *(history or ())],
                                resolve_reasoning=resolve_reasoning,
                                expand_compaction=expand_compaction,
                                resolve_extras=resolve_extras if profile.tool_call_extras
                                else None,
                                # Continuing stored history, every call is known to us.
                                strict_tool_outputs=bool(history))
    if not messages:
        raise InvalidRequest("'input' is empty: there is nothing to send to the model.",
                             param="input", code="missing_required_parameter")

    model = upstream_model or request.model
    body: dict[str, Any] = {"model": model, "messages": messages}
    for key in _PASSTHROUGH:
        value = request.body.get(key)
        if value is not None:
            body[key] = value
    logprobs_options(request, profile, body)
    limit = request.body.get("max_output_tokens")
    if limit is None:
        limit = request.body.get("max_tokens")
    if limit is not None:
        body[profile.max_tokens_field] = limit
    stop = request.body.get("stop")
    if stop is not None:
        body["stop"] = stop
    if request.stream if stream is None else stream:
        body["stream"] = True
        if profile.stream_options:
            body["stream_options"] = {"include_usage": True}

    if toolset.tools:
        body["tools"] = toolset.tools
        if toolset.tool_choice is not None:
            body["tool_choice"] = toolset.tool_choice
        if request.body.get("parallel_tool_calls") is not None:
            body["parallel_tool_calls"] = request.body["parallel_tool_calls"]

    # Messages made from this request's settings (instructions, a schema instruction) lead
    # the list; they are not history for the next turn.
    settings_messages = (1 if instructions else 0) + _text_options(request, profile, body)
    user = request.body.get("safety_identifier") or request.body.get("user")
    if user and profile.user_field:
        body["user"] = user
    if profile.prompt_cache_key and request.body.get("prompt_cache_key"):
        body["prompt_cache_key"] = request.body["prompt_cache_key"]
    effort = (request.body.get("reasoning") or {}).get("effort")
    thinking = reasoning_knob(effort, profile, body, model)
    if "tool_choice" in body:
        body["tool_choice"] = fit_tool_choice(body["tool_choice"], profile, thinking)
    body["messages"] = fit_messages(body["messages"], profile, thinking=thinking, model=model,
                                    tools="tools" in body, reasoning_seen=reasoning_seen)
    return ChatRequest(body, toolset.tool_map, toolset.echo, toolset.dropped,
                       settings_messages)


def _text_options(request: CreateRequest, profile: Profile, body: dict[str, Any]) -> int:
    """Map `text`; returns how many messages it put at the front of `messages`."""
    added = 0
    text = request.body.get("text") or {}
    fmt = text.get("format")
    if fmt:
        kind = fmt["type"]
        if kind == "json_schema":
            schema = fmt.get("schema")
            name = fmt.get("name")
            if not isinstance(schema, dict):
                raise InvalidRequest("'text.format.schema' must be a JSON schema object.",
                                     param="text.format.schema", code="invalid_type")
            if not isinstance(name, str) or not name:
                raise InvalidRequest("'text.format.name' is required for json_schema.",
                                     param="text.format.name", code="missing_required_parameter")
            if profile.strip_schema_keys:
                schema = strip_schema_keys(schema, profile.strip_schema_keys)
            json_schema: dict[str, Any] = {"name": name, "schema": schema}
            if fmt.get("strict") is not None:
                json_schema["strict"] = fmt["strict"]
            if fmt.get("description"):
                json_schema["description"] = fmt["description"]
            if profile.json_object_schema:
                body["response_format"] = {"type": "json_object", "schema": schema}
            elif profile.json_schema:
                body["response_format"] = {"type": "json_schema", "json_schema": json_schema}
            else:
                body["response_format"] = {"type": "json_object"}
                body["messages"].insert(0, schema_instruction(json_schema))
                added = 1
        elif kind == "json_object":
            body["response_format"] = {"type": "json_object"}
        elif kind != "text":
            raise InvalidRequest(f"Unsupported 'text.format.type': {kind!r}.",
                                 param="text.format.type", code="invalid_value")
    verbosity = text.get("verbosity")
    if profile.verbosity and isinstance(verbosity, str):
        body["verbosity"] = verbosity
    return added
