"""The gateway in front of a real model server: llama-cpp-python's OpenAI-compatible server.

The server is built from its sdist by scripts/llama-server.sh (once; the wheel is cached
outside the repository) and serves a tiny random-weight llama model that this module writes
with the `gguf` package (tests/e2e/tiny_gguf.py), so nothing is downloaded. The model's text
is noise: these tests assert structure. A whole reply, a stream (event order checked), a
forced tool call and structured output, where the server's grammar-constrained sampling is
what makes the arguments and the JSON valid.

Never silently skipped: when the server cannot be built, every test here errors with the
build log's last lines, so the summary says so. A developer can opt out with
RG_TEST_LLAMACPP=0, which skips with that reason in the `-ra` summary, except under CI=true,
where opting out is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import openai
import pytest

from e2e_support import (
    CLIENT_KEY,
    UPSTREAM_KEY,
    Server,
    checked_stream,
    free_port,
    post_stream,
)
from schema_check import validate_response
from tiny_gguf import write_tiny_llama

ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = ROOT / "scripts" / "llama-server.sh"
# A cold build of llama.cpp takes minutes on two cores (README "Development"); a cached one
# takes no time. The per-test limit covers the first test, which waits for the build.
BUILD_TIMEOUT = 2400
MODEL = "tiny-llama"

pytestmark = pytest.mark.timeout(BUILD_TIMEOUT + 120)

# Each schema's grammar is finite (enums, booleans, bounded integers and strings), so that a
# random model, sampling under it, always closes the JSON within the token limit.
CITY_TOOL = {
    "type": "function",
    "name": "pick_city",
    "description": "Choose a city and how many days to forecast.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "enum": ["Paris", "Tokyo", "Lima"]},
            "days": {"type": "integer"},
            "metric": {"type": "boolean"},
        },
        "required": ["city", "days", "metric"],
        "additionalProperties": False,
    },
    "strict": True,
}
VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "maxLength": 8},
        "verdict": {"type": "string", "enum": ["yes", "no", "maybe"]},
        "sure": {"type": "boolean"},
        "score": {"type": "integer"},
    },
    "required": ["label", "verdict", "sure", "score"],
    "additionalProperties": False,
}


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def llama_python() -> str:
    """The python of a venv with llama-cpp-python[server], built and cached on first use."""
    if os.environ.get("RG_TEST_LLAMACPP", "").strip().lower() in ("0", "false", "no", "off"):
        reason = "RG_TEST_LLAMACPP=0: the llama-cpp-python server tests were opted out"
        if _ci():
            pytest.fail(f"{reason}, but CI is set, where they must run", pytrace=False)
        pytest.skip(reason)
    try:
        result = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True,
                                timeout=BUILD_TIMEOUT, env={**os.environ, "PYTHON": sys.executable})
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"llama-cpp-python could not be built on this machine: "
                    f"{INSTALL_SCRIPT.name} took over {BUILD_TIMEOUT} s\n{exc.stderr!r}",
                    pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"llama-cpp-python could not be built on this machine "
                    f"({INSTALL_SCRIPT.name} exited {result.returncode}):\n"
                    f"{result.stderr[-4000:]}", pytrace=False)
    python = result.stdout.strip().splitlines()[-1]
    assert Path(python).is_file(), result.stdout
    return python


@pytest.fixture(scope="module")
def llama_server(llama_python: str, tmp_path_factory: pytest.TempPathFactory,
                 spawn_server: Callable[..., Server]) -> Server:
    model = write_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "tiny-llama.gguf")
    port = free_port()
    return spawn_server("llama-cpp-python", [
        "--model", str(model), "--model_alias", MODEL,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "1024", "--api_key", UPSTREAM_KEY,
    ], "/v1/models", port=port, command=[llama_python, "-m", "llama_cpp.server"],
        ready_headers={"Authorization": f"Bearer {UPSTREAM_KEY}"})


@pytest.fixture(scope="module")
def llama_gateway(llama_server: Server, spawn_server: Callable[..., Server]) -> Server:
    port = free_port()
    server = spawn_server("llama-gateway", [
        "--base-url", f"{llama_server.url}/v1", "--provider", "llamacpp",
        "--port", str(port),
    ], "/health", port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})
    server.upstream = f"{llama_server.url}/v1"
    return server


@pytest.fixture
def llama_client(llama_gateway: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=llama_gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                       timeout=120, _strict_response_validation=True) as sdk:
        yield sdk


@pytest.fixture
def llama_http(llama_gateway: Server) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=llama_gateway.url, timeout=120,
                       headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as raw:
        yield raw


def _chat_calls(server: Server) -> int:
    """How many chat completions the model server answered (its access log)."""
    return server.output().count("POST /v1/chat/completions HTTP/1.1\" 200")


def _only(items: list[Any], kind: str) -> Any:
    found = [item for item in items if item.type == kind]
    assert len(found) == 1, f"expected one {kind} item, got {[i.type for i in items]}"
    return found[0]


def test_whole_reply(llama_client: openai.OpenAI, llama_server: Server) -> None:
    before = _chat_calls(llama_server)
    response = llama_client.responses.create(model=MODEL, input="Say something.",
                                             max_output_tokens=256)
    assert _chat_calls(llama_server) == before + 1, "the model server did not answer"
    validate_response(response.to_dict())
    assert response.status == "completed", (response.status, response.incomplete_details)
    message = _only(response.output, "message")
    assert message.role == "assistant" and message.status == "completed"
    assert [part.type for part in message.content] == ["output_text"]
    assert response.output_text == message.content[0].text
    assert response.usage is not None
    assert response.usage.input_tokens > 0
    assert response.usage.total_tokens == (response.usage.input_tokens
                                           + response.usage.output_tokens)


def test_stream(llama_http: httpx2.Client, llama_server: Server) -> None:
    before = _chat_calls(llama_server)
    response, frames = post_stream(llama_http, {"model": MODEL, "input": "Tell me a story.",
                                                "max_output_tokens": 256, "stream": True})
    events = checked_stream(response, frames)
    assert _chat_calls(llama_server) == before + 1, "the model server did not answer"
    final = events[-1]
    assert final["type"] == "response.completed", final
    messages = [item for item in final["response"]["output"] if item["type"] == "message"]
    assert len(messages) == 1, final["response"]["output"]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert messages[0]["content"][0]["text"] == text
    done = [e for e in events if e["type"] == "response.output_text.done"]
    assert [e["text"] for e in done] == [text]


def test_stream_with_the_sdk(llama_client: openai.OpenAI) -> None:
    with llama_client.responses.stream(model=MODEL, input="Go on.",
                                       max_output_tokens=256) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text == "".join(deltas)


def _forced_call_request() -> dict[str, Any]:
    return {"model": MODEL, "input": "Which city should I visit?", "tools": [CITY_TOOL],
            "tool_choice": {"type": "function", "name": "pick_city"},
            "max_output_tokens": 200}


def _check_arguments(arguments: str) -> dict[str, Any]:
    value = json.loads(arguments)
    jsonschema.validate(value, CITY_TOOL["parameters"])
    assert isinstance(value, dict)
    return value


def test_forced_tool_call(llama_client: openai.OpenAI) -> None:
    response = llama_client.responses.create(**_forced_call_request())
    validate_response(response.to_dict())
    assert response.status == "completed", (response.status, response.incomplete_details)
    call = _only(response.output, "function_call")
    assert call.name == "pick_city" and call.call_id and call.status == "completed"
    _check_arguments(call.arguments)


def test_forced_tool_call_streamed(llama_http: httpx2.Client) -> None:
    response, frames = post_stream(llama_http, {**_forced_call_request(), "stream": True})
    events = checked_stream(response, frames)
    final = events[-1]
    assert final["type"] == "response.completed", final
    calls = [item for item in final["response"]["output"] if item["type"] == "function_call"]
    assert [call["name"] for call in calls] == ["pick_city"], final["response"]["output"]
    streamed = "".join(e["delta"] for e in events
                       if e["type"] == "response.function_call_arguments.delta")
    assert streamed == calls[0]["arguments"]
    _check_arguments(streamed)


def _verdict_request() -> dict[str, Any]:
    return {"model": MODEL, "input": "Is this a test?", "max_output_tokens": 200,
            "text": {"format": {"type": "json_schema", "name": "verdict",
                                "schema": VERDICT_SCHEMA, "strict": True}}}


def test_structured_output(llama_client: openai.OpenAI) -> None:
    response = llama_client.responses.create(**_verdict_request())
    validate_response(response.to_dict())
    assert response.status == "completed", (response.status, response.incomplete_details)
    _only(response.output, "message")
    jsonschema.validate(json.loads(response.output_text), VERDICT_SCHEMA)


def test_structured_output_streamed(llama_http: httpx2.Client) -> None:
    response, frames = post_stream(llama_http, {**_verdict_request(), "stream": True})
    events = checked_stream(response, frames)
    assert events[-1]["type"] == "response.completed", events[-1]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    jsonschema.validate(json.loads(text), VERDICT_SCHEMA)
