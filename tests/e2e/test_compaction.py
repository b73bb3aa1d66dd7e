"""POST /v1/responses/compact: a conversation condensed into one sealed compaction item."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest
from e2e_support import UPSTREAM_KEY, MockLog, free_port
from schema_check import validate_response

CONVERSATION = [
    {"role": "user", "content": "My name is Ada and I like graphs."},
    {"role": "assistant", "content": "Nice to meet you, Ada."},
    {"role": "user", "content": "Remember that."},
]


def _compact(client: openai.OpenAI) -> dict:
    raw = client.responses.with_raw_response.compact(model="mock-echo", input=CONVERSATION)
    return orjson.loads(raw.content)


def test_compact_returns_one_compaction_item(client: openai.OpenAI) -> None:
    compacted = client.responses.compact(model="mock-echo", input=CONVERSATION)
    assert compacted.object == "response.compaction"
    assert [item.type for item in compacted.output] == ["compaction"]
    assert compacted.output[0].encrypted_content.startswith("rgw1.")
    assert compacted.usage.total_tokens > 0


def test_compact_asks_the_model_for_a_summary(client: openai.OpenAI, mock_log: MockLog) -> None:
    _compact(client)
    messages = mock_log.last_body()["messages"]
    assert messages[:3] == [{"role": "user", "content": CONVERSATION[0]["content"]},
                            {"role": "assistant", "content": CONVERSATION[1]["content"]},
                            {"role": "user", "content": CONVERSATION[2]["content"]}]
    assert "summary" in messages[-1]["content"]


def test_compact_without_model_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/responses/compact", body={"input": CONVERSATION}, cast_to=object)
    assert caught.value.body["param"] == "model"


def test_continuing_from_a_compaction_restores_users_and_summary(client: openai.OpenAI,
                                                                 mock_log: MockLog) -> None:
    item = _compact(client)["output"][0]
    raw = client.responses.with_raw_response.create(
        model="mock-echo", input=[item, {"role": "user", "content": "What is my name?"}])
    validate_response(orjson.loads(raw.content))
    messages = mock_log.last_body()["messages"]
    contents = [m["content"] for m in messages]
    assert contents[0] == CONVERSATION[0]["content"]
    assert contents[1] == CONVERSATION[2]["content"]
    assert contents[2].startswith("Summary of the earlier conversation")
    assert contents[3] == "What is my name?"


def test_tampered_compaction_item_is_ignored(client: openai.OpenAI, mock_log: MockLog) -> None:
    item = _compact(client)["output"][0]
    blob = item["encrypted_content"]
    item["encrypted_content"] = blob[:-4] + ("AAAA" if not blob.endswith("AAAA") else "BBBB")
    client.responses.create(model="mock-echo",
                            input=[item, {"role": "user", "content": "What is my name?"}])
    assert [m["content"] for m in mock_log.last_body()["messages"]] == ["What is my name?"]


def test_compact_streams_from_a_provider_that_must_stream(
        mock_provider: Any, spawn_server: Any) -> None:
    port = free_port()
    gateway = spawn_server("gateway-dashscope-compact", [
        "--base-url", f"{mock_provider.url}/v1", "--upstream-api-key", UPSTREAM_KEY,
        "--provider", "dashscope", "--store", "memory", "--port", str(port)],
        "/health", port=port)
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-client", max_retries=0,
                           _strict_response_validation=True)
    log = MockLog(mock_provider)
    log.clear()
    compacted = client.responses.compact(model="mock-echo", input=CONVERSATION)
    assert [item.type for item in compacted.output] == ["compaction"]
    assert log.last_body()["stream"] is True
