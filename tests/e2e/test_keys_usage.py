"""Named client keys against a real gateway: names in logs and metrics (never the key),
model limits, daily token budgets, GET /v1/usage for the admin key, and SIGHUP reloads."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

import httpx2
import openai
import pytest
from e2e_support import UPSTREAM_KEY, MockLog, Server, free_port

ADMIN = "admin-secret-key"
ALICE, BOB, CAROL = "sk-alice-secret", "sk-bob-secret", "sk-carol-secret"


def _keys_file(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope="module")
def keys_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _keys_file(tmp_path_factory.mktemp("keys") / "keys.toml", f"""
[[keys]]
name = "bob"
key = "{BOB}"
models = ["mock-echo", "mock-think"]

[[keys]]
name = "carol"
key = "{CAROL}"
daily_tokens = 30
""")


@pytest.fixture(scope="module")
def keyed(spawn_server: Callable[..., Server], mock_provider: Server, keys_path: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Server:
    port = free_port()
    store = tmp_path_factory.mktemp("keyed-store") / "db.sqlite"
    return spawn_server("gateway-keyed", [
        "--base-url", f"{mock_provider.url}/v1", "--port", str(port), "--store",
        f"sqlite:///{store}", "--api-key", f"alice={ALICE}", "--keys-file", str(keys_path),
    ], "/health", port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY,
                                  "RESPONSES_GATEWAY_ADMIN_KEY": ADMIN})


def _sdk(server: Server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=30)


def _usage(server: Server, **params: Any) -> dict[str, Any]:
    response = httpx2.get(server.url + "/v1/usage", params=params, timeout=10,
                          headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_names_not_keys_in_logs_metrics_and_usage(keyed: Server) -> None:
    with _sdk(keyed, ALICE) as alice, _sdk(keyed, BOB) as bob:
        made = alice.responses.create(model="mock-echo", input="hello")
        bob.responses.create(model="mock-think", input="think")
    metrics = httpx2.get(keyed.url + "/metrics", timeout=10,
                         headers={"Authorization": f"Bearer {ALICE}"}).text
    assert 'key="alice"' in metrics and 'key="bob"' in metrics
    rows = {(r["key"], r["model"]): r for r in _usage(keyed)["data"]}
    alice_row = rows[("alice", "mock-echo")]
    assert alice_row["requests"] >= 1
    assert alice_row["input_tokens"] >= made.usage.input_tokens  # type: ignore[union-attr]
    assert rows[("bob", "mock-think")]["reasoning_tokens"] > 0
    log = keyed.output()
    assert "key=alice" in log and "key=bob" in log
    for secret in (ALICE, BOB, CAROL):
        assert secret not in log and secret not in metrics


def test_model_limits_refuse_before_the_upstream(keyed: Server, mock_log: MockLog) -> None:
    with _sdk(keyed, BOB) as bob:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            bob.responses.create(model="mock-json", input="hi")
        assert caught.value.status_code == 403
        assert caught.value.code == "model_not_allowed"
        assert caught.value.body["param"] == "model"  # type: ignore[index]
        assert mock_log.chat_requests() == []
        listed = {model.id for model in bob.models.list()}
    assert listed and listed <= {"mock-echo", "mock-think"}


def test_daily_budget_stops_the_key_until_midnight(keyed: Server, mock_log: MockLog) -> None:
    with _sdk(keyed, CAROL) as carol, _sdk(keyed, ALICE) as alice:
        spent = 0
        for _ in range(10):  # each answer costs some tokens; the budget is 30
            try:
                answer = carol.responses.create(model="mock-echo", input="spend tokens please")
            except openai.RateLimitError as exc:
                assert exc.code == "daily_token_budget_exceeded"
                retry_after = int(exc.response.headers["retry-after"])
                assert 0 < retry_after <= 86400
                break
            spent += answer.usage.input_tokens + answer.usage.output_tokens  # type: ignore
            time.sleep(0.1)
        else:
            pytest.fail("the budget never ran out")
        assert spent >= 30
        sent = len(mock_log.chat_requests())
        with pytest.raises(openai.RateLimitError):
            carol.responses.create(model="mock-echo", input="again")
        assert len(mock_log.chat_requests()) == sent  # refused before the upstream
        alice.responses.create(model="mock-echo", input="others are not affected")


def test_usage_report_needs_the_admin_key_and_groups(keyed: Server) -> None:
    for headers in ({}, {"Authorization": f"Bearer {ALICE}"},
                    {"Authorization": "Bearer wrong"}):
        assert httpx2.get(keyed.url + "/v1/usage", headers=headers,
                          timeout=10).status_code == 401
    with _sdk(keyed, ALICE) as alice:
        alice.responses.create(model="mock-echo", input="hourly")
    hourly = _usage(keyed, group_by="hour", key="alice")
    assert hourly["object"] == "usage" and hourly["data"]
    assert all(row["key"] == "alice" and row["start_time"] % 3600 == 0
               for row in hourly["data"])
    bad = httpx2.get(keyed.url + "/v1/usage", params={"group_by": "week"}, timeout=10,
                     headers={"Authorization": f"Bearer {ADMIN}"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"



@pytest.mark.parametrize("query, param", [
    ({"start_time": "inf"}, "start_time"), ({"start_time": "nan"}, "start_time"),
    ({"end_time": "NaN"}, "end_time"), ({"start_time": "soon"}, "start_time"),
    ({"start_time": "10", "end_time": "5"}, "start_time"),  # within one hour, backwards
])
def test_usage_times_that_are_not_a_range_are_400(keyed: Server, query: dict[str, str],
                                                  param: str) -> None:
    """inf and nan passed float() and then broke the hour arithmetic: a 500."""
    bad = httpx2.get(keyed.url + "/v1/usage", params=query, timeout=10,
                     headers={"Authorization": f"Bearer {ADMIN}"})
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["param"] == param


def test_sighup_reloads_the_keys_file(keyed: Server, keys_path: Path) -> None:
    original = keys_path.read_text()
    try:
        _keys_file(keys_path, '[[keys]]\nname = "dave"\nkey = "sk-dave-secret"\n')
        keyed.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "keys reloaded" not in keyed.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        with _sdk(keyed, "sk-dave-secret") as dave:
            dave.responses.create(model="mock-echo", input="new key")
        with _sdk(keyed, BOB) as bob, pytest.raises(openai.AuthenticationError):
            bob.responses.create(model="mock-echo", input="removed key")
        with _sdk(keyed, ALICE) as alice:  # flag keys stay
            alice.responses.create(model="mock-echo", input="still here")
        _keys_file(keys_path, '[[keys]]\nname = "broken"\n')  # a bad file keeps the keys
        keyed.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "keys not reloaded" not in keyed.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "keys not reloaded" in keyed.output()
        with _sdk(keyed, "sk-dave-secret") as dave:
            dave.responses.create(model="mock-echo", input="still valid")
    finally:
        _keys_file(keys_path, original)
        keyed.process.send_signal(signal.SIGHUP)


def test_bad_keys_file_stops_the_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "keys.toml"
    path.write_text('[[keys]]\nname = "a"\nkey = "x"\n')
    os.chmod(path, 0o644)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RESPONSES_GATEWAY_")}
    result = subprocess.run([sys.executable, "-m", "responses_gateway", "--mock-upstream",
                             "--keys-file", str(path), "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=30, env=environ)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--keys-file (RESPONSES_GATEWAY_KEYS_FILE): keys file" in result.stderr
    assert "chmod 600" in result.stderr
