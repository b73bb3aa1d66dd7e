"""One response being generated: history, translation, the upstream call, persistence.

Foreground requests (JSON or SSE) and background runs share this pipeline, so a response is
stored the same way whichever path made it: before its terminal event leaves the gateway,
so an immediate follow-up always finds it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from . import observe
from . import lessons as taught
from .appkeys import (
    accounting_key,
    lessons_key,
    seal_key,
    session_key,
    settings_key,
    slots_key,
    store_key,
    too_large,
)
from .config import Upstream
from .ids import new_id
from .keys import current_key, require_model
from .leases import lease_expired, mark_dead
from .lessons import Lessons
from .protocol.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatus,
)
from .protocol.requests import CreateRequest
from .references import resolve_references
from .store import DEFAULT_OWNER, Conversation, RecordTooLarge, ResponseStore, StoredResponse
from .storehealth import log_store_failure
from .translate.history import to_assistant_message, with_item_ids
from .translate.compaction import open_compaction
from .translate.reasoning import SEALED_PREFIX, reasoning_text_of
from .translate.reasoning_fields import Reasoning
from .translate.response import new_response
from .translate.stream import Event, Phase, ResponseStream, StreamStateError
from .translate.to_chat import ChatRequest, to_chat_request
from .upstream import UpstreamClient

__all__ = ["Generation", "new_id", "prepare_generation"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(kw_only=True)  # no slots: listed_input is a cached_property
class Generation:
    """Everything one response needs while it is produced."""

    create: CreateRequest
    upstream: Upstream
    chat: ChatRequest
    machine: ResponseStream
    client: UpstreamClient
    store: ResponseStore | None
    lessons: Lessons
    model: str  # the model name upstream
    owner: str = DEFAULT_OWNER  # whose response this is (tenancy.owner_of)
    conversation: Conversation | None = None
    # Serialises writes of this response: a progress checkpoint must never land after the
    # final record.
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set by the background watcher when a cancel was requested. Checked by the run between
    # steps too, because a Task.cancel() can be swallowed by a client library mid-call.
    cancel_requested: bool = False
    settling: bool = False  # the run is storing its cancelled/failed end: leave it be
    tail: list[Event] | None = None  # the terminal events, once the machine produced them
    # Builds the chat request again with what the upstream has taught us (lessons.py), for
    # the one retry after a refusal that named a field.
    retranslate: Callable[[], ChatRequest] | None = None
    retried: bool = False
    persisted: bool = False  # the final record is stored (or storing is off)

    @property
    def response_id(self) -> str:
        return self.machine.response_id

    @functools.cached_property
    def listed_input(self) -> list[dict[str, Any]]:
        """This turn's input items with ids, minted once (every save shows the same ids)."""
        return with_item_ids(self.create.input, new_id)

    @property
    def persistent(self) -> bool:
        return self.store is not None and self.create.store

    async def events(self) -> AsyncIterator[list[Event]]:
        """Stream the upstream answer as batches of events; the last batch is terminal.

        Raises UpstreamError if the provider refuses before or in its first chunk. Failures
        after that end the stream with `response.failed`.
        """
        try:  # after complete() switched to a stream on a lesson, this is the retry
            chunks, first = await (self._again(self._open) if self.retried else self._open())
        except UpstreamStatus as exc:
            if self.retried or not self._relearn(exc):
                raise
            chunks, first = await self._again(self._open)
        try:
            observe.note_first_token()
            yield self.machine.start()
            # The events of the chunks of one network read go out as one batch (one write to
            # the client, one wake-up of the writer), not one batch per chunk.
            held: list[Event] = []
            try:
                if first is not None:
                    batch = self._feed(first)
                    if batch:
                        yield batch
                async for chunk in chunks:
                    held += self._feed(chunk)
                    if held and not self.client.frames_pending:
                        yield held
                        held = []
                if held:  # the stream ended ([DONE]) inside a read
                    yield held
                    held = []
                self._check_stream_end()
                tail = self.machine.finish(completed_at=int(time.time()))
                self._remember_reasoning()
            except UpstreamError as exc:
                if held:  # what the client has not seen yet goes before the failure
                    yield held
                logger.warning("upstream %s failed mid-stream for %s: %s", self.upstream.name,
                               self.response_id, exc.message)
                observe.note_error(exc)
                tail = self.machine.fail(exc)
            self.tail = tail
            observe.note_result(self.machine.snapshot())
            try:
                await self.persist()
            except Exception as exc:  # the client still gets its answer; the store failed
                log_store_failure(self.store, self.response_id, exc)
            yield tail
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def _open(self) -> tuple[AsyncIterator[dict[str, Any]], dict[str, Any] | None]:
        """The stream and its first chunk, read before the response is announced: a refusal
        sent as the first SSE frame of a 200 gets an HTTP error, as if in the status line."""
        chunks = await self.client.stream(self.chat.body)
        try:
            return chunks, await anext(chunks, None)
        except BaseException:
            await chunks.aclose()  # type: ignore[attr-defined]
            raise

    def _relearn(self, error: UpstreamStatus) -> bool:
        """Learn what a refusal asks for; True if the request was rebuilt for one retry
        (only ever before anything reached the client, and once per response)."""
        fix = self.lessons.relearn(self.upstream.name, self.model, error, self.chat.body)
        if fix is None or self.retried or self.retranslate is None:
            return False
        chat = self.retranslate()
        if chat.body == self.chat.body:
            return False
        self.chat, self.retried = chat, True
        self.lessons.count("retried", self.upstream.name, self.model, fix)
        return True

    async def _again(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """The one retry; a second refusal is learned from for next time, and raised."""
        try:
            return await attempt()
        except UpstreamStatus as exc:
            self.lessons.count("retry_failed", self.upstream.name, self.model, exc.message)
            self.lessons.relearn(self.upstream.name, self.model, exc, self.chat.body)
            raise

    async def complete(self) -> dict[str, Any]:
        """Run to the end and return the final Response (for clients that do not stream)."""
        completion = None
        if not self.chat.stream:
            try:
                completion = await self.client.complete(self.chat.body)
            except UpstreamStatus as exc:
                if not self._relearn(exc):
                    raise
                if not self.chat.stream:
                    completion = await self._again(
                        lambda: self.client.complete(self.chat.body))
        if completion is None:  # the profile (or a lesson) streams from the provider
            async for _ in self.events():
                pass
            return self.machine.snapshot()
        self._feed(completion)
        self.machine.finish(completed_at=int(time.time()))
        self._remember_reasoning()
        observe.note_result(self.machine.snapshot())
        try:
            await self.persist()
        except Exception as exc:  # the answer is not lost because the store failed
            log_store_failure(self.store, self.response_id, exc)
        return self.machine.snapshot()

    async def interrupt(self, error: GatewayError | None) -> list[Event]:
        """End the response before its provider did, after `events()` was closed, and store
        it with what was produced: `failed` with `error` (the gateway is stopping, or the
        provider refused after the client was already sent keep-alives), or `incomplete`
        for None (the client left). Returns the terminal events."""
        if self.machine.phase is Phase.DONE:  # it finished first (it was storing its end)
            tail = self.tail or []
        else:
            tail = self.machine.fail(error or GatewayError("The client left."),
                                     status="failed" if error is not None else "incomplete")
            self.tail = tail
            if error is not None:
                observe.note_error(error)
            observe.note_result(self.machine.snapshot())
        if not self.persisted:
            try:
                await self.persist()
            except Exception:
                logger.exception("storing %s failed", self.response_id)
        return tail

    def _feed(self, chunk: dict[str, Any]) -> list[Event]:
        try:
            return self.machine.feed(chunk)
        except StreamStateError:
            raise
        except Exception as exc:  # a chunk of a shape no provider should send
            logger.exception("upstream %s sent a chunk the gateway cannot read",
                             self.upstream.name)
            raise UpstreamProtocolError(
                f"The upstream '{self.upstream.name}' sent a chunk that could not be read: "
                f"{type(exc).__name__}.") from exc

    def _remember_reasoning(self) -> None:
        for reasoning in self.machine.reasoning.values():
            self.lessons.saw_reasoning(self.upstream.name, self.model, reasoning.via)

    def _check_stream_end(self) -> None:
        # A stream that stops with neither [DONE] nor a finish_reason was cut off.
        if (not self.client.stream_done and self.machine.finish_reason is None
                and not self.upstream.profile.finish_reason_optional):
            raise UpstreamProtocolError(
                f"The stream from the upstream '{self.upstream.name}' ended before the "
                "model finished.", code="upstream_stream_truncated")

    def stored_record(self, *, lease_until: float | None = None) -> StoredResponse:
        messages = list(self.chat.carried_messages)
        reply = to_assistant_message(self.machine.snapshot()["output"], self.chat.tool_map,
                                     self.machine.call_extras, self.machine.reasoning)
        if reply is not None and lease_until is None:
            messages.append(reply)
        return StoredResponse(
            id=self.response_id,
            response=self.machine.snapshot(),
            input_items=self.listed_input,
            messages=messages,
            upstream=self.upstream.name,
            lease_until=lease_until,
            expires_at=self.store.expiry() if self.store is not None else 0.0,
            owner=self.owner,
        )

    async def checkpoint(self, *, lease_until: float) -> None:
        """Store the response as it stands while it runs (background runs only)."""
        assert self.store is not None
        async with self.write_lock:
            if self.machine.phase is not Phase.DONE:
                await self.store.put(self.stored_record(lease_until=lease_until))

    async def persist(self) -> None:
        """Store the final response (and extend its conversation) if storing is on."""
        if not self.persistent:
            return
        assert self.store is not None
        async with self.write_lock:
            try:
                await self._persist(self.store)
            except RecordTooLarge as exc:  # the output made it too large: the client has it
                logger.warning("%s was not stored: %s (--store-max-response-bytes)",
                               self.response_id, exc)
        self.persisted = True

    async def _persist(self, store: ResponseStore) -> None:
        if self.create.background:
            current = await store.get(self.response_id)
            if current is None:
                return  # deleted meanwhile: do not bring it back
            if current.lease_until is None and current.status not in ("queued", "in_progress"):
                return  # already settled by someone else (cancelled, or taken for dead)
        record = self.stored_record()
        await store.put(record)
        if self.conversation is not None:
            # Appended atomically: other responses may extend the conversation meanwhile.
            await store.append_conversation_items(
                self.conversation.id,
                [*record.input_items, *self.machine.snapshot()["output"]])


async def prepare_generation(app: web.Application, create: CreateRequest, *, owner: str,
                             request_bytes: int | None = None,
                             stream_upstream: bool | None = None,
                             local: dict[str, StoredResponse] | None = None,
                             raw_reasoning: str | None = None) -> Generation:
    """Load history, pick the upstream and translate; raises InvalidRequest / NotFound.

    `owner` (tenancy.owner_of) is whose stored responses, conversations and items the
    request may build on; another owner's are not found. `local` holds responses known only
    to one WebSocket connection (`store: false` turns), which `previous_response_id` and
    item references may use there. `request_bytes`, the size of the request as received,
    spares measuring its input for the stored-size check. `raw_reasoning` names
    the raw reasoning text events the client asked for (protocol/reasoning_events.py).
    """
    settings = app[settings_key]
    require_model(create.model)  # the key's model limits and budget, before anything else
    accounting = app.get(accounting_key)
    if accounting is not None:
        await accounting.check_budget(current_key())
    store = app.get(store_key)
    previous_id = create.body.get("previous_response_id")
    local_record = local.get(previous_id) if local is not None and previous_id else None
    if local_record is None:
        _check_stateful(create, store)
    routed = settings.route(create.model)
    if routed is None:
        raise NotFound(f"The model '{create.model}' does not exist or is not served by this "
                       "gateway.", param="model", code="model_not_found")
    upstream, model = routed
    if local_record is not None:
        history, conversation = local_record.messages, None
    else:
        history, conversation = await _load_history(create, store, owner)
    create = _with_input(create, await resolve_references(
        store, create.input, owner=owner, storing=create.store, local=local))
    seal = app[seal_key]
    lessons = app.get(lessons_key) or Lessons()  # an app made by hand may have none
    # Reasoning is only replayed to the same kind of provider at the same host: another
    # provider would reject it, or be misled by it.
    provider_tag = f"{upstream.profile.name}@{urlsplit(upstream.base_url).hostname}"

    def resolve_reasoning(item: dict[str, Any]) -> Reasoning | None:
        blob = item.get("encrypted_content")
        if blob:
            opened = seal.unseal_reasoning(blob, provider=provider_tag)
            if opened is not None:
                return opened
            logger.info("ignored reasoning item %s: encrypted_content not sealed by this "
                        "gateway for %s", item.get("id"), provider_tag)
            if isinstance(blob, str) and blob.startswith(SEALED_PREFIX):
                return None  # ours, for another provider: its plain text must not go there
        text = reasoning_text_of(item)
        return Reasoning(text) if text is not None else None

    def seal_reasoning(reasoning: Reasoning, /, extras: dict[str, Any] | None = None) -> str:
        return seal.seal(reasoning.text, provider=provider_tag, model=model,
                         nonce=os.urandom(12), extras=extras, via=reasoning.via,
                         details=reasoning.details)

    def resolve_extras(item: dict[str, Any]) -> dict[str, Any]:
        return seal.unseal_extras(item.get("encrypted_content"), provider=provider_tag)

    def expand_compaction(item: dict[str, Any]) -> list[dict[str, Any]] | None:
        messages = open_compaction(seal, item)
        if messages is None:
            logger.info("ignored compaction item %s: not sealed by this gateway", item.get("id"))
        return messages

    whole = create
    if conversation is not None:
        whole = _with_input(create, [*conversation.items, *create.input])

    def translate() -> ChatRequest:
        """The chat request, shaped by the profile and all the upstream has taught us."""
        fixes = lessons.fixes(upstream.name, model)
        profile = taught.profile_for(upstream.profile, fixes)
        stream = stream_upstream if stream_upstream is not None else (
            True if profile.stream_upstream else None)
        chat = to_chat_request(whole, profile, upstream_model=model, history=history,
                               reject_unsupported_tools=settings.unsupported_tools == "error",
                               resolve_reasoning=resolve_reasoning,
                               expand_compaction=expand_compaction, stream=stream,
                               resolve_extras=resolve_extras,
                               reasoning_seen=lessons.reasoning_seen(upstream.name, model))
        return dataclasses.replace(chat, body=taught.apply(chat.body, fixes)) if fixes else chat

    chat = translate()
    if chat.dropped_tools:
        logger.warning("dropped hosted tools that upstream %s cannot run: %s", upstream.name,
                       ", ".join(chat.dropped_tools))
    response = new_response(create, response_id=new_id("resp"), created_at=int(time.time()),
                            tools_echo=chat.tools_echo,
                            status="queued" if create.background else "in_progress")
    machine = ResponseStream(response, tool_map=chat.tool_map, new_id=new_id,
                             seal_reasoning=seal_reasoning,
                             think_tags=upstream.profile.think_tags,
                             keep_call_extras=upstream.profile.tool_call_extras,
                             raw_reasoning=raw_reasoning)
    client = UpstreamClient(app[session_key], upstream, settings.timeouts, app.get(slots_key))
    observe.note_route(create.model, upstream.name, stream=create.stream,
                       response_id=machine.response_id)
    generation = Generation(create=create, upstream=upstream, chat=chat, machine=machine,
                            client=client, store=store, lessons=lessons, model=model, owner=owner,
                            conversation=conversation, retranslate=translate)
    if generation.persistent and store is not None:
        _check_stored_size(generation, store, history, request_bytes)
    return generation


def _check_stored_size(generation: Generation, store: ResponseStore,
                       history: list[dict[str, Any]], request_bytes: int | None) -> None:
    """Refuse, before anything goes upstream, a response whose record would already be over
    the per-record limit without its output. This turn's input is stored once
    (store/dedup.py), so it counts once: as the request's size when known."""
    turn = (len(orjson.dumps(generation.listed_input)) if request_bytes is None
            else request_bytes)
    size = turn + (len(orjson.dumps(history)) if history else 0)
    if generation.conversation is not None:
        size += len(orjson.dumps(generation.conversation.items))
    if size > store.max_record_bytes:
        raise too_large(size, store.max_record_bytes, "input")


def _with_input(create: CreateRequest, items: list[dict[str, Any]]) -> CreateRequest:
    return CreateRequest(body=create.body, model=create.model, input=items,
                         stream=create.stream, store=create.store,
                         background=create.background)


def _check_stateful(create: CreateRequest, store: ResponseStore | None) -> None:
    body = create.body
    if body.get("previous_response_id") and body.get("conversation"):
        raise InvalidRequest("'previous_response_id' and 'conversation' cannot be used "
                             "together.", param="conversation", code="invalid_value")
    if store is None:
        for key in ("previous_response_id", "conversation"):
            if body.get(key):
                raise InvalidRequest(f"'{key}' needs the response store, which is off on this "
                                     "gateway (--store none); send the whole conversation in "
                                     "'input' instead.", param=key, code="store_disabled")
        if create.background:
            raise InvalidRequest("'background' needs the response store, which is off on this "
                                 "gateway (--store none).", param="background",
                                 code="store_disabled")
    if create.background and not create.store:
        raise InvalidRequest("A background response must be stored: 'store' cannot be false.",
                             param="store", code="invalid_value")


async def _load_history(create: CreateRequest, store: ResponseStore | None, owner: str
                        ) -> tuple[list[dict[str, Any]], Conversation | None]:
    if store is None:
        return [], None
    previous_id = create.body.get("previous_response_id")
    if previous_id:
        record = await store.get_owned(previous_id, owner)
        if record is None:
            raise NotFound(f"Previous response with id '{previous_id}' not found.",
                           param="previous_response_id", code="previous_response_not_found")
        if lease_expired(record):
            record = await mark_dead(store, record)
        if record.status in ("queued", "in_progress"):
            raise InvalidRequest(f"Previous response '{previous_id}' is still in progress.",
                                 param="previous_response_id", code="previous_response_pending")
        return record.messages, None
    ref = create.body.get("conversation")
    conversation_id = ref.get("id") if isinstance(ref, dict) else ref
    if conversation_id:
        if not isinstance(conversation_id, str):
            raise InvalidRequest("'conversation' must be an id or {\"id\": ...}.",
                                 param="conversation", code="invalid_type")
        conversation = await store.get_conversation_owned(conversation_id, owner)
        if conversation is None:
            raise NotFound(f"Conversation with id '{conversation_id}' not found.",
                           param="conversation", code="conversation_not_found")
        return [], conversation
    return [], None
