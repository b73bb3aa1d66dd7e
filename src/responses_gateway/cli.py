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
import logging
import os
import sys
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from aiohttp import web

from . import __version__
from .config import Limits, Settings, Timeouts, Upstream
from .providers import PROFILES

__all__ = ["Launch", "load_settings", "main"]

logger = logging.getLogger("responses_gateway")

ENV_PREFIX = "RESPONSES_GATEWAY_"
_MOCK_MARKER = "mock://"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="responses-gateway",
        description="Serve the OpenAI Responses API on top of a Chat Completions provider.",
        epilog="Subcommand: 'responses-gateway mock-provider --port 9000' runs the built-in "
               "fake chat-completions provider. Every flag can also be set in the "
               f"environment as {ENV_PREFIX}<FLAG_NAME> (e.g. {ENV_PREFIX}BASE_URL).")
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
    parser.add_argument("--log-level", default=None,
                        help="debug, info, warning or error (default info)")
    return parser


@dataclass(frozen=True, slots=True)
class Launch:
    """What `main` needs beyond the Settings."""

    settings: Settings
    mock_upstream: bool
    log_level: str


def load_settings(argv: Sequence[str], environ: Mapping[str, str]) -> Launch:
    """Settings from flags, falling back to the environment."""
    args = build_parser().parse_args(list(argv))

    def pick(flag: object, name: str, default: str | None = None) -> str | None:
        if flag is not None:
            return str(flag)
        return environ.get(ENV_PREFIX + name, default)

    mock = bool(args.mock_upstream) or _truthy(environ.get(ENV_PREFIX + "MOCK_UPSTREAM"))
    base_url = pick(args.base_url, "BASE_URL")
    if mock:
        base_url = "http://127.0.0.1:9/v1"  # replaced by the real mock address at start
    if not base_url:
        raise SystemExit(
            "responses-gateway: no upstream given. Pass --base-url URL (or set "
            "RESPONSES_GATEWAY_BASE_URL), or --mock-upstream to try the gateway offline "
            "with the built-in fake provider.")
    api_key = pick(args.upstream_api_key, "UPSTREAM_API_KEY")
    keys = args.api_keys
    if keys is None:
        keys = [k.strip() for k in environ.get(ENV_PREFIX + "API_KEYS", "").split(",")]
    try:
        settings = Settings(
            upstream=Upstream.from_url(base_url, api_key,
                                       profile=pick(args.provider, "PROVIDER")),
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
        )
    except (KeyError, ValueError) as exc:
        raise SystemExit(f"responses-gateway: {exc}") from None
    return Launch(settings, mock, (pick(args.log_level, "LOG_LEVEL", "info") or "info").upper())


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
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is optional on some platforms
        run = asyncio.run
    try:
        run(_serve(launch.settings, launch.mock_upstream))
    except KeyboardInterrupt:
        pass


async def _serve(settings: Settings, mock: bool) -> None:
    from .server import create_app

    runners: list[web.AppRunner] = []
    if mock:
        from .mock_provider import create_mock_app

        mock_runner = web.AppRunner(create_mock_app(), access_log=None)
        await mock_runner.setup()
        site = web.TCPSite(mock_runner, "127.0.0.1", 0)
        await site.start()
        runners.append(mock_runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        upstream = Upstream.from_url(f"http://127.0.0.1:{port}/v1", None, profile="generic",
                                     name="built-in mock")
        settings = _replace_upstream(settings, upstream)
        logger.warning("using the built-in mock provider at %s: answers are fake",
                       upstream.base_url)
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024)
    await site.start()
    runners.append(runner)
    logger.info("responses-gateway %s listening on http://%s:%d/v1 -> %s (profile %s)",
                __version__, settings.host, settings.port, settings.upstream.base_url,
                settings.upstream.profile.name)
    try:
        await asyncio.Event().wait()
    finally:
        for each in reversed(runners):
            await each.cleanup()


def _replace_upstream(settings: Settings, upstream: Upstream) -> Settings:
    return replace(settings, upstream=upstream)
