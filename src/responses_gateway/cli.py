"""The command line: the original design's flags, short aliases and environment variables.

    responses-gateway --base-url URL [--upstream-api-key KEY] [--host H] [--port P]
    python -m responses_gateway --responses-proxy-mode --responses-proxy-base-url URL \\
        --responses-proxy-api-key KEY --port 8000
    responses-gateway --mock-upstream          # try it offline with the built-in fake provider
    responses-gateway mock-provider --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from aiohttp import web

from . import __version__
from .config import Limits, Settings, Timeouts, Upstream, upstreams_from_toml, with_env_proxy
from .providers import PROFILES
from .translate.reasoning import derive_key

__all__ = ["Launch", "load_settings", "main"]

logger = logging.getLogger("responses_gateway")

ENV_PREFIX = "RESPONSES_GATEWAY_"
_MOCK_MARKER = "mock://"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="responses-gateway",
        description="Serve the OpenAI Responses API on top of a Chat Completions provider.",
        epilog="Subcommand: 'responses-gateway mock-provider --port 9000' runs the built-in "
               "fake chat-completions provider. Flags with a value can also be set in the "
               f"environment as {ENV_PREFIX}<FLAG_NAME> (e.g. {ENV_PREFIX}BASE_URL, "
               f"{ENV_PREFIX}UPSTREAM_API_KEY; client keys: {ENV_PREFIX}API_KEYS, "
               "comma-separated).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--responses-proxy-mode", action="store_true",
                        help="accepted for compatibility with the original design; this is "
                             "the only mode")
    parser.add_argument("--base-url", "--responses-proxy-base-url", dest="base_url",
                        help="the provider's OpenAI-compatible base URL, e.g. "
                             "https://api.deepseek.com/v1 (env: RESPONSES_GATEWAY_BASE_URL)")
    parser.add_argument("--upstream-api-key", "--responses-proxy-api-key",
                        dest="upstream_api_key",
                        help="the provider's API key; prefer the environment variable "
                             "RESPONSES_GATEWAY_UPSTREAM_API_KEY so it stays out of `ps`")
    parser.add_argument("--provider", choices=sorted(PROFILES),
                        help="provider profile (default: detected from the base URL)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1; "
                                       "0.0.0.0 exposes the gateway)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000)")
    parser.add_argument("--api-key", dest="api_keys", action="append", default=None,
                        help="a key clients must send as a bearer token (repeatable; env: "
                             "RESPONSES_GATEWAY_API_KEYS, comma-separated). Without it any "
                             "client key is accepted")
    parser.add_argument("--unsupported-tools", choices=("drop", "error"),
                        help="what to do with hosted tools (web_search, ...) the provider "
                             "cannot run: drop them with a warning (default) or answer 400")
    parser.add_argument("--connect-timeout", type=float,
                        help="seconds to connect to the provider (default 10)")
    parser.add_argument("--read-timeout", type=float,
                        help="longest silence from the provider, in seconds (default 600)")
    parser.add_argument("--done-sentinel", action="store_true", default=None,
                        help="end streams with 'data: [DONE]' (OpenAI sends none)")
    parser.add_argument("--mock-upstream", action="store_true", default=None,
                        help="use the built-in fake provider (no key needed, offline)")
    parser.add_argument("--config", help="TOML file listing several upstreams (see "
                                         "docs/configuration.md); env: RESPONSES_GATEWAY_CONFIG")
    parser.add_argument("--api-version", help="Azure api-version query parameter")
    parser.add_argument("--store", help="where responses are stored: sqlite:///path (default: "
                                        "in the data directory), redis://host:port/db, "
                                        "memory, or none (stateless)")
    parser.add_argument("--store-ttl", type=float,
                        help="seconds a stored response is kept (default 30 days)")
    parser.add_argument("--store-max-entries", type=int,
                        help="most responses kept; the oldest go first (default 100000)")
    parser.add_argument("--run-lease", type=float,
                        help="seconds after which a background run that stopped reporting "
                             "(its process died) is marked failed (default 30)")
    parser.add_argument("--data-dir", help="directory for the SQLite store and the reasoning "
                                           "key (default ~/.local/share/responses-gateway)")
    parser.add_argument("--reasoning-key",
                        help="secret that seals reasoning into encrypted_content (default: a "
                             "random key kept in the data directory); prefer the env "
                             "RESPONSES_GATEWAY_REASONING_KEY")
    parser.add_argument("--workers", type=int,
                        help="processes serving the port together (default 1; use one per "
                             "core)")
    parser.add_argument("--log-level", default=None,
                        help="debug, info, warning or error (default info)")
    return parser


@dataclass(frozen=True, slots=True)
class Launch:
    """What `main` needs beyond the Settings."""

    settings: Settings
    mock_upstream: bool
    log_level: str
    workers: int = 1


def load_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Launch:
    """Settings from flags, falling back to the environment, then to defaults."""
    args = build_parser().parse_args(list(argv))

    def pick(flag: object, name: str, default: str | None = None) -> str | None:
        if flag is not None:
            return str(flag)
        # An empty variable counts as unset, not as an empty value.
        return environ.get(ENV_PREFIX + name) or default

    mock = bool(args.mock_upstream) or _truthy(environ.get(ENV_PREFIX + "MOCK_UPSTREAM"))
    data_dir = Path(pick(args.data_dir, "DATA_DIR") or _default_data_dir(environ))
    try:
        upstreams = tuple(with_env_proxy(u, environ)
                          for u in _upstreams(args, environ, pick, mock))
        keys = args.api_keys
        if keys is None:
            keys = [k.strip() for k in environ.get(ENV_PREFIX + "API_KEYS", "").split(",")]
        secret = pick(args.reasoning_key, "REASONING_KEY")
        settings = Settings(
            upstreams=upstreams,
            host=pick(args.host, "HOST", "127.0.0.1") or "127.0.0.1",
            port=int(pick(args.port, "PORT", "8000") or 8000),
            api_keys=frozenset(k for k in keys if k),
            timeouts=Timeouts(connect=float(pick(args.connect_timeout, "CONNECT_TIMEOUT", "10")
                                            or 10),
                              read=float(pick(args.read_timeout, "READ_TIMEOUT", "600") or 600)),
            limits=Limits(),
            unsupported_tools=pick(args.unsupported_tools, "UNSUPPORTED_TOOLS", "drop") or "drop",
            done_sentinel=bool(args.done_sentinel) or _truthy(environ.get(ENV_PREFIX
                                                                          + "DONE_SENTINEL")),
            store_url=pick(args.store, "STORE") or f"sqlite:///{data_dir / 'responses.db'}",
            store_ttl=float(pick(args.store_ttl, "STORE_TTL", str(30 * 86400)) or 1),
            store_max_entries=int(pick(args.store_max_entries, "STORE_MAX_ENTRIES", "100000")
                                  or 1),
            run_lease=float(pick(args.run_lease, "RUN_LEASE", "30") or 30),
            reasoning_key=derive_key(secret) if secret else _stored_key(data_dir),
        )
    except (KeyError, ValueError, OSError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"responses-gateway: {exc}") from None
    workers = int(pick(args.workers, "WORKERS", "1") or 1)
    if workers < 1:
        raise SystemExit("responses-gateway: --workers must be at least 1")
    return Launch(settings, mock, (pick(args.log_level, "LOG_LEVEL", "info") or "info").upper(),
                  workers)


def _upstreams(args: argparse.Namespace, environ: Mapping[str, str], pick: Any,
               mock: bool) -> tuple[Upstream, ...]:
    config = pick(args.config, "CONFIG")
    single = [flag for flag, value in (("--base-url", args.base_url),
                                       ("--upstream-api-key", args.upstream_api_key),
                                       ("--provider", args.provider),
                                       ("--api-version", args.api_version)) if value]
    if mock and (config or args.base_url):
        raise SystemExit("responses-gateway: --mock-upstream replaces the upstream; drop "
                         "--base-url / --config, or drop --mock-upstream")
    if config:
        if single:
            raise SystemExit(f"responses-gateway: {', '.join(single)} cannot be combined with "
                             "--config; set these per upstream in the config file")
        try:
            with open(config, "rb") as handle:
                return upstreams_from_toml(tomllib.load(handle), environ)
        except (OSError, ValueError) as exc:  # TOMLDecodeError is a ValueError
            raise ValueError(f"config file {config}: {exc}") from None
    base_url = pick(args.base_url, "BASE_URL")
    if mock:
        base_url = "http://127.0.0.1:9/v1"  # replaced by the real mock address at start
    if not base_url:
        raise SystemExit(
            "responses-gateway: no upstream given. Pass --base-url URL (or set "
            "RESPONSES_GATEWAY_BASE_URL), --config FILE for several upstreams, or "
            "--mock-upstream to try the gateway offline with the built-in fake provider.")
    api_key = pick(args.upstream_api_key, "UPSTREAM_API_KEY")
    return (Upstream.from_url(base_url, api_key, profile=pick(args.provider, "PROVIDER"),
                              api_version=pick(args.api_version, "API_VERSION")),)


def _default_data_dir(environ: Mapping[str, str]) -> str:
    base = environ.get("XDG_DATA_HOME") or os.path.join(environ.get("HOME", "."), ".local",
                                                         "share")
    return os.path.join(base, "responses-gateway")


def _stored_key(data_dir: Path) -> bytes:
    """The reasoning key kept in the data directory, made on first use (mode 0600)."""
    path = data_dir / "reasoning.key"
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ValueError(f"{path} is not a 32-byte key; delete it to make a new one")
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "mock-provider":
        from .mock_provider import run_mock_provider

        run_mock_provider(argv[1:])
        return
    launch = load_settings(argv, os.environ)
    logging.basicConfig(level=launch.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if launch.workers > 1:
        _supervise(launch)
    else:
        _run_worker(launch, reuse_port=False)


def _run_worker(launch: Launch, *, reuse_port: bool) -> None:
    serve = _serve(launch.settings, launch.mock_upstream, reuse_port=reuse_port)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is optional on some platforms
            asyncio.run(serve)
        else:
            uvloop.run(serve)


def _supervise(launch: Launch) -> None:
    """N processes sharing the port (SO_REUSEPORT): one event loop per core."""
    if launch.settings.store_url == "memory":
        logger.warning("--store memory is per process: with --workers, a follow-up request may "
                       "reach a worker that does not have the response; use sqlite or redis")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_run_worker, args=(launch,), kwargs={"reuse_port": True},
                               name=f"worker-{n}", daemon=False)
               for n in range(launch.workers)]
    for worker in workers:
        worker.start()
    stop = {"signal": False}

    def forward(signum: int, _frame: object) -> None:
        stop["signal"] = True
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    # Wake as soon as any worker exits: a crashed worker stops the whole gateway, so a
    # supervisor (systemd, Kubernetes) can restart it, rather than serving on fewer cores.
    alive = list(workers)
    while alive:
        multiprocessing.connection.wait([w.sentinel for w in alive])
        exited = [w for w in alive if not w.is_alive()]
        alive = [w for w in alive if w.is_alive()]
        if not stop["signal"] and exited:
            logger.error("worker %s exited with %s; stopping the others", exited[0].name,
                         exited[0].exitcode)
            forward(signal.SIGTERM, None)
            stop["crashed"] = True
    for worker in workers:
        worker.join()
    if stop.get("crashed"):
        raise SystemExit(1)


async def _serve(settings: Settings, mock: bool, *, reuse_port: bool = False) -> None:
    from .server import create_app

    runners: list[web.AppRunner] = []
    if mock:
        settings = await _start_mock(settings, runners)
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024,
                       reuse_port=reuse_port or None)
    await site.start()
    runners.append(runner)
    logger.info("responses-gateway %s listening on http://%s:%d/v1 -> %s (pid %d)",
                __version__, settings.host, settings.port,
                ", ".join(f"{u.name}={u.display_url} [{u.profile.name}]"
                          for u in settings.upstreams),
                os.getpid())
    # SIGTERM (and SIGINT) end the loop cleanly, so background runs are settled and the
    # store is closed before the process exits.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
        logger.info("shutting down")
    finally:
        for each in reversed(runners):
            await each.cleanup()


async def _start_mock(settings: Settings, runners: list[web.AppRunner]) -> Settings:
    from .mock_provider import create_mock_app

    mock_runner = web.AppRunner(create_mock_app(), access_log=None)
    await mock_runner.setup()
    site = web.TCPSite(mock_runner, "127.0.0.1", 0)
    await site.start()
    runners.append(mock_runner)
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    upstream = Upstream.from_url(f"http://127.0.0.1:{port}/v1", None, profile="generic",
                                 name="built-in-mock")
    logger.warning("using the built-in mock provider at %s: answers are fake",
                   upstream.base_url)
    return _replace_upstream(settings, upstream)


def _replace_upstream(settings: Settings, upstream: Upstream) -> Settings:
    return replace(settings, upstreams=(upstream,))
