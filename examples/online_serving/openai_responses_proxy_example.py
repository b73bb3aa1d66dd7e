"""Talk to responses-gateway with the official `openai` SDK: the Responses API over a Chat
Completions provider.

Start the gateway in one terminal. With no upstream configured, `scripts/serve` uses the
built-in fake provider, so this works offline and needs no key:

    bash scripts/serve                  # gateway on http://127.0.0.1:8000/v1

Then, in another terminal:

    .venv/bin/python examples/online_serving/openai_responses_proxy_example.py

The script needs the `openai` package. `bash scripts/test` installs it into `.venv`, and so
does `.venv/bin/pip install openai`.

The script shows four things: a non-streamed answer, a streamed answer read as raw events,
the SDK's `responses.stream()` helper with `get_final_response()`, and a function-tool round
trip. It exits with status 1 if any of them fails.

Settings come from the environment:

    RESPONSES_GATEWAY_URL   the gateway's base URL (default http://127.0.0.1:8000/v1)
    OPENAI_API_KEY          the key sent to the gateway (default "sk-local"). The gateway
                            checks it only when it was started with --api-key; it never
                            forwards it to the provider.
    MODEL                   the model name (default "mock-echo", which the built-in fake
                            provider answers with "You said: <your text>")

With a real provider behind the gateway, set MODEL to one of its models, for example
`MODEL=qwen-plus` for DashScope or `MODEL=deepseek-chat` for DeepSeek.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import openai
from openai import OpenAI

BASE_URL = os.environ.get("RESPONSES_GATEWAY_URL", "http://127.0.0.1:8000/v1")
API_KEY = os.environ.get("OPENAI_API_KEY", "sk-local")
MODEL = os.environ.get("MODEL", "mock-echo")

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city name"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


class ExampleFailed(Exception):
    """A step did not give the answer it should have."""


def non_streaming(client: OpenAI) -> None:
    response = client.responses.create(
        model=MODEL,
        instructions="You are a concise assistant.",
        input="Say hello in one short sentence.",
    )
    if response.status != "completed" or not response.output_text:
        raise ExampleFailed(f"non-streaming: status {response.status!r}, "
                            f"text {response.output_text!r}")
    print(f"[non-streaming] {response.id}: {response.output_text}")
    if response.usage is not None:
        print(f"[non-streaming] usage: {response.usage.input_tokens} in, "
              f"{response.usage.output_tokens} out")


def streaming_events(client: OpenAI) -> None:
    stream = client.responses.create(
        model=MODEL,
        input="Count from one to five.",
        stream=True,
    )
    print("[streaming] ", end="", flush=True)
    final = None
    for event in stream:
        if event.type == "response.output_text.delta":
            print(event.delta, end="", flush=True)
        elif event.type in ("response.completed", "response.incomplete", "response.failed"):
            final = event.response
    print()
    if final is None or final.status != "completed":
        ended = final.status if final is not None else "no terminal event"
        raise ExampleFailed(f"streaming: the stream ended with {ended}")
    print(f"[streaming] {final.id} completed")


def stream_helper(client: OpenAI) -> None:
    with client.responses.stream(
        model=MODEL,
        input="Name three colours.",
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                print(event.delta, end="", flush=True)
        print()
        final = stream.get_final_response()
    if not final.output_text:
        raise ExampleFailed("stream helper: the final response has no text")
    print(f"[stream helper] final response {final.id}: {final.output_text}")


def tool_round_trip(client: OpenAI) -> None:
    # Stateless round trip: the next request carries the whole conversation, so this works
    # with any --store setting. (With the store on, `previous_response_id=first.id` and only
    # the function_call_output would work as well.)
    conversation: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.responses.create(model=MODEL, input=conversation, tools=[WEATHER_TOOL])
    calls = [item for item in first.output if item.type == "function_call"]
    if not calls:
        print(f"[tools] the model answered without calling the tool: {first.output_text}")
        return
    conversation += first.output  # the function_call items (and any reasoning) go back as-is
    for call in calls:
        arguments = json.loads(call.arguments or "{}")
        print(f"[tools] model called {call.name}({arguments}) as {call.call_id}")
        result = {"city": arguments.get("city", "?"), "forecast": "sunny", "celsius": 21}
        conversation.append({"type": "function_call_output", "call_id": call.call_id,
                             "output": json.dumps(result)})
    second = client.responses.create(model=MODEL, input=conversation, tools=[WEATHER_TOOL])
    if not second.output_text:
        raise ExampleFailed("tools: no answer after the tool output")
    print(f"[tools] final answer: {second.output_text}")


def main() -> int:
    print(f"gateway {BASE_URL}, model {MODEL}")
    client = OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=120)
    try:
        non_streaming(client)
        streaming_events(client)
        stream_helper(client)
        tool_round_trip(client)
    except openai.APIConnectionError as exc:
        print(f"error: cannot reach the gateway at {BASE_URL} ({exc}). "
              "Is `bash scripts/serve` running?", file=sys.stderr)
        return 1
    except openai.APIStatusError as exc:
        print(f"error: the gateway answered HTTP {exc.status_code}: {exc.message}",
              file=sys.stderr)
        return 1
    except (ExampleFailed, openai.OpenAIError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print("all examples passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
