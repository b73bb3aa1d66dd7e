"""Every command-line flag and environment variable, as one table of data.

`cli.py` builds `--help` (grouped) and reads values from this table, and README's flag table
is generated from it (`python -m responses_gateway.options README.md` rewrites it; tests/test_docs.py
fails when README differs), so help, parsing and docs cannot drift apart.

To add a setting: add an `Option` row to `OPTIONS` in the right group, read
`values["<dest>"]` in `cli.load_settings`, then regenerate README's table with
`python -m responses_gateway.options README.md` (and describe the setting in
docs/configuration.md and docs/README.zh-CN.md, which tests/test_docs.py also checks).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = ["ENV_PREFIX", "GROUPS", "OPTIONS", "Option", "add_options", "markdown_table",
           "resolve"]

ENV_PREFIX = "RESPONSES_GATEWAY_"

# Group key -> title in --help and README, in display order.
GROUPS: Mapping[str, str] = {
    "upstream": "upstream (the provider)",
    "server": "server",
    "security": "security and limits",
    "store": "store and state",
    "logging": "logging",
    "other": "other",
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """One setting: its flags, its variable, how its text value is read, and its docs."""

    dest: str
    flags: tuple[str, ...]
    group: str
    help: str
    # Variable name after RESPONSES_GATEWAY_; None: flag only.
    env: str | None = None
    # "str", "int", "float", "bool", "list" (repeatable flag; comma-separated variable),
    # "choice" (one of `choices`) or "flag" (a switch with no variable and no value).
    kind: str = "str"
    choices: tuple[str, ...] = ()
    default: Any = None
    default_text: str = ""  # how docs show the default; "" shows `default` (or "none")
    metavar: str | None = None
    minimum: float | None = None  # numbers: smallest accepted value
    positive: bool = False  # numbers: must be > 0
    secret: bool = False  # the value is a key: never echoed in an error

    @property
    def env_name(self) -> str | None:
        return ENV_PREFIX + self.env if self.env else None

    @property
    def label(self) -> str:
        """How errors name the setting: its flag and, if any, its variable."""
        name = self.flags[0]
        return f"{name} ({self.env_name})" if self.env else name

    def shown_default(self) -> str:
        if self.default_text:
            return self.default_text
        if self.kind == "bool":
            return "off"
        if self.default is None:
            return "none"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)


def _opt(*flags: str, **kwargs: Any) -> Option:
    return Option(flags=flags, **kwargs)


OPTIONS: tuple[Option, ...] = (
    # -- upstream --------------------------------------------------------------------
    _opt("--base-url", "--responses-proxy-base-url", dest="base_url", group="upstream",
         env="BASE_URL", metavar="URL",
         default_text="none; required unless `--config` or `--mock-upstream` is given",
         help="the provider's OpenAI-compatible base URL, the part before /chat/completions "
              "(e.g. https://api.deepseek.com/v1)"),
    _opt("--upstream-api-key", "--responses-proxy-api-key", dest="upstream_api_key",
         group="upstream", env="UPSTREAM_API_KEY", metavar="KEY", secret=True,
         default_text="none (no auth header is sent)",
         help="the provider's key; prefer the variable, a flag shows in `ps`"),
    _opt("--provider", dest="provider", group="upstream", env="PROVIDER", kind="choice",
         metavar="NAME", default_text="detected from the base URL",
         help="provider profile (see docs/providers.md)"),
    _opt("--api-version", dest="api_version", group="upstream", env="API_VERSION",
         metavar="V", default_text="the profile's (`azure`: `2024-10-21`, none for a base URL "
                                   "ending in `/openai/v1`)",
         help="the `api-version` query parameter (Azure)"),
    _opt("--config", dest="config", group="upstream", env="CONFIG", metavar="FILE",
         help="TOML file with several [[upstreams]] (docs/configuration.md); it cannot be "
              "combined with the four flags above, whose variables are then ignored"),
    _opt("--mock-upstream", dest="mock_upstream", group="upstream", env="MOCK_UPSTREAM",
         kind="bool",
         help="use the built-in fake provider (offline, no key); it cannot be combined with "
              "--base-url or a config file, and wins over RESPONSES_GATEWAY_BASE_URL"),
    _opt("--connect-timeout", dest="connect_timeout", group="upstream",
         env="CONNECT_TIMEOUT", kind="float", default=10.0, positive=True, metavar="S",
         help="seconds to connect to the provider"),
    _opt("--read-timeout", dest="read_timeout", group="upstream", env="READ_TIMEOUT",
         kind="float", default=600.0, positive=True, metavar="S",
         help="longest silence from the provider, before the first byte or between chunks, "
              "in seconds; there is no total limit"),
    _opt("--upstream-connections", dest="upstream_connections", group="upstream",
         env="UPSTREAM_CONNECTIONS", kind="int", default=1000, minimum=1, metavar="N",
         help="most connections to the providers at once, per process; a request waits for "
              "one up to --pool-timeout"),
    _opt("--pool-timeout", dest="pool_timeout", group="upstream", env="POOL_TIMEOUT",
         kind="float", default=30.0, positive=True, metavar="S",
         help="seconds a request waits for a free upstream connection before a 503 "
              "upstream_pool_exhausted"),
    _opt("--unsupported-tools", dest="unsupported_tools", group="upstream",
         env="UNSUPPORTED_TOOLS", kind="choice", choices=("drop", "error"), default="drop",
         help="hosted tools (web_search, ...) the provider cannot run: drop them with a "
              "warning, or answer 400"),
    # -- server ----------------------------------------------------------------------
    _opt("--host", dest="host", group="server", env="HOST", default="127.0.0.1", metavar="H",
         help="address to listen on; 0.0.0.0 exposes the gateway (then set --api-key)"),
    _opt("--port", dest="port", group="server", env="PORT", kind="int", default=8000,
         minimum=0, metavar="P", help="port to listen on (0-65535)"),
    _opt("--workers", dest="workers", group="server", env="WORKERS", kind="int", default=1,
         minimum=1, metavar="N",
         help="processes serving the port together (SO_REUSEPORT); use one per core, with a "
              "sqlite or redis store (memory is per process). If one dies, the others are "
              "stopped and the command exits 1"),
    _opt("--done-sentinel", dest="done_sentinel", group="server", env="DONE_SENTINEL",
         kind="bool",
         help="end SSE streams (also replays) with `data: [DONE]` after the terminal event "
              "(OpenAI sends none)"),
    _opt("--sse-keepalive", dest="sse_keepalive", group="server", env="SSE_KEEPALIVE",
         kind="float", default=15.0, minimum=0, metavar="S",
         help="while the provider is silent, send an SSE comment (`: keep-alive`) every this "
              "many seconds, so proxies and clients keep the stream open; 0: never"),
    _opt("--shutdown-timeout", dest="shutdown_timeout", group="server",
         env="SHUTDOWN_TIMEOUT", kind="float", default=10.0, minimum=0, metavar="S",
         help="on SIGTERM, stop accepting and let running streams and background runs "
              "finish for up to this many seconds; then each ends with `response.failed` "
              "(`server_shutting_down`) and is stored, and the process exits"),
    # -- security --------------------------------------------------------------------
    _opt("--api-key", dest="api_keys", group="security", env="API_KEYS", kind="list",
         metavar="KEY", secret=True, default_text="none: any client key is accepted",
         help="a key clients must send as `Authorization: Bearer KEY` or an `api-key` header; "
              "`NAME=KEY` names it for logs, metrics and usage (repeatable; the variable is "
              "comma-separated)"),
    _opt("--keys-file", dest="keys_file", group="security", env="KEYS_FILE", metavar="FILE",
         help="TOML file of [[keys]] (name, key or key_env, models, daily_tokens), mode 0600; "
              "read again on SIGHUP"),
    _opt("--admin-key", dest="admin_key", group="security", env="ADMIN_KEY", metavar="KEY",
         secret=True, default_text="none: /v1/usage and /ui are off",
         help="the key for GET /v1/usage and the /ui status page; prefer the variable"),
    _opt("--reasoning-key", dest="reasoning_key", group="security", env="REASONING_KEY",
         metavar="SECRET", secret=True,
         default_text="a random key, made once and kept in `<data dir>/reasoning.key`",
         help="secret that seals reasoning into encrypted_content; prefer the variable"),
    _opt("--allowed-origin", dest="allowed_origins", group="security",
         env="ALLOWED_ORIGINS", kind="list", metavar="ORIGIN",
         default_text="none: only loopback origins",
         help="without --api-key, web pages are served only from loopback origins "
              "(http://localhost:3000); allow another, e.g. https://app.example, or * for "
              "any (repeatable; the variable is comma-separated)"),
    _opt("--allowed-host", dest="allowed_hosts", group="security", env="ALLOWED_HOSTS",
         kind="list", metavar="NAME",
         default_text="none: the listen address and loopback names",
         help="without --api-key, requests must name the gateway by its listen address or a "
              "loopback name in `Host` (against DNS rebinding); accept this name too "
              "(repeatable; the variable is comma-separated)"),
    _opt("--max-body-bytes", dest="max_body_bytes", group="security",
         env="MAX_BODY_BYTES", kind="int", default=64 * 1024 * 1024, minimum=1, metavar="N",
         default_text="`67108864` (64 MiB)",
         help="largest request body after decompression; larger is a 413"),
    _opt("--max-compressed-body-bytes", dest="max_compressed_body_bytes", group="security",
         env="MAX_COMPRESSED_BODY_BYTES", kind="int", default=64 * 1024 * 1024, minimum=1,
         metavar="N", default_text="`67108864` (64 MiB)",
         help="largest request body as sent (its Content-Length, compressed or not); "
              "larger is a 413 before it is read"),
    _opt("--max-requests-per-key", dest="max_requests_per_key", group="security",
         env="MAX_REQUESTS_PER_KEY", kind="int", default=256, minimum=1, metavar="N",
         help="requests one client key may have in progress at once, per process, "
              "background runs included (without --api-key: all clients together); more "
              "get 429 with Retry-After"),
    _opt("--max-streams-per-key", dest="max_streams_per_key", group="security",
         env="MAX_STREAMS_PER_KEY", kind="int", default=128, minimum=1, metavar="N",
         help="SSE streams and WebSockets one client key may have open at once, per "
              "process; more get 429 with Retry-After"),
    _opt("--max-client-connections", dest="max_client_connections", group="security",
         env="MAX_CLIENT_CONNECTIONS", kind="int", default=1000, minimum=1, metavar="N",
         help="open client connections per process; a connection beyond it gets a 503 and "
              "is closed (keep it under the open-file limit, `ulimit -n`)"),
    _opt("--header-timeout", dest="header_timeout", group="security",
         env="HEADER_TIMEOUT", kind="float", default=20.0, positive=True, metavar="S",
         help="seconds a new connection has to send its first request head"),
    _opt("--body-timeout", dest="body_timeout", group="security", env="BODY_TIMEOUT",
         kind="float", default=120.0, positive=True, metavar="S",
         help="seconds a request body has to arrive in full; slower is a 408"),
    _opt("--keepalive-timeout", dest="keepalive_timeout", group="security",
         env="KEEPALIVE_TIMEOUT", kind="float", default=75.0, positive=True, metavar="S",
         help="seconds an idle connection is kept open between requests (also the limit "
              "for sending the next request head)"),
    _opt("--metrics", dest="metrics", group="security", env="METRICS", kind="choice",
         choices=("on", "off"), default="on",
         help="Prometheus metrics at GET /metrics, which needs a client key when keys are "
              "set (or the metrics token)"),
    _opt("--metrics-token", dest="metrics_token", group="security", env="METRICS_TOKEN",
         metavar="TOKEN", secret=True, default_text="none: the client keys protect /metrics",
         help="a separate bearer token for GET /metrics (for a scraper that should not hold a "
              "client key); prefer the variable"),
    # -- store -----------------------------------------------------------------------
    _opt("--store", dest="store", group="store", env="STORE", metavar="URL",
         default_text="`sqlite:///<data dir>/responses.db`",
         help="where responses are stored: sqlite:///path, redis://host:port/db, memory, or "
              "none (stateless)"),
    _opt("--store-ttl", dest="store_ttl", group="store", env="STORE_TTL", kind="float",
         default=30 * 86400.0, positive=True, default_text="`2592000` (30 days)", metavar="S",
         help="seconds stored responses and conversations are kept"),
    _opt("--store-max-entries", dest="store_max_entries", group="store",
         env="STORE_MAX_ENTRIES", kind="int", default=100_000, minimum=1, metavar="N",
         help="the most responses and conversations kept per client key; the key's oldest "
              "(responses by first write, conversations by last write) go first, never "
              "another key's"),
    _opt("--store-max-key-bytes", dest="store_max_key_bytes", group="store",
         env="STORE_MAX_KEY_BYTES", kind="int", default=1 << 30, minimum=1, metavar="BYTES",
         default_text="`1073741824` (1 GiB)",
         help="the most bytes of stored responses and conversations per client key; beyond "
              "it the key's oldest go first, never another key's"),
    _opt("--store-max-response-bytes", dest="store_max_response_bytes", group="store",
         env="STORE_MAX_RESPONSE_BYTES", kind="int", default=128 << 20, minimum=1,
         metavar="BYTES", default_text="`134217728` (128 MiB)",
         help="the largest one stored response or conversation may be; a stored request "
              "beyond it is refused with 400 before anything is sent upstream"),
    _opt("--run-lease", dest="run_lease", group="store", env="RUN_LEASE", kind="float",
         default=30.0, positive=True, metavar="S",
         help="a background run that has not renewed its lease for this many seconds (its "
              "process died) is marked failed by the next request that reads it"),
    _opt("--data-dir", dest="data_dir", group="store", env="DATA_DIR", metavar="DIR",
         default_text="`$XDG_DATA_HOME/responses-gateway`, else "
                      "`~/.local/share/responses-gateway`",
         help="holds the SQLite file and the reasoning key"),
    # -- logging ---------------------------------------------------------------------
    _opt("--log-level", dest="log_level", group="logging", env="LOG_LEVEL", kind="choice", metavar="LEVEL",
         choices=("debug", "info", "warning", "error"), default="info",
         help="how much the gateway logs: debug, info, warning or error"),
    _opt("--log-format", dest="log_format", group="logging", env="LOG_FORMAT",
         kind="choice", choices=("text", "json"), default="text",
         help="text lines, or one JSON object per line (access lines carry their fields as "
              "keys)"),
    _opt("--log-bodies", dest="log_bodies", group="logging", env="LOG_BODIES", kind="bool",
         help="debugging only: put request bodies and outputs (8 KiB each at most) into the "
              "access log; without it prompts and outputs are never logged"),
    # -- other -----------------------------------------------------------------------
    _opt("--responses-proxy-mode", dest="responses_proxy_mode", group="other", kind="flag",
         default_text="", help="accepted for compatibility with the original design and "
                               "ignored (it is the only mode)"),
)


def add_options(parser: argparse.ArgumentParser,
                choices: Mapping[str, Sequence[str]] | None = None) -> None:
    """Add every option to `parser`, one argument group per GROUPS entry. Values stay text
    (or None when not given), so `resolve` can report every bad value at once.
    `choices` supplies choice lists known only at run time (the provider profiles)."""
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    for option in OPTIONS:
        group = groups[option.group]
        text = option.help
        if option.kind != "flag":
            extra = [f"default: {_plain(option.shown_default())}"]
            if option.env_name:
                extra.append(f"env: {option.env_name}")
            text = f"{text} ({'; '.join(extra)})"
        if option.kind in ("bool", "flag"):
            group.add_argument(*option.flags, dest=option.dest, action="store_true",
                               default=None, help=text)
            continue
        listed = (choices or {}).get(option.dest) or option.choices
        metavar = option.metavar or ("{" + ",".join(listed) + "}" if listed else None)
        group.add_argument(*option.flags, dest=option.dest, metavar=metavar, default=None,
                           action="append" if option.kind == "list" else "store",
                           help=text.replace("%", "%%"))


def resolve(args: argparse.Namespace, environ: Mapping[str, str],
            choices: Mapping[str, Sequence[str]] | None = None
            ) -> tuple[dict[str, Any], list[str]]:
    """Each option's value: the flag, else its (non-empty) variable, else the default, read
    into its kind. Returns the values and one message per bad value (all of them)."""
    values: dict[str, Any] = {}
    errors: list[str] = []
    for option in OPTIONS:
        raw: Any = getattr(args, option.dest, None)
        source = option.flags[0]
        if raw is None and option.env_name and environ.get(option.env_name):
            raw = environ[option.env_name]
            source = option.env_name
            if option.kind == "list":
                raw = raw.split(",")
        if raw is None:
            values[option.dest] = option.default if option.kind not in ("bool", "flag") \
                else False
            continue
        try:
            values[option.dest] = _read(option, raw, (choices or {}).get(option.dest))
        except ValueError as exc:
            shown = "" if option.secret else f" {raw!r}"
            errors.append(f"{source}:{shown} {exc}")
    return values, errors


def _read(option: Option, raw: Any, choices: Sequence[str] | None) -> Any:
    kind = option.kind
    if kind in ("bool", "flag"):
        if raw is True:
            return True
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("is not a boolean (use 1/0, true/false, yes/no or on/off)")
    if kind == "list":
        return [item.strip() for item in raw if item.strip()]
    if kind == "choice":
        allowed = tuple(choices or option.choices)
        if raw not in allowed:
            raise ValueError(f"is not one of {', '.join(allowed)}")
        return raw
    if kind in ("int", "float"):
        try:
            number: float = int(raw) if kind == "int" else float(raw)
        except ValueError:
            raise ValueError(f"is not {'an integer' if kind == 'int' else 'a number'}") \
                from None
        if kind == "float" and not math.isfinite(number):
            raise ValueError("is not a finite number")
        if option.positive and number <= 0:
            raise ValueError("must be greater than 0")
        if option.minimum is not None and number < option.minimum:
            raise ValueError(f"must be at least {option.minimum:g}")
        return number
    return str(raw)


def _plain(text: str) -> str:
    return text.replace("`", "")


def markdown_table() -> str:
    """README's flag table: one section row per group, then its options."""
    lines = ["| flag | environment variable | default | meaning |", "|---|---|---|---|"]
    for key, title in GROUPS.items():
        rows = [option for option in OPTIONS if option.group == key]
        if not rows:
            continue
        lines.append(f"| **{title}** | | | |")
        for option in rows:
            value = "" if option.kind in ("bool", "flag") else \
                " " + (option.metavar or "\\|".join(option.choices) or "VALUE")
            flags = f"`{option.flags[0]}{value}`"
            if option.kind == "list":
                flags += " (repeatable)"
            if len(option.flags) > 1:
                flags += ", alias " + ", ".join(f"`{flag}`" for flag in option.flags[1:])
            env = f"`{option.env_name}`" if option.env_name else "none"
            if option.kind == "list" and option.env_name:
                env += " (comma-separated)"
            default = "" if option.kind == "flag" else _cell(option.shown_default(), option)
            lines.append(f"| {flags} | {env} | {default} | {_md(option.help)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str, option: Option) -> str:
    """A default as a table cell: literal values in backticks, descriptions as prose."""
    if option.default_text or option.default is None or option.kind == "bool":
        return text
    return f"`{text}`"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def rewrite_readme(path: str) -> None:
    """Replace the table between README's flag markers with the generated one."""
    import re

    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    block = "<!-- flags:start -->\n" + markdown_table() + "<!-- flags:end -->"
    new, count = re.subn(r"<!-- flags:start -->\n.*?<!-- flags:end -->", lambda _: block,
                         text, flags=re.S)
    if count != 1:
        raise SystemExit(f"{path}: expected one <!-- flags:start --> ... <!-- flags:end --> block")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(new)


if __name__ == "__main__":  # pragma: no cover - a maintenance aid
    import sys

    # python -m responses_gateway.options            prints the table
    # python -m responses_gateway.options README.md  rewrites README's table in place
    if len(sys.argv) > 1:
        rewrite_readme(sys.argv[1])
    else:
        print(markdown_table(), end="")
