"""The /ui status page in a real browser (Chromium driven by Playwright) against a running
gateway: it is refused without the admin key, and with it shows the upstreams, the store,
the last day's requests, errors and tokens per key and model, and the failed request ids."""

from __future__ import annotations

import base64
import os
import shutil
from typing import Any, Callable, Iterator

import httpx2
import openai
import pytest
from e2e_support import UPSTREAM_KEY, Server, free_port

ADMIN = "ui-admin-key"
KEYS = {"alice": "sk-ui-alice", "bob": "sk-ui-bob"}
CHROMIUM = os.environ.get("RG_TEST_CHROMIUM") or shutil.which("chromium") or \
    shutil.which("chromium-browser")


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (bash scripts/test installs it)"
        pytest.fail(reason) if _ci() else pytest.skip(reason)
    if CHROMIUM is None:
        reason = ("no Chromium found: apt-get install chromium (bash scripts/test does this "
                  "when run as root), or set RG_TEST_CHROMIUM")
        pytest.fail(reason) if _ci() else pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def watched(spawn_server: Callable[..., Server], mock_provider: Server) -> Server:
    port = free_port()
    server = spawn_server("gateway-ui", [
        "--base-url", f"{mock_provider.url}/v1", "--port", str(port), "--store", "memory",
        *[arg for name, key in KEYS.items() for arg in ("--api-key", f"{name}={key}")],
    ], "/health", port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY,
                                  "RESPONSES_GATEWAY_ADMIN_KEY": ADMIN})
    return server


def _workload(server: Server) -> list[str]:
    """Requests by two keys; returns the request ids of the failed ones."""
    failed = []
    with openai.OpenAI(base_url=server.url + "/v1", api_key=KEYS["alice"],
                       max_retries=0) as alice, \
            openai.OpenAI(base_url=server.url + "/v1", api_key=KEYS["bob"],
                          max_retries=0) as bob:
        for _ in range(3):
            alice.responses.create(model="mock-echo", input="hello")
        bob.responses.create(model="mock-think", input="think")
        for model in ("mock-error-429", "mock-error-500"):
            with pytest.raises(openai.APIStatusError) as caught:
                bob.responses.create(model=model, input="fail")
            failed.append(caught.value.response.headers["x-request-id"])
    return failed


def test_status_page_shows_usage_and_failures(watched: Server, browser: Any) -> None:
    failed = _workload(watched)
    anonymous = browser.new_context()
    try:
        # (Headless Chromium turns a Basic challenge into a failed navigation, so the
        # refusals are read as answers.)
        refused = anonymous.request.get(watched.url + "/ui")
        assert refused.status == 401
        assert refused.headers["www-authenticate"].startswith("Basic ")
        # A client key is not the admin key (the browser would just ask again: check the
        # answer itself).
        client = base64.b64encode(f"x:{KEYS['alice']}".encode()).decode()
        assert anonymous.request.get(watched.url + "/ui", headers={
            "Authorization": f"Basic {client}"}).status == 401
    finally:
        anonymous.close()
    context = browser.new_context(http_credentials={"username": "admin", "password": ADMIN})
    page = context.new_page()
    try:
        shown = page.goto(watched.url + "/ui")
        assert shown is not None and shown.status == 200
        assert shown.headers["content-security-policy"].startswith("default-src 'none'")
        assert page.inner_text("#status") == "ok"
        assert "memory: ok" in page.inner_text("#store")
        assert "default" in page.inner_text("#upstreams")
        rows = {(row.get_attribute("data-key"), row.get_attribute("data-model")):
                [cell.inner_text() for cell in row.query_selector_all("td.n")]
                for row in page.query_selector_all("#usage tr[data-key]")}
        assert rows[("alice", "mock-echo")][:2] == ["3", "0"]  # requests, errors
        assert rows[("bob", "mock-error-429")][:2] == ["1", "1"]
        assert int(rows[("bob", "mock-think")][5]) > 0  # reasoning tokens
        bars = page.query_selector_all("#requests-chart g.bar")
        assert len(bars) == 24
        assert sum(int(b.get_attribute("data-total")) for b in bars) == 6
        assert sum(int(b.get_attribute("data-part")) for b in bars) == 2
        tokens = page.query_selector_all("#tokens-chart g.bar")
        assert sum(int(b.get_attribute("data-total")) for b in tokens) > 0
        ids = [cell.inner_text() for cell in page.query_selector_all("#failures td.rid")]
        assert set(failed) <= set(ids)
        codes = page.inner_text("#failures")
        assert "http_429" in codes or "mock_429" in codes or "rate_limit" in codes, codes
        assert KEYS["alice"] not in page.content() and ADMIN not in page.content()
        page.screenshot(path=str(watched.log_path.with_suffix(".ui.png")), full_page=True)
    finally:
        context.close()


def test_status_page_and_usage_are_absent_without_an_admin_key(
        spawn_server: Callable[..., Server], mock_provider: Server) -> None:
    port = free_port()
    server = spawn_server("gateway-no-admin", ["--base-url", f"{mock_provider.url}/v1",
                                               "--port", str(port), "--store", "memory"],
                          "/health", port=port,
                          env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})
    assert httpx2.get(server.url + "/ui", timeout=10).status_code == 404
    assert httpx2.get(server.url + "/v1/usage", timeout=10).status_code == 404
