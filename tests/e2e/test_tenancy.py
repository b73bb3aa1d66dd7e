"""End to end: tenants isolated by client key (issue 12 item 1), per-key store bounds and the
per-response size limit (item 2), and `item_reference` input items (issue 10 item 3).

Real processes: a mock provider that demands its reasoning back on tool turns (and checks it
is exactly what it produced), and gateways with two client keys on SQLite and Redis.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import aiohttp
import httpx2
import openai
import orjson
import pytest
from e2e_support import WEATHER_TOOL, MockLog, Server, free_port

KEY_A, KEY_B = "key-alice", "key-bob"
REDIS_URL = os.environ.get("RG_TEST_REDIS", "redis://127.0.0.1:6379") + "/14"
PROVIDER_KEY = "sk-tenancy-provider"


@dataclass
class Stack:
    gateway: Server
    log: MockLog

    def sdk(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=key, max_retries=0,
                             timeout=30, _strict_response_validation=True)

    def http(self, key: str) -> httpx2.Client:
        return httpx2.Client(base_url=self.gateway.url, timeout=30,
                             headers={"Authorization": f"Bearer {key}"})


@pytest.fixture(scope="module")
def provider(spawn_server: Callable[..., Server]) -> Server:
    port = free_port()
    return spawn_server("tenancy-mock", [
        "mock-provider", "--port", str(port), "--api-key", PROVIDER_KEY,
        "--quirk", "require-reasoning-content", "--quirk", "verify-reasoning-content",
    ], "/v1/models", port=port, ready_headers={"Authorization": f"Bearer {PROVIDER_KEY}"})


def _launch(spawn_server: Callable[..., Server], provider: Server, store: str, data: Path,
            *extra: str, keys: tuple[str, ...] = (KEY_A, KEY_B)) -> Stack:
    port = free_port()
    args = ["--base-url", f"{provider.url}/v1", "--provider", "deepseek", "--port", str(port),
            "--store", store, "--data-dir", str(data), "--run-lease", "2", *extra]
    for key in keys:
        args += ["--api-key", key]
    server = spawn_server(f"tenancy-gateway-{port}", args, "/health", port=port,
                          env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": PROVIDER_KEY})
    return Stack(server, MockLog(provider))


@pytest.fixture(scope="module", params=["sqlite", "redis", "postgres"])
def stack(request: pytest.FixtureRequest, spawn_server: Callable[..., Server],
          provider: Server, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    data = tmp_path_factory.mktemp(f"tenancy-{request.param}")
    if request.param == "redis":
        try:
            import redis

            client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
            client.flushdb()
            client.close()
        except Exception as exc:  # noqa: BLE001
            if os.environ.get("CI"):
                pytest.fail(f"no Redis at {REDIS_URL}: {exc}")
            pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
        store = REDIS_URL
    elif request.param == "postgres":
        store = request.getfixturevalue("postgres_db")()
    else:
        store = f"sqlite:///{data / 'responses.db'}"
    return _launch(spawn_server, provider, store, data)


def _tool_turn(client: openai.OpenAI, **params: Any) -> Any:
    return client.responses.create(model="mock-think", tools=[WEATHER_TOOL],
                                   input="Weather in Paris? Use the tool.", **params)


# -- 1. the wrong tenant gets 404 everywhere, and nothing goes upstream ------------------------


async def _ws_turn(url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url.replace("http", "ws") + "/v1/responses",
                                      headers={"Authorization": f"Bearer {key}"}) as ws:
            await ws.send_str(orjson.dumps({"type": "response.create", **body}).decode())
            message = await ws.receive(timeout=20)
            return dict(orjson.loads(message.data))


def test_another_key_gets_404_on_every_route(stack: Stack) -> None:
    with stack.sdk(KEY_A) as alice, stack.http(KEY_A) as alice_http, \
            stack.http(KEY_B) as bob:
        first = _tool_turn(alice)
        reasoning, call = first.output[0], first.output[1]
        running = alice.responses.create(model="mock-slow", input="long " * 200,
                                         background=True)
        conversation = alice.conversations.create(items=[{"role": "user",
                                                          "content": "remember me"}])
        conv_item = alice.conversations.items.list(conversation.id).data[0].id
        stack.log.clear()

        def refused(response: httpx2.Response, param: str | None = None) -> None:
            assert response.status_code == 404, (response.status_code, response.text)
            error = response.json()["error"]
            assert error["type"] == "invalid_request_error"
            if param is not None:
                assert error["param"] == param

        rid, cid = first.id, conversation.id
        refused(bob.get(f"/v1/responses/{rid}"), "response_id")
        refused(bob.get(f"/v1/responses/{running.id}", params={"stream": "true"}))
        refused(bob.get(f"/v1/responses/{rid}/input_items"))
        refused(bob.post(f"/v1/responses/{running.id}/cancel"))
        refused(bob.delete(f"/v1/responses/{rid}"))
        refused(bob.delete(f"/v1/responses/{running.id}"))
        base = {"model": "mock-echo", "input": "hi"}
        refused(bob.post("/v1/responses", json={**base, "previous_response_id": rid}),
                "previous_response_id")
        refused(bob.post("/v1/responses", json={**base, "previous_response_id": rid,
                                                 "stream": True}), "previous_response_id")
        refused(bob.post("/v1/responses", json={**base, "conversation": cid}), "conversation")
        refused(bob.post("/v1/responses", json={"model": "mock-echo", "input": [
            {"role": "user", "content": "hi"}, {"type": "item_reference", "id": call.id}]}),
            "input[1]")
        refused(bob.post("/v1/responses", json={"model": "mock-echo", "input": [
            {"type": "item_reference", "id": conv_item}]}), "input[0]")
        refused(bob.post("/v1/responses/compact", json={**base, "previous_response_id": rid}))
        refused(bob.get(f"/v1/conversations/{cid}"), "conversation_id")
        refused(bob.post(f"/v1/conversations/{cid}", json={"metadata": {"x": "y"}}))
        refused(bob.delete(f"/v1/conversations/{cid}"))
        refused(bob.get(f"/v1/conversations/{cid}/items"))
        refused(bob.post(f"/v1/conversations/{cid}/items",
                         json={"items": [{"role": "user", "content": "intruder"}]}))
        refused(bob.get(f"/v1/conversations/{cid}/items/{conv_item}"))
        refused(bob.delete(f"/v1/conversations/{cid}/items/{conv_item}"))
        for body in ({**base, "previous_response_id": rid}, {**base, "conversation": cid},
                     {"model": "mock-echo", "input": [{"type": "item_reference",
                                                       "id": reasoning.id}]}):
            event = asyncio.run(_ws_turn(stack.gateway.url, KEY_B, body))
            assert (event["type"], event["status"]) == ("error", 404), event
        assert stack.log.chat_requests() == []  # nothing was sent upstream for bob

        # Alice still has everything, untouched.
        assert alice_http.get(f"/v1/responses/{rid}").json()["id"] == rid
        assert alice.conversations.retrieve(cid).metadata == {}
        assert [i.id for i in alice.conversations.items.list(cid).data] == [conv_item]
        assert alice.responses.retrieve(running.id).status in ("queued", "in_progress",
                                                               "completed")
        alice.responses.cancel(running.id)
        follow = alice.responses.create(model="mock-echo", previous_response_id=rid,
                                        input=[{"type": "function_call_output",
                                                "call_id": call.call_id, "output": "sunny"}])
        assert follow.output_text == "Tool result: sunny"


def test_one_key_cannot_evict_anothers_responses(spawn_server: Callable[..., Server],
                                                  provider: Server, tmp_path: Path) -> None:
    stack = _launch(spawn_server, provider, f"sqlite:///{tmp_path / 'r.db'}", tmp_path,
                    "--store-max-entries", "2")
    with stack.sdk(KEY_A) as alice, stack.sdk(KEY_B) as bob:
        kept = alice.responses.create(model="mock-echo", input="mine")
        bobs = [bob.responses.create(model="mock-echo", input=f"b{n}").id for n in range(4)]
        assert alice.responses.retrieve(kept.id).output_text == "You said: mine"
        with pytest.raises(openai.NotFoundError):
            bob.responses.retrieve(bobs[0])  # bob's own oldest went
        assert bob.responses.retrieve(bobs[-1]).id == bobs[-1]
        # Conversations count too: bob's flood of them never touches alice's records.
        convs = [bob.conversations.create().id for _ in range(3)]
        assert alice.responses.retrieve(kept.id).id == kept.id
        with pytest.raises(openai.NotFoundError):
            bob.conversations.retrieve(convs[0])
        with pytest.raises(openai.NotFoundError):
            bob.responses.retrieve(bobs[-1])
        assert bob.conversations.retrieve(convs[-1]).id == convs[-1]


def test_an_item_id_another_key_reuses_leaves_your_references_working(stack: Stack) -> None:
    """Input item ids are the client's choice: bob sending one of alice's must not take her
    item out of the index (her `item_reference` to it was then a 404)."""
    item_id = f"msg_shared_{free_port()}"

    def turn(client: openai.OpenAI, text: str) -> None:
        client.responses.create(model="mock-echo", input=[
            {"type": "message", "role": "user", "content": text, "id": item_id}])

    def reference(client: openai.OpenAI) -> str:
        return client.responses.create(model="mock-echo", input=[
            {"type": "item_reference", "id": item_id}]).output_text

    with stack.sdk(KEY_A) as alice, stack.sdk(KEY_B) as bob:
        turn(alice, "alice's words")
        turn(bob, "bob's words")
        assert reference(alice) == "You said: alice's words"
        assert reference(bob) == "You said: bob's words"


def test_a_response_over_the_stored_size_limit_is_refused_before_upstream(
        spawn_server: Callable[..., Server], provider: Server, tmp_path: Path) -> None:
    stack = _launch(spawn_server, provider, f"sqlite:///{tmp_path / 'r.db'}", tmp_path,
                    "--store-max-response-bytes", "20000", keys=())
    stack.log.clear()
    with stack.http("any") as http:
        response = http.post("/v1/responses", json={"model": "mock-echo",
                                                     "input": "x" * 30_000})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "stored_response_too_large"
        assert "--store-max-response-bytes" in error["message"]
        assert stack.log.chat_requests() == []
        # Unstored, the same request is fine; stored and small too.
        assert http.post("/v1/responses", json={"model": "mock-echo", "store": False,
                                                "input": "x" * 30_000}).status_code == 200
        assert http.post("/v1/responses", json={"model": "mock-echo",
                                                "input": "small"}).status_code == 200
        # This turn's input is stored once, not again in the chat history: 12 KB fits.
        kept = http.post("/v1/responses", json={"model": "mock-json", "input": "y" * 12_000})
        assert kept.status_code == 200, kept.text
        stored = http.get(f"/v1/responses/{kept.json()['id']}/input_items")
        assert stored.status_code == 200, stored.text
        assert stored.json()["data"][0]["content"][0]["text"] == "y" * 12_000
        follow = http.post("/v1/responses", json={"model": "mock-echo", "input": "and?",
                                                  "previous_response_id": kept.json()["id"]})
        assert follow.status_code == 200, follow.text
        assert stack.log.last_body()["messages"][0]["content"] == "y" * 12_000


# -- 3. item_reference ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_item_references_replace_the_earlier_output(stack: Stack, stream: bool) -> None:
    """The AI SDK's second turn: the earlier reasoning and call by reference, the tool output
    in full. The provider gets its sealed reasoning back (it verifies it)."""
    with stack.sdk(KEY_A) as alice:
        first = _tool_turn(alice)
        reasoning, call = first.output[0], first.output[1]
        assert (reasoning.type, call.type) == ("reasoning", "function_call")
        stack.log.clear()
        params: dict[str, Any] = {"model": "mock-think", "tools": [WEATHER_TOOL], "input": [
            {"role": "user", "content": "Weather in Paris? Use the tool."},
            {"type": "item_reference", "id": reasoning.id},
            {"id": call.id},  # `type` is optional
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]}
        if stream:
            with alice.responses.stream(**params) as events:
                second = events.get_final_response()
        else:
            second = alice.responses.create(**params)
        assert second.output_text == "Tool result: sunny"
        messages = stack.log.last_body()["messages"]
        assistant = next(m for m in messages if m["role"] == "assistant")
        assert assistant["tool_calls"][0]["id"] == call.call_id
        assert assistant["reasoning_content"] == reasoning.content[0].text  # type: ignore[index]
        listed = alice.responses.input_items.list(second.id, order="asc").data
        assert [item.type for item in listed] == ["message", "reasoning", "function_call",
                                                  "function_call_output"]
        assert listed[2].id == call.id


def test_item_references_with_previous_response_id_and_conversations(stack: Stack) -> None:
    with stack.sdk(KEY_A) as alice:
        first = alice.responses.create(model="mock-echo", input="one")
        message = first.output[0]
        # Continuing a response and referencing its own output again changes nothing.
        second = alice.responses.create(model="mock-echo", previous_response_id=first.id,
                                        input=[{"type": "item_reference", "id": message.id},
                                               {"role": "user", "content": "two"}])
        assert second.output_text == "You said: two"
        conversation = alice.conversations.create(items=[{"role": "user",
                                                          "content": "from the conversation"}])
        turn = alice.responses.create(model="mock-echo", conversation=conversation.id,
                                      input="three")
        items = alice.conversations.items.list(conversation.id, order="asc").data
        stack.log.clear()
        # Items of a conversation (added directly or by a response) resolve by id anywhere.
        third = alice.responses.create(model="mock-echo", input=[
            {"type": "item_reference", "id": items[0].id},
            {"type": "item_reference", "id": turn.output[0].id},
            {"role": "user", "content": "four"}])
        assert third.output_text == "You said: four"
        sent = [(m["role"], m["content"]) for m in stack.log.last_body()["messages"]]
        assert sent == [("user", "from the conversation"), ("assistant", "You said: three"),
                        ("user", "four")]


def test_unknown_reference_is_404_naming_the_input_index(stack: Stack) -> None:
    stack.log.clear()
    with stack.http(KEY_A) as http:
        for store, hint in ((True, False), (False, True)):
            response = http.post("/v1/responses", json={"model": "mock-echo", "store": store,
                                                         "input": [
                {"role": "user", "content": "hi"},
                {"type": "item_reference", "id": "msg_nope"}]})
            assert response.status_code == 404
            error = response.json()["error"]
            assert error["param"] == "input[1]" and error["type"] == "invalid_request_error"
            assert error["message"].startswith("Item with id 'msg_nope' not found.")
            assert ("Items are not persisted when `store` is set to false" in error["message"]
                    ) is hint
        bad = http.post("/v1/responses", json={"model": "mock-echo", "input": [
            {"type": "item_reference", "id": 5}]})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "input[0].id"
    assert stack.log.chat_requests() == []


def test_references_need_the_store(spawn_server: Callable[..., Server], provider: Server,
                                   tmp_path: Path) -> None:
    stack = _launch(spawn_server, provider, "none", tmp_path, keys=())
    with stack.http("any") as http:
        response = http.post("/v1/responses", json={"model": "mock-echo", "input": [
            {"type": "item_reference", "id": "msg_1"}]})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "input[0]"
        assert response.json()["error"]["code"] == "store_disabled"


def test_websocket_references_resolve_store_false_turns_of_the_connection(
        stack: Stack) -> None:
    async def main() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(
                    stack.gateway.url.replace("http", "ws") + "/v1/responses",
                    headers={"Authorization": f"Bearer {KEY_A}"}) as ws:
                ends = []
                for body in ({"model": "mock-echo", "store": False, "input": "local"},
                             None):
                    if body is None:
                        body = {"model": "mock-echo", "store": False, "input": [
                            {"type": "item_reference", "id": ends[0]["response"]["output"][0]["id"]},
                            {"role": "user", "content": "next"}]}
                    await ws.send_str(orjson.dumps({"type": "response.create", **body}).decode())
                    while True:
                        event = orjson.loads((await ws.receive(timeout=20)).data)
                        if event["type"] in ("response.completed", "response.failed", "error"):
                            ends.append(event)
                            break
                return ends

    ends = asyncio.run(main())
    assert [e["type"] for e in ends] == ["response.completed", "response.completed"], ends
    sent = [(m["role"], m["content"]) for m in stack.log.last_body()["messages"]]
    assert sent[-2:] == [("assistant", "You said: local"), ("user", "next")]


def test_keys_from_a_keys_file_are_tenants_too(spawn_server: Callable[..., Server],
                                               provider: Server, tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[[keys]]\nname = "alice"\nkey = "{KEY_A}"\n\n'
                    f'[[keys]]\nname = "bob"\nkey = "{KEY_B}"\n')
    keys.chmod(0o600)
    stack = _launch(spawn_server, provider, f"sqlite:///{tmp_path / 'r.db'}", tmp_path,
                    "--keys-file", str(keys), keys=())
    with stack.sdk(KEY_A) as alice, stack.sdk(KEY_B) as bob:
        mine = alice.responses.create(model="mock-echo", input="mine")
        with pytest.raises(openai.NotFoundError):
            bob.responses.retrieve(mine.id)
        assert alice.responses.retrieve(mine.id).id == mine.id
