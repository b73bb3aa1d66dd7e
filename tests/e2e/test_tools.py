"""Tool definitions through the gateway (issue 3): hosted tools, namespaces, custom tools,
tool_choice forms, checked on what the provider received and with the strict SDK."""

from __future__ import annotations

from typing import Any, Callable

import openai
import pytest
from e2e_support import (
    CLIENT_KEY,
    UPSTREAM_KEY,
    WEATHER_TOOL,
    MockLog,
    Server,
    checked_stream,
    free_port,
    post_stream,
)

WEB_SEARCH = {"type": "web_search", "filters": None, "user_location": None,
              "search_context_size": "medium"}
AGENTS = {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.",
          "tools": [{"type": "function", "name": "spawn_agent", "description": "Start one.",
                     "parameters": {"type": "object", "properties": {"task": {"type": "string"}},
                                    "required": ["task"]}}]}
PATCH = {"type": "custom", "name": "apply_patch", "description": "Apply a patch.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/s"}}


def _tool_names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools") or ()]


def test_hosted_tools_are_dropped_and_logged(client: openai.OpenAI, mock_log: MockLog,
                                            gateway: Server) -> None:
    client.responses.create(model="mock-echo", input="hello", tools=[WEATHER_TOOL, WEB_SEARCH])
    assert _tool_names(mock_log.last_body()) == ["get_weather"]
    assert "dropped hosted tools" in gateway.output() and "web_search" in gateway.output()


def test_forcing_a_hosted_tool_is_400(client: openai.OpenAI, mock_log: MockLog) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="mock-echo", input="hello", tools=[WEATHER_TOOL, WEB_SEARCH],
                                tool_choice={"type": "web_search"})
    assert caught.value.body["param"] == "tool_choice"  # type: ignore[index]
    assert mock_log.chat_requests() == []


@pytest.fixture(scope="module")
def strict_tools_gateway(mock_provider: Server, spawn_server: Callable[..., Server]) -> Server:
    port = free_port()
    return spawn_server("gateway-unsupported-tools-error", [
        "--base-url", f"{mock_provider.url}/v1", "--upstream-api-key", UPSTREAM_KEY,
        "--port", str(port), "--store", "memory", "--unsupported-tools", "error"],
        "/health", port=port)


def test_unsupported_tools_error_mode_rejects_hosted_tools(strict_tools_gateway: Server) -> None:
    client = openai.OpenAI(base_url=f"{strict_tools_gateway.url}/v1", api_key=CLIENT_KEY,
                           max_retries=0, _strict_response_validation=True)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="mock-echo", input="hi", tools=[WEATHER_TOOL, WEB_SEARCH])
    assert caught.value.body["param"] == "tools[1].type"  # type: ignore[index]


def test_namespace_tool_call_comes_back_under_its_own_name(client: openai.OpenAI,
                                                            mock_log: MockLog) -> None:
    first = client.responses.create(model="mock-echo", input="call spawn_agent please",
                                    tools=[AGENTS])
    assert _tool_names(mock_log.last_body()) == ["multi_agent_v1__spawn_agent"]
    call = first.output[0]
    assert call.type == "function_call"
    assert (call.name, call.namespace) == ("spawn_agent", "multi_agent_v1")
    second = client.responses.create(model="mock-echo", tools=[AGENTS], input=[
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "namespace": call.namespace, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "agent started"}])
    sent = mock_log.last_body()["messages"]
    assert sent[0]["tool_calls"][0]["function"]["name"] == "multi_agent_v1__spawn_agent"
    assert second.output_text == "Tool result: agent started"


def test_custom_tool_call_streams_its_input(http: Any) -> None:
    response, frames = post_stream(http, {"model": "mock-echo", "stream": True,
                                          "input": "use the apply_patch tool",
                                          "tools": [PATCH]})
    events = checked_stream(response, frames)
    types = [e["type"] for e in events]
    assert "response.custom_tool_call_input.delta" in types
    done = next(e for e in events if e["type"] == "response.custom_tool_call_input.done")
    assert done["input"].startswith("*** Begin Patch")
    item = events[-1]["response"]["output"][0]
    assert item["type"] == "custom_tool_call" and item["name"] == "apply_patch"
    assert item["input"] == done["input"]


def test_custom_tool_output_round_trip(client: openai.OpenAI, mock_log: MockLog) -> None:
    answer = client.responses.create(model="mock-echo", tools=[PATCH], input=[
        {"type": "custom_tool_call", "call_id": "call_p1", "name": "apply_patch",
         "input": "*** Begin Patch\n*** End Patch\n"},
        {"type": "custom_tool_call_output", "call_id": "call_p1", "output": "Done!"}])
    assistant, tool = mock_log.last_body()["messages"][:2]
    assert assistant["tool_calls"][0]["function"] == {
        "name": "apply_patch", "arguments": '{"input":"*** Begin Patch\\n*** End Patch\\n"}'}
    assert tool == {"role": "tool", "tool_call_id": "call_p1", "content": "Done!"}
    assert answer.output_text == "Tool result: Done!"


@pytest.mark.parametrize(("choice", "sent_choice", "sent_tools"), [
    ("required", "required", ["get_weather", "lookup"]),
    ("none", "none", ["get_weather", "lookup"]),
    ({"type": "function", "name": "lookup"},
     {"type": "function", "function": {"name": "lookup"}}, ["get_weather", "lookup"]),
    ({"type": "allowed_tools", "mode": "required",
      "tools": [{"type": "function", "name": "lookup"}]}, "required", ["lookup"]),
])
def test_tool_choice_forms_reach_the_provider(client: openai.OpenAI, mock_log: MockLog,
                                             choice: Any, sent_choice: Any,
                                             sent_tools: list[str]) -> None:
    lookup = {**WEATHER_TOOL, "name": "lookup"}
    client.responses.create(model="mock-echo", input="hello", tools=[WEATHER_TOOL, lookup],
                            tool_choice=choice, parallel_tool_calls=False)
    body = mock_log.last_body()
    assert body["tool_choice"] == sent_choice
    assert _tool_names(body) == sent_tools
    assert body["parallel_tool_calls"] is False


def test_empty_tools_and_their_choice_are_not_forwarded(client: openai.OpenAI,
                                                        mock_log: MockLog) -> None:
    client.responses.create(model="mock-echo", input="hello", tools=[], tool_choice="auto")
    body = mock_log.last_body()
    assert "tools" not in body and "tool_choice" not in body
