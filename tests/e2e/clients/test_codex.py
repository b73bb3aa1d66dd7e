"""Codex CLI 0.169.0 (`codex exec`, custom provider with wire_api = "responses") through the
gateway: plain answers, the exec_command and apply_patch tools, parallel calls (issue 3) and a
five-turn reasoning tool loop against a DeepSeek-like provider with store: false (issue 4).

Codex sends store: false and replays the whole history on every request; its final answer is
the only thing it prints on stdout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from clients_support import (
    CodexRun,
    after_last_user,
    assistant_tool_calls,
    chat_messages,
    tool_messages,
)
from e2e_support import MockLog, Server

Codex = Callable[..., CodexRun]


def _tools_by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {tool["function"]["name"]: tool["function"] for tool in body.get("tools") or ()}


def _turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The current turn's tool loop: the messages after the prompt."""
    return after_last_user(messages)


def test_codex_exec_answers_say_hi(codex: Codex, gateway: Server, mock_log: MockLog) -> None:
    run = codex(gateway, "say hi")

    assert run.finished.returncode == 0, run.describe()
    assert run.stdout.strip() == "You said: say hi", run.describe()
    (request,) = mock_log.chat_requests()
    body = request["body"]
    assert body["model"] == "gpt-5.5" and body["stream"] is True
    assert body["messages"][-1] == {"role": "user", "content": "say hi"}
    # Codex's function tools go through; its hosted web_search cannot, and is dropped.
    assert {"exec_command", "apply_patch"} <= set(_tools_by_name(body)), body["tools"]


def test_codex_runs_exec_command_and_reports_its_output(codex: Codex, gateway: Server,
                                                        mock_log: MockLog) -> None:
    run = codex(gateway, "run the exec_command tool")

    assert run.finished.returncode == 0, run.describe()
    assert "Tool result:" in run.stdout and "\nhi\n" in run.stdout, run.describe()
    first, second = chat_messages(mock_log)
    assert _turn(first) == []
    call_message, output = _turn(second)
    (call,) = call_message["tool_calls"]
    assert call["function"]["name"] == "exec_command"
    assert orjson.loads(call["function"]["arguments"])["cmd"] == "echo hi"
    assert output["role"] == "tool" and output["tool_call_id"] == call["id"]
    assert "Process exited with code 0" in output["content"], output
    assert output["content"].endswith("Output:\nhi\n"), output


def test_codex_applies_a_patch_through_the_custom_apply_patch_tool(
        codex: Codex, gateway: Server, mock_log: MockLog) -> None:
    run = codex(gateway, "use the apply_patch tool")

    assert run.finished.returncode == 0, run.describe()
    created = run.workdir / "hello.txt"
    assert created.is_file(), f"no hello.txt in {list(run.workdir.iterdir())}\n{run.describe()}"
    assert created.read_text() == "hello\n"
    assert "Tool result:" in run.stdout and "A hello.txt" in run.stdout, run.describe()
    first, second = (request["body"] for request in mock_log.chat_requests())
    # The freeform (custom) tool reaches the provider as a function with one string `input`.
    parameters = _tools_by_name(first)["apply_patch"]["parameters"]
    assert list(parameters["properties"]) == ["input"], parameters
    assert parameters["properties"]["input"]["type"] == "string"
    call_message, output = _turn(second["messages"])
    (call,) = call_message["tool_calls"]
    assert call["function"]["name"] == "apply_patch"
    patch = orjson.loads(call["function"]["arguments"])["input"]
    assert patch.startswith("*** Begin Patch\n*** Add File: hello.txt\n"), patch
    assert output["role"] == "tool" and output["tool_call_id"] == call["id"]
    assert "A hello.txt" in output["content"], output


def test_codex_runs_two_parallel_calls_and_returns_both_outputs_in_order(
        codex: Codex, gateway: Server, mock_log: MockLog) -> None:
    run = codex(gateway, "run two tools in parallel")

    assert run.finished.returncode == 0, run.describe()
    assert "Tool result:" in run.stdout, run.describe()
    first, second = chat_messages(mock_log)
    # The mock calls the first two tools Codex offers: exec_command, then write_stdin (which
    # fails in Codex because no session 1 exists; its error text is still a tool output).
    call_message, *outputs = _turn(second)
    calls = call_message["tool_calls"]
    assert [call["function"]["name"] for call in calls] == ["exec_command", "write_stdin"]
    assert [o["role"] for o in outputs] == ["tool", "tool"]
    assert [o["tool_call_id"] for o in outputs] == [call["id"] for call in calls]
    assert outputs[0]["content"].endswith("Output:\nhi\n"), outputs[0]
    assert outputs[1]["content"], outputs[1]


def test_codex_five_turn_reasoning_tool_loop_without_store(
        codex: Codex, reasoning_gateway: Server, reasoning_mock_log: MockLog) -> None:
    """Issue 4 "Done means": each assistant tool-call turn must carry back its exact reasoning,
    which only the sealed encrypted_content that Codex replays can provide (--store none)."""
    run = codex(reasoning_gateway, "loop 5: run the exec_command tool", model="mock-think")

    assert run.finished.returncode == 0, run.describe()
    assert "Tool result:" in run.stdout, run.describe()
    requests = reasoning_mock_log.chat_requests()
    assert len(requests) == 6, [r["body"]["messages"][-1] for r in requests]
    messages = requests[-1]["body"]["messages"]
    calls = assistant_tool_calls(_turn(messages))
    assert len(calls) == 5 and len(tool_messages(_turn(messages))) == 5
    for message in calls:
        (call,) = message["tool_calls"]
        assert message.get("reasoning_content") == f"Let me think about {call['id']}.", message
    # Codex shows the reasoning summary the gateway streamed.
    assert "Let me think about call_mock_1." in run.finished.stderr, run.describe()


def _assert_own_reasoning(messages: list[dict[str, Any]]) -> None:
    """Every assistant tool-call message carries the exact reasoning of its first call."""
    for message in assistant_tool_calls(messages):
        first_call = message["tool_calls"][0]
        assert message.get("reasoning_content") == f"Let me think about {first_call['id']}.", (
            message)


def test_codex_apply_patch_loop_keeps_reasoning_on_custom_tool_calls(
        codex: Codex, aliased_reasoning_gateway: Server, reasoning_mock_log: MockLog) -> None:
    """gpt-5.5 (aliased to mock-think) gets apply_patch: the reasoning sealed next to a
    custom_tool_call must come back on that call's assistant message."""
    run = codex(aliased_reasoning_gateway, "loop 2: use the apply_patch tool")

    assert run.finished.returncode == 0, run.describe()
    assert (run.workdir / "hello.txt").read_text() == "hello\n"
    requests = reasoning_mock_log.chat_requests()
    assert len(requests) == 3, [r["body"]["messages"][-1] for r in requests]
    assert {r["body"]["model"] for r in requests} == {"mock-think"}
    turn = _turn(requests[-1]["body"]["messages"])
    calls = assistant_tool_calls(turn)
    assert [m["tool_calls"][0]["function"]["name"] for m in calls] == ["apply_patch"] * 2
    _assert_own_reasoning(turn)


def test_codex_resume_replays_the_earlier_turn_with_its_reasoning(
        codex: Codex, aliased_reasoning_gateway: Server, reasoning_mock_log: MockLog) -> None:
    """`codex exec resume --last` sends the stored session back (assistant message, tool
    call, reasoning items) from a new process; the stateless gateway must rebuild it all."""
    first = codex(aliased_reasoning_gateway, "loop 1: run the exec_command tool")
    assert first.finished.returncode == 0, first.describe()
    second = codex(aliased_reasoning_gateway, "now run the exec_command tool again",
                   resume=first)

    assert second.finished.returncode == 0, second.describe()
    assert "Tool result:" in second.stdout, second.describe()
    requests = reasoning_mock_log.chat_requests()
    assert len(requests) == 4, [r["body"]["messages"][-1] for r in requests]
    messages = requests[-1]["body"]["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert users[-2:] == ["loop 1: run the exec_command tool",
                          "now run the exec_command tool again"], users
    earlier = messages[messages.index({"role": "user", "content": users[-2]}) + 1:
                       messages.index({"role": "user", "content": users[-1]})]
    assert [m["role"] for m in earlier] == ["assistant", "tool", "assistant"], earlier
    assert earlier[-1]["content"].startswith("Tool result:"), earlier[-1]
    assert len(assistant_tool_calls(messages)) == 2
    _assert_own_reasoning(messages)
