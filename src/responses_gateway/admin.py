"""The admin key's views: `GET /v1/usage` (JSON) and `GET /ui` (a read-only status page).

Both need the admin key (`--admin-key`), as a bearer token or, so that a browser can open
the page, as the password of HTTP Basic authentication (any user name). Nothing here
writes. The page is server-rendered HTML with inline SVG charts: no script, no external
asset, everything escaped, and a Content-Security-Policy that allows nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import time
from html import escape
from typing import Any, Iterable

from aiohttp import web

from .appkeys import accounting_key, settings_key, store_key
from .protocol.errors import AuthenticationFailed, InvalidRequest
from .rendering import json_response
from .store.usage import COUNTERS, UsageRow
from .storehealth import store_health_key

__all__ = ["status_page", "usage_report"]

_PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_MAX_RANGE_HOURS = 366 * 24


def _is_admin(request: web.Request) -> bool:
    admin = request.app[settings_key].admin_key or ""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    presented = ""
    if scheme.lower() == "bearer":
        presented = value.strip()
    elif scheme.lower() == "basic":
        try:
            presented = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            presented = ""
    return bool(admin) and hmac.compare_digest(presented.encode(), admin.encode())


def _require_admin(request: web.Request) -> None:
    if not _is_admin(request):
        raise AuthenticationFailed("This needs the gateway's admin key (--admin-key), as "
                                   "'Authorization: Bearer <key>' or as the password of HTTP "
                                   "Basic authentication.")


def _hour_range(request: web.Request) -> tuple[int, int]:
    """start_time / end_time (Unix seconds) as whole hours; the last 24 hours by default."""
    now = time.time()
    values = {}
    for name, default in (("start_time", now - 86400), ("end_time", now)):
        raw = request.query.get(name)
        try:
            values[name] = float(raw) if raw is not None else default
        except ValueError:
            values[name] = math.nan
        if not math.isfinite(values[name]):  # inf and nan would fail the hour arithmetic
            raise InvalidRequest(f"'{name}' must be a Unix time in seconds.", param=name,
                                 code="invalid_value")
    start, end = int(values["start_time"] // 3600), int(values["end_time"] // 3600) + 1
    if (values["end_time"] < values["start_time"] or end <= start
            or end - start > _MAX_RANGE_HOURS):
        raise InvalidRequest("'start_time' must come before 'end_time', at most a year apart.",
                             param="start_time", code="invalid_value")
    return start, end


async def _rows(request: web.Request, start: int, end: int,
                key: str | None = None) -> list[UsageRow]:
    accounting = request.app[accounting_key]
    await accounting.flush()  # this process's latest counts, too
    return await accounting.log.rows(start, end, key)


async def usage_report(request: web.Request) -> web.Response:
    """GET /v1/usage?start_time=&end_time=&key=&group_by=total|day|hour"""
    _require_admin(request)
    start, end = _hour_range(request)
    group_by = request.query.get("group_by", "total")
    if group_by not in ("total", "day", "hour"):
        raise InvalidRequest("'group_by' must be total, day or hour.", param="group_by",
                             code="invalid_value")
    key = request.query.get("key") or None
    totals: dict[tuple[int | None, str, str], list[int]] = {}
    for row in await _rows(request, start, end, key):
        bucket = None if group_by == "total" else (
            row.hour * 3600 if group_by == "hour" else row.hour // 24 * 86400)
        counts = totals.setdefault((bucket, row.key, row.model), [0] * len(COUNTERS))
        for i, value in enumerate(row.counts()):
            counts[i] += value
    data = []
    for (bucket, name, model), counts in sorted(totals.items(),
                                                key=lambda kv: (kv[0][0] or 0, kv[0][1:])):
        entry: dict[str, Any] = {"key": name, "model": model, **dict(zip(COUNTERS, counts))}
        if bucket is not None:
            entry["start_time"] = bucket
        data.append(entry)
    return json_response({"object": "usage", "start_time": start * 3600,
                          "end_time": end * 3600, "group_by": group_by, "data": data})


async def status_page(request: web.Request) -> web.Response:
    """GET /ui: upstreams and store health, the last day's usage, the latest failures."""
    if not _is_admin(request):  # a browser asks for the key (any user name, key as password)
        return web.Response(status=401, text="The gateway's admin key is needed.\n", headers={
            "WWW-Authenticate": 'Basic realm="responses-gateway", charset="UTF-8"',
            "Cache-Control": "no-store"})
    settings = request.app[settings_key]
    health = request.app.get(store_health_key)
    problem = await health.problem(fresh=True) if health is not None else None
    store = request.app.get(store_key)
    end = int(time.time() // 3600) + 1
    rows = await _rows(request, end - 24, end)
    failures = await request.app[accounting_key].log.failures(20)
    hours = list(range(end - 24, end))
    per_hour = {hour: [0] * len(COUNTERS) for hour in hours}
    per_pair: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        for target in (per_hour.setdefault(row.hour, [0] * len(COUNTERS)),
                       per_pair.setdefault((row.key, row.model), [0] * len(COUNTERS))):
            for i, value in enumerate(row.counts()):
                target[i] += value
    store_state = ("off" if store is None else
                   f"{escape(store.name)}: " + ("ok" if problem is None
                                                else f"unavailable ({escape(problem)})"))
    upstreams = "".join(
        f"<tr><td>{escape(u.name)}</td><td>{escape(u.display_url)}</td>"
        f"<td>{escape(u.profile.name)}</td></tr>" for u in settings.upstreams)
    pairs = "".join(
        f'<tr data-key="{escape(name)}" data-model="{escape(model)}"><td>{escape(name)}</td>'
        f"<td>{escape(model)}</td>" + "".join(f'<td class="n">{v}</td>' for v in counts)
        + "</tr>" for (name, model), counts in sorted(per_pair.items()))
    failed = "".join(
        f"<tr><td>{escape(time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(f.get('at', 0))))}"
        f"</td><td class=\"rid\">{escape(str(f.get('request_id')))}</td>"
        f"<td>{escape(str(f.get('route')))}</td><td>{escape(str(f.get('status')))}</td>"
        f"<td class=\"code\">{escape(str(f.get('error')))}</td><td>{escape(str(f.get('key')))}"
        f"</td><td>{escape(str(f.get('model')))}</td></tr>" for f in failures)
    series = [(hour, per_hour[hour]) for hour in hours]
    body = _PAGE.format(
        store=store_state,
        status="ok" if problem is None else "degraded",
        upstreams=upstreams,
        requests_chart=_bar_chart("requests-chart", "Requests per hour (errors in red)",
                                  [(h, c[0], c[1]) for h, c in series]),
        tokens_chart=_bar_chart("tokens-chart", "Tokens per hour (input + output; output in "
                                "red)", [(h, c[2] + c[3], c[3]) for h, c in series]),
        pairs=pairs or '<tr><td colspan="8">no requests in the last 24 hours</td></tr>',
        headings="".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in COUNTERS),
        failures=failed or '<tr><td colspan="7">no failed requests</td></tr>',
        generated=escape(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())))
    return web.Response(body=body.encode(), headers=_PAGE_HEADERS)


def _bar_chart(ident: str, title: str, bars: Iterable[tuple[int, int, int]]) -> str:
    """An SVG bar chart: one bar per hour (total), with its highlighted part (errors)."""
    bars = list(bars)
    top = max((total for _, total, _ in bars), default=0) or 1
    width, height, step = 720, 160, 720 / max(len(bars), 1)
    parts = [f'<h3>{escape(title)}</h3><svg id="{ident}" viewBox="0 0 {width} {height + 20}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for n, (hour, total, part) in enumerate(bars):
        x = n * step
        h_total, h_part = height * total / top, height * part / top
        label = time.strftime("%H:00", time.gmtime(hour * 3600))
        parts.append(f'<g class="bar" data-hour="{hour}" data-total="{total}" '
                     f'data-part="{part}"><title>{label} UTC: {total} ({part})</title>'
                     f'<rect x="{x + 1:.1f}" y="{height - h_total:.1f}" width="{step - 2:.1f}" '
                     f'height="{h_total:.1f}" fill="#4c78a8"/>'
                     f'<rect x="{x + 1:.1f}" y="{height - h_part:.1f}" width="{step - 2:.1f}" '
                     f'height="{h_part:.1f}" fill="#e45756"/></g>')
        if n % 4 == 0:
            parts.append(f'<text x="{x + 2:.1f}" y="{height + 14}" font-size="10">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>responses-gateway status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 60rem; }}
h1 {{ font-size: 1.4rem; }} h2 {{ font-size: 1.1rem; margin-top: 1.6rem; }}
h3 {{ font-size: .95rem; font-weight: normal; margin: .8rem 0 .3rem; }}
table {{ border-collapse: collapse; width: 100%; font-size: .9rem; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .25rem .5rem; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.ok {{ color: #2a7a2a; }} .degraded {{ color: #b00020; }}
svg {{ width: 100%; height: auto; background: #fafafa; }}
</style></head><body>
<h1>responses-gateway status: <span id="status" class="{status}">{status}</span></h1>
<p>Read-only. Generated {generated}; reload to refresh.</p>
<h2>Store</h2><p id="store">{store}</p>
<h2>Upstreams</h2>
<table id="upstreams"><tr><th>name</th><th>base URL</th><th>profile</th></tr>{upstreams}</table>
<h2>Last 24 hours</h2>
{requests_chart}
{tokens_chart}
<h2>By key and model (last 24 hours)</h2>
<table id="usage"><tr><th>key</th><th>model</th>{headings}</tr>{pairs}</table>
<h2>Latest failed requests</h2>
<table id="failures"><tr><th>time (UTC)</th><th>request id</th><th>route</th><th>status</th>
<th>error</th><th>key</th><th>model</th></tr>{failures}</table>
</body></html>
"""
