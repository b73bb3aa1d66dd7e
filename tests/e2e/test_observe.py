"""Operating the gateway: /metrics after a mixed workload adds up, one access-log line per
request with its id, request ids kept and sent upstream, prompts never logged by default,
JSON logs, metrics protected and aggregated across workers."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import httpx2
import openai
import orjson
import pytest
from e2e_support import UPSTREAM_KEY, MockLog, Server, free_port, post_stream

KEY_A, KEY_B = "obs-key-alpha", "obs-key-beta"
SECRET_PROMPT = "the-marker-of-a-private-prompt"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    found = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        found.append((match.group(1), labels, float(match.group(3))))
    return found


def _total(samples: list[tuple[str, dict[str, str], float]], name: str, **match: str) -> float:
    return sum(value for metric, labels, value in samples
               if metric == name and all(labels.get(k) == v for k, v in match.items()))


def _gateway(spawn_server: Callable[..., Server], mock_provider: Server, name: str,
             *extra: str) -> Server:
    port = free_port()
    return spawn_server(name, ["--base-url", f"{mock_provider.url}/v1", "--store", "memory",
                               "--port", str(port), *extra], "/health", port=port,
                        env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})


@pytest.fixture(scope="module")
def observed(spawn_server: Callable[..., Server], mock_provider: Server) -> Server:
    return _gateway(spawn_server, mock_provider, "gateway-observed", "--api-key", KEY_A,
                    "--api-key", KEY_B)


def _client(server: Server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=30)


def _access_lines(server: Server, since: int) -> list[str]:
    lines = server.output().splitlines()[since:]
    return [line for line in lines if "responses_gateway.access:" in line]


def _wait_for_lines(server: Server, since: int, count: int) -> list[str]:
    deadline = time.monotonic() + 5
    while True:  # the line is written as the handler returns: allow the log a moment
        lines = _access_lines(server, since)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_metrics_after_a_mixed_workload_add_up(observed: Server, mock_log: MockLog) -> None:
    before = len(observed.output().splitlines())
    usage: list[dict[str, Any]] = []
    with _client(observed, KEY_A) as a, _client(observed, KEY_B) as b:
        for _ in range(3):
            usage.append(a.responses.create(model="mock-echo", input=SECRET_PROMPT)
                         .usage.model_dump())  # type: ignore[union-attr]
        for client in (a, b):
            with client.responses.stream(model="mock-think", input="think") as stream:
                usage.append(stream.get_final_response().usage.model_dump())  # type: ignore
        with pytest.raises(openai.RateLimitError):
            b.responses.create(model="mock-error-429", input="hi")
        with pytest.raises(openai.BadRequestError):
            b.responses.create(model="mock-echo", input=[{"type": "bogus"}])  # type: ignore
    with httpx2.Client(base_url=observed.url, timeout=10) as http:
        assert http.get("/v1/nowhere", headers={"Authorization": f"Bearer {KEY_A}"}
                        ).status_code == 404
        assert http.get("/metrics").status_code == 401  # client keys protect it
        scraped = http.get("/metrics", headers={"Authorization": f"Bearer {KEY_B}"})
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = _samples(scraped.text)
    requests = "responses_gateway_requests_total"
    route = "/v1/responses"
    assert _total(samples, requests, route=route) == 7
    assert _total(samples, requests, route=route, status="200") == 5
    assert _total(samples, requests, route=route, status="429") == 1
    assert _total(samples, requests, route=route, status="400") == 1
    assert _total(samples, requests, route="unmatched", status="404") == 1
    assert _total(samples, requests, route=route, status="200", model="mock-think") == 2
    names = {labels["key"] for metric, labels, _ in samples if metric == requests}
    named = names - {"-"}  # "-": the /metrics call that presented no key
    assert len(named) == 2 and all(re.fullmatch(r"key-[0-9a-f]{8}", n) for n in named), names
    assert KEY_A not in scraped.text and KEY_B not in scraped.text
    assert _total(samples, "responses_gateway_request_duration_seconds_count",
                  route=route) == 7
    assert _total(samples, "responses_gateway_time_to_first_token_seconds_count") == 2
    assert _total(samples, "responses_gateway_upstream_errors_total",
                  error_class="provider_4xx") == 1
    tokens = "responses_gateway_tokens_total"
    assert _total(samples, tokens, kind="input") == sum(u["input_tokens"] for u in usage)
    assert _total(samples, tokens, kind="output") == sum(u["output_tokens"] for u in usage)
    reasoning = sum(u["output_tokens_details"]["reasoning_tokens"] for u in usage)
    assert reasoning > 0 and _total(samples, tokens, kind="reasoning") == reasoning
    assert _total(samples, "responses_gateway_in_flight_requests") == 1  # the scrape itself
    assert _total(samples, "responses_gateway_in_flight_streams") == 0
    assert _total(samples, "responses_gateway_store_operations_total", operation="put",
                  backend="memory", outcome="ok") == 5
    assert _total(samples, "responses_gateway_store_operation_duration_seconds_count",
                  operation="put") == 5

    lines = _wait_for_lines(observed, before, 10)
    assert len(lines) == 10, "\n".join(lines)  # 8 API calls, the 404 and two /metrics
    ids = [re.search(r"request_id=(\S+)", line) for line in lines]
    assert all(ids) and len({m.group(1) for m in ids if m}) == 10
    for line in lines:
        for field in ("method=", "path=", "status=", "duration_ms=", "key=", "request_id="):
            assert field in line, line
    streamed = [line for line in lines if "model=mock-think" in line]
    assert len(streamed) == 2 and all("ttft_ms=" in line and "upstream=default" in line
                                      and "output_tokens=" in line for line in streamed)
    assert SECRET_PROMPT not in observed.output()


def test_request_id_is_kept_returned_and_sent_upstream(observed: Server,
                                                       mock_log: MockLog) -> None:
    with httpx2.Client(base_url=observed.url, timeout=10,
                       headers={"Authorization": f"Bearer {KEY_A}"}) as http:
        given = http.post("/v1/responses", content=orjson.dumps(
            {"model": "mock-echo", "input": "hi"}), headers={"X-Request-Id": "trace-123.ab"})
        assert given.headers["x-request-id"] == "trace-123.ab"
        assert mock_log.last_chat()["headers"]["x-request-id"] == "trace-123.ab"
        # A header that could break a log line or a header is replaced, not passed on.
        made = http.post("/v1/responses", content=orjson.dumps(
            {"model": "mock-echo", "input": "hi"}), headers={"X-Request-Id": "a b\tc"})
        assert re.fullmatch(r"req_[0-9a-f]{32}", made.headers["x-request-id"])
        # The provider gets a made id's hex digits, a UUID (some servers accept nothing else).
        upstream_id = mock_log.last_chat()["headers"]["x-request-id"]
        assert "req_" + upstream_id == made.headers["x-request-id"]
        assert uuid.UUID(upstream_id).version == 4
        streamed, _ = post_stream(http, {"model": "mock-echo", "input": "hi", "stream": True})
        assert re.fullmatch(r"req_[0-9a-f]{32}", streamed.headers["x-request-id"])
        error = http.get("/v1/responses/resp_missing")
        assert error.status_code == 404 and error.headers["x-request-id"].startswith("req_")


def test_json_logs_carry_fields_and_bodies_only_when_asked(
        spawn_server: Callable[..., Server], mock_provider: Server) -> None:
    plain = _gateway(spawn_server, mock_provider, "gateway-json-log", "--log-format", "json")
    debug = _gateway(spawn_server, mock_provider, "gateway-log-bodies", "--log-bodies")
    for server in (plain, debug):
        with _client(server, "any") as sdk:
            sdk.responses.create(model="mock-echo", input=SECRET_PROMPT)
    entries = [orjson.loads(line) for line in plain.output().splitlines() if line.startswith("{")]
    assert entries and all({"time", "level", "logger"} <= set(e) for e in entries)
    access = [e for e in entries if e["logger"] == "responses_gateway.access"]
    assert access and access[-1]["status"] == 200 and access[-1]["model"] == "mock-echo"
    assert access[-1]["input_tokens"] > 0 and access[-1]["request_id"].startswith("req_")
    assert SECRET_PROMPT not in plain.output()
    assert SECRET_PROMPT in debug.output()  # body and output (the mock echoes the prompt)


def test_metrics_token_and_switch(spawn_server: Callable[..., Server],
                                  mock_provider: Server) -> None:
    tokened = _gateway(spawn_server, mock_provider, "gateway-metrics-token", "--api-key", KEY_A,
                       "--metrics-token", "scrape-token")
    off = _gateway(spawn_server, mock_provider, "gateway-metrics-off", "--metrics", "off")
    with httpx2.Client(timeout=10) as http:
        url = tokened.url + "/metrics"
        assert http.get(url).status_code == 401
        assert http.get(url, headers={"Authorization": f"Bearer {KEY_A}"}).status_code == 401
        assert http.get(url, headers={"Authorization": "Bearer scrape-token"}).status_code == 200
        assert http.get(off.url + "/metrics").status_code == 404


def test_workers_report_the_whole_gateway(spawn_server: Callable[..., Server],
                                          mock_provider: Server, tmp_path: Path) -> None:
    server = _gateway(spawn_server, mock_provider, "gateway-metrics-workers", "--workers", "2",
                      "--store", f"sqlite:///{tmp_path / 'db.sqlite'}")
    with _client(server, "any") as sdk:
        for _ in range(12):
            sdk.responses.create(model="mock-echo", input="hi")
    with httpx2.Client(timeout=10) as http:
        for _ in range(4):  # whichever worker answers, the totals are the gateway's
            samples = _samples(http.get(server.url + "/metrics").text)
            assert _total(samples, "responses_gateway_requests_total",
                          route="/v1/responses", status="200") == 12
