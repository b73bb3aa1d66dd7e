"""End to end: several providers behind one gateway (`--config FILE`), and config errors.

Issue #4 item 5: a TOML file lists two upstreams, two mock providers on their own ports with
their own keys (taken from environment variables) and different profiles. The request's
`model` picks the upstream (glob, exact name or alias); `GET /v1/models` lists the union.
A bad config file stops the gateway at start with a message that names the problem.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx2
import openai
import pytest
from e2e_support import (
    CLIENT_KEY,
    START_TIMEOUT,
    MockLog,
    Server,
    checked_stream,
    free_port,
    post_stream,
)

ALPHA_KEY, BETA_KEY = "sk-alpha-upstream", "az-beta-upstream"
BETA_VERSION = "2024-06-01"  # overrides the azure profile's default, from the file


def config_text(alpha_url: str, beta_url: str) -> str:
    return f"""
[[upstreams]]
name = "alpha"
base_url = "{alpha_url}"
api_key_env = "RGW_TEST_ALPHA_KEY"
profile = "deepseek"
models = ["alpha-*"]

[[upstreams]]
name = "beta"
base_url = "{beta_url}"
api_key_env = "RGW_TEST_BETA_KEY"
profile = "azure"
api_version = "{BETA_VERSION}"
models = ["beta-1"]
aliases = {{ "fast" = "beta-1" }}
"""


class Routed:
    def __init__(self, alpha: Server, beta: Server, gateway: Server) -> None:
        self.alpha, self.beta, self.gateway = alpha, beta, gateway
        self.alpha_log, self.beta_log = MockLog(alpha), MockLog(beta)


@pytest.fixture(scope="module")
def routed(spawn_server: Callable[..., Server],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Routed]:
    """Mock A (DeepSeek-like, Bearer key) lists alpha-x, alpha-y; mock B (Azure-like, api-key
    header + api-version) lists beta-1, beta-2; one gateway routes between them."""
    alpha_port, beta_port, port = free_port(), free_port(), free_port()
    alpha = spawn_server("routing-alpha", [
        "mock-provider", "--port", str(alpha_port), "--api-key", ALPHA_KEY,
        "--quirk", "string-content", "--quirk", "no-developer",
        "--model", "alpha-x", "--model", "alpha-y",
    ], "/v1/models", port=alpha_port, ready_headers={"Authorization": f"Bearer {ALPHA_KEY}"})
    beta = spawn_server("routing-beta", [
        "mock-provider", "--port", str(beta_port), "--api-key", BETA_KEY, "--quirk", "azure",
        "--quirk", "max-completion-tokens", "--model", "beta-1", "--model", "beta-2",
    ], f"/v1/models?api-version={BETA_VERSION}", port=beta_port,
        ready_headers={"api-key": BETA_KEY})
    directory = tmp_path_factory.mktemp("routing")
    config = directory / "upstreams.toml"
    config.write_text(config_text(f"{alpha.url}/v1", f"{beta.url}/v1"))
    gateway = spawn_server("routing-gateway", [
        "--config", str(config), "--port", str(port), "--store", "memory",
        "--data-dir", str(directory / "data"),
    ], "/health", port=port, env={"RGW_TEST_ALPHA_KEY": ALPHA_KEY,
                                  "RGW_TEST_BETA_KEY": BETA_KEY})
    yield Routed(alpha, beta, gateway)
    gateway.stop()
    alpha.stop()
    beta.stop()


@pytest.fixture
def setup(routed: Routed) -> Routed:
    routed.alpha_log.clear()
    routed.beta_log.clear()
    return routed


@pytest.fixture
def client(routed: Routed) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=routed.gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                       timeout=30, _strict_response_validation=True) as sdk:
        yield sdk


def assert_alpha_auth(entry: dict[str, Any]) -> None:
    assert entry["headers"].get("authorization") == f"Bearer {ALPHA_KEY}"
    assert "api-key" not in entry["headers"] and entry["query"] == {}


def assert_beta_auth(entry: dict[str, Any]) -> None:
    assert entry["headers"].get("api-key") == BETA_KEY
    assert "authorization" not in entry["headers"]
    assert entry["query"] == {"api-version": BETA_VERSION}


# -- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["alpha-x", "alpha-anything"])
def test_glob_routes_to_alpha_only(setup: Routed, client: openai.OpenAI, model: str) -> None:
    response = client.responses.create(model=model, input="hello")
    assert response.output_text == "You said: hello"
    (entry,) = setup.alpha_log.requests()
    assert entry["path"] == "/v1/chat/completions" and entry["body"]["model"] == model
    assert_alpha_auth(entry)
    assert setup.beta_log.requests() == []


@pytest.mark.parametrize("model", ["beta-1", "fast"])
def test_exact_name_and_alias_route_to_beta(setup: Routed, client: openai.OpenAI,
                                            model: str) -> None:
    response = client.responses.create(model=model, input="hello", max_output_tokens=32)
    assert response.output_text == "You said: hello"
    (entry,) = setup.beta_log.requests()
    assert entry["path"] == "/v1/chat/completions"
    assert entry["body"]["model"] == "beta-1"  # an alias is resolved before sending
    assert entry["body"]["max_completion_tokens"] == 32  # beta's (azure) profile applies
    assert_beta_auth(entry)
    assert setup.alpha_log.requests() == []


def test_alias_streams_to_beta(setup: Routed) -> None:
    with httpx2.Client(base_url=setup.gateway.url, timeout=30,
                       headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as http:
        response, frames = post_stream(http, {"model": "fast", "input": "hi", "stream": True})
    events = checked_stream(response, frames)
    assert events[-1]["type"] == "response.completed"
    (entry,) = setup.beta_log.requests()
    assert entry["body"]["model"] == "beta-1" and entry["body"]["stream"] is True
    assert_beta_auth(entry)
    assert setup.alpha_log.requests() == []


def test_each_upstream_gets_its_own_profile(setup: Routed, client: openai.OpenAI) -> None:
    messages = [{"role": "developer", "content": "Rules."},
                {"role": "user", "content": [{"type": "input_text", "text": "one"},
                                             {"type": "input_text", "text": "two"}]}]
    client.responses.create(model="alpha-x", input=messages)  # type: ignore[arg-type]
    client.responses.create(model="fast", input=messages)  # type: ignore[arg-type]
    alpha = setup.alpha_log.last_body()["messages"]
    beta = setup.beta_log.last_body()["messages"]
    assert alpha == [{"role": "system", "content": "Rules."},  # deepseek
                     {"role": "user", "content": "one\ntwo"}]
    assert beta == [{"role": "developer", "content": "Rules."},  # azure
                    {"role": "user", "content": [{"type": "text", "text": "one"},
                                                 {"type": "text", "text": "two"}]}]


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_model_is_404_model_not_found(setup: Routed, client: openai.OpenAI,
                                              stream: bool) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gamma-1", input="hello", stream=stream)
    assert caught.value.status_code == 404
    body = caught.value.body
    assert isinstance(body, dict)
    assert body.get("code") == "model_not_found" and body.get("param") == "model"
    assert "gamma-1" in str(body.get("message"))
    assert setup.alpha_log.requests() == [] and setup.beta_log.requests() == []


def test_models_list_is_the_union_with_the_alias(setup: Routed, client: openai.OpenAI) -> None:
    models = list(client.models.list())
    # Each upstream's list, filtered to what it serves (mock-* and beta-2 are not), + alias.
    assert [model.id for model in models] == ["alpha-x", "alpha-y", "beta-1", "fast"]
    assert models[-1].owned_by == "beta"
    (alpha,) = setup.alpha_log.requests()
    (beta,) = setup.beta_log.requests()
    assert alpha["path"] == beta["path"] == "/v1/models"
    assert_alpha_auth(alpha)
    assert_beta_auth(beta)


def test_health_names_both_upstreams_without_keys(setup: Routed) -> None:
    health = httpx2.get(setup.gateway.url + "/health", timeout=5)
    assert health.status_code == 200
    upstreams = health.json()["upstreams"]
    assert [(u["name"], u["profile"]) for u in upstreams] == [("alpha", "deepseek"),
                                                               ("beta", "azure")]
    assert ALPHA_KEY not in health.text and BETA_KEY not in health.text


def test_previous_response_on_another_upstream_is_reshaped(setup: Routed,
                                                           client: openai.OpenAI) -> None:
    first = client.responses.create(model="fast", input=[  # azure: developer, arrays kept
        {"role": "developer", "content": "Rules."},
        {"role": "user", "content": [{"type": "input_text", "text": "one"},
                                     {"type": "input_text", "text": "two"}]}])
    second = client.responses.create(model="alpha-x", previous_response_id=first.id,
                                     input="next")  # deepseek: neither is accepted
    assert second.output_text == "You said: next"
    assert setup.alpha_log.last_body()["messages"][:2] == [
        {"role": "system", "content": "Rules."}, {"role": "user", "content": "one\ntwo"}]


@pytest.fixture(scope="module")
def alias_only(routed: Routed, spawn_server: Callable[..., Server],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway whose only upstream (mock A) has aliases but no `models`."""
    directory = tmp_path_factory.mktemp("alias-only")
    config = directory / "upstreams.toml"
    config.write_text(f'[[upstreams]]\nbase_url = "{routed.alpha.url}/v1"\n'
                      'api_key_env = "RGW_TEST_ALPHA_KEY"\naliases = { "quick" = "alpha-x" }\n')
    port = free_port()
    gateway = spawn_server("alias-only-gateway", [
        "--config", str(config), "--port", str(port), "--store", "memory",
        "--data-dir", str(directory / "data"),
    ], "/health", port=port, env={"RGW_TEST_ALPHA_KEY": ALPHA_KEY})
    yield gateway
    gateway.stop()


def test_every_listed_model_can_be_requested(alias_only: Server) -> None:
    with openai.OpenAI(base_url=alias_only.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                       timeout=30, _strict_response_validation=True) as sdk:
        listed = [model.id for model in sdk.models.list()]
        assert "quick" in listed
        for model in listed:
            if model.startswith("mock-stall"):
                continue  # silent until the client leaves, on purpose (test_streams.py)
            try:
                sdk.responses.create(model=model, input="hi")
            except openai.APIStatusError as exc:  # mock-error-* models fail on purpose
                assert not (isinstance(exc.body, dict)
                            and exc.body.get("code") == "model_not_found"), (model, exc.body)


# -- config errors ------------------------------------------------------------------------------


def run_gateway(config: str, directory: Path, env: dict[str, str] | None = None
                ) -> tuple[int | None, str]:
    """Start the gateway with `--config`; (exit code, output), or (None, output) when it came
    up and answered /health instead of exiting (it is stopped then)."""
    path = directory / "config.toml"
    path.write_text(config)
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RESPONSES_GATEWAY_")}
    environ.update(env or {})
    log = directory / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "responses_gateway", "--config", str(path), "--port",
             str(port), "--store", "memory", "--data-dir", str(directory / "data")],
            stdout=out, stderr=subprocess.STDOUT, env=environ)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return process.returncode, log.read_text()
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    return None, log.read_text()
            except httpx2.HTTPError:
                pass
            time.sleep(0.05)  # bounded polling: exit or readiness, whichever comes first
        pytest.fail(f"the gateway neither exited nor started; output:\n{log.read_text()}")
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=5)


def assert_refused(result: tuple[int | None, str], *needles: str) -> str:
    code, output = result
    assert code is not None, f"the gateway started with a bad config; output:\n{output}"
    assert code != 0, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("responses-gateway: "), output
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in lines[-1], output
    return lines[-1]


UPSTREAM = '[[upstreams]]\nbase_url = "http://127.0.0.1:9/v1"\n'


@pytest.mark.parametrize("config, needles", [
    pytest.param(UPSTREAM + 'api_key_env = "RGW_TEST_UNSET_KEY"\n',
                 ("RGW_TEST_UNSET_KEY", "not set", "upstreams[0]"), id="missing-env-var"),
    pytest.param(UPSTREAM + 'modles = ["x-*"]\n', ("unknown keys", "modles", "upstreams[0]"),
                 id="unknown-key"),
    pytest.param(UPSTREAM + '[upstreams.aliases]\nfast = "x"\n[[upstreams]]\n'
                 'base_url = "http://127.0.0.1:9/v1"\napi_key = "sk-in-the-file"\n',
                 ("unknown keys", "api_key", "upstreams[1]"), id="unknown-key-second-table"),
    pytest.param('[server]\nport = 8000\n', ("[[upstreams]]",), id="no-upstreams"),
    pytest.param('', ("[[upstreams]]",), id="empty-file"),
    pytest.param('[[upstreams]]\nname = "x"\n', ("upstreams[0].base_url", "required"),
                 id="no-base-url"),
    pytest.param(UPSTREAM + 'profile = "nope"\n', ("unknown provider profile", "nope"),
                 id="unknown-profile"),
    pytest.param(UPSTREAM + 'models = "x-*"\n', ("upstreams[0].models",), id="models-not-list"),
    pytest.param(UPSTREAM + 'name = "a"\n' + UPSTREAM + 'name = "a"\n', ("unique",),
                 id="duplicate-names"),
])
def test_config_error_stops_the_gateway(tmp_path: Path, config: str,
                                        needles: tuple[str, ...]) -> None:
    assert_refused(run_gateway(config, tmp_path), *needles)


def test_missing_config_file_stops_the_gateway(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RESPONSES_GATEWAY_")}
    result = subprocess.run(
        [sys.executable, "-m", "responses_gateway", "--config", str(tmp_path / "absent.toml"),
         "--port", str(free_port()), "--store", "memory", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=15, env=environ)
    assert result.returncode != 0
    assert "absent.toml" in result.stderr and "Traceback" not in result.stderr


def test_key_from_env_var_set_but_empty_is_refused(tmp_path: Path) -> None:
    config = UPSTREAM + 'api_key_env = "RGW_TEST_EMPTY_KEY"\n'
    assert_refused(run_gateway(config, tmp_path, {"RGW_TEST_EMPTY_KEY": ""}),
                   "RGW_TEST_EMPTY_KEY")


def test_unknown_profile_message_is_not_quoted(tmp_path: Path) -> None:
    line = assert_refused(run_gateway(UPSTREAM + 'profile = "nope"\n', tmp_path))
    assert line.startswith("responses-gateway: config file "), line
    assert line.endswith(tuple("abcdefghijklmnopqrstuvwxyz")), line  # no closing quote
    assert ": unknown provider profile 'nope'; known: " in line, line


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    assert_refused(run_gateway('[[upstreams]\nbase_url = 1\n', tmp_path), "config.toml",
                   "line 1")


@pytest.mark.parametrize("line", ["api_key_env = 5", "api_version = 5"])
def test_wrongly_typed_key_is_refused(tmp_path: Path, line: str) -> None:
    assert_refused(run_gateway(UPSTREAM + line + "\n", tmp_path), line.split(" ")[0])

