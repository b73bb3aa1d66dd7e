"""protocol/items.py: input items, for `input` and for conversations alike."""

from __future__ import annotations

from typing import Any

import pytest

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.protocol.items import check_items

VALID = [
    {"role": "user", "content": "hi"},
    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "x"}]},
    {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
     "content": [{"type": "output_text", "text": "ok", "annotations": []},
                 {"type": "refusal", "refusal": "no"}]},
    {"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,x",
                                  "detail": "original"},
                                 {"type": "input_file", "file_url": "https://x/y.pdf"}]},
    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text",
                                                                  "text": "42"}]},
    {"type": "function_call_output", "call_id": "c1", "output": {"as": "json"}},
    {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** x"},
    {"type": "custom_tool_call_output", "call_id": "c2", "output": "done"},
    {"type": "reasoning", "summary": [], "encrypted_content": None},
    {"type": "item_reference", "id": "msg_0"},
    {"id": "msg_0"},
    {"type": "web_search_call", "status": "searching"},
    {"type": "compaction", "encrypted_content": "blob"},
]


def test_every_item_type_clients_send_passes() -> None:
    check_items(VALID, "input")


@pytest.mark.parametrize("item, param, code", [
    ({"role": [], "content": "hi"}, "input[0].role", "invalid_type"),
    ({"role": "wizard", "content": "hi"}, "input[0].role", "invalid_value"),
    ({"type": "message", "content": "hi"}, "input[0].role", "missing_required_parameter"),
    ({"role": "user", "content": 5}, "input[0].content", "invalid_type"),
    ({"role": "user", "content": "x", "type": None}, "input[0].type",
     "missing_required_parameter"),
    ({"content": "x"}, "input[0].type", "missing_required_parameter"),
    ({"type": 7}, "input[0].type", "invalid_type"),
    ({"type": "teleport"}, "input[0].type", "invalid_value"),
    ({"type": "program"}, "input[0].type", "unsupported_item"),
    ({"role": "user", "content": "x", "id": 5}, "input[0].id", "invalid_type"),
    ({"role": "user", "content": "x", "status": "done"}, "input[0].status", "invalid_value"),
    ({"role": "assistant", "content": [{"type": "input_image", "image_url": "u"}]},
     "input[0].content[0].type", "invalid_value"),
    ({"role": "user", "content": [{"type": "input_text"}]}, "input[0].content[0].text",
     "missing_required_parameter"),
    ({"role": "user", "content": ["hi"]}, "input[0].content[0]", "invalid_type"),
    ({"role": "user", "content": [{"type": "input_image", "image_url": "u", "detail": "4k"}]},
     "input[0].content[0].detail", "invalid_value"),
    ({"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]},
     "input[0].content[0].file_id", "unsupported_content"),
    ({"role": "user", "content": [{"type": "input_file", "filename": "a.pdf"}]},
     "input[0].content[0]", "missing_required_parameter"),
    ({"type": "function_call", "name": "f"}, "input[0].call_id", "missing_required_parameter"),
    ({"type": "function_call", "call_id": "c", "name": ""}, "input[0].name", "empty_string"),
    ({"type": "custom_tool_call", "call_id": "c", "name": "f"}, "input[0].input",
     "missing_required_parameter"),
    ({"type": "function_call_output", "call_id": "c", "output": 5}, "input[0].output",
     "invalid_type"),
    ({"type": "reasoning", "summary": "thought"}, "input[0].summary", "invalid_type"),
    ({"type": "reasoning", "summary": [{"text": 5}]}, "input[0].summary[0].text",
     "invalid_type"),
    ({"type": "compaction"}, "input[0].encrypted_content", "missing_required_parameter"),
    ("hi", "input[0]", "invalid_type"),
])
def test_bad_item_is_a_400_naming_the_field(item: Any, param: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_items([item], "input")
    assert (info.value.param, info.value.code) == (param, code)


def test_the_prefix_names_where_the_items_are() -> None:
    with pytest.raises(InvalidRequest) as info:
        check_items([{"role": "user", "content": "x"}, {"role": 1}], "items")
    assert info.value.param == "items[1].role"


def test_hosted_items_are_the_ones_translation_skips() -> None:
    """What validation lets through as a hosted item, translation must know to skip."""
    from responses_gateway.protocol.items import HOSTED_ITEM_TYPES
    from responses_gateway.translate import items as translate_items

    skipped = translate_items._HOSTED_ITEMS  # noqa: SLF001 (the translator's own list)
    assert HOSTED_ITEM_TYPES <= skipped
    assert skipped - HOSTED_ITEM_TYPES <= {"compaction"}  # expanded when sealed by us
