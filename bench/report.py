"""The bench's ratios, targets (issue 11), table and chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# (name, where the value comes from, "min"/"max", target)
_TARGETS = [
    ("throughput vs pass-through, non-streamed", ("ratios", "passthrough", "requests"), "min",
     0.75),
    ("throughput vs pass-through, streamed", ("ratios", "passthrough", "streams"), "min", 0.75),
    ("throughput vs LiteLLM, non-streamed", ("ratios", "litellm", "requests"), "min", 60.0),
    ("throughput vs LiteLLM, streamed", ("ratios", "litellm", "streams"), "min", 85.0),
    ("added p50 ms, non-streamed", ("added", "ns_p50"), "max", 0.5),
    ("added p50 ms, streamed", ("added", "stream_p50"), "max", 0.8),
    ("added p99 ms, non-streamed", ("added", "ns_p99"), "max", 2.0),
    ("added p99 ms, streamed", ("added", "stream_p99"), "max", 2.0),
    ("CPU per request vs pass-through", ("ratios", "passthrough", "cpu_request"), "max", 1.3),
    ("CPU per stream vs pass-through", ("ratios", "passthrough", "cpu_stream"), "max", 1.3),
    ("--workers N scaling (non-streamed)", ("workers", "requests_scaling"), "min", 1.7),
    ("long run: failed requests", ("long", "errors"), "max", 0),
    ("long run: RSS growth after warm-up", ("long", "rss_growth"), "max", 0.10),
]


def _ratios(servers: dict[str, Any]) -> dict[str, Any]:
    gateway = servers["gateway"]
    out: dict[str, Any] = {}
    for peer in ("passthrough", "litellm"):
        other = servers.get(peer)
        if other is None:
            continue
        out[peer] = {
            "requests": gateway["requests"]["median"] / other["requests"]["median"],
            "streams": gateway["streams"]["median"] / other["streams"]["median"],
            "cpu_request": gateway["requests"]["cpu_ms"] / other["requests"]["cpu_ms"],
            "cpu_stream": gateway["streams"]["cpu_ms"] / other["streams"]["cpu_ms"]}
    return out


def assess(results: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ratios = _ratios(results["servers"])
    sources = {"ratios": ratios, "added": results["servers"]["gateway"]["added_ms"],
               "workers": results.get("workers"), "long": results.get("long")}
    targets = []
    for name, path, kind, limit in _TARGETS:
        value: Any = sources.get(path[0])
        for key in path[1:]:
            value = value.get(key) if isinstance(value, dict) else None
        met = None if value is None else (value >= limit if kind == "min" else value <= limit)
        targets.append({"name": name, "value": value, "kind": kind, "target": limit,
                        "met": met})
    return ratios, targets


def _rate(mode: dict[str, Any]) -> str:
    return f"{mode['median']:,.0f} ({mode['min']:,.0f}-{mode['max']:,.0f})"


def table(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [f"bench {meta['date']}, {meta['mode']}, store {meta['store']}, "
             f"{meta['concurrency']} clients, {meta['requests']} requests x {meta['repeat']} "
             f"rounds, load average {meta['loadavg_before'][0]:.1f} before, "
             f"{meta['loadavg_after'][0]:.1f} after", "",
             "| | non-streamed req/s | streams/s (20 chunks) | added p50 / p99 ms (ns) "
             "| added p50 / p99 ms (stream) | CPU ms per request / stream |",
             "|---|---|---|---|---|---|"]
    for name, server in results["servers"].items():
        added = server["added_ms"]
        lines.append(
            f"| {name} | {_rate(server['requests'])} | {_rate(server['streams'])} "
            f"| {added['ns_p50']:.2f} / {added['ns_p99']:.2f} "
            f"| {added['stream_p50']:.2f} / {added['stream_p99']:.2f} "
            f"| {server['requests']['cpu_ms']:.2f} / {server['streams']['cpu_ms']:.2f} |")
    if "litellm" not in results["servers"]:
        lines.append(f"| litellm | {meta['litellm']} | | | | |")
    lines += ["", "Ratios of the gateway: " + "; ".join(
        f"vs {peer} {r['requests']:.2f}x req/s, {r['streams']:.2f}x streams/s, "
        f"{r['cpu_request']:.2f}x / {r['cpu_stream']:.2f}x CPU"
        for peer, r in results["ratios"].items())]
    if "workers" in results:
        w = results["workers"]
        lines.append(f"--workers {w['workers']}: {w['requests_scaling']:.2f}x req/s, "
                     f"{w['streams_scaling']:.2f}x streams/s of one worker "
                     f"({w['one']['requests']['median']:,.0f} -> "
                     f"{w['many']['requests']['median']:,.0f} req/s)")
    if "long" in results:
        g = results["long"]
        lines.append(f"long run: {g['requests']:,} requests at {g['requests_per_s']:,.0f}/s, "
                     f"{g['slow_streams']} slow streams in {g['slow_streams_seconds']:.1f} s, "
                     f"{g['errors']} errors, RSS {g['rss_warm_mib']:.1f} -> "
                     f"{g['rss_after_mib']:.1f} MiB ({g['rss_growth']:+.1%})")
    lines += ["", "| target (issue 11) | value | target | met |", "|---|---|---|---|"]
    for t in results["targets"]:
        value = "not measured" if t["value"] is None else f"{t['value']:.2f}"
        sign = ">=" if t["kind"] == "min" else "<="
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['name']} | {value} | {sign} {t['target']} | {met} |")
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = results["servers"]
    names = list(servers)
    colors = {"gateway": "#2b6cb0", "passthrough": "#a0aec0", "litellm": "#dd6b20"}
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), dpi=80)
    for ax, (mode, title) in zip(axes[:2], (("requests", "non-streamed req/s"),
                                            ("streams", "streams/s (20 chunks)"))):
        values = [servers[n][mode]["median"] for n in names]
        errors = [[v - servers[n][mode]["min"] for n, v in zip(names, values)],
                  [servers[n][mode]["max"] - v for n, v in zip(names, values)]]
        ax.bar(names, values, yerr=errors, color=[colors.get(n, "#718096") for n in names])
        ax.set_title(title, fontsize=10)
        if "litellm" in servers:
            ax.set_yscale("log")
    cpu = [(servers[n]["requests"]["cpu_ms"], servers[n]["streams"]["cpu_ms"]) for n in names]
    width = 0.38
    xs = range(len(names))
    axes[2].bar([x - width / 2 for x in xs], [c[0] for c in cpu], width, label="request",
                color="#2b6cb0")
    axes[2].bar([x + width / 2 for x in xs], [c[1] for c in cpu], width, label="stream",
                color="#90cdf4")
    axes[2].set_xticks(list(xs), names)
    axes[2].set_title("server CPU ms per request", fontsize=10)
    axes[2].legend(fontsize=8)
    if "litellm" in servers:
        axes[2].set_yscale("log")
    for ax in axes:
        ax.tick_params(labelsize=8)
    fig.suptitle(f"responses-gateway bench, {results['meta']['date']} "
                 f"({results['meta']['concurrency']} clients, loopback)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
