"""The OpenAI Agents SDK 0.24.0 (Responses API) through the gateway: function tools with
Runner.run and Runner.run_streamed, a handoff, structured output (issue 3), previous_response_id
mode on every store backend (issue 5) and the five-turn reasoning loop with store: false
against a DeepSeek-like provider (issue 4).

Each test runs one asyncio loop with the SDK's default client pointed at a gateway and also
records what the SDK itself sent.
"""

from __future__ import annotations

from typing import Any

import orjson
from clients_support import (
    after_last_user,
    assistant_tool_calls,
    chat_messages,
    run_with_agents_sdk,
    tool_messages,
    unavailable,
)
from e2e_support import MockLog, Server
from pydantic import BaseModel

try:
    from agents import Agent, ModelSettings, Runner, function_tool
    from agents.result import RunResult
except ImportError:
    unavailable("openai-agents is not installed: pip install -e '.[test]'", module_level=True)

WEATHER_PROMPT = "What is the weather in Paris? Call the tool."


@function_tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"Sunny in {city}, 21C"


class Weather(BaseModel):
    city: str
    temperature_c: int
    sunny: bool


def _weather_agent(**options: Any) -> Agent[Any]:
    return Agent(name="Assistant", instructions="Answer briefly.", tools=[get_weather], **options)


def _assert_weather_loop(messages: list[dict[str, Any]]) -> None:
    """The provider saw the prompt, then get_weather(city=Paris) and its result."""
    assert {"role": "user", "content": WEATHER_PROMPT} in messages, messages
    call_message, output = after_last_user(messages)
    (call,) = call_message["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert output == {"role": "tool", "tool_call_id": call["id"], "content": "Sunny in Paris, 21C"}


def test_runner_run_calls_a_function_tool_and_answers_with_its_result(
        gateway: Server, mock_log: MockLog) -> None:
    # The SDK's default model (gpt-5.6-luna) also sends reasoning {"effort":"none"} and
    # text {"verbosity":"low"}: the real shape of a default Agents SDK request.
    result, sent = run_with_agents_sdk(gateway.url + "/v1",
                                       lambda: Runner.run(_weather_agent(), WEATHER_PROMPT))

    assert result.final_output == "Tool result: Sunny in Paris, 21C"
    assert len(sent) == 2
    assert [item["type"] for item in sent[1]["input"][-2:]] == ["function_call",
                                                                "function_call_output"]
    first, second = chat_messages(mock_log)
    assert first[0] == {"role": "system", "content": "Answer briefly."}
    _assert_weather_loop(second)


def test_runner_run_streamed_calls_a_function_tool(gateway: Server, mock_log: MockLog) -> None:
    async def main() -> tuple[list[str], Any]:
        streamed = Runner.run_streamed(_weather_agent(), WEATHER_PROMPT)
        kinds = []
        async for event in streamed.stream_events():
            if event.type == "raw_response_event":
                kinds.append(event.data.type)
            elif event.type == "run_item_stream_event":
                kinds.append(event.item.type)
        return kinds, streamed.final_output

    (kinds, final_output), sent = run_with_agents_sdk(gateway.url + "/v1", main)

    assert final_output == "Tool result: Sunny in Paris, 21C"
    assert all(body["stream"] is True for body in sent) and len(sent) == 2
    for kind in ("response.function_call_arguments.delta", "tool_call_item",
                 "tool_call_output_item", "response.output_text.delta", "message_output_item"):
        assert kind in kinds, kinds
    assert kinds.count("response.completed") == 2, kinds
    _assert_weather_loop(chat_messages(mock_log)[-1])


def test_handoff_passes_the_conversation_to_the_other_agent(gateway: Server,
                                                            mock_log: MockLog) -> None:
    expert = Agent(name="Weather expert", instructions="You are the weather expert.",
                   handoff_description="Knows the weather.")
    triage = Agent(name="Triage", instructions="Route the question.", handoffs=[expert])

    result, sent = run_with_agents_sdk(
        gateway.url + "/v1",
        lambda: Runner.run(triage, "Please call the transfer_to_weather_expert tool."))

    assert isinstance(result, RunResult)
    assert result.last_agent is expert
    assert result.final_output == 'Tool result: {"assistant": "Weather expert"}'
    first, second = (request["body"] for request in mock_log.chat_requests())
    assert [tool["function"]["name"] for tool in first["tools"]] == ["transfer_to_weather_expert"]
    # The expert answers with its own instructions and no tools (the SDK sends tools: []).
    assert second["messages"][0] == {"role": "system", "content": "You are the weather expert."}
    assert "tools" not in second and "tool_choice" not in second, second
    assert sent[1]["tools"] == []
    (call,) = assistant_tool_calls(second["messages"])[0]["tool_calls"]
    assert call["function"]["name"] == "transfer_to_weather_expert"


def test_output_type_gives_a_validated_pydantic_instance(gateway: Server,
                                                         mock_log: MockLog) -> None:
    agent = Agent(name="Reporter", instructions="Report the weather.", model="mock-json",
                  output_type=Weather)

    result, sent = run_with_agents_sdk(gateway.url + "/v1",
                                       lambda: Runner.run(agent, "Weather in Paris, as JSON."))

    assert result.final_output == Weather(city="Paris", temperature_c=1, sunny=True)
    assert sent[0]["text"]["format"]["type"] == "json_schema"
    body = mock_log.last_body()
    assert body["response_format"]["type"] == "json_schema"
    json_schema = body["response_format"]["json_schema"]
    assert json_schema["name"] == "final_output" and json_schema["strict"] is True
    assert set(json_schema["schema"]["properties"]) == {"city", "temperature_c", "sunny"}


def test_auto_previous_response_id_sends_only_new_items_and_history_is_rebuilt(
        stateful_gateway: Server, stored_ids: list[str], mock_log: MockLog) -> None:
    """Issue 5: with auto_previous_response_id the SDK sends just the tool output; the gateway
    rebuilds the prompt and the tool call from its store (memory, SQLite and Redis)."""
    result, sent = run_with_agents_sdk(
        stateful_gateway.url + "/v1",
        lambda: Runner.run(_weather_agent(), WEATHER_PROMPT, auto_previous_response_id=True))
    stored_ids.extend(response.response_id for response in result.raw_responses)

    assert result.final_output == "Tool result: Sunny in Paris, 21C"
    first_id = result.raw_responses[0].response_id
    assert sent[1]["previous_response_id"] == first_id
    assert [item["type"] for item in sent[1]["input"]] == ["function_call_output"], sent[1]
    first, second = chat_messages(mock_log)
    _assert_weather_loop(second)
    assert second[:len(first)] == first  # the whole earlier prompt, in order


def test_previous_response_id_continues_an_earlier_run(
        stateful_gateway: Server, stored_ids: list[str], mock_log: MockLog) -> None:
    async def main() -> tuple[RunResult, RunResult]:
        agent = _weather_agent()
        hello = await Runner.run(agent, "say hello")
        weather = await Runner.run(agent, WEATHER_PROMPT,
                                   previous_response_id=hello.last_response_id)
        return hello, weather

    (hello, weather), sent = run_with_agents_sdk(stateful_gateway.url + "/v1", main)
    stored_ids.extend(r.response_id for r in [*hello.raw_responses, *weather.raw_responses])

    assert hello.final_output == "You said: say hello"
    assert weather.final_output == "Tool result: Sunny in Paris, 21C"
    assert sent[1]["previous_response_id"] == hello.last_response_id
    assert sent[1]["input"] == [{"content": WEATHER_PROMPT, "role": "user"}]
    messages = chat_messages(mock_log)[-1]
    # The first run's exchange comes first, rebuilt by the gateway.
    earlier = [m for m in messages if m["role"] != "system"][:2]
    assert earlier == [{"role": "user", "content": "say hello"},
                       {"role": "assistant", "content": "You said: say hello"}], messages
    _assert_weather_loop(messages)


def test_five_turn_reasoning_tool_loop_with_store_false(
        reasoning_gateway: Server, reasoning_mock_log: MockLog) -> None:
    """Issue 4 "Done means", through the Agents SDK: the provider 400s unless every tool-call
    turn carries its exact reasoning back; the gateway keeps no state (--store none)."""
    agent = _weather_agent(model="mock-think", model_settings=ModelSettings(store=False))

    result, sent = run_with_agents_sdk(
        reasoning_gateway.url + "/v1",
        lambda: Runner.run(agent, "loop 5: call the get_weather tool", max_turns=10))

    assert result.final_output == "Tool result: Sunny in Paris, 21C"
    assert len(sent) == 6 and all(body["store"] is False for body in sent)
    replayed = [item for item in sent[-1]["input"] if item.get("type") == "reasoning"]
    assert len(replayed) == 5 and all(item.get("encrypted_content") for item in replayed)
    requests = reasoning_mock_log.chat_requests()
    assert len(requests) == 6
    turn = after_last_user(requests[-1]["body"]["messages"])
    calls = assistant_tool_calls(turn)
    assert len(calls) == 5 and len(tool_messages(turn)) == 5
    for message in calls:
        (call,) = message["tool_calls"]
        assert message.get("reasoning_content") == f"Let me think about {call['id']}.", message


def test_previous_response_id_chain_keeps_each_turns_reasoning(
        stateful_reasoning_gateway: Server, reasoning_mock_log: MockLog) -> None:
    """Issue 5: a stored chain rebuilt from previous_response_id still carries the reasoning of
    its earlier tool turns, which the thinking provider insists on."""
    agent = _weather_agent(model="mock-think")

    async def main() -> tuple[RunResult, RunResult]:
        first = await Runner.run(agent, "loop 2: call the get_weather tool",
                                 auto_previous_response_id=True)
        second = await Runner.run(agent, "loop 1: call the get_weather tool again",
                                  previous_response_id=first.last_response_id)
        return first, second

    (first, second), sent = run_with_agents_sdk(stateful_reasoning_gateway.url + "/v1", main)

    assert first.final_output == second.final_output == "Tool result: Sunny in Paris, 21C"
    assert all("previous_response_id" in body for body in sent[1:]), sent
    assert not any(item.get("type") == "reasoning" for body in sent for item in body["input"])
    messages = reasoning_mock_log.chat_requests()[-1]["body"]["messages"]
    calls = assistant_tool_calls(messages)
    assert len(calls) == 3 and len(tool_messages(messages)) == 3
    for message in calls:
        (call,) = message["tool_calls"]
        assert message.get("reasoning_content") == f"Let me think about {call['id']}.", message
