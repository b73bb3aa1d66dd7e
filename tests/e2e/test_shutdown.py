"""End to end: SIGTERM (issue 12 item 7).

A gateway process gets SIGTERM while streams and background runs are going. It must stop
accepting at once, let them finish up to `--shutdown-timeout`, then end each stream with
`response.failed` (error code `server_shutting_down`) and store it, and exit within the
deadline plus 2 s. The stored responses are then read from a new process on the same store.
Also with `--workers 2`, whose supervisor forwards SIGTERM to its workers.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path
from typing import Any, Callable

import aiohttp
import httpx2
import orjson
import pytest
from e2e_support import CLIENT_KEY, TERMINAL_TYPES, Server, checked_stream, parse_sse
from schema_check import check_event_sequence, validate_event
from test_stateful import create, raw_http, retrieve, sdk, wait_for
from test_streams import RawStream

DEADLINE = 2.0


def _terminate(server: Server) -> float:
    """SIGTERM the process; seconds until it exited (fails past deadline + 2 s)."""
    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=DEADLINE + 2.0)
    except Exception:
        server.process.kill()
        pytest.fail(f"the gateway did not exit within {DEADLINE} + 2 s of SIGTERM; output:\n"
                    f"{server.output()[-3000:]}")
    return time.monotonic() - sent


def _refuses_connections(server: Server) -> bool:
    host, port = server.url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def _launch(launch_gateway: Callable[..., Server], data: Path, *extra: str) -> Server:
    return launch_gateway("shutdown", f"sqlite:///{data / 'responses.db'}", "--shutdown-timeout",
                          str(DEADLINE), *extra, data_dir=data)


def _finished(stream: RawStream) -> list[dict[str, Any]]:
    stream.read_to_end(timeout=DEADLINE + 2)
    body = stream.body
    frames = parse_sse(body)
    response = httpx2.Response(200, headers={"content-type": "text/event-stream"},
                               content=body)
    return checked_stream(response, frames)


def test_sigterm_ends_a_stalled_stream_as_failed_and_stores_it(
        launch_gateway: Callable[..., Server], tmp_path: Path) -> None:
    gateway = _launch(launch_gateway, tmp_path)
    stream = RawStream(gateway, {"model": "mock-stall", "input": "stop the world",
                                 "stream": True})
    stream.read_until(b"said: ", timeout=10)
    took = _terminate(gateway)
    assert DEADLINE <= took < DEADLINE + 2.0
    events = _finished(stream)  # sequence numbers, SDK types, schema, one terminal event
    error, failed = events[-2], events[-1]
    assert error["type"] == "error" and error["code"] == "server_shutting_down"
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["output"][0]["content"][0]["text"] == "You said: "
    again = _launch(launch_gateway, tmp_path)
    with sdk(again) as client:
        stored = retrieve(client, failed["response"]["id"])
    assert stored == failed["response"]
    again.stop()


def test_sigterm_lets_a_stream_finish_before_the_deadline(
        launch_gateway: Callable[..., Server], tmp_path: Path) -> None:
    gateway = _launch(launch_gateway, tmp_path, "--shutdown-timeout", "10")
    words = " ".join(f"w{n}" for n in range(12))  # ~2.6 s at 0.2 s per chunk
    stream = RawStream(gateway, {"model": "mock-slow", "input": words, "stream": True})
    stream.read_until(b"said: ", timeout=10)
    sent = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert _refuses_connections(gateway), "the gateway still accepts after SIGTERM"
    events = _finished(stream)
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "You said: " + words
    gateway.process.wait(timeout=5)
    assert time.monotonic() - sent < 5.0  # it left as soon as the stream was done


def test_sigterm_settles_a_background_run_and_its_follower(
        launch_gateway: Callable[..., Server], tmp_path: Path) -> None:
    gateway = _launch(launch_gateway, tmp_path)
    with sdk(gateway) as client:
        queued = create(client, model="mock-stall", input="in the background",
                        background=True)
        wait_for(client, queued["id"], lambda body: body["status"] == "in_progress")
    follower = RawStream(gateway, {}, path=f"/v1/responses/{queued['id']}?stream=true",
                         method="GET")
    follower.read_until(b"said: ", timeout=10)
    _terminate(gateway)
    followed = _finished(follower)
    assert followed[-2]["type"] == "error"
    assert followed[-2]["code"] == "server_shutting_down"
    assert followed[-1]["response"]["status"] == "failed"
    again = _launch(launch_gateway, tmp_path)
    with sdk(again) as client, raw_http(again) as http:
        stored = retrieve(client, queued["id"])
        assert stored["status"] == "failed"
        assert stored["output"][0]["content"][0]["text"] == "You said: "
        replayed = http.get(f"/v1/responses/{queued['id']}", params={"stream": "true"})
        events = checked_stream(replayed, parse_sse(replayed.content))
    assert events == followed
    again.stop()


def test_sigterm_with_workers_ends_stalled_streams_in_time(
        launch_gateway: Callable[..., Server], tmp_path: Path) -> None:
    gateway = _launch(launch_gateway, tmp_path, "--workers", "2")
    streams = [RawStream(gateway, {"model": "mock-stall", "input": f"worker {n}",
                                   "stream": True}) for n in range(4)]
    for stream in streams:
        stream.read_until(b"said: ", timeout=10)
    took = _terminate(gateway)
    assert took < DEADLINE + 2.0
    for stream in streams:
        events = _finished(stream)
        assert events[-1]["type"] == "response.failed"
        assert events[-2]["code"] == "server_shutting_down"


def test_sigterm_with_nothing_running_exits_at_once(
        launch_gateway: Callable[..., Server], tmp_path: Path) -> None:
    gateway = _launch(launch_gateway, tmp_path)
    with sdk(gateway) as client:
        create(client, model="mock-echo", input="quick")
    assert _terminate(gateway) < 1.5



def test_sigterm_ends_a_stalled_websocket_turn(launch_gateway: Callable[..., Server],
                                               tmp_path: Path) -> None:
    gateway = _launch(launch_gateway, tmp_path)

    async def turn() -> list[dict[str, Any]]:
        url = gateway.url.replace("http://", "ws://") + "/v1/responses"
        events: list[dict[str, Any]] = []
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(
                    url, headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as ws:
                await ws.send_str(orjson.dumps({"type": "response.create",
                                                "model": "mock-stall",
                                                "input": "over a socket"}).decode())
                while True:
                    message = await asyncio.wait_for(ws.receive(), DEADLINE + 5)
                    assert message.type is aiohttp.WSMsgType.TEXT, message
                    events.append(orjson.loads(message.data))
                    if events[-1]["type"] == "response.output_text.delta" and len(
                            [e for e in events if e["type"].endswith(".delta")]) == 2:
                        gateway.process.send_signal(signal.SIGTERM)
                    if events[-1]["type"] in TERMINAL_TYPES:
                        return events

    events = asyncio.run(turn())
    check_event_sequence(events)
    for event in events:
        validate_event(event)
    assert events[-2]["code"] == "server_shutting_down"
    assert events[-1]["type"] == "response.failed"
    gateway.process.wait(timeout=DEADLINE + 2)


def test_sigterm_answers_a_stalled_request_that_does_not_stream_with_503(
        launch_gateway: Callable[..., Server], tmp_path: Path) -> None:
    gateway = _launch(launch_gateway, tmp_path)
    request = RawStream(gateway, {"model": "mock-stall", "input": "no stream"})
    time.sleep(0.5)
    _terminate(gateway)
    request.read_to_end(timeout=1)
    head, _, body = request.raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), head
    error = orjson.loads(body)["error"]
    assert error["code"] == "server_shutting_down" and error["type"] == "server_error"


def test_a_follower_does_not_hold_up_the_shutdown_of_its_replica(
        launch_gateway: Callable[..., Server], tmp_path: Path) -> None:
    """The run lives on A; B only follows it. B's SIGTERM need not wait for the run: the
    follower ends (after a short grace) and its client can resume on A."""
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    a = launch_gateway("runner", store, data_dir=tmp_path / "a")
    b = launch_gateway("follower", store, "--shutdown-timeout", "10", data_dir=tmp_path / "b")
    with sdk(a) as client:
        queued = create(client, model="mock-stall", input="runs on A", background=True)
        wait_for(client, queued["id"], lambda body: body["status"] == "in_progress")
    follower = RawStream(b, {}, path=f"/v1/responses/{queued['id']}?stream=true",
                         method="GET")
    follower.read_until(b"said: ", timeout=10)
    sent = time.monotonic()
    b.process.send_signal(signal.SIGTERM)
    b.process.wait(timeout=8)
    assert time.monotonic() - sent < 4.0, "B waited for a run it does not own"
    follower.read_to_end(timeout=1)
    with sdk(a) as client:
        assert retrieve(client, queued["id"])["status"] == "in_progress"  # A still runs it
        client.responses.cancel(queued["id"])
    a.stop()
