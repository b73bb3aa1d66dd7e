"""protocol/tools.py: tool definitions and tool_choice."""

from __future__ import annotations

from typing import Any

import pytest

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.protocol.tools import HOSTED_TOOL_TYPES, check_tool_choice, check_tools


def test_known_tools_pass() -> None:
    check_tools([
        {"type": "function", "name": "get_weather", "parameters": {"type": "object"},
         "strict": True, "description": "d"},
        {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}},
        {"type": "namespace", "name": "mcp-server", "tools": [{"type": "function",
                                                               "name": "read"}]},
        *({"type": kind} for kind in sorted(HOSTED_TOOL_TYPES)),
    ])


@pytest.mark.parametrize("tools, param, code", [
    ("all", "tools", "invalid_type"),
    ([{"name": "f"}], "tools[0].type", "missing_required_parameter"),
    ([{"type": "teleporter"}], "tools[0].type", "invalid_value"),
    ([{"type": "function"}], "tools[0].name", "missing_required_parameter"),
    ([{"type": "function", "name": "get weather"}], "tools[0].name", "invalid_value"),
    ([{"type": "function", "name": "f", "parameters": []}], "tools[0].parameters",
     "invalid_type"),
    ([{"type": "function", "name": "f", "strict": "yes"}], "tools[0].strict", "invalid_type"),
    ([{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]}],
     "tools[0].tools[0].type", "invalid_value"),
])
def test_bad_tool(tools: Any, param: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_tools(tools)
    assert (info.value.param, info.value.code) == (param, code)


@pytest.mark.parametrize("choice", ["auto", "none", "required", {"type": "web_search"},
                                    {"type": "function", "name": "f"},
                                    {"type": "allowed_tools", "mode": "auto",
                                     "tools": [{"type": "function", "name": "f"}]}])
def test_tool_choice_passes(choice: Any) -> None:
    check_tool_choice(choice)


@pytest.mark.parametrize("choice, param", [
    ("sometimes", "tool_choice"), (3, "tool_choice"), ({}, "tool_choice.type"),
    ({"type": "function"}, "tool_choice.name"),
    ({"type": "allowed_tools", "tools": "f"}, "tool_choice.tools"),
    ({"type": "allowed_tools", "mode": "maybe", "tools": []}, "tool_choice.mode"),
])
def test_bad_tool_choice(choice: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_tool_choice(choice)
    assert info.value.param == param
