"""A stored response keeps each large string once (store/dedup.py)."""

from __future__ import annotations

from typing import Any

import orjson

from responses_gateway.store import StoredResponse
from responses_gateway.store.dedup import MARKER

BIG = "lorem ipsum " * 2000
IMAGE = "data:image/png;base64," + "QUJD" * 5000


def _record(**overrides: Any) -> StoredResponse:
    fields: dict[str, Any] = {
        "id": "resp_1",
        "response": {"output": [
            {"type": "reasoning", "content": [{"type": "reasoning_text", "text": BIG + "r"}]},
            {"type": "message", "content": [{"type": "output_text", "text": BIG + "out"}]}]},
        "input_items": [{"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": BIG}, {"type": "input_image", "image_url": IMAGE}]}],
        "messages": [
            {"role": "user", "content": "earlier, small"},
            {"role": "user", "content": [{"type": "text", "text": BIG},
                                         {"type": "image_url", "image_url": {"url": IMAGE}}]},
            {"role": "assistant", "content": BIG + "out", "reasoning_content": BIG + "r"}],
    }
    fields.update(overrides)
    return StoredResponse(**fields)


def test_each_large_string_is_stored_once_and_restored() -> None:
    record = _record()
    raw = record.to_json()
    unique = len(BIG) * 3 + len(IMAGE)
    assert unique < len(raw) < unique + 2000
    assert StoredResponse.from_json(raw) == record


def test_small_records_are_stored_as_before() -> None:
    record = _record(response={"output": []}, input_items=[{"type": "message", "content": "hi"}],
                     messages=[{"role": "user", "content": "hi"}])
    assert record.to_json() == orjson.dumps(record)
    assert b"deduplicated" not in record.to_json()


def test_a_client_dict_shaped_like_a_pointer_is_kept_as_sent() -> None:
    odd = {"role": "user", "content": [{MARKER: ["input_items", 0]}]}
    record = _record(messages=[odd, {"role": "user", "content": BIG}])
    assert StoredResponse.from_json(record.to_json()) == record


def test_records_written_before_deduplication_load_unchanged() -> None:
    record = _record()
    assert StoredResponse.from_json(orjson.dumps(record)) == record
