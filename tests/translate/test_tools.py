"""translate/tools.py: Responses tools and tool_choice -> chat tools, and the map back."""

from __future__ import annotations

from typing import Any

import pytest

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.providers import PROFILES
from responses_gateway.translate.tools import ToolRef, to_chat_tools

GENERIC = PROFILES["generic"]
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}
TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object"}}
PATCH = {"type": "custom", "name": "apply_patch", "description": "Edit files.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: \"*** Begin\""}}
AGENTS = {"type": "namespace", "name": "agents", "description": "Sub-agents.",
          "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object"}},
                    {"type": "custom", "name": "note"}]}
WEB_SEARCH = {"type": "web_search", "external_web_access": False}


def rejected(tools: list[dict[str, Any]] | None, tool_choice: Any = None,
             **kwargs: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        to_chat_tools(tools, tool_choice, GENERIC, **kwargs)
    assert info.value.status == 400
    return info.value


def names(tools: list[dict[str, Any]]) -> list[str]:
    return [t["function"]["name"] for t in tools]


def test_function_tool_is_nested_under_function() -> None:
    assert to_chat_tools([WEATHER], None, GENERIC).tools == [{
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather for a city.",
                     "parameters": WEATHER["parameters"]}}]


def test_function_tool_without_parameters_gets_an_empty_object_schema() -> None:
    tool = to_chat_tools([{"type": "function", "name": "ping"}], None, GENERIC).tools[0]
    assert tool["function"]["parameters"] == {"type": "object", "properties": {}}


@pytest.mark.parametrize("strict", [True, False])
def test_strict_is_passed_through(strict: bool) -> None:
    tool = to_chat_tools([{**WEATHER, "strict": strict}], None, GENERIC).tools[0]
    assert tool["function"]["strict"] is strict


def test_strict_absent_is_not_invented() -> None:
    assert "strict" not in to_chat_tools([WEATHER], None, GENERIC).tools[0]["function"]


def test_dollar_schema_stripped_from_parameters_for_profiles_that_reject_it() -> None:
    tool = {**WEATHER, "parameters": {"$schema": "http://json-schema.org/draft-07/schema#",
                                      "type": "object", "properties": {}}}
    deepseek = to_chat_tools([tool], None, PROFILES["deepseek"]).tools[0]
    generic = to_chat_tools([tool], None, GENERIC).tools[0]
    assert "$schema" not in deepseek["function"]["parameters"]
    assert "$schema" in generic["function"]["parameters"]


def test_function_tool_without_name_names_the_field() -> None:
    assert rejected([{"type": "function"}]).param == "tools[0].name"


def test_custom_tool_becomes_a_function_with_one_string_input() -> None:
    function = to_chat_tools([PATCH], None, GENERIC).tools[0]["function"]
    assert function["name"] == "apply_patch"
    assert function["description"] == "Edit files."
    params = function["parameters"]
    assert params["required"] == ["input"]
    assert params["additionalProperties"] is False
    assert list(params["properties"]) == ["input"]
    assert params["properties"]["input"]["type"] == "string"


def test_custom_tool_grammar_goes_into_the_input_description() -> None:
    function = to_chat_tools([PATCH], None, GENERIC).tools[0]["function"]
    description = function["parameters"]["properties"]["input"]["description"]
    assert "lark grammar" in description
    assert 'start: "*** Begin"' in description


def test_custom_tool_resolves_back_as_custom() -> None:
    toolset = to_chat_tools([PATCH], None, GENERIC)
    assert toolset.tool_map.resolve("apply_patch") == ToolRef("custom", "apply_patch")


def test_custom_tool_is_echoed_as_sent() -> None:
    assert to_chat_tools([PATCH], None, GENERIC).echo == [PATCH]


def test_function_tool_echo_fills_in_defaults() -> None:
    assert to_chat_tools([WEATHER], None, GENERIC).echo == [{
        "type": "function", "name": "get_weather", "description": "Weather for a city.",
        "parameters": WEATHER["parameters"], "strict": True}]


def test_namespace_tools_are_flattened() -> None:
    assert names(to_chat_tools([AGENTS], None, GENERIC).tools) == ["agents__spawn",
                                                                    "agents__note"]


def test_namespace_names_resolve_back() -> None:
    tool_map = to_chat_tools([AGENTS], None, GENERIC).tool_map
    assert tool_map.resolve("agents__spawn") == ToolRef("function", "spawn", "agents")
    assert tool_map.resolve("agents__note") == ToolRef("custom", "note", "agents")
    assert tool_map.chat_name("spawn", "agents") == "agents__spawn"


def test_unknown_chat_name_resolves_to_a_plain_function() -> None:
    assert to_chat_tools([], None, GENERIC).tool_map.resolve("x") == ToolRef("function", "x")


def test_long_namespaced_name_is_hashed_to_64_chars_and_resolvable() -> None:
    namespace, name = "n" * 40, "f" * 40
    tool = {"type": "namespace", "name": namespace, "tools": [{"type": "function", "name": name}]}
    toolset = to_chat_tools([tool], None, GENERIC)
    chat_name = names(toolset.tools)[0]
    assert len(chat_name) <= 64
    assert toolset.tool_map.resolve(chat_name) == ToolRef("function", name, namespace)
    assert toolset.tool_map.chat_name(name, namespace) == chat_name


def test_long_names_that_differ_only_at_the_end_stay_distinct() -> None:
    tools = [{"type": "namespace", "name": "n" * 40,
              "tools": [{"type": "function", "name": "f" * 40 + suffix} for suffix in "ab"]}]
    assert len(set(names(to_chat_tools(tools, None, GENERIC).tools))) == 2


def test_namespace_with_unsupported_member_names_it() -> None:
    tool = {"type": "namespace", "name": "ns", "tools": [{"type": "web_search"}]}
    assert rejected([tool]).param == "tools[0].tools[0]"


def test_hosted_tools_are_dropped_and_listed() -> None:
    toolset = to_chat_tools([WEATHER, WEB_SEARCH, {"type": "tool_search"}], None, GENERIC)
    assert names(toolset.tools) == ["get_weather"]
    assert toolset.dropped == ("web_search", "tool_search")


def test_hosted_tools_rejected_when_asked() -> None:
    error = rejected([WEATHER, WEB_SEARCH], reject_unsupported=True)
    assert (error.param, error.code) == ("tools[1].type", "unsupported_tool")


@pytest.mark.parametrize("choice", ["none", "auto", "required"])
def test_string_tool_choice_is_passed_through(choice: str) -> None:
    assert to_chat_tools([WEATHER], choice, GENERIC).tool_choice == choice


def test_no_tool_choice_is_not_forwarded() -> None:
    assert to_chat_tools([WEATHER], None, GENERIC).tool_choice is None


@pytest.mark.parametrize("tools", [[WEATHER], [], None])
def test_invalid_tool_choice_string_is_rejected(tools: list[dict[str, Any]] | None) -> None:
    # Regression: without forwardable tools an invalid value used to pass silently.
    assert rejected(tools, "always").param == "tool_choice"


def test_forced_function_becomes_a_chat_function_choice() -> None:
    choice = to_chat_tools([WEATHER], {"type": "function", "name": "get_weather"},
                           GENERIC).tool_choice
    assert choice == {"type": "function", "function": {"name": "get_weather"}}


def test_forced_custom_tool_becomes_a_chat_function_choice() -> None:
    choice = to_chat_tools([PATCH], {"type": "custom", "name": "apply_patch"},
                           GENERIC).tool_choice
    assert choice == {"type": "function", "function": {"name": "apply_patch"}}


def test_forced_namespaced_function_uses_the_flat_name() -> None:
    choice = to_chat_tools([AGENTS], {"type": "function", "name": "spawn",
                                      "namespace": "agents"}, GENERIC).tool_choice
    assert choice == {"type": "function", "function": {"name": "agents__spawn"}}


def test_forcing_an_unknown_name_is_rejected() -> None:
    error = rejected([WEATHER], {"type": "function", "name": "nope"})
    assert error.param is not None and error.param.startswith("tool_choice")


def test_forcing_a_function_when_no_tool_is_forwardable_is_rejected() -> None:
    assert rejected([WEB_SEARCH], {"type": "function", "name": "x"}).param == "tool_choice"


def test_allowed_tools_narrow_the_tools_offered() -> None:
    choice = {"type": "allowed_tools", "mode": "required",
              "tools": [{"type": "function", "name": "get_time"}]}
    toolset = to_chat_tools([WEATHER, TIME], choice, GENERIC)
    assert names(toolset.tools) == ["get_time"]
    assert toolset.tool_choice == "required"


def test_allowed_tools_mode_defaults_to_auto() -> None:
    choice = {"type": "allowed_tools", "tools": [{"type": "function", "name": "get_time"}]}
    assert to_chat_tools([WEATHER, TIME], choice, GENERIC).tool_choice == "auto"


def test_allowed_tools_matching_nothing_in_auto_mode_turns_tools_off() -> None:
    choice = {"type": "allowed_tools", "mode": "auto",
              "tools": [{"type": "function", "name": "other"}]}
    assert to_chat_tools([WEATHER], choice, GENERIC).tool_choice == "none"


def test_allowed_tools_matching_nothing_in_required_mode_is_rejected() -> None:
    choice = {"type": "allowed_tools", "mode": "required",
              "tools": [{"type": "function", "name": "other"}]}
    assert rejected([WEATHER], choice).param == "tool_choice.tools"


def test_allowed_tools_invalid_mode_is_rejected() -> None:
    choice = {"type": "allowed_tools", "mode": "sometimes", "tools": []}
    assert rejected([WEATHER], choice).param == "tool_choice.mode"


@pytest.mark.parametrize("tools", [[WEATHER], [WEB_SEARCH], []])
def test_forcing_a_hosted_tool_is_rejected(tools: list[dict[str, Any]]) -> None:
    error = rejected(tools, {"type": "web_search"})
    assert (error.param, error.code) == ("tool_choice", "unsupported_tool")


def test_required_with_no_forwardable_tool_is_rejected() -> None:
    assert rejected([WEB_SEARCH], "required").param == "tool_choice"


def test_empty_tools_with_auto_choice_forwards_nothing() -> None:
    # Codex compaction turns send tools: [] with tool_choice: "auto" (real-clients.md §4.9).
    toolset = to_chat_tools([], "auto", GENERIC)
    assert (toolset.tools, toolset.tool_choice) == ([], None)


@pytest.mark.parametrize(("tools", "choice", "param"), [
    ([{"type": "namespace", "name": "ns", "tools": 5}], None, "tools[0].tools"),
    ([{"type": "function", "name": "f"}],
     {"type": "allowed_tools", "mode": "auto", "tools": 5}, "tool_choice.tools"),
])
def test_malformed_tool_lists_are_400(tools: Any, choice: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        to_chat_tools(tools, choice, PROFILES["generic"])
    assert info.value.param == param
