"""Chat chunks -> Responses events: the one state machine. Pure: no I/O, clock or ids of its own.

`ResponseStream` consumes chat.completions chunks (a whole non-streamed completion is fed as
a single chunk) and emits Responses stream events as plain dicts. The non-streaming answer is
the same machine's final `snapshot()`, so the two modes cannot disagree.

Ordering guarantees (spec/responses-api.md §4, spec/real-clients.md §4):
- `response.created`, `response.in_progress`, then items one at a time: `output_item.added`
  -> [part added -> deltas -> done -> part done] -> `output_item.done` with the whole item;
- ids are minted once and reused in every event and in the final `output`;
- `sequence_number` counts from 0 by one; exactly one terminal event, then nothing.
"""

from __future__ import annotations

import enum
from typing import Any, Callable, Protocol

import orjson

from ..protocol.errors import GatewayError
from .response import (
    INCOMPLETE_REASONS,
    TERMINAL_EVENT_TYPES,
    response_error,
    to_responses_usage,
)
from .logprobs import chat_logprobs
from .reasoning_fields import Reasoning, ReasoningReader
from .tools import ToolMap, complete_json, new_tool_call_item, unwrap_custom_input

__all__ = ["Event", "IdFactory", "Phase", "ResponseStream", "StreamStateError"]

Event = dict[str, Any]
IdFactory = Callable[[str], str]  # prefix ("msg", "fc", ...) -> a new unique id


class ReasoningSealer(Protocol):
    """Raw reasoning (and per-call extras) -> `encrypted_content`."""

    def __call__(self, reasoning: Reasoning, /,
                 extras: dict[str, Any] | None = ...) -> str | None: ...




class Phase(enum.Enum):
    IDLE = "idle"  # nothing emitted yet
    OPEN = "open"  # created + in_progress sent, no item open
    REASONING = "reasoning"  # one reasoning item open
    MESSAGE = "message"  # one message item and one of its parts open
    TOOL_CALL = "tool_call"  # one function_call / custom_tool_call item open
    DONE = "done"  # terminal event sent


class StreamStateError(RuntimeError):
    """The machine was driven illegally (e.g. fed after its terminal event): a bug of ours."""


class ResponseStream:
    """Translate one chat completion into one Response, incrementally.

    `response` is a fresh Response dict (see `new_response`); it becomes the final snapshot.
    `feed(chunk)`, `finish()` and `fail(error)` return the events to send, in order.
    """

    def __init__(
        self,
        response: dict[str, Any],
        *,
        tool_map: ToolMap,
        new_id: IdFactory,
        seal_reasoning: ReasoningSealer | None = None,
        think_tags: bool = False,
        keep_call_extras: bool = False,
        raw_reasoning: str | None = None,
    ) -> None:
        self._response = response
        self._output: list[dict[str, Any]] = response["output"]
        self._tool_map = tool_map
        self._new_id = new_id
        self._seal = seal_reasoning
        self._phase = Phase.IDLE
        self._seq = 0
        self._out: list[Event] = []
        self._item: dict[str, Any] = {}  # the open item, as announced in output_item.added
        self._text: list[str] = []  # deltas of the open part (or the open tool call's arguments)
        self._part_type = ""  # "output_text" / "refusal" while a message part is open
        self._parts: list[dict[str, Any]] = []  # finished parts of the open message
        self._tool_index: Any = None  # upstream index of the open tool call
        self._tool_call_id: str | None = None  # upstream id of the open tool call
        # Calls whose deltas arrived while another call was still incomplete, by upstream
        # index (or id): first delta and argument fragments.
        self._waiting: dict[Any, tuple[dict[str, Any], list[str]]] = {}
        self._closed_calls: set[Any] = set()  # upstream indices and ids of finished calls
        self._finish_reason: str | None = None
        self._usage: dict[str, Any] | None = None
        self._reader = ReasoningReader(think_tags=think_tags)
        # The reasoning of each finished reasoning item, by item id, with the provider field
        # that carried it (stored history sends it back under that field).
        self.reasoning: dict[str, Reasoning] = {}
        self._chunk_logprobs: list[dict[str, Any]] = []  # the current chunk's, until used
        self._part_logprobs: list[dict[str, Any]] = []  # those of the open output_text part
        # Prefix of the raw reasoning text events, if the client wants them
        # (protocol/reasoning_events.py): OpenAI and Open Responses name them differently.
        self._raw_reasoning = raw_reasoning
        # Tool calls' `extra_content` (Gemini thought signatures) by call id: all of them, and
        # those not yet sealed into a reasoning item (the carrier stateless clients send back).
        self._keep_extras = keep_call_extras
        self._call_extras: dict[str, Any] = {}
        self._unsealed_extras: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (f"<ResponseStream {self._response['id']} phase={self._phase.value} "
                f"output_index={len(self._output)} sequence_number={self._seq}>")

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def finish_reason(self) -> str | None:
        """The provider's finish_reason, once one arrived."""
        return self._finish_reason

    @property
    def call_extras(self) -> dict[str, Any]:
        """`extra_content` the provider attached to each tool call, by call id."""
        return self._call_extras

    @property
    def response_id(self) -> str:
        return self._response["id"]  # type: ignore[no-any-return]

    # -- public API ---------------------------------------------------------------------

    def start(self) -> list[Event]:
        """`response.created` + `response.in_progress` (also sent by the first feed)."""
        self._out = []
        if self._phase is Phase.IDLE:
            self._start()
        return self._take()

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """Consume one chat chunk (or one whole completion)."""
        self._out = []
        if self._phase is Phase.DONE:
            raise StreamStateError("feed() after the terminal event")
        if self._phase is Phase.IDLE:
            self._start()
        usage = chunk.get("usage")
        if usage:
            self._usage = usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # n > 1 is not part of the Responses API; keep the first choice
            delta = choice.get("delta") or choice.get("message") or {}
            self._chunk_logprobs = chat_logprobs(choice.get("logprobs"))
            self._consume_delta(delta)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return self._take()

    def finish(self, *, completed_at: int) -> list[Event]:
        """Close the open item and send `response.completed` or `response.incomplete`."""
        self._out = []
        if self._phase is Phase.DONE:
            raise StreamStateError("finish() after the terminal event")
        if self._phase is Phase.IDLE:
            self._start()
        reasoning, content = self._reader.flush()
        if reasoning:
            self._reasoning_delta(reasoning)
        if content:
            self._text_delta("output_text", content)
        reason = INCOMPLETE_REASONS.get(self._finish_reason or "")
        self._close_item("incomplete" if reason else "completed")
        if self._unsealed_extras:
            self._opaque_reasoning()
        self._response["usage"] = to_responses_usage(self._usage)
        if reason:
            self._terminate("incomplete", incomplete_details={"reason": reason})
        else:
            self._terminate("completed", completed_at=completed_at)
        return self._take()

    def fail(self, error: GatewayError, *, status: str = "failed") -> list[Event]:
        """End with an `error` event and `response.failed` (or a cancelled response)."""
        self._out = []
        if self._phase is Phase.DONE:
            raise StreamStateError("fail() after the terminal event")
        if self._phase is Phase.IDLE:
            self._start()
        self._close_item("incomplete")
        self._response["usage"] = to_responses_usage(self._usage)
        code = error.code or error.type
        if status == "failed":
            # The live API nests the error; the SDK's type is flat. Both are sent
            # (spec/responses-api.md §5) so every client finds the fields it reads.
            self._emit("error", code=code, message=error.message, param=error.param,
                       error={"type": error.type, "code": code, "message": error.message,
                              "param": error.param})
            self._terminate("failed", error=response_error(error))
        else:
            self._terminate(status)
        return self._take()

    def snapshot(self) -> dict[str, Any]:
        """The Response as it stands (final once a terminal event was sent)."""
        return self._response

    # -- deltas ---------------------------------------------------------------------------

    def _consume_delta(self, delta: dict[str, Any]) -> None:
        # Reasoning may come in any of several fields, or inside the content.
        reasoning, content = self._reader.read(delta)
        if reasoning:
            self._reasoning_delta(reasoning)
        if content:
            self._text_delta("output_text", content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._text_delta("refusal", refusal)
        tool_calls = delta.get("tool_calls")
        if isinstance(tool_calls, dict):  # TGI streams one call as an object
            tool_calls = [tool_calls]
        if tool_calls:
            for position, call in enumerate(tool_calls):
                if isinstance(call, dict):
                    self._tool_delta(call, position)

    def _reasoning_delta(self, text: str) -> None:
        if self._phase is not Phase.REASONING:
            self._close_item("completed")
            item_id = self._new_id("rs")
            self._item = {"id": item_id, "type": "reasoning", "status": "in_progress",
                          "summary": [], "content": []}
            self._announce()
            self._emit("response.reasoning_summary_part.added", item_id=item_id,
                       output_index=len(self._output), summary_index=0,
                       part={"type": "summary_text", "text": ""})
            self._emit("response.content_part.added", item_id=item_id,
                       output_index=len(self._output), content_index=0,
                       part={"type": "reasoning_text", "text": ""})
            self._phase = Phase.REASONING
        self._text.append(text)
        item_id = self._item["id"]
        index = len(self._output)
        self._emit("response.reasoning_summary_text.delta", item_id=item_id,
                   output_index=index, summary_index=0, delta=text)
        if self._raw_reasoning:
            self._emit(f"{self._raw_reasoning}.delta", item_id=item_id, output_index=index,
                       content_index=0, delta=text)

    def _text_delta(self, part_type: str, text: str) -> None:
        if self._phase is not Phase.MESSAGE:
            self._close_item("completed")
            self._item = {"id": self._new_id("msg"), "type": "message", "status": "in_progress",
                          "role": "assistant", "content": []}
            self._announce()
            self._phase = Phase.MESSAGE
            self._open_part(part_type)
        elif self._part_type != part_type:
            self._close_part()
            self._open_part(part_type)
        self._text.append(text)
        if part_type == "output_text":
            logprobs, self._chunk_logprobs = self._chunk_logprobs, []
            self._part_logprobs += logprobs
            self._emit("response.output_text.delta", item_id=self._item["id"],
                       output_index=len(self._output), content_index=len(self._parts),
                       delta=text, logprobs=logprobs)
        else:
            self._emit("response.refusal.delta", item_id=self._item["id"],
                       output_index=len(self._output), content_index=len(self._parts),
                       delta=text)

    def _tool_delta(self, call: dict[str, Any], position: int) -> None:
        index = call.get("index", position)
        call_id = call.get("id")
        fragment = (call.get("function") or {}).get("arguments")
        if isinstance(fragment, (dict, list)):  # TGI, some llama.cpp builds: an object
            fragment = orjson.dumps(fragment).decode()
        fragment = fragment if isinstance(fragment, str) else ""
        if call_id in self._closed_calls if call_id else index in self._closed_calls:
            return  # a stray delta for a call already done (it cannot be changed now)
        extra = call.get("extra_content")
        if (self._keep_extras and extra is not None and isinstance(call_id, str)
                and call_id not in self._call_extras):
            self._call_extras[call_id] = self._unsealed_extras[call_id] = extra
            if self._phase not in (Phase.REASONING, Phase.TOOL_CALL):
                # The extras travel in a reasoning item, which goes before the call.
                self._opaque_reasoning()
        if self._phase is Phase.TOOL_CALL:
            # Some servers repeat id and name in every delta; servers that omit `index`
            # (Gemini) tell calls apart by id alone.
            if index == self._tool_index and not (
                    call_id and self._tool_call_id and call_id != self._tool_call_id):
                self._tool_arguments(fragment)
                return
            key = call_id if index == self._tool_index else index
            if key in self._waiting:
                self._waiting[key][1].append(fragment)
                return
            if not complete_json(self._text):
                # Parallel calls streamed interleaved: this one waits (whole, not dropped)
                # until the open call is complete, since items may not overlap.
                self._waiting[key] = (call, [fragment])
                return
            self._finish_tool_call("completed")
            if self._waiting:  # the oldest waiting call goes next, live from now on
                waiting_call, fragments = self._waiting.pop(next(iter(self._waiting)))
                self._open_tool_call(waiting_call, position)
                self._tool_arguments("".join(fragments))
                self._tool_delta(call, position)
                return
        else:
            self._close_item("completed")
        self._open_tool_call(call, position)
        self._tool_arguments(fragment)

    def _open_tool_call(self, call: dict[str, Any], position: int) -> None:
        name = (call.get("function") or {}).get("name") or ""
        self._item = new_tool_call_item(self._tool_map.resolve(name),
                                        call.get("id") or self._new_id("call"), self._new_id)
        self._announce()
        self._phase = Phase.TOOL_CALL
        self._tool_index = call.get("index", position)
        self._tool_call_id = call.get("id")

    def _tool_arguments(self, fragment: str) -> None:
        if not fragment:
            return
        self._text.append(fragment)
        if self._item["type"] == "function_call":
            self._emit("response.function_call_arguments.delta", item_id=self._item["id"],
                       output_index=len(self._output), delta=fragment)
        # A custom tool's input is JSON-wrapped upstream; it is unwrapped and sent whole
        # when the call closes.

    def _finish_tool_call(self, status: str) -> None:
        """Close the open call only (waiting calls stay waiting)."""
        waiting, self._waiting = self._waiting, {}
        self._close_item(status)
        self._waiting = waiting

    # -- item lifecycle -------------------------------------------------------------------

    def _announce(self) -> None:
        self._emit("response.output_item.added", output_index=len(self._output),
                   item=dict(self._item))

    def _open_part(self, part_type: str) -> None:
        self._part_type = part_type
        part: dict[str, Any] = ({"type": "output_text", "text": "", "annotations": [],
                                 "logprobs": []}
                                if part_type == "output_text" else
                                {"type": "refusal", "refusal": ""})
        self._emit("response.content_part.added", item_id=self._item["id"],
                   output_index=len(self._output), content_index=len(self._parts), part=part)

    def _close_part(self) -> None:
        text = "".join(self._text)
        self._text = []
        item_id = self._item["id"]
        index = len(self._output)
        content_index = len(self._parts)
        if self._part_type == "output_text":
            logprobs, self._part_logprobs = self._part_logprobs, []
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs}
            self._emit("response.output_text.done", item_id=item_id, output_index=index,
                       content_index=content_index, text=text, logprobs=list(logprobs))
        else:
            part = {"type": "refusal", "refusal": text}
            self._emit("response.refusal.done", item_id=item_id, output_index=index,
                       content_index=content_index, refusal=text)
        self._emit("response.content_part.done", item_id=item_id, output_index=index,
                   content_index=content_index, part=dict(part))
        self._parts.append(part)
        self._part_type = ""

    def _close_item(self, status: str) -> None:
        """Finish the open item, if any, with `status`; the phase returns to OPEN."""
        phase = self._phase
        if phase in (Phase.IDLE, Phase.OPEN, Phase.DONE):
            return
        item = self._item
        index = len(self._output)
        if phase is Phase.MESSAGE:
            self._close_part()
            item = {**item, "status": status, "content": self._parts}
            self._parts = []
        elif phase is Phase.REASONING:
            item = self._close_reasoning(item, status)
        else:
            item = self._close_tool_call(item, status)
        self._text = []
        self._emit("response.output_item.done", output_index=index, item=item)
        self._output.append(item)
        self._phase = Phase.OPEN
        while self._waiting:  # calls held back by interleaving: each in turn, whole
            call, fragments = self._waiting.pop(next(iter(self._waiting)))
            self._open_tool_call(call, 0)
            self._tool_arguments("".join(fragments))
            self._close_item(status)

    def _opaque_reasoning(self) -> None:
        """A reasoning item without text that carries only sealed tool-call extras."""
        if self._seal is None:
            self._unsealed_extras = {}
            return
        self._close_item("completed")
        extras, self._unsealed_extras = self._unsealed_extras, {}
        if not extras:
            return
        self._item = {"id": self._new_id("rs"), "type": "reasoning", "status": "in_progress",
                      "summary": []}
        self._announce()
        item = {**self._item, "status": "completed"}
        sealed = self._seal(Reasoning(""), extras)
        if sealed is not None:
            item["encrypted_content"] = sealed
        self._emit("response.output_item.done", output_index=len(self._output), item=item)
        self._output.append(item)

    def _close_reasoning(self, item: dict[str, Any], status: str) -> dict[str, Any]:
        text = "".join(self._text)
        item_id = item["id"]
        index = len(self._output)
        if self._raw_reasoning:
            self._emit(f"{self._raw_reasoning}.done", item_id=item_id, output_index=index,
                       content_index=0, text=text)
        self._emit("response.content_part.done", item_id=item_id, output_index=index,
                   content_index=0, part={"type": "reasoning_text", "text": text})
        self._emit("response.reasoning_summary_text.done", item_id=item_id, output_index=index,
                   summary_index=0, text=text)
        self._emit("response.reasoning_summary_part.done", item_id=item_id, output_index=index,
                   summary_index=0, part={"type": "summary_text", "text": text})
        done = {**item, "status": status, "summary": [{"type": "summary_text", "text": text}],
                "content": [{"type": "reasoning_text", "text": text}]}
        extras, self._unsealed_extras = self._unsealed_extras, {}
        sealed = None
        if self._seal is not None:
            carried = Reasoning(text, self._reader.via, self._reader.details)
            self.reasoning[item_id] = carried
            sealed = self._seal(carried, extras) if extras else self._seal(carried)
        if sealed is not None:
            done["encrypted_content"] = sealed
        return done

    def _close_tool_call(self, item: dict[str, Any], status: str) -> dict[str, Any]:
        # Done for good: later deltas naming this call are strays (see _tool_delta).
        self._closed_calls.update(k for k in (self._tool_index, self._tool_call_id)
                                  if k is not None)
        raw = "".join(self._text)
        item_id = item["id"]
        index = len(self._output)
        if item["type"] == "custom_tool_call":
            value = unwrap_custom_input(raw)
            if value:
                self._emit("response.custom_tool_call_input.delta", item_id=item_id,
                           output_index=index, delta=value)
            self._emit("response.custom_tool_call_input.done", item_id=item_id,
                       output_index=index, input=value)
            return {**item, "status": status, "input": value}
        self._emit("response.function_call_arguments.done", item_id=item_id,
                   output_index=index, name=item["name"], arguments=raw)
        return {**item, "status": status, "arguments": raw}

    # -- response lifecycle ---------------------------------------------------------------

    def _start(self) -> None:
        # A background response is announced as `queued`, then runs.
        self._emit("response.created", response={**self._response, "output": []})
        self._response["status"] = "in_progress"
        self._emit("response.in_progress", response={**self._response, "output": []})
        self._phase = Phase.OPEN

    def _terminate(self, status: str, **fields: Any) -> None:
        self._response.update(status=status, **fields)
        self._emit(TERMINAL_EVENT_TYPES[status], response=self._response)
        self._phase = Phase.DONE

    def _emit(self, type: str, **fields: Any) -> None:
        fields["type"] = type
        fields["sequence_number"] = self._seq
        self._seq += 1
        self._out.append(fields)

    def _take(self) -> list[Event]:
        out = self._out
        self._out = []
        return out

