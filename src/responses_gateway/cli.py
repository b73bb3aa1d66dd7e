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
import ipaddress
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from aiohttp import web

from . import __version__
from .config import Limits, Settings, Timeouts, Upstream, upstreams_from_toml, with_env_proxy
from .logs import FORMAT as LOG_FORMAT
from .logs import EscapingFormatter
from .keys import ClientKey, check_unique, keys_from_file, parse_key_spec
from .options import OPTIONS, add_options, resolve
from .providers import PROFILES
from .translate.reasoning import derive_key

__all__ = ["Launch", "load_settings", "main", "missing_key_warnings"]

logger = logging.getLogger("responses_gateway")

_MOCK_MARKER = "mock://"
_HANDLER_GRACE = 0.5  # seconds aiohttp waits for handlers after the drain, before cancelling


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="responses-gateway",
        description="Serve the OpenAI Responses API on top of a Chat Completions provider.",
        epilog="Subcommand: 'responses-gateway mock-provider --port 9000' runs the built-in "
               "fake chat-completions provider. A flag overrides its variable; an empty "
               "variable counts as unset.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_options(parser, _CHOICES)
    return parser


_CHOICES = {"provider": sorted(PROFILES)}


@dataclass(frozen=True, slots=True)
class Launch:
    """What `main` needs beyond the Settings."""

    settings: Settings
    mock_upstream: bool
    log_level: str
    workers: int = 1
    log_format: str = "text"


def load_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Launch:
    """Settings from flags, falling back to the environment, then to defaults. Every bad
    value is reported at once, one line each, naming the flag or variable."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(list(argv))
    errors = [f"{arg}: unknown flag (see --help)" for arg in unknown if arg.startswith("-")]
    errors += [f"{arg}: unexpected argument" for arg in unknown if not arg.startswith("-")]
    values, bad = resolve(args, environ, _CHOICES)
    errors += bad
    settings: Settings | None = None
    try:
        data_dir = Path(values["data_dir"] or _default_data_dir(environ))
        flagged = {o.dest for o in OPTIONS if getattr(args, o.dest, None) is not None}
        upstreams = tuple(with_env_proxy(u, environ)
                          for u in _upstreams(values, flagged, environ, errors))
        secret = values["reasoning_key"]
        fixed_keys = tuple(parse_key_spec(spec) for spec in values["api_keys"] or ())
        file_keys: tuple[ClientKey, ...] = ()
        if values["keys_file"]:
            try:
                file_keys = keys_from_file(values["keys_file"], environ)
            except ValueError as exc:
                errors.append(f"--keys-file (RESPONSES_GATEWAY_KEYS_FILE): {exc}")
        try:
            check_unique(fixed_keys + file_keys)
        except ValueError as exc:
            errors.append(f"--api-key / --keys-file: {exc}")
        if values["admin_key"] and any(k.secret == values["admin_key"]
                                       for k in fixed_keys + file_keys):
            errors.append("--admin-key (RESPONSES_GATEWAY_ADMIN_KEY): must differ from every "
                          "client key")
        if not errors:
            settings = Settings(
                upstreams=upstreams,
                host=values["host"],
                port=values["port"],
                api_keys=frozenset(k.secret for k in fixed_keys + file_keys),
                client_keys=fixed_keys,
                file_keys=file_keys,
                keys_file=values["keys_file"],
                admin_key=values["admin_key"] or None,
                allowed_origins=tuple(values["allowed_origins"] or ()),
                allowed_hosts=tuple(values["allowed_hosts"] or ()),
                timeouts=Timeouts(connect=values["connect_timeout"],
                                  read=values["read_timeout"],
                                  pool=values["pool_timeout"],
                                  header=values["header_timeout"],
                                  body=values["body_timeout"],
                                  keepalive=values["keepalive_timeout"]),
                limits=Limits(max_body_bytes=values["max_body_bytes"],
                              max_compressed_body_bytes=values["max_compressed_body_bytes"],
                              max_connections=values["upstream_connections"],
                              max_client_connections=values["max_client_connections"],
                              max_requests_per_key=values["max_requests_per_key"],
                              max_streams_per_key=values["max_streams_per_key"]),
                unsupported_tools=values["unsupported_tools"],
                done_sentinel=values["done_sentinel"],
                store_url=values["store"] or f"sqlite:///{data_dir / 'responses.db'}",
                store_ttl=values["store_ttl"],
                store_max_entries=values["store_max_entries"],
                store_max_key_bytes=values["store_max_key_bytes"],
                store_max_response_bytes=values["store_max_response_bytes"],
                run_lease=values["run_lease"],
                sse_keepalive=values["sse_keepalive"],
                shutdown_timeout=values["shutdown_timeout"],
                reasoning_key=derive_key(secret) if secret else _stored_key(data_dir),
                metrics=values["metrics"] == "on",
                metrics_token=values["metrics_token"] or None,
                log_bodies=values["log_bodies"],
            )
    except (KeyError, ValueError, OSError) as exc:
        errors.append(str(exc))
    if errors or settings is None:
        raise SystemExit("\n".join(f"responses-gateway: {error}" for error in errors))
    return Launch(settings, values["mock_upstream"], values["log_level"].upper(),
                  values["workers"], values["log_format"])


def _upstreams(values: Mapping[str, Any], flagged: set[str], environ: Mapping[str, str],
               errors: list[str]) -> tuple[Upstream, ...]:
    """The upstreams the values name; problems are appended to `errors`. With a config
    file or the mock, the single-upstream variables are ignored (their flags are errors)."""
    config, mock = values["config"], values["mock_upstream"]
    single = [flag for flag, key in (("--base-url", "base_url"),
                                     ("--upstream-api-key", "upstream_api_key"),
                                     ("--provider", "provider"),
                                     ("--api-version", "api_version")) if key in flagged]
    if mock and (config or "base_url" in flagged):
        errors.append("--mock-upstream replaces the upstream; drop --base-url / --config, "
                      "or drop --mock-upstream")
        return ()
    if config:
        if single:
            errors.append(f"{', '.join(single)} cannot be combined with --config; set these "
                          "per upstream in the config file")
            return ()
        try:
            with open(config, "rb") as handle:
                return upstreams_from_toml(tomllib.load(handle), environ)
        except (OSError, ValueError) as exc:  # TOMLDecodeError is a ValueError
            errors.append(f"config file {config}: {exc}")
            return ()
    base_url = values["base_url"]
    if mock:
        base_url = "http://127.0.0.1:9/v1"  # replaced by the real mock address at start
    if not base_url:
        errors.append(
            "no upstream given. Pass --base-url URL (or set RESPONSES_GATEWAY_BASE_URL), "
            "--config FILE for several upstreams, or --mock-upstream to try the gateway "
            "offline with the built-in fake provider.")
        return ()
    try:
        upstream = Upstream.from_url(base_url, values["upstream_api_key"],
                                     profile=values["provider"],
                                     api_version=values["api_version"])
    except ValueError as exc:
        errors.append(f"--base-url (RESPONSES_GATEWAY_BASE_URL): {exc}")
        return ()
    return (upstream,)


def missing_key_warnings(settings: Settings) -> list[str]:
    """One warning per upstream that has no key but is not on this machine or a private
    network: hosted providers answer 401 to a keyless call, so say so at start."""
    warnings = []
    for upstream in settings.upstreams:
        if upstream.api_key or _is_local(urlsplit(upstream.base_url).hostname or ""):
            continue
        variable = ("RESPONSES_GATEWAY_UPSTREAM_API_KEY" if len(settings.upstreams) == 1
                    else "its api_key_env variable")
        warnings.append(f"upstream {upstream.name} ({upstream.display_url}) has no API key; "
                        f"a hosted provider will answer 401. Set {variable}.")
    return warnings


def _is_local(host: str) -> bool:
    if host in ("localhost", "") or host.endswith((".local", ".internal", ".localhost")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a bare name like `vllm` in a compose network
    return address.is_loopback or address.is_private or address.is_link_local


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
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # only its owner reads it
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "mock-provider":
        from .mock_provider import run_mock_provider

        run_mock_provider(argv[1:])
        return
    launch = load_settings(argv, os.environ)
    _setup_logging(launch)
    if not launch.mock_upstream:
        for warning in missing_key_warnings(launch.settings):
            logger.warning("%s", warning)
    if launch.workers > 1:
        _supervise(launch)
    else:
        _run_worker(launch, reuse_port=False)


def _setup_logging(launch: Launch) -> None:
    handler = logging.StreamHandler()
    if launch.log_format == "json":
        from .observe import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(EscapingFormatter(LOG_FORMAT))  # no forged lines
    logging.basicConfig(level=launch.log_level, handlers=[handler])


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
    metrics_dir = None
    if launch.settings.metrics and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metric values here, so any worker's /metrics reports all.
        metrics_dir = tempfile.mkdtemp(prefix="responses-gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
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

    def forward_hangup(signum: int, _frame: object) -> None:
        for worker in workers:  # each worker re-reads the keys file
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signal.SIGHUP)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, forward_hangup)
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
    if metrics_dir is not None:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if stop.get("crashed"):
        raise SystemExit(1)


async def _serve(settings: Settings, mock: bool, *, reuse_port: bool = False) -> None:
    from .appkeys import shutdown_key
    from .connections import GuardedRunner
    from .server import create_app, reload_keys

    runners: list[web.AppRunner] = []
    if mock:
        settings = await _start_mock(settings, runners)
    app = create_app(settings)
    # The app's on_shutdown hook (shutdown.drain) lets streams finish up to the deadline and
    # then ends them; aiohttp's own wait for handlers after it only has to be short.
    runner = GuardedRunner(app, limits=settings.limits, timeouts=settings.timeouts,
                           access_log=None, shutdown_timeout=_HANDLER_GRACE)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024,
                       reuse_port=reuse_port or None)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        for each in reversed(runners):
            await each.cleanup()
        raise SystemExit(f"responses-gateway: --port (RESPONSES_GATEWAY_PORT): cannot listen "
                         f"on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    runners.append(runner)
    logger.info("responses-gateway %s listening on http://%s:%d/v1 -> %s (pid %d)",
                __version__, settings.host, settings.port,
                ", ".join(f"{u.name}={u.display_url} [{u.profile.name}]"
                          for u in settings.upstreams),
                os.getpid())
    # SIGTERM (and SIGINT) stop accepting and drain (shutdown.py): streams and background
    # runs get --shutdown-timeout seconds, then end as failed and are stored; the store is
    # closed before the process exits. A second signal skips the rest of the deadline.
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    reload_keys(app)  # SIGHUP re-reads the keys file
    try:
        await stopping.wait()
        logger.info("shutting down")
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, app[shutdown_key].stop_now)
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
