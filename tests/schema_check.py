"""Test oracles for what the gateway emits: the openai SDK's pydantic types, the Open Responses
JSON schema (tests/fixtures/open-responses-openapi.json) and the stream invariants of DESIGN §4.

Every check raises AssertionError with a readable message. Used only by tests (DESIGN §3: the
SDK types are a schema oracle, never on the request path).

- `validate_response(obj)`: a Response body / final snapshot.
- `validate_event(event)`: one stream event (both oracles).
- `check_event_sequence(events)`: ordering, ids and indexes across a whole stream.

What the Open Responses schema does not model is checked with the SDK only: the events of the
items it does not model (`response.custom_tool_call_input.*`), output items outside its
`ItemField` union (`custom_tool_call`) and
tools outside its `Tool` union (`custom`, `namespace`, hosted tools). Its `text.format`
json_schema `schema`, which it types as null, is not compared either.
"""

from __future__ import annotations

import functools
import typing
from pathlib import Path
from typing import Any, Iterable

import orjson
import pydantic
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from openai.types.responses import Response, ResponseStreamEvent
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = [
    "check_event_sequence",
    "open_responses_validate_event",
    "open_responses_validate_response",
    "sdk_validate_event",
    "sdk_validate_response",
    "validate_event",
    "validate_response",
]

OPEN_RESPONSES_PATH = Path(__file__).parent / "fixtures" / "open-responses-openapi.json"
_DOC_URI = "urn:open-responses-openapi"
_TERMINAL = ("response.completed", "response.incomplete", "response.failed")


# -- openai SDK ----------------------------------------------------------------------------


@functools.cache
def _sdk_event_models() -> dict[str, type[pydantic.BaseModel]]:
    union = typing.get_args(ResponseStreamEvent)[0]  # Annotated[Union[...], PropertyInfo]
    models: dict[str, type[pydantic.BaseModel]] = {}
    for model in typing.get_args(union):
        for literal in typing.get_args(model.model_fields["type"].annotation):
            models[literal] = model
    return models


def sdk_validate_response(obj: dict[str, Any]) -> None:
    """`openai.types.responses.Response.model_validate(obj)`, as an assertion."""
    try:
        Response.model_validate(obj)
    except pydantic.ValidationError as exc:
        raise AssertionError(f"Response does not match the openai SDK type:\n{exc}") from None


@functools.cache
def _sdk_event_adapter() -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(ResponseStreamEvent)


def sdk_validate_event(event: dict[str, Any]) -> None:
    """`TypeAdapter(ResponseStreamEvent).validate_python(event)`, as an assertion.

    On failure the member selected by `type` is validated alone, so the message lists that
    type's errors instead of one per member of the union.
    """
    try:
        _sdk_event_adapter().validate_python(event)
        return
    except pydantic.ValidationError:
        pass
    kind = event.get("type")
    model = _sdk_event_models().get(kind) if isinstance(kind, str) else None
    if model is None:
        raise AssertionError(f"event type {kind!r} is not an openai SDK ResponseStreamEvent")
    try:
        model.model_validate(event)
    except pydantic.ValidationError as exc:
        raise AssertionError(f"event #{event.get('sequence_number')} {kind} does not match "
                             f"the openai SDK type {model.__name__}:\n{exc}") from None
    raise AssertionError(f"event #{event.get('sequence_number')} {kind} does not match the "
                         "openai SDK ResponseStreamEvent union")


# -- Open Responses JSON schema --------------------------------------------------------------


@functools.cache
def _document() -> dict[str, Any]:
    return orjson.loads(OPEN_RESPONSES_PATH.read_bytes())  # type: ignore[no-any-return]


def _schemas() -> dict[str, Any]:
    return _document()["components"]["schemas"]  # type: ignore[no-any-return]


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    # The document's refs are "#/components/schemas/X": register the whole document once and
    # point into it, so they resolve against it.
    resource = DRAFT202012.create_resource(_document())
    registry: Registry[Any] = Registry().with_resource(_DOC_URI, resource)
    return Draft202012Validator({"$ref": f"{_DOC_URI}#/components/schemas/{name}"},
                                registry=registry)


def _type_values(name: str) -> frozenset[str]:
    """The `type` values a schema (or a oneOf/anyOf/$ref union of schemas) admits."""
    schema = _schemas()[name]
    refs = [schema] if "$ref" in schema else schema.get("oneOf") or schema.get("anyOf") or []
    if refs:
        return frozenset().union(*(_type_values(r["$ref"].rsplit("/", 1)[-1]) for r in refs))
    kind = schema.get("properties", {}).get("type", {})
    return frozenset(kind.get("enum") or ([kind["const"]] if "const" in kind else []))


@functools.cache
def _item_types() -> frozenset[str]:
    return _type_values("ItemField")


@functools.cache
def _tool_types() -> frozenset[str]:
    return _type_values("Tool")


@functools.cache
def _event_schemas() -> dict[str, str]:
    return {kind: name for name in _schemas() if name.endswith("StreamingEvent")
            for kind in _type_values(name)}


def _modelled_view(response: dict[str, Any]) -> dict[str, Any]:
    """The response without what Open Responses does not model (or models wrongly)."""
    view = dict(response)
    if isinstance(view.get("output"), list):
        view["output"] = [i for i in view["output"] if i.get("type") in _item_types()]
    if isinstance(view.get("tools"), list):
        view["tools"] = [t for t in view["tools"] if t.get("type") in _tool_types()]
    text = view.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and "schema" in fmt:
        # Its JsonSchemaResponseFormat says `schema: {"type": "null"}` (a generator artifact;
        # the SDK and the live API carry the schema object), so only the other fields count.
        view["text"] = {**text, "format": {**fmt, "schema": None}}
    return view


def _check(name: str, instance: Any, what: str) -> None:
    errors = list(_validator(name).iter_errors(instance))
    if errors:
        best = best_match(errors)
        where = "/".join(str(p) for p in best.absolute_path) or "<root>"
        message = best.message if len(best.message) < 400 else best.message[:400] + "..."
        raise AssertionError(f"{what} does not match Open Responses {name} at {where}: "
                             f"{message} ({len(errors)} error(s))")


def open_responses_validate_response(obj: dict[str, Any]) -> None:
    """Validate against Open Responses `ResponseResource` (unmodelled items/tools left out)."""
    _check("ResponseResource", _modelled_view(obj), "Response")


# Events of items Open Responses does not model (custom_tool_call); any other type it does not
# define fails, as in its compliance suite (e.g. OpenAI's `response.reasoning_text.*`).
_UNMODELLED_ITEM_EVENTS = frozenset({"response.custom_tool_call_input.delta",
                                     "response.custom_tool_call_input.done"})


def open_responses_validate_event(event: dict[str, Any]) -> None:
    """Validate against the Open Responses event schema for `type`; a type it does not define
    fails, unless it belongs to an item it does not model."""
    kind = event.get("type")
    name = _event_schemas().get(kind)  # type: ignore[arg-type]
    if name is None:
        if kind in _UNMODELLED_ITEM_EVENTS:
            return
        raise AssertionError(f"event #{event.get('sequence_number')}: Open Responses defines "
                             f"no event {kind!r}")
    item = event.get("item")
    if isinstance(item, dict) and item.get("type") not in _item_types():
        return
    if isinstance(event.get("response"), dict):
        event = {**event, "response": _modelled_view(event["response"])}
    _check(name, event, f"event #{event.get('sequence_number')} {event.get('type')}")


# -- both ----------------------------------------------------------------------------------


def validate_response(obj: dict[str, Any]) -> None:
    """A Response must satisfy both the openai SDK type and Open Responses."""
    sdk_validate_response(obj)
    open_responses_validate_response(obj)


def validate_event(event: dict[str, Any]) -> None:
    """A stream event must satisfy both the openai SDK type and Open Responses.

    For `error` events the SDK checks the flat `code`/`message`/`param` (its type has no
    nested `error`), Open Responses the nested `error{}`: both shapes are sent.
    """
    sdk_validate_event(event)
    open_responses_validate_event(event)


# -- stream invariants (DESIGN §4, spec/real-clients.md §4) ---------------------------------


def check_event_sequence(events: Iterable[dict[str, Any]]) -> None:
    """The ordering and identity rules every client depends on, over one whole stream."""
    events = list(events)
    types = [e.get("type") for e in events]
    _expect([e.get("sequence_number") for e in events] == list(range(len(events))),
            f"sequence_number must run 0..{len(events) - 1}: "
            f"{[e.get('sequence_number') for e in events]}")
    _expect(types[:2] == ["response.created", "response.in_progress"],
            f"stream must open with created, in_progress: {types[:2]}")
    terminals = [i for i, t in enumerate(types) if t in _TERMINAL]
    _expect(terminals == [len(events) - 1], f"exactly one terminal event, last: {types}")
    response_ids = {e["response"]["id"] for e in events if "response" in e}
    _expect(len(response_ids) == 1, f"response id changed: {response_ids}")
    for e in events:
        _expect(e.get("type") == "error" or not e.get("error"),
                f"top-level 'error' on {e.get('type')} makes the SDK raise")

    done_items: list[dict[str, Any]] = []
    open_item: dict[str, Any] | None = None
    open_parts: set[tuple[str, int]] = set()  # ("content"/"summary", index) of the open item
    for e in events:
        kind = e["type"]
        if kind == "response.output_item.added":
            _expect(open_item is None, f"#{e['sequence_number']}: item added while "
                    f"{open_item and open_item['id']} is open")
            _expect(e["output_index"] == len(done_items),
                    f"#{e['sequence_number']}: output_index {e['output_index']}, "
                    f"expected {len(done_items)}")
            _expect(e["item"]["id"] not in {i["id"] for i in done_items},
                    f"duplicate item id {e['item']['id']}")
            open_item = e["item"]
        elif kind == "response.output_item.done":
            _expect(open_item is not None and e["item"]["id"] == open_item["id"]
                    and e["item"]["type"] == open_item["type"]
                    and e["item"].get("call_id") == open_item.get("call_id"),
                    f"#{e['sequence_number']}: done item differs from the added one")
            _expect(e["output_index"] == len(done_items), f"#{e['sequence_number']}: index")
            _expect(not open_parts, f"#{e['sequence_number']}: parts still open: {open_parts}")
            done_items.append(e["item"])
            open_item = None
        elif "item_id" in e:
            _expect(open_item is not None and e["item_id"] == open_item["id"]
                    and e["output_index"] == len(done_items),
                    f"#{e['sequence_number']} {kind} does not refer to the open item")
            _track_part(e, open_parts)
    final = events[-1].get("response", {})
    _expect(final.get("output") == done_items,
            "terminal response.output must equal the output_item.done items")


def _track_part(event: dict[str, Any], open_parts: set[tuple[str, int]]) -> None:
    kind: str = event["type"]
    key = (("summary", event["summary_index"]) if "summary_index" in event
           else ("content", event["content_index"]) if "content_index" in event else None)
    if key is None:
        return
    if kind.endswith("_part.added"):
        _expect(key not in open_parts, f"#{event['sequence_number']}: part {key} added twice")
        open_parts.add(key)
    elif kind.endswith("_part.done"):
        _expect(key in open_parts, f"#{event['sequence_number']}: part {key} was not open")
        open_parts.discard(key)
    else:
        _expect(key in open_parts, f"#{event['sequence_number']} {kind}: part {key} not open")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)
