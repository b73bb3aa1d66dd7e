"""translate/to_chat.py: a Responses create request -> the chat.completions body.

Golden cases: real client captures (tests/fixtures/clients/) go in; the chat bodies in
tests/fixtures/golden/ must come out exactly (regenerate with golden/regen.py, read the diff).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from responses_gateway.protocol.errors import InvalidRequest
from responses_gateway.protocol.requests import parse_create_request
from responses_gateway.providers import PROFILES
from responses_gateway.translate.to_chat import ChatRequest, to_chat_request

FIXTURES = Path(__file__).parent.parent / "fixtures"
CAPTURES = sorted((FIXTURES / "clients").glob("*.json"))
GOLDEN = sorted((FIXTURES / "golden").glob("*.json"))
# Fields that describe the gateway's own behaviour or exist only in the Responses API: a chat
# provider must never see them (most reject unknown fields).
RESPONSES_ONLY = ("store", "include", "metadata", "client_metadata", "truncation",
                  "service_tier", "reasoning", "background", "previous_response_id", "input",
                  "instructions", "text", "max_output_tokens", "conversation", "prompt",
                  "max_tool_calls", "top_logprobs", "safety_identifier")
PNG = "data:image/png;base64,iVBORw0KGgo="


def capture_body(name: str) -> dict[str, Any]:
    capture = orjson.loads((FIXTURES / "clients" / f"{name}.json").read_bytes())
    return capture["body"]  # type: ignore[no-any-return]


def translate(body: dict[str, Any], profile: str = "generic", **kwargs: Any) -> ChatRequest:
    return to_chat_request(parse_create_request(orjson.dumps(body)), PROFILES[profile], **kwargs)


def chat(profile: str = "generic", **fields: Any) -> dict[str, Any]:
    return translate({"model": "m", "input": "hi", **fields}, profile).body


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_every_capture_translates_without_responses_only_fields(capture: Path) -> None:
    body = translate(orjson.loads(capture.read_bytes())["body"]).body
    assert [key for key in RESPONSES_ONLY if key in body] == []
    assert "prompt_cache_key" not in body  # generic providers do not know it
    assert body["messages"]


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_every_capture_yields_well_paired_tool_messages(capture: Path) -> None:
    messages = translate(orjson.loads(capture.read_bytes())["body"]).messages
    for i, message in enumerate(messages):
        calls = [c["id"] for c in message.get("tool_calls") or ()]
        if calls:
            answers = [m.get("tool_call_id") for m in messages[i + 1:i + 1 + len(calls)]]
            assert sorted(answers) == sorted(calls), f"message {i}"
        if message["role"] == "tool":
            assert messages[i - 1]["role"] in ("assistant", "tool"), f"message {i}"


def test_golden_set_covers_the_representative_captures() -> None:
    stems = {path.stem for path in GOLDEN}
    for name in ("openai-python-create.generic", "agents-sdk-run-turn2-tool-output.generic",
                 "codex-turn2-tool-output.generic", "codex-turn2-custom-tool-output.generic",
                 "agents-sdk-structured-output.generic", "openai-node-parse.deepseek"):
        assert name in stems


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.stem)
def test_capture_translates_to_its_golden_chat_body(golden: Path) -> None:
    capture, profile = golden.stem.rsplit(".", 1)
    expected = orjson.loads(golden.read_bytes())
    assert translate(capture_body(capture), profile).body == expected


def test_previous_response_id_alone_sends_the_orphan_output_as_user_text() -> None:
    # Without stored history the function_call_output has no call to answer: it is carried
    # as user text (a valid chat request), not as a dangling tool message.
    body = capture_body("agents-sdk-previous-response-id")
    messages = translate(body).messages
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user",
         "content": f"[output of tool call {body['input'][0]['call_id']}]\nSunny in Paris"}]


def test_instructions_become_the_first_system_message() -> None:
    messages = translate({"model": "m", "instructions": "Be brief.", "input": "hi"}).messages
    assert messages[0] == {"role": "system", "content": "Be brief."}


def test_instructions_are_a_developer_message_for_openai() -> None:
    body = {"model": "m", "instructions": "Be brief.", "input": "hi"}
    assert translate(body, "openai").messages[0] == {"role": "developer", "content": "Be brief."}


def test_instructions_come_before_stored_history() -> None:
    history = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    chat_request = translate({"model": "m", "instructions": "I", "input": "next"},
                             history=history)
    assert [m["content"] for m in chat_request.messages] == ["I", "q", "a", "next"]
    assert chat_request.carried_messages == chat_request.messages[1:]


@pytest.mark.parametrize(("profile", "role"), [("generic", "system"), ("openai", "developer")])
def test_developer_message_role_per_profile(profile: str, role: str) -> None:
    messages = chat(profile, input=[{"role": "developer", "content": "rules"}])["messages"]
    assert messages == [{"role": role, "content": "rules"}]


def test_input_image_detail_original_becomes_high_and_data_url_is_kept() -> None:
    content = [{"type": "input_text", "text": "what is this?"},
               {"type": "input_image", "image_url": PNG, "detail": "original"}]
    messages = chat(input=[{"role": "user", "content": content}])["messages"]
    assert messages[0]["content"][1] == {"type": "image_url",
                                         "image_url": {"url": PNG, "detail": "high"}}


def test_input_file_data_becomes_a_chat_file_part() -> None:
    part = {"type": "input_file", "filename": "a.pdf",
            "file_data": "data:application/pdf;base64,JV"}
    messages = chat(input=[{"role": "user", "content": [part]}])["messages"]
    assert messages[0]["content"] == [{"type": "file", "file": {
        "file_data": "data:application/pdf;base64,JV", "filename": "a.pdf"}}]


@pytest.mark.parametrize(("profile", "field"),
                         [("generic", "max_tokens"), ("openai", "max_completion_tokens")])
def test_max_output_tokens_goes_to_the_profiles_field(profile: str, field: str) -> None:
    body = chat(profile, max_output_tokens=200)
    assert body[field] == 200
    assert "max_output_tokens" not in body


@pytest.mark.parametrize(("field", "value"), [
    ("temperature", 0.2), ("top_p", 0.9), ("presence_penalty", 0.5),
    ("frequency_penalty", -0.5), ("stop", ["END"]), ("stop", "STOP")])
def test_sampling_fields_pass_through(field: str, value: Any) -> None:
    assert chat(**{field: value})[field] == value


def test_stream_asks_for_usage() -> None:
    body = chat(stream=True)
    assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})


def test_non_stream_sends_no_stream_fields() -> None:
    body = chat(stream=False)
    assert "stream" not in body and "stream_options" not in body


def test_json_schema_format_becomes_nested_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = chat(text={"format": {"type": "json_schema", "name": "out", "schema": schema,
                                 "strict": True, "description": "An answer."}})
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "out", "schema": schema, "strict": True, "description": "An answer."}}


def test_json_object_format() -> None:
    assert chat(text={"format": {"type": "json_object"}})["response_format"] == {
        "type": "json_object"}


def test_text_format_sends_no_response_format() -> None:
    assert "response_format" not in chat(text={"format": {"type": "text"}})


def test_dollar_schema_stripped_where_the_profile_says() -> None:
    body = capture_body("openai-node-parse")
    assert "$schema" in body["text"]["format"]["schema"]
    dashscope = translate(body, "dashscope").body["response_format"]["json_schema"]["schema"]
    generic = translate(body, "generic").body["response_format"]["json_schema"]["schema"]
    assert "$schema" not in dashscope
    assert generic == body["text"]["format"]["schema"]


def test_json_schema_becomes_json_mode_plus_instruction_for_deepseek() -> None:
    body = capture_body("openai-node-parse")
    sent = translate(body, "deepseek").body
    assert sent["response_format"] == {"type": "json_object"}
    instruction = sent["messages"][0]
    assert instruction["role"] == "system" and "JSON schema" in instruction["content"]
    assert '"$schema"' not in instruction["content"]
    assert '"properties"' in instruction["content"]


def test_json_schema_goes_inside_json_mode_for_llamacpp() -> None:
    # llama-cpp-python's server rejects the json_schema type; both llama.cpp servers
    # constrain JSON mode to a schema given with it.
    body = capture_body("openai-node-parse")
    sent = translate(body, "llamacpp").body
    assert sent["response_format"] == {"type": "json_object",
                                       "schema": body["text"]["format"]["schema"]}
    assert sent["messages"][0]["role"] != "system" or "JSON schema" not in str(
        sent["messages"][0]["content"])


def test_json_schema_without_name_is_rejected() -> None:
    with pytest.raises(InvalidRequest) as info:
        chat(text={"format": {"type": "json_schema", "schema": {"type": "object"}}})
    assert info.value.param == "text.format.name"


def test_unknown_text_format_is_rejected() -> None:
    with pytest.raises(InvalidRequest) as info:
        chat(text={"format": {"type": "yaml"}})
    assert info.value.param == "text.format.type"


@pytest.mark.parametrize(("fields", "user"), [
    ({"user": "u1"}, "u1"), ({"safety_identifier": "s1"}, "s1"),
    ({"user": "u1", "safety_identifier": "s1"}, "s1")])
def test_user_or_safety_identifier_becomes_user(fields: dict[str, Any], user: str) -> None:
    body = chat(**fields)
    assert body["user"] == user
    assert "safety_identifier" not in body


@pytest.mark.parametrize(("profile", "sent"), [("openai", True), ("generic", False),
                                               ("deepseek", False), ("vllm", False)])
def test_prompt_cache_key_only_for_openai(profile: str, sent: bool) -> None:
    assert ("prompt_cache_key" in chat(profile, prompt_cache_key="k")) is sent


@pytest.mark.parametrize(("profile", "sent"), [("openai", True), ("vllm", True),
                                               ("generic", False)])
def test_reasoning_effort_only_where_understood(profile: str, sent: bool) -> None:
    body = chat(profile, reasoning={"effort": "low", "summary": "auto"})
    assert body.get("reasoning_effort") == ("low" if sent else None)
    assert "reasoning" not in body


def test_verbosity_only_for_openai() -> None:
    assert chat("openai", text={"verbosity": "low"})["verbosity"] == "low"
    assert "verbosity" not in chat("generic", text={"verbosity": "low"})


def test_empty_tools_with_tool_choice_forward_neither() -> None:
    # Codex compaction shape (real-clients.md §4.9): tools [] with tool_choice "auto".
    body = chat(tools=[], tool_choice="auto", parallel_tool_calls=True)
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(body)


def test_only_hosted_tools_forward_no_tools() -> None:
    chat_request = translate({"model": "m", "input": "hi", "tool_choice": "auto",
                              "tools": [{"type": "web_search"}]})
    assert "tools" not in chat_request.body and "tool_choice" not in chat_request.body
    assert chat_request.dropped_tools == ("web_search",)


def test_tools_choice_and_parallel_calls_forwarded_with_tools() -> None:
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    body = chat(tools=[tool], tool_choice="required", parallel_tool_calls=False)
    assert body["tools"][0]["function"]["name"] == "f"
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", False)


def test_upstream_model_replaces_the_model_name() -> None:
    assert translate({"model": "alias", "input": "hi"}, upstream_model="qwen3-8b").body[
        "model"] == "qwen3-8b"


def test_nothing_to_send_is_rejected_naming_input() -> None:
    with pytest.raises(InvalidRequest) as info:
        chat(input=[])
    assert info.value.param == "input"


@pytest.mark.parametrize("profile", ["generic", "deepseek"])
def test_stored_history_is_not_modified(profile: str) -> None:
    # Regression: reasoning_content was popped (generic) or a placeholder set (deepseek) on
    # the caller's history dicts in place.
    history = [{"role": "user", "content": "q"},
               {"role": "assistant", "content": "a", "reasoning_content": "thought"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
               {"role": "tool", "tool_call_id": "c", "content": "ok"}]
    before = orjson.dumps(history)
    translate({"model": "m", "input": "next"}, profile, history=history)
    assert orjson.dumps(history) == before


def test_reasoning_content_is_dropped_for_providers_that_do_not_replay_it() -> None:
    history = [{"role": "user", "content": "q"},
               {"role": "assistant", "content": "a", "reasoning_content": "thought"}]
    messages = translate({"model": "m", "input": "next"}, history=history).messages
    assert messages[1] == {"role": "assistant", "content": "a"}


def test_deepseek_schema_instruction_is_not_carried_as_history() -> None:
    body = {**capture_body("openai-node-parse"), "instructions": "Be brief."}
    request = translate(body, "deepseek")
    assert [m["role"] for m in request.messages[:2]] == ["system", "system"]
    assert request.carried_messages == request.messages[2:]
    assert all("JSON schema" not in str(m.get("content")) for m in request.carried_messages)
