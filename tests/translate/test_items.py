"""translate/items.py: Responses input items -> chat messages, tool history re-paired."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.providers import PROFILES, Profile
from responses_gateway.translate.items import to_chat_messages
from responses_gateway.translate.reasoning_fields import Reasoning
from responses_gateway.translate.tools import ToolMap, to_chat_tools

GENERIC = PROFILES["generic"]
PNG = "data:image/png;base64,iVBORw0KGgo="


def translate(items: list[dict[str, Any]], profile: Profile = GENERIC,
              tool_map: ToolMap | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    return to_chat_messages(items, profile, tool_map or ToolMap(), **kwargs)


def rejected(items: list[dict[str, Any]]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        translate(items)
    assert info.value.status == 400
    return info.value


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def call(call_id: str, name: str = "get_weather", arguments: str = "{}") -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def output(call_id: str, result: Any = "ok") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": result}


def chat_call(call_id: str, name: str = "get_weather", arguments: str = "{}") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool(call_id: str, content: str = "ok") -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def roles(messages: list[dict[str, Any]]) -> list[str]:
    return [m["role"] for m in messages]


def test_call_and_output_become_assistant_tool_calls_and_tool_message() -> None:
    assert translate([user("weather?"), call("a", arguments='{"city":"Paris"}'), output("a")]) == [
        user("weather?"),
        {"role": "assistant", "content": None,
         "tool_calls": [chat_call("a", arguments='{"city":"Paris"}')]},
        tool("a")]


def test_consecutive_calls_merge_into_one_assistant_message() -> None:
    messages = translate([call("a"), call("b"), output("a"), output("b")])
    assert messages == [{"role": "assistant", "content": None,
                         "tool_calls": [chat_call("a"), chat_call("b")]}, tool("a"), tool("b")]


def test_assistant_text_then_call_is_one_assistant_message() -> None:
    messages = translate([{"role": "assistant", "content": "Let me check."}, call("a"),
                          output("a")])
    assert messages == [{"role": "assistant", "content": "Let me check.",
                         "tool_calls": [chat_call("a")]}, tool("a")]


def test_user_message_between_call_and_output_moves_after_the_output() -> None:
    messages = translate([call("a"), user("hurry"), output("a")])
    assert roles(messages) == ["assistant", "tool", "user"]


def test_outputs_in_another_order_than_calls_keep_the_calls_together() -> None:
    messages = translate([call("a"), call("b"), user("hurry"), output("b"), output("a")])
    assert roles(messages) == ["assistant", "tool", "tool", "user"]
    assert len(messages[0]["tool_calls"]) == 2


def test_call_after_a_deferred_message_joins_the_waiting_assistant_message() -> None:
    # Regression: call b used to open a second assistant message right after the first one,
    # leaving call a without its tool message next to it (providers reject that).
    messages = translate([call("a"), user("also"), call("b"), output("a"), output("b")])
    assert roles(messages) == ["assistant", "tool", "tool", "user"]
    assert [c["id"] for c in messages[0]["tool_calls"]] == ["a", "b"]


def test_call_while_earlier_calls_await_outputs_joins_them() -> None:
    messages = translate([call("a"), call("b"), output("a"), call("c"), output("b"),
                          output("c")])
    assert roles(messages) == ["assistant", "tool", "tool", "tool"]
    assert [c["id"] for c in messages[0]["tool_calls"]] == ["a", "b", "c"]


def test_separate_turns_stay_separate_assistant_messages() -> None:
    messages = translate([call("a"), output("a"), call("b"), output("b")])
    assert roles(messages) == ["assistant", "tool", "assistant", "tool"]


def test_output_without_a_call_becomes_user_text() -> None:
    assert translate([output("ghost", "42")]) == [
        {"role": "user", "content": "[output of tool call ghost]\n42"}]


def test_output_before_its_call_is_user_text_and_the_call_is_dropped() -> None:
    # Regression: the call used to be kept with no tool message after it.
    messages = translate([output("a", "42"), call("a")])
    assert messages == [{"role": "user", "content": "[output of tool call a]\n42"}]


def test_call_without_output_is_dropped() -> None:
    assert translate([user("hi"), call("a")]) == [user("hi")]


def test_call_answered_from_stored_history() -> None:
    history = [user("hi"), {"role": "assistant", "content": None, "tool_calls": [chat_call("a")]}]
    messages = translate([output("a")], history=history)
    assert messages == [*history, tool("a")]


def test_stored_history_is_not_modified() -> None:
    # Regression: a call joined the last stored assistant message by mutating it.
    history = [user("q"), {"role": "assistant", "content": "answer"}]
    snapshot = orjson.dumps(history)
    messages = translate([call("a"), output("a")], history=history)
    assert messages[1] == {"role": "assistant", "content": "answer",
                           "tool_calls": [chat_call("a")]}
    assert orjson.dumps(history) == snapshot


def test_custom_tool_call_becomes_a_function_call_with_input_json() -> None:
    patch = "*** Begin Patch\n+hi\n*** End Patch\n"
    items = [{"type": "custom_tool_call", "call_id": "c", "name": "apply_patch", "input": patch},
             {"type": "custom_tool_call_output", "call_id": "c", "output": "Done."}]
    messages = translate(items)
    arguments = messages[0]["tool_calls"][0]["function"]["arguments"]
    assert orjson.loads(arguments) == {"input": patch}
    assert messages[1] == tool("c", "Done.")


def test_namespaced_call_uses_the_flat_chat_name() -> None:
    toolset = to_chat_tools([{"type": "namespace", "name": "agents",
                              "tools": [{"type": "function", "name": "spawn"}]}], None, GENERIC)
    item = {**call("a", name="spawn"), "namespace": "agents"}
    messages = translate([item, output("a")], tool_map=toolset.tool_map)
    assert messages[0]["tool_calls"][0]["function"]["name"] == "agents__spawn"


def test_output_with_text_and_image_parts_adds_a_user_message_with_the_image() -> None:
    result = [{"type": "input_text", "text": "screenshot taken"},
              {"type": "input_image", "image_url": PNG, "detail": "low"}]
    messages = translate([call("a"), output("a", result)])
    assert messages[1] == tool("a", "screenshot taken")
    assert messages[2] == {"role": "user", "content": [
        {"type": "text", "text": "(attached tool output)"},
        {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}}]}


def test_output_as_json_object_is_sent_as_json_text() -> None:
    assert translate([call("a"), output("a", {"temp": 21})])[1] == tool("a", '{"temp":21}')


def test_reasoning_items_are_dropped_without_a_resolver() -> None:
    items = [{"type": "reasoning", "id": "rs_1", "summary": [], "content": None,
              "encrypted_content": "gAAAA"}, {"role": "assistant", "content": "hi"}]
    assert translate(items) == [{"role": "assistant", "content": "hi"}]


def test_resolved_reasoning_goes_on_the_next_assistant_message() -> None:
    items = [{"type": "reasoning", "summary": []}, {"role": "assistant", "content": "hi"}]
    messages = translate(items, resolve_reasoning=lambda item: Reasoning("thought"))
    assert messages == [{"role": "assistant", "content": "hi", "reasoning_content": "thought"}]


def test_resolved_reasoning_goes_on_the_next_tool_call_message() -> None:
    items = [{"type": "reasoning", "summary": []}, call("a"), output("a")]
    messages = translate(items, resolve_reasoning=lambda item: Reasoning("thought"))
    assert messages[0]["reasoning_content"] == "thought"


def test_unknown_item_type_names_its_type_field() -> None:
    error = rejected([user("hi"), {"type": "hologram"}])
    assert (error.param, error.code) == ("input[1].type", "unsupported_item")


def test_item_reference_is_rejected() -> None:
    assert rejected([{"type": "item_reference", "id": "msg_1"}]).param == "input[0]"


@pytest.mark.parametrize("kind", ["web_search_call", "file_search_call", "compaction",
                                  "tool_search_call"])
def test_hosted_tool_items_are_skipped(kind: str) -> None:
    assert translate([user("hi"), {"type": kind, "id": "x", "status": "completed"}]) == [
        user("hi")]


def test_ids_and_status_on_input_items_are_accepted() -> None:
    items = [{"type": "message", "id": "msg_1", "status": "completed", "role": "user",
              "content": [{"type": "input_text", "text": "hi"}]},
             {**call("a"), "id": "fc_1", "status": "completed"},
             {**output("a"), "id": "fco_1", "status": "completed"}]
    assert translate(items) == [user("hi"), {"role": "assistant", "content": None,
                                             "tool_calls": [chat_call("a")]}, tool("a")]


def test_call_without_call_id_names_the_field() -> None:
    assert rejected([{"type": "function_call", "name": "f"}]).param == "input[0].call_id"


def test_output_without_call_id_names_the_field() -> None:
    assert rejected([{"type": "function_call_output", "output": "x"}]).param == (
        "input[0].call_id")


def test_developer_becomes_system_for_generic() -> None:
    assert translate([{"role": "developer", "content": "rules"}]) == [
        {"role": "system", "content": "rules"}]


def test_developer_kept_for_openai() -> None:
    assert translate([{"role": "developer", "content": "rules"}], PROFILES["openai"]) == [
        {"role": "developer", "content": "rules"}]


def test_invalid_role_names_the_field() -> None:
    assert rejected([{"role": "critic", "content": "x"}]).param == "input[0].role"


def test_single_text_part_becomes_a_string() -> None:
    item = {"role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    assert translate([item]) == [user("hi")]


def test_several_text_parts_stay_parts_unless_the_provider_needs_a_string() -> None:
    item = {"role": "user", "content": [{"type": "input_text", "text": "a"},
                                        {"type": "input_text", "text": "b"}]}
    assert translate([item])[0]["content"] == [{"type": "text", "text": "a"},
                                               {"type": "text", "text": "b"}]
    assert translate([item], PROFILES["deepseek"])[0]["content"] == "a\nb"


def test_assistant_output_text_parts_become_a_string() -> None:
    item = {"type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": "Hel", "annotations": []},
                        {"type": "output_text", "text": "lo", "annotations": []}]}
    assert translate([item]) == [{"role": "assistant", "content": "Hello"}]


def test_image_detail_original_becomes_high() -> None:
    item = {"role": "user", "content": [{"type": "input_image", "image_url": PNG,
                                         "detail": "original"}]}
    part = translate([item])[0]["content"][0]
    assert part == {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}}


def test_image_data_url_is_kept_without_detail() -> None:
    item = {"role": "user", "content": [{"type": "input_image", "image_url": PNG}]}
    assert translate([item])[0]["content"] == [{"type": "image_url", "image_url": {"url": PNG}}]


def test_image_by_file_id_is_rejected() -> None:
    item = {"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}
    assert rejected([item]).param == "input[0].content[0].file_id"


def test_input_file_data_becomes_a_file_part() -> None:
    item = {"role": "user", "content": [{"type": "input_file", "filename": "a.pdf",
                                         "file_data": "data:application/pdf;base64,JVBE"}]}
    assert translate([item])[0]["content"] == [{"type": "file", "file": {
        "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}}]


def test_input_file_without_data_names_the_part() -> None:
    item = {"role": "user", "content": [{"type": "input_text", "text": "see"},
                                        {"type": "input_file", "filename": "a.pdf"}]}
    assert rejected([item]).param == "input[0].content[1]"


# -- continuing stored history (previous_response_id) -------------------------------------

HISTORY = [{"role": "user", "content": "weather?"},
           {"role": "assistant", "content": None,
            "tool_calls": [{"id": "call_h", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"}}]}]


def test_message_before_the_output_of_a_history_call_goes_after_it() -> None:
    messages = translate([{"role": "user", "content": "also: thanks"},
                          {"type": "function_call_output", "call_id": "call_h",
                           "output": "sunny"}], history=HISTORY)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user"]


def test_the_same_output_twice_gives_one_tool_message() -> None:
    output = {"type": "function_call_output", "call_id": "call_h", "output": "sunny"}
    messages = translate([output, output], history=HISTORY)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]


def test_a_call_already_in_history_is_not_added_again() -> None:
    messages = translate([
        {"type": "function_call", "call_id": "call_h", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_h", "output": "sunny"}],
        history=HISTORY)
    assert sum(len(m.get("tool_calls") or ()) for m in messages) == 1


def test_item_type_that_is_not_a_string_is_400() -> None:
    assert rejected([{"type": ["message"], "role": "user", "content": "x"}]).param == \
        "input[0].type"


def test_call_id_that_is_not_a_string_is_400() -> None:
    error = rejected([{"type": "function_call_output", "call_id": ["x"], "output": "y"}])
    assert error.param == "input[0].call_id"
