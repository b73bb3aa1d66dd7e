"""The openai SDKs' own helpers through the gateway (issue 3): openai-python 3.57.0's
`responses.stream()` and openai-node 6.49.0's `responses.stream()` / `finalResponse()` running a
function-tool loop, and node's non-streaming `responses.create()`.

The node side is stream_helper.mjs, run with node; it prints one JSON object.
"""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest
from clients_support import CLIENTS_DIR, after_last_user, client_env, run_bounded
from e2e_support import CLIENT_KEY, WEATHER_TOOL, MockLog, Server

NODE_TIMEOUT = 60.0
QUESTION = {"role": "user", "content": "What is the weather in Paris? Call the tool."}


def _run_node_script(node: str, gateway: Server, mode: str, *args: str) -> dict[str, Any]:
    finished = run_bounded([node, str(CLIENTS_DIR / "stream_helper.mjs"), gateway.url + "/v1",
                            mode, *args], cwd=CLIENTS_DIR,
                           env=client_env({"OPENAI_API_KEY": CLIENT_KEY}), timeout=NODE_TIMEOUT)
    assert finished.returncode == 0, finished.describe()
    result = orjson.loads(finished.stdout)
    assert isinstance(result, dict), finished.describe()
    return result


def _assert_tool_loop_reached_provider(mock_log: MockLog, output: str) -> None:
    first, second = (request["body"] for request in mock_log.chat_requests())
    assert first["stream"] is True and first["messages"][-1] == QUESTION
    call_message, tool = after_last_user(second["messages"])
    (call,) = call_message["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert tool == {"role": "tool", "tool_call_id": call["id"], "content": output}


def test_python_stream_helper_runs_a_function_tool_loop(client: openai.OpenAI,
                                                        mock_log: MockLog) -> None:
    with client.responses.stream(model="mock-echo", input=[QUESTION],
                                 tools=[WEATHER_TOOL]) as stream:
        kinds = [event.type for event in stream]
        first = stream.get_final_response()

    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in kinds, kinds
    assert "response.function_call_arguments.done" in kinds, kinds
    assert first.status == "completed"
    (call,) = first.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert orjson.loads(call.arguments) == {"city": "Paris"}

    # The usual loop: the response's output items go back in, then the tool's result.
    follow_up = [QUESTION, *first.output,
                 {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21C"}]
    with client.responses.stream(model="mock-echo", input=follow_up,  # type: ignore[arg-type]
                                 tools=[WEATHER_TOOL]) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert final.output_text == "Tool result: Sunny, 21C" == "".join(deltas)
    _assert_tool_loop_reached_provider(mock_log, "Sunny, 21C")


def test_node_stream_helper_runs_a_function_tool_loop(openai_node: str, gateway: Server,
                                                      mock_log: MockLog) -> None:
    result = _run_node_script(openai_node, gateway, "stream-tools")

    first, second = result["first"], result["second"]
    assert first["status"] == "completed"
    assert first["events"][0] == "response.created" and first["events"][-1] == "response.completed"
    assert "response.function_call_arguments.delta" in first["events"], first["events"]
    call = first["call"]
    assert call["name"] == "get_weather" and orjson.loads(call["arguments"]) == {"city": "Paris"}
    assert second["status"] == "completed"
    assert second["text"] == second["output_text"] == "Tool result: Sunny, 21C"
    assert "response.output_text.delta" in second["events"], second["events"]
    _assert_tool_loop_reached_provider(mock_log, "Sunny, 21C")


def test_node_responses_create_answers(openai_node: str, gateway: Server,
                                       mock_log: MockLog) -> None:
    result = _run_node_script(openai_node, gateway, "create")

    assert result["object"] == "response" and result["status"] == "completed"
    assert result["id"].startswith("resp_")
    assert result["text"] == result["output_text"] == "You said: say hi"
    usage = result["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    body = mock_log.last_body()
    assert not body.get("stream"), body
    assert body["messages"] == [{"role": "user", "content": "say hi"}]


# -- reasoning events (issue 10 item 4) ---------------------------------------------------------

THOUGHT = "Let me think about this."


def test_python_stream_helper_shows_reasoning(client: openai.OpenAI) -> None:
    with client.responses.stream(model="mock-think", input="ponder") as stream:
        events = list(stream)
        final = stream.get_final_response()

    # An OpenAI SDK gets OpenAI's raw reasoning events on top of the summary ones.
    for kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
        assert "".join(e.delta for e in events if e.type == kind) == THOUGHT  # type: ignore[union-attr]
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and message.type == "message"
    assert [part.text for part in reasoning.summary] == [THOUGHT]
    assert [part.text for part in reasoning.content or []] == [THOUGHT]
    assert final.output_text == "You said: ponder"


@pytest.mark.parametrize("reasoning_events", [None, "openai", "summary"])
def test_node_stream_helper_shows_reasoning(openai_node: str, gateway: Server,
                                            reasoning_events: str | None) -> None:
    """openai-node's helper throws on an event type it does not know (such as Open Responses'
    `response.reasoning.delta`); OpenAI's raw events it takes, and gets by default."""
    result = _run_node_script(openai_node, gateway, "stream-reasoning",
                              *([reasoning_events] if reasoning_events else []))

    assert result["summary"] == THOUGHT
    assert result["raw"] == ("" if reasoning_events == "summary" else THOUGHT)
    reasoning, message = result["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": THOUGHT}]
    assert reasoning["content"] == [{"type": "reasoning_text", "text": THOUGHT}]
    assert message["type"] == "message" and result["output_text"] == "You said: ponder"


def test_node_stream_helper_rejects_open_responses_reasoning_names(openai_node: str,
                                                                   gateway: Server) -> None:
    """Why the default sends neither raw name: openai-node cannot take the spec's."""
    finished = run_bounded([openai_node, str(CLIENTS_DIR / "stream_helper.mjs"),
                            gateway.url + "/v1", "stream-reasoning", "open-responses"],
                           cwd=CLIENTS_DIR, env=client_env({"OPENAI_API_KEY": CLIENT_KEY}),
                           timeout=NODE_TIMEOUT)
    assert finished.returncode == 1, finished.describe()
    assert "Unhandled response stream event" in finished.stderr, finished.describe()
