"""The interactive API docs (/api/docs) in a real browser (Playwright driving Debian's
chromium): Swagger UI from the vendored files lists every operation of the served OpenAPI,
a call made from it with a bearer token answers, and no request leaves loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import facetrail
from facetrail.interfaces.api.auth import is_loopback
from tests.integration.api_support import PASSWORD, LiveServer, live_server, settings_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """A home with accounts and a gallery; the administrator's token."""
    home = tmp_path_factory.mktemp("api-docs") / "home"
    with facetrail.open(home) as single:
        single.create_gallery("custody-docs")
        token = single.users.bootstrap("admin", PASSWORD).token
    with live_server(settings_for(home)) as server:
        yield server, token


def test_docs_page_is_swagger_ui_served_offline_and_lists_every_operation(
    browser: Any, served: tuple[LiveServer, str], tmp_path: Path
) -> None:
    server, token = served
    spec = httpx.get(f"{server.url}/api/v1/openapi.json").json()
    operations = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert ("POST", "/api/v1/search/export") in operations
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert spec["paths"]["/healthz"]["get"]["security"] == []  # open: no lock shown
    assert "security" not in spec["paths"]["/api/v1/search"]["post"]  # the bearer token

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    outside: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        requested.append(url)
        host = urlsplit(url).hostname
        if url.startswith(("data:", "blob:")) or is_loopback(host):
            route.continue_()
        else:  # refused, and the test fails below: the docs must work air-gapped
            outside.append(url)
            route.abort()

    page.route("**/*", guard)
    page.goto(server.url + "/api/docs")
    page.wait_for_selector("#swagger-ui[data-loaded='1']", timeout=30_000)
    page.wait_for_selector(".opblock")
    listed = page.evaluate(
        "[...document.querySelectorAll('.opblock')].map(b => ["
        "b.querySelector('.opblock-summary-method').textContent.trim(),"
        " b.querySelector('.opblock-summary-path').dataset.path])"
    )
    shown = {(method, path) for method, path in listed}
    assert shown == operations, sorted(operations ^ shown)
    page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=False)

    # Authorise with the bearer token and call GET /api/v1/galleries from the page.
    page.click("button.authorize")
    page.fill(".auth-container input", token)
    page.click(".auth-btn-wrapper button.authorize")
    page.click("button.btn-done")
    block = (
        page.locator(".opblock")
        .filter(has=page.locator(".opblock-summary-path[data-path='/api/v1/galleries']"))
        .filter(has=page.locator(".opblock-summary-method", has_text="GET"))
    )
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip().startswith("200")
    assert "custody-docs" in block.locator(".live-responses-table .microlight").first.inner_text()
    page.screenshot(path=str(tmp_path / "api-docs-call.png"), full_page=False)
    page.close()

    assert not outside, outside
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in requested), requested
    paths = {urlsplit(u).path for u in requested}
    assert "/api/docs/static/swagger-ui/swagger-ui-bundle.js" in paths
    assert "/api/v1/openapi.json" in paths and "/api/v1/galleries" in paths


def test_docs_without_script_still_list_the_operations(served: tuple[LiveServer, str]) -> None:
    server, _ = served
    docs = httpx.get(f"{server.url}/api/docs")
    assert docs.status_code == 200
    assert "http://" not in docs.text.replace(server.url, "") and "https://" not in docs.text
    assert "default-src 'self'" in docs.headers["content-security-policy"]
    reference = httpx.get(f"{server.url}/api/docs/reference")
    assert "/api/v1/search/export" in reference.text and "<script" not in reference.text
    for asset in ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css", "docs.js"):
        assert httpx.get(f"{server.url}/api/docs/static/{asset}").status_code == 200
