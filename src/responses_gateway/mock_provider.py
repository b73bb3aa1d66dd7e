"""A deterministic fake OpenAI-compatible chat.completions provider, for offline use and tests.

Run `responses-gateway mock-provider` and point the gateway at http://127.0.0.1:9000/v1. The
request's `model` picks the behaviour (see MODELS; unknown models act like `mock-echo`). Given
`tools` and a last user message that mentions "tool", "weather", "call" or "run", the model
calls a tool with arguments made up from its schema ("two tools" or "parallel": two calls;
"loop N": keeps calling after each tool result until N results came back). `mock-think` gives
reasoning first: "Let me think about <first call id>." on tool-call turns (the thinking quirks
can switch it off; `think-tags` moves it into the content).
Requests are checked as strictly as a real provider checks them, plus optional QUIRKS copying
particular providers (see mock_quirks.py). Every chat/models request is kept, in order and
before it is checked, with its headers and query, at GET /_mock/requests (DELETE clears it) so
tests can see exactly what the provider received.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import re
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Iterator

import orjson
from aiohttp import web

from .mock_quirks import (
    ERROR_TYPES,
    MIDSTREAM_REFUSAL,
    QUIRKS as _BASE_QUIRKS,
    MockError as _Error,
    call_reasoning,
    check_auth,
    check_body,
    check_message,
    thinks,
)
from .mock_rules import (
    MODEL_ALIASES,
    PRESETS,
    RULE_QUIRKS,
    check_rules,
    shape_deltas,
    shape_message,
    tool_call_id,
)

logger = logging.getLogger("responses_gateway.mock_provider")

__all__ = ["MODELS", "PRESETS", "QUIRKS", "REQUEST_LOG", "create_mock_app",
           "run_mock_provider"]

QUIRKS = _BASE_QUIRKS | RULE_QUIRKS

MODELS = (
    "mock-echo",            # "You said: <last user text>", or "Tool result: <content>" after one
    "mock-think",           # reasoning_content "Let me think about this." then the answer
    "mock-length",          # "This answer is cut", finish_reason "length"
    "mock-refusal",         # refusal "I can't help with that.", content null
    "mock-filter",          # "Partial", finish_reason "content_filter"
    *(f"mock-error-{status}" for status in ERROR_TYPES),  # that status before any stream
    "mock-fail-midstream",  # two content chunks, then an error data frame (non-stream: 500)
    "mock-refuse-in-200",   # HTTP 200 whose only frame (or JSON body) is a rate-limit error
    "mock-drop-midstream",  # two content chunks, then the connection is cut (non-stream: echo)
    "mock-slow",            # 0.2 s between chunks, and before a non-streamed answer
    "mock-stall",           # the role chunk and two content chunks, then silence (an hour)
    "mock-stall-start",     # response headers, then silence before any chunk (an hour)
    "mock-no-finish",       # echo without any finish_reason (as Kimi sometimes does)
    "mock-json",            # JSON satisfying response_format's schema, else {"answer":"ok"}
)
# A fixed timestamp keeps every answer byte-for-byte reproducible.
CREATED = 1700000000

_RESPONSES_ONLY_KEYS = (
    "store", "include", "metadata", "client_metadata", "truncation", "service_tier", "reasoning",
    "background", "previous_response_id", "instructions", "input", "max_output_tokens", "text",
)
_ROLES = ("system", "developer", "user", "assistant", "tool")
_PART_TYPES = MappingProxyType({"user": frozenset({"text", "image_url", "input_audio", "file"}),
                                "assistant": frozenset({"text", "refusal"})})
# Prefix match so "tools", "calling" and "running" count but "recall" does not.
_TOOL_WORDS = re.compile(r"\b(?:tool|weather|call|run)", re.IGNORECASE)
_PARALLEL_WORDS = re.compile(r"two tools|parallel", re.IGNORECASE)
_LOOP_WORDS = re.compile(r"\bloop (\d+)", re.IGNORECASE)  # "loop 5": five tool turns
# OpenAI's rule for function names; dotted names are a typical translation bug.
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
_SCALARS = MappingProxyType({"integer": 1, "number": 1, "boolean": True, "null": None})


_LOG_LIMIT = 1000  # requests kept for GET /_mock/requests
REQUEST_LOG = web.AppKey("mock_request_log", list)
_QUIRKS = web.AppKey("mock_quirks", frozenset)
_API_KEY = web.AppKey("mock_api_key", str)  # "" when any key (or none) is accepted
_LISTED = web.AppKey("mock_listed_models", tuple)  # GET /models: these, then MODELS
_COMPLETION_IDS: web.AppKey["Iterator[int]"] = web.AppKey("mock_completion_ids")


@dataclass(frozen=True, slots=True)
class _Reply:
    """What the fake model answers, whether streamed or not."""
    content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: tuple[tuple[str, str, str], ...] = ()  # (id, name, arguments)
    finish: str | None = "stop"
    delay: float = 0.0
    # "fail" or "drop": how the stream ends after two content chunks; "refuse": an error is
    # the whole answer, inside an HTTP 200
    cut: str | None = None
    done: bool = True  # whether a stream ends with `data: [DONE]`
    think_inline: bool = False  # reasoning is `<think>...</think>` in content (think-tags)
    quirks: frozenset[str] = frozenset()  # how the provider shapes its answer (mock_rules)
    stall: int | None = None  # go silent after this many frames (a provider thinking)


# Frames sent before going silent; the silence outlasts any test and ends when the client
# (the gateway) closes the connection or the mock stops.
_STALLS = MappingProxyType({"mock-stall": 3, "mock-stall-start": 0})
_STALL_SECONDS = 3600.0

# What some providers (DashScope, gateways in front of others) send with a 200 status.
_REFUSAL_IN_200 = {"error": {"message": "mock quota exhausted", "type": "rate_limit_exceeded",
                             "code": "rate_limit_exceeded"}}

# Models whose answer does not depend on the request.
_FIXED_REPLIES = MappingProxyType({
    "mock-length": _Reply(content="This answer is cut", finish="length"),
    "mock-refusal": _Reply(refusal="I can't help with that."),
    "mock-filter": _Reply(content="Partial", finish="content_filter"),
})


def _json(payload: Any, *, status: int = 200, headers: Any = None) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, headers=headers,
                        content_type="application/json")


def _text(content: Any) -> str:
    """The text of a message content: a string, or its text parts joined with a space."""
    if isinstance(content, list):
        return " ".join(part["text"] for part in content if isinstance(part, dict)
                        and part.get("type") == "text" and isinstance(part.get("text"), str))
    return content if isinstance(content, str) else ""


def _validate(body: Any, quirks: frozenset[str]) -> None:
    """Reject what a strict provider would reject, with its kind of message."""
    if not isinstance(body, dict):
        raise _Error("The request body must be a JSON object.")
    for key in _RESPONSES_ONLY_KEYS:
        if key == "reasoning" and "openrouter-reasoning" in quirks:
            continue  # OpenRouter's own reasoning switch
        if key in body:
            raise _Error(f"Unrecognized request argument supplied: {key}", key)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _Error("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Error("'messages' must be a non-empty array of message objects.", "messages")
    tools = body.get("tools")
    if tools is None and body.get("tool_choice") is not None:
        raise _Error("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                     "are specified.", "tool_choice")
    if tools is not None and (not isinstance(tools, list) or not tools):
        raise _Error("Invalid 'tools': empty array. Expected an array with minimum length 1.",
                     "tools")
    for i, tool in enumerate(tools or ()):
        _validate_tool(i, tool)
    check_body(body, quirks)
    if "stream_options" in body and not body.get("stream"):
        raise _Error("The 'stream_options' parameter is only allowed when 'stream' is "
                     "enabled.", "stream_options")
    for i, message in enumerate(messages):
        _validate_message(i, message)
        check_message(i, message, quirks)
    _validate_tool_sequence(messages)
    check_rules(body, quirks)


def _validate_tool(i: int, tool: Any) -> None:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or tool.get("type") != "function":
        raise _Error(f"Missing required parameter: 'tools[{i}].function'.", f"tools[{i}]")
    if not isinstance(function.get("name"), str) or not _TOOL_NAME.match(function["name"]):
        raise _Error(f"Invalid 'tools[{i}].function.name': string does not match pattern. "
                     "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                     f"tools[{i}].function.name")


def _validate_message(i: int, message: Any) -> None:
    where = f"messages[{i}]"
    role = message.get("role") if isinstance(message, dict) else None
    if role not in _ROLES:
        raise _Error(f"Invalid value: '{role}'. Supported values are: {', '.join(_ROLES)}.",
                     f"{where}.role")
    content, calls = message.get("content"), message.get("tool_calls")
    if content is None and not (role == "assistant" and calls):
        raise _Error(f"Missing required parameter: '{where}.content'.", f"{where}.content")
    for j, part in enumerate(content if isinstance(content, list) else ()):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _PART_TYPES.get(role, frozenset({"text"})):
            raise _Error(f"Invalid value: '{kind}'. Content parts of role '{role}' cannot have "
                         "this type.", f"{where}.content[{j}].type")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise _Error(f"Missing required parameter: '{where}.tool_call_id'.",
                     f"{where}.tool_call_id")
    for j, call in enumerate(calls or ()):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(call.get("id"), str) \
                or not isinstance(function.get("arguments"), str):
            raise _Error(f"Invalid '{where}.tool_calls[{j}]': it needs an 'id' and a function "
                         "whose 'arguments' is a string.", f"{where}.tool_calls[{j}]")


def _validate_tool_sequence(messages: list[dict[str, Any]]) -> None:
    """Each tool call is answered by tool messages right after it, and only then."""
    pending: set[str] = set()
    for i, message in enumerate(messages):
        if message["role"] == "tool":
            if message["tool_call_id"] not in pending:
                raise _Error("Invalid parameter: messages with role 'tool' must be a response to "
                             "a preceding message with 'tool_calls'.", f"messages[{i}].role")
            pending.discard(message["tool_call_id"])
        elif pending:
            break
        elif message["role"] == "assistant" and message.get("tool_calls"):
            pending = {call["id"] for call in message["tool_calls"]}
    if pending:
        raise _Error("An assistant message with 'tool_calls' must be followed by tool messages "
                     "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                     f"response messages: {', '.join(sorted(pending))}", "messages")


def _plan(body: dict[str, Any], quirks: frozenset[str]) -> _Reply:
    """Decide the answer from the model name, the conversation and the quirks."""
    reply = replace(_answer(body, quirks, thinking=thinks(body, quirks)), quirks=quirks)
    if "think-tags" in quirks and reply.reasoning:
        # As a server without a reasoning parser sends it: the whole generation is content.
        content = f"<think>\n{reply.reasoning}\n</think>\n\n{reply.content or ''}"
        reply = replace(reply, content=content, reasoning=None, think_inline=True)
    if "no-finish-reason" in quirks:
        reply = replace(reply, finish=None, done=False)
    return reply


def _answer(body: dict[str, Any], quirks: frozenset[str], *, thinking: bool) -> _Reply:
    """The answer the model name and the conversation call for."""
    model, messages = MODEL_ALIASES.get(body["model"], body["model"]), body["messages"]
    status = model.removeprefix("mock-error-")
    if model.startswith("mock-error-") and status.isdigit() and int(status) in ERROR_TYPES:
        headers = {"Retry-After": "7"} if status == "429" else None
        raise _Error(f"mock error {status}", status=int(status), code=f"mock_{status}",
                     headers=headers)
    if model in _FIXED_REPLIES:
        return _FIXED_REPLIES[model]
    if model == "mock-fail-midstream" and not body.get("stream"):
        raise _Error("mock upstream failure mid-stream", status=500, code="mock_midstream")
    if model in ("mock-fail-midstream", "mock-drop-midstream"):
        return _Reply(content=_echo(messages), cut=model.split("-")[1])
    if model == "mock-refuse-in-200":
        return _Reply(cut="refuse")
    calls = _tool_calls(body, quirks)
    if calls:
        content = None
    elif model == "mock-json":
        content = orjson.dumps(_json_answer(body.get("response_format"), messages)).decode()
    else:
        content = _echo(messages)
    reasoning = None
    if model == "mock-think" and thinking:
        reasoning = call_reasoning(calls[0][0]) if calls else "Let me think about this."
    return _Reply(
        content=content,
        reasoning=reasoning,
        tool_calls=calls,
        finish=None if model == "mock-no-finish" else "tool_calls" if calls else "stop",
        delay=0.2 if model == "mock-slow" else 0.0,
        stall=_STALLS.get(model),
    )


def _echo(messages: list[dict[str, Any]]) -> str:
    if messages[-1]["role"] == "tool":
        return f"Tool result: {_text(messages[-1]['content'])}"
    user: dict[str, Any] = next((m for m in reversed(messages) if m["role"] == "user"), {})
    return f"You said: {_text(user.get('content'))}"


def _loop_wants_more(messages: list[dict[str, Any]]) -> bool:
    """After a tool result: does the user's "loop N" ask for more tool turns?"""
    outputs = 0
    for message in reversed(messages):
        if message["role"] == "user":
            wanted = _LOOP_WORDS.search(_text(message.get("content")))
            return wanted is not None and outputs < int(wanted.group(1))
        if message["role"] == "tool":
            outputs += 1
    return False


def _tool_calls(body: dict[str, Any],
                quirks: frozenset[str]) -> tuple[tuple[str, str, str], ...]:
    functions = [tool["function"] for tool in body.get("tools") or ()]
    choice, messages = body.get("tool_choice"), body["messages"]
    last = messages[-1]
    if not functions or choice == "none":
        return ()
    if last["role"] == "tool" and _loop_wants_more(messages):
        last = next(m for m in reversed(messages) if m["role"] == "user")
    elif last["role"] != "user":
        return ()
    text = _text(last["content"])
    forced = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    if not (forced or choice == "required" or _TOOL_WORDS.search(text)):
        return ()
    if _PARALLEL_WORDS.search(text):
        chosen = functions[:2] if len(functions) > 1 else functions * 2
    else:
        named = [f for f in functions if f["name"] == forced or (not forced and f["name"] in text)]
        chosen = named[:1] or functions[:1]
    # Numbering continues after the calls already in the conversation: ids stay unique across
    # turns, and one request always gets the same ids.
    earlier = sum(len(m.get("tool_calls") or ()) for m in body["messages"])
    return tuple((tool_call_id(earlier + n, quirks), f["name"], _arguments(f.get("parameters")))
                 for n, f in enumerate(chosen, 1))


def _arguments(schema: Any) -> str:
    schema = schema if isinstance(schema, dict) else {}
    properties = schema.get("properties") or {}
    only = properties.get("input") if list(properties) == ["input"] else None
    if isinstance(only, dict) and only.get("type") == "string":
        # A freeform tool carried as one string, like Codex's apply_patch: give it a real patch.
        return orjson.dumps({"input": _PATCH}).decode()
    return orjson.dumps(_value("", {"type": "object", **schema})).decode()


def _json_answer(response_format: Any, messages: list[dict[str, Any]]) -> Any:
    schema: Any = None
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
    elif isinstance(response_format, dict) and response_format.get("schema"):
        schema = response_format["schema"]  # JSON mode with its schema (llama.cpp servers)
    else:
        # JSON mode: follow a schema given in a system message, as a model would (the gateway
        # does this for providers without json_schema, e.g. DeepSeek).
        for message in messages:
            text = _text(message.get("content")) if message["role"] == "system" else ""
            if "JSON schema" in text and "\n" in text:
                with contextlib.suppress(orjson.JSONDecodeError):
                    schema = orjson.loads(text.split("\n", 1)[1])
                break
    if isinstance(schema, dict) and schema:
        return _value("", schema)
    return {"answer": "ok"}


def _value(name: str, schema: Any) -> Any:
    """A value satisfying a simple JSON schema; the property `name` picks plausible strings."""
    schema = schema if isinstance(schema, dict) else {}
    if schema.get("enum"):
        return schema["enum"][0]
    branches = [b for b in schema.get("anyOf") or schema.get("oneOf") or ()
                if isinstance(b, dict) and b.get("type") != "null"]
    if branches:
        return _value(name, branches[0])
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "array":
        return []
    if kind == "object":
        properties = schema.get("properties") or {}
        names = schema.get("required") or properties
        return {key: _value(key, properties.get(key)) for key in names}
    lowered = name.lower()
    if "city" in lowered or "location" in lowered:
        return "Paris"
    return "echo hi" if lowered in ("cmd", "command") else "value"


def _usage(messages: list[dict[str, Any]], reply: _Reply) -> dict[str, Any]:
    """Token counts, where a token is a whitespace-separated word."""
    prompt = len(" ".join(_text(m.get("content")) for m in messages).split())
    reasoning = len((reply.reasoning or "").split())
    outputs = [reply.content, reply.refusal] + [arguments for _, _, arguments in reply.tool_calls]
    completion = reasoning + len(" ".join(text or "" for text in outputs).split())
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning}}


def _pieces(text: str, count: int | None = None) -> list[str]:
    """Text as word deltas (spaces kept, so joining is exact), or as `count` even slices."""
    if count is None:
        return re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    size = -(-len(text) // max(1, min(count, len(text))))
    return [text[i:i + size] for i in range(0, len(text), size)]


def _deltas(reply: _Reply) -> list[dict[str, Any]]:
    """The choice deltas of a streamed answer, in order, without the finish."""
    deltas: list[dict[str, Any]] = [{"role": "assistant",
                                     "content": "" if reply.content else None}]
    deltas += [{"reasoning_content": piece} for piece in _pieces(reply.reasoning or "")]
    content = reply.content or ""
    # Inline reasoning comes in 5-character slices, so the tags straddle chunks as they do
    # when a server streams token by token.
    pieces = _pieces(content, -(-len(content) // 5)) if reply.think_inline else _pieces(content)
    deltas += [{"content": piece} for piece in pieces]
    deltas += [{"refusal": piece} for piece in _pieces(reply.refusal or "")]
    for index, (call_id, name, arguments) in enumerate(reply.tool_calls):
        deltas.append({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                       "function": {"name": name, "arguments": ""}}]})
        deltas += [{"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                   for piece in _pieces(arguments, 3)]
    return shape_deltas(deltas, reply.quirks)


def _frames(body: dict[str, Any], reply: _Reply, completion_id: str) -> list[dict[str, Any]]:
    """Every data frame of a streamed answer, before `[DONE]`."""
    base: dict[str, Any] = {"id": completion_id, "object": "chat.completion.chunk",
                            "created": CREATED, "model": body["model"]}
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    if include_usage:
        base["usage"] = None  # as OpenAI does: usage is null on every chunk but the last
    choices: list[tuple[dict[str, Any], str | None]] = [(delta, None) for delta in _deltas(reply)]
    if reply.finish is not None:
        choices.append(({}, reply.finish))
    frames = [{**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                    **_logprobs(body, [delta.get("content") or ""])}]}
              for delta, finish in choices]
    if include_usage:
        frames.append({**base, "choices": [], "usage": _usage(body["messages"], reply)})
    if reply.cut == "refuse":
        return [_REFUSAL_IN_200]
    if reply.cut:
        frames = frames[:3]  # the role chunk and two content chunks
    if reply.cut == "fail":
        frames.append({"error": {"message": "mock upstream failure mid-stream",
                                 "type": "server_error", "code": "mock_midstream"}})
    if "midstream-400" in reply.quirks:  # mock_quirks.ADAPTIVE_QUIRKS
        frames = [*frames[:3], MIDSTREAM_REFUSAL]
    return frames


async def _stream(request: web.Request, reply: _Reply,
                  frames: list[dict[str, Any]]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    try:
        for n, frame in enumerate(frames):
            if n == reply.stall:
                await _stall(request)
            if reply.delay and n:
                await asyncio.sleep(reply.delay)
            await response.write(b"data: " + orjson.dumps(frame) + b"\n\n")
        if reply.cut == "drop":
            # A socket closed before the last chunk is what a crashed upstream looks like.
            if request.transport is not None:
                request.transport.close()
            return response
        if not reply.cut and reply.done:
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away; there is no one left to tell
    return response


async def _stall(request: web.Request) -> None:
    """Stay silent until the client closes the connection (or for _STALL_SECONDS)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + _STALL_SECONDS
    while loop.time() < until:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.05)


def _logprobs(body: dict[str, Any], tokens: list[str]) -> dict[str, Any]:
    """`{"logprobs": ...}` for a choice whose content is `tokens`, when the request asked
    (`logprobs: true`, `top_logprobs` alternatives each); else nothing."""
    if body.get("logprobs") is not True or not any(tokens):
        return {}
    top = body.get("top_logprobs") or 0

    def entry(token: str, rank: int) -> dict[str, Any]:
        return {"token": token, "logprob": -0.5 * rank - 0.01 * len(token),
                "bytes": list(token.encode())}

    return {"logprobs": {"content": [
        {**entry(t, 0), "top_logprobs": [entry(t if r == 0 else f"{t.strip()}~{r}", r)
                                         for r in range(top)]}
        for t in tokens if t], "refusal": None}}


def _completion(body: dict[str, Any], reply: _Reply, completion_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content,
                               "refusal": reply.refusal}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [{"id": call_id, "type": "function",
                                  "function": {"name": name, "arguments": arguments}}
                                 for call_id, name, arguments in reply.tool_calls]
    choice = {"index": 0, "message": shape_message(message, reply.quirks), "logprobs": None,
              "finish_reason": reply.finish, **_logprobs(body, _pieces(reply.content or ""))}
    return {"id": completion_id, "object": "chat.completion", "created": CREATED,
            "model": body["model"], "choices": [choice], "usage": _usage(body["messages"], reply)}


def _receive(request: web.Request, body: Any) -> None:
    """Log the request (even one about to be rejected), then check its API key."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    log = request.app[REQUEST_LOG]
    log.append({"path": request.path, "query": dict(request.query), "headers": headers,
                "body": body})
    if len(log) > _LOG_LIMIT:  # a long-running demo must not grow without bound
        del log[:len(log) - _LOG_LIMIT]
    check_auth(request.headers, request.query, request.app[_API_KEY], _quirks(request))


def _quirks(request: web.Request) -> frozenset[str]:
    """The app's quirks, or those of the provider named first in the path (`/mistral/v1`)."""
    preset = request.match_info.get("preset")
    if preset is None:
        quirks: frozenset[str] = request.app[_QUIRKS]
        return quirks
    if preset not in PRESETS:
        raise _Error(f"Unknown provider preset '{preset}'; known: {', '.join(PRESETS)}.",
                     status=404, code="unknown_preset")
    return PRESETS[preset]


@web.middleware
async def _api_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except _Error as error:
        return error.response()


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        _receive(request, raw.decode("utf-8", "replace"))
        raise _Error("We could not parse the JSON body of your request.") from None
    _receive(request, body)
    _validate(body, _quirks(request))
    reply = _plan(body, _quirks(request))
    counter: Iterator[int] = request.app[_COMPLETION_IDS]
    completion_id = f"chatcmpl-mock-{next(counter)}"
    if body.get("stream"):
        return await _stream(request, reply, _frames(body, reply, completion_id))
    if reply.stall is not None:
        await _stall(request)
    await asyncio.sleep(reply.delay)
    if reply.cut == "refuse":
        return _json(_REFUSAL_IN_200)
    return _json(_completion(body, reply, completion_id))


async def _models(request: web.Request) -> web.Response:
    _receive(request, None)
    data = [{"id": model, "object": "model", "created": CREATED, "owned_by": "mock"}
            for model in dict.fromkeys([*request.app[_LISTED], *MODELS])]
    return _json({"object": "list", "data": data})


async def _requests(request: web.Request) -> web.Response:
    if request.method == "DELETE":
        request.app[REQUEST_LOG].clear()
        return web.Response(status=204)
    return _json({"requests": request.app[REQUEST_LOG]})


def create_mock_app(*, quirks: frozenset[str] = frozenset(), api_key: str | None = None,
                    models: tuple[str, ...] = ()) -> web.Application:
    """The mock provider as an aiohttp application; `quirks` must be names from QUIRKS;
    `models` are listed by GET /models before MODELS (any name is served like mock-echo)."""
    if unknown := set(quirks) - QUIRKS:
        raise ValueError(f"unknown mock provider quirk(s) {sorted(unknown)}; "
                         f"known: {', '.join(sorted(QUIRKS))}")
    # Real providers take large image payloads; aiohttp's default limit is 1 MiB.
    app = web.Application(middlewares=[_api_errors], client_max_size=64 * 1024 * 1024)
    app[REQUEST_LOG] = []
    app[_QUIRKS], app[_API_KEY], app[_LISTED] = frozenset(quirks), api_key or "", tuple(models)
    app[_COMPLETION_IDS] = itertools.count(1)
    for prefix in ("/v1", "", "/{preset}/v1"):
        app.router.add_post(f"{prefix}/chat/completions", _chat_completions)
        app.router.add_get(f"{prefix}/models", _models)
    app.router.add_get("/_mock/requests", _requests)
    app.router.add_delete("/_mock/requests", _requests)
    return app


def run_mock_provider(argv: list[str] | None = None) -> None:
    """Command line entry: serve the mock provider until interrupted."""
    parser = argparse.ArgumentParser(prog="responses-gateway mock-provider", description=(
        "A deterministic fake OpenAI-compatible chat.completions provider."))
    parser.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=9000, help="port (default: %(default)s)")
    parser.add_argument("--api-key", help="require `Authorization: Bearer <key>` on each request "
                        "(`api-key: <key>` with --quirk azure)")
    parser.add_argument("--provider", choices=list(PRESETS), metavar="PROFILE",
                        help="act like this profile's provider (its quirks); one of: "
                        f"{', '.join(PRESETS)}. Without it, a path /PROFILE/v1 does the same")
    parser.add_argument("--quirk", action="append", default=[], choices=sorted(QUIRKS),
                        metavar="NAME", help="add one provider rule; repeatable; one "
                        f"of: {', '.join(sorted(QUIRKS))}")
    parser.add_argument("--model", action="append", default=[], metavar="NAME",
                        help="also list this model id at GET /models; repeatable")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"),
                        help="how much it logs (default: %(default)s)")
    args = parser.parse_args(argv)
    # The gateway's log format, and no aiohttp banner printed to stdout.
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quirks = frozenset(args.quirk) | PRESETS.get(args.provider or "", frozenset())
    app = create_mock_app(quirks=quirks, api_key=args.api_key,
                          models=tuple(args.model))
    logger.info("mock provider listening on http://%s:%d/v1 (quirks: %s; every provider's "
                "rules at /PROFILE/v1)", args.host, args.port, ", ".join(sorted(quirks)) or "none")
    try:
        web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    except OSError as exc:
        raise SystemExit(f"responses-gateway mock-provider: --port: cannot listen on "
                         f"{args.host}:{args.port}: {exc.strerror or exc}") from None


if __name__ == "__main__":
    run_mock_provider()
