"""Fixtures for the real-client tests: the installed clients (Codex CLI and openai-node from
node_modules here, installed by scripts/test with `npm ci`), Codex runs in throw-away homes, and
the extra gateways these tests need: DeepSeek-profile gateways (stateless, stateless with gpt-5.5
aliased to mock-think, and stored in SQLite) in front of a fake provider that insists on getting
its reasoning back, and one plain gateway per store backend (memory, SQLite, Redis).

The gateway and fake provider of tests/e2e/conftest.py (`gateway`, `mock_provider`, `mock_log`)
serve every test that needs nothing special.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import orjson
import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from clients_support import (  # noqa: E402
    CLIENTS_DIR,
    NODE_MODULES,
    CodexRun,
    client_env,
    run_bounded,
    unavailable,
)
from e2e_support import CLIENT_KEY, UPSTREAM_KEY, MockLog, Server, free_port  # noqa: E402

CODEX_VERSION = "0.169.0"
OPENAI_NODE_VERSION = "6.49.0"
CODEX_TIMEOUT = 60.0
# Redis database reserved for these tests; the gateway's keys expire after STORE_TTL anyway and
# each test deletes the responses it created.
REDIS_URL = os.environ.get("RG_TEST_REDIS", "redis://127.0.0.1:6379") + "/14"
STORE_TTL = "600"
_INSTALL_HINT = "run `bash scripts/test` (or `npm ci --prefix tests/e2e/clients`)"

SpawnServer = Callable[..., Server]


def _package_version(name: str) -> str | None:
    manifest = NODE_MODULES / name / "package.json"
    if not manifest.is_file():
        return None
    version = orjson.loads(manifest.read_bytes()).get("version")
    return version if isinstance(version, str) else None


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable (openai-node's script and Codex's launcher run on it)."""
    path = shutil.which("node")
    if path is None:
        unavailable("node is not installed (Node 20+ runs the Codex CLI and openai-node tests)")
    return path


@pytest.fixture(scope="session")
def codex_command(node: str) -> list[str]:
    """How to start Codex CLI 0.169.0 from node_modules; checked once with `--version`."""
    launcher = NODE_MODULES / "@openai" / "codex" / "bin" / "codex.js"
    if _package_version("@openai/codex") != CODEX_VERSION or not launcher.is_file():
        unavailable(f"@openai/codex {CODEX_VERSION} is not installed in {NODE_MODULES}; "
                    f"{_INSTALL_HINT}")
    command = [node, str(launcher)]
    version = run_bounded([*command, "--version"], cwd=CLIENTS_DIR, env=client_env({}),
                          timeout=30)
    assert version.returncode == 0 and CODEX_VERSION in version.stdout, version.describe()
    return command


@pytest.fixture(scope="session")
def openai_node(node: str) -> str:
    """node, once openai-node 6.49.0 is installed next to the driver scripts."""
    if _package_version("openai") != OPENAI_NODE_VERSION:
        unavailable(f"openai (node) {OPENAI_NODE_VERSION} is not installed in {NODE_MODULES}; "
                    f"{_INSTALL_HINT}")
    return node


_CODEX_CONFIG = """\
model_provider = "gateway"

[model_providers.gateway]
name = "responses-gateway under test"
base_url = "{base_url}"
env_key = "RG_E2E_GATEWAY_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"""


@pytest.fixture
def codex(codex_command: list[str], tmp_path: Path) -> Callable[..., CodexRun]:
    """`codex(gateway, prompt, model=...)` runs `codex exec` once against `gateway`, in a new
    empty working directory with its own HOME and CODEX_HOME; `resume=earlier_run` continues
    that run's session instead (`codex exec resume --last`). Every run is bounded."""
    runs = iter(range(1, 1000))

    def run(gateway: Server, prompt: str, *, model: str = "gpt-5.5",
            resume: CodexRun | None = None) -> CodexRun:
        if resume is None:
            root = tmp_path / f"codex-{next(runs)}"
            home, codex_home, workdir = root / "home", root / "codex-home", root / "work"
            for directory in (home, codex_home, workdir):
                directory.mkdir(parents=True)
            (codex_home / "config.toml").write_text(
                _CODEX_CONFIG.format(base_url=gateway.url + "/v1"))
            env = client_env({"HOME": str(home), "CODEX_HOME": str(codex_home),
                              "RG_E2E_GATEWAY_KEY": CLIENT_KEY, "NO_COLOR": "1"})
        else:
            workdir, env = resume.workdir, dict(resume.env)
        command = [*codex_command, "exec", "--skip-git-repo-check", "-s", "danger-full-access",
                   "-m", model, *(("resume", "--last") if resume else ()), prompt]
        finished = run_bounded(command, cwd=workdir, env=env, timeout=CODEX_TIMEOUT)
        return CodexRun(finished, workdir, env)

    return run


@pytest.fixture(scope="session")
def reasoning_provider(spawn_server: SpawnServer) -> Iterator[Server]:
    """A fake provider in DeepSeek's thinking mode: every assistant tool-call message must
    carry back exactly the reasoning_content it produced, or the request is a 400."""
    port = free_port()
    server = spawn_server("reasoning-provider", [
        "mock-provider", "--port", str(port), "--api-key", UPSTREAM_KEY,
        "--quirk", "require-reasoning-content", "--quirk", "verify-reasoning-content",
    ], "/v1/models", port=port, ready_headers={"Authorization": f"Bearer {UPSTREAM_KEY}"})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def reasoning_gateway(reasoning_provider: Server, spawn_server: SpawnServer,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A stateless gateway (`--store none`) with the deepseek profile: reasoning survives a
    tool turn only through the encrypted_content of the reasoning item the client sends back."""
    port = free_port()
    server = spawn_server("reasoning-gateway", [
        "--base-url", f"{reasoning_provider.url}/v1", "--provider", "deepseek",
        "--store", "none", "--data-dir", str(tmp_path_factory.mktemp("reasoning-gateway")),
        "--port", str(port),
    ], "/health", port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})
    yield server
    server.stop()


@pytest.fixture
def reasoning_mock_log(reasoning_provider: Server) -> MockLog:
    log = MockLog(reasoning_provider)
    log.clear()
    return log


_ALIAS_CONFIG = """\
[[upstreams]]
name = "thinker"
base_url = "{base_url}"
api_key_env = "RG_E2E_UPSTREAM_KEY"
profile = "deepseek"
aliases = {{ "gpt-5.5" = "mock-think" }}
"""


@pytest.fixture(scope="session")
def aliased_reasoning_gateway(reasoning_provider: Server, spawn_server: SpawnServer,
                              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """As `reasoning_gateway`, from a --config file where gpt-5.5 is an alias of mock-think:
    Codex then offers gpt-5.5's tools (apply_patch among them) to a thinking provider."""
    data_dir = tmp_path_factory.mktemp("aliased-gateway")
    config = data_dir / "upstreams.toml"
    config.write_text(_ALIAS_CONFIG.format(base_url=f"{reasoning_provider.url}/v1"))
    port = free_port()
    server = spawn_server("aliased-reasoning-gateway", [
        "--config", str(config), "--store", "none", "--data-dir", str(data_dir),
        "--port", str(port),
    ], "/health", port=port, env={"RG_E2E_UPSTREAM_KEY": UPSTREAM_KEY})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stateful_reasoning_gateway(reasoning_provider: Server, spawn_server: SpawnServer,
                               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A deepseek-profile gateway that stores responses (SQLite) in front of the thinking
    provider: previous_response_id chains must keep each turn's reasoning."""
    data_dir = tmp_path_factory.mktemp("stateful-reasoning-gateway")
    port = free_port()
    server = spawn_server("stateful-reasoning-gateway", [
        "--base-url", f"{reasoning_provider.url}/v1", "--provider", "deepseek",
        "--store", f"sqlite:///{data_dir}/r.db", "--data-dir", str(data_dir),
        "--port", str(port),
    ], "/health", port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})
    yield server
    server.stop()


def _require_redis() -> None:
    try:
        import redis
    except ImportError:
        unavailable("the redis package is not installed, so the gateway cannot use "
                    f"--store {REDIS_URL}")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"no Redis reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()


@pytest.fixture(scope="session", params=["memory", "sqlite", "redis"])
def stateful_gateway(request: pytest.FixtureRequest, mock_provider: Server,
                     spawn_server: SpawnServer,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A gateway that stores responses (one per backend) in front of the shared fake provider."""
    backend = request.param
    data_dir = tmp_path_factory.mktemp(f"{backend}-gateway")
    if backend == "redis":
        _require_redis()
    store = {"memory": "memory", "sqlite": f"sqlite:///{data_dir}/r.db",
             "redis": REDIS_URL}[backend]
    port = free_port()
    server = spawn_server(f"{backend}-gateway", [
        "--base-url", f"{mock_provider.url}/v1", "--store", store, "--store-ttl", STORE_TTL,
        "--data-dir", str(data_dir), "--port", str(port),
    ], "/health", port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})
    yield server
    server.stop()


@pytest.fixture
def stored_ids(stateful_gateway: Server) -> Iterator[list[str]]:
    """Response ids a test stored; each is deleted through the gateway afterwards."""
    ids: list[str] = []
    yield ids
    with httpx2.Client(base_url=stateful_gateway.url, timeout=5,
                       headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as http:
        for response_id in ids:
            http.delete(f"/v1/responses/{response_id}")

